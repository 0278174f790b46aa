// Owns: the execution rate limit of a task type as a token bucket (refill, take, when the next token comes), the hold a
// handler's RateLimitedError puts on its type, and what both do to when a queued operation can start (for the ETA).
// Not here: where the bucket is kept and locked (store/*/rate-limits.ts), who takes tokens (runtime/worker-pool.ts).
// Invariant: a bucket holds at most `limit` tokens and refills `limit` per `intervalS`; a start takes a whole token, so
// over any t seconds a type starts at most limit + limit·t/intervalS times, on all nodes together.

/** At most `limit` starts per `intervalS` seconds (a burst of up to `limit` after a quiet spell). */
export interface RateLimit {
  readonly limit: number;
  readonly intervalS: number;
}

/** A type's bucket as stored: tokens at `updatedAt`, and a hold (no starts before `heldUntil`, 0: none). */
export interface Bucket {
  readonly tokens: number;
  readonly updatedAt: number;
  readonly heldUntil: number;
}

/** The longest a RateLimitedError holds its type back; a longer retryAfterS is cut to this. */
export const MAX_HOLD_S = 3600;
/** A RateLimitedError that names no (valid) retryAfterS holds this long. */
export const DEFAULT_HOLD_S = 1;
/**
 * How long after its creation an operation's RateLimitedError is free: past this, each one counts as a failed attempt
 * (code rate_limited, retried as any failure is), so a handler that throws it forever ends failed after its attempts.
 */
export const RATE_LIMITED_FREE_S = 24 * 3600;
/** Tokens are fractions; a sum of them that should be whole may come out a hair below it. */
const EPSILON = 1e-9;

/** The most starts a rate limit may allow in its interval: the stores keep it as a 32-bit integer. */
export const MAX_RATE_LIMIT = 1_000_000;

/** Throws a TypeError naming what is wrong with a declared rate limit (`where`: who declares it, for the message). */
export function checkRateLimit(where: string, rateLimit: unknown): void {
  const r = rateLimit as Partial<RateLimit> | null;
  if (typeof r !== 'object' || r === null) throw new TypeError(`${where}: rateLimit must be { limit, intervalS }`);
  if (!(Number.isInteger(r.limit) && (r.limit as number) >= 1 && (r.limit as number) <= MAX_RATE_LIMIT)) {
    throw new TypeError(`${where}: rateLimit.limit must be a positive integer up to ${MAX_RATE_LIMIT}, not ${String(r.limit)}`);
  }
  if (!(typeof r.intervalS === 'number' && Number.isFinite(r.intervalS) && r.intervalS > 0 && r.intervalS <= 86_400)) {
    throw new TypeError(`${where}: rateLimit.intervalS must be a number of seconds in (0, 86400], not ${String(r.intervalS)}`);
  }
}

/** Milliseconds between two tokens. */
export function tokenIntervalMs(rate: RateLimit): number {
  return (rate.intervalS * 1000) / rate.limit;
}

/** A bucket never seen before: full. */
export function fullBucket(rate: RateLimit, now: number): Bucket {
  return { tokens: rate.limit, updatedAt: now, heldUntil: 0 };
}

/** The bucket as of `now`: refilled for the time since it was stored (none for a clock behind it), at most full. */
export function refill(bucket: Bucket, rate: RateLimit, now: number): Bucket {
  const elapsed = Math.max(0, now - bucket.updatedAt);
  const tokens = Math.min(rate.limit, bucket.tokens + elapsed / tokenIntervalMs(rate));
  return { tokens, updatedAt: Math.max(now, bucket.updatedAt), heldUntil: bucket.heldUntil };
}

export interface Take {
  /** How many starts it may make now (whole tokens taken). */
  readonly granted: number;
  /** The bucket to store. */
  readonly bucket: Bucket;
  /** When the next token is there (or the hold ends); null when one is there now. */
  readonly nextAt: number | null;
}

