// Owns: running the store contract against the SQLite adapter (in memory and on a file), plus SQLite-only checks.
// Not here: the contract cases (contract*.ts). Invariant: every temporary directory made here is removed in after().

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../support/wait.ts';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { SqliteStore, createSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { ownTypeScope, type FinishParams, type Store, type StoreEvent, PRUNE_BATCH } from '../../src/store/store.ts';
import type { Operation } from '../../src/domain/operation.ts';
import { runStoreContract } from './contract.ts';
import { claim, draft, LEASE_MS, noDelivery, scheduleWithTick, T0, webhookFactory, type Claimed } from './fixtures.ts';
import { listSql } from '../../src/store/sqlite/operator-reads.ts';
import { SUPERSEDED_BY_RETRY } from '../../src/domain/delivery.ts';

let dir = '';
let files = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'asyncops-sqlite-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The counts the triggers of migration 0002 keep. */
async function pendingCounts(store: Store): Promise<Map<string, number>> {
  const rows = (store as SqliteStore).database.prepare('SELECT type, pending FROM queue_depth WHERE pending <> 0').all();
  return new Map(rows.map((r) => [String(r['type']), Number(r['pending'])]));
}

/** The keys whose turn is kept (fair_keys; not the keys' global pass, GLOBAL_PASS, which stays). */
async function fairKeys(store: Store): Promise<string[]> {
  return (store as SqliteStore).database
    .prepare("SELECT concurrency_key FROM fair_keys WHERE concurrency_key <> '*' ORDER BY concurrency_key")
    .all()
    .map((r) => String(r['concurrency_key']));
}

runStoreContract('sqlite :memory:', { makeStore: async () => new SqliteStore({ path: ':memory:' }), pendingCounts, fairKeys });
runStoreContract('sqlite file', { makeStore: async () => new SqliteStore({ path: join(dir, `contract-${++files}.db`) }), pendingCounts, fairKeys });

/**
 * `count` copies of operation `id` (its row alone: no result, history or key), ids `prefix` + 1..count, every other column
 * as the operation's, whatever columns the schema has.
 */
