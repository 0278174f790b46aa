// Owns: creating the schema and applying the numbered migrations in migrations/, recorded in <schema>.schema_migrations.
// Not here: the connection settings (database.ts); the schema itself (migrations/*.sql).
// Invariant: one transaction under an advisory lock per schema, so nodes starting at once migrate exactly once.

import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { refuseUnfit, versionOf } from '../migrations.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
const MIGRATION_FILE = /^(\d{4})_[a-z0-9_]+\.sql$/;
// The advisory lock's first key says "asyncops migrations"; the second is the schema's hash.
const LOCK_CLASS = 0x61_6f_70_73;

/**
 * Applies what is not yet recorded; returns the files applied now. A schema a later version migrated further is refused,
 * as is one whose recorded migrations are not this version's, and with `existing: 'refuse'` one an earlier version
 * migrated (only a new schema is migrated then).
 * `closing` aborts it, however long it has waited for another node's migration: its statement is cancelled (from
 * another connection: the waiting one reads nothing until the lock is granted), and its transaction rolls back.
 */
export async function migrate(
  pool: pg.Pool,
  schema: string,
  now: number,
  closing?: AbortSignal,
  existing: 'migrate' | 'refuse' = 'migrate',
): Promise<string[]> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((f) => MIGRATION_FILE.test(f)).sort();
  closing?.throwIfAborted();
  const client = await pool.connect();
  let broken: Error | undefined;
  let cancel = () => {};
  try {
    if (closing !== undefined) {
      const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      cancel = () => void pool.query('SELECT pg_cancel_backend($1)', [pid]).catch(() => {});
      closing.addEventListener('abort', cancel, { once: true });
      closing.throwIfAborted();
    }
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_CLASS, schema]);
    // Created only when missing: PostgreSQL asks for CREATE on the database (or the schema) before it looks whether
    // the object exists, so a runtime role a DBA granted no more than it uses could not start on a migrated schema.
    const present = (
      await client.query<{ schema: boolean; table: boolean }>(
        "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS schema, to_regclass(format('%I.schema_migrations', $1::text)) IS NOT NULL AS table",
        [schema],
      )
    ).rows[0]!;
    if (!present.schema) await client.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(schema)}`);
    if (!present.table) {
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)');
    }
    const recorded = (await client.query<{ version: number; name: string }>('SELECT version, name FROM schema_migrations ORDER BY version')).rows;
    refuseUnfit(recorded, files, existing);
    const done = new Set(recorded.map((r) => r.version));
    const applied: string[] = [];
    for (const file of files) {
      const version = versionOf(file);
      if (done.has(version)) continue;
      await client.query(await readFile(MIGRATIONS_DIR + file, 'utf8'));
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [version, file, now]);
      applied.push(file);
    }
    await client.query('COMMIT');
    return applied;
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackErr: Error) => {
      broken = rollbackErr;
    });
    throw err;
  } finally {
    closing?.removeEventListener('abort', cancel);
    // A cancel sent may still arrive: a connection it was sent for is not given to anything else.
    client.release(broken ?? (closing?.aborted === true ? new Error('store closed while migrating') : undefined));
  }
}
