// Owns: running the store contract against the SQLite adapter (in memory and on a file), plus SQLite-only checks.
// Not here: the contract cases (contract*.ts). Invariant: every temporary directory made here is removed in after().

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore, createSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { runStoreContract } from './contract.ts';
import { draft } from './fixtures.ts';

let dir = '';
let files = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'asyncops-sqlite-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

runStoreContract('sqlite :memory:', async () => createSqliteStore({ path: ':memory:' }));
runStoreContract('sqlite file', async () => createSqliteStore({ path: join(dir, `contract-${++files}.db`) }));

describe('SqliteStore', () => {
  it('records applied migrations in schema_migrations, once', async () => {
    const path = join(dir, 'migrations.db');
    for (let i = 0; i < 2; i++) {
      const store = new SqliteStore({ path });
      await store.open();
      const rows = store.database.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all();
      assert.deepEqual(rows.map((r) => ({ ...r })), [{ version: 1, name: '0001_init.sql' }]);
      await store.close();
    }
  });

  it('keeps data across a close and reopen of a file', async () => {
    const path = join(dir, 'reopen.db');
    const d = draft();
    const first = createSqliteStore({ path });
    await first.open();
    await first.operationInsert(d);
    await first.close();
    const second = createSqliteStore({ path });
    await second.open();
    assert.equal((await second.operationGetById(d.id))?.id, d.id);
    await second.close();
  });

  it('runs a file database in WAL mode with foreign keys on', async () => {
    const store = new SqliteStore({ path: join(dir, 'wal.db') });
    await store.open();
    assert.equal(store.database.prepare('PRAGMA journal_mode').get()?.['journal_mode'], 'wal');
    assert.equal(store.database.prepare('PRAGMA foreign_keys').get()?.['foreign_keys'], 1);
    assert.equal(store.database.prepare('PRAGMA busy_timeout').get()?.['timeout'], 5000);
    await store.close();
  });

  it('refuses to be used before open()', async () => {
    const store = createSqliteStore({ path: ':memory:' });
    await assert.rejects(store.operationGetById('op_x'), /open\(\) first/);
  });
});
