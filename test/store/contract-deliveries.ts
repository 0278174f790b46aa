// Owns: contract cases for webhook deliveries: claim, attempts, dead letters, replay, lease recovery, listing.
// Not here: how deliveries are written (the outbox cases in contract-lifecycle.ts).
// Invariant: uses only the Store interface; a delivery is made the way production makes it, by ending an operation.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Delivery, DeliveryAttemptParams, Store } from '../../src/store/store.ts';
import type { CurrentStore } from './contract.ts';
import { claim, insertInState, LEASE_MS, T0, TENANT, webhookFactory } from './fixtures.ts';
import { waitFor } from '../support/wait.ts';
import { SUPERSEDED_BY_RETRY } from '../../src/domain/delivery.ts';

/** Events are emitted after commit: at once on SQLite, a moment later on PostgreSQL (never later than the bound). */
const waitForEvents = (done: () => boolean) => waitFor(done, { timeoutMs: 2_000, what: 'operation:changed events' });

const HOOK = 'https://example.test/hook';

/** An operation ended with a webhook: its one delivery, due at `dueAt`. */
async function makeDelivery(store: Store, dueAt = T0, tenant = TENANT, webhookUrl = HOOK): Promise<Delivery> {
  const { op } = await insertInState(store, 'completed', { webhookUrl, tenant }, webhookFactory(dueAt));
  const [entry] = await store.deliveryListForOperation({ operationId: op.id, tenant });
  if (entry === undefined) throw new Error('fixture: no delivery written');
  return entry.delivery;
}

function attempt(
  lease: { id: string; leaseToken: string | null },
  outcome: DeliveryAttemptParams['outcome'],
  now: number,
  nextAttemptAt: number | null,
  trigger: 'scheduled' | 'manual' = 'scheduled',
): DeliveryAttemptParams {
  const ok = outcome === 'delivered';
  return {
    id: lease.id,
    leaseToken: lease.leaseToken ?? '',
    outcome,
    nextAttemptAt,
    now,
    attempt: { trigger, startedAt: now - 40, durationMs: 40, statusCode: ok ? 200 : 503, error: ok ? null : 'HTTP 503', responseSnippet: ok ? 'ok' : 'busy' },
  };
}

