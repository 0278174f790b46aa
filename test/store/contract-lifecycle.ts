// Owns: contract cases for an operation under a lease and after: heartbeat, progress, finish (with the outbox), retry,
// release, cancel, delete, recovery of expired leases.
// Not here: claiming (contract-queue.ts), delivering (contract-deliveries.ts). Invariant: a lost race answers null, never throws.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PROGRESS_ANCHOR_MS } from '../../src/domain/eta.ts';
import { CANCELLED_BY_REQUEST } from '../../src/store/store.ts';
import type { CurrentStore } from './contract.ts';
import { claim, insertInState, LEASE_MS, noDelivery, T0, TENANT, webhookFactory } from './fixtures.ts';

const HOOK = 'https://example.test/hook';
const RESULT = { contentType: 'text/csv', body: Buffer.from('a,b\n1,2\n') };

export function operationLifecycleContract(store: CurrentStore): void {
  describe('operationHeartbeat and operationProgress', () => {
    it('extends a live lease without counting as a change', async () => {
      const { op, leaseToken } = await insertInState(store(), 'processing');
      const beat = await store().operationHeartbeat({ id: op.id, leaseToken: leaseToken!, now: T0 + 10_000, leaseMs: LEASE_MS });
      assert.deepEqual(beat, { cancelRequested: false });
      const after = await store().operationGetById(op.id);
      assert.equal(after?.leaseExpiresAt, T0 + 10_000 + LEASE_MS);
      assert.equal(after?.version, op.version);
    });

    it('answers null to a wrong token or an operation no longer processing', async () => {
      const { op, leaseToken } = await insertInState(store(), 'processing');
      assert.equal(await store().operationHeartbeat({ id: op.id, leaseToken: 'stolen', now: T0, leaseMs: LEASE_MS }), null);
      await store().operationFinish({ id: op.id, leaseToken: leaseToken!, now: T0, status: 'completed', result: RESULT, delivery: noDelivery });
      assert.equal(await store().operationHeartbeat({ id: op.id, leaseToken: leaseToken!, now: T0, leaseMs: LEASE_MS }), null);
    });

    it('records progress under the lease and bumps the version', async () => {
      const { op, leaseToken } = await insertInState(store(), 'processing');
      assert.equal(await store().operationProgress({ id: op.id, leaseToken: leaseToken!, now: T0 + 5, progress: 0.25, message: 'a quarter' }), true);
      const after = await store().operationGetById(op.id);
      assert.equal(after?.progress, 0.25);
      assert.equal(after?.progressMessage, 'a quarter');
      assert.equal(after?.updatedAt, T0 + 5);
      assert.equal(after?.version, op.version + 1);
      assert.equal(await store().operationProgress({ id: op.id, leaseToken: 'stolen', now: T0, progress: 0.5, message: null }), false);
      // A worker's clock stepped back: the report is kept, its time (and its milestone's) does not go back.
      assert.equal(
        await store().operationProgress({ id: op.id, leaseToken: leaseToken!, now: T0 - 60_000, progress: 0.5, message: null, milestone: true }),
        true,
      );
      assert.deepEqual([(await store().operationGetById(op.id))?.progress, (await store().operationGetById(op.id))?.updatedAt], [0.5, T0 + 5]);
      const events = (await store().historyList({ operationId: op.id, tenant: op.tenant, limit: 50 }))!;
      assert.ok(
        events.some((e) => e.kind === 'progress'),
        'the milestone is kept',
      );
      assert.deepEqual(
        events.map((e) => e.at),
        [...events.map((e) => e.at)].sort((a, b) => a - b),
        'history in order of time',
      );
    });

    it(`keeps an earlier progress point, moved up once it is ${PROGRESS_ANCHOR_MS} ms behind, for the recent rate`, async () => {
      const { op, leaseToken } = await insertInState(store(), 'processing');
      const report = (at: number, progress: number) => store().operationProgress({ id: op.id, leaseToken: leaseToken!, now: at, progress, message: null });
      const anchor = async () => (await store().operationGetById(op.id))?.progressAnchor;
      const W = PROGRESS_ANCHOR_MS;
      await report(T0 + 100, 0.1);
      assert.equal(await anchor(), null, 'one point: nothing to anchor');
      await report(T0 + 300, 0.2);
      assert.deepEqual(await anchor(), { progress: 0.1, at: T0 + 100 });
      await report(T0 + 100 + W - 1, 0.3);
      await report(T0 + 100 + W + 50, 0.4);
      assert.deepEqual(await anchor(), { progress: 0.1, at: T0 + 100 }, 'the point before was less than the window behind it');
      await report(T0 + 100 + W + 100, 0.5);
      assert.deepEqual(await anchor(), { progress: 0.4, at: T0 + 100 + W + 50 }, 'moved up to the point before the latest');
    });
  });

  describe('operationFinish', () => {
    it('stores the last progress report given with the end, and keeps the stored one without', async () => {
      const { op, leaseToken } = await insertInState(store(), 'processing');
      await store().operationProgress({ id: op.id, leaseToken: leaseToken!, now: T0, progress: 0.3, message: 'reading' });
      const ended = await store().operationFinish({
        id: op.id,
        leaseToken: leaseToken!,
        now: T0 + 10,
        status: 'completed',
        delivery: noDelivery,
        progress: { fraction: 0.9, message: 'writing' },
      });
      assert.deepEqual([ended?.progress, ended?.progressMessage], [0.9, 'writing']);
      const other = await insertInState(store(), 'processing');
      await store().operationProgress({ id: other.op.id, leaseToken: other.leaseToken!, now: T0, progress: 0.3, message: 'reading' });
      const kept = await store().operationFinish({
        id: other.op.id,
        leaseToken: other.leaseToken!,
        now: T0 + 10,
        status: 'failed',
        error: { code: 'x', message: 'y' },
        delivery: noDelivery,
      });
      assert.deepEqual([kept?.progress, kept?.progressMessage], [0.3, 'reading']);
    });

    it('completes with a result, clears the lease and records a duration sample', async () => {
      const { op, leaseToken } = await insertInState(store(), 'processing', { type: 'timed' });
      const done = await store().operationFinish({
        id: op.id,
        leaseToken: leaseToken!,
        now: T0 + 1_500,
        status: 'completed',
        result: RESULT,
        delivery: noDelivery,
      });
      assert.equal(done?.status, 'completed');
      assert.equal(done?.finishedAt, T0 + 1_500);
      assert.equal(done?.leaseToken, null);
      assert.equal(done?.leaseExpiresAt, null);
      assert.equal(done?.workerId, null);
      assert.equal(done?.version, op.version + 1);
      assert.equal(done?.finishedVersion, done?.version, 'the version its end made is kept');
      assert.deepEqual(await store().operationGetById(op.id), done);
      const result = await store().resultGet({ id: op.id, tenant: TENANT });
      assert.equal(result?.contentType, 'text/csv');
      assert.deepEqual(Buffer.from(result!.body), RESULT.body);
      assert.equal(await store().resultGet({ id: op.id, tenant: 'other' }), null);
      assert.deepEqual((await store().durationSamples({ limit: 10 })).get('timed'), [{ durationMs: 1_500, cost: null }]);
    });

    it('fails with an error and no result or duration sample', async () => {
      const { op, leaseToken } = await insertInState(store(), 'processing', { type: 'failing' });
      const error = { code: 'boom', message: 'it broke' };
      const done = await store().operationFinish({ id: op.id, leaseToken: leaseToken!, now: T0 + 1, status: 'failed', error, delivery: noDelivery });
      assert.equal(done?.status, 'failed');
      assert.deepEqual(done?.error, error);
      assert.equal(await store().resultGet({ id: op.id, tenant: TENANT }), null);
      assert.equal((await store().durationSamples({ limit: 10 })).has('failing'), false);
    });

    it('never completes an operation twice: a second finish, or a wrong token, answers null', async () => {
      const { op, leaseToken } = await insertInState(store(), 'processing');
      const finish = (token: string) =>
        store().operationFinish({ id: op.id, leaseToken: token, now: T0 + 1, status: 'completed', result: RESULT, delivery: noDelivery });
      assert.equal(await finish('stolen'), null);
      assert.notEqual(await finish(leaseToken!), null);
      assert.equal(await finish(leaseToken!), null);
      assert.equal((await store().operationGetById(op.id))?.version, op.version + 1);
    });

    it('writes the outbox delivery in the same call, built from the finished operation', async () => {
      const { op, leaseToken } = await insertInState(store(), 'processing', { webhookUrl: HOOK });
      const factory = webhookFactory(T0 + 2);
      const done = await store().operationFinish({ id: op.id, leaseToken: leaseToken!, now: T0 + 2, status: 'completed', result: RESULT, delivery: factory });
      assert.equal(factory.seen.length, 1);
      assert.equal(factory.seen[0]?.status, 'completed');
      assert.equal(factory.seen[0]?.finishedAt, T0 + 2);
      assert.equal(done?.webhookState, 'pending');
      assert.equal((await store().operationGet({ id: op.id, tenant: TENANT }))?.webhookState, 'pending');
      const [entry, ...rest] = await store().deliveryListForOperation({ operationId: op.id, tenant: TENANT });
      assert.equal(rest.length, 0);
      assert.equal(entry?.delivery.state, 'pending');
      assert.equal(entry?.delivery.operationId, op.id);
      assert.equal(entry?.delivery.tenant, TENANT);
      assert.equal(entry?.delivery.url, HOOK);
      assert.equal(entry?.delivery.eventType, 'operation.completed');
      assert.equal(entry?.delivery.attemptCount, 0);
      assert.equal(entry?.delivery.scheduleAttempt, 0);
      assert.equal(entry?.delivery.nextAttemptAt, T0 + 2);
      assert.equal(entry?.delivery.manual, false);
      assert.deepEqual(entry?.attempts, []);
    });

    it('writes nothing when the lease is lost, and does not call the factory', async () => {
      const { op } = await insertInState(store(), 'processing', { webhookUrl: HOOK });
      const factory = webhookFactory();
      assert.equal(await store().operationFinish({ id: op.id, leaseToken: 'stolen', now: T0, status: 'completed', result: RESULT, delivery: factory }), null);
      assert.equal(factory.seen.length, 0);
      assert.deepEqual(await store().deliveryListForOperation({ operationId: op.id, tenant: TENANT }), []);
      assert.equal(await store().resultGet({ id: op.id, tenant: TENANT }), null);
    });
  });

  describe('operationRetry and operationRelease', () => {
    it('retry returns the operation to the queue with attempt + 1, a later run_at and the error', async () => {
      const { op, leaseToken } = await insertInState(store(), 'processing', { type: 'flaky' });
      await store().operationProgress({ id: op.id, leaseToken: leaseToken!, now: T0, progress: 0.3, message: 'x' });
      const error = { code: 'timeout', message: 'took too long' };
      const back = await store().operationRetry({ id: op.id, leaseToken: leaseToken!, now: T0 + 10, runAt: T0 + 5_000, error, delivery: noDelivery });
      assert.equal(back?.status, 'pending');
      assert.equal(back?.attempt, 2);
      assert.equal(back?.runAt, T0 + 5_000);
      assert.deepEqual(back?.error, error);
      assert.equal(back?.leaseToken, null);
      assert.equal(back?.progress, null);
      assert.equal(back?.version, op.version + 2);
      const claimNow = () => store().operationClaimDue({ now: T0 + 4_999, workerId: 'w', leaseMs: LEASE_MS, types: [{ type: 'flaky', limit: 1 }], limit: 1 });
      assert.deepEqual(await claimNow(), [], 'not runnable before run_at');
      assert.equal((await claim(store(), op, T0 + 5_000)).op.attempt, 2);
    });

    it('release returns the operation to the queue with the same attempt', async () => {
      const { op, leaseToken } = await insertInState(store(), 'processing');
      const back = await store().operationRelease({ id: op.id, leaseToken: leaseToken!, now: T0 + 10, delivery: noDelivery });
      assert.equal(back?.status, 'pending');
      assert.equal(back?.attempt, 1);
      assert.equal(back?.leaseToken, null);
      assert.equal(back?.runAt, op.runAt);
    });

    it('both end the operation cancelled, with its delivery, when a cancel was requested while the attempt ran', async () => {
      for (const giveBack of ['retry', 'release'] as const) {
        const { op, leaseToken } = await insertInState(store(), 'processing', { webhookUrl: HOOK });
        assert.equal((await store().operationCancel({ id: op.id, tenant: TENANT, now: T0 + 5, delivery: noDelivery })).kind, 'requested');
        const factory = webhookFactory();
        const lease = { id: op.id, leaseToken: leaseToken!, now: T0 + 10, delivery: factory };
        const ended =
          giveBack === 'retry'
            ? await store().operationRetry({ ...lease, runAt: T0 + 20, error: { code: 'boom', message: 'failed' } })
            : await store().operationRelease(lease);
        assert.equal(ended?.status, 'cancelled', `${giveBack}: not back to the queue, where it would run again`);
        assert.deepEqual(ended?.error, { code: 'cancelled', message: 'cancelled by request' });
        assert.equal(ended?.finishedAt, T0 + 10);
        assert.equal((await store().deliveryListForOperation({ operationId: op.id, tenant: TENANT })).length, 1, `${giveBack}: the outbox row`);
        assert.equal((await store().operationGetById(op.id))?.status, 'cancelled');
      }
    });

    it('both answer null to a wrong token', async () => {
      const { op } = await insertInState(store(), 'processing');
      assert.equal(
        await store().operationRetry({ id: op.id, leaseToken: 'stolen', now: T0, runAt: T0, error: { code: 'x', message: 'x' }, delivery: noDelivery }),
        null,
      );
      assert.equal(await store().operationRelease({ id: op.id, leaseToken: 'stolen', now: T0, delivery: noDelivery }), null);
      assert.equal((await store().operationGetById(op.id))?.status, 'processing');
    });
  });

  describe('operationCancel', () => {
    it('cancels a pending operation at once and writes its delivery', async () => {
      const { op } = await insertInState(store(), 'pending', { webhookUrl: HOOK });
      const factory = webhookFactory();
      const outcome = await store().operationCancel({ id: op.id, tenant: TENANT, now: T0 + 3, delivery: factory });
      assert.equal(outcome.kind, 'cancelled');
      const cancelled = outcome.kind === 'cancelled' ? outcome.operation : null;
      assert.equal(cancelled?.status, 'cancelled');
      assert.equal(cancelled?.finishedAt, T0 + 3);
      assert.equal(cancelled?.finishedVersion, cancelled?.version);
      assert.deepEqual(cancelled?.error, CANCELLED_BY_REQUEST);
      assert.equal(cancelled?.webhookState, 'pending');
      assert.equal(factory.seen[0]?.status, 'cancelled');
      assert.equal((await store().deliveryListForOperation({ operationId: op.id, tenant: TENANT })).length, 1);
    });

    it('records a cancel request on a processing operation, which the lease holder then sees', async () => {
      const { op, leaseToken } = await insertInState(store(), 'processing');
      const outcome = await store().operationCancel({ id: op.id, tenant: TENANT, now: T0 + 3, delivery: noDelivery });
      assert.equal(outcome.kind, 'requested');
      assert.equal(outcome.kind === 'requested' && outcome.operation.cancelRequested, true);
      assert.equal(outcome.kind === 'requested' && outcome.operation.status, 'processing');
      const again = await store().operationCancel({ id: op.id, tenant: TENANT, now: T0 + 4, delivery: noDelivery });
      assert.equal(again.kind, 'requested');
      assert.deepEqual(await store().operationHeartbeat({ id: op.id, leaseToken: leaseToken!, now: T0 + 5, leaseMs: LEASE_MS }), { cancelRequested: true });
      const ended = await store().operationFinish({
        id: op.id,
        leaseToken: leaseToken!,
        now: T0 + 6,
        status: 'cancelled',
        error: CANCELLED_BY_REQUEST,
        delivery: noDelivery,
      });
      assert.equal(ended?.status, 'cancelled');
    });

    it('leaves a terminal operation alone, and hides other tenants', async () => {
      const { op } = await insertInState(store(), 'completed');
      const outcome = await store().operationCancel({ id: op.id, tenant: TENANT, now: T0, delivery: noDelivery });
      assert.deepEqual(outcome, { kind: 'terminal', operation: op });
      const { op: pending } = await insertInState(store(), 'pending');
      assert.deepEqual(await store().operationCancel({ id: pending.id, tenant: 'other', now: T0, delivery: noDelivery }), { kind: 'not_found' });
      assert.equal((await store().operationGetById(pending.id))?.status, 'pending');
    });
  });

  describe('operationDelete', () => {
    it('deletes a terminal operation with its result and its ended deliveries', async () => {
      const { op } = await insertInState(store(), 'completed', { webhookUrl: HOOK }, webhookFactory());
      const [delivery] = await store().deliveryClaimDue({ now: T0, workerId: 'd1', leaseMs: LEASE_MS, limit: 10 });
      await store().deliveryRecordAttempt({
        id: delivery!.id,
        leaseToken: delivery!.leaseToken!,
        outcome: 'dead',
        nextAttemptAt: null,
        now: T0 + 5,
        attempt: { trigger: 'scheduled', startedAt: T0, durationMs: 5, statusCode: 410, error: null, responseSnippet: null },
      });
      assert.equal(await store().operationDelete({ id: op.id, tenant: TENANT }), 'deleted');
      assert.equal(await store().operationGetById(op.id), null);
      assert.equal(await store().resultGet({ id: op.id, tenant: TENANT }), null);
      assert.deepEqual(await store().deliveryList({ tenant: TENANT, limit: 10 }), []);
    });

    it('deletes once when several deletes race: the others find nothing, never a webhook still being delivered', async () => {
      for (let round = 0; round < 5; round++) {
        const { op } = await insertInState(store(), 'failed');
        const outcomes = await Promise.all(Array.from({ length: 6 }, () => store().operationDelete({ id: op.id, tenant: TENANT })));
        assert.deepEqual(
          [...outcomes].sort(),
          ['deleted', 'not_found', 'not_found', 'not_found', 'not_found', 'not_found'],
          `round ${round}: ${outcomes.join(', ')}`,
        );
      }
    });

    it('refuses a live operation and hides other tenants', async () => {
      const { op: pending } = await insertInState(store(), 'pending');
      const { op: running } = await insertInState(store(), 'processing');
      const { op: done } = await insertInState(store(), 'failed');
      assert.equal(await store().operationDelete({ id: pending.id, tenant: TENANT }), 'not_terminal');
      assert.equal(await store().operationDelete({ id: running.id, tenant: TENANT }), 'not_terminal');
      assert.equal(await store().operationDelete({ id: done.id, tenant: 'other' }), 'not_found');
      assert.equal(await store().operationDelete({ id: 'op_unknown', tenant: TENANT }), 'not_found');
      assert.notEqual(await store().operationGetById(done.id), null);
    });
  });

  describe('ifVersion (If-Match kept into the change)', () => {
    it('cancels, retries and deletes only at that version: at another the outcome is changed and nothing is done', async () => {
      const { op: pending } = await insertInState(store(), 'pending');
      const at = { id: pending.id, tenant: TENANT };
      assert.deepEqual(await store().operationCancel({ ...at, now: T0, delivery: noDelivery, ifVersion: pending.version + 1 }), {
        kind: 'changed',
        operation: pending,
      });
      assert.equal((await store().operationGetById(pending.id))?.status, 'pending');
      const cancelled = await store().operationCancel({ ...at, now: T0, delivery: noDelivery, ifVersion: pending.version });
      assert.equal(cancelled.kind, 'cancelled');
      const now = (await store().operationGetById(pending.id))!;

      const redrive = { ...at, now: T0 + 1, by: 'test' };
      assert.deepEqual(await store().operationRedrive({ ...redrive, ifVersion: pending.version }), { kind: 'changed', operation: now });
      assert.equal(await store().operationDelete({ ...at, ifVersion: pending.version }), 'changed');
      assert.equal((await store().operationGetById(pending.id))?.status, 'cancelled', 'neither retried nor deleted');
      assert.equal((await store().operationRedrive({ ...redrive, ifVersion: now.version })).kind, 'redriven');

      const { op: done } = await insertInState(store(), 'failed');
      assert.equal(await store().operationDelete({ id: done.id, tenant: TENANT, ifVersion: done.version }), 'deleted');
      assert.equal(await store().operationDelete({ id: done.id, tenant: TENANT, ifVersion: done.version }), 'not_found', 'gone is not found, not changed');
    });
  });

  describe('operationRecoverExpired', () => {
    const lostError = { code: 'lease_expired', message: 'the worker stopped answering' };

    it('requeues an expired lease with attempts left and leaves live leases alone', async () => {
      const { op: expired, leaseToken } = await insertInState(store(), 'processing', { maxAttempts: 3 });
      const { op: live } = await insertInState(store(), 'processing', { now: T0 + 20_000, runAt: T0 + 20_000 });
      const now = T0 + LEASE_MS + 1;
      const { requeued, ended } = await store().operationRecoverExpired({ now, delivery: noDelivery, error: lostError });
      assert.deepEqual(
        requeued.map((op) => op.id),
        [expired.id],
      );
      assert.deepEqual(ended, []);
      assert.equal(requeued[0]?.status, 'pending');
      assert.equal(requeued[0]?.attempt, 2);
      assert.equal(requeued[0]?.runAt, expired.runAt, 'its place in the queue kept');
      assert.equal(requeued[0]?.leaseToken, null);
      assert.equal((await store().operationGetById(live.id))?.status, 'processing');
      const late = await store().operationFinish({ id: expired.id, leaseToken: leaseToken!, now, status: 'completed', result: RESULT, delivery: noDelivery });
      assert.equal(late, null, 'the old lease holder cannot complete it any more');
    });

    it('runs a requeued expired lease before what was queued while it ran, as from the head of its queue', async () => {
      const { op: expired } = await insertInState(store(), 'processing', { type: 'recovered-first', maxAttempts: 3 });
      const { op: later } = await insertInState(store(), 'pending', { type: 'recovered-first', now: T0 + 10_000, runAt: T0 + 10_000 });
      const now = T0 + LEASE_MS + 1;
      await store().operationRecoverExpired({ now, delivery: noDelivery, error: lostError });
      const claimOne = () => store().operationClaimDue({ now, workerId: 'w2', leaseMs: LEASE_MS, types: [{ type: 'recovered-first', limit: 1 }], limit: 1 });
      assert.deepEqual(
        (await claimOne()).map((op) => op.id),
        [expired.id],
      );
      assert.deepEqual(
        (await claimOne()).map((op) => op.id),
        [later.id],
      );
    });

    it('ends an operation once when its old and new lease holders end together: the new one, and no stale result', async () => {
      const { op, leaseToken: oldToken } = await insertInState(store(), 'processing', { maxAttempts: 3 });
      const now = T0 + LEASE_MS + 1;
      await store().operationRecoverExpired({ now, delivery: noDelivery, error: lostError });
      const { leaseToken: newToken } = await claim(store(), op, now, 'w2');
      const [late, current] = await Promise.all([
        store().operationFinish({ id: op.id, leaseToken: oldToken!, now: now + 1, status: 'completed', result: RESULT, delivery: noDelivery }),
        store().operationFinish({
          id: op.id,
          leaseToken: newToken,
          now: now + 1,
          status: 'failed',
          error: { code: 'boom', message: 'no' },
          delivery: noDelivery,
        }),
      ]);
      assert.equal(late, null, 'the old lease holder is told its lease is gone');
      assert.equal(current?.status, 'failed');
      assert.equal(await store().resultGet({ id: op.id, tenant: TENANT }), null);
      assert.equal((await store().operationGetById(op.id))?.status, 'failed');
    });

    it('keeps a lease that was extended by a heartbeat', async () => {
      const { op, leaseToken } = await insertInState(store(), 'processing');
      await store().operationHeartbeat({ id: op.id, leaseToken: leaseToken!, now: T0 + 20_000, leaseMs: LEASE_MS });
      const result = await store().operationRecoverExpired({ now: T0 + LEASE_MS + 1, delivery: noDelivery, error: lostError });
      assert.deepEqual(result, { requeued: [], ended: [] });
    });

    it('fails an expired lease on its last attempt and writes its delivery', async () => {
      const { op } = await insertInState(store(), 'processing', { maxAttempts: 1, webhookUrl: HOOK });
      const factory = webhookFactory();
      const { requeued, ended } = await store().operationRecoverExpired({ now: T0 + LEASE_MS + 1, delivery: factory, error: lostError });
      assert.deepEqual(requeued, []);
      assert.equal(ended[0]?.id, op.id);
      assert.equal(ended[0]?.status, 'failed');
      assert.equal(ended[0]?.finishedVersion, ended[0]?.version);
      assert.deepEqual(ended[0]?.error, lostError);
      assert.equal(ended[0]?.webhookState, 'pending');
      assert.equal(factory.seen[0]?.status, 'failed');
      assert.equal((await store().deliveryListForOperation({ operationId: op.id, tenant: TENANT })).length, 1);
    });

    it('cancels an expired lease whose cancel was requested', async () => {
      const { op } = await insertInState(store(), 'processing', { maxAttempts: 5 });
      await store().operationCancel({ id: op.id, tenant: TENANT, now: T0, delivery: noDelivery });
      const { ended } = await store().operationRecoverExpired({ now: T0 + LEASE_MS + 1, delivery: noDelivery, error: lostError });
      assert.equal(ended[0]?.status, 'cancelled');
      assert.deepEqual(ended[0]?.error, CANCELLED_BY_REQUEST);
    });

    it('recovers nothing twice', async () => {
      await insertInState(store(), 'processing', { maxAttempts: 1 });
      const now = T0 + LEASE_MS + 1;
      await store().operationRecoverExpired({ now, delivery: noDelivery, error: lostError });
      assert.deepEqual(await store().operationRecoverExpired({ now, delivery: noDelivery, error: lostError }), { requeued: [], ended: [] });
    });
  });
}
