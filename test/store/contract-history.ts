// Owns: contract cases for operation history: which event each transition appends (in the same transaction), their
// order and data, releases of one attempt collapsing into one event, pages by seq, tenant scope, the ETA noted on
// `created`, and events going with their operation.
// Not here: the milestone rule (test/domain/history.test.ts: the attempt decides, the store records what it is told).
// Invariant: uses only the Store interface; an operation is driven the way production drives it.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { HistoryEvent } from '../../src/domain/history.ts';
import { CANCELLED_BY_REQUEST } from '../../src/store/store.ts';
import type { CurrentStore } from './contract.ts';
import { claim, draft, insertInState, LEASE_MS, noDelivery, T0, TENANT, webhookFactory } from './fixtures.ts';
import { waitFor } from '../support/wait.ts';

const kinds = (events: readonly HistoryEvent[] | null) => events?.map((e) => e.kind);

export function historyContract(store: CurrentStore): void {
  const history = async (operationId: string, tenant: string | null = TENANT, afterSeq?: number, limit = 100) =>
    store().historyList({ operationId, tenant, afterSeq, limit });

  describe('operation history', () => {
    it('records created (with its key), claimed, milestones, a failed attempt and the end, in order, with their data', async () => {
      const d = draft({ type: 'history-walk' });
      const inserted = await store().operationInsert(d, { key: 'k-1', fingerprint: 'f', expiresAt: T0 + 60_000 });
      assert.equal(inserted.kind, 'created');
      const first = await claim(store(), d, T0 + 10, 'node-a');
      const report = (now: number, progress: number, milestone: boolean) =>
        store().operationProgress({ id: d.id, leaseToken: first.leaseToken, now, progress, message: `at ${progress}`, milestone });
      assert.equal(await report(T0 + 20, 0.05, true), true);
      assert.equal(await report(T0 + 30, 0.07, false), true, 'not a milestone: stored, not recorded');
      assert.equal(await report(T0 + 40, 0.31, true), true);
      const error = { code: 'flaky', message: 'try again' };
      assert.notEqual(
        await store().operationRetry({ id: d.id, leaseToken: first.leaseToken, now: T0 + 50, runAt: T0 + 1_050, error, delivery: noDelivery }),
        null,
      );
      const second = await claim(store(), d, T0 + 1_050, 'node-b');
      assert.notEqual(
        await store().operationFinish({ id: d.id, leaseToken: second.leaseToken, now: T0 + 1_100, status: 'completed', delivery: noDelivery }),
        null,
      );

      const events = (await history(d.id))!;
      assert.deepEqual(kinds(events), ['created', 'claimed', 'progress', 'progress', 'attempt_failed', 'claimed', 'completed']);
      assert.ok(
        events.every((e, i) => i === 0 || e.seq > events[i - 1]!.seq),
        'seq grows',
      );
      assert.deepEqual(
        events.map((e) => [e.at, e.data]),
        [
          [T0, { tenant: TENANT, idempotency_key: 'k-1' }],
          [T0 + 10, { attempt: 1, worker: 'node-a' }],
          [T0 + 20, { progress: 0.05, message: 'at 0.05' }],
          [T0 + 40, { progress: 0.31, message: 'at 0.31' }],
          [T0 + 50, { attempt: 1, error, next_run_at: T0 + 1_050 }],
          [T0 + 1_050, { attempt: 2, worker: 'node-b' }],
          [T0 + 1_100, {}],
        ],
      );
      assert.ok(events.every((e) => e.operationId === d.id));
    });

    it('records a batch claim as one claimed event per operation, and a release', async () => {
      const ops = [draft({ type: 'history-batch' }), draft({ type: 'history-batch' }), draft({ type: 'history-batch' })];
      for (const d of ops) await store().operationInsert(d);
      const claimed = await store().operationClaimDue({ now: T0, workerId: 'w9', leaseMs: LEASE_MS, types: [{ type: 'history-batch', limit: 3 }], limit: 3 });
      assert.equal(claimed.length, 3);
      const one = claimed[0]!;
      await store().operationRelease({ id: one.id, leaseToken: one.leaseToken!, now: T0 + 5, delivery: noDelivery });
      for (const d of ops) {
        const events = (await history(d.id))!;
        const expected = d.id === one.id ? ['created', 'claimed', 'released'] : ['created', 'claimed'];
        assert.deepEqual(kinds(events), expected);
        assert.deepEqual(events[1]!.data, { attempt: 1, worker: 'w9' });
      }
      assert.deepEqual((await history(one.id))![2]!.data, { attempt: 1, times: 1 });
    });

    // Expected: created, the first claim's claimed (its worker and milestones kept), then one `released` with times 3 at
    // the last release and a seq past every event it stands for; the later claims' claimed and milestones are gone.
    // The next claim then records its own events after it, and a failed attempt keeps the next release apart.
    it('collapses repeated releases of one attempt into one released event counting them', async () => {
      const d = draft({ type: 'history-released' });
      await store().operationInsert(d);
      const release = async (worker: string, at: number, milestones: number) => {
        const { leaseToken } = await claim(store(), d, at, worker);
        for (let i = 0; i < milestones; i++) {
          const progress = (i + 1) / 10;
          assert.equal(await store().operationProgress({ id: d.id, leaseToken, now: at + 1 + i, progress, message: null, milestone: true }), true);
        }
        const released = await store().operationRelease({ id: d.id, leaseToken, now: at + 50, runAt: at + 100, delivery: noDelivery });
        assert.equal(released?.status, 'pending');
      };
      await release('node-a', T0 + 100, 1);
      const once = (await history(d.id))!;
      assert.deepEqual(kinds(once), ['created', 'claimed', 'progress', 'released']);
      await release('node-b', T0 + 200, 2);
      await release('node-c', T0 + 300, 0);

      const events = (await history(d.id))!;
      assert.deepEqual(kinds(events), ['created', 'claimed', 'progress', 'released']);
      assert.deepEqual(
        events.map((e) => [e.at, e.data]),
        [
          [T0, { tenant: TENANT, idempotency_key: null }],
          [T0 + 100, { attempt: 1, worker: 'node-a' }],
          [T0 + 101, { progress: 0.1, message: null }],
          [T0 + 350, { attempt: 1, times: 3 }],
        ],
      );
      assert.deepEqual(
        events.slice(0, 3).map((e) => e.seq),
        once.slice(0, 3).map((e) => e.seq),
        'the events before it stay as they were',
      );
      assert.ok(events[3]!.seq > once[3]!.seq, 'the released event moved to a fresh seq');

      // The next claim's events follow it; a failed attempt ends the run, so the next attempt's release is its own.
      const { leaseToken } = await claim(store(), d, T0 + 400, 'node-d');
      const shown = (await history(d.id))!;
      assert.deepEqual(kinds(shown), ['created', 'claimed', 'progress', 'released', 'claimed']);
      assert.ok(shown[4]!.seq > shown[3]!.seq, 'seq keeps growing past the deleted events');
      const error = { code: 'flaky', message: 'try again' };
      await store().operationRetry({ id: d.id, leaseToken, now: T0 + 410, runAt: T0 + 500, error, delivery: noDelivery });
      await release('node-e', T0 + 500, 0);
      await release('node-f', T0 + 600, 0);
      const after = (await history(d.id))!;
      assert.deepEqual(kinds(after), ['created', 'claimed', 'progress', 'released', 'claimed', 'attempt_failed', 'claimed', 'released']);
      assert.deepEqual(after[7]!.data, { attempt: 2, times: 2 });
      assert.ok(
        after.every((e, i) => i === 0 || (e.seq > after[i - 1]!.seq && e.at >= after[i - 1]!.at)),
        'seq grows, and so does at',
      );
    });

    it('records expired leases: requeued, and on the last attempt before the end', async () => {
      const requeued = await insertInState(store(), 'processing', { maxAttempts: 2 });
      const last = await insertInState(store(), 'processing', { maxAttempts: 1 });
      const expired = { code: 'lease_expired', message: 'the worker stopped answering' };
      const result = await store().operationRecoverExpired({ now: T0 + LEASE_MS + 1, delivery: noDelivery, error: expired });
      assert.equal(result.requeued.length + result.ended.length, 2);
      assert.deepEqual(kinds(await history(requeued.op.id)), ['created', 'claimed', 'lease_expired']);
      assert.deepEqual((await history(requeued.op.id))![2]!.data, { attempt: 1 });
      const ended = (await history(last.op.id))!;
      assert.deepEqual(kinds(ended), ['created', 'claimed', 'lease_expired', 'failed']);
      assert.deepEqual(ended[3]!.data, { error: expired });
    });

    it('records cancels: of a pending operation at once; of a running one, the request and then the end', async () => {
      const { op: pending } = await insertInState(store(), 'cancelled');
      const cancelled = (await history(pending.id))!;
      assert.deepEqual(kinds(cancelled), ['created', 'cancelled']);
      assert.deepEqual(cancelled[1]!.data, { error: CANCELLED_BY_REQUEST });

      const { op, leaseToken } = await insertInState(store(), 'processing');
      assert.equal((await store().operationCancel({ id: op.id, tenant: TENANT, now: T0 + 5, delivery: noDelivery })).kind, 'requested');
      assert.equal((await store().operationCancel({ id: op.id, tenant: TENANT, now: T0 + 6, delivery: noDelivery })).kind, 'requested');
      const error = { code: 'boom', message: 'aborted' };
      await store().operationRetry({ id: op.id, leaseToken: leaseToken!, now: T0 + 10, runAt: T0 + 20, error, delivery: noDelivery });
      const events = (await history(op.id))!;
      assert.deepEqual(kinds(events), ['created', 'claimed', 'cancel_requested', 'cancelled'], 'a cancel asked twice is one request');
      assert.deepEqual(events[3]!.data, { error: CANCELLED_BY_REQUEST });
    });

    it("never goes back in time: a cancel or redrive whose time was read before the change it follows takes that change's time", async () => {
      // Failed at T0 + 1,000 (insertInState); a redrive that read the clock at T0 + 500, then waited for the row.
      const { op: failed } = await insertInState(store(), 'failed', { maxAttempts: 1 });
      const redriven = await store().operationRedrive({ id: failed.id, tenant: TENANT, now: T0 + 500, by: 'key:0' });
      assert.equal(redriven.kind, 'redriven');
      const rerun = await store().operationGetById(failed.id);
      // Its run_at and redriven_at are the time asked (a node whose clock runs ahead must not hold the rerun back).
      assert.deepEqual([rerun?.redrivenAt, rerun?.runAt, rerun?.updatedAt], [T0 + 500, T0 + 500, failed.updatedAt]);
      // Claimed at T0 + 2,000; a cancel that read the clock at T0 + 1,500.
      const d = draft({ type: 'history-clock' });
      await store().operationInsert(d);
      await claim(store(), d, T0 + 2_000);
      assert.equal((await store().operationCancel({ id: d.id, tenant: TENANT, now: T0 + 1_500, delivery: noDelivery })).kind, 'requested');
      // And a pending one created at T0 + 3,000, cancelled with a clock read at T0 + 2,500.
      const late = draft({ type: 'history-clock', now: T0 + 3_000, runAt: T0 + 3_000 });
      await store().operationInsert(late);
      assert.equal((await store().operationCancel({ id: late.id, tenant: TENANT, now: T0 + 2_500, delivery: noDelivery })).kind, 'cancelled');
      assert.deepEqual([(await store().operationGetById(late.id))?.finishedAt, (await store().operationGetById(late.id))?.updatedAt], [T0 + 2_500, T0 + 3_000]);
      // Two handlers that returned at T0 + 4,400 (ending alone, and in one group), with a cancel requested at T0 + 4,600
      // written before their ends were.
      const ending = [draft({ type: 'history-clock' }), draft({ type: 'history-clock' })];
      const leases: string[] = [];
      for (const e of ending) {
        await store().operationInsert(e);
        leases.push((await claim(store(), e, T0 + 4_000)).leaseToken!);
        assert.equal((await store().operationCancel({ id: e.id, tenant: TENANT, now: T0 + 4_600, delivery: noDelivery })).kind, 'requested');
      }
      const finishAt = (i: number) =>
        store().operationFinish({ id: ending[i]!.id, leaseToken: leases[i]!, now: T0 + 4_400, status: 'completed', delivery: noDelivery });
      assert.notEqual(await finishAt(0), null);
      const grouped = await Promise.all([
        finishAt(1),
        store().operationFinish({ id: 'op_none', leaseToken: 'none', now: T0, status: 'completed', delivery: noDelivery }),
      ]);
      assert.notEqual(grouped[0], null);
      assert.equal(grouped[1], null);
      for (const e of ending) {
        const ended = await store().operationGetById(e.id);
        assert.deepEqual([ended?.status, ended?.finishedAt, ended?.updatedAt], ['completed', T0 + 4_400, T0 + 4_600], 'finished_at is when it ended');
      }
      // A lease that ran out at T0 + 5,000 + LEASE_MS, swept with a clock read at 100 ms past it, after a cancel request
      // written at 500 ms past it.
      const lapsed = draft({ type: 'history-clock' });
      await store().operationInsert(lapsed);
      await claim(store(), lapsed, T0 + 5_000);
      const expiry = T0 + 5_000 + LEASE_MS;
      assert.equal((await store().operationCancel({ id: lapsed.id, tenant: TENANT, now: expiry + 500, delivery: noDelivery })).kind, 'requested');
      await store().operationRecoverExpired({ now: expiry + 100, delivery: noDelivery, error: { code: 'lease_expired', message: 'gone' } });
      assert.deepEqual(kinds((await history(lapsed.id))!), ['created', 'claimed', 'cancel_requested', 'lease_expired', 'cancelled']);
      for (const id of [failed.id, d.id, late.id, ...ending.map((e) => e.id), lapsed.id]) {
        const ats = ((await history(id)) ?? []).map((e) => e.at);
        assert.deepEqual(
          [...ats].sort((a, b) => a - b),
          ats,
          `${id}: ${ats.join(', ')}`,
        );
      }
    });

    it('records a failure with its error, and each webhook attempt with its outcome', async () => {
      const { op } = await insertInState(store(), 'failed', { webhookUrl: 'https://example.test/hook' }, webhookFactory(T0));
      const [delivery] = await store().deliveryClaimDue({ now: T0 + 2_000, workerId: 'd1', leaseMs: LEASE_MS, limit: 1 });
      assert.equal(delivery?.operationId, op.id);
      const attempt = { trigger: 'scheduled' as const, startedAt: T0 + 2_000, durationMs: 37, statusCode: 503, error: 'HTTP 503', responseSnippet: 'busy' };
      await store().deliveryRecordAttempt({
        id: delivery!.id,
        leaseToken: delivery!.leaseToken ?? '',
        outcome: 'retrying',
        nextAttemptAt: T0 + 5_000,
        now: T0 + 2_040,
        attempt,
      });
      const events = (await history(op.id))!;
      assert.deepEqual(kinds(events), ['created', 'claimed', 'failed', 'webhook_attempt']);
      assert.deepEqual(events[2]!.data, { error: { code: 'boom', message: 'it broke' } });
      assert.equal(events[3]!.at, T0 + 2_040);
      assert.deepEqual(events[3]!.data, { delivery_id: delivery!.id, attempt: 1, status_code: 503, duration_ms: 37, error: 'HTTP 503', outcome: 'retrying' });
    });

    it("pages by seq, and is scoped to the operation's tenant (null: any tenant's)", async () => {
      const { op } = await insertInState(store(), 'completed', { tenant: 'other' });
      assert.equal(await history(op.id), null, "another tenant's operation is not found");
      assert.equal(await history('op_missing'), null);
      const all = (await history(op.id, 'other'))!;
      assert.deepEqual(kinds(all), ['created', 'claimed', 'completed']);
      assert.deepEqual(await history(op.id, null), all);
      const page1 = (await history(op.id, 'other', undefined, 2))!;
      assert.deepEqual(kinds(page1), ['created', 'claimed']);
      const page2 = (await history(op.id, 'other', page1[1]!.seq, 2))!;
      assert.deepEqual(kinds(page2), ['completed']);
      assert.deepEqual(await history(op.id, 'other', page2[0]!.seq, 2), [], 'past the end: an empty page, not not-found');
    });

    it('notes the ETA of a create on its created event, off the caller’s path', async () => {
      const { op } = await insertInState(store(), 'pending');
      store().historyNoteEstimate({ operationId: op.id, estimatedCompletionAt: T0 + 4_321 });
      await waitFor(async () => (await history(op.id))?.[0]?.data['estimated_completion_at'] !== undefined, {
        timeoutMs: 2_000,
        what: 'the ETA noted on the created event',
      });
      assert.deepEqual((await history(op.id))![0]!.data, { tenant: TENANT, idempotency_key: null, estimated_completion_at: T0 + 4_321 });
    });

    it('goes with its operation when it is deleted or pruned', async () => {
      const { op: deleted } = await insertInState(store(), 'completed');
      assert.equal(await store().operationDelete({ id: deleted.id, tenant: TENANT }), 'deleted');
      assert.equal(await history(deleted.id), null);
      const { op: pruned } = await insertInState(store(), 'failed');
      const counts = await store().prune({ resultsFinishedBefore: 0, operationsFinishedBefore: T0 + 10_000, now: T0 + 10_000 });
      assert.ok(counts.operations >= 1);
      assert.equal(await history(pruned.id), null);
      // The id is free again, and a new operation under it starts a history of its own.
      const again = await store().operationInsert(draft({ id: pruned.id, type: 'history-again' }));
      assert.equal(again.kind, 'created');
      assert.deepEqual(kinds(await history(pruned.id)), ['created']);
    });
  });
}
