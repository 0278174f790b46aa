// Owns: the SQLite rate-limit buckets: a claim's per-type limits capped by the tokens each type's bucket holds (and its
// hold), taken inside the claim's transaction and the unused ones given back there; holds; reading the buckets.
// Not here: the bucket arithmetic (domain/rate-limit.ts), choosing the candidates (transitions.ts).
// Invariant: tokens are taken and given back in the claim's own transaction, so a start is never without its token.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { boundUntil, fullBucket, giveBack, take, type Bucket, type RateLimit } from '../../domain/rate-limit.ts';
import type { ClaimParams, RateLimitHoldParams, TypeLimit } from '../store.ts';
import { prepareAll } from './database.ts';

const STATEMENTS = {
  // $type
  get: `SELECT tokens, updated_at, held_until FROM rate_limits WHERE type = $type AND bucket_key = ''`,
  // $type $tokens $updatedAt $heldUntil
  put: `INSERT INTO rate_limits (type, bucket_key, tokens, updated_at, held_until) VALUES ($type, '', $tokens, $updatedAt, $heldUntil)
    ON CONFLICT (type, bucket_key) DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at, held_until = excluded.held_until`,
  // $type $until $now: a new row is a full bucket, held.
  hold: `INSERT INTO rate_limits (type, bucket_key, tokens, updated_at, held_until) VALUES ($type, '', $tokens, $now, $until)
    ON CONFLICT (type, bucket_key) DO UPDATE SET held_until = max(held_until, excluded.held_until)`,
  all: `SELECT type, tokens, updated_at, held_until FROM rate_limits WHERE bucket_key = ''`,
};

/** What a claim took from the buckets: the capped limits, and what to give back once it knows how many it started. */
export interface Taken {
  readonly types: readonly TypeLimit[];
  /**
   * Gives back the tokens of each type that its claim did not use (call in the same transaction), and returns when the
   * next token comes (or a hold ends) for a type whose bucket held back what it could have started; undefined: none did.
   */
  settle(startedByType: ReadonlyMap<string, number>): number | undefined;
}

export class SqliteRateLimits {
  readonly #s: Record<keyof typeof STATEMENTS, StatementSync>;

  constructor(db: DatabaseSync) {
    this.#s = prepareAll(db, STATEMENTS);
  }

  /** Caps each type's limit by its bucket (inside the claim's transaction); types with no limit and no row pass as asked. */
  take(params: ClaimParams): Taken {
    const taken = new Map<string, { bucket: Bucket; rate: RateLimit; granted: number }>();
    // Per type held back: its tokens granted, and when the next comes. It bound the claim only if it started them all.
    const short = new Map<string, { granted: number; nextAt: number }>();
    const types = params.types.map((t): TypeLimit => {
      const rate = t.rateLimit ?? null;
      if (t.limit <= 0) return t;
      const row = this.#s.get.get({ type: t.type });
      if (row === undefined && rate === null) return t;
      const stored = row === undefined ? fullBucket(rate!, params.now) : bucketOf(row);
      const result = take(stored, rate, Math.min(t.limit, params.limit), params.now);
      if (result.granted < Math.min(t.limit, params.limit) && result.nextAt !== null) short.set(t.type, { granted: result.granted, nextAt: result.nextAt });
      if (rate !== null) taken.set(t.type, { bucket: result.bucket, rate, granted: result.granted });
      return { ...t, limit: result.granted };
    });
    return {
      types,
      settle: (started) => {
        for (const [type, { bucket, rate, granted }] of taken) {
          const after = giveBack(bucket, rate, granted - (started.get(type) ?? 0));
          this.#s.put.run({ type, tokens: after.tokens, updatedAt: after.updatedAt, heldUntil: after.heldUntil });
        }
        return boundUntil(short, started);
      },
    };
  }

  hold(params: RateLimitHoldParams): void {
    // A full bucket for a new row: the limit is not known here, and the claim caps it by the limit it declares.
    this.#s.hold.run({ type: params.type, until: params.until, now: params.now, tokens: Number.MAX_SAFE_INTEGER });
  }

  buckets(): Map<string, Bucket> {
    return new Map(this.#s.all.all().map((row) => [String(row['type']), bucketOf(row)]));
  }
}

function bucketOf(row: Record<string, unknown>): Bucket {
  return { tokens: Number(row['tokens']), updatedAt: Number(row['updated_at']), heldUntil: Number(row['held_until']) };
}
