// Owns: the rules every store's migrations keep across releases: a released migration file never changes (its hash is
// pinned in test/store/schema/migrations.sha256), a repair migration brings a store that took an earlier form of one
// to the same schema, and a store migrated further than this version knows is refused.
// Not here: the schema the migrations build (schema.test.ts), a whole server on an upgraded store (e2e/upgrade.test.ts).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { createPostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { refuseForeign, refuseNewer, StoreForeignError, StoreNewerError } from '../../src/store/migrations.ts';
import { postgresSchema, sqliteSchema } from './schema-dump.ts';
import { dropSchema, PG_URL, postgresSkipReason, uniqueSchema, withClient } from '../support/postgres.ts';
import { tempDir } from '../support/server.ts';
import pg from 'pg';

const pgSkip = await postgresSkipReason();
const STORE_DIR = fileURLToPath(new URL('../../src/store/', import.meta.url));
const PINS = fileURLToPath(new URL('./schema/migrations.sha256', import.meta.url));

describe('migrations across releases', () => {
  it('a released migration is never edited: every file has the hash pinned for it', () => {
    const pinned = new Map(
      readFileSync(PINS, 'utf8')
        .trim()
        .split('\n')
        .map((line) => {
          const [hash, file] = line.split(/\s+/);
          return [file!, hash!];
        }),
    );
    const files = ['sqlite', 'postgres'].flatMap((dialect) =>
      readdirSync(`${STORE_DIR}${dialect}/migrations`)
        .filter((f) => f.endsWith('.sql'))
        .map((f) => `${dialect}/migrations/${f}`),
    );
    for (const file of files) {
      const hash = createHash('sha256')
        .update(readFileSync(STORE_DIR + file))
        .digest('hex');
      const pin = pinned.get(file);
      assert.ok(
        pin !== undefined,
        `${file} is not pinned: add its line to test/store/schema/migrations.sha256 (cd src/store && sha256sum ${file}) in the commit that adds it`,
      );
      assert.equal(
        hash,
        pin,
        `${file} changed after its release: stores that applied it never see the change. Add a new migration instead (a repair can use IF NOT EXISTS).`,
      );
    }
    for (const file of pinned.keys()) assert.ok(files.includes(file), `${file} is pinned but gone: a released migration is never removed`);
  });

  it('refuses a store migrated further than this version knows, naming both', () => {
    const files = ['0001_init.sql', '0002_more.sql'];
    refuseNewer(undefined, files);
    refuseNewer({ version: 2, name: '0002_more.sql' }, files);
    assert.throws(
      () => refuseNewer({ version: 3, name: '0003_later.sql' }, files),
      (e: unknown) => e instanceof StoreNewerError && /at migration 3 \(0003_later\.sql\), newer than this asyncops knows \(2\)/.test(e.message),
    );
  });

  it('refuses a store with a recorded migration this version has under another name, naming both', () => {
    const files = ['0001_init.sql', '0002_more.sql', '0003_later.sql'];
    refuseForeign([], files);
    refuseForeign([{ version: 1, name: '0001_init.sql' }], files);
    assert.throws(
      () =>
        refuseForeign(
          [
            { version: 1, name: '0001_init.sql' },
            { version: 2, name: '0002_draft.sql' },
          ],
          files,
        ),
      (e: unknown) =>
        e instanceof StoreForeignError &&
        /migration 2 was applied as 0002_draft\.sql, which this asyncops does not have \(its migration 2 is 0002_more\.sql\)/.test(e.message),
    );
  });

  it('SQLite: a store a development build migrated under another name is refused before anything is written to it', async () => {
    const dir = tempDir();
    const path = `${dir.path}/foreign.db`;
    try {
      const fresh = new SqliteStore({ path });
      await fresh.open();
      // As a build whose 0016 was never released left it (its columns not this version's), before 0017 and after.
      fresh.database.exec("DELETE FROM schema_migrations WHERE version >= 17; UPDATE schema_migrations SET name = '0016_draft.sql' WHERE version = 16");
      const before = sqliteSchema(fresh.database);
      await fresh.close();
      const again = new SqliteStore({ path });
      // The SQLite store names its file around the migrator's refusal.
      await assert.rejects(
        again.open(),
        (e: unknown) => (e as Error).cause instanceof StoreForeignError && /migration 16 was applied as 0016_draft\.sql/.test((e as Error).message),
      );
      await again.close();
      const after = new SqliteStore({ path, existing: 'refuse' });
      await assert.rejects(after.open(), (e: unknown) => (e as Error).cause instanceof StoreForeignError);
      await after.close();
      const { DatabaseSync } = await import('node:sqlite');
      const db = new DatabaseSync(path);
      try {
        assert.equal(sqliteSchema(db), before, 'nothing applied');
        assert.equal(db.prepare('SELECT max(version) AS v FROM schema_migrations').get()?.['v'], 16);
      } finally {
        db.close();
      }
    } finally {
      dir.cleanup();
    }
  });

  it('PostgreSQL: a schema a development build migrated under another name is refused before anything is written to it', {
    skip: pgSkip ?? false,
  }, async () => {
    const schema = uniqueSchema();
    try {
      const fresh = createPostgresStore({ url: PG_URL, schema, poolSize: 1 });
      await fresh.open();
      await fresh.close();
      await withClient(async (client) => {
        const name = pg.escapeIdentifier(schema);
        await client.query(`DELETE FROM ${name}.schema_migrations WHERE version >= 27`);
        await client.query(`UPDATE ${name}.schema_migrations SET name = '0026_draft.sql' WHERE version = 26`);
      });
      const again = createPostgresStore({ url: PG_URL, schema, poolSize: 1 });
      await assert.rejects(again.open(), (e: unknown) => e instanceof StoreForeignError && /migration 26 was applied as 0026_draft\.sql/.test(e.message));
      await again.close();
      const versions = await withClient(
        async (client) => (await client.query(`SELECT max(version) AS v FROM ${pg.escapeIdentifier(schema)}.schema_migrations`)).rows[0],
      );
      assert.deepEqual(versions, { v: 26 }, 'nothing applied');
    } finally {
      await dropSchema(schema);
    }
  });

  it('SQLite: a store that took 0012 before its tenant index gets it from 0013, and the same schema as a fresh one', async () => {
    const dir = tempDir();
    const path = `${dir.path}/drifted.db`;
    try {
      const fresh = new SqliteStore({ path });
      await fresh.open();
      const expected = sqliteSchema(fresh.database);
      // As 0012 left a store before its second index, with 0013 not yet applied.
      fresh.database.exec('DROP INDEX operations_tenant_error_code_id; DELETE FROM schema_migrations WHERE version = 13');
      await fresh.close();
      const upgraded = new SqliteStore({ path });
      await upgraded.open();
      try {
        assert.equal(sqliteSchema(upgraded.database), expected);
      } finally {
        await upgraded.close();
      }
    } finally {
      dir.cleanup();
    }
  });

  it('PostgreSQL: a schema that took 0022 before its tenant index gets it from 0023, and the same schema as a fresh one', {
    skip: pgSkip ?? false,
  }, async () => {
    const schema = uniqueSchema();
    try {
      const fresh = createPostgresStore({ url: PG_URL, schema, poolSize: 1 });
      await fresh.open();
      await fresh.close();
      const expected = await withClient((client) => postgresSchema(client, schema));
      await withClient(async (client) => {
        const name = pg.escapeIdentifier(schema);
        await client.query(`DROP INDEX ${name}.operations_tenant_error_code_id`);
        await client.query(`DELETE FROM ${name}.schema_migrations WHERE version = 23`);
      });
      const upgraded = createPostgresStore({ url: PG_URL, schema, poolSize: 1 });
      await upgraded.open();
      await upgraded.close();
      assert.equal(await withClient((client) => postgresSchema(client, schema)), expected);
    } finally {
      await dropSchema(schema);
    }
  });
});
