// Owns: contract cases for execution rate limits: a claim starts no more than its type's bucket holds (also when claims
// race), gives back what it did not use, says when to come back; holds; a rate-limited release.
// Not here: the bucket arithmetic (test/domain/rate-limit.test.ts), the runtime's use of it (test/e2e/rate-limits*.ts).
// Invariant: uses only the Store interface; time passes through `now`.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CurrentStore } from './contract.ts';
import type { Store } from '../../src/store/store.ts';
import type { RateLimit } from '../../src/domain/rate-limit.ts';
import { draft, LEASE_MS, noDelivery, T0 } from './fixtures.ts';

const THREE_PER_S: RateLimit = { limit: 3, intervalS: 1 };

let types = 0;
function freshType(): string {
  types += 1;
  return `limited-${types}`;
}

async function insertMany(store: Store, type: string, n: number, now = T0): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const d = draft({ type, now, runAt: now });
    await store.operationInsert(d);
    ids.push(d.id);
  }
  return ids;
}

function claimOf(store: Store, type: string, now: number, limit = 10, rateLimit: RateLimit | null = THREE_PER_S, workerId = 'w1') {
  return store.operationClaimDue({ now, workerId, leaseMs: LEASE_MS, types: [{ type, limit, rateLimit }], limit });
}

export function rateLimitContract(store: CurrentStore): void {
  describe('rate limits', () => {
    it('a claim starts at most what the bucket holds, and says when the next token comes', async () => {
      const type = freshType();
      await insertMany(store(), type, 5);
      const first = await claimOf(store(), type, T0);
      assert.equal(first.length, 3);
      assert.equal(first.rateLimitedUntil, T0 + 334);
      const early = await claimOf(store(), type, T0 + 300);
      assert.equal(early.length, 0);
      assert.equal(early.rateLimitedUntil, T0 + 334);
      const next = await claimOf(store(), type, T0 + 334);
      assert.equal(next.length, 1);
      // A type with no limit beside it is not held back.
      const other = freshType();
      await insertMany(store(), other, 4, T0 + 334);
      const free = await store().operationClaimDue({ now: T0 + 334, workerId: 'w1', leaseMs: LEASE_MS, types: [{ type: other, limit: 10 }], limit: 10 });
      assert.equal(free.length, 4);
      assert.equal(free.rateLimitedUntil, undefined);
    });

    it('gives back the tokens a claim did not use, and names no time when the queue ran out first', async () => {
      const type = freshType();
      await insertMany(store(), type, 2);
      const first = await claimOf(store(), type, T0);
      assert.equal(first.length, 2);
      assert.equal(first.rateLimitedUntil, undefined);
      await insertMany(store(), type, 3);
      assert.equal((await claimOf(store(), type, T0)).length, 1);
      const buckets = await store().rateLimitBuckets();
      assert.ok(Math.abs((buckets.get(type)?.tokens ?? -1) - 0) < 1e-9);
    });

    it('racing claimers together never start more than the bucket holds', async () => {
      const type = freshType();
      await insertMany(store(), type, 12);
      const claims = await Promise.all(['a', 'b', 'c', 'd'].map((w) => claimOf(store(), type, T0, 10, THREE_PER_S, w)));
      assert.equal(
        claims.reduce((sum, c) => sum + c.length, 0),
        3,
      );
      const later = await Promise.all(['a', 'b', 'c', 'd'].map((w) => claimOf(store(), type, T0 + 1000, 10, THREE_PER_S, w)));
      assert.equal(
        later.reduce((sum, c) => sum + c.length, 0),
        3,
      );
    });

    it('a hold stops claims of its type, with or without a rate limit, until it ends; a shorter one does not cut it', async () => {
      const type = freshType();
      await insertMany(store(), type, 2);
      await store().rateLimitHold({ type, until: T0 + 5000, now: T0 });
      await store().rateLimitHold({ type, until: T0 + 2000, now: T0 });
      assert.equal((await store().rateLimitBuckets()).get(type)?.heldUntil, T0 + 5000);
      for (const rateLimit of [null, THREE_PER_S]) {
        const held = await claimOf(store(), type, T0 + 4999, 10, rateLimit);
        assert.equal(held.length, 0);
        assert.equal(held.rateLimitedUntil, T0 + 5000);
      }
      assert.equal((await claimOf(store(), type, T0 + 5000, 10, null)).length, 2);
    });

    it('a rate-limited release keeps the attempt and sets run_at and the last error', async () => {
      const type = freshType();
      const [id] = await insertMany(store(), type, 1);
      const [claimed] = await claimOf(store(), type, T0, 1, null);
      const error = { code: 'rate_limited', message: 'slow down' };
      const released = await store().operationRelease({
        id: id!,
        leaseToken: claimed!.leaseToken!,
        now: T0 + 10,
        runAt: T0 + 3000,
        error,
        delivery: noDelivery,
      });
      assert.equal(released?.status, 'pending');
      assert.equal(released?.attempt, 1);
      assert.equal(released?.runAt, T0 + 3000);
      assert.deepEqual(released?.error, error);
      assert.equal((await claimOf(store(), type, T0 + 2999, 1, null)).length, 0);
      assert.equal((await claimOf(store(), type, T0 + 3000, 1, null)).length, 1);
    });
  });
}
