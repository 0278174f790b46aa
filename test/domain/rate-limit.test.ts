import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  boundUntil,
  checkRateLimit,
  fullBucket,
  giveBack,
  holdMs,
  MAX_HOLD_S,
  nextTokenAt,
  rateLimitedStart,
  refill,
  take,
} from '../../src/domain/rate-limit.ts';
import { estimateCompletionRange, estimateDuration } from '../../src/domain/eta.ts';

const TEN_PER_S = { limit: 10, intervalS: 1 };

describe('rate limit: token bucket', () => {
  it('a new bucket is full: a burst of `limit`, then nothing until a token refills', () => {
    const first = take(fullBucket(TEN_PER_S, 0), TEN_PER_S, 25, 0);
    assert.equal(first.granted, 10);
    assert.equal(first.bucket.tokens, 0);
    assert.equal(first.nextAt, 100);
    const again = take(first.bucket, TEN_PER_S, 25, 50);
    assert.equal(again.granted, 0);
    assert.equal(again.nextAt, 100);
  });

  it('refills limit per interval, never past full, and not for a clock behind the bucket', () => {
    const empty = { tokens: 0, updatedAt: 1000, heldUntil: 0 };
    assert.equal(refill(empty, TEN_PER_S, 1250).tokens, 2.5);
    assert.equal(refill(empty, TEN_PER_S, 60_000).tokens, 10);
    assert.deepEqual(refill(empty, TEN_PER_S, 900), { tokens: 0, updatedAt: 1000, heldUntil: 0 });
  });

  it('takes whole tokens only, and keeps the fraction for later', () => {
    const t = take({ tokens: 0, updatedAt: 0, heldUntil: 0 }, TEN_PER_S, 5, 250);
    assert.equal(t.granted, 2);
    assert.ok(Math.abs(t.bucket.tokens - 0.5) < 1e-9);
    assert.equal(t.nextAt, 300);
  });

  it('over any stretch of t seconds starts at most limit + limit·t/interval', () => {
    let bucket = fullBucket(TEN_PER_S, 0);
    let started = 0;
    for (let now = 0; now <= 20_000; now += 7) {
      const t = take(bucket, TEN_PER_S, 3, now);
      started += t.granted;
      bucket = t.bucket;
    }
    assert.ok(started <= 10 + 200, `started ${started}`);
    assert.ok(started >= 200, `started ${started}`);
  });

  it('gives back unused tokens, at most to full', () => {
    assert.equal(giveBack({ tokens: 3, updatedAt: 0, heldUntil: 0 }, TEN_PER_S, 4).tokens, 7);
    assert.equal(giveBack({ tokens: 9, updatedAt: 0, heldUntil: 0 }, TEN_PER_S, 4).tokens, 10);
  });

  it('a hold grants nothing until it ends, with or without a rate limit', () => {
    const held = { tokens: 10, updatedAt: 0, heldUntil: 5000 };
    assert.deepEqual(take(held, TEN_PER_S, 3, 1000), { granted: 0, bucket: held, nextAt: 5000 });
    assert.deepEqual(take(held, null, 3, 1000), { granted: 0, bucket: held, nextAt: 5000 });
    assert.equal(take(held, null, 3, 5000).granted, 3);
    assert.equal(nextTokenAt(held, null, 1000), 5000);
    assert.equal(nextTokenAt(held, null, 6000), null);
  });

  it('reports when a bound claim comes back: only for types that started every token they got', () => {
    const short = new Map([
      ['a', { granted: 2, nextAt: 300 }],
      ['b', { granted: 0, nextAt: 100 }],
    ]);
    assert.equal(boundUntil(short, new Map([['a', 2]])), 100);
    assert.equal(boundUntil(new Map([['a', { granted: 2, nextAt: 300 }]]), new Map([['a', 1]])), undefined);
  });
});

describe('rate limit: declared and thrown', () => {
  it('checks a declared rate limit', () => {
    checkRateLimit('t', { limit: 5, intervalS: 0.5 });
    assert.throws(() => checkRateLimit('t', { limit: 0, intervalS: 1 }), /limit must be a positive integer/);
    assert.throws(() => checkRateLimit('t', { limit: 1.5, intervalS: 1 }), /limit must be a positive integer/);
    // Past a 32-bit integer every claim on PostgreSQL failed, for every type of the node.
    checkRateLimit('t', { limit: 1_000_000, intervalS: 1 });
    assert.throws(() => checkRateLimit('t', { limit: 3e9, intervalS: 1 }), /limit must be a positive integer up to 1000000, not 3000000000/);
    assert.throws(() => checkRateLimit('t', { limit: 1, intervalS: 0 }), /intervalS/);
    assert.throws(() => checkRateLimit('t', { limit: 1 }), /intervalS/);
    assert.throws(() => checkRateLimit('t', 5), /rateLimit must be/);
  });

  it('a hold lasts retryAfterS, 1 s when it names none, at most MAX_HOLD_S', () => {
    assert.equal(holdMs(2.5), 2500);
    assert.equal(holdMs(undefined), 1000);
    assert.equal(holdMs(-1), 1000);
    assert.equal(holdMs(Number.NaN), 1000);
    assert.equal(holdMs(10 * MAX_HOLD_S), MAX_HOLD_S * 1000);
  });
});

describe('rate limit: when a queued operation can start', () => {
  it('takes the token after those of the operations ahead', () => {
    assert.equal(rateLimitedStart(null, TEN_PER_S, 9, 0), 0);
    assert.equal(rateLimitedStart(null, TEN_PER_S, 10, 0), 100);
    assert.equal(rateLimitedStart({ tokens: 2.5, updatedAt: 0, heldUntil: 0 }, TEN_PER_S, 4, 0), 250);
    assert.equal(rateLimitedStart({ tokens: 0, updatedAt: 0, heldUntil: 0 }, TEN_PER_S, 0, 0), 100);
  });

  it('waits for a hold to end first', () => {
    assert.equal(rateLimitedStart({ tokens: 0, updatedAt: 0, heldUntil: 3000 }, null, 5, 1000), 3000);
    // Held until 3 s, the bucket refilled meanwhile: full at 3 s, so the 11th in line takes the token at 3.1 s.
    assert.equal(rateLimitedStart({ tokens: 0, updatedAt: 0, heldUntil: 3000 }, TEN_PER_S, 10, 1000), 3100);
  });
});

describe('rate limit: in the ETA of a pending operation', () => {
  const base = {
    now: 0,
    status: 'pending' as const,
    runAt: 0,
    startedAt: null,
    progress: null,
    concurrency: 100,
    estimate: estimateDuration([], 10),
    type: 't',
  };

  it('starts after the tokens of those ahead, not when a slot frees', () => {
    const free = estimateCompletionRange({ ...base, queuePosition: 30 })!;
    assert.ok(free.at < 100, `without a rate limit: ${free.at}`);
    const limited = estimateCompletionRange({ ...base, queuePosition: 30, rateLimit: { rate: TEN_PER_S, bucket: null } })!;
    // A full bucket serves 10 now; the 31st token comes 2.1 s later; then its 10 ms run.
    assert.ok(Math.abs(limited.at - 2110) < 50, `with 10/s: ${limited.at}`);
  });

  it('waits out a hold', () => {
    const held = estimateCompletionRange({ ...base, queuePosition: 0, rateLimit: { rate: null, bucket: { tokens: 0, updatedAt: 0, heldUntil: 5000 } } })!;
    assert.ok(held.at >= 5000, `held: ${held.at}`);
  });
});
