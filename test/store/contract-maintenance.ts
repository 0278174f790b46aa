// Owns: contract cases for what keeps the store small and informed: prune, duration samples, settings, the change feed, open/ping.
// Not here: the operation and delivery lifecycles (contract-lifecycle.ts, contract-deliveries.ts).
// Invariant: uses only the Store interface; time passes through `now`.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DURATION_SAMPLE_LIMIT } from '../../src/domain/eta.ts';
import type { Store, StoreEvent } from '../../src/store/store.ts';
import type { CurrentStore } from './contract.ts';
import { claim, draft, insertInState, LEASE_MS, noDelivery, T0, TENANT, webhookFactory } from './fixtures.ts';

export function maintenanceContract(store: CurrentStore, fairKeys: (store: Store) => Promise<string[]>): void {
  describe('open and ping', () => {
    it('opens idempotently and answers ping', async () => {
      await store().open();
      await store().ping();
    });
  });

  describe('prune', () => {
    // insertInState finishes at T0 + 1_000.
    const FINISHED = T0 + 1_000;

    it('removes old result bodies and marks their operations', async () => {
      const { op } = await insertInState(store(), 'completed');
      const before = await store().operationGetById(op.id);
      const counts = await store().prune({ resultsFinishedBefore: FINISHED + 1, operationsFinishedBefore: 0, now: T0 });
      assert.deepEqual(counts, { results: 1, operations: 0, idempotencyKeys: 0 });
      assert.equal(await store().resultGet({ id: op.id, tenant: TENANT }), null);
      const after = await store().operationGetById(op.id);
      assert.equal(after?.resultExpired, true);
      assert.equal(after?.version, before!.version + 1);
      assert.deepEqual(await store().prune({ resultsFinishedBefore: FINISHED + 1, operationsFinishedBefore: 0, now: T0 }), {
        results: 0,
        operations: 0,
        idempotencyKeys: 0,
      });
    });

    it('keeps results and operations finished at or after the cut-offs', async () => {
      const { op } = await insertInState(store(), 'completed');
      const counts = await store().prune({ resultsFinishedBefore: FINISHED, operationsFinishedBefore: FINISHED, now: T0 });
      assert.deepEqual(counts, { results: 0, operations: 0, idempotencyKeys: 0 });
      assert.notEqual(await store().resultGet({ id: op.id, tenant: TENANT }), null);
    });

    it('forgets the turn of a concurrency key with nothing waiting, and keeps one whose operations wait', async () => {
      const type = 'keyed-prune';
      for (const key of ['gone-1', 'gone-2', 'waits']) {
        for (let i = 0; i < 2; i++) await store().operationInsert(draft({ type, concurrencyKey: key }));
      }
      // Three keys contend, so the claim takes turns between them and keeps each one's turn.
      const claimed = await store().operationClaimDue({ now: T0, workerId: 'w', leaseMs: LEASE_MS, types: [{ type, limit: 5 }], limit: 5 });
      assert.deepEqual(await fairKeys(store()), ['gone-1', 'gone-2', 'waits']);
      const left = claimed.filter((op) => op.concurrencyKey !== 'waits');
      assert.equal(left.length, 4, 'both of each key that goes, one of the key that waits');
      for (const op of left) {
        await store().operationFinish({ id: op.id, leaseToken: op.leaseToken!, now: T0 + 1, status: 'completed', delivery: noDelivery });
      }
      await store().prune({ resultsFinishedBefore: T0, operationsFinishedBefore: T0, now: T0 + 2 });
      assert.deepEqual(await fairKeys(store()), ['waits'], 'a key back from idle joins afresh, so its row need not stay');
    });

    it('deletes old terminal operations with their deliveries, never live ones', async () => {
      const { op: done } = await insertInState(store(), 'completed', { webhookUrl: 'https://example.test/hook' }, webhookFactory());
      const [delivery] = await store().deliveryClaimDue({ now: T0, workerId: 'd', leaseMs: LEASE_MS, limit: 1 });
      await store().deliveryRecordAttempt({
        id: delivery!.id,
        leaseToken: delivery!.leaseToken!,
        outcome: 'delivered',
        nextAttemptAt: null,
        now: T0,
        attempt: { trigger: 'scheduled', startedAt: T0, durationMs: 1, statusCode: 200, error: null, responseSnippet: null },
      });
      const { op: failed } = await insertInState(store(), 'failed');
      const { op: pending } = await insertInState(store(), 'pending');
      const { op: running } = await insertInState(store(), 'processing');
      const counts = await store().prune({ resultsFinishedBefore: 0, operationsFinishedBefore: T0 + 999_999, now: T0 });
      assert.equal(counts.operations, 2);
      assert.equal(await store().operationGetById(done.id), null);
      assert.equal(await store().operationGetById(failed.id), null);
      assert.notEqual(await store().operationGetById(pending.id), null);
      assert.notEqual(await store().operationGetById(running.id), null);
      assert.deepEqual(await store().deliveryList({ tenant: TENANT, limit: 10 }), []);
    });

    it('keeps an old operation while its webhook is still being delivered, or its idempotency key lives', async () => {
      const { op: undelivered } = await insertInState(store(), 'completed', { webhookUrl: 'https://example.test/hook' }, webhookFactory());
      const keyed = draft();
      await store().operationInsert(keyed, { key: 'kept', fingerprint: 'a', expiresAt: T0 + 50_000 });
      const [claimed] = await store().operationClaimDue({ now: T0, workerId: 'w', leaseMs: LEASE_MS, types: [{ type: keyed.type, limit: 1 }], limit: 1 });
      await store().operationFinish({ id: keyed.id, leaseToken: claimed!.leaseToken!, now: T0 + 10, status: 'completed', delivery: noDelivery });
      const prune = (now: number) => store().prune({ resultsFinishedBefore: 0, operationsFinishedBefore: T0 + 999_999, now });
      assert.equal((await prune(T0 + 100)).operations, 0);
      assert.notEqual(await store().operationGetById(undelivered.id), null, 'its delivery is pending');
      assert.notEqual(await store().operationGetById(keyed.id), null, 'its key lives until T0 + 50 s');
      // The key expires; the delivery ends dead: both may go.
      const [delivery] = await store().deliveryClaimDue({ now: T0, workerId: 'd', leaseMs: LEASE_MS, limit: 1 });
      await store().deliveryRecordAttempt({
        id: delivery!.id,
        leaseToken: delivery!.leaseToken!,
        outcome: 'dead',
        nextAttemptAt: null,
        now: T0,
        attempt: { trigger: 'scheduled', startedAt: T0, durationMs: 1, statusCode: 500, error: 'HTTP 500', responseSnippet: null },
      });
      assert.equal((await prune(T0 + 50_001)).operations, 2);
    });

    it('deletes expired idempotency keys, freeing them', async () => {
      await store().operationInsert(draft(), { key: 'k', fingerprint: 'a', expiresAt: T0 + 10 });
      await store().operationInsert(draft(), { key: 'k2', fingerprint: 'a', expiresAt: T0 + 1_000 });
      const counts = await store().prune({ resultsFinishedBefore: 0, operationsFinishedBefore: 0, now: T0 + 11 });
      assert.equal(counts.idempotencyKeys, 1);
      const again = await store().operationInsert(draft({ now: T0 + 11 }), { key: 'k', fingerprint: 'b', expiresAt: T0 + 5_000 });
      assert.equal(again.kind, 'created');
    });
  });

  describe('durationSamples', () => {
    it('returns the newest samples per type, newest first, at most limit each', async () => {
      for (const ms of [100, 200, 300]) {
        const d = draft({ type: 'sampled' });
        await store().operationInsert(d);
        const { leaseToken } = await claim(store(), d);
        await store().operationFinish({
          id: d.id,
          leaseToken,
          now: T0 + ms,
          status: 'completed',
          result: { contentType: 'text/plain', body: Buffer.from('x') },
          delivery: noDelivery,
        });
      }
      const durations = async (limit: number) => (await store().durationSamples({ limit })).get('sampled')?.map((s) => s.durationMs);
      assert.deepEqual(await durations(2), [300, 200]);
      assert.deepEqual(await durations(10), [300, 200, 100]);
    });

    it(`keeps at least the newest ${DURATION_SAMPLE_LIMIT} samples of a type however many were written`, async () => {
      const total = DURATION_SAMPLE_LIMIT * 2 + 3;
      for (let i = 1; i <= total; i++) await insertInState(store(), 'completed', { type: 'busy' });
      const samples = (await store().durationSamples({ limit: DURATION_SAMPLE_LIMIT })).get('busy');
      assert.equal(samples?.length, DURATION_SAMPLE_LIMIT);
    });
  });

  describe('worker nodes', () => {
    it('keeps each node with its limits as last announced, lists those heard from since a time, and forgets the long silent', async () => {
      const node = (id: string, seenAt: number, concurrency = 4) => ({ id, concurrency, typeLimits: { report: 2, noop: concurrency }, seenAt });
      await store().workerNodeBeat({ node: node('n1', T0), forgetBefore: T0 - 60_000 });
      await store().workerNodeBeat({ node: node('n2', T0 + 10), forgetBefore: T0 - 60_000 });
      await store().workerNodeBeat({ node: node('n1', T0 + 20, 8), forgetBefore: T0 - 60_000 });
      assert.deepEqual(await store().workerNodes({ since: T0 }), [node('n1', T0 + 20, 8), node('n2', T0 + 10)]);
      assert.deepEqual(
        (await store().workerNodes({ since: T0 + 15 })).map((n) => n.id),
        ['n1'],
      );
      await store().workerNodeLeave({ id: 'n1' });
      assert.deepEqual(
        (await store().workerNodes({ since: 0 })).map((n) => n.id),
        ['n2'],
      );
      await store().workerNodeBeat({ node: node('n3', T0 + 90_000), forgetBefore: T0 + 30_000 });
      assert.deepEqual(
        (await store().workerNodes({ since: 0 })).map((n) => n.id),
        ['n3'],
        'n2, silent since before forgetBefore, is gone',
      );
    });
  });

  describe('settingGetOrInit', () => {
    it('stores the first value and returns it to every later caller', async () => {
      assert.equal(await store().settingGetOrInit('signing_secret', 'first'), 'first');
      assert.equal(await store().settingGetOrInit('signing_secret', 'second'), 'first');
      assert.equal(await store().settingGetOrInit('other', 'x'), 'x');
    });
  });

  describe('subscribe (the change feed)', () => {
    const record = (): { events: StoreEvent[]; stop: () => void } => {
      const events: StoreEvent[] = [];
      const stop = store().subscribe((event) => events.push(event));
      return { events, stop };
    };

    it('announces inserts, claims and finishes with their versions, and the outbox delivery', async () => {
      const { events, stop } = record();
      const d = draft({ type: 'fed', webhookUrl: 'https://example.test/hook' });
      await store().operationInsert(d);
      const { leaseToken } = await claim(store(), d);
      await store().operationFinish({
        id: d.id,
        leaseToken,
        now: T0 + 1,
        status: 'completed',
        result: { contentType: 'text/plain', body: Buffer.from('x') },
        delivery: webhookFactory(T0 + 1),
      });
      stop();
      assert.deepEqual(events, [
        { kind: 'operation:changed', id: d.id, version: 1, status: 'pending' },
        { kind: 'operation:due', type: 'fed', runAt: T0 },
        { kind: 'operation:changed', id: d.id, version: 2, status: 'processing' },
        { kind: 'operation:changed', id: d.id, version: 3, status: 'completed' },
        { kind: 'delivery:due', nextAttemptAt: T0 + 1 },
      ]);
    });

    it('announces a delete that happened, and only that one', async () => {
      const { op } = await insertInState(store(), 'completed', { type: 'fed' });
      const running = (await insertInState(store(), 'processing', { type: 'fed' })).op;
      const { events, stop } = record();
      assert.equal(await store().operationDelete({ id: running.id, tenant: TENANT }), 'not_terminal');
      assert.equal(await store().operationDelete({ id: op.id, tenant: TENANT }), 'deleted');
      assert.equal(await store().operationDelete({ id: op.id, tenant: TENANT }), 'not_found');
      stop();
      assert.deepEqual(events, [{ kind: 'operation:deleted', id: op.id }]);
    });

    it('announces requeues as due', async () => {
      const { op, leaseToken } = await insertInState(store(), 'processing', { type: 'fed' });
      const { events, stop } = record();
      await store().operationRetry({ id: op.id, leaseToken: leaseToken!, now: T0, runAt: T0 + 50, error: { code: 'x', message: 'x' }, delivery: noDelivery });
      stop();
      assert.deepEqual(events, [
        { kind: 'operation:changed', id: op.id, version: op.version + 1, status: 'pending' },
        { kind: 'operation:due', type: 'fed', runAt: T0 + 50 },
      ]);
    });

    it('announces cancel requests to the lease holder, and the cancelled end of a retry that found one', async () => {
      const { op, leaseToken } = await insertInState(store(), 'processing', { type: 'fed' });
      const { events, stop } = record();
      await store().operationCancel({ id: op.id, tenant: TENANT, now: T0, delivery: noDelivery });
      await store().operationRetry({ id: op.id, leaseToken: leaseToken!, now: T0, runAt: T0 + 50, error: { code: 'x', message: 'x' }, delivery: noDelivery });
      stop();
      assert.deepEqual(events, [
        { kind: 'operation:changed', id: op.id, version: op.version + 1, status: 'processing' },
        { kind: 'operation:cancel_requested', id: op.id },
        { kind: 'operation:changed', id: op.id, version: op.version + 2, status: 'cancelled' },
      ]);
    });

    it('announces a replayed delivery as due, and its operation as changed (its webhook state)', async () => {
      const { op } = await insertInState(store(), 'completed', { webhookUrl: 'https://example.test/hook' }, webhookFactory());
      const [claimed] = await store().deliveryClaimDue({ now: T0, workerId: 'd', leaseMs: LEASE_MS, limit: 1 });
      await store().deliveryRecordAttempt({
        id: claimed!.id,
        leaseToken: claimed!.leaseToken!,
        outcome: 'dead',
        nextAttemptAt: null,
        now: T0,
        attempt: { trigger: 'scheduled', startedAt: T0, durationMs: 1, statusCode: 500, error: 'HTTP 500', responseSnippet: null },
      });
      const { events, stop } = record();
      await store().deliveryRetry({ id: claimed!.id, tenant: TENANT, now: T0 + 9 });
      stop();
      const replayed = await store().operationGetById(op.id);
      assert.equal(replayed?.webhookState, 'pending');
      assert.deepEqual(events, [
        { kind: 'delivery:due', nextAttemptAt: T0 + 9 },
        { kind: 'operation:changed', id: op.id, version: replayed!.version, status: 'completed' },
      ]);
    });

    it('says nothing for reads, heartbeats and lost races, and nothing after unsubscribe', async () => {
      const { op, leaseToken } = await insertInState(store(), 'processing');
      const { events, stop } = record();
      await store().operationGetById(op.id);
      await store().operationHeartbeat({ id: op.id, leaseToken: leaseToken!, now: T0, leaseMs: LEASE_MS });
      await store().operationFinish({ id: op.id, leaseToken: 'stolen', now: T0, status: 'failed', delivery: noDelivery });
      stop();
      await store().operationInsert(draft());
      assert.deepEqual(events, []);
    });

    it('survives a listener that throws: the change is stored and other listeners still hear it', async () => {
      const stopBad = store().subscribe(() => {
        throw new Error('listener bug');
      });
      const { events, stop } = record();
      const d = draft();
      const result = await store().operationInsert(d);
      stop();
      stopBad();
      assert.equal(result.kind, 'created');
      assert.notEqual(await store().operationGetById(d.id), null);
      assert.equal(events.length, 2);
    });
  });
}
