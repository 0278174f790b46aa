// Owns: contract cases for where a pending operation stands: operationQueueStanding and operationGetWithStanding, and a
// seeded random walk through every transition that checks each position, and the pending counts the adapter keeps,
// against the domain's reference model (domain/queue.ts). Not here: the ETA made from a standing (test/domain/eta.test.ts).
// Invariant: uses only the Store interface, and the adapter's probe of its pending counts.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aheadOfType, pendingCounts, queuePosition } from '../../src/domain/queue.ts';
import { KEY_AHEAD_COUNTED, ownTypeScope, type OperationDraft, type StandingScope, type Store } from '../../src/store/store.ts';
import type { CurrentStore } from './contract.ts';
import { claim, draft, insertInState, LEASE_MS, noDelivery, T0, TENANT } from './fixtures.ts';
import { seededRandom } from '../support/seeded-random.ts';

const NO_RUNNING = ownTypeScope();

/** A draft as the pending operation its insert makes. */
const pending = (d: OperationDraft) => ({ ...d, status: 'pending' as const });

/** `keptCounts`: the pending counts per type as the adapter keeps them. */
export function queueStandingContract(store: CurrentStore, keptCounts: (store: Store) => Promise<Map<string, number>>): void {
  describe('operationQueueStanding', () => {
    it('counts runnable pending operations of the same type ahead in claim order', async () => {
      const first = draft({ priority: 1 });
      const second = draft({ priority: 0, runAt: T0 - 50 });
      const third = draft({ priority: 0, runAt: T0 - 50 });
      const notYet = draft({ priority: 9, runAt: T0 + 1_000 });
      const otherType = draft({ type: 'other', priority: 9 });
      for (const d of [first, second, third, notYet, otherType]) await store().operationInsert(d);
      const position = async (d: OperationDraft, now = T0) =>
        (await store().operationQueueStanding({ operation: pending(d), now, scope: NO_RUNNING }))?.position;
      assert.equal(await position(first), 0);
      assert.equal(await position(second), 1);
      assert.equal(await position(third), 2);
      assert.equal(await position(notYet), 0, 'operations not yet due are not ahead of anyone');
      assert.equal(await position(third, T0 + 1_000), 3, 'once due, a higher priority runs first');
      assert.equal(await position(otherType), 0);
    });

    it('is exact deep in a long queue, at its tail, and behind operations that are not due yet', async () => {
      const queue = Array.from({ length: 400 }, (_, i) => draft({ type: 'deep', runAt: T0 + i }));
      const urgent = Array.from({ length: 3 }, () => draft({ type: 'deep', priority: 5, runAt: T0 + 10 }));
      const later = Array.from({ length: 5 }, () => draft({ type: 'deep', priority: 5, runAt: T0 + 10_000 }));
      for (const d of [...queue, ...urgent, ...later]) await store().operationInsert(d);
      const now = T0 + 1_000;
      for (const fromTail of [false, true]) {
        const position = async (d: OperationDraft) =>
          (await store().operationQueueStanding({ operation: pending(d), now, scope: NO_RUNNING, fromTail }))?.position;
        assert.equal(await position(queue[0]!), 3, 'behind the three urgent ones');
        assert.equal(await position(queue[200]!), 203);
        assert.equal(await position(queue[399]!), 402, 'the tail');
        assert.equal(await position(later[0]!), 3, 'not due yet: ahead of it are the due ones of its priority and above');
      }
    });

    it('lists the running attempts of its type, earliest started first, with their progress, up to the limit', async () => {
      const a = draft({ type: 'eta' });
      const b = draft({ type: 'eta' });
      const c = draft({ type: 'eta' });
      const waiting = draft({ type: 'eta' });
      const other = draft({ type: 'other' });
      for (const d of [a, b, c, waiting, other]) await store().operationInsert(d);
      const first = await claim(store(), a, T0);
      await claim(store(), b, T0 + 10);
      await claim(store(), c, T0 + 20);
      await claim(store(), other, T0 + 5);
      await store().operationProgress({ id: a.id, leaseToken: first.leaseToken, now: T0 + 30, progress: 0.5, message: null });
      assert.deepEqual(await store().operationQueueStanding({ operation: pending(waiting), now: T0 + 40, scope: ownTypeScope({ eta: 2 }) }), {
        position: 0,
        running: [
          { type: 'eta', startedAt: T0, progress: 0.5, progressAt: T0 + 30, cost: null, anchor: null },
          { type: 'eta', startedAt: T0 + 10, progress: null, progressAt: T0 + 10, cost: null, anchor: null },
        ],
      });
      assert.equal((await store().operationQueueStanding({ operation: pending(waiting), now: T0 + 40, scope: ownTypeScope({ eta: 10 }) }))?.running.length, 3);
      assert.deepEqual((await store().operationQueueStanding({ operation: pending(waiting), now: T0 + 40, scope: NO_RUNNING }))?.running, []);
    });

    it('with a shared scope, lists the running attempts of every type and counts the other types ahead of it in claim order', async () => {
      const scope: StandingScope = {
        runningLimits: new Map([
          ['mix-a', 2],
          ['mix-b', 2],
          ['mix-c', 0],
        ]),
        shared: true,
        costsAhead: new Map(),
      };
      const runningB = draft({ type: 'mix-b', cost: 4 });
      await store().operationInsert(runningB);
      await claim(store(), runningB, T0 + 1);
      const aheadB = [draft({ type: 'mix-b', runAt: T0 - 20 }), draft({ type: 'mix-b', priority: 3, runAt: T0 + 5 })];
      const notDueB = draft({ type: 'mix-b', priority: 3, runAt: T0 + 5_000 });
      const behindB = draft({ type: 'mix-b', runAt: T0 + 10 });
      const waiting = draft({ type: 'mix-a', runAt: T0 });
      const ignoredC = draft({ type: 'mix-c', runAt: T0 - 50 });
      for (const d of [...aheadB, notDueB, behindB, waiting, ignoredC]) await store().operationInsert(d);
      for (const fromTail of [false, true]) {
        const standing = await store().operationQueueStanding({ operation: pending(waiting), now: T0 + 20, scope, fromTail });
        assert.equal(standing?.position, 0);
        assert.deepEqual(standing?.running, [{ type: 'mix-b', startedAt: T0 + 1, progress: null, progressAt: T0 + 1, cost: 4, anchor: null }]);
        assert.deepEqual(standing?.aheadOfOtherTypes, { 'mix-b': 2 }, 'due and before it in claim order; a type without slots is not read');
      }
      const read = await store().operationGetWithStanding({ id: waiting.id, tenant: TENANT, now: T0 + 20, scope });
      assert.deepEqual(read?.standing?.aheadOfOtherTypes, { 'mix-b': 2 });
      const alone = await store().operationQueueStanding({ operation: pending(waiting), now: T0 + 20, scope: { ...scope, shared: false } });
      assert.deepEqual(alone, { position: 0, running: [] }, 'not shared: its own type only');
    });

    it('reads the declared costs of the operations of its type ahead of it, nearest first, as many as the scope asks', async () => {
      const costs = [5, 1, 7, 3];
      const ahead = costs.map((cost, i) => draft({ type: 'sized', cost, runAt: T0 - 100 + i }));
      const urgent = draft({ type: 'sized', cost: 9, priority: 2, runAt: T0 - 1 });
      const unsized = draft({ type: 'sized', runAt: T0 - 10 });
      const waiting = draft({ type: 'sized', cost: 2, runAt: T0 });
      for (const d of [...ahead, urgent, unsized, waiting]) await store().operationInsert(d);
      assert.equal((await store().operationGet({ id: waiting.id, tenant: TENANT }))?.cost, 2);
      assert.equal((await store().operationGet({ id: unsized.id, tenant: TENANT }))?.cost, null);
      const scopeOf = (n: number): StandingScope => ({ runningLimits: new Map(), shared: false, costsAhead: new Map([['sized', n]]) });
      for (const fromTail of [false, true]) {
        const standing = await store().operationQueueStanding({ operation: pending(waiting), now: T0, scope: scopeOf(10), fromTail });
        assert.equal(standing?.position, 6);
        assert.deepEqual(standing?.aheadCosts, [9, 5, 1, 7, 3, null], 'claim order: the higher priority first, at most its position');
      }
      const few = await store().operationQueueStanding({ operation: pending(waiting), now: T0, scope: scopeOf(3) });
      assert.deepEqual(few?.aheadCosts, [9, 5, 1]);
      const read = await store().operationGetWithStanding({ id: waiting.id, tenant: TENANT, now: T0, scope: scopeOf(2) });
      assert.deepEqual(read?.standing?.aheadCosts, [9, 5]);
      const first = await store().operationQueueStanding({ operation: pending(urgent), now: T0, scope: scopeOf(10) });
      assert.equal(first?.aheadCosts, undefined, 'nothing ahead, nothing read');
      // The cost goes with the operation into its duration sample.
      const { leaseToken } = await claim(store(), urgent, T0);
      await store().operationFinish({ id: urgent.id, leaseToken, now: T0 + 900, status: 'completed', delivery: noDelivery });
      assert.deepEqual((await store().durationSamples({ limit: 5 })).get('sized'), [{ durationMs: 900, cost: 9 }]);
    });

    it("reads its concurrency key's queue: the key's runnable operations ahead of it and running attempts, up to the key limit", async () => {
      const TYPE = 'keyed';
      const KEY = 'acct-1';
      const scopeOf = (keyLimit: number): StandingScope => ({
        runningLimits: new Map([[TYPE, 8]]),
        shared: false,
        costsAhead: new Map(),
        keyLimits: new Map([[TYPE, keyLimit]]),
      });
      const keyed = (overrides: Partial<OperationDraft> = {}) => draft({ type: TYPE, concurrencyKey: KEY, ...overrides });
      // Running, claimed one at a time: three of the key, one of another key, one of another tenant's key of the same name.
      const runningOfKey = [keyed(), keyed(), keyed()];
      const runningElsewhere = [keyed({ concurrencyKey: 'acct-2' }), keyed({ tenant: 'globex' })];
      for (const [i, d] of [...runningOfKey, ...runningElsewhere].entries()) {
        await store().operationInsert(d);
        await claim(store(), d, T0 + 1 + i);
      }
      const ahead = [keyed({ runAt: T0 - 10 }), keyed({ priority: 2, runAt: T0 + 5 })];
      const notDue = keyed({ priority: 2, runAt: T0 + 5_000 });
      const elsewhere = [
        keyed({ concurrencyKey: 'acct-2', runAt: T0 - 20 }),
        keyed({ tenant: 'globex', runAt: T0 - 20 }),
        draft({ type: TYPE, runAt: T0 - 30 }),
      ];
      const waiting = keyed({ runAt: T0 });
      const behind = keyed({ runAt: T0 + 10 });
      for (const d of [...ahead, notDue, ...elsewhere, waiting, behind]) await store().operationInsert(d);
      const now = T0 + 20;
      const runningRow = (i: number) => ({ type: TYPE, startedAt: T0 + 1 + i, progress: null, progressAt: T0 + 1 + i, cost: null, anchor: null });
      for (const fromTail of [false, true]) {
        const standing = await store().operationQueueStanding({ operation: pending(waiting), now, scope: scopeOf(2), fromTail });
        assert.deepEqual(standing?.key, { ahead: 2, running: [runningRow(0), runningRow(1)] }, 'its own key only, due ones, earliest running first');
      }
      const all = await store().operationQueueStanding({ operation: pending(waiting), now, scope: scopeOf(10) });
      assert.deepEqual(all?.key?.running, [runningRow(0), runningRow(1), runningRow(2)]);
      const read = await store().operationGetWithStanding({ id: waiting.id, tenant: TENANT, now, scope: scopeOf(2) });
      assert.deepEqual(read?.standing?.key, { ahead: 2, running: [runningRow(0), runningRow(1)] });
      const later = await store().operationQueueStanding({ operation: pending(notDue), now, scope: scopeOf(2) });
      assert.equal(later?.key?.ahead, 1, 'not due yet: ahead of it are the due ones of its key of its priority and above');
      assert.equal((await store().operationQueueStanding({ operation: pending(behind), now, scope: scopeOf(2) }))?.key?.ahead, 3);
      const first = await store().operationQueueStanding({ operation: pending(ahead[1]!), now, scope: scopeOf(2) });
      assert.equal(first?.key?.ahead, 0);
      const inserted = keyed({ runAt: T0 + 15, now });
      const result = await store().operationInsert(inserted, undefined, { standing: { scope: scopeOf(2) } });
      assert.deepEqual(
        result.kind === 'created' ? result.standing?.key : 'not created',
        { ahead: 4, running: [runningRow(0), runningRow(1)] },
        'behind all four of its key',
      );
      // Nothing more is read without a key, or without a key limit for its type.
      const plain = await store().operationQueueStanding({ operation: pending(elsewhere[2]!), now, scope: scopeOf(2) });
      assert.equal(plain !== null && 'key' in plain, false);
      const unlimited = await store().operationQueueStanding({ operation: pending(waiting), now, scope: { ...scopeOf(2), keyLimits: undefined } });
      assert.equal(unlimited !== null && 'key' in unlimited, false);
    });

    it(`counts at most ${KEY_AHEAD_COUNTED} of its key ahead of it, so a read does not cost a deep key's whole backlog`, async () => {
      const TYPE = 'deep';
      const scope: StandingScope = { runningLimits: new Map([[TYPE, 4]]), shared: false, costsAhead: new Map(), keyLimits: new Map([[TYPE, 1]]) };
      const ahead = Array.from({ length: KEY_AHEAD_COUNTED + 5 }, (_, i) => draft({ type: TYPE, concurrencyKey: 'deep-1', runAt: T0 - 100_000 + i }));
      for (let i = 0; i < ahead.length; i += 500) await Promise.all(ahead.slice(i, i + 500).map((d) => store().operationInsert(d)));
      const last = draft({ type: TYPE, concurrencyKey: 'deep-1', runAt: T0 });
      await store().operationInsert(last);
      const standing = await store().operationQueueStanding({ operation: pending(last), now: T0, scope });
      assert.equal(standing?.key?.ahead, KEY_AHEAD_COUNTED);
      assert.equal(standing?.position, KEY_AHEAD_COUNTED + 5, 'its place in the queue is still exact');
    });

    it('is null for an operation that is not pending', async () => {
      for (const status of ['processing', 'completed', 'cancelled'] as const) {
        const { op } = await insertInState(store(), status);
        assert.equal(await store().operationQueueStanding({ operation: op, now: T0, scope: ownTypeScope({ report: 5 }) }), null);
      }
    });
  });

  describe('operationInsert with its standing', () => {
    it('answers where each new operation stands, as operationQueueStanding would, when asked; nothing when not', async () => {
      const running = draft({ type: 'fresh' });
      await store().operationInsert(running);
      await claim(store(), running, T0);
      await store().operationInsert(draft({ type: 'fresh', priority: 5 }));
      const drafts = Array.from({ length: 4 }, (_, i) => draft({ type: 'fresh', runAt: T0 + i, now: T0 + 10 }));
      const results = await Promise.all(drafts.map((d) => store().operationInsert(d, undefined, { standing: { scope: ownTypeScope({ fresh: 3 }) } })));
      for (const [i, result] of results.entries()) {
        assert.equal(result.kind, 'created');
        const standing = result.kind === 'created' ? result.standing : undefined;
        assert.deepEqual(standing, await store().operationQueueStanding({ operation: pending(drafts[i]!), now: T0 + 10, scope: ownTypeScope({ fresh: 3 }) }));
        assert.equal(standing?.position, i + 1, 'behind the urgent one and those inserted before it');
        assert.deepEqual(standing?.running, [{ type: 'fresh', startedAt: T0, progress: null, progressAt: T0, cost: null, anchor: null }]);
      }
      const plain = await store().operationInsert(draft({ type: 'fresh' }));
      assert.equal(plain.kind === 'created' ? plain.standing : 'not created', undefined);
    });
  });

  describe('operationGetWithStanding', () => {
    it('reads the operation as operationGet does, with the standing of a pending one and the running limit of its type', async () => {
      const running = draft({ type: 'eta' });
      const waiting = draft({ type: 'eta' });
      await store().operationInsert(running);
      await store().operationInsert(waiting);
      await claim(store(), running, T0 + 5);
      const read = await store().operationGetWithStanding({ id: waiting.id, tenant: TENANT, now: T0 + 10, scope: ownTypeScope({ eta: 4 }) });
      assert.deepEqual(read?.operation, await store().operationGet({ id: waiting.id, tenant: TENANT }));
      assert.deepEqual(read?.standing, {
        position: 0,
        running: [{ type: 'eta', startedAt: T0 + 5, progress: null, progressAt: T0 + 5, cost: null, anchor: null }],
      });
      const unlisted = await store().operationGetWithStanding({ id: waiting.id, tenant: TENANT, now: T0 + 10, scope: NO_RUNNING });
      assert.deepEqual(unlisted?.standing, { position: 0, running: [] }, 'a type without a limit gets no running attempts');
      const processing = await store().operationGetWithStanding({ id: running.id, tenant: TENANT, now: T0 + 10, scope: NO_RUNNING });
      assert.equal(processing?.operation.status, 'processing');
      assert.equal(processing?.standing, null);
    });

    it('is null for another tenant and for unknown ids', async () => {
      const d = draft();
      await store().operationInsert(d);
      assert.equal(await store().operationGetWithStanding({ id: d.id, tenant: 'other', now: T0, scope: NO_RUNNING }), null);
      assert.equal(await store().operationGetWithStanding({ id: 'op_unknown', tenant: TENANT, now: T0, scope: NO_RUNNING }), null);
    });
  });

  describe('queue positions through every transition', () => {
    it('match the reference model after a seeded walk of inserts, claims, finishes, retries, releases, cancels and lease expiries', async () => {
      const random = seededRandom(20261130);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
      const types = ['walk-a', 'walk-b'];
      // Shared: each standing counts the other type's operations ahead too, checked against the same model.
      const SHARED: StandingScope = { runningLimits: new Map(types.map((t) => [t, 1])), shared: true, costsAhead: new Map() };
      let now = T0;
      const leases = new Map<string, string>();
      // A deep queue first, so positions past the direct count are checked too.
      for (let i = 0; i < 300; i++) await store().operationInsert(draft({ type: 'walk-a', runAt: now - 1_000 + i, now }));
      const pendingNow = async () => await store().operationList({ tenant: TENANT, status: 'pending', limit: 10_000 });
      const checkCounts = async (step: number) => {
        const kept = Object.fromEntries([...(await keptCounts(store()))].sort());
        assert.deepEqual(kept, Object.fromEntries([...pendingCounts(await pendingNow())].sort()), `step ${step}: the pending counts kept`);
      };
      const check = async (step: number) => {
        const pending = await pendingNow();
        for (const op of pending) {
          const expected = queuePosition(op, pending, now);
          for (const fromTail of [false, true]) {
            const standing = await store().operationQueueStanding({ operation: op, now, scope: SHARED, fromTail });
            assert.equal(
              standing?.position,
              expected,
              `step ${step}: position of ${op.id} (priority ${op.priority}, due ${op.runAt - now} ms from now, fromTail ${fromTail})`,
            );
            const other = types.find((t) => t !== op.type)!;
            assert.deepEqual(standing?.aheadOfOtherTypes, { [other]: aheadOfType(op, other, pending, now) }, `step ${step}: ${other} ahead of ${op.id}`);
          }
        }
      };
      for (let step = 1; step <= 240; step++) {
        now += Math.floor(random() * 40);
        const action = random();
        if (action < 0.35) {
          const d = draft({ type: pick(types), priority: pick([0, 0, 0, 3, -2]), runAt: now + pick([0, 0, -500, 200, 5_000]), now });
          // Some with an Idempotency-Key, which the stores insert by another statement; a reused key inserts nothing.
          const key = random() < 0.3 ? { key: `walk-${Math.floor(random() * 20)}`, fingerprint: 'same', expiresAt: now + 60_000 } : undefined;
          await store().operationInsert(d, key);
        } else if (action < 0.55) {
          const claimed = await store().operationClaimDue({
            now,
            workerId: 'walker',
            leaseMs: LEASE_MS,
            types: types.map((type) => ({ type, limit: 3 })),
            limit: 1 + Math.floor(random() * 4),
          });
          for (const op of claimed) leases.set(op.id, op.leaseToken!);
        } else if (action < 0.85 && leases.size > 0) {
          const [id, leaseToken] = pick([...leases]);
          leases.delete(id);
          const how = random();
          if (how < 0.4) await store().operationFinish({ id, leaseToken, now, status: 'completed', delivery: noDelivery });
          else if (how < 0.7)
            await store().operationRetry({ id, leaseToken, now, runAt: now + pick([0, 300]), error: { code: 'boom', message: 'again' }, delivery: noDelivery });
          else await store().operationRelease({ id, leaseToken, now, delivery: noDelivery });
        } else if (action < 0.95) {
          // A pending one ends at once; a running one has its cancel requested, which its end (or lost lease) then meets.
          const live = random() < 0.7 ? await pendingNow() : await store().operationList({ tenant: TENANT, status: 'processing', limit: 10_000 });
          if (live.length > 0) await store().operationCancel({ id: pick(live).id, tenant: TENANT, now, delivery: noDelivery });
        } else {
          // Every lease runs out: requeued, failed where attempts are spent, cancelled where a cancel was requested.
          now += LEASE_MS + 1;
          await store().operationRecoverExpired({ now, delivery: noDelivery, error: { code: 'lease_expired', message: 'lost' } });
          leases.clear();
        }
        if (step % 4 === 0) await checkCounts(step);
        if (step % 40 === 0) await check(step);
      }
    });
  });
}