export function deliveryContract(store: CurrentStore): void {
  const claimDue = (now: number, limit = 10, workerId = 'd1') => store().deliveryClaimDue({ now, workerId, leaseMs: LEASE_MS, limit });

  describe('a delivery state is part of its operation', () => {
    it('is a new version of the operation, with an event, when the state changes, and only then; updated_at stays', async () => {
      const d = await makeDelivery(store());
      const events: Array<{ id: string; version: number }> = [];
      const unsubscribe = store().subscribe((e) => {
        if (e.kind === 'operation:changed' && e.id === d.operationId) events.push({ id: e.id, version: e.version });
      });
      try {
        const version = async () => (await store().operationGetById(d.operationId))!.version;
        const before = (await store().operationGetById(d.operationId))!;
        const v0 = before.version;
        const [first] = await claimDue(T0);
        await store().deliveryRecordAttempt(attempt(first!, 'retrying', T0 + 100, T0 + 200));
        const op1 = await store().operationGetById(d.operationId);
        assert.deepEqual([op1!.version, op1!.updatedAt, op1!.webhookState], [v0 + 1, before.updatedAt, 'retrying']);
        const [second] = await claimDue(T0 + 200);
        await store().deliveryRecordAttempt(attempt(second!, 'retrying', T0 + 300, T0 + 400));
        assert.equal(await version(), v0 + 1, 'retrying again is no change');
        const [third] = await claimDue(T0 + 400);
        await store().deliveryRecordAttempt(attempt(third!, 'dead', T0 + 500, null));
        assert.equal(await version(), v0 + 2);
        await store().deliveryRetry({ id: d.id, tenant: TENANT, now: T0 + 600 });
        const replayed = await store().operationGetById(d.operationId);
        assert.deepEqual([replayed!.version, replayed!.webhookState], [v0 + 3, 'pending']);
        await waitForEvents(() => events.length >= 3);
        assert.deepEqual(
          events.map((e) => e.version),
          [v0 + 1, v0 + 2, v0 + 3],
        );
      } finally {
        unsubscribe();
      }
    });
  });

  describe('deliveryClaimDue', () => {
    it('claims due deliveries oldest first, with a lease, and keeps their state', async () => {
      const later = await makeDelivery(store(), T0 + 5);
      const sooner = await makeDelivery(store(), T0 + 1);
      await makeDelivery(store(), T0 + 1_000);
      const claimed = await claimDue(T0 + 10);
      assert.deepEqual(
        claimed.map((d) => d.id),
        [sooner.id, later.id],
      );
      for (const d of claimed) {
        assert.equal(d.state, 'pending');
        assert.equal(typeof d.leaseToken, 'string');
      }
      assert.notEqual(claimed[0]?.leaseToken, claimed[1]?.leaseToken);
    });

    it('does not claim a delivery whose lease is live, and claims it again once the lease expired', async () => {
      const d = await makeDelivery(store());
      assert.equal((await claimDue(T0)).length, 1);
      assert.deepEqual(await claimDue(T0 + LEASE_MS - 1, 10, 'd2'), []);
      const again = await claimDue(T0 + LEASE_MS + 1, 10, 'd2');
      assert.deepEqual(
        again.map((x) => x.id),
        [d.id],
      );
    });

    it('passes over the destinations it is told to, whose deliveries keep their turn', async () => {
      const held = [await makeDelivery(store(), T0), await makeDelivery(store(), T0 + 1)];
      const other = await makeDelivery(store(), T0 + 2, TENANT, 'https://other.test/hook');
      const passedOver = await store().deliveryClaimDue({
        now: T0 + 10,
        workerId: 'd1',
        leaseMs: LEASE_MS,
        limit: 10,
        exceptDestinations: ['https://example.test'],
      });
      assert.deepEqual(
        passedOver.map((d) => [d.id, d.destination]),
        [[other.id, 'https://other.test']],
      );
      const later = await makeDelivery(store(), T0 + 3, TENANT, 'https://other.test/hook');
      assert.deepEqual(
        (await claimDue(T0 + 10, 2)).map((d) => d.id),
        held.map((d) => d.id),
        'still first in line',
      );
      assert.deepEqual(
        (await claimDue(T0 + 10)).map((d) => d.id),
        [later.id],
      );
    });

    it("knows a destination as the URL's origin, however it is spelled", async () => {
      const spelled = await makeDelivery(store(), T0, TENANT, 'HTTPS://Example.TEST:443/other/path?x=1');
      const port = await makeDelivery(store(), T0, TENANT, 'https://example.test:8443/hook');
      const http = await makeDelivery(store(), T0, TENANT, 'http://example.test/hook');
      assert.deepEqual([spelled.destination, port.destination, http.destination], ['https://example.test', 'https://example.test:8443', 'http://example.test']);
      const claimed = await store().deliveryClaimDue({ now: T0, workerId: 'd1', leaseMs: LEASE_MS, limit: 10, exceptDestinations: ['https://example.test'] });
      assert.deepEqual(new Set(claimed.map((d) => d.id)), new Set([port.id, http.id]));
      assert.deepEqual(claimed.map((d) => d.destination).sort(), ['http://example.test', 'https://example.test:8443']);
    });

    it('honours the limit', async () => {
      for (let i = 0; i < 3; i++) await makeDelivery(store());
      assert.equal((await claimDue(T0, 2)).length, 2);
      assert.equal((await claimDue(T0, 2)).length, 1);
      assert.deepEqual(await claimDue(T0, 0), []);
    });
  });

  describe('deliveryRecordAttempt', () => {
    it('records attempts in order until delivered, under the lease', async () => {
      const d = await makeDelivery(store());
      const [first] = await claimDue(T0);
      const retrying = await store().deliveryRecordAttempt(attempt(first!, 'retrying', T0 + 100, T0 + 5_000));
      assert.equal(retrying?.state, 'retrying');
      assert.equal(retrying?.attemptCount, 1);
      assert.equal(retrying?.scheduleAttempt, 1);
      assert.equal(retrying?.nextAttemptAt, T0 + 5_000);
      assert.equal(retrying?.lastStatusCode, 503);
      assert.equal(retrying?.lastError, 'HTTP 503');
      assert.equal(retrying?.leaseToken, null);
      assert.deepEqual(await claimDue(T0 + 4_999), [], 'not due before next_attempt_at');
      const [second] = await claimDue(T0 + 5_000);
      const delivered = await store().deliveryRecordAttempt(attempt(second!, 'delivered', T0 + 5_100, null));
      assert.equal(delivered?.state, 'delivered');
      assert.equal(delivered?.attemptCount, 2);
      assert.equal(delivered?.lastStatusCode, 200);
      assert.deepEqual(await claimDue(T0 + 99_999), [], 'a delivered delivery is never claimed again');
      const attempts = await store().deliveryAttempts({ deliveryId: d.id });
      assert.deepEqual(attempts, [
        { deliveryId: d.id, attempt: 1, trigger: 'scheduled', startedAt: T0 + 60, durationMs: 40, statusCode: 503, error: 'HTTP 503', responseSnippet: 'busy' },
        { deliveryId: d.id, attempt: 2, trigger: 'scheduled', startedAt: T0 + 5_060, durationMs: 40, statusCode: 200, error: null, responseSnippet: 'ok' },
      ]);
      const op = await store().operationGetById(d.operationId);
      assert.equal(op?.webhookState, 'delivered');
    });

    it('answers null to a wrong or spent lease token and records nothing', async () => {
      const d = await makeDelivery(store());
      const [claimed] = await claimDue(T0);
      assert.equal(await store().deliveryRecordAttempt(attempt({ id: d.id, leaseToken: 'stolen' }, 'delivered', T0, null)), null);
      await store().deliveryRecordAttempt(attempt(claimed!, 'delivered', T0, null));
      assert.equal(await store().deliveryRecordAttempt(attempt(claimed!, 'delivered', T0, null)), null);
      assert.equal((await store().deliveryAttempts({ deliveryId: d.id })).length, 1);
    });
  });

  describe('deliveries of an end the operation was retried past (superseded)', () => {
    it('are marked: one waiting ends dead, one in flight records its attempt and goes no further, none is replayed', async () => {
      const later = T0 + 1_000_000;
      const failedWith = async (dueAt: number) => (await insertInState(store(), 'failed', { webhookUrl: HOOK, maxAttempts: 1 }, webhookFactory(dueAt))).op;
      const waiting = await failedWith(later);
      const [answered, refused, abandoned, retrying, delivered] = [
        await failedWith(T0),
        await failedWith(T0),
        await failedWith(T0),
        await failedWith(T0),
        await failedWith(T0),
      ];
      const claimed = await claimDue(T0);
      const leaseOf = (op: { id: string }) => claimed.find((d) => d.operationId === op.id)!;
      await store().deliveryRecordAttempt(attempt(leaseOf(retrying), 'retrying', T0 + 100, later));
      await store().deliveryRecordAttempt(attempt(leaseOf(delivered), 'delivered', T0 + 100, null));
      // Earlier than the ends' own times (they were written at T0 + 1000): a retrying node's clock behind theirs. The mark
      // compares no times.
      const now = T0 + 200;
      for (const op of [waiting, answered, refused, abandoned, retrying, delivered]) {
        assert.equal((await store().operationRedrive({ id: op.id, tenant: TENANT, now, by: 'key:0' })).kind, 'redriven');
      }
      const deliveryOf = async (op: { id: string }) => (await store().deliveryListForOperation({ operationId: op.id, tenant: TENANT }))[0]!.delivery;
      for (const [what, op] of [
        ['pending', waiting],
        ['retrying', retrying],
      ] as const) {
        const d = await deliveryOf(op);
        assert.deepEqual([d.state, d.lastError, d.nextAttemptAt, d.superseded], ['dead', SUPERSEDED_BY_RETRY, null, true], what);
      }
      assert.deepEqual([(await deliveryOf(delivered)).state, (await deliveryOf(delivered)).superseded], ['delivered', false]);
      // In flight: the receiver may have it already. Its answer is recorded; a failure ends it, not the schedule.
      const got = await store().deliveryRecordAttempt(attempt(leaseOf(answered), 'delivered', now + 1, null));
      assert.deepEqual([got?.state, got?.attemptCount], ['delivered', 1]);
      const failed = await store().deliveryRecordAttempt(attempt(leaseOf(refused), 'retrying', now + 1, now + 5_000));
      assert.deepEqual([failed?.state, failed?.lastError, failed?.nextAttemptAt, failed?.attemptCount], ['dead', SUPERSEDED_BY_RETRY, null, 1]);
      assert.equal((await store().deliveryAttempts({ deliveryId: failed!.id })).length, 1, 'the attempt is on record');
      const history = (await store().historyList({ operationId: refused.id, tenant: TENANT, limit: 100 })) ?? [];
      assert.deepEqual(
        history.filter((e) => e.kind === 'webhook_attempt').map((e) => [e.data['outcome'], e.data['error']]),
        [['dead', 'HTTP 503']],
        'what became of it, and what the receiver said',
      );
      // One whose attempt never reported (its dispatcher died) ends dead once its lease runs out, and is never claimed again.
      assert.deepEqual(await claimDue(T0 + LEASE_MS + 1), [], 'not claimed past its lease');
      await store().deliveryRecoverExpired({ now: T0 + LEASE_MS + 1 });
      const left = await deliveryOf(abandoned);
      assert.deepEqual([left.state, left.lastError, left.leaseToken], ['dead', SUPERSEDED_BY_RETRY, null]);
      assert.deepEqual(await claimDue(later + 1), [], 'none is sent again');
      // Nor replayed: sent now, the earlier end's event would reach the receiver after the rerun's.
      const stale = await deliveryOf(waiting);
      const replay = await store().deliveryRetry({ id: stale.id, tenant: TENANT, now: now + 2 });
      assert.deepEqual([replay.kind, replay.kind === 'superseded' && replay.delivery.state], ['superseded', 'dead']);
      // The rerun's own end, on a node whose clock is behind the retrying one's (a cancel while it waits), writes a
      // delivery that, dead in its turn, is replayed as any other.
      const cancelled = await store().operationCancel({ id: waiting.id, tenant: TENANT, now: now - 50, delivery: webhookFactory(now - 30) });
      assert.equal(cancelled.kind, 'cancelled');
      const fresh = (await store().deliveryListForOperation({ operationId: waiting.id, tenant: TENANT }))
        .map((e) => e.delivery)
        .find((d) => d.id !== stale.id)!;
      const [sent] = await claimDue(now - 30);
      assert.equal(sent?.id, fresh.id);
      await store().deliveryRecordAttempt(attempt(sent!, 'dead', now - 20, null));
      assert.equal((await store().deliveryRetry({ id: fresh.id, tenant: TENANT, now: now + 7 })).kind, 'scheduled');
    });
  });

  describe('dead deliveries and deliveryRetry', () => {
    it('replays a dead delivery with the same message id, a fresh schedule, and numbering that continues', async () => {
      const d = await makeDelivery(store());
      const [claimed] = await claimDue(T0);
      const dead = await store().deliveryRecordAttempt(attempt(claimed!, 'dead', T0 + 1, null));
      assert.equal(dead?.state, 'dead');
      assert.deepEqual(await claimDue(T0 + 99_999), [], 'a dead delivery is never claimed');
      assert.deepEqual(
        (await store().deliveryList({ tenant: TENANT, state: 'dead', limit: 10 })).map((x) => x.id),
        [d.id],
      );
      assert.equal((await store().operationGetById(d.operationId))?.webhookState, 'dead');

      const outcome = await store().deliveryRetry({ id: d.id, tenant: TENANT, now: T0 + 50_000 });
      assert.equal(outcome.kind, 'scheduled');
      const replayed = outcome.kind === 'scheduled' ? outcome.delivery : null;
      assert.equal(replayed?.state, 'pending');
      assert.equal(replayed?.messageId, d.messageId);
      assert.equal(replayed?.nextAttemptAt, T0 + 50_000);
      assert.equal(replayed?.scheduleAttempt, 0);
      assert.equal(replayed?.attemptCount, 1);
      assert.equal(replayed?.manual, true);

      const [again] = await claimDue(T0 + 50_000);
      assert.equal(again?.id, d.id);
      assert.equal(again?.manual, true);
      const delivered = await store().deliveryRecordAttempt(attempt(again!, 'delivered', T0 + 50_100, null, 'manual'));
      assert.equal(delivered?.manual, false);
      assert.equal(delivered?.attemptCount, 2);
      assert.equal(delivered?.scheduleAttempt, 1);
      const attempts = await store().deliveryAttempts({ deliveryId: d.id });
      assert.deepEqual(
        attempts.map((a) => [a.attempt, a.trigger]),
        [
          [1, 'scheduled'],
          [2, 'manual'],
        ],
      );
    });

    it('refuses to replay a delivery that is not dead, and hides other tenants', async () => {
      const d = await makeDelivery(store());
      const outcome = await store().deliveryRetry({ id: d.id, tenant: TENANT, now: T0 });
      assert.equal(outcome.kind, 'not_dead');
      assert.equal(outcome.kind === 'not_dead' && outcome.delivery.id, d.id);
      assert.deepEqual(await store().deliveryRetry({ id: d.id, tenant: 'other', now: T0 }), { kind: 'not_found' });
      assert.deepEqual(await store().deliveryRetry({ id: 'dlv_unknown', tenant: TENANT, now: T0 }), { kind: 'not_found' });
    });
  });

  describe('deliveryRecoverExpired and deliveryNextAttemptAt', () => {
    it('clears expired delivery leases so the delivery is due again', async () => {
      const d = await makeDelivery(store());
      await claimDue(T0);
      assert.equal(await store().deliveryRecoverExpired({ now: T0 + LEASE_MS - 1 }), 0);
      assert.equal(await store().deliveryRecoverExpired({ now: T0 + LEASE_MS + 1 }), 1);
      assert.equal((await store().deliveryGet({ id: d.id, tenant: TENANT }))?.leaseToken, null);
      assert.equal(await store().deliveryRecoverExpired({ now: T0 + LEASE_MS + 1 }), 0);
    });

    it('reports the earliest next attempt among undelivered deliveries, or null', async () => {
      assert.equal(await store().deliveryNextAttemptAt({ after: T0 }), null);
      await makeDelivery(store(), T0 + 300);
      await makeDelivery(store(), T0 + 200);
      assert.equal(await store().deliveryNextAttemptAt({ after: T0 }), T0 + 200);
    });

    it('leaves out a delivery in flight: a later one is still the time to wake for (the in-flight one’s end wakes anyway)', async () => {
      const inFlight = await makeDelivery(store(), T0);
      await makeDelivery(store(), T0 + 5_000);
      assert.deepEqual(
        (await claimDue(T0)).map((d) => d.id),
        [inFlight.id],
      );
      assert.equal(await store().deliveryNextAttemptAt({ after: T0 - 1 }), T0 + 5_000, 'not the claimed one’s past time, which woke nothing');
      await claimDue(T0 + 5_000);
      assert.equal(await store().deliveryNextAttemptAt({ after: T0 - 1 }), null, 'both in flight');
    });

    it('names the first time after the one given: a backlog due by then (waiting on its destination’s cap) hides no later one', async () => {
      await makeDelivery(store(), T0 - 2_000);
      await makeDelivery(store(), T0);
      await makeDelivery(store(), T0 + 700);
      assert.equal(await store().deliveryNextAttemptAt({ after: T0 }), T0 + 700, 'not the overdue ones, which nothing claimed');
      assert.equal(await store().deliveryNextAttemptAt({ after: T0 - 1 }), T0);
      assert.equal(await store().deliveryNextAttemptAt({ after: T0 + 700 }), null);
    });
  });

  describe('trace context and deliveryCounts', () => {
    const trace = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: 'vendor=opaque' };

    it('keeps the trace context an operation was created in, read back by a claim, and the one its delivery was written with', async () => {
      const pending = await insertInState(store(), 'pending', { trace });
      assert.deepEqual((await store().operationGetById(pending.op.id))?.trace, trace);
      assert.deepEqual((await claim(store(), pending.op)).op.trace, trace, 'a worker reads it with its claim');
      const untraced = await insertInState(store(), 'pending');
      assert.equal((await store().operationGetById(untraced.op.id))?.trace ?? null, null);
      const attemptTrace = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-01', tracestate: null };
      const factory = webhookFactory();
      const d = await makeDelivery(store(), T0, TENANT, HOOK);
      assert.equal(d.trace ?? null, null, 'a delivery written without one has none');
      const { op } = await insertInState(store(), 'completed', { webhookUrl: HOOK, trace }, (o) => ({ ...factory(o)!, trace: attemptTrace }));
      const [entry] = await store().deliveryListForOperation({ operationId: op.id, tenant: TENANT });
      assert.deepEqual(entry?.delivery.trace, attemptTrace);
      const claimed = (await claimDue(T0)).find((c) => c.operationId === op.id);
      assert.deepEqual(claimed?.trace, attemptTrace, 'the dispatcher reads it with its claim');
    });

    it('counts the deliveries not yet delivered by state: pending, retrying and dead (the dead-letter depth)', async () => {
      const counted = async () => Object.fromEntries((await store().deliveryCounts()).filter((c) => c.count > 0).map((c) => [c.state, c.count]));
      assert.deepEqual(await counted(), {});
      for (let i = 0; i < 4; i++) await makeDelivery(store());
      const [a, b, c] = await claimDue(T0, 3);
      await store().deliveryRecordAttempt(attempt(a!, 'retrying', T0 + 10, T0 + 60_000));
      await store().deliveryRecordAttempt(attempt(b!, 'dead', T0 + 10, null));
      await store().deliveryRecordAttempt(attempt(c!, 'delivered', T0 + 10, null));
      assert.deepEqual(await counted(), { pending: 1, retrying: 1, dead: 1 });
    });
  });

  describe('deliveryGet, deliveryList and deliveryListForOperation', () => {
    it('pages newest first with beforeId and a state filter, only for the asking tenant', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await makeDelivery(store())).id);
      await makeDelivery(store(), T0, 'other');
      const seen: string[] = [];
      let beforeId: string | undefined;
      for (;;) {
        const page = await store().deliveryList({ tenant: TENANT, state: 'pending', limit: 2, beforeId });
        seen.push(...page.map((d) => d.id));
        if (page.length < 2) break;
        beforeId = page.at(-1)!.id;
      }
      assert.deepEqual(seen, [...ids].reverse());
      assert.deepEqual(await store().deliveryList({ tenant: TENANT, state: 'dead', limit: 10 }), []);
    });

    it('hides deliveries from other tenants', async () => {
      const d = await makeDelivery(store());
      assert.equal((await store().deliveryGet({ id: d.id, tenant: TENANT }))?.id, d.id);
      assert.equal(await store().deliveryGet({ id: d.id, tenant: 'other' }), null);
      // No tenant: whichever tenant's it is (an admin's read).
      assert.equal((await store().deliveryGet({ id: d.id, tenant: null }))?.id, d.id);
      assert.equal(await store().deliveryGet({ id: 'dlv_unknown', tenant: null }), null);
      assert.deepEqual(await store().deliveryListForOperation({ operationId: d.operationId, tenant: 'other' }), []);
    });
  });
}
