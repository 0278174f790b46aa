// Owns: the PostgreSQL rate-limit buckets: the tokens a claim takes before it selects candidates (each type's limit
// capped by them, and by a hold) and gives back after (those it did not use); holds, announced on the change feed and
// known to each node, so a claim of types with no rate limit and no hold skips the bucket statement; reading the buckets.
// Not here: the bucket arithmetic's definition (domain/rate-limit.ts, which TAKE_TOKENS computes the same way in SQL),
// choosing the candidates (transitions.ts).
// Invariant: tokens are taken under the bucket row's lock before the claim and only unused ones go back after, so
// concurrent claimers on every node together never start more than the buckets hold.

import { boundUntil, nextTokenAt, type Bucket } from '../../domain/rate-limit.ts';
import type { ClaimParams, RateLimitHoldParams, StoreListener, TypeLimit } from '../store.ts';
import type { PostgresDatabase, Queryable } from './database.ts';

// Params: $1 types, $2 limits, $3 now. A rate-limited type's first bucket is full.
const ENSURE_BUCKETS = `
INSERT INTO rate_limits (type, bucket_key, tokens, updated_at)
SELECT t.type, '', t.cap, $3 FROM unnest($1::text[], $2::int[]) AS t(type, cap)
ON CONFLICT (type, bucket_key) DO NOTHING`;

// Params: $1 now, $2 types, $3 wanted, $4 limits (0: none, holds only), $5 ms per interval.
// Under each bucket row's lock (a concurrent claimer waits, then reads the row as this one left it): refill for the
// time since it was stored, at most full; no tokens while held; take whole tokens, at most as many as wanted. Rows are
// locked in type order, as GIVE_BACK locks them, so claimers of several types never wait on each other in a cycle.
const TAKE_TOKENS = `
WITH w AS (
  SELECT * FROM unnest($2::text[], $3::int[], $4::int[], $5::float8[]) AS w(type, wanted, cap, interval_ms)
), locked AS (
  SELECT b.type, b.tokens, b.updated_at, b.held_until, w.wanted, w.cap, w.interval_ms
  FROM rate_limits b JOIN w ON b.type = w.type AND b.bucket_key = ''
  ORDER BY b.type
  FOR UPDATE OF b
), refilled AS (
  SELECT l.*, CASE WHEN l.cap > 0 THEN least(l.cap::float8, l.tokens + greatest(0, $1::bigint - l.updated_at) * l.cap / l.interval_ms)
    ELSE l.tokens END AS avail
  FROM locked l
), granted AS (
  SELECT r.*, CASE WHEN r.held_until > $1::bigint THEN 0 WHEN r.cap = 0 THEN r.wanted
    ELSE least(r.wanted, floor(r.avail + 1e-9)::int) END AS n
  FROM refilled r
), taken AS (
  UPDATE rate_limits b SET tokens = g.avail - g.n, updated_at = greatest(b.updated_at, $1::bigint)
  FROM granted g WHERE b.type = g.type AND b.bucket_key = '' AND g.cap > 0 AND g.held_until <= $1::bigint
  RETURNING b.type
)
SELECT g.type, g.n AS granted, g.avail - g.n AS tokens, greatest(g.updated_at, $1::bigint) AS updated_at, g.held_until
FROM granted g`;

// Params: $1 types, $2 unused, $3 limits.
const GIVE_BACK = `
WITH t AS (
  SELECT * FROM unnest($1::text[], $2::int[], $3::int[]) AS t(type, unused, cap)
), locked AS (
  SELECT b.type FROM rate_limits b JOIN t ON b.type = t.type AND b.bucket_key = '' ORDER BY b.type FOR UPDATE OF b
)
UPDATE rate_limits b SET tokens = least(t.cap::float8, b.tokens + t.unused)
FROM t JOIN locked l ON l.type = t.type
WHERE b.type = t.type AND b.bucket_key = ''`;

// Params: $1 type, $2 until, $3 now. A new row is a full bucket (the claim caps it by the limit it declares), held.
const HOLD = `
INSERT INTO rate_limits (type, bucket_key, tokens, updated_at, held_until) VALUES ($1, '', ${Number.MAX_SAFE_INTEGER}, $3, $2)
ON CONFLICT (type, bucket_key) DO UPDATE SET held_until = greatest(rate_limits.held_until, excluded.held_until)`;

const BUCKETS = `SELECT type, tokens, updated_at, held_until FROM rate_limits WHERE bucket_key = ''`;

interface TakenRow {
  type: string;
  granted: number;
  tokens: number;
  updated_at: number;
  held_until: number;
}

/** The rate-limited types whose bucket row this process knows exists, per database. */
const ensured = new WeakMap<PostgresDatabase, Set<string>>();

/**
 * The holds this node knows of, per database: every hold is announced on the change feed (`rate_limit:held`, to every
 * node), and the table is read again when the feed may have missed some. Until that read is done, any type may be held.
 * A claim of types with no rate limit and no known hold skips the bucket statement: most claims pay nothing for holds.
 */
class KnownHolds {
  readonly #until = new Map<string, number>();
  #loaded = false;
  #reading = 0;

  mayBeHeld(type: string, now: number): boolean {
    return !this.#loaded || (this.#until.get(type) ?? 0) > now;
  }

  note(type: string, until: number): void {
    this.#until.set(type, Math.max(until, this.#until.get(type) ?? 0));
  }

