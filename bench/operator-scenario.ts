// Owns: the `operator-reads` scenario: a store holding 1,000,000 operations (ten tenants, five types, a week of history:
// completed, failed with two error codes, cancelled, a few pending), then p50/p99 per request of the operator's reads
// over HTTP against the real server: GET /operations (first page, tenant, filtered, time range, a deep cursor, `q`),
// GET /operations/counts and GET /stats/overview.
// Not here: the reads themselves (store/*/operator-reads.ts).
// Invariant: the rows are written with bulk SQL (a million through the Store API would take many minutes) exactly as
// the store writes them, ids made at their creation time, and the store's own migrations and triggers in place: the
// counters the counts read are the ones the triggers kept while seeding.

import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { ID_PREFIXES, newId } from '../src/domain/ids.ts';
import { openStoreFromSpec } from '../src/store/open.ts';
import { percentile, round } from './load.ts';
import { startAsyncops } from './processes.ts';
import { freshStore, PG_URL, type StoreKind } from './stores.ts';

/** The reads timed, in the order the report shows them. */
export const OPERATOR_READS = [
  'list: first page (all tenants)',
  'list: first page of a tenant',
  'list: failed of a tenant',
  'list: failed with an error code (all tenants)',
  'list: an error code of a tenant, any status',
  'list: a type of a tenant',
  'list: a day in the middle of the week',
  'list: a cursor 90 % down (all tenants)',
  'list: q by idempotency key',
  'counts (all tenants)',
  'counts of a tenant',
  'overview, last hour (all tenants)',
] as const;
type ReadName = (typeof OPERATOR_READS)[number];

export interface ReadFigures {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly requests: number;
}

export interface OperatorReadsFigures {
  readonly operations: number;
  readonly seedS: number;
  readonly reads: Readonly<Partial<Record<ReadName, ReadFigures>>>;
}

const TENANTS = 10;
const TYPES = ['alpha', 'beta', 'gamma', 'delta', 'epsilon'];
const WEEK_MS = 7 * 24 * 3600 * 1000;
/** One operation in this many has an idempotency key (`q` finds it). */
const KEYED_EVERY = 100;

interface SeedRow {
  id: string;
  tenant: string;
  type: string;
  status: string;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  errorCode: string | null;
  errorMessage: string | null;
}

/** The i-th of `count` operations, created in order over the week before `now`: mostly completed, as a busy service's are. */
function row(i: number, count: number, now: number): SeedRow {
  const createdAt = now - WEEK_MS + Math.floor((i * WEEK_MS) / count);
  const tenant = `t${i % TENANTS}`;
  const type = TYPES[Math.floor(i / 7) % TYPES.length]!;
  const roll = (i * 7919) % 1000;
  // 2 % pending (the newest), 4 % failed (handler_error), 1 % failed (timeout), 3 % cancelled, the rest completed.
  const status = i >= count * 0.98 ? 'pending' : roll < 40 ? 'failed' : roll < 50 ? 'failed' : roll < 80 ? 'cancelled' : 'completed';
  const errorCode = status === 'failed' ? (roll < 40 ? 'handler_error' : 'timeout') : status === 'cancelled' ? 'cancelled' : null;
  const startedAt = status === 'pending' ? null : createdAt + (i % 500);
  const finishedAt = startedAt === null ? null : startedAt + 1_000 + (i % 3_000);
  return {
    id: newId(ID_PREFIXES.operation, createdAt),
    tenant,
    type,
    status,
    createdAt,
    startedAt,
    finishedAt,
    errorCode,
    errorMessage: errorCode === null ? null : `seeded ${errorCode}`,
  };
}

const COLUMNS =
  'id, tenant, type, status, input, attempt, max_attempts, priority, timeout_s, run_at, created_at, started_at, finished_at, updated_at, error_code, error_message, version';

function seedSqlite(path: string, count: number, now: number): string[] {
  const db = new DatabaseSync(path);
  const keyed: string[] = [];
  try {
    const insert = db.prepare(`INSERT INTO operations (${COLUMNS}) VALUES (?, ?, ?, ?, '{}', 1, 3, 0, 60, ?, ?, ?, ?, ?, ?, ?, 3)`);
    const key = db.prepare('INSERT INTO idempotency_keys (tenant, key, fingerprint, operation_id, expires_at) VALUES (?, ?, ?, ?, ?)');
    const batch = 50_000;
    for (let from = 0; from < count; from += batch) {
      db.exec('BEGIN');
      for (let i = from; i < Math.min(count, from + batch); i++) {
        const r = row(i, count, now);
        insert.run(
          r.id,
          r.tenant,
          r.type,
          r.status,
          r.createdAt,
          r.createdAt,
          r.startedAt,
          r.finishedAt,
          r.finishedAt ?? r.createdAt,
          r.errorCode,
          r.errorMessage,
        );
        if (i % KEYED_EVERY === 0) {
          key.run(r.tenant, `key-${i}`, 'seeded', r.id, now + 24 * 3600 * 1000);
          keyed.push(`key-${i}`);
        }
      }
      db.exec('COMMIT');
    }
    db.exec('ANALYZE');
  } finally {
    db.close();
  }
  return keyed;
}

