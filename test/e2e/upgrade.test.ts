// End to end on a store an earlier version of asyncops wrote: what it stored still reads and behaves as it did, and a
// store a later version wrote is refused rather than misread.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { spawnSync } from 'node:child_process';
import { CLI_ENTRY, E2E_STORE, freshStore, REPO_ROOT, startServer, type TestStore } from '../support/server.ts';
import { withClient } from '../support/postgres.ts';
import { request } from '../support/http.ts';

const stores: TestStore[] = [];
after(async () => {
  for (const store of stores) await store.cleanup();
});

function ownStore(): TestStore {
  const store = freshStore();
  stores.push(store);
  return store;
}

/** Runs one statement on the store the servers use, as an earlier version's writes or a later version's schema left it. */
async function onStore(store: TestStore, sql: string, params: unknown[] = []): Promise<void> {
  if (E2E_STORE === 'sqlite') {
    const db = new DatabaseSync(store.spec);
    try {
      db.prepare(sql).run(...(params as string[]));
    } finally {
      db.close();
    }
    return;
  }
  const schema = new URL(store.spec).searchParams.get('schema')!;
  await withClient(async (client) => {
    await client.query(`SET search_path TO ${pg.escapeIdentifier(schema)}`);
    await client.query(
      sql.replace(/\?/g, (_, offset: number) => `$${sql.slice(0, offset).split('?').length}`),
      params,
    );
  });
}

const REPORT = { type: 'report', input: { type: 'sales_summary', date_range: '2026-01-01..2026-02-10' } };
const REPORT_WITH_FIELDS = { ...REPORT, priority: 3, timeout_s: 60, max_attempts: 2 };
// What 0d60aac (2026-12-02, before concurrency keys) stored for these two requests, read from its idempotency_keys.
const EARLIER_FINGERPRINTS = new Map([
  ['upgrade-k1', 'Bz5eoqlHQi-L-MvV0lssK3QIztUyZStqZT_xLY9cGjY'],
  ['upgrade-k2', 'VBb35Oi6wm_zTd0kTy6oT4w6qbrcuuSkU7uossVKueE'],
]);

describe('upgrading a store', () => {
  it('an Idempotency-Key stored before concurrency keys still replays its request, and still refuses another body', async () => {
    const store = ownStore();
    const bodies = new Map<string, object>([
      ['upgrade-k1', REPORT],
      ['upgrade-k2', REPORT_WITH_FIELDS],
    ]);
    const created = new Map<string, string>();
    const first = await startServer({ store: store.spec, args: ['--no-workers'] });
    try {
      for (const [key, body] of bodies) {
        const reply = await request(first.url, 'POST', '/operations', { body, headers: { 'idempotency-key': key } });
        assert.equal(reply.status, 202);
        created.set(key, reply.body.id);
      }
    } finally {
      await first.stop();
    }
    // As the earlier version left them.
    for (const [key, fingerprint] of EARLIER_FINGERPRINTS)
      await onStore(store, 'UPDATE idempotency_keys SET fingerprint = ? WHERE key = ?', [fingerprint, key]);
    const upgraded = await startServer({ store: store.spec, args: ['--no-workers'] });
    try {
      for (const [key, body] of bodies) {
        const replay = await request(upgraded.url, 'POST', '/operations', { body, headers: { 'idempotency-key': key } });
        assert.ok(replay.status === 200 || replay.status === 202, `${key}: ${replay.status} ${JSON.stringify(replay.body)}`);
        assert.equal(replay.body.id, created.get(key));
        assert.equal(replay.headers.get('idempotent-replayed'), 'true');
      }
      const other = await request(upgraded.url, 'POST', '/operations', { body: { ...REPORT, priority: 1 }, headers: { 'idempotency-key': 'upgrade-k1' } });
      assert.equal(other.status, 422);
      assert.equal(other.body.code, 'idempotency_key_mismatch');
    } finally {
      await upgraded.stop();
    }
  });

  it('a store a later version migrated further is refused at start-up with one line, and left as it was', async () => {
    const store = ownStore();
    const first = await startServer({ store: store.spec, args: ['--no-workers'] });
    let id: string;
    try {
      id = (await request(first.url, 'POST', '/operations', { body: REPORT })).body.id;
    } finally {
      await first.stop();
    }
    await onStore(store, 'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [9999, '9999_from_a_later_version.sql', Date.now()]);
    for (const command of ['serve', 'worker']) {
      const asked = Date.now();
      const run = spawnSync(process.execPath, [CLI_ENTRY, command, '--store', store.spec, ...(command === 'serve' ? ['--port', '0'] : [])], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        timeout: 20_000,
      });
      assert.equal(run.status, 1, `${command}: ${run.stderr}`);
      assert.match(run.stderr, /its schema is at migration 9999 \(9999_from_a_later_version\.sql\), newer than this asyncops knows \(\d+\)/);
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
      // What it opened is closed: on PostgreSQL the pool's idle connections held the exit back 10 s (a start-up on a
      // loaded machine took 6.9 s, so the bound sits between the two).
      assert.ok(Date.now() - asked < 9_000, `${command} exited ${Date.now() - asked} ms after it started`);
    }
    await onStore(store, 'DELETE FROM schema_migrations WHERE version = ?', [9999]);
    const again = await startServer({ store: store.spec, args: ['--no-workers'] });
    try {
      const read = await request(again.url, 'GET', `/operations/${id}`);
      assert.equal(read.status, 200);
      assert.equal(read.body.status, 'pending');
    } finally {
      await again.stop();
    }
  });
});