  /** Reads every hold again; meanwhile (and if it fails) every type may be held. */
  async reload(db: PostgresDatabase): Promise<void> {
    const reading = ++this.#reading;
    this.#loaded = false;
    const all = await buckets(db);
    if (reading !== this.#reading) return;
    for (const [type, bucket] of all) this.note(type, bucket.heldUntil);
    this.#loaded = true;
  }
}

const holdsOf = new WeakMap<PostgresDatabase, KnownHolds>();

/**
 * Keeps this node's knowledge of holds from the change feed (call once the feed is up). `stop` unsubscribes and waits
 * for a read in flight, so the pool can end after it.
 */
export function trackHolds(
  db: PostgresDatabase,
  subscribe: (listener: StoreListener) => () => void,
  onError: (err: unknown) => void,
): { stop(): Promise<void> } {
  const holds = new KnownHolds();
  holdsOf.set(db, holds);
  let reading: Promise<void> = Promise.resolve();
  const reload = () => {
    reading = holds.reload(db).catch(onError);
  };
  const unsubscribe = subscribe((event) => {
    if (event.kind === 'rate_limit:held') holds.note(event.type, event.until);
    else if (event.kind === 'feed:resumed') reload();
  });
  reload();
  return {
    stop: async () => {
      unsubscribe();
      await reading;
    },
  };
}

export interface Taken {
  readonly types: readonly TypeLimit[];
  /** The buckets' time the tokens were taken at: the claim's `now` from then on (its operations' started_at). */
  readonly at: number;
  /** Gives back what the claim did not use; returns when to come back for a type whose bucket bound it (undefined: none). */
  settle(startedByType: ReadonlyMap<string, number>): Promise<number | undefined>;
}

/** Takes tokens for a claim: each type's limit capped by its bucket and hold. A type with no row and no limit passes as asked. */
export async function takeTokens(db: PostgresDatabase, params: ClaimParams, asked: readonly TypeLimit[]): Promise<Taken> {
  const holds = holdsOf.get(db);
  const types = asked.filter((t) => (t.rateLimit ?? null) !== null || holds === undefined || holds.mayBeHeld(t.type, params.now));
  if (types.length === 0) return { types: asked, at: params.now, settle: async () => undefined };
  await ensureBuckets(db, types, params.now);
  const wanted = types.map((t) => Math.min(t.limit, params.limit));
  // The buckets' time: the clock's reading once a connection is held, not `now` (read before the wait for one).
  let at = params.now;
  const rows = await db.queryWhenConnected<TakenRow>(TAKE_TOKENS, () => {
    at = Math.max(params.now, params.clock?.() ?? params.now);
    return [
      at,
      types.map((t) => t.type),
      wanted,
      types.map((t) => t.rateLimit?.limit ?? 0),
      types.map((t) => (t.rateLimit === null || t.rateLimit === undefined ? 1 : t.rateLimit.intervalS * 1000)),
    ];
  });
  const byType = new Map(rows.map((r) => [r.type, r]));
  const short = new Map<string, { granted: number; nextAt: number }>();
  const capped = asked.map((t): TypeLimit => {
    const row = byType.get(t.type);
    if (row === undefined) return t;
    const bucket: Bucket = { tokens: row.tokens, updatedAt: row.updated_at, heldUntil: row.held_until };
    const nextAt = nextTokenAt(bucket, t.rateLimit ?? null, at);
    if (row.granted < Math.min(t.limit, params.limit) && nextAt !== null) short.set(t.type, { granted: row.granted, nextAt });
    return { ...t, limit: row.granted };
  });
  return {
    types: capped,
    at,
    settle: async (started) => {
      const back = capped.filter((t) => (t.rateLimit ?? null) !== null && byType.has(t.type) && t.limit > (started.get(t.type) ?? 0));
      if (back.length > 0) {
        await db.query(GIVE_BACK, [back.map((t) => t.type), back.map((t) => t.limit - (started.get(t.type) ?? 0)), back.map((t) => t.rateLimit!.limit)]);
      }
      return boundUntil(short, started);
    },
  };
}

async function ensureBuckets(db: PostgresDatabase, types: readonly TypeLimit[], now: number): Promise<void> {
  const known = ensured.get(db) ?? ensured.set(db, new Set()).get(db)!;
  const missing = types.filter((t) => t.rateLimit !== null && t.rateLimit !== undefined && !known.has(t.type));
  if (missing.length === 0) return;
  await db.query(ENSURE_BUCKETS, [missing.map((t) => t.type), missing.map((t) => t.rateLimit!.limit), now]);
  for (const t of missing) known.add(t.type);
}

/** Sets a hold and announces it to every node (their claims skip the bucket statement for types they know unheld). */
export async function hold(db: PostgresDatabase, params: RateLimitHoldParams): Promise<void> {
  await db.query(HOLD, [params.type, params.until, params.now]);
  db.publish([{ kind: 'rate_limit:held', type: params.type, until: params.until }]);
}

export async function buckets(q: Queryable): Promise<Map<string, Bucket>> {
  const rows = await q.query<{ type: string; tokens: number; updated_at: number; held_until: number }>(BUCKETS);
  return new Map(rows.map((r) => [r.type, { tokens: r.tokens, updatedAt: r.updated_at, heldUntil: r.held_until }]));
}
