// Owns: a fresh, empty store for each measurement (a SQLite file in a temp dir, or a PostgreSQL schema of its
// own), removing it afterwards, and seeding it through the Store API. Not here: what is measured on it.
// Invariant: every store made here is removed by its dispose(), even when the measurement failed.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { owe, refuseIfInterrupted } from './interrupt.ts';
import { newId, ID_PREFIXES } from '../src/domain/ids.ts';
import { openStoreFromSpec } from '../src/store/open.ts';
import type { OperationDraft } from '../src/store/store.ts';
import { DEFAULT_TENANT } from '../src/domain/operation.ts';

export type StoreKind = 'sqlite' | 'postgres';

export const PG_URL = process.env.ASYNCOPS_BENCH_PG_URL ?? process.env.ASYNCOPS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface BenchStore {
  /** The --store argument for the server (PostgreSQL: the URL naming a schema of its own with ?schema=). */
  readonly spec: string;
  readonly kind: StoreKind;
  dispose(): Promise<void>;
}

let counter = 0;

/**
 * The system catalogs every schema made and dropped leaves dead rows in (a store is some twenty tables, indexes and
 * functions). Autovacuum would clear them; with it off, as on these machines, a day of test and bench runs left
 * 465,000 dead rows (95 MB) in pg_attribute, which every new connection's catalog reads walk, so a run measured the
 * machine's history as much as the code. Vacuumed at the start of a run when autovacuum is off; what it did, or why
 * not, is returned.
 */
export async function vacuumCatalogsIfNeeded(): Promise<string | null> {
  return withPg(async (client) => {
    const { rows } = await client.query<{ autovacuum: string }>('SHOW autovacuum');
    if (rows[0]?.autovacuum !== 'off') return null;
    const catalogs = ['pg_attribute', 'pg_depend', 'pg_class', 'pg_index', 'pg_type', 'pg_constraint', 'pg_trigger', 'pg_attrdef', 'pg_proc', 'pg_statistic'];
    try {
      await client.query(`VACUUM (ANALYZE) ${catalogs.map((c) => `pg_catalog.${c}`).join(', ')}`);
      return 'autovacuum is off: vacuumed the system catalogs that dropped schemas leave dead rows in';
    } catch (err) {
      return `autovacuum is off, and the system catalogs could not be vacuumed (${err instanceof Error ? err.message : String(err)}): PostgreSQL figures may suffer`;
    }
  });
}

export async function postgresReachable(): Promise<string | null> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    await client.end().catch(() => {});
  }
}

export async function freshStore(kind: StoreKind): Promise<BenchStore> {
  refuseIfInterrupted();
  counter += 1;
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'asyncops-bench-'));
    return owned({ kind, spec: join(dir, 'bench.db'), dispose: async () => rmSync(dir, { recursive: true, force: true }) });
  }
  const schema = `bench_${process.pid}_${counter}`;
  const url = new URL(PG_URL);
  url.searchParams.set('schema', schema);
  return owned({
    kind,
    spec: url.toString(),
    dispose: () => withPg((client) => client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)).then(() => undefined),
  });
}

/** The store, owed to an interrupted run (interrupt.ts) until disposed. */
function owned(store: BenchStore): BenchStore {
  const settle = owe(store.dispose);
  return {
    ...store,
    // Settled once done: an interrupt meanwhile waits for it by doing it too.
    dispose: () => store.dispose().then(settle),
  };
}

async function withPg<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_URL });
  client.on('error', () => {});
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** An operation of `type` with an empty input, due at `now`, as the bench queues them through the Store API. */
export function queuedDraft(type: string, now: number): OperationDraft {
  return {
    id: newId(ID_PREFIXES.operation, now),
    tenant: DEFAULT_TENANT,
    type,
    input: {},
    maxAttempts: 3,
    priority: 0,
    timeoutS: 60,
    runAt: now,
    webhookUrl: null,
    now,
  };
}

/**
 * Stores `count` completed no-op operations through the Store API in this process (insert, claim, finish in
 * batches), as history that a busy service has accumulated, vacuumed as autovacuum would have. Much faster than
 * going through HTTP. `ended`: failed ones instead (with an error), for a bulk retry to redrive (bulk-scenario.ts), and
 * `type` another type than `noop`.
 */
export async function seedCompleted(spec: string, count: number, ended: 'completed' | 'failed' = 'completed', type = 'noop'): Promise<void> {
  const store = openStoreFromSpec(spec);
  await store.open();
  try {
    const batch = 500;
    for (let done = 0; done < count; done += batch) {
      // Autovacuum is off on these machines' PostgreSQL: without a vacuum now and then, every finish of the seeding walks
      // the dead entries its predecessors left in operations_running (a million took half an hour).
      if (done > 0 && done % VACUUM_EVERY === 0) await vacuumed(spec);
      const n = Math.min(batch, count - done);
      const now = Date.now();
      const drafts = Array.from({ length: n }, () => queuedDraft(type, now));
      await inParallel(drafts, 16, (draft) => store.operationInsert(draft));
      const claimed = await store.operationClaimDue({ now, workerId: 'seed', leaseMs: 60_000, types: [{ type, limit: n }], limit: n });
      await inParallel(claimed, 16, (op) =>
        store.operationFinish({
          id: op.id,
          leaseToken: op.leaseToken ?? '',
          now: now + 1,
          status: ended,
          ...(ended === 'completed'
            ? { result: { contentType: 'application/json', body: Buffer.from('null') } }
            : { error: { code: 'seeded', message: 'failed' } }),
          delivery: () => null,
        }),
      );
    }
  } finally {
    await store.close();
  }
  // History a busy service has accumulated has long been vacuumed; rows seeded a moment ago have not (three versions
  // each, and no statistics), which would measure the seeding rather than the size.
  await vacuumed(spec);
}

/** Seeded operations between two vacuums (PostgreSQL). */
const VACUUM_EVERY = 50_000;

/** On PostgreSQL, what autovacuum would have done by now to the tables a drain writes: dead rows gone, statistics fresh. */
async function vacuumed(spec: string): Promise<void> {
  const schema = schemaOf(spec);
  if (schema === null) return;
  const tables = ['operations', 'results', 'duration_samples', 'queue_depth', 'operation_history'].map((t) => `${pg.escapeIdentifier(schema)}.${t}`);
  await withPg((client) => client.query(`VACUUM (ANALYZE) ${tables.join(', ')}`));
}

/**
 * On PostgreSQL, the statistics autovacuum's analyze would gather after a burst of inserts (it analyses a table once a
 * tenth of it has changed): a backlog queued on a machine with autovacuum off would otherwise be planned for as if the
 * table were empty, which no deployment sees for long.
 */
export async function analysed(spec: string): Promise<void> {
  const schema = schemaOf(spec);
  if (schema === null) return;
  await withPg((client) => client.query(`ANALYZE ${pg.escapeIdentifier(schema)}.operations, ${pg.escapeIdentifier(schema)}.operation_history`));
}

/** The schema a PostgreSQL store spec names (null: a SQLite file). */
function schemaOf(spec: string): string | null {
  return spec.startsWith('postgres') ? new URL(spec).searchParams.get('schema') : null;
}

async function inParallel<T>(items: readonly T[], width: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}