/** Takes up to `wanted` whole tokens at `now`; none while the type is held. `rate` null: a type with no limit (holds only). */
export function take(bucket: Bucket, rate: RateLimit | null, wanted: number, now: number): Take {
  if (bucket.heldUntil > now) return { granted: 0, bucket, nextAt: bucket.heldUntil };
  if (rate === null) return { granted: Math.max(0, wanted), bucket, nextAt: null };
  const refilled = refill(bucket, rate, now);
  const granted = Math.max(0, Math.min(wanted, Math.floor(refilled.tokens + EPSILON)));
  const after = { ...refilled, tokens: refilled.tokens - granted };
  return { granted, bucket: after, nextAt: nextTokenAt(after, rate, now) };
}

/** Gives back tokens taken and not used (a claim found fewer operations than it took tokens for). */
export function giveBack(bucket: Bucket, rate: RateLimit, unused: number): Bucket {
  return { ...bucket, tokens: Math.min(rate.limit, bucket.tokens + Math.max(0, unused)) };
}

/** When a whole token is there (or the hold ends): null when one is there at `now`. */
export function nextTokenAt(bucket: Bucket, rate: RateLimit | null, now: number): number | null {
  if (bucket.heldUntil > now) return bucket.heldUntil;
  if (rate === null) return null;
  const refilled = refill(bucket, rate, now);
  if (refilled.tokens + EPSILON >= 1) return null;
  return now + Math.ceil((1 - refilled.tokens) * tokenIntervalMs(rate));
}

/** The hold a RateLimitedError asks for, in ms: its retryAfterS, or DEFAULT_HOLD_S when it is not a number ≥ 0, at most MAX_HOLD_S. */
export function holdMs(retryAfterS: unknown): number {
  const s = typeof retryAfterS === 'number' && Number.isFinite(retryAfterS) && retryAfterS >= 0 ? retryAfterS : DEFAULT_HOLD_S;
  return Math.round(Math.min(s, MAX_HOLD_S) * 1000);
}

/** Whether a RateLimitedError of an operation created at `createdAt` uses up an attempt (see RATE_LIMITED_FREE_S). */
export function rateLimitedCountsAttempt(createdAt: number, now: number): boolean {
  return now - createdAt >= RATE_LIMITED_FREE_S * 1000;
}

/**
 * The earliest a queued operation can start under its type's rate limit and hold: the `ahead` operations of its type
 * start before it, each on a token, so it takes the (ahead+1)-th token from now, which comes after the tokens in the
 * bucket are spent and the rest refill one per interval. Exact for the bucket; the slots are played apart (eta-queue.ts)
 * and the later of the two is the start, which is exact when one of them binds throughout.
 */
export function rateLimitedStart(bucket: Bucket | null, rate: RateLimit | null, ahead: number, now: number): number {
  const from = Math.max(now, bucket?.heldUntil ?? 0);
  if (rate === null) return from;
  const tokens = bucket === null ? rate.limit : refill(bucket, rate, from).tokens;
  const missing = ahead + 1 - Math.floor(tokens + EPSILON);
  if (missing <= 0) return from;
  // The first missing token comes when the fraction in the bucket has grown to a whole one; the rest, one per interval.
  const fraction = tokens - Math.floor(tokens + EPSILON);
  return from + Math.max(0, (missing - fraction) * tokenIntervalMs(rate));
}

/** How many of each type a claim started. */
export function countByType(claimed: readonly { readonly type: string }[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const op of claimed) counts.set(op.type, (counts.get(op.type) ?? 0) + 1);
  return counts;
}

/** When to come back for the types whose bucket bound a claim (it started every token it got): the earliest next token. */
export function boundUntil(short: ReadonlyMap<string, { granted: number; nextAt: number }>, started: ReadonlyMap<string, number>): number | undefined {
  let until: number | undefined;
  for (const [type, { granted, nextAt }] of short) if ((started.get(type) ?? 0) >= granted) until = Math.min(until ?? Infinity, nextAt);
  return until;
}
