import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RateLimitedError } from '../../src/domain/errors.ts';
import { RATE_LIMITED_FREE_S } from '../../src/domain/rate-limit.ts';
import type { AttemptEnd } from '../../src/runtime/attempt.ts';
import { defineTask } from '../../src/runtime/task.ts';
import type { Store } from '../../src/store/store.ts';
import { waitFor } from '../support/wait.ts';
import { openStore, settled, startPool, submit } from '../support/worker-pool.ts';

/** The store, counting its claims. */
function counting(store: Store): { store: Store; claims: () => number } {
  let claims = 0;
  const wrapped = new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (key !== 'operationClaimDue') return typeof value === 'function' ? value.bind(target) : value;
      return (...args: Parameters<Store['operationClaimDue']>) => {
        claims++;
        return target.operationClaimDue(...args);
      };
    },
  });
  return { store: wrapped, claims: () => claims };
}

describe('worker pool: rate limits', () => {
  it('starts a rate-limited type at its rate, waking when a token is due rather than polling or spinning', async (t) => {
    const { store, claims } = counting(await openStore(t));
    const starts: number[] = [];
    // 2 per 200 ms: a burst of 2, then one every 100 ms. The fallback poll is far away: only token wake-ups drive it.
    startPool(t, store, [defineTask({ type: 'paced', rateLimit: { limit: 2, intervalS: 0.2 }, run: () => void starts.push(Date.now()) })], {
      pollMs: 60_000,
      concurrency: 8,
    });
    const ops = [];
    for (let i = 0; i < 8; i++) ops.push(await submit(store, 'paced'));
    for (const op of ops) assert.equal((await settled(store, op.id, 5_000)).status, 'completed');
    const span = starts.at(-1)! - starts[0]!;
    // 8 starts: 2 at once, then 6 at 100 ms apart.
    assert.ok(span >= 550, `8 starts spread over ${span} ms`);
    // Far under the 60 s poll however loaded the machine: each token was waited for, not the poll.
    assert.ok(span < 10_000, `8 starts spread over ${span} ms: each token was waited for, not the poll`);
    assert.ok(claims() < 40, `${claims()} claims for 8 operations`);
  });

  it('RateLimitedError gives the operation back uncounted and holds its type', async (t) => {
    const store = await openStore(t);
    let runs = 0;
    const ends: AttemptEnd[] = [];
    const pool = startPool(t, store, [
      defineTask({
        type: 'callout',
        run: () => {
          runs++;
          if (runs === 1) throw new RateLimitedError({ retryAfterS: 0.3 });
          return { runs };
        },
      }),
    ]);
    pool.on('operation:finished', (end) => ends.push(end));
    const before = Date.now();
    const op = await submit(store, 'callout');
    const done = await settled(store, op.id);
    assert.equal(done.status, 'completed');
    assert.equal(done.attempt, 1);
    assert.deepEqual(
      ends.map((e) => e.outcome),
      ['rate_limited', 'completed'],
    );
    assert.equal(ends[0]!.operation?.runAt !== undefined && ends[0]!.operation.runAt - before >= 300, true);
    assert.ok((await store.rateLimitBuckets()).get('callout')!.heldUntil >= before + 300);
    assert.equal(pool.stats().ended.rate_limited, 1);
  });

  it(`past ${RATE_LIMITED_FREE_S / 3600} h after its creation, a RateLimitedError counts as a failed attempt`, async (t) => {
    const store = await openStore(t);
    startPool(t, store, [
      defineTask({
        type: 'refused',
        maxAttempts: 2,
        run: () => {
          // Without a message: stored as its name, as any error without one is (and as on a worker thread).
          throw new RateLimitedError({ retryAfterS: 0, message: '' });
        },
      }),
    ]);
    const old = Date.now() - (RATE_LIMITED_FREE_S + 60) * 1000;
    const op = await submit(store, 'refused', {}, { maxAttempts: 2 }, old);
    const done = await waitFor(async () => {
      const current = await store.operationGetById(op.id);
      return current?.status === 'failed' ? current : null;
    });
    assert.equal(done.attempt, 2);
    assert.deepEqual(done.error, { code: 'rate_limited', message: 'RateLimitedError (without a message)' });
  });
});