function copyOperation(store: SqliteStore, id: string, prefix: string, count: number): void {
  const columns = store.database
    .prepare("SELECT name FROM pragma_table_info('operations') WHERE name <> 'id' ORDER BY cid")
    .all()
    .map((row) => String(row['name']))
    .join(', ');
  store.database
    .prepare(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $count)
      INSERT INTO operations (id, ${columns}) SELECT $prefix || i, ${columns} FROM operations, n WHERE id = $id`)
    .run({ count, prefix, id });
}

describe('SqliteStore', () => {
  it('a write that cannot take the lock another process holds is store_unavailable (a 503 to try again), and works once it is let go', async () => {
    const path = join(dir, 'locked.db');
    const store = new SqliteStore({ path });
    await store.open();
    const holder = new DatabaseSync(path);
    try {
      // Not the store's 5 s: the test would wait them out.
      store.database.exec('PRAGMA busy_timeout = 0');
      holder.exec('BEGIN IMMEDIATE');
      await assert.rejects(store.operationInsert(draft()), (error: unknown) => {
        assert.equal((error as { code?: unknown }).code, 'store_unavailable');
        assert.match((error as Error).message, /locked/);
        return true;
      });
      holder.exec('ROLLBACK');
      assert.equal((await store.operationInsert(draft())).kind, 'created');
    } finally {
      holder.close();
      await store.close();
    }
  });

  it('a write the disk has no room for is store_unavailable (a 503 to try again, not a 500), and works once there is room', async () => {
    const store = new SqliteStore({ path: join(dir, 'full.db') });
    await store.open();
    try {
      // A file that may not grow is what SQLite meets on a full disk: SQLITE_FULL.
      const pages = Number(store.database.prepare('PRAGMA page_count').get()!['page_count']);
      store.database.exec(`PRAGMA max_page_count = ${pages}`);
      const big = { input: { pad: 'x'.repeat(200_000) } };
      await assert.rejects(store.operationInsert(draft(big)), (error: unknown) => {
        assert.equal((error as { code?: unknown }).code, 'store_unavailable');
        assert.match((error as Error).message, /^SQLite: the disk is full$/);
        return true;
      });
      // Not ready (/readyz) while the last write met a full disk: a balancer sends its creates elsewhere.
      await assert.rejects(store.ping(), /^AsyncOpsError: SQLite: the disk is full: the last write was refused$/);
      store.database.exec(`PRAGMA max_page_count = ${pages * 1000}`);
      assert.equal((await store.operationInsert(draft(big))).kind, 'created');
      await store.ping();
      assert.equal(store.database.prepare('PRAGMA integrity_check').get()!['integrity_check'], 'ok');
    } finally {
      await store.close();
    }
  });

  it('takes its files as they were when opened, through a symbolic link or a relative path after a change of directory', async () => {
    const real = join(dir, 'linked-real');
    const link = join(dir, 'linked-link');
    mkdirSync(real);
    mkdirSync(link);
    symlinkSync(join(real, 'a.db'), join(link, 'a.db'));
    const through = new SqliteStore({ path: join(link, 'a.db') });
    await through.open();
    const cwd = process.cwd();
    process.chdir(dir);
    const relative = new SqliteStore({ path: 'relative.db' });
    try {
      await relative.open();
      assert.equal((await relative.operationInsert(draft())).kind, 'created');
      process.chdir(real);
      assert.equal((await relative.operationInsert(draft())).kind, 'created', 'the file it opened, not one of the new directory');
      assert.equal((await through.operationInsert(draft())).kind, 'created');
      // SQLite keeps the log beside the file the link points to: removing it is seen there.
      rmSync(join(real, 'a.db-wal'));
      await assert.rejects(through.operationInsert(draft()), (error: Error) => error.message.includes(`write-ahead log (${join(real, 'a.db-wal')})`));
    } finally {
      process.chdir(cwd);
      await through.close();
      await relative.close();
    }
  });

  for (const [what, take] of [
    [
      'its file removed',
      (path: string) => {
        for (const end of ['', '-wal', '-shm']) rmSync(path + end, { force: true });
      },
    ],
    [
      'its file replaced',
      (path: string) => {
        copyFileSync(path, `${path}.copy`);
        renameSync(`${path}.copy`, path);
      },
    ],
    ['its write-ahead log removed', (path: string) => rmSync(`${path}-wal`)],
  ] as const) {
    it(`takes no write once ${what} under it (each would be lost at the next start), and is not ready`, async () => {
      const path = join(dir, `taken-${what.replace(/\W+/g, '-')}.db`);
      const store = new SqliteStore({ path });
      await store.open();
      try {
        assert.equal((await store.operationInsert(draft())).kind, 'created');
        take(path);
        await assert.rejects(store.operationInsert(draft()), (error: unknown) => {
          assert.equal((error as { code?: unknown }).code, 'store_unavailable');
          assert.match((error as Error).message, /was removed or replaced while the server had it open/);
          return true;
        });
        await assert.rejects(store.ping(), /was removed or replaced/);
      } finally {
        await store.close();
      }
    });
  }

  it('a write or a read that meets a damaged page is store_unavailable naming the damage (a 503, not a bare 500)', async () => {
    const path = join(dir, 'damaged.db');
    const store = new SqliteStore({ path });
    await store.open();
    for (let i = 0; i < 3; i++) await store.operationInsert(draft({ tenant: 'acme' }));
    // An index every insert writes and nothing at start-up reads: the tenant listing's.
    const root = Number(store.database.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'operations_tenant_id'").get()!['rootpage']);
    const pageSize = Number(store.database.prepare('PRAGMA page_size').get()!['page_size']);
    await store.close();
    const file = await open(path, 'r+');
    try {
      await file.write(Buffer.alloc(pageSize, 0xa5), 0, pageSize, (root - 1) * pageSize);
    } finally {
      await file.close();
    }
    const damaged = new SqliteStore({ path });
    await damaged.open();
    try {
      const isDamage = (error: unknown) => {
        assert.equal((error as { code?: unknown }).code, 'store_unavailable', String(error));
        assert.match((error as Error).message, /^SQLite: the database file is damaged/);
        return true;
      };
      await assert.rejects(damaged.operationInsert(draft()), isDamage);
      // A list of a tenant's operations reads that index too, outside any transaction.
      await assert.rejects(damaged.operationList({ tenant: 'acme', limit: 10 }), isDamage);
    } finally {
      await damaged.close();
    }
  });

  it('lists by error code through an index with the code (or the tenant and status), never a walk of every operation', async () => {
    const store = new SqliteStore({ path: join(dir, 'error-code-plan.db') });
    await store.open();
    try {
      const plan = (conditions: string[]) =>
        store.database
          .prepare(`EXPLAIN QUERY PLAN ${listSql(conditions)}`)
          .all()
          .map((r) => String(r['detail']))
          .filter((step) => step.includes(' o ') || step.includes('TEMP B-TREE'))
          .join('; ');
      // The store gathers no statistics, so these are the plans it always runs: an admin's list by the code's own index,
      // a tenant's by the tenant's, each newest first without a sort.
      assert.match(plan(['errorCode']), /^SEARCH o USING INDEX operations_error_code_id \(error_code=\?\)$/);
      assert.match(plan(['tenant', 'errorCode']), /^SEARCH o USING INDEX operations_tenant_error_code_id \(tenant=\? AND error_code=\?\)$/);
      // With a status, a time range, a type or a cursor too: a walk bounded by the code, or by the tenant and
      // the status, never one of every operation, and never a sort.
      for (const extra of [['status:failed'], ['status:pending', 'type'], ['createdAfter', 'beforeId'], ['status:failed', 'createdAfter']]) {
        for (const tenant of [[], ['tenant']]) {
          const steps = plan([...tenant, ...extra, 'errorCode']);
          assert.match(
            steps,
            /^SEARCH o USING INDEX (operations_error_code_id \(error_code=|operations_tenant_error_code_id \(tenant=\? AND error_code=|operations_tenant_status_id \(tenant=\? AND status=)[^;]*$/,
            steps,
          );
        }
      }
    } finally {
      await store.close();
    }
  });

  it('ends a superseded delivery that waits with no lease (an earlier version left it, or migration 0018 marked it) at lease recovery', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    await store.open();
    try {
      const d = draft({ type: 'superseded', webhookUrl: 'https://example.test/hook' });
      await store.operationInsert(d);
      const { leaseToken } = await claim(store, { id: d.id, type: d.type }, T0);
      await store.operationFinish({ id: d.id, leaseToken, now: T0 + 10, status: 'failed', error: { code: 'x', message: 'x' }, delivery: webhookFactory(T0) });
      await store.operationRedrive({ id: d.id, tenant: d.tenant, now: T0 + 20, by: 'key:0' });
      // What a node of an earlier version recording an attempt in flight, or the migration's mark, leaves: retrying, no lease.
      store.database.prepare("UPDATE deliveries SET state = 'retrying', next_attempt_at = ?, superseded = 1, last_error = 'HTTP 503'").run(T0);
      assert.deepEqual(await store.deliveryClaimDue({ now: T0 + 30, workerId: 'w', leaseMs: LEASE_MS, limit: 10 }), [], 'never claimed');
      await store.deliveryRecoverExpired({ now: T0 + 40 });
      const [entry] = await store.deliveryListForOperation({ operationId: d.id, tenant: d.tenant });
      assert.deepEqual([entry?.delivery.state, entry?.delivery.lastError, entry?.delivery.nextAttemptAt], ['dead', SUPERSEDED_BY_RETRY, null]);
      // The migration's mark: a delivery written before its operation was last retried (0018's UPDATE, run again here).
      store.database.prepare('UPDATE deliveries SET superseded = 0').run();
      const markSql = readFileSync(new URL('../../src/store/sqlite/migrations/0018_superseded_deliveries.sql', import.meta.url), 'utf8')
        .split(';')
        .find((statement) => /^\s*(--[^\n]*\n\s*)*UPDATE/.test(statement))!;
      store.database.exec(markSql);
      assert.equal((await store.deliveryListForOperation({ operationId: d.id, tenant: d.tenant }))[0]?.delivery.superseded, true);
    } finally {
      await store.close();
    }
  });

  it("marks the deliveries a retry went past when the retry came before redriven_at was kept (0019, from the history's redriven rows)", async () => {
    const path = join(dir, 'superseded-by-history.db');
    const store = new SqliteStore({ path });
    await store.open();
    const d = draft({ type: 'superseded', webhookUrl: 'https://example.test/hook' });
    try {
      await store.operationInsert(d);
      const { leaseToken } = await claim(store, { id: d.id, type: d.type }, T0);
      await store.operationFinish({ id: d.id, leaseToken, now: T0 + 10, status: 'failed', error: { code: 'x', message: 'x' }, delivery: webhookFactory(T0) });
      await store.operationRedrive({ id: d.id, tenant: d.tenant, now: T0 + 20, by: 'key:0' });
      // As a release before 0015 left it: the retry in the history, no redriven_at, its delivery unmarked and dead;
      // and one written after the retry.
      store.database.exec(`UPDATE operations SET redriven_at = NULL; UPDATE deliveries SET superseded = 0, state = 'dead', next_attempt_at = NULL;
        DELETE FROM schema_migrations WHERE version = 19`);
      store.database
        .prepare(`INSERT INTO deliveries (id, message_id, operation_id, tenant, url, event_type, payload, state, created_at, updated_at)
          VALUES ('dlv_after', 'dlv_after', ?, ?, 'https://example.test/hook', 'operation.failed', '{}', 'dead', ?, ?)`)
        .run(d.id, d.tenant, T0 + 30, T0 + 30);
    } finally {
      await store.close();
    }
    const reopened = new SqliteStore({ path });
    await reopened.open();
    try {
      const deliveries = await reopened.deliveryListForOperation({ operationId: d.id, tenant: d.tenant });
      assert.deepEqual(deliveries.map((entry) => [entry.delivery.id === 'dlv_after', entry.delivery.superseded]).sort(), [
        [false, true],
        [true, false],
      ]);
      assert.equal((await reopened.operationGetById(d.id))?.redrivenAt, T0 + 20, 'its last retry, from the history');
      const before = deliveries.find((entry) => entry.delivery.id !== 'dlv_after')!.delivery.id;
      assert.equal((await reopened.deliveryRetry({ id: before, tenant: d.tenant, now: T0 + 40 })).kind, 'superseded', 'not replayed');
      assert.notEqual((await reopened.deliveryRetry({ id: 'dlv_after', tenant: d.tenant, now: T0 + 40 })).kind, 'superseded');
    } finally {
      await reopened.close();
    }
  });

  it('attributes to their schedule the operations its kept ticks made before 0020 added schedule_id (0021)', async () => {
    const path = join(dir, 'schedule-backfill.db');
    const store = new SqliteStore({ path });
    await store.open();
    const submitted = draft();
    let ticked: { scheduleId: string; operationId: string };
    try {
      ticked = await scheduleWithTick(store, submitted.tenant);
      await store.operationInsert(submitted);
      // As a release before 0020 left it: the tick's operation without its schedule's id.
      store.database.exec('UPDATE operations SET schedule_id = NULL; DELETE FROM schema_migrations WHERE version = 21');
    } finally {
      await store.close();
    }
    const reopened = new SqliteStore({ path });
    await reopened.open();
    try {
      assert.equal((await reopened.operationGetById(ticked.operationId))?.scheduleId, ticked.scheduleId);
      assert.equal((await reopened.operationGetById(submitted.id))?.scheduleId ?? null, null, 'a submitted one stays without');
    } finally {
      await reopened.close();
    }
  });

  it('prunes a backlog larger than a batch in batches, each its own transaction, the event loop free between them, stopping between two when told', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    await store.open();
    try {
      const total = 2 * PRUNE_BATCH + 7;
      const template = draft({ type: 'pruned-in-batches' });
      await store.operationInsert(template);
      const { leaseToken } = await claim(store, { id: template.id, type: template.type }, T0);
      const result = { contentType: 'application/json', body: Buffer.from('{"n":1}') };
      await store.operationFinish({ id: template.id, leaseToken, now: T0 + 10, status: 'completed', result, delivery: noDelivery });
      // Copies of the finished one, all finished at the same millisecond (the cursor breaks ties by rowid).
      copyOperation(store, template.id, 'op_copy_', total - 1);
      store.database.exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${total - 1})
        INSERT INTO results SELECT 'op_copy_' || i, content_type, body FROM results, n WHERE operation_id = '${template.id}'`);
      const params = { resultsFinishedBefore: T0 + 11, operationsFinishedBefore: T0 + 11, now: T0 + 20 };
      // A stop once the first batch has committed (its changes announced) ends the pruning before the next batch.
      const stopping = new AbortController();
      const unsubscribe = store.subscribe(() => stopping.abort());
      assert.deepEqual(await store.prune({ ...params, signal: stopping.signal }), { results: PRUNE_BATCH, operations: 0, idempotencyKeys: 0 });
      unsubscribe();
      // The next pruning goes on with what is left, the event loop's turn taken between its batches.
      let turns = 0;
      let counting = true;
      const count = () => {
        turns++;
        if (counting) setImmediate(count);
      };
      setImmediate(count);
      const pruned = await store.prune(params);
      counting = false;
      assert.deepEqual(pruned, { results: total - PRUNE_BATCH, operations: total, idempotencyKeys: 0 });
      assert.equal(store.database.prepare('SELECT count(*) AS n FROM operations').get()?.['n'], 0);
      // Two batches of results and three of operations, the loop's turn taken after each.
      assert.ok(turns >= 5, `${turns} turns of the event loop while it pruned`);
    } finally {
      await store.close();
    }
  });

  it('reads at most a batch of operations in one call, however many it keeps (a key alive, a result gone) on the way', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    await store.open();
    try {
      const total = 4 * PRUNE_BATCH;
      const template = draft({ type: 'kept-on-the-way' });
      await store.operationInsert(template);
      const { leaseToken } = await claim(store, { id: template.id, type: template.type }, T0);
      await store.operationFinish({ id: template.id, leaseToken, now: T0 + 10, status: 'completed', delivery: noDelivery });
      // Finished long ago, each without a result and with its idempotency key alive: nothing of them may go yet.
      copyOperation(store, template.id, 'op_kept_', total);
      store.database.exec(`INSERT INTO idempotency_keys (tenant, key, fingerprint, operation_id, expires_at)
          SELECT tenant, id, 'f', id, ${T0 + 86_400_000} FROM operations WHERE id LIKE 'op_kept_%';
        DELETE FROM operations WHERE id = '${template.id}'`);
      let turns = 0;
      let counting = true;
      const count = () => {
        turns++;
        if (counting) setImmediate(count);
      };
      setImmediate(count);
      const pruned = await store.prune({ resultsFinishedBefore: T0 + 11, operationsFinishedBefore: T0 + 11, now: T0 + 20 });
      counting = false;
      assert.deepEqual(pruned, { results: 0, operations: 0, idempotencyKeys: 0 });
      // Each phase read them a batch at a time, the loop's turn taken between: four batches of results, four of operations.
      assert.ok(turns >= 7, `${turns} turns of the event loop while it read ${total} kept operations twice`);
    } finally {
      await store.close();
    }
  });

  it('records applied migrations in schema_migrations, once', async () => {
    const path = join(dir, 'migrations.db');
    for (let i = 0; i < 2; i++) {
      const store = new SqliteStore({ path });
      await store.open();
      const rows = store.database.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all();
      assert.deepEqual(
        rows.map((r) => ({ ...r })),
        [
          { version: 1, name: '0001_init.sql' },
          { version: 2, name: '0002_queue_depth.sql' },
          { version: 3, name: '0003_delivery_destination.sql' },
          { version: 4, name: '0004_eta.sql' },
          { version: 5, name: '0005_trace_context.sql' },
          { version: 6, name: '0006_fairness.sql' },
          { version: 7, name: '0007_rate_limits.sql' },
          { version: 8, name: '0008_schedules.sql' },
          { version: 9, name: '0009_history.sql' },
          { version: 10, name: '0010_bulk_actions.sql' },
          { version: 11, name: '0011_operator_indexes.sql' },
          { version: 12, name: '0012_error_code_index.sql' },
          { version: 13, name: '0013_tenant_error_code_index.sql' },
          { version: 14, name: '0014_finished_version.sql' },
          { version: 15, name: '0015_redriven_at.sql' },
          { version: 16, name: '0016_schedule_key_and_priority.sql' },
          { version: 17, name: '0017_created_key_index.sql' },
          { version: 18, name: '0018_superseded_deliveries.sql' },
          { version: 19, name: '0019_superseded_by_history.sql' },
          { version: 20, name: '0020_operation_schedule.sql' },
          { version: 21, name: '0021_operation_schedule_backfill.sql' },
        ],
      );
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

  it('ends the attempts asked for in one turn together, each as it ends alone: row, result, sample, history, outbox, events', async () => {
    // The same ends on two stores: one at a time (each its own statement), and all in one turn (one statement for all).
    const run = async (together: boolean) => {
      const store = createSqliteStore({ path: join(dir, `ends-${together}-${++files}.db`) });
      await store.open();
      try {
        const events: StoreEvent[] = [];
        store.subscribe((event) => events.push(event));
        const delivery = webhookFactory();
        const held = [];
        for (let i = 0; i < 5; i++) {
          const inserted = await store.operationInsert(
            draft({ type: 'batch', webhookUrl: i === 2 ? 'https://example.com/hook' : null, concurrencyKey: i === 3 ? 'k' : null }),
          );
          assert.equal(inserted.kind, 'created');
          held.push(await claim(store, inserted.operation, T0 + i));
        }
        const [a, b, c, d, e] = held as [Claimed, Claimed, Claimed, Claimed, Claimed];
        const ends: FinishParams[] = [
          {
            id: a.op.id,
            leaseToken: a.leaseToken,
            now: T0 + 100,
            status: 'completed',
            result: { contentType: 'text/plain', body: Buffer.from('a') },
            delivery,
          },
          { id: b.op.id, leaseToken: b.leaseToken, now: T0 + 101, status: 'failed', error: { code: 'boom', message: 'it broke' }, delivery },
          {
            id: c.op.id,
            leaseToken: c.leaseToken,
            now: T0 + 102,
            status: 'completed',
            result: { contentType: 'application/json', body: Buffer.from('null') },
            delivery,
          },
          { id: d.op.id, leaseToken: d.leaseToken, now: T0 + 103, status: 'completed', progress: { fraction: 1, message: 'done' }, delivery },
          // An end under a lease the operation no longer holds, and a second end of one operation: neither ends anything.
          { id: e.op.id, leaseToken: 'stale', now: T0 + 104, status: 'completed', delivery },
          { id: a.op.id, leaseToken: a.leaseToken, now: T0 + 105, status: 'failed', error: { code: 'late', message: 'late' }, delivery },
        ];
        events.length = 0;
        const outcomes: Array<Operation | null> = [];
        if (together) outcomes.push(...(await Promise.all(ends.map((end) => store.operationFinish(end)))));
        else for (const end of ends) outcomes.push(await store.operationFinish(end));
        const stored = await Promise.all(held.map(({ op }) => store.operationGetById(op.id)));
        const results = await Promise.all(held.map(({ op }) => store.resultGet({ id: op.id, tenant: op.tenant })));
        const history = await Promise.all(held.map(({ op }) => store.historyList({ operationId: op.id, tenant: op.tenant, limit: 10 })));
        const samples = (store as SqliteStore).database.prepare('SELECT duration_ms FROM duration_samples ORDER BY id').all();
        const deliveries = (store as SqliteStore).database.prepare('SELECT operation_id FROM deliveries').all();
        return {
          outcomes: outcomes.map((op) => op && { id: op.id, status: op.status, webhookState: op.webhookState, progress: op.progress }),
          stored: stored.map(
            (op) =>
              op && {
                status: op.status,
                error: op.error,
                finishedAt: op.finishedAt,
                progress: op.progress,
                message: op.progressMessage,
                version: op.version,
                leased: op.leaseToken !== null,
              },
          ),
          results: results.map((r) => r && { contentType: r.contentType, body: String(r.body) }),
          history: history.map((events) => events?.map((event) => event.kind)),
          samples: samples.map((r) => Number(r['duration_ms'])),
          deliveries: deliveries.map((r) => String(r['operation_id'])),
          events: events.filter((event) => event.kind !== 'delivery:due').map((event) => event.kind),
          ids: held.map(({ op }) => op.id),
        };
      } finally {
        await store.close();
      }
    };
    const alone = await run(false);
    const together = await run(true);
    const byIndex = (r: typeof alone) => ({
      ...r,
      outcomes: r.outcomes.map((o) => o && { ...o, id: r.ids.indexOf(o.id) }),
      deliveries: r.deliveries.map((id) => r.ids.indexOf(id)),
      ids: [],
    });
    assert.deepEqual(byIndex(together), byIndex(alone));
    assert.deepEqual(
      alone.outcomes.map((o) => o?.status ?? null),
      ['completed', 'failed', 'completed', 'completed', null, null],
    );
    assert.deepEqual(
      alone.stored.map((op) => op?.status),
      ['completed', 'failed', 'completed', 'completed', 'processing'],
    );
  });

  it('fails alone an end the store refuses, when it was asked for with others in one turn', async () => {
    const store = createSqliteStore({ path: join(dir, `refused-${++files}.db`) });
    await store.open();
    try {
      const held = [];
      for (let i = 0; i < 3; i++) {
        const inserted = await store.operationInsert(draft({ type: 'refused' }));
        assert.equal(inserted.kind, 'created');
        held.push(await claim(store, inserted.operation, T0 + i));
      }
      const body = Buffer.from('{}');
      const outcomes = await Promise.allSettled(
        held.map(({ op, leaseToken }, i) =>
          store.operationFinish({
            id: op.id,
            leaseToken,
            now: T0 + 100,
            status: 'completed',
            // A content type the results table cannot hold (NOT NULL): the statement of the group fails with it.
            result: { contentType: (i === 1 ? null : 'application/json') as string, body },
            delivery: noDelivery,
          }),
        ),
      );
      assert.deepEqual(
        outcomes.map((o) => o.status),
        ['fulfilled', 'rejected', 'fulfilled'],
      );
      const stored = await Promise.all(held.map(({ op }) => store.operationGetById(op.id)));
      assert.deepEqual(
        stored.map((op) => op?.status),
        ['completed', 'processing', 'completed'],
      );
    } finally {
      await store.close();
    }
  });

  it("reports another process's writes, which its change feed does not announce, and not its own or a checkpoint", async () => {
    const path = join(dir, 'unannounced.db');
    const mine = createSqliteStore({ path });
    const other = createSqliteStore({ path });
    await mine.open();
    await other.open();
    try {
      const before = mine.unannouncedWrites();
      await mine.operationInsert(draft());
      // The checkpoints the store's thread runs, on a connection of its own (a TRUNCATE would count as a write: one claim
      // more, nothing worse).
      (other as SqliteStore).database.exec('PRAGMA wal_checkpoint(PASSIVE)');
      (other as SqliteStore).database.exec('PRAGMA wal_checkpoint(RESTART)');
      assert.equal(mine.unannouncedWrites(), before, 'its own write and checkpoints are not reported');
      await other.operationInsert(draft());
      assert.notEqual(mine.unannouncedWrites(), before, "the other connection's write is");
    } finally {
      await other.close();
      await mine.close();
    }
  });

  it('counts the pending operations already stored when migration 0002 adds the pending counts', async () => {
    const path = join(dir, 'upgrade.db');
    // A database as the first release left it: migration 0001 only, with a queue in it.
    const old = new DatabaseSync(path);
    old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT');
    old.exec(readFileSync(new URL('../../src/store/sqlite/migrations/0001_init.sql', import.meta.url), 'utf8'));
    old.prepare("INSERT INTO schema_migrations VALUES (1, '0001_init.sql', 0)").run();
    const queued = Array.from({ length: 200 }, (_, i) => draft({ type: 'upgraded', runAt: T0 + i }));
    const insert =
      old.prepare(`INSERT INTO operations (id, tenant, type, status, input, attempt, max_attempts, priority, timeout_s, run_at, created_at, updated_at)
      VALUES (?, ?, ?, 'pending', '{}', 1, 3, 0, 60, ?, ?, ?)`);
    for (const d of queued) insert.run(d.id, d.tenant, d.type, d.runAt, T0, T0);
    old.close();
    const store = createSqliteStore({ path });
    await store.open();
    const standing = await store.operationQueueStanding({ operation: { ...queued[199]!, status: 'pending' }, now: T0 + 1_000, scope: ownTypeScope() });
    assert.equal(standing?.position, 199, 'the tail of the queue, read through the pending count');
    await store.close();
  });

  it('counts the operations already stored when migration 0011 adds the counts per tenant, type and status', async () => {
    const path = join(dir, 'counts-upgrade.db');
    // A database as the releases before 0011 left it, with operations in every status it counts.
    const old = new DatabaseSync(path);
    old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT');
    const migrations = new URL('../../src/store/sqlite/migrations/', import.meta.url);
    for (const name of readdirSync(migrations)
      .filter((f) => /^\d{4}_/.test(f) && Number(f.slice(0, 4)) < 11)
      .sort()) {
      old.exec(readFileSync(new URL(name, migrations), 'utf8'));
      old.prepare('INSERT INTO schema_migrations VALUES (?, ?, 0)').run(Number(name.slice(0, 4)), name);
    }
    const insert =
      old.prepare(`INSERT INTO operations (id, tenant, type, status, input, attempt, max_attempts, priority, timeout_s, run_at, created_at, updated_at)
      VALUES (?, ?, 'upgraded', ?, '{}', 1, 3, 0, 60, ?, ?, ?)`);
    for (const [tenant, status, n] of [
      ['a', 'pending', 3],
      ['a', 'failed', 2],
      ['b', 'completed', 4],
    ] as const) {
      for (let i = 0; i < n; i++) insert.run(draft().id, tenant, status, T0, T0, T0);
    }
    old.close();
    const store = createSqliteStore({ path });
    await store.open();
    assert.deepEqual(await store.operationCounts({ tenant: 'a' }), [
      { type: 'upgraded', status: 'failed', count: 2 },
      { type: 'upgraded', status: 'pending', count: 3 },
    ]);
    assert.deepEqual(await store.operationCounts(), [
      { type: 'upgraded', status: 'completed', count: 4 },
      { type: 'upgraded', status: 'failed', count: 2 },
      { type: 'upgraded', status: 'pending', count: 3 },
    ]);
    await store.close();
  });

  it('gives the deliveries still to be sent a destination when migration 0003 adds it', async () => {
    const path = join(dir, 'destinations.db');
    // A database as the releases before 0003 left it, with deliveries still to be sent.
    const old = new DatabaseSync(path);
    old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT');
    for (const [version, name] of [
      [1, '0001_init.sql'],
      [2, '0002_queue_depth.sql'],
    ] as const) {
      old.exec(readFileSync(new URL(`../../src/store/sqlite/migrations/${name}`, import.meta.url), 'utf8'));
      old.prepare('INSERT INTO schema_migrations VALUES (?, ?, 0)').run(version, name);
    }
    const op = draft();
    old
      .prepare(`INSERT INTO operations (id, tenant, type, status, input, attempt, max_attempts, priority, timeout_s, run_at, created_at, updated_at)
      VALUES (?, ?, ?, 'pending', '{}', 1, 3, 0, 60, ?, ?, ?)`)
      .run(op.id, op.tenant, op.type, T0, T0, T0);
    const insert =
      old.prepare(`INSERT INTO deliveries (id, message_id, operation_id, tenant, url, event_type, payload, state, next_attempt_at, created_at, updated_at)
      VALUES (?, ?, ?, ?, ?, 'operation.completed', '{}', ?, ?, ?, ?)`);
    insert.run('dlv_1', 'msg_1', op.id, op.tenant, 'HTTPS://Hung.TEST/a/b?c=1', 'pending', T0, T0, T0);
    insert.run('dlv_2', 'msg_2', op.id, op.tenant, 'https://hung.test/other', 'retrying', T0 + 1, T0, T0);
    insert.run('dlv_3', 'msg_3', op.id, op.tenant, 'http://other.test:8080', 'pending', T0 + 2, T0, T0);
    old.close();
    const store = createSqliteStore({ path });
    await store.open();
    const claimed = await store.deliveryClaimDue({ now: T0 + 10, workerId: 'd1', leaseMs: LEASE_MS, limit: 10, exceptDestinations: ['https://hung.test'] });
    assert.deepEqual(
      claimed.map((d) => [d.id, d.destination]),
      [['dlv_3', 'http://other.test:8080']],
    );
    await store.close();
  });

  it('hands checkpoints to a thread of their own once busy: its connection stops checkpointing and the WAL stays small', async () => {
    const path = join(dir, 'busy.db');
    const store = new SqliteStore({ path });
    await store.open();
    const autocheckpoint = () => store.database.prepare('PRAGMA wal_autocheckpoint').get()?.['wal_autocheckpoint'];
    assert.equal(autocheckpoint(), 4096, 'a fresh store checkpoints inside its commits, past 16 MB');
    // Each insert is a commit of its own (awaited one by one).
    for (let i = 0; i < 4_000; i++) await store.operationInsert(draft({ input: { i, pad: 'x'.repeat(200) } }));
    assert.equal(autocheckpoint(), 0, 'after 500 commits the thread checkpoints');
    // The thread checkpoints on its own schedule; the next commit after it restarts and trims the WAL.
    await waitFor(
      async () => {
        await store.operationInsert(draft());
        return statSync(`${path}-wal`).size <= 16 * 1024 * 1024;
      },
      { timeoutMs: 10_000, what: 'the WAL copied back, restarted and trimmed to 16 MB (with no checkpoint 4,000 commits grow it past 60 MB)' },
    );
    await store.close();
    const reopened = createSqliteStore({ path });
    await reopened.open();
    assert.equal((await reopened.operationList({ tenant: draft().tenant, limit: 200 })).length, 200);
    await reopened.close();
  });

  it('keeps the WAL bounded while writes go on at a steady pace: it starts over once past 16 MB, not only when they stop', async () => {
    const path = join(dir, 'steady.db');
    const store = new SqliteStore({ path });
    await store.open();
    // A commit a millisecond or so, as a busy service makes them: every checkpoint finds frames written since it began.
    let largest = 0;
    try {
      for (let i = 0; i < 3_000; i++) {
        await store.operationInsert(draft({ input: { i, pad: 'x'.repeat(200) } }));
        if (i % 20 === 0) largest = Math.max(largest, statSync(`${path}-wal`).size);
        await sleep(1);
      }
    } finally {
      await store.close();
    }
    // 3,000 such commits write some 150 MB of frames; a WAL that never started over would hold them all.
    assert.ok(largest <= 48 * 1024 * 1024, `the WAL reached ${(largest / 1024 / 1024).toFixed(1)} MB while writes went on`);
  });

  it("keeps the WAL near 16 MB through a store's first few commits when they are large, before any count of them", async () => {
    const path = join(dir, 'first-large.db');
    const store = new SqliteStore({ path });
    await store.open();
    let largest = 0;
    try {
      // 30 MB of frames in 200 commits: the connection alone checkpoints past 40 MB, the thread waited for 500 commits.
      for (let i = 0; i < 200; i++) {
        await store.operationInsert(draft({ input: { i, pad: 'x'.repeat(150_000) } }));
        largest = Math.max(largest, statSync(`${path}-wal`).size);
        await sleep(2);
      }
    } finally {
      await store.close();
    }
    assert.ok(largest <= 24 * 1024 * 1024, `the WAL reached ${(largest / 1024 / 1024).toFixed(1)} MB`);
  });

  it("never holds the store's writes off behind another connection's long read while the WAL is past 16 MB", async () => {
    const path = join(dir, 'pinned.db');
    const store = new SqliteStore({ path });
    await store.open();
    const reader = new DatabaseSync(path);
    let slowest = 0;
    try {
      // Past the hand-off to the checkpoint thread, then a read in another connection that keeps its snapshot.
      for (let i = 0; i < 600; i++) await store.operationInsert(draft({ input: { i } }));
      reader.exec('BEGIN');
      reader.prepare('SELECT count(*) FROM operations').get();
      // The WAL cannot start over under that read; each write must still go through at once.
      for (let i = 0; i < 2_500; i++) {
        const started = performance.now();
        await store.operationInsert(draft({ input: { i, pad: 'x'.repeat(200) } }));
        slowest = Math.max(slowest, performance.now() - started);
        if (i % 100 === 0) await sleep(5);
      }
      assert.ok(statSync(`${path}-wal`).size > 16 * 1024 * 1024, 'the WAL grew past 16 MB under the read');
    } finally {
      reader.exec('COMMIT');
      reader.close();
      await store.close();
    }
    assert.ok(slowest < 500, `the slowest write waited ${slowest.toFixed(0)} ms`);
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
