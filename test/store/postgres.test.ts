// Owns: running the store contract against PostgreSQL, plus what only PostgreSQL has: several nodes on one database
// (concurrent migrations, NOTIFY between stores, concurrent claims) and a LISTEN connection that comes back.
// Not here: the contract cases (contract*.ts). Invariant: each test uses schemas of its own and drops them (a contract
// case: one no other case uses at the same time, emptied after it, dropped at the end); every store is closed.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { readdirSync, readFileSync } from 'node:fs';
import { createPostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { channelOf, clientConfig, PostgresDatabase, sqlLiteral, type Queryable } from '../../src/store/postgres/database.ts';
import { claimStatement } from '../../src/store/postgres/transitions.ts';
import { insertOperations } from '../../src/store/postgres/insert-group.ts';
import { getWithStanding } from '../../src/store/postgres/standing.ts';
import { CLAIM_TURNS, keyLock } from '../../src/store/postgres/fair-claim.ts';
import { listOperations, operationStats } from '../../src/store/postgres/operator-reads.ts';
import { ChangeFeed } from '../../src/store/change-feed.ts';
import { decodeNotification, encodeNotifications } from '../../src/store/postgres/change-listener.ts';
import { ownTypeScope, type FinishParams, type Store, type StoreEvent, PRUNE_BATCH } from '../../src/store/store.ts';
import type { Operation } from '../../src/domain/operation.ts';
import { runStoreContract } from './contract.ts';
import { newId, ID_PREFIXES } from '../../src/domain/ids.ts';
import { draft, insertInState, LEASE_MS, nextId, noDelivery, scheduleWithTick, T0, TENANT, webhookFactory } from './fixtures.ts';
import { checkBulkRequest } from '../../src/domain/bulk-action.ts';
import { dropSchema, icuDatabase, PG_URL, postgresSkipReason, RecycledSchemas, uniqueSchema, withClient } from '../support/postgres.ts';
import { waitFor } from '../support/wait.ts';

describe('PostgreSQL NOTIFY payloads', () => {
  it('split many events into payloads under the 8000-byte limit and decode them back', () => {
    const events: StoreEvent[] = Array.from({ length: 500 }, (_, i) => ({ kind: 'operation:changed', id: `op_${i}`, version: i, status: 'processing' }));
    const payloads = encodeNotifications('me', events);
    assert.ok(payloads.length > 1);
    for (const payload of payloads) assert.ok(Buffer.byteLength(payload) < 8000);
    assert.deepEqual(
      payloads.flatMap((p) => decodeNotification(p, 'other')),
      events,
    );
    assert.deepEqual(
      payloads.flatMap((p) => decodeNotification(p, 'me')),
      [],
    );
  });

  it('carry every kind another node acts on, and pass over a kind this node does not know (a newer node sent it)', () => {
    const events: StoreEvent[] = [
      { kind: 'operation:changed', id: 'op_1', version: 3, status: 'completed' },
      { kind: 'operation:cancel_requested', id: 'op_2' },
      { kind: 'operation:deleted', id: 'op_3' },
      { kind: 'schedule:changed', nextRunAt: null },
      { kind: 'rate_limit:held', type: 'report', until: 5 },
      { kind: 'operation:due', type: 'report', runAt: 7 },
      { kind: 'delivery:due', nextAttemptAt: 9 },
    ];
    assert.deepEqual(
      encodeNotifications('me', events).flatMap((p) => decodeNotification(p, 'other')),
      events,
    );
    assert.deepEqual(decodeNotification('{"s":"newer","e":[["?","op_4"],["r","op_5"]]}', 'me'), [{ kind: 'operation:deleted', id: 'op_5' }]);
  });
});

/** Makes `schema` as the releases before migration `before` left it: the migrations below it applied and recorded. */
async function migratedBefore(c: pg.Client, schema: string, before: number): Promise<void> {
  await c.query(`CREATE SCHEMA ${schema}; SET search_path TO ${schema}`);
  await c.query('CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)');
  const migrations = new URL('../../src/store/postgres/migrations/', import.meta.url);
  for (const name of readdirSync(migrations)
    .filter((f) => /^\d{4}_/.test(f) && Number(f.slice(0, 4)) < before)
    .sort()) {
    await c.query(readFileSync(new URL(name, migrations), 'utf8'));
    await c.query('INSERT INTO schema_migrations VALUES ($1, $2, 0)', [Number(name.slice(0, 4)), name]);
  }
}

/**
 * Rows of `schema`'s `table` read sequentially (`seq`) and fetched through its indexes (`idx`): in `c`'s transaction
 * (pg_stat_xact_user_tables), or, with `pg_stat_user_tables`, by every connection whose counters have been flushed.
 */
async function tableReads(
  c: pg.Client,
  schema: string,
  table: string,
  view: 'pg_stat_xact_user_tables' | 'pg_stat_user_tables' = 'pg_stat_xact_user_tables',
): Promise<{ seq: number; idx: number }> {
  const { rows } = await c.query<{ seq: string; idx: string }>(
    `SELECT coalesce(seq_tup_read, 0) AS seq, coalesce(idx_tup_fetch, 0) AS idx FROM ${view} WHERE schemaname = $1 AND relname = $2`,
    [schema, table],
  );
  return { seq: Number(rows[0]?.seq), idx: Number(rows[0]?.idx) };
}

/** That `c`'s transaction read `schema`'s `table` through its indexes alone, fewer than `fewerThan` rows of it. */
async function assertReadByIndex(c: pg.Client, schema: string, table: string, fewerThan: number): Promise<void> {
  const read = await tableReads(c, schema, table);
  assert.equal(read.seq, 0, `no walk of ${table}`);
  assert.ok(read.idx < fewerThan, `rows of ${table} read: ${read.idx}`);
}

/** `c` as the Queryable the store's read functions take, so a test reads in `c`'s transaction and settings. */
function queryable(c: pg.Client): Queryable {
  return { query: async <R>(sql: string, params?: readonly unknown[]) => (await c.query(sql, params as unknown[])).rows as R[] };
}

/** Ends each of `claimed` under its lease as `ended` says: by default completed, with a `null` result. */
async function endClaimed(
  store: Store,
  claimed: readonly Operation[],
  ended: Pick<FinishParams, 'status' | 'error' | 'result'> = { status: 'completed', result: { contentType: 'application/json', body: Buffer.from('null') } },
): Promise<void> {
  await Promise.all(claimed.map((op) => store.operationFinish({ id: op.id, leaseToken: op.leaseToken!, now: T0 + 10, ...ended, delivery: () => null })));
}

const skip = await postgresSkipReason();
const schemas = new Map<Store, string>();

function makeStore(schema = uniqueSchema(), onError?: (err: unknown) => void, url = PG_URL): Store {
  const store = createPostgresStore({ url, schema, poolSize: 4, onError });
  schemas.set(store, schema);
  return store;
}

/** The pending counts per type the statements keep in `store`'s queue_depth (several rows a type), read through `probe`. */
async function queueDepths(probe: pg.Pool, store: Store): Promise<Map<string, number>> {
  const { rows } = await probe.query<{ type: string; pending: string }>(
    `SELECT type, sum(pending) AS pending FROM ${pg.escapeIdentifier(schemas.get(store)!)}.queue_depth GROUP BY type HAVING sum(pending) <> 0`,
  );
  return new Map(rows.map((r) => [r.type, Number(r.pending)]));
}

async function fairKeys(probe: pg.Pool, store: Store): Promise<string[]> {
  const { rows } = await probe.query<{ key: string }>(
    `SELECT concurrency_key AS key FROM ${pg.escapeIdentifier(schemas.get(store)!)}.fair_keys WHERE concurrency_key <> '*' ORDER BY concurrency_key COLLATE "C"`,
  );
  return rows.map((r) => r.key);
}

if (skip !== null) {
  describe('PostgreSQL store', { skip }, () => {});
} else {
  /** For reading what the contract probes, on a connection kept for the file. */
  const probe = new pg.Pool({ connectionString: PG_URL, max: 1 });
  after(() => probe.end());
  // Each case gets an empty store on a schema an earlier case's store left, emptied (RecycledSchemas).
  const recycled = new RecycledSchemas();
  after(() => recycled.drop());
  runStoreContract('postgres', {
    makeStore: async () => makeStore(recycled.take()),
    cleanup: async (store) => recycled.giveBack(schemas.get(store)!),
    // The counts the statements keep in queue_depth, in several rows per type.
    pendingCounts: (store) => queueDepths(probe, store),
    fairKeys: (store) => fairKeys(probe, store),
  });

  // Ids, tenants, types and keys are ordered in SQL and compared in JavaScript; on a database whose default collation is
  // not byte order, the parts that order them run again (migration 0018 is why they pass).
  const icu = await icuDatabase();
  if (typeof icu === 'string') {
    describe('Store contract: postgres on a database whose default collation is ICU en-US', { skip: icu }, () => {});
  } else {
    const icuProbe = new pg.Pool({ connectionString: icu.url, max: 1 });
    const icuRecycled = new RecycledSchemas(icu.url);
    after(async () => {
      await icuRecycled.drop();
      await icuProbe.end();
      await icu.drop();
    });
    runStoreContract(
      'postgres on a database whose default collation is ICU en-US',
      {
        makeStore: async () => makeStore(icuRecycled.take(), undefined, icu.url),
        cleanup: async (store) => icuRecycled.giveBack(schemas.get(store)!),
        pendingCounts: (store) => queueDepths(icuProbe, store),
        fairKeys: (store) => fairKeys(icuProbe, store),
      },
      ['queue', 'standing', 'deliveries', 'fairness', 'operatorReads', 'schedules', 'bulkActions', 'history'],
    );

    describe('PostgreSQL upgrade on a database whose default collation is ICU en-US', () => {
      it('lists the schedules a store stored before migration 0018 from the top once it has run', async () => {
        const schema = uniqueSchema();
        const ids = ['sch_01HF7YB5X92SED2QDFTWHZ62E6', 'sch_01HF7YB5XA0000000000000000'];
        const client = new pg.Client({ connectionString: icu.url });
        await client.connect();
        try {
          await migratedBefore(client, schema, 18);
          for (const id of ids) {
            await client.query(
              `INSERT INTO schedules (id, tenant, type, input, cron, timezone, origin, created_at, updated_at)
              VALUES ($1, $2, 'upgraded', '{}', '* * * * *', 'UTC', 'api', $3, $3)`,
              [id, TENANT, T0],
            );
          }
          // What the releases before it answered: '~', the bound from the top, sorts before every id here.
          assert.equal((await client.query(`SELECT count(*)::int AS n FROM ${schema}.schedules WHERE id < '~'`)).rows[0].n, 0);
        } finally {
          await client.end();
        }
        const store = makeStore(schema, undefined, icu.url);
        try {
          await store.open();
          assert.deepEqual(
            (await store.scheduleList({ tenant: TENANT, limit: 10 })).map((s) => s.id),
            [...ids].reverse(),
          );
        } finally {
          await store.close();
        }
      });
    });
  }

  describe('PostgreSQL text in byte order', () => {
    it('gives every text column of the schema the "C" collation, whatever the database\'s default', async () => {
      const store = makeStore();
      try {
        await store.open();
        const { rows } = await probe.query<{ column: string; collation: string }>(
          `SELECT c.relname || '.' || a.attname AS column, co.collname AS collation
           FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_collation co ON co.oid = a.attcollation
           WHERE c.relnamespace = $1::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped AND c.relname <> 'schema_migrations'`,
          [schemas.get(store)!],
        );
        assert.ok(rows.some((r) => r.column === 'operations.id'));
        assert.deepEqual(
          rows.filter((r) => r.collation !== 'C'),
          [],
        );
      } finally {
        await store.close();
        await dropSchema(schemas.get(store)!);
      }
    });
  });

  describe('PostgreSQL readiness', () => {
    it('ping fails once the store’s schema is gone, where the database itself still answers', async () => {
      const store = makeStore();
      try {
        await store.open();
        await store.ping();
        await dropSchema(schemas.get(store)!);
        // The message names the kind of failure (a 503's detail); the database's own words are its cause (the log's).
        const namesTheTable = (error: Error & { code?: string }) => {
          assert.equal(error.code, 'store_unavailable', error.message);
          assert.match(error.message, /schema or one of its tables/);
          assert.match(String((error.cause as Error | undefined)?.message), /operations/);
          return true;
        };
        await assert.rejects(store.ping(), namesTheTable);
        // A read is refused as the store being unavailable (a 503 at the API, as /readyz says), not as an internal error.
        await assert.rejects(store.operationGetById('op_01JD0000000000000000000000'), namesTheTable);
      } finally {
        await store.close();
        await dropSchema(schemas.get(store)!);
      }
    });
  });

  describe('PostgreSQL settings a DBA gives', () => {
    it("keeps its schema and read committed whatever the URL's options= or the role's defaults say", async () => {
      // node-postgres would let the URL's options replace the config's, search_path and all.
      const config = clientConfig(`${PG_URL}?sslmode=disable&options=-c%20statement_timeout%3D30000`, 'mine');
      assert.equal(config.connectionString, `${PG_URL}?sslmode=disable`);
      assert.equal(config.options, '-c statement_timeout=30000 -c search_path=mine -c default_transaction_isolation=read\\ committed');
      const schema = uniqueSchema();
      const url = `${PG_URL}?options=${encodeURIComponent('-c search_path=public -c default_transaction_isolation=serializable')}`;
      const store = makeStore(schema, undefined, url);
      try {
        await store.open();
        assert.equal((await store.operationInsert(draft())).kind, 'created');
        const [where] = await withClient(
          async (c) =>
            (await c.query(`SELECT to_regclass('"${schema}".operations') IS NOT NULL AS ours, to_regclass('public.operations') IS NOT NULL AS public`)).rows,
        );
        assert.deepEqual(where, { ours: true, public: false }, 'the tables are in its schema, none in public');
      } finally {
        await store.close();
        await dropSchema(schema);
      }
    });

    it("is store_unavailable (a 503 to try again, not a 500) when a statement_timeout or lock_timeout the URL's options= sets runs out", async () => {
      const schema = uniqueSchema();
      const store = makeStore(schema, undefined, `${PG_URL}?options=${encodeURIComponent('-c statement_timeout=300 -c lock_timeout=200')}`);
      await store.open();
      const locker = new pg.Client({ connectionString: PG_URL });
      await locker.connect();
      try {
        const { id } = ((await store.operationInsert(draft())) as { operation: { id: string } }).operation;
        await locker.query('BEGIN');
        await locker.query(`LOCK TABLE "${schema}".operations IN ACCESS EXCLUSIVE MODE`);
        for (const call of [() => store.operationGet({ id, tenant: draft().tenant }), () => store.operationInsert(draft())]) {
          await assert.rejects(call(), (error: unknown) => {
            assert.equal((error as { code?: unknown }).code, 'store_unavailable', String(error));
            assert.match((error as Error).message, /timeout/);
            return true;
          });
        }
        await locker.query('ROLLBACK');
        assert.equal((await store.operationInsert(draft())).kind, 'created', 'its connections still usable');
      } finally {
        await locker.end();
        await store.close();
        await dropSchema(schema);
      }
    });

    it("keeps its counts right when a DBA's statement from outside names its tables (the triggers' functions have their own search path)", async () => {
      const schema = uniqueSchema();
      const store = makeStore(schema);
      try {
        await store.open();
        for (let i = 0; i < 3; i++) assert.equal((await store.operationInsert(draft({ type: 'dba' }))).kind, 'created');
        // Outside the store, with the connection's own search path (public, where no asyncops table is).
        await withClient(async (c) => {
          await c.query(`DELETE FROM "${schema}".operations WHERE type = 'dba' AND id = (SELECT min(id) FROM "${schema}".operations WHERE type = 'dba')`);
        });
        const counts = await store.operationCounts({ tenant: null });
        assert.equal(counts.find((c) => c.type === 'dba' && c.status === 'pending')?.count, 2);
      } finally {
        await store.close();
        await dropSchema(schema);
      }
    });

    it('starts on a schema already migrated with a role that may only use it (no CREATE on the database or the schema)', async () => {
      const schema = uniqueSchema();
      const role = `${schema}_app`;
      const owner = makeStore(schema);
      await owner.open();
      await owner.close();
      await withClient(async (c) => {
        await c.query(`CREATE ROLE "${role}" LOGIN`);
        await c.query(`GRANT USAGE ON SCHEMA "${schema}" TO "${role}"`);
        await c.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "${schema}" TO "${role}"`);
        await c.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "${schema}" TO "${role}"`);
        await c.query(`GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA "${schema}" TO "${role}"`);
      });
      const url = new URL(PG_URL);
      url.username = role;
      const runtime = createPostgresStore({ url: url.toString(), schema, poolSize: 2 });
      try {
        await runtime.open();
        assert.equal((await runtime.operationInsert(draft())).kind, 'created');
      } finally {
        await runtime.close();
        await dropSchema(schema);
        await withClient(async (c) => {
          await c.query(`DROP OWNED BY "${role}"`);
          await c.query(`DROP ROLE "${role}"`);
        });
      }
    });
  });

  describe('PostgreSQL store across nodes', () => {
    const open: Store[] = [];
    /** Stores on one schema, as several nodes would be. */
    const nodes = (count: number, onError?: (err: unknown) => void): Store[] => {
      const schema = uniqueSchema();
      const made = Array.from({ length: count }, () => makeStore(schema, onError));
      open.push(...made);
      return made;
    };
    after(async () => {
      await Promise.all(open.map((s) => s.close()));
      await Promise.all([...new Set(open.map((s) => schemas.get(s)!))].map(dropSchema));
    });

    it('migrates an empty schema exactly once when three nodes open at the same time', async () => {
      const stores = nodes(3);
      await Promise.all(stores.map((s) => s.open()));
      const rows = await withClient(
        async (c) => (await c.query(`SELECT version, name FROM ${pg.escapeIdentifier(schemas.get(stores[0]!)!)}.schema_migrations ORDER BY version`)).rows,
      );
      assert.deepEqual(rows, [
        { version: 1, name: '0001_init.sql' },
        { version: 2, name: '0002_running_index.sql' },
        { version: 3, name: '0003_queue_depth.sql' },
        { version: 4, name: '0004_delivery_destination.sql' },
        { version: 5, name: '0005_integer_timeout.sql' },
        { version: 6, name: '0006_eta.sql' },
        { version: 7, name: '0007_trace_context.sql' },
        { version: 8, name: '0008_fairness.sql' },
        { version: 9, name: '0009_rate_limits.sql' },
        { version: 10, name: '0010_schedules.sql' },
        { version: 11, name: '0011_history.sql' },
        { version: 12, name: '0012_bulk_actions.sql' },
        { version: 13, name: '0013_operator_indexes.sql' },
        { version: 14, name: '0014_pending_ends.sql' },
        { version: 15, name: '0015_pending_walks.sql' },
        { version: 16, name: '0016_set_based_claims.sql' },
        { version: 17, name: '0017_note_estimates.sql' },
        { version: 18, name: '0018_text_in_byte_order.sql' },
        { version: 19, name: '0019_standing_by_index.sql' },
        { version: 20, name: '0020_redriven_history.sql' },
        { version: 21, name: '0021_pending_ends_in_fair_order.sql' },
        { version: 22, name: '0022_error_code_index.sql' },
        { version: 23, name: '0023_tenant_error_code_index.sql' },
        { version: 24, name: '0024_finished_version.sql' },
        { version: 25, name: '0025_redriven_at.sql' },
        { version: 26, name: '0026_schedule_key_and_priority.sql' },
        { version: 27, name: '0027_created_key_index.sql' },
        { version: 28, name: '0028_superseded_deliveries.sql' },
        { version: 29, name: '0029_function_search_path.sql' },
        { version: 30, name: '0030_superseded_by_history.sql' },
        { version: 31, name: '0031_counts_summed_per_side.sql' },
        { version: 32, name: '0032_operation_schedule.sql' },
        { version: 33, name: '0033_operation_schedule_backfill.sql' },
      ]);
    });

    it('counts the operations already stored when migration 0013 adds the counts per tenant, type and status', async () => {
      const [store] = nodes(1);
      const schema = pg.escapeIdentifier(schemas.get(store!)!);
      // A schema as the releases before 0013 left it, with operations in every status it counts.
      await withClient(async (c) => {
        await migratedBefore(c, schema, 13);
        for (const [tenant, status, n] of [
          ['a', 'pending', 3],
          ['a', 'failed', 2],
          ['b', 'completed', 4],
        ] as const) {
          for (let i = 0; i < n; i++) {
            await c.query(
              `INSERT INTO operations (id, tenant, type, status, input, attempt, max_attempts, priority, timeout_s, run_at, created_at, updated_at)
              VALUES ($1, $2, 'upgraded', $3, '{}', 1, 3, 0, 60, $4, $4, $4)`,
              [draft().id, tenant, status, T0],
            );
          }
        }
      });
      await store!.open();
      assert.deepEqual(await store!.operationCounts({ tenant: 'a' }), [
        { type: 'upgraded', status: 'failed', count: 2 },
        { type: 'upgraded', status: 'pending', count: 3 },
      ]);
      assert.deepEqual(await store!.operationCounts(), [
        { type: 'upgraded', status: 'completed', count: 4 },
        { type: 'upgraded', status: 'failed', count: 2 },
        { type: 'upgraded', status: 'pending', count: 3 },
      ]);
    });

    it('counts the pending operations already stored when migration 0003 adds the pending counts', async () => {
      const [store] = nodes(1);
      const schema = pg.escapeIdentifier(schemas.get(store!)!);
      const queued = Array.from({ length: 200 }, (_, i) => draft({ type: 'upgraded', runAt: T0 + i }));
      // A schema as the releases before 0003 left it, with a queue in it.
      await withClient(async (c) => {
        await migratedBefore(c, schema, 3);
        for (const d of queued) {
          await c.query(
            `INSERT INTO operations (id, tenant, type, status, input, attempt, max_attempts, priority, timeout_s, run_at, created_at, updated_at)
            VALUES ($1, $2, $3, 'pending', '{}', 1, 3, 0, 60, $4, $5, $5)`,
            [d.id, d.tenant, d.type, d.runAt, T0],
          );
        }
      });
      await store!.open();
      const standing = await store!.operationQueueStanding({ operation: { ...queued[199]!, status: 'pending' }, now: T0 + 1_000, scope: ownTypeScope() });
      assert.equal(standing?.position, 199, 'the tail of the queue, read through the pending count');
    });

    it('gives the deliveries still to be sent a destination when migration 0004 adds it', async () => {
      const [store] = nodes(1);
      const schema = pg.escapeIdentifier(schemas.get(store!)!);
      const op = draft();
      // A schema as the releases before 0004 left it, with deliveries still to be sent.
      await withClient(async (c) => {
        await migratedBefore(c, schema, 4);
        await c.query(
          `INSERT INTO operations (id, tenant, type, status, input, attempt, max_attempts, priority, timeout_s, run_at, created_at, updated_at)
          VALUES ($1, $2, $3, 'pending', '{}', 1, 3, 0, 60, $4, $4, $4)`,
          [op.id, op.tenant, op.type, T0],
        );
        for (const [id, url, state, at] of [
          ['dlv_1', 'HTTPS://Hung.TEST/a/b?c=1', 'pending', T0],
          ['dlv_2', 'https://hung.test/other', 'retrying', T0 + 1],
          ['dlv_3', 'http://other.test:8080', 'pending', T0 + 2],
        ] as const) {
          await c.query(
            `INSERT INTO deliveries (id, message_id, operation_id, tenant, url, event_type, payload, state, next_attempt_at, created_at, updated_at)
            VALUES ($1, $1, $2, $3, $4, 'operation.completed', '{}', $5, $6, $6, $6)`,
            [id, op.id, op.tenant, url, state, at],
          );
        }
      });
      await store!.open();
      const claimed = await store!.deliveryClaimDue({ now: T0 + 10, workerId: 'd1', leaseMs: LEASE_MS, limit: 10, exceptDestinations: ['https://hung.test'] });
      assert.deepEqual(
        claimed.map((d) => [d.id, d.destination]),
        [['dlv_3', 'http://other.test:8080']],
      );
    });

    it('prunes a backlog larger than a batch, batch by batch, each its own transaction, and stops between two when told', async () => {
      const [store] = nodes(1);
      await store!.open();
      const schema = pg.escapeIdentifier(schemas.get(store!)!);
      const total = 2 * PRUNE_BATCH + 7;
      await withClient(async (c) => {
        await c.query(`SET search_path TO ${schema}`);
        // Due (finished at 10) and kept (at 100) in turn by id: a batch goes on past the kept ones the one before passed.
        await c.query(
          `INSERT INTO operations (id, tenant, type, status, input, attempt, max_attempts, priority, timeout_s, run_at, created_at, updated_at, finished_at)
          SELECT 'op_pruned_' || lpad(g::text, 6, '0'), 'default', CASE WHEN g % 2 = 0 THEN 'pruned' ELSE 'kept' END, 'completed', '{}', 1, 1, 0, 60, 0, 0, 0,
            CASE WHEN g % 2 = 0 THEN 10 ELSE 100 END FROM generate_series(1, $1::int * 2) g`,
          [total],
        );
        await c.query(
          `INSERT INTO results (operation_id, content_type, body) SELECT id, 'application/json', '\\x7b7d' FROM operations WHERE type IN ('pruned', 'kept')`,
        );
      });
      const events: StoreEvent[] = [];
      // A stop once the first batch has committed (its changes announced) ends the pruning before the next batch.
      const stopping = new AbortController();
      const unsubscribe = store!.subscribe((event) => {
        events.push(event);
        stopping.abort();
      });
      const params = { resultsFinishedBefore: 11, operationsFinishedBefore: 11, now: T0 };
      assert.deepEqual(await store!.prune({ ...params, signal: stopping.signal }), { results: PRUNE_BATCH, operations: 0, idempotencyKeys: 0 });
      // The next pruning goes on with what is left.
      const rest = await store!.prune(params);
      unsubscribe();
      assert.deepEqual(rest, { results: total - PRUNE_BATCH, operations: total, idempotencyKeys: 0 });
      assert.deepEqual(
        (await store!.operationCounts()).filter((c) => c.type === 'pruned'),
        [],
      );
      assert.deepEqual(
        (await store!.operationCounts()).filter((c) => c.type === 'kept'),
        [{ type: 'kept', status: 'completed', count: total }],
      );
      const keptResults = await withClient(async (c) => (await c.query(`SELECT count(*)::int AS n FROM ${schema}.results`)).rows[0].n);
      assert.equal(keptResults, total, 'the kept operations keep their results');
      assert.equal(events.filter((e) => e.kind === 'operation:changed').length, total, 'each result marked expired is announced');
    });

    it('counts a statement that moves many operations in time linear in them, after small ones on its connection (0031)', async () => {
      const [store] = nodes(1);
      await store!.open();
      const schema = pg.escapeIdentifier(schemas.get(store!)!);
      await withClient(async (c) => {
        await c.query(`SET search_path TO ${schema}`);
        await c.query(`INSERT INTO operations (id, tenant, type, status, input, attempt, max_attempts, priority, timeout_s, run_at, created_at, updated_at)
          SELECT 'op_moved_' || lpad(g::text, 6, '0'), 'default', 'moved', 'completed', '{}', 1, 1, 0, 60, 0, 0, 0 FROM generate_series(1, 20000) g`);
        // A connection's first calls of the trigger (a claim's, a heartbeat's: one row each) set the plan it keeps.
        for (let i = 1; i <= 7; i++) await c.query(`UPDATE operations SET updated_at = 1 WHERE id = $1`, [`op_moved_${String(i).padStart(6, '0')}`]);
        const started = performance.now();
        await c.query(`UPDATE operations SET status = 'failed' WHERE type = 'moved'`);
        const tookMs = performance.now() - started;
        // Joined on that plan, each old row was compared with every new one: 19 s for these 20,000 on a quiet machine,
        // against 0.2 s summed per side. The bound tells the two apart on a loaded one.
        assert.ok(tookMs < 10_000, `${Math.round(tookMs)} ms to move 20,000 operations`);
      });
      assert.deepEqual(
        (await store!.operationCounts()).filter((c) => c.type === 'moved'),
        [{ type: 'moved', status: 'failed', count: 20000 }],
      );
    });

    it("marks the deliveries a retry went past when the retry came before redriven_at was kept (0030, from the history's redriven rows)", async () => {
      const [store] = nodes(1);
      const schema = pg.escapeIdentifier(schemas.get(store!)!);
      const op = draft({ webhookUrl: 'https://example.test/hook' });
      // A schema as the releases before 0025 left it: an operation failed, was retried at T0 + 20 and failed again.
      await withClient(async (c) => {
        await migratedBefore(c, schema, 25);
        await c.query(
          `INSERT INTO operations (id, tenant, type, status, input, attempt, max_attempts, priority, timeout_s, run_at, created_at, updated_at)
          VALUES ($1, $2, $3, 'failed', '{}', 1, 1, 0, 60, $4, $4, $4)`,
          [op.id, op.tenant, op.type, T0],
        );
        await c.query(`INSERT INTO operation_history (operation_id, at, kind, data) VALUES ($1, $2, 'redriven', '{}')`, [op.id, T0 + 20]);
        for (const [id, state, at] of [
          ['dlv_before_dead', 'dead', T0 + 10],
          ['dlv_before_waiting', 'retrying', T0 + 11],
          ['dlv_before_delivered', 'delivered', T0 + 12],
          ['dlv_after', 'dead', T0 + 30],
        ] as const) {
          await c.query(
            `INSERT INTO deliveries (id, message_id, operation_id, tenant, url, event_type, payload, state, next_attempt_at, created_at, updated_at)
            VALUES ($1, $1, $2, $3, 'https://example.test/hook', 'operation.failed', '{}', $4, $5, $6, $6)`,
            [id, op.id, op.tenant, state, state === 'retrying' ? at : null, at],
          );
        }
      });
      await store!.open();
      const superseded = await withClient(async (c) => {
        const { rows } = await c.query(`SELECT id, superseded FROM ${schema}.deliveries ORDER BY id`);
        return Object.fromEntries(rows.map((r) => [r.id, r.superseded]));
      });
      assert.deepEqual(superseded, { dlv_after: false, dlv_before_dead: true, dlv_before_delivered: false, dlv_before_waiting: true });
      assert.equal((await store!.operationGetById(op.id))?.redrivenAt, T0 + 20, 'its last retry, from the history');
      assert.equal((await store!.deliveryRetry({ id: 'dlv_before_dead', tenant: op.tenant, now: T0 + 40 })).kind, 'superseded', 'not replayed');
      assert.notEqual((await store!.deliveryRetry({ id: 'dlv_after', tenant: op.tenant, now: T0 + 40 })).kind, 'superseded');
    });

    it('attributes to their schedule the operations its kept ticks made before 0032 added schedule_id (0033)', async () => {
      const [first, second] = nodes(2);
      const schema = pg.escapeIdentifier(schemas.get(first!)!);
      await first!.open();
      const submitted = draft();
      const ticked = await scheduleWithTick(first!, submitted.tenant);
      await first!.operationInsert(submitted);
      // As a release before 0032 left it: the tick's operation without its schedule's id.
      await withClient((c) => c.query(`UPDATE ${schema}.operations SET schedule_id = NULL; DELETE FROM ${schema}.schema_migrations WHERE version = 33`));
      await second!.open();
      assert.equal((await second!.operationGetById(ticked.operationId))?.scheduleId, ticked.scheduleId);
      assert.equal((await second!.operationGetById(submitted.id))?.scheduleId ?? null, null, 'a submitted one stays without');
    });

    it('rounds a fractional timeout up when migration 0005 makes timeout_s whole seconds', async () => {
      const [store] = nodes(1);
      const schema = pg.escapeIdentifier(schemas.get(store!)!);
      const op = draft();
      // A schema as the releases before 0005 left it, with an operation given 1.5 s.
      await withClient(async (c) => {
        await migratedBefore(c, schema, 5);
        await c.query(
          `INSERT INTO operations (id, tenant, type, status, input, attempt, max_attempts, priority, timeout_s, run_at, created_at, updated_at)
          VALUES ($1, $2, $3, 'pending', '{}', 1, 3, 0, 1.5, $4, $4, $4)`,
          [op.id, op.tenant, op.type, T0],
        );
      });
      await store!.open();
      assert.equal((await store!.operationGetById(op.id))?.timeoutS, 2, 'never less time than it was given');
    });

    it('a statement one of a group cannot store fails alone: the others of the group are stored', async () => {
      const [store] = nodes(1);
      await store!.open();
      const drafts = [draft({ type: 'grouped' }), draft({ type: 'grouped' })];
      for (const d of drafts) await store!.operationInsert(d);
      const claimed = await store!.operationClaimDue({ now: T0, workerId: 'w', leaseMs: 60_000, types: [{ type: 'grouped', limit: 2 }], limit: 2 });
      assert.equal(claimed.length, 2);
      // Asked in one turn, so they go as one group; a bigint column cannot hold a fraction.
      const [bad, good] = await Promise.allSettled(
        claimed.map((op, i) =>
          store!.operationFinish({
            id: op.id,
            leaseToken: op.leaseToken!,
            now: i === 0 ? T0 + 5.5 : T0 + 5,
            status: 'failed',
            error: { code: 'x', message: 'fine' },
            delivery: () => null,
          }),
        ),
      );
      assert.equal(bad!.status, 'rejected');
      assert.equal(good?.status === 'fulfilled' ? good.value?.status : 'rejected', 'failed');
      assert.equal((await store!.operationGetById(claimed[0]!.id))?.status, 'processing', 'the bad one is left to its lease');
    });

    it('records a webhook attempt while its operation is deleted without a deadlock: the delete is refused at once', async () => {
      const [store] = nodes(1);
      await store!.open();
      const deliveries = `${pg.escapeIdentifier(schemas.get(store!)!)}.deliveries`;
      const { op } = await insertInState(store!, 'completed', { webhookUrl: 'https://example.test/hook' }, webhookFactory(T0));
      const [delivery] = await store!.deliveryClaimDue({ now: T0, workerId: 'd1', leaseMs: LEASE_MS, limit: 1 });
      assert.ok(delivery);
      await withClient(async (holder) => {
        // A third session holds the delivery row, so the attempt and the DELETE queue behind it in the order sent: the
        // receiver answered and, in its handler, deleted the operation while the attempt was being recorded.
        await holder.query('BEGIN');
        await holder.query(`SELECT 1 FROM ${deliveries} WHERE id = $1 FOR UPDATE`, [delivery.id]);
        const holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
        const waitingBehindHolder = async (count: number) => {
          const { rows } = await holder.query<{ n: number }>(
            `
            WITH RECURSIVE waiting(pid) AS (
              SELECT pid FROM pg_stat_activity WHERE $1::int = ANY(pg_blocking_pids(pid))
              UNION SELECT a.pid FROM pg_stat_activity a, waiting w WHERE w.pid = ANY(pg_blocking_pids(a.pid))
            ) SELECT count(*)::int AS n FROM waiting`,
            [holderPid],
          );
          return rows[0]!.n >= count;
        };
        const recording = store!.deliveryRecordAttempt({
          id: delivery.id,
          leaseToken: delivery.leaseToken!,
          outcome: 'delivered',
          nextAttemptAt: null,
          now: T0 + 50,
          attempt: { trigger: 'scheduled', startedAt: T0, durationMs: 50, statusCode: 200, error: null, responseSnippet: 'ok' },
        });
        await waitFor(() => waitingBehindHolder(1), { timeoutMs: 5_000, what: 'the attempt waits for the delivery row' });
        // The webhook is still being delivered, so the DELETE refuses without waiting for any lock.
        assert.equal(await store!.operationDelete({ id: op.id, tenant: TENANT }), 'delivery_pending');
        await holder.query('COMMIT');
        const recorded = await recording;
        assert.equal(recorded?.state, 'delivered');
      });
      assert.equal(await store!.operationDelete({ id: op.id, tenant: TENANT }), 'deleted');
      assert.equal(await store!.operationGetById(op.id), null);
    });

    it('a delete or a pruning that waited for a replay of the webhook leaves the operation: the webhook is due again', async () => {
      const [store] = nodes(1);
      await store!.open();
      const schema = pg.escapeIdentifier(schemas.get(store!)!);
      for (const remove of [
        async (id: string) => assert.equal(await store!.operationDelete({ id, tenant: TENANT }), 'delivery_pending'),
        async () => {
          const pruned = await store!.prune({ resultsFinishedBefore: 0, operationsFinishedBefore: T0 + 3_600_000, now: T0 + 3_600_000 });
          assert.equal(pruned.operations, 0);
        },
      ]) {
        const { op } = await insertInState(store!, 'completed', { webhookUrl: 'https://example.test/hook' }, webhookFactory(T0));
        await withClient(async (holder) => {
          const [delivery] = (
            await holder.query<{ id: string }>(`UPDATE ${schema}.deliveries SET state = 'dead' WHERE operation_id = $1 RETURNING id`, [op.id])
          ).rows;
          // A replay as the store makes one (deliveries.ts, REPLAY_DELIVERY), held open: it locks the operation, makes the
          // webhook due again and changes the operation's version.
          await holder.query('BEGIN');
          await holder.query(`SELECT 1 FROM ${schema}.operations WHERE id = $1 FOR NO KEY UPDATE`, [op.id]);
          await holder.query(`UPDATE ${schema}.deliveries SET state = 'pending' WHERE id = $1`, [delivery!.id]);
          await holder.query(`UPDATE ${schema}.operations SET version = version + 1 WHERE id = $1`, [op.id]);
          const holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
          const removing = remove(op.id);
          await waitFor(
            async () => (await holder.query(`SELECT 1 FROM pg_stat_activity WHERE $1::int = ANY(pg_blocking_pids(pid))`, [holderPid])).rows.length > 0,
            { timeoutMs: 5_000, what: 'the removal waits for the replay' },
          );
          await holder.query('COMMIT');
          await removing;
        });
        assert.equal((await store!.operationGetById(op.id))?.id, op.id, 'still there, its webhook due');
      }
    });

    it("retention's marking of an expired result takes the operation's row before its result's, as a delete does: the two never deadlock", async () => {
      const [store] = nodes(1);
      await store!.open();
      const schema = pg.escapeIdentifier(schemas.get(store!)!);
      const { op } = await insertInState(store!, 'completed');
      await withClient(async (holder) => {
        // A delete as PostgreSQL runs one: the operation's row first, then (the cascade) its result's.
        await holder.query('BEGIN');
        await holder.query(`SELECT 1 FROM ${schema}.operations WHERE id = $1 FOR UPDATE`, [op.id]);
        const holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
        const pruning = store!.prune({ resultsFinishedBefore: T0 + 3_600_000, operationsFinishedBefore: 0, now: T0 + 3_600_000 });
        await waitFor(
          async () => (await holder.query(`SELECT 1 FROM pg_stat_activity WHERE $1::int = ANY(pg_blocking_pids(pid))`, [holderPid])).rows.length > 0,
          { timeoutMs: 5_000, what: 'the pruning waits for the operation' },
        );
        // Had the pruning taken the result first, this would wait for it while it waits for the operation: a deadlock.
        await holder.query(`DELETE FROM ${schema}.results WHERE operation_id = $1`, [op.id]);
        await holder.query(`DELETE FROM ${schema}.operations WHERE id = $1`, [op.id]);
        await holder.query('COMMIT');
        assert.equal((await pruning).results, 0, 'the operation went with the delete');
      });
      assert.equal(await store!.operationGetById(op.id), null);
    });

    it('keeps working when another node adds a column under its prepared statements', async () => {
      const [store] = nodes(1);
      await store!.open();
      const before = draft();
      await store!.operationInsert(before);
      assert.equal((await store!.operationGetById(before.id))?.id, before.id, 'prepared on its connections');
      await withClient((c) => c.query(`ALTER TABLE ${pg.escapeIdentifier(schemas.get(store!)!)}.operations ADD COLUMN added_later text`));
      for (let i = 0; i < 6; i++) assert.equal((await store!.operationGetById(before.id))?.id, before.id, 'read after the change');
      const after = draft();
      assert.equal((await store!.operationInsert(after)).kind, 'created');
      assert.equal((await store!.operationList({ tenant: before.tenant, limit: 10 })).length, 2);
    });

    it('delivers a change on one node to subscribers on another, and to its own subscribers once', async () => {
      const [a, b, c] = nodes(3);
      await Promise.all([a!.open(), b!.open(), c!.open()]);
      const seenByA: StoreEvent[] = [];
      const seenByB: StoreEvent[] = [];
      a!.subscribe((e) => seenByA.push(e));
      b!.subscribe((e) => seenByB.push(e));
      const d = draft();
      await b!.operationInsert(d);
      await waitFor(() => seenByA.some((e) => e.kind === 'operation:changed' && e.id === d.id), { what: 'A hears of B insert' });
      assert.ok(seenByA.some((e) => e.kind === 'operation:due' && e.type === d.type));
      // B's LISTEN connection hears notifications in commit order: once it has C's, it has passed its own.
      const later = draft();
      await c!.operationInsert(later);
      await waitFor(() => seenByB.some((e) => e.kind === 'operation:changed' && e.id === later.id), { what: 'B hears of C insert' });
      assert.equal(seenByB.filter((e) => e.kind === 'operation:changed' && e.id === d.id).length, 1);
    });

    it('announces a group of creates to the other nodes in the round trip of its insert, and never a group that failed', async () => {
      const [other] = nodes(1);
      await other!.open();
      const heard: StoreEvent[] = [];
      other!.subscribe((e) => heard.push(e));
      const feed = new ChangeFeed();
      const heardHere: StoreEvent[] = [];
      feed.subscribe((e) => heardHere.push(e));
      // One connection: each group's statements have run by the time the next group's go.
      const db = new PostgresDatabase({ url: PG_URL, schema: schemas.get(other!)!, poolSize: 1, feed, sourceId: 'creating-node', onError: () => {} });
      let ownNotifyTransactions = 0;
      const query = db.pool.query.bind(db.pool) as (...args: unknown[]) => Promise<unknown>;
      (db.pool as unknown as { query: (...args: unknown[]) => Promise<unknown> }).query = (...args) => {
        if (typeof args[0] === 'string' && args[0].includes('pg_notify')) ownNotifyTransactions += 1;
        return query(...args);
      };
      const changesOf = (events: StoreEvent[], id: string) => events.filter((e) => e.kind === 'operation:changed' && e.id === id).length;
      try {
        const created = draft({ type: 'announced' });
        await insertOperations(db, [{ draft: created, options: {} }]);
        await waitFor(() => changesOf(heard, created.id) > 0, { what: 'the other node hears of the create' });
        assert.ok(heard.some((e) => e.kind === 'operation:due' && e.type === 'announced'));
        assert.equal(changesOf(heardHere, created.id), 1, 'heard here once');
        // A NUL in a text column: the whole group fails, and nothing of it is announced.
        const refused = draft({ type: 'announced', concurrencyKey: 'a\u0000b' });
        await assert.rejects(insertOperations(db, [{ draft: refused, options: {} }]));
        const after = draft({ type: 'announced' });
        await insertOperations(db, [{ draft: after, options: {} }]);
        // Notifications arrive in commit order: once the later group's is here, the failed one's would have been.
        await waitFor(() => changesOf(heard, after.id) > 0, { what: 'the other node hears of the later create' });
        assert.equal(changesOf(heard, refused.id), 0);
        assert.equal(changesOf(heardHere, refused.id), 0);
        assert.equal(ownNotifyTransactions, 0);
      } finally {
        await db.end();
      }
    });

    it('never hands one operation to two nodes claiming at the same time', async () => {
      const [a, b] = nodes(2);
      await Promise.all([a!.open(), b!.open()]);
      const drafts = Array.from({ length: 120 }, (_, i) => draft({ type: i % 2 === 0 ? 'even' : 'odd', priority: i % 3 }));
      for (const d of drafts) await a!.operationInsert(d);
      const claimAll = async (store: Store, workerId: string) => {
        const ids: string[] = [];
        for (;;) {
          const batch = await store.operationClaimDue({
            now: drafts[0]!.runAt,
            workerId,
            leaseMs: 30_000,
            types: [
              { type: 'even', limit: 5 },
              { type: 'odd', limit: 3 },
            ],
            limit: 7,
          });
          if (batch.length === 0) return ids;
          ids.push(...batch.map((op) => op.id));
        }
      };
      const [byA, byB] = await Promise.all([claimAll(a!, 'a'), claimAll(b!, 'b')]);
      const all = [...byA, ...byB];
      assert.equal(new Set(all).size, all.length, 'an operation was claimed twice');
      assert.deepEqual([...all].sort(), drafts.map((d) => d.id).sort());
    });

    it('keeps the counts exact while two nodes change operations and fold the counters at once, and folds them to one row per count', async () => {
      const [a, b] = nodes(2);
      await Promise.all([a!.open(), b!.open()]);
      const counted = async () =>
        withClient(async (c) => (await c.query(`SELECT count(*)::int AS n FROM ${pg.escapeIdentifier(schemas.get(a!)!)}.operation_counts`)).rows[0].n);
      // Each node inserts and claims one at a time (a statement each: many appended rows), and reads the counts (which fold).
      await Promise.all(
        [a!, b!].map(async (store, node) => {
          for (let i = 0; i < 150; i++) {
            await store.operationInsert(draft({ tenant: `t${i % 3}`, type: `fold${node}` }));
            if (i % 2 === 0)
              await store.operationClaimDue({ now: T0, workerId: `w${node}`, leaseMs: 30_000, types: [{ type: `fold${node}`, limit: 1 }], limit: 1 });
            if (i % 50 === 49) await store.operationCounts();
          }
        }),
      );
      const expected = [
        { type: 'fold0', status: 'pending', count: 75 },
        { type: 'fold0', status: 'processing', count: 75 },
        { type: 'fold1', status: 'pending', count: 75 },
        { type: 'fold1', status: 'processing', count: 75 },
      ];
      assert.deepEqual(await a!.operationCounts(), expected);
      assert.deepEqual(await b!.operationCounts({ tenant: null }), expected);
      await a!.prune({ resultsFinishedBefore: 0, operationsFinishedBefore: 0, now: T0 });
      assert.ok((await counted()) <= 12, 'one row per tenant, type and status after a fold');
      assert.deepEqual(await b!.operationCounts(), expected);
    });

    it('never hands one delivery to two nodes claiming at the same time, each passing over destinations of its own', async () => {
      const [a, b] = nodes(2);
      await Promise.all([a!.open(), b!.open()]);
      const hosts = ['a.test', 'b.test', 'c.test'];
      const made: Array<{ id: string; destination: string }> = [];
      for (let i = 0; i < 60; i++) {
        const { op } = await insertInState(a!, 'completed', { webhookUrl: `https://${hosts[i % 3]}/hook`, tenant: TENANT }, webhookFactory(T0 + i));
        const [entry] = await a!.deliveryListForOperation({ operationId: op.id, tenant: TENANT });
        made.push(entry!.delivery);
      }
      const claimAll = async (store: Store, workerId: string, passOver: string) => {
        const claimed: Array<{ id: string; destination: string }> = [];
        for (;;) {
          const batch = await store.deliveryClaimDue({ now: T0 + 100, workerId, leaseMs: LEASE_MS, limit: 4, exceptDestinations: [passOver] });
          if (batch.length === 0) return claimed;
          claimed.push(...batch);
        }
      };
      const [byA, byB] = await Promise.all([claimAll(a!, 'a', 'https://a.test'), claimAll(b!, 'b', 'https://b.test')]);
      const all = [...byA, ...byB].map((d) => d.id);
      assert.equal(new Set(all).size, all.length, 'a delivery was claimed twice');
      assert.deepEqual([...all].sort(), made.map((d) => d.id).sort());
      assert.ok(!byA.some((d) => d.destination === 'https://a.test') && !byB.some((d) => d.destination === 'https://b.test'));
    });

    it('reconnects and LISTENs again after its LISTEN connection is terminated', async () => {
      const errors: unknown[] = [];
      const [a, b] = nodes(2, (err) => errors.push(err));
      await Promise.all([a!.open(), b!.open()]);
      const seen = new Set<string>();
      let resumed = 0;
      a!.subscribe((e) => {
        if (e.kind === 'operation:changed') seen.add(e.id);
        if (e.kind === 'feed:resumed') resumed += 1;
      });
      const channel = channelOf(schemas.get(a!)!);
      const terminated = await withClient(
        async (c) => (await c.query('SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE query = $1', [`LISTEN "${channel}"`])).rows.length,
      );
      assert.equal(terminated, 2);
      // Notifications sent while A is away are lost by design; keep writing until one gets through.
      await waitFor(
        async () => {
          const d = draft();
          await b!.operationInsert(d);
          return waitFor(() => seen.has(d.id), { timeoutMs: 300 }).then(
            () => true,
            () => false,
          );
        },
        { timeoutMs: 15_000, intervalMs: 0, what: 'A hears of B again' },
      );
      assert.ok(errors.length > 0, 'the lost connection is reported through onError');
      assert.ok(resumed >= 1, 'its subscribers hear that events may have been missed (feed:resumed)');
    });
  });

  describe('PostgreSQL pruning of idle keys beside claims', () => {
    it('passes over a key row a claim holds instead of waiting for it (claims lock keys in order; this could not)', async () => {
      const schema = uniqueSchema();
      const store = makeStore(schema);
      try {
        await store.open();
        await withClient(async (claimLike) => {
          await claimLike.query(`SET search_path TO ${schema}`);
          await claimLike.query(`INSERT INTO fair_keys (type, tenant, concurrency_key, pass) VALUES ('t', 'a', 'held', 1), ('t', 'a', 'free', 1)`);
          await claimLike.query('BEGIN');
          await claimLike.query(`SELECT 1 FROM fair_keys WHERE concurrency_key = 'held' FOR UPDATE`);
          const pruning = store.prune({ resultsFinishedBefore: T0, operationsFinishedBefore: T0, now: T0 });
          const waited = await Promise.race([pruning.then(() => false), new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 5_000))]);
          assert.equal(waited, false, 'the prune did not wait for the row a claim holds');
          const { rows } = await claimLike.query('SELECT concurrency_key FROM fair_keys ORDER BY concurrency_key');
          assert.deepEqual(rows, [{ concurrency_key: 'held' }]);
          await claimLike.query('COMMIT');
        });
        await store.prune({ resultsFinishedBefore: T0, operationsFinishedBefore: T0, now: T0 });
        await withClient(async (c) => assert.equal((await c.query(`SELECT count(*)::int AS n FROM ${schema}.fair_keys`)).rows[0].n, 0));
      } finally {
        await store.close();
        await dropSchema(schema);
      }
    });
  });

  describe('PostgreSQL installations in schemas of one database', () => {
    it("a concurrency key's lock held in another schema (a claim of another installation) does not hold off this one's claim of that key", async () => {
      const [mine, theirs] = [uniqueSchema(), uniqueSchema()];
      const store = makeStore(mine);
      const other = makeStore(theirs);
      try {
        await Promise.all([store.open(), other.open()]);
        const keyed = (await insertInState(store, 'pending', { type: 'keyed', concurrencyKey: 'k1' })).op;
        await withClient(async (claimLike) => {
          // As the other installation's claim of its own operation of that type, tenant and key holds it.
          await claimLike.query(`SET search_path TO ${pg.escapeIdentifier(theirs)}`);
          await claimLike.query('BEGIN');
          await claimLike.query(`SELECT pg_advisory_xact_lock(${keyLock('$1', '$2', '$3')})`, ['keyed', keyed.tenant, 'k1']);
          const claimed = await store.operationClaimDue({
            now: T0 + 1_000,
            workerId: 'w1',
            leaseMs: LEASE_MS,
            types: [{ type: 'keyed', limit: 1, keyLimit: 1 }],
            limit: 1,
          });
          await claimLike.query('COMMIT');
          assert.deepEqual(
            claimed.map((op) => op.id),
            [keyed.id],
          );
        });
      } finally {
        await Promise.all([store.close(), other.close()]);
        await Promise.all([dropSchema(mine), dropSchema(theirs)]);
      }
    });
  });

  describe('PostgreSQL claims that fail part-way', () => {
    it("hands the worker what the claim's first statement committed when a later one fails, and reports the failure", async () => {
      const schema = uniqueSchema();
      const reported: unknown[] = [];
      const store = makeStore(schema, (err) => reported.push(err));
      try {
        await store.open();
        const plain = (await insertInState(store, 'pending', { type: 'plain' })).op;
        // A keyed operation makes its type one whose turns go round: claimed by statements after the first.
        const keyed = (await insertInState(store, 'pending', { type: 'keyed', concurrencyKey: 'k1' })).op;
        // The turns' statements write fair_keys: the first such write fails, once.
        await withClient(async (c) => {
          await c.query(`SET search_path TO ${pg.escapeIdentifier(schema)}`);
          await c.query('CREATE SEQUENCE boom');
          await c.query(`CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF nextval('boom') = 1 THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$`);
          await c.query('CREATE TRIGGER boom BEFORE INSERT OR UPDATE ON fair_keys FOR EACH ROW EXECUTE FUNCTION boom()');
        });
        const claim = () =>
          store.operationClaimDue({
            now: T0 + 1_000,
            workerId: 'w1',
            leaseMs: LEASE_MS,
            types: [
              { type: 'plain', limit: 1 },
              { type: 'keyed', limit: 1, keyLimit: 1 },
            ],
            limit: 2,
          });
        // Before, the claim rejected: the plain operation stayed processing with nobody to run it or renew its lease.
        const first = await claim();
        assert.deepEqual(
          first.map((op) => op.id),
          [plain.id],
        );
        assert.match(String(reported.at(-1)), /injected failure/);
        assert.equal((await store.operationGetById(keyed.id))?.status, 'pending', 'the failed turn claimed nothing');
        const next = await claim();
        assert.deepEqual(
          next.map((op) => op.id),
          [keyed.id],
          'the turn is taken at the next claim',
        );
      } finally {
        await store.close();
        await dropSchema(schema);
      }
    });
  });

  describe('PostgreSQL bulk cancel beside claims', () => {
    it('takes its pending counts after every row of its batch, so a claim holding a row and then a count never deadlocks with it', async () => {
      const schema = uniqueSchema();
      const store = makeStore(schema);
      const claimLike = new pg.Client({ connectionString: PG_URL });
      try {
        await store.open();
        const ids: string[] = [];
        for (let i = 0; i < 3; i++) ids.push((await insertInState(store, 'pending', { type: 'flood' })).op.id);
        ids.sort();
        const request = checkBulkRequest('cancel', { type: 'flood' }, { tenant: TENANT, admin: false });
        const action = await store.bulkActionCreate({
          id: nextId(ID_PREFIXES.bulkAction),
          action: 'cancel',
          filter: { type: 'flood' },
          tenant: request.tenant,
          selection: request.selection,
          priority: null,
          createdBy: 'key:0',
          now: T0 + 1_000,
        });
        const claimed = await store.bulkActionClaim({ now: T0 + 1_000, leaseMs: LEASE_MS });
        assert.equal(claimed?.id, action.id);
        // A claim in the middle of the batch: it holds the second operation's row, as a claim's FOR UPDATE does.
        await claimLike.connect();
        await claimLike.query(`SET search_path TO ${pg.escapeIdentifier(schema)}`);
        await claimLike.query("SET statement_timeout = '10s'");
        const claimPid = (await claimLike.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
        await claimLike.query('BEGIN');
        await claimLike.query('SELECT id FROM operations WHERE id = $1 FOR UPDATE', [ids[1]]);
        const step = store.bulkActionStep({
          id: action.id,
          leaseToken: claimed!.leaseToken!,
          now: T0 + 1_000,
          leaseMs: LEASE_MS,
          batchSize: 10,
          delivery: noDelivery,
        });
        step.catch(() => {});
        await waitFor(
          () =>
            withClient(async (c) => {
              const waiting = await c.query('SELECT 1 FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))', [claimPid]);
              return (waiting.rowCount ?? 0) > 0;
            }),
          { timeoutMs: 10_000, what: 'the bulk step waiting for the claimed row' },
        );
        // The claim then writes its pending count: any of the type's shards. Before, the step already held the shard it
        // wrote for the first operation, and one of the two was killed as a deadlock.
        await claimLike.query(
          "INSERT INTO queue_depth (type, shard, pending) SELECT 'flood', s, 0 FROM generate_series(0, 31) s ON CONFLICT (type, shard) DO UPDATE SET pending = queue_depth.pending",
        );
        await claimLike.query('COMMIT');
        const stepped = await step;
        assert.equal(stepped?.processed, 3);
        assert.equal(stepped?.succeeded, 3);
        for (const id of ids) assert.equal((await store.operationGetById(id))?.status, 'cancelled');
      } finally {
        await claimLike.end().catch(() => {});
        await store.close();
        await dropSchema(schema);
      }
    });
  });

  describe('PostgreSQL ETA notes', () => {
    it('note an ETA on the created event by key probes, with a plan made on a history of a few rows', async () => {
      const schema = uniqueSchema();
      const store = makeStore(schema);
      try {
        await store.open();
        const first = draft();
        const noted = draft();
        await store.operationInsert(first);
        await withClient(async (c) => {
          await c.query(`SET search_path TO ${schema}`);
          // The connection's plans are made now, on a history of one row: PostgreSQL plans a statement for its first five
          // calls, then settles on the plan it keeps.
          for (let call = 0; call < 6; call++) await c.query('SELECT note_estimates($1, $2)', [[first.id], [T0 + 1]]);
          await Promise.all(Array.from({ length: 2_000 }, () => store.operationInsert(draft())));
          await store.operationInsert(noted);
          await c.query('BEGIN');
          await c.query('SELECT note_estimates($1, $2)', [
            [noted.id, 'op_missing'],
            [T0 + 2, T0 + 3],
          ]);
          await assertReadByIndex(c, schema, 'operation_history', 20);
          await c.query('COMMIT');
        });
        const history = async (id: string) => (await store.historyList({ operationId: id, tenant: TENANT, limit: 1 }))?.[0]?.data;
        assert.equal((await history(first.id))?.['estimated_completion_at'], T0 + 1);
        assert.equal((await history(noted.id))?.['estimated_completion_at'], T0 + 2);
      } finally {
        await store.close();
        await dropSchema(schema);
      }
    });
  });

  describe('PostgreSQL reads at the ends of a queue', () => {
    it("find a type's least and greatest tenant pending, the types whose turns go round, walk its tenants and a tenant's keys, by index probes on a table never analysed", async () => {
      const schema = uniqueSchema();
      const store = makeStore(schema);
      try {
        await store.open();
        // A queue long enough that walking it shows, on a table whose statistics say nothing (autovacuum off here).
        await Promise.all(Array.from({ length: 2_000 }, () => store.operationInsert(draft({ type: 'walk', tenant: 'm' }))));
        await store.operationInsert(draft({ type: 'walk', tenant: 'b' }));
        await store.operationInsert(draft({ type: 'walk', tenant: 't', concurrencyKey: 'k2' }));
        await store.operationInsert(draft({ type: 'walk', tenant: 't', concurrencyKey: 'k1' }));
        await store.operationInsert(draft({ type: 'walk', tenant: 't' }));
        for (const tenant of ['a', 'a']) await store.operationInsert(draft({ type: 'alone', tenant }));
        await store.operationInsert(draft({ type: 'alone-keyed', tenant: 'a' }));
        await store.operationInsert(draft({ type: 'alone-keyed', tenant: 'a', concurrencyKey: 'k' }));
        await withClient(async (c) => {
          await c.query(`SET search_path TO ${schema}`);
          await c.query('BEGIN');
          const { rows } = await c.query(`SELECT pending_tenant_least('walk') AS least, pending_tenant_greatest('walk') AS greatest,
            pending_tenant_least('none') AS no_type`);
          assert.deepEqual(rows[0], { least: 'b', greatest: 't', no_type: null });
          // Turns go round where a second tenant, or a key, is pending; not for one tenant alone without keys, nor for none.
          const turns = await c.query('SELECT pending_turn_types($1) AS types', [['none', 'alone', 'walk', 'alone-keyed']]);
          assert.deepEqual(turns.rows[0].types, ['walk', 'alone-keyed']);
          const walked = await c.query('SELECT tenant, keyed FROM pending_tenants($1, true)', ['walk']);
          assert.deepEqual(walked.rows, [
            { tenant: 'b', keyed: false },
            { tenant: 'm', keyed: false },
            { tenant: 't', keyed: true },
          ]);
          const unkeyed = await c.query('SELECT tenant, keyed FROM pending_tenants($1, false)', ['walk']);
          assert.deepEqual(unkeyed.rows, [
            { tenant: 'b', keyed: null },
            { tenant: 'm', keyed: null },
            { tenant: 't', keyed: null },
          ]);
          const keys = async (max: number) => (await c.query('SELECT k FROM pending_keys($1, $2, $3) AS k', ['walk', 't', max])).rows.map((r) => r.k);
          assert.deepEqual(await keys(10), ['', 'k1', 'k2']);
          assert.deepEqual(await keys(2), ['', 'k1']);
          // Reads and walks of a queue of 2,004: each step touched a row or two, none walked the queue.
          const read = await tableReads(c, schema, 'operations');
          assert.ok(read.idx + read.seq < 100, `rows read: ${read.idx + read.seq}`);
          await c.query('ROLLBACK');
        });
      } finally {
        await store.close();
        await dropSchema(schema);
      }
    });
  });

  describe('PostgreSQL plans kept from an analysed table', () => {
    it('claim by index probes, plain and by turns, with a plan made on statistics of a few thousand operations', async () => {
      const schema = uniqueSchema();
      const store = makeStore(schema);
      try {
        await store.open();
        // Two tenants of one type, so the claim by turns has turns to take, and one of another, which the plain claim
        // takes; statistics as autovacuum would have gathered them.
        await Promise.all(Array.from({ length: 3_000 }, (_, i) => store.operationInsert(draft({ type: 'plan', tenant: i % 2 === 0 ? 'a' : 'b' }))));
        await Promise.all(Array.from({ length: 1_000 }, () => store.operationInsert(draft({ type: 'plain', tenant: 'a' }))));
        await withClient(async (c) => {
          await c.query(`SET search_path TO ${schema}`);
          await c.query('ANALYZE operations');
          await c.query('BEGIN');
          await c.query('SET LOCAL plan_cache_mode TO force_generic_plan');
          const now = T0 + 1;
          const types = [
            { type: 'plan', limit: 10 },
            { type: 'plain', limit: 10 },
          ];
          const [plainSql, plainParams] = claimStatement({ now, workerId: 'w', leaseMs: LEASE_MS, types, limit: 10 }, types);
          const plain = await c.query({ name: 'plain_claim', text: plainSql, values: [...plainParams] });
          // It leaves the type whose turns go round to the claim by turns.
          assert.deepEqual(
            plain.rows.map((r) => r.type),
            Array(10).fill('plain'),
          );
          const turns = await c.query({ name: 'turns_claim', text: CLAIM_TURNS, values: ['plan', now, 10, 'w', LEASE_MS, [], []] });
          assert.equal(turns.rows.length, 10);
          await assertReadByIndex(c, schema, 'operations', 100);
          await c.query('ROLLBACK');
        });
      } finally {
        await store.close();
        await dropSchema(schema);
      }
    });

    it("find a type's tenants pending at the ends of its queue, not past the operations its tenants finished", async () => {
      const schema = uniqueSchema();
      const store = makeStore(schema);
      try {
        await store.open();
        // A backlog analysed while it waits (as autovacuum would after the burst), then a quarter of it drained: the
        // oldest ids of the tenant are finished ones, which an index in tenant order but not the type's pending ones walks.
        // Rows stored out of id order (as they are once vacuum has freed space among older ones) are what made the
        // planner weigh operations_tenant_id against operations_fair: ids of one millisecond, stored in a fixed shuffle.
        let seed = 1;
        const next = () => {
          seed = (seed * 48_271) % 2_147_483_647;
          return seed;
        };
        const shuffled = Array.from({ length: 6_000 }, () => newId(ID_PREFIXES.operation, T0))
          .sort()
          .map((id) => ({ id, at: next() }))
          .sort((a, b) => a.at - b.at);
        for (let i = 0; i < shuffled.length; i += 500) {
          await Promise.all(shuffled.slice(i, i + 500).map(({ id }) => store.operationInsert(draft({ type: 'drained', id }))));
        }
        await withClient(async (c) => c.query(`ANALYZE ${schema}.operations`));
        const claimed = await store.operationClaimDue({ now: T0, workerId: 'w', leaseMs: LEASE_MS, types: [{ type: 'drained', limit: 1_500 }], limit: 1_500 });
        await endClaimed(store, claimed);
        await withClient(async (c) => {
          await c.query(`SET search_path TO ${schema}`);
          await c.query('BEGIN');
          for (const plans of ['force_custom_plan', 'force_generic_plan']) {
            await c.query(`SET LOCAL plan_cache_mode TO ${plans}`);
            const { rows } = await c.query(`SELECT pending_tenant_least('drained') AS least, pending_tenant_greatest('drained') AS greatest,
              pending_turn_types(ARRAY['drained']) AS turns, (SELECT array_agg(tenant) FROM pending_tenants('drained', true)) AS walked`);
            assert.deepEqual(rows[0], { least: TENANT, greatest: TENANT, turns: [], walked: [TENANT] });
          }
          await assertReadByIndex(c, schema, 'operations', 100);
          await c.query('ROLLBACK');
        });
      } finally {
        await store.close();
        await dropSchema(schema);
      }
    });

    it('read where a pending operation stands by index probes, with plans made on statistics of a few thousand operations', async () => {
      const schema = uniqueSchema();
      const store = makeStore(schema);
      try {
        await store.open();
        await Promise.all(Array.from({ length: 3_000 }, () => store.operationInsert(draft({ type: 'plan' }))));
        const last = draft({ type: 'plan' });
        await store.operationInsert(last);
        await withClient(async (c) => {
          await c.query(`SET search_path TO ${schema}`);
          await c.query('ANALYZE operations');
          await c.query('BEGIN');
          // The plan PL/pgSQL keeps for each of the functions' statements once it stops planning per call.
          await c.query('SET LOCAL plan_cache_mode TO force_generic_plan');
          const at = [last.type, last.priority, last.runAt, last.id, last.now] as const;
          const { rows } = await c.query(
            `SELECT queue_position($1, $2, $3, $4, $5, true) AS from_tail, queue_position($1, $2, $3, $4, $5, false) AS from_head,
              queue_position_among($1, $2 + 1, $3, $4, $5, true) AS among, cardinality(queue_costs_ahead($1, $2, $3, $4, $5, 5)) AS costs`,
            [...at],
          );
          assert.deepEqual(rows[0], { from_tail: '3000', from_head: '3000', among: '0', costs: 5 });
          assert.equal((await tableReads(c, schema, 'operations')).seq, 0, 'no walk of the table');
          await c.query('ROLLBACK');
        });
      } finally {
        await store.close();
        await dropSchema(schema);
      }
    });
  });

  describe('PostgreSQL status reads on an analysed table', () => {
    it("keep their plan, and count a keyed operation's place by index", async () => {
      const schema = uniqueSchema();
      const store = makeStore(schema);
      const db = new PostgresDatabase({ url: PG_URL, schema, poolSize: 1, feed: new ChangeFeed(), sourceId: 'test', onError: () => {} });
      try {
        await store.open();
        // A backlog without keys when the statistics are gathered, then operations with a key.
        await Promise.all(Array.from({ length: 3_000 }, () => store.operationInsert(draft({ type: 'plan' }))));
        await withClient((c) => c.query(`ANALYZE ${schema}.operations`));
        const keyed = [draft({ type: 'plan', concurrencyKey: 'k' }), draft({ type: 'plan', concurrencyKey: 'k' })];
        for (const d of keyed) await store.operationInsert(d);
        const scope = { ...ownTypeScope({ plan: 10 }), keyLimits: new Map([['plan', 1]]) };
        // Rows of operations the connection has read so far, its counters flushed first (pg_stat_force_next_flush).
        const rowsRead = async () => {
          await db.query('SELECT pg_stat_force_next_flush()');
          const read = await withClient((c) => tableReads(c, schema, 'operations', 'pg_stat_user_tables'));
          return read.idx + read.seq;
        };
        const before = await rowsRead();
        for (let read = 0; read < 8; read++) {
          const got = await getWithStanding(db, { id: keyed[1]!.id, tenant: TENANT, now: T0 + 1, scope });
          assert.equal(got?.standing?.position, 3_001);
          assert.equal(got?.standing?.key?.ahead, 1);
        }
        const read = (await rowsRead()) - before;
        // A read walks about a hundred rows of the queue to count its place; the key's count walked all 3,000.
        assert.ok(read < 8 * 500, `rows read by 8 status reads: ${read}`);
        // Planned once for the connection, never per call: left to choose, PostgreSQL planned this read at every call on
        // an analysed table.
        const plans = await db.query<{ generic: number; custom: number }>(
          `SELECT generic_plans AS generic, custom_plans AS custom FROM pg_prepared_statements WHERE statement LIKE '%queue_position(t.type%' AND statement NOT LIKE '%pg_prepared_statements%'`,
        );
        assert.equal(plans.length, 1);
        assert.ok(plans[0]!.generic >= 8, `generic plans: ${plans[0]!.generic}`);
        assert.equal(plans[0]!.custom, 0);
      } finally {
        await db.end();
        await store.close();
        await dropSchema(schema);
      }
    });
  });

  describe('PostgreSQL operator reads on an analysed history', () => {
    it('list by error code by its own index, not past the operations without it', async () => {
      const schema = uniqueSchema();
      const store = makeStore(schema);
      try {
        await store.open();
        // A few that failed long ago with a rare code, then many that completed since: a walk newest first passes them all.
        const end = async (type: string, n: number, ended?: Pick<FinishParams, 'status' | 'error' | 'result'>) => {
          await Promise.all(Array.from({ length: n }, () => store.operationInsert(draft({ type }))));
          const claimed = await store.operationClaimDue({ now: T0, workerId: 'w', leaseMs: LEASE_MS, types: [{ type, limit: n }], limit: n });
          await endClaimed(store, claimed, ended);
          return claimed.map((op) => op.id);
        };
        const rare = await end('rare', 5, { status: 'failed', error: { code: 'rare_code', message: 'it broke' } });
        await end('done', 3_000);
        await withClient(async (c) => {
          await c.query(`SET search_path TO ${schema}`);
          await c.query('ANALYZE operations');
          await c.query('BEGIN');
          const q = queryable(c);
          for (const plans of ['force_custom_plan', 'force_generic_plan']) {
            await c.query(`SET LOCAL plan_cache_mode TO ${plans}`);
            for (const filter of [{ tenant: null }, { tenant: TENANT }, { tenant: TENANT, status: 'failed' as const }]) {
              const listed = await listOperations(q, { ...filter, errorCode: 'rare_code', limit: 50 });
              assert.deepEqual(
                listed.map((op) => op.id),
                [...rare].sort().reverse(),
              );
            }
          }
          await assertReadByIndex(c, schema, 'operations', 100);
          await c.query('ROLLBACK');
        });
      } finally {
        await store.close();
        await dropSchema(schema);
      }
    });

    it('read the ETA figures of the stats overview without walking the history', async () => {
      const schema = uniqueSchema();
      const store = makeStore(schema);
      try {
        await store.open();
        const drafts = Array.from({ length: 1_500 }, () => draft({ type: 'stats' }));
        await Promise.all(drafts.map((d) => store.operationInsert(d)));
        const claimed = await store.operationClaimDue({ now: T0, workerId: 'w', leaseMs: LEASE_MS, types: [{ type: 'stats', limit: 1_500 }], limit: 1_500 });
        await endClaimed(store, claimed);
        await withClient(async (c) => {
          await c.query(`SET search_path TO ${schema}`);
          await c.query('ANALYZE operations, operation_history');
          await c.query('BEGIN');
          const q = queryable(c);
          for (const plans of ['force_custom_plan', 'force_generic_plan']) {
            await c.query(`SET LOCAL plan_cache_mode TO ${plans}`);
            await operationStats(q, { tenant: null, since: T0, bucketMs: 60_000, samples: 200 });
            await operationStats(q, { tenant: TENANT, since: T0, bucketMs: 60_000, samples: 200 });
          }
          assert.equal((await tableReads(c, schema, 'operation_history')).seq, 0, 'no walk of the history');
          await c.query('ROLLBACK');
        });
      } finally {
        await store.close();
        await dropSchema(schema);
      }
    });
  });

  describe('PostgreSQL keyed schedule creates under a cap', () => {
    it('answers with the schedule another writer, taking no cap lock, created under the same key meanwhile', async () => {
      const schema = uniqueSchema();
      const store = makeStore(schema);
      const other = new pg.Client({ connectionString: PG_URL });
      try {
        await store.open();
        await other.connect();
        await other.query(`SET search_path TO ${schema}`);
        // A node without a cap (or of an older version) inserting the same tenant's key, its transaction still open.
        await other.query('BEGIN');
        await other.query(
          `INSERT INTO schedules (id, tenant, type, input, cron, timezone, paused, next_run_at, skipped_ticks, origin, idempotency_key, request_fingerprint, created_at, updated_at)
           VALUES ('sch_other', $1, 'echo', '{}', '* * * * *', 'UTC', false, 0, 0, 'api', 'k-1', 'f', 0, 0)`,
          [TENANT],
        );
        const created = store.scheduleCreate({
          id: 'sch_mine',
          tenant: TENANT,
          type: 'echo',
          input: {},
          cron: '* * * * *',
          timezone: 'UTC',
          webhookUrl: null,
          priority: 0,
          nextRunAt: T0,
          now: T0,
          idempotency: { key: 'k-1', fingerprint: 'f' },
          maxPerTenant: 5,
        });
        await new Promise((resolve) => setTimeout(resolve, 200));
        await other.query('COMMIT');
        const result = await created;
        assert.equal(result.kind, 'existing');
        assert.equal(result.kind === 'existing' ? result.schedule.id : null, 'sch_other');
      } finally {
        await other.end().catch(() => {});
        await store.close();
        await dropSchema(schema);
      }
    });
  });

  describe('PostgreSQL statements whose commit does not wait for the disk', () => {
    const db = new PostgresDatabase({ url: PG_URL, schema: 'public', poolSize: 1, feed: new ChangeFeed(), sourceId: 'test', onError: () => {} });
    after(() => db.end());

    it('run in a transaction of their own with synchronous_commit off, and what they write is there for the next', async () => {
      const schema = uniqueSchema();
      try {
        await withClient((c) => c.query(`CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.t (n int)`));
        const before = await db.query(`SELECT current_setting('synchronous_commit') AS s`);
        assert.deepEqual(await db.queryUnflushed(`SELECT current_setting('synchronous_commit') AS s`), [{ s: 'off' }]);
        await db.queryUnflushed(`INSERT INTO ${schema}.t VALUES (1)`);
        assert.deepEqual(await db.query(`SELECT n FROM ${schema}.t`), [{ n: 1 }]);
        // The setting was for that transaction only.
        assert.deepEqual(await db.query(`SELECT current_setting('synchronous_commit') AS s`), before);
      } finally {
        await dropSchema(schema);
      }
    });

    it('a statement that waits past the connect timeout for a connection of a pool all in use is store_unavailable', async () => {
      const held = await db.pool.connect();
      // The pool's own 5 s, shortened: the wait is the same kind.
      const options = (db.pool as unknown as { options: { connectionTimeoutMillis: number } }).options;
      const timeout = options.connectionTimeoutMillis;
      options.connectionTimeoutMillis = 200;
      try {
        await assert.rejects(db.query('SELECT 1 AS x'), (error: unknown) => {
          assert.equal((error as { code?: unknown }).code, 'store_unavailable');
          assert.equal((error as Error).message, 'PostgreSQL unavailable: no connection of the pool came free in time');
          return true;
        });
      } finally {
        options.connectionTimeoutMillis = timeout;
        held.release();
      }
      assert.deepEqual(await db.query('SELECT 1 AS x'), [{ x: 1 }]);
    });

    it('roll back whole when the statement fails, and leave the connection usable', async () => {
      await assert.rejects(db.queryUnflushed('SELECT 1 / 0 AS x'), /division by zero/);
      assert.deepEqual(await db.queryUnflushed('SELECT 2 AS x'), [{ x: 2 }]);
    });

    it('keep the plan of the connection when asked (genericPlans), made with sequential scans off, for that statement alone', async () => {
      const mode = `SELECT current_setting('plan_cache_mode') AS m, current_setting('enable_seqscan') AS seq`;
      const kept = [{ m: 'force_generic_plan', seq: 'off' }];
      const chosen = [{ m: 'auto', seq: 'on' }];
      assert.deepEqual(await db.queryUnflushed(mode, [], { genericPlans: true }), kept);
      assert.deepEqual(await db.queryUnflushed(mode), chosen);
      assert.deepEqual(await db.query(mode, [], { genericPlans: true }), kept);
      assert.deepEqual(await db.query(mode), chosen);
    });
  });

  describe('a PostgreSQL connection lost while in use', () => {
    it('fails the transaction on it as store_unavailable, and the process lives on; the pool serves the next', async () => {
      const db = new PostgresDatabase({ url: PG_URL, schema: 'public', poolSize: 1, feed: new ChangeFeed(), sourceId: 'test', onError: () => {} });
      try {
        // Without a listener on the checked-out connection, its 'error' event ended the process (an uncaught error).
        await assert.rejects(
          db.transaction(async (tx) => {
            await tx.query('SELECT pg_terminate_backend(pg_backend_pid())');
            await tx.query('SELECT 1');
          }),
          (error: Error & { code?: string }) => error.code === 'store_unavailable',
        );
        await new Promise((resolve) => setTimeout(resolve, 50));
        assert.deepEqual(await db.query('SELECT 2 AS x'), [{ x: 2 }]);
      } finally {
        await db.end();
      }
    });
  });

  describe('PostgreSQL notifications for the other nodes', () => {
    // The schema is never made: it only names the channel, so that no other run hears these.
    const schema = uniqueSchema();
    const databases: PostgresDatabase[] = [];
    const heard: StoreEvent[] = [];
    const listener = new pg.Client({ connectionString: PG_URL });
    let listening: Promise<unknown> | null = null;
    /** A node's database, and how many NOTIFY transactions of their own it has sent (the flush's, through the pool). */
    const node = () => {
      const db = new PostgresDatabase({ url: PG_URL, schema, poolSize: 2, feed: new ChangeFeed(), sourceId: 'this-node', onError: () => {} });
      databases.push(db);
      const sent = { own: 0 };
      const query = db.pool.query.bind(db.pool) as (...args: unknown[]) => Promise<unknown>;
      (db.pool as unknown as { query: (...args: unknown[]) => Promise<unknown> }).query = (...args) => {
        if (typeof args[0] === 'string' && args[0].includes('pg_notify')) sent.own += 1;
        return query(...args);
      };
      listening ??= listener.connect().then(() => {
        listener.on('error', () => {});
        listener.on('notification', (n) => heard.push(...decodeNotification(n.payload ?? '', 'another-node')));
        return listener.query(`LISTEN ${pg.escapeIdentifier(channelOf(schema))}`);
      });
      return { db, sent, listening };
    };
    after(async () => {
      await Promise.all(databases.map((db) => db.end()));
      await listener.end();
    });
    const change = (id: string): StoreEvent => ({ kind: 'operation:changed', id, version: 2, status: 'processing' });
    const heardOf = (id: string) => waitFor(() => heard.some((e) => e.kind === 'operation:changed' && e.id === id), { what: `a change of ${id}` });

    it('sends a change of an operation in the transaction of the next statement that does not wait for the disk', async () => {
      const { db, sent, listening } = node();
      await listening;
      db.publish([change('op_carried')]);
      assert.deepEqual(await db.queryUnflushed('SELECT 1 AS x'), [{ x: 1 }]);
      await heardOf('op_carried');
      assert.equal(sent.own, 0);
    });

    it('sends a change that nothing carried after a turn of the event loop, in a transaction of its own', async () => {
      const { db, sent, listening } = node();
      await listening;
      db.publish([change('op_alone')]);
      assert.equal(sent.own, 0);
      await heardOf('op_alone');
      assert.equal(sent.own, 1);
    });

    it('sends what wakes a worker or a dispatcher at once, with the changes queued before it', async () => {
      const { db, sent, listening } = node();
      await listening;
      db.publish([change('op_before_due')]);
      db.publish([{ kind: 'operation:due', type: 'carried-test', runAt: 1 }]);
      assert.equal(sent.own, 1);
      await heardOf('op_before_due');
      assert.ok(heard.some((e) => e.kind === 'operation:due' && e.type === 'carried-test'));
      assert.equal(sent.own, 1, 'the change went with the wake-up');
    });

    it('sends the changes a failed statement carried in a transaction of their own, and what is queued when it closes', async () => {
      const { db, sent, listening } = node();
      await listening;
      db.publish([change('op_rolled_back')]);
      await assert.rejects(db.queryUnflushed('SELECT 1 / 0 AS x'), /division by zero/);
      await heardOf('op_rolled_back');
      assert.equal(sent.own, 1);
      db.publish([change('op_at_close')]);
      databases.splice(databases.indexOf(db), 1);
      await db.end();
      await heardOf('op_at_close');
    });

    it('runs a statement again without the NOTIFYs it carried when the server refuses them, and reports them', async () => {
      const reported: unknown[] = [];
      const refusing = new PostgresDatabase({
        url: PG_URL,
        schema,
        poolSize: 1,
        feed: new ChangeFeed(),
        sourceId: 'refusing',
        onError: (err) => reported.push(err),
      });
      databases.push(refusing);
      // pg_notify refuses an empty channel, as it would a full notification queue.
      Object.defineProperty(refusing, 'channel', { value: '' });
      refusing.publish([change('op_refused')]);
      assert.deepEqual(await refusing.queryUnflushed('SELECT 1 AS x'), [{ x: 1 }]);
      await waitFor(() => reported.length > 0, { what: 'the NOTIFY refused, reported' });
      assert.match(String(reported[0]), /channel name cannot be empty/);
      assert.deepEqual(await refusing.queryUnflushed('SELECT 2 AS x'), [{ x: 2 }], 'its connection still serves');
    });

    it('hands the changes back when the COMMIT of the statement carrying them is refused, and keeps its connection', async () => {
      const { listening } = node();
      await listening;
      const tables = uniqueSchema();
      await withClient((c) =>
        c.query(`CREATE SCHEMA ${tables}; CREATE TABLE ${tables}.t (n int UNIQUE DEFERRABLE INITIALLY DEFERRED); INSERT INTO ${tables}.t VALUES (1)`),
      );
      const only = new PostgresDatabase({ url: PG_URL, schema, poolSize: 1, feed: new ChangeFeed(), sourceId: 'committing', onError: () => {} });
      databases.push(only);
      try {
        const backend = 'SELECT pg_backend_pid() AS pid';
        const [before] = await only.queryUnflushed<{ pid: number }>(backend);
        only.publish([change('op_commit_refused')]);
        // A duplicate the deferred constraint finds at COMMIT: refused there, as a full notification queue would be.
        await assert.rejects(only.queryUnflushed(`INSERT INTO ${tables}.t VALUES (1)`), /duplicate key/);
        await heardOf('op_commit_refused');
        assert.deepEqual(await only.queryUnflushed(backend), [before], 'the same connection serves on');
      } finally {
        await dropSchema(tables);
      }
    });

    it('waits when it closes for a statement under way to send the changes it carries', async () => {
      const { listening } = node();
      await listening;
      const only = new PostgresDatabase({ url: PG_URL, schema, poolSize: 1, feed: new ChangeFeed(), sourceId: 'closing', onError: () => {} });
      const busy = only.queryUnflushed('SELECT pg_sleep(0.2)');
      only.publish([change('op_in_flight')]);
      // Takes the change, then waits for the pool's one connection.
      const carrying = only.queryUnflushed('SELECT 2 AS x');
      await only.end();
      assert.deepEqual(await carrying, [{ x: 2 }]);
      await busy;
      await heardOf('op_in_flight');
    });

    it('sends payloads with quotes and backslashes in them: the events heard are the events sent', async () => {
      const types = ["it's", 'back\\slash', "both ' and \\ and \\'", 'ünïcödé ✓'];
      for (const type of types) assert.equal(sqlLiteral(type), pg.escapeLiteral(type));
      const { db, listening } = node();
      await listening;
      db.publish(types.map((type, i) => ({ kind: 'operation:due', type: `literal ${type}`, runAt: i })));
      await waitFor(() => types.every((type) => heard.some((e) => e.kind === 'operation:due' && e.type === `literal ${type}`)), {
        what: 'every event heard as it was sent',
      });
    });

    it('names the channel of a schema too long for asyncops_<schema>, and hears on it', async () => {
      const long = `t_${'x'.repeat(58)}`;
      assert.equal(channelOf('asyncops'), 'asyncops_asyncops');
      assert.ok(channelOf(long).length <= 63);
      assert.notEqual(channelOf(long), channelOf(`${long.slice(0, -1)}y`));
      const client = new pg.Client({ connectionString: PG_URL });
      client.on('error', () => {});
      await client.connect();
      const db = new PostgresDatabase({ url: PG_URL, schema: long, poolSize: 1, feed: new ChangeFeed(), sourceId: 'long', onError: () => {} });
      try {
        const payloads: string[] = [];
        client.on('notification', (n) => payloads.push(n.payload ?? ''));
        await client.query(`LISTEN ${pg.escapeIdentifier(db.channel)}`);
        db.publish([{ kind: 'operation:due', type: 'long-schema', runAt: 1 }]);
        await waitFor(() => payloads.some((p) => decodeNotification(p, 'another-node').length > 0), { what: 'the due work heard' });
      } finally {
        await db.end();
        await client.end();
      }
    });
  });

  describe('PostgreSQL statements sent in sequence', () => {
    const db = new PostgresDatabase({ url: PG_URL, schema: 'public', poolSize: 1, feed: new ChangeFeed(), sourceId: 'test', onError: () => {} });
    after(() => db.end());
    const mode = `SELECT current_setting('plan_cache_mode') AS m`;

    it('settle each on its own, in order: a later one sees what an earlier one committed, a failed one fails alone', async () => {
      const schema = uniqueSchema();
      try {
        await withClient((c) => c.query(`CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.t (n int)`));
        const settled = await db.sequence([
          [`INSERT INTO ${schema}.t VALUES (1)`, []],
          ['SELECT 1 / 0 AS x', [], { genericPlans: true }],
          [`SELECT count(*)::int AS n FROM ${schema}.t`, [], { genericPlans: true }],
          [mode, []],
        ]);
        const [inserted, failed, counted, after] = await Promise.all(settled);
        assert.equal(inserted!.status, 'fulfilled');
        assert.equal(failed!.status, 'rejected');
        assert.match(String((failed as PromiseRejectedResult).reason), /division by zero/);
        assert.deepEqual(counted, { status: 'fulfilled', value: [{ n: 1 }] });
        // A statement asked to keep its plan ran in a transaction of its own: the setting did not outlive it.
        assert.deepEqual(after, { status: 'fulfilled', value: [{ m: 'auto' }] });
        assert.deepEqual(await db.query(mode), [{ m: 'auto' }]);
      } finally {
        await dropSchema(schema);
      }
    });

    it('run a statement asked to be unflushed in a transaction of its own whose commit does not wait for the disk', async () => {
      const setting = `SELECT current_setting('synchronous_commit') AS s`;
      const before = await db.query(setting);
      const [unflushed, after] = await db.sequence([
        [setting, [], { unflushed: true }],
        [setting, []],
      ]);
      assert.deepEqual(await unflushed, { status: 'fulfilled', value: [{ s: 'off' }] });
      // The setting was for that transaction only.
      assert.deepEqual(await after, { status: 'fulfilled', value: before });
    });

    it('fail a statement whose transaction of its own is refused at COMMIT, though the statement itself answered', async () => {
      const tables = uniqueSchema();
      await withClient((c) =>
        c.query(`CREATE SCHEMA ${tables}; CREATE TABLE ${tables}.t (n int UNIQUE DEFERRABLE INITIALLY DEFERRED); INSERT INTO ${tables}.t VALUES (1)`),
      );
      try {
        const [inserted] = await db.sequence([[`INSERT INTO ${tables}.t VALUES (1) RETURNING n`, [], { unflushed: true }]]);
        const settled = await inserted;
        assert.equal(settled!.status, 'rejected');
        assert.match(String((settled as PromiseRejectedResult).reason), /duplicate key/);
        assert.deepEqual(await db.query(`SELECT count(*)::int AS n FROM ${tables}.t`), [{ n: 1 }]);
      } finally {
        await dropSchema(tables);
      }
    });

    it('run a statement that keeps its plan under force_generic_plan, with sequential scans off', async () => {
      const [read] = await db.sequence([[`${mode}, current_setting('enable_seqscan') AS seq`, [], { genericPlans: true }]]);
      assert.deepEqual(await read, { status: 'fulfilled', value: [{ m: 'force_generic_plan', seq: 'off' }] });
    });
  });
}