async function seedPostgres(spec: string, count: number, now: number): Promise<string[]> {
  const schema = new URL(spec).searchParams.get('schema')!;
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  const keyed: string[] = [];
  try {
    await client.query(`SET search_path TO ${pg.escapeIdentifier(schema)}`);
    const batch = 10_000;
    for (let from = 0; from < count; from += batch) {
      const rows = Array.from({ length: Math.min(batch, count - from) }, (_, k) => row(from + k, count, now));
      const column = <K extends keyof SeedRow>(k: K) => rows.map((r) => r[k]);
      // One statement a batch: the counters' statement triggers append one row per (tenant, type, status) of it.
      await client.query(
        `INSERT INTO operations (${COLUMNS})
         SELECT id, tenant, type, status, '{}', 1, 3, 0, 60, created_at, created_at, started_at, finished_at, coalesce(finished_at, created_at), error_code, error_message, 3
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::text[], $9::text[])
           AS s(id, tenant, type, status, created_at, started_at, finished_at, error_code, error_message)`,
        [
          column('id'),
          column('tenant'),
          column('type'),
          column('status'),
          column('createdAt'),
          column('startedAt'),
          column('finishedAt'),
          column('errorCode'),
          column('errorMessage'),
        ],
      );
      const keys = rows.flatMap((r, k) => ((from + k) % KEYED_EVERY === 0 ? [{ r, key: `key-${from + k}` }] : []));
      await client.query(
        `INSERT INTO idempotency_keys (tenant, key, fingerprint, operation_id, expires_at)
         SELECT tenant, key, 'seeded', id, $4 FROM unnest($1::text[], $2::text[], $3::text[]) AS s(tenant, key, id)`,
        [keys.map((k) => k.r.tenant), keys.map((k) => k.key), keys.map((k) => k.r.id), now + 24 * 3600 * 1000],
      );
      keyed.push(...keys.map((k) => k.key));
    }
    // A million rows seeded a moment ago have no statistics and no visibility map yet; a service that stored them over a
    // week has had autovacuum run many times.
    await client.query('VACUUM (ANALYZE) operations, idempotency_keys, operation_counts, queue_depth');
  } finally {
    await client.end();
  }
  return keyed;
}

/** `requests` sequential requests after a few to warm up: the latency of one request on an otherwise idle server. */
async function measure(base: string, paths: readonly string[], requests: number): Promise<ReadFigures> {
  const times: number[] = [];
  for (let i = -10; i < requests; i++) {
    const path = paths[(i + paths.length * 10) % paths.length]!;
    const started = performance.now();
    const response = await fetch(base + path);
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`GET ${path}: ${response.status}`);
    if (i >= 0) times.push(performance.now() - started);
  }
  return { p50Ms: round(percentile(times, 50), 2), p99Ms: round(percentile(times, 99), 2), requests };
}

export async function measureOperatorReads(kind: StoreKind, count: number, requests: number): Promise<OperatorReadsFigures> {
  const store = await freshStore(kind);
  try {
    // Migrated by the store itself, so the tables, indexes and triggers are the ones a server has.
    const opened = openStoreFromSpec(store.spec);
    await opened.open();
    await opened.close();
    const now = Date.now();
    const seedStarted = performance.now();
    const keyed = kind === 'sqlite' ? seedSqlite(store.spec, count, now) : await seedPostgres(store.spec, count, now);
    const seedS = round((performance.now() - seedStarted) / 1000, 1);
    // No workers: the seeded pending operations are of types the bench tasks do not have, and nothing else runs.
    const server = await startAsyncops('serve', { store: store.spec, workers: false });
    try {
      const cursorAt = (i: number) => Buffer.from(row(i, count, now).id, 'utf8').toString('base64url');
      const iso = (ms: number) => new Date(ms).toISOString();
      const day = 24 * 3600 * 1000;
      // Many different keys and cursors, so no read is the previous one's cache.
      const spread = (n: number, f: (k: number) => string) => Array.from({ length: n }, (_, k) => f(k));
      const reads: Record<ReadName, readonly string[]> = {
        'list: first page (all tenants)': ['/operations?limit=50'],
        'list: first page of a tenant': spread(TENANTS, (k) => `/operations?tenant=t${k}&limit=50`),
        'list: failed of a tenant': spread(TENANTS, (k) => `/operations?tenant=t${k}&status=failed&limit=50`),
        'list: failed with an error code (all tenants)': ['/operations?status=failed&error_code=timeout&limit=50'],
        'list: an error code of a tenant, any status': spread(TENANTS, (k) => `/operations?tenant=t${k}&error_code=timeout&limit=50`),
        'list: a type of a tenant': spread(TENANTS, (k) => `/operations?tenant=t${k}&type=${TYPES[k % TYPES.length]}&limit=50`),
        'list: a day in the middle of the week': spread(
          TENANTS,
          (k) => `/operations?tenant=t${k}&created_after=${iso(now - 4 * day)}&created_before=${iso(now - 3 * day)}&limit=50`,
        ),
        'list: a cursor 90 % down (all tenants)': spread(50, (k) => `/operations?limit=50&cursor=${cursorAt(Math.floor(count * 0.1) + k * 7)}`),
        'list: q by idempotency key': spread(50, (k) => `/operations?q=${keyed[(k * 197) % keyed.length]}`),
        'counts (all tenants)': ['/operations/counts'],
        'counts of a tenant': spread(TENANTS, (k) => `/operations/counts?tenant=t${k}`),
        'overview, last hour (all tenants)': ['/stats/overview?window_s=3600'],
      };
      const figures: Partial<Record<ReadName, ReadFigures>> = {};
      for (const name of OPERATOR_READS) figures[name] = await measure(server.url, reads[name], requests);
      return { operations: count, seedS, reads: figures };
    } finally {
      await server.stop();
    }
  } finally {
    await store.dispose();
  }
}
