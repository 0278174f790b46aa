// Owns: applying the numbered migrations in migrations/ to a SQLite database, recorded in schema_migrations.
// Not here: opening the database and its pragmas (database.ts); the schema itself (migrations/*.sql).
// Invariant: each migration runs once, all of a run in one write transaction, even when two processes open one file at once.

import type { DatabaseSync } from 'node:sqlite';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { refuseUnfit, versionOf } from '../migrations.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
const MIGRATION_FILE = /^(\d{4})_[a-z0-9_]+\.sql$/;

/**
 * Apply the migrations not yet recorded in schema_migrations, each in its own transaction, in number order. A store
 * that a later version of asyncops migrated further is refused (StoreNewerError), before anything is written to it, as
 * is one whose recorded migrations are not this version's (StoreForeignError);
 * with `existing: 'refuse'`, so is one an earlier version migrated (StoreBehindError): only a new store is migrated.
 */
export function migrate(db: DatabaseSync, now: number, existing: 'migrate' | 'refuse' = 'migrate'): string[] {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT');
  const files = readdirSync(MIGRATIONS_DIR)
    .filter((f) => MIGRATION_FILE.test(f))
    .sort();
  // One write transaction for the whole run, the store read inside its lock: a process opening the file meanwhile waits
  // and then sees every migration of this run or none (it took a store half-way through another's run for an older
  // version's).
  db.exec('BEGIN IMMEDIATE');
  try {
    const recorded = db
      .prepare('SELECT version, name FROM schema_migrations ORDER BY version')
      .all()
      .map((r) => ({ version: Number(r['version']), name: String(r['name']) }));
    refuseUnfit(recorded, files, existing);
    const done = new Set(recorded.map((r) => r.version));
    const applied: string[] = [];
    for (const file of files) {
      const version = versionOf(file);
      if (done.has(version)) continue;
      db.exec(readFileSync(MIGRATIONS_DIR + file, 'utf8'));
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(version, file, now);
      applied.push(file);
    }
    db.exec('COMMIT');
    return applied;
  } catch (err) {
    // A full disk (SQLITE_FULL) ends the transaction itself: a ROLLBACK then throws "no transaction is active", and
    // the open error named that instead of the disk.
    if (db.isTransaction) db.exec('ROLLBACK');
    throw err;
  }
}
