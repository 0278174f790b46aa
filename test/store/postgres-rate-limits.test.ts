// Owns: PostgreSQL-only rate-limit checks across nodes (stores on one schema): a hold set on one node stops claims on
// another, which skips the bucket statement for types it knows unheld, and the holds come back after a restart; the
// buckets' time is the claimer's clock once a connection is held.
// Not here: the contract cases both adapters run (contract-rate-limits.ts).

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPostgresStore } from '../../src/store/postgres/postgres-store.ts';
import type { Store } from '../../src/store/store.ts';
import { dropSchema, PG_URL, postgresSkipReason, uniqueSchema } from '../support/postgres.ts';
import { draft, LEASE_MS, T0 } from './fixtures.ts';

const skip = await postgresSkipReason();

describe('PostgreSQL rate limits across nodes', { skip: skip ?? false }, () => {
  const schema = uniqueSchema();
  const open: Store[] = [];
  const node = async (): Promise<Store> => {
    const store = createPostgresStore({ url: PG_URL, schema, poolSize: 2 });
    await store.open();
    open.push(store);
    return store;
  };
  after(async () => {
    await Promise.all(open.map((s) => s.close()));
    await dropSchema(schema);
  });

  it("a hold set on one node stops another node's claims of the type once the feed tells it", async () => {
    const [a, b] = [await node(), await node()];
    const d = draft({ type: 'held-elsewhere' });
    await a.operationInsert(d);
    const heard = new Promise<void>((resolve) => {
      const stop = b.subscribe((event) => {
        if (event.kind === 'rate_limit:held' && event.type === 'held-elsewhere') resolve(stop());
      });
    });
    await a.rateLimitHold({ type: 'held-elsewhere', until: T0 + 60_000, now: T0 });
    // Node b hears of it on the change feed (a claim in the milliseconds before is as one made just before the hold).
    await heard;
    const claim = (store: Store, now: number) =>
      store.operationClaimDue({ now, workerId: 'w', leaseMs: LEASE_MS, types: [{ type: 'held-elsewhere', limit: 5 }], limit: 5 });
    const held = await claim(b, T0 + 1_000);
    assert.equal(held.rateLimitedUntil, T0 + 60_000);
    assert.equal(held.length, 0);
    // A node that starts later reads the holds from the table.
    const c = await node();
    assert.equal((await claim(c, T0 + 2_000)).length, 0);
    const after = await claim(c, T0 + 60_000);
    assert.deepEqual(
      after.map((op) => op.id),
      [d.id],
    );
  });

  it("takes tokens at the claimer's clock once a connection is held, not at the `now` it asked with", async () => {
    const store = await node();
    const type = 'late-claim';
    for (let i = 0; i < 6; i++) await store.operationInsert(draft({ type }));
    const rateLimit = { limit: 3, intervalS: 1 };
    const claim = (now: number, clock?: () => number) =>
      store.operationClaimDue({ now, clock, workerId: 'w', leaseMs: LEASE_MS, types: [{ type, limit: 10, rateLimit }], limit: 10 });
    assert.equal((await claim(T0)).length, 3, 'a full bucket');
    // Asked at T0, the claim got its connection a second later (the pool busy with creates): a second of tokens.
    const late = await claim(T0, () => T0 + 1_000);
    assert.equal(late.length, 3);
    assert.equal(late.rateLimitedUntil, T0 + 1_334, 'the next token after that second');
    assert.deepEqual(
      late.map((op) => op.startedAt),
      [T0 + 1_000, T0 + 1_000, T0 + 1_000],
      'started when the tokens were taken, on the buckets’ time line',
    );
  });
});
