// Owns: the store contract's fairness cases: turns between tenants (weighted) and between concurrency keys, the per-key
// limit of running operations (also under concurrent claims), the wake-up a keyed end announces, and fair positions
// checked against the reference model (domain/queue.ts: fairQueuePosition).
// Not here: the turns themselves (test/domain/fairness.test.ts), several processes or nodes (test/e2e/fairness.test.ts).
// Invariant: adapter-neutral, only the Store interface; time passes via `now`.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fairQueuePosition } from '../../src/domain/queue.ts';
import { ownTypeScope, type ClaimParams, type StoreEvent } from '../../src/store/store.ts';
import type { CurrentStore } from './contract.ts';
import { draft, LEASE_MS, noDelivery, T0 } from './fixtures.ts';

const TYPE = 'fair';
const SCOPE = ownTypeScope({ [TYPE]: 4 });

export function fairnessContract(store: CurrentStore): void {
  const claimSome = async (n: number, extra: Partial<ClaimParams> & { keyLimit?: number } = {}, workerId = 'w1') => [
    ...(await store().operationClaimDue({
      now: T0,
      workerId,
      leaseMs: LEASE_MS,
      types: [{ type: TYPE, limit: n, keyLimit: extra.keyLimit }],
      limit: n,
      tenantWeights: extra.tenantWeights,
    })),
  ];
  const insert = async (n: number, fields: Parameters<typeof draft>[0]) => {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const result = await store().operationInsert(draft({ type: TYPE, ...fields }));
      if (result.kind === 'created') ids.push(result.operation.id);
    }
    return ids;
  };

  describe('fairness between tenants', () => {
    it("starts a second tenant's one operation within one turn, not behind the first tenant's backlog", async () => {
      await insert(40, { tenant: 'a-tenant' });
      const [lone] = await insert(1, { tenant: 'b-tenant' });
      // Alone, a claim of a-tenant's takes no turns (no pass written); then b-tenant, new, goes first at the least pass.
      const order: string[] = [];
      for (let i = 0; i < 4; i++) for (const op of await claimSome(1)) order.push(op.tenant);
      assert.deepEqual(order, ['a-tenant', 'b-tenant', 'a-tenant', 'a-tenant']);
      assert.ok((await store().operationGetById(lone!))?.status === 'processing');
    });

    it('takes turns in one claim, and gives a tenant of weight 2 twice the turns', async () => {
      await insert(30, { tenant: 'heavy' });
      await insert(30, { tenant: 'light' });
      const claimed = await claimSome(12, { tenantWeights: new Map([['heavy', 2]]) });
      assert.deepEqual(claimed.map((op) => op.tenant).sort(), [...Array(8).fill('heavy'), ...Array(4).fill('light')]);
      const next = await claimSome(6, { tenantWeights: new Map([['heavy', 2]]) });
      assert.equal(next.filter((op) => op.tenant === 'heavy').length, 4, 'the passes carry over between claims');
    });

    it('keeps priority inside a tenant, not across tenants', async () => {
      await insert(5, { tenant: 'a-tenant', priority: 100 });
      const [low] = await insert(1, { tenant: 'b-tenant', priority: -5 });
      const [urgent] = await insert(1, { tenant: 'b-tenant', priority: 7 });
      const claimed = await claimSome(2);
      assert.deepEqual(claimed.map((op) => op.tenant).sort(), ['a-tenant', 'b-tenant']);
      assert.ok(
        claimed.some((op) => op.id === urgent),
        "b-tenant's own order is by priority",
      );
      assert.equal((await store().operationGetById(low!))?.status, 'pending');
    });

    it('reports positions that count the turns between tenants, as the reference model does', async () => {
      await insert(12, { tenant: 'a-tenant' });
      await insert(3, { tenant: 'b-tenant', runAt: T0 - 1 });
      await insert(2, { tenant: 'c-tenant', priority: 3 });
      await insert(1, { tenant: 'c-tenant', runAt: T0 + 60_000 });
      const pending = await Promise.all(['a-tenant', 'b-tenant', 'c-tenant'].map((tenant) => store().operationList({ tenant, status: 'pending', limit: 100 })));
      const all = pending.flat();
      for (const op of all) {
        const standing = await store().operationQueueStanding({ operation: op, now: T0, scope: SCOPE });
        assert.equal(standing?.position, fairQueuePosition(op, all, T0), `position of ${op.tenant}'s ${op.id}`);
        const read = await store().operationGetWithStanding({ id: op.id, tenant: op.tenant, now: T0, scope: SCOPE });
        assert.equal(read?.standing?.position, standing?.position, 'read with the operation, the same');
      }
      const lone = await store().operationInsert(draft({ type: TYPE, tenant: 'd-tenant' }), undefined, { standing: { scope: SCOPE } });
      assert.ok(lone.kind === 'created');
      assert.equal(lone.standing?.position, 3, 'one turn of each tenant with operations due, whatever their backlogs');
      assert.equal(lone.standing?.position, fairQueuePosition(lone.operation, [...all, lone.operation], T0));
    });

    for (const keyed of [false, true]) {
      it(`takes turns as if a tenant with nothing due were absent, and counts positions so (${keyed ? 'with' : 'without'} concurrency keys)`, async () => {
        const weights = new Map([['heavy', 2]]);
        const concurrencyKey = keyed ? 'k' : undefined;
        // 'early' takes a turn (its pass is stored), then has only an operation due in an hour: its pass stays put.
        await insert(1, { tenant: 'early', concurrencyKey });
        await insert(1, { tenant: 'heavy', concurrencyKey });
        assert.equal((await claimSome(2, { tenantWeights: weights })).length, 2);
        await insert(1, { tenant: 'early', concurrencyKey, runAt: T0 + 3_600_000 });
        await insert(30, { tenant: 'heavy', concurrencyKey });
        await insert(30, { tenant: 'light', concurrencyKey });
        const order: string[] = [];
        for (let i = 0; i < 12; i++) for (const op of await claimSome(1, { tenantWeights: weights })) order.push(op.tenant);
        assert.equal(order.filter((t) => t === 'light').length, 4, `weight 2 to 1 while 'early' waits: ${order.join(' ')}`);

        const pending = (await Promise.all(['heavy', 'light'].map((tenant) => store().operationList({ tenant, status: 'pending', limit: 100 })))).flat();
        const position = new Map<string, number>();
        for (const op of pending) {
          const standing = await store().operationQueueStanding({ operation: op, now: T0, scope: { ...SCOPE, tenantWeights: weights } });
          position.set(op.id, standing!.position!);
        }
        const next: string[] = [];
        for (let i = 0; i < 9; i++) for (const op of await claimSome(1, { tenantWeights: weights })) next.push(op.id);
        assert.deepEqual(
          next.map((id) => position.get(id)),
          [...next.keys()],
          'each of the next operations started where its position said',
        );
      });
    }

    for (const comeback of ['due again', 'new', 'pending again'] as const) {
      it(`lets a tenant ${comeback} after the others took turns join at their pass, banking no credit`, async () => {
        await insert(1, { tenant: 'c' });
        await insert(1, { tenant: 'd' });
        assert.equal((await claimSome(2)).length, 2);
        // c waits with nothing due (or nothing at all) while d takes twenty turns beside a third tenant's one.
        if (comeback === 'due again') await insert(1, { tenant: 'c', runAt: T0 + 3_600_000 });
        await insert(40, { tenant: 'd' });
        await insert(1, { tenant: 'e', runAt: T0 + 3_600_000 });
        for (let i = 0; i < 20; i++) assert.equal((await claimSome(1))[0]?.tenant, 'd');
        const back = comeback === 'new' ? 'b' : 'c';
        await insert(40, { tenant: back });
        const order: string[] = [];
        for (let i = 0; i < 10; i++) for (const op of await claimSome(1)) order.push(op.tenant);
        assert.deepEqual(order.filter((t) => t === 'd').length, 5, order.join(''));
      });
    }

    for (const keyed of [false, true]) {
      it(`serves a ${keyed ? 'key' : 'tenant'} back after a while within a turn in claims of one, first among equals, not after the others' backlogs`, async () => {
        // Tenants a, b and c, or keys a, b and c of one tenant: c, named last, loses every tie by name.
        const of = (name: string) => (keyed ? { tenant: 't', concurrencyKey: name } : { tenant: name });
        for (let i = 0; i < 30; i++) for (const name of ['a', 'b']) await insert(1, of(name));
        const one = async () => (await claimSome(1, { keyLimit: keyed ? 1_000 : undefined }))[0]!;
        await one();
        await one();
        await insert(1, of('c'));
        for (let i = 0; i < 6; i++) await one();
        const [back] = await insert(1, of('c'));
        for (let i = 0; i < 3; i++) await one();
        assert.equal((await store().operationGetById(back!))?.status, 'processing', 'started within a turn of each');
      });
    }

    it('takes turns between tenants named in any case, ordering names as bytes', async () => {
      // 'Zeta' < 'alpha' as bytes; a locale's order (ICU en-US) has them the other way round.
      await insert(3, { tenant: 'Zeta' });
      await insert(1, { tenant: 'alpha' });
      const all = (await Promise.all(['Zeta', 'alpha'].map((tenant) => store().operationList({ tenant, status: 'pending', limit: 100 })))).flat();
      for (const tenant of ['alpha', 'Zeta']) {
        const made = await store().operationInsert(draft({ type: TYPE, tenant }), undefined, { standing: { scope: SCOPE } });
        assert.ok(made.kind === 'created');
        assert.equal(made.standing?.position, fairQueuePosition(made.operation, [...all, made.operation], T0), `a new operation of ${tenant}`);
        all.push(made.operation);
      }
    });
  });

  describe('concurrency keys', () => {
    it('holds each key to its limit, takes turns between keys, and lets operations without a key run', async () => {
      await insert(5, { tenant: 't', concurrencyKey: 'k1' });
      await insert(2, { tenant: 't', concurrencyKey: 'k2' });
      await insert(1, { tenant: 't' });
      const first = await claimSome(10, { keyLimit: 2 });
      const byKey = (ops: readonly { concurrencyKey?: string | null | undefined }[]) =>
        ops.map((op) => op.concurrencyKey ?? '-').sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      assert.deepEqual(byKey(first), ['-', 'k1', 'k1', 'k2', 'k2']);
      assert.deepEqual(await claimSome(10, { keyLimit: 2 }), [], 'every key is at its limit');
      const events: StoreEvent[] = [];
      const stop = store().subscribe((event) => events.push(event));
      const k1 = first.find((op) => op.concurrencyKey === 'k1')!;
      await store().operationFinish({ id: k1.id, leaseToken: k1.leaseToken!, now: T0 + 5, status: 'completed', delivery: noDelivery });
      stop();
      assert.ok(
        events.some((e) => e.kind === 'operation:due' && e.type === TYPE),
        "the end of a keyed attempt wakes the workers of its type (its key's next may start)",
      );
      assert.deepEqual(byKey(await claimSome(10, { keyLimit: 2 })), ['k1']);
    });

    it('goes round the keys of a tenant one turn each', async () => {
      await insert(4, { tenant: 't', concurrencyKey: 'k1' });
      await insert(4, { tenant: 't', concurrencyKey: 'k2' });
      const order: string[] = [];
      for (let i = 0; i < 4; i++) for (const op of await claimSome(1, { keyLimit: 10 })) order.push(op.concurrencyKey!);
      assert.deepEqual(order, ['k1', 'k2', 'k1', 'k2']);
    });

    it('goes round the keys as if a key with nothing due were absent', async () => {
      await insert(1, { tenant: 't', concurrencyKey: 'a-early' });
      await insert(1, { tenant: 't', concurrencyKey: 'k1' });
      assert.equal((await claimSome(2)).length, 2);
      await insert(1, { tenant: 't', concurrencyKey: 'a-early', runAt: T0 + 3_600_000 });
      for (const key of ['k1', 'k2', 'k3', 'k4', 'k5', 'k6']) await insert(6, { tenant: 't', concurrencyKey: key });
      const turns = new Map<string, number>();
      for (let i = 0; i < 30; i++) for (const op of await claimSome(1)) turns.set(op.concurrencyKey!, (turns.get(op.concurrencyKey!) ?? 0) + 1);
      assert.deepEqual([...turns.values()].sort(), [5, 5, 5, 5, 5, 5], JSON.stringify(Object.fromEntries(turns)));
    });

    it("lets a key with nothing due again join at the other keys' pass, banking no credit", async () => {
      await insert(1, { tenant: 't', concurrencyKey: 'a-early' });
      await insert(1, { tenant: 't', concurrencyKey: 'k1' });
      assert.equal((await claimSome(2, { keyLimit: 100 })).length, 2);
      await insert(1, { tenant: 't', concurrencyKey: 'a-early', runAt: T0 + 3_600_000 });
      await insert(40, { tenant: 't', concurrencyKey: 'k1' });
      for (let i = 0; i < 20; i++) assert.equal((await claimSome(1, { keyLimit: 100 }))[0]?.concurrencyKey, 'k1');
      await insert(40, { tenant: 't', concurrencyKey: 'a-early' });
      const order: string[] = [];
      for (let i = 0; i < 10; i++) for (const op of await claimSome(1, { keyLimit: 100 })) order.push(op.concurrencyKey!);
      assert.equal(order.filter((k) => k === 'k1').length, 5, order.join(' '));
    });

    it("goes round a tenant's keys in a claim of several rounds, as in one of a single round", async () => {
      // a has one operation (weight 3): it drops out after the first round, and b's keys take the rest in later rounds.
      await insert(1, { tenant: 'a' });
      for (const key of ['k1', 'k2']) await insert(3, { tenant: 'b', concurrencyKey: key });
      const claimed = await claimSome(3, { keyLimit: 5, tenantWeights: new Map([['a', 3]]) });
      assert.deepEqual(claimed.map((op) => `${op.tenant}/${op.concurrencyKey ?? ''}`).sort(), ['a/', 'b/k1', 'b/k2']);
    });

    it('never lets concurrent claims run more of a key than its limit', async () => {
      await insert(12, { tenant: 't', concurrencyKey: 'acct' });
      await insert(12, { tenant: 'u', concurrencyKey: 'acct' });
      const claims = await Promise.all(Array.from({ length: 6 }, (_, i) => claimSome(4, { keyLimit: 2 }, `w${i}`)));
      const claimed = claims.flat();
      assert.ok(claimed.filter((op) => op.tenant === 't').length <= 2, 'at most 2 of t:acct');
      assert.ok(claimed.filter((op) => op.tenant === 'u').length <= 2, "at most 2 of u:acct (a key is the tenant's own)");
      // Once the claims are settled every key is full: whatever lost a race takes its place now.
      const after = [...claimed, ...(await claimSome(8, { keyLimit: 2 }))];
      assert.equal(after.filter((op) => op.tenant === 't').length, 2);
      assert.equal(after.filter((op) => op.tenant === 'u').length, 2);
    });
  });
}
