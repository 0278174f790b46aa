// Owns: contract cases for redrives and bulk actions: a redrive's fresh run (and its lost races), a bulk action's
// record, its lease (one runner; a stopped runner's action resumes from its cursor), batches of each action, tenants.
// Not here: what a filter selects in the domain (test/domain/bulk-action.test.ts), the runner (test/e2e/bulk-actions.test.ts).
// Invariant: uses only the Store interface; a lost race answers null or an outcome, never throws.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkBulkRequest, type BulkActionKind, type BulkFilterWire } from '../../src/domain/bulk-action.ts';
import { ID_PREFIXES } from '../../src/domain/ids.ts';
import type { Delivery, Store, StoreEvent } from '../../src/store/store.ts';
import { waitFor } from '../support/wait.ts';
import type { CurrentStore } from './contract.ts';
import { claim, insertInState, LEASE_MS, nextId, noDelivery, T0, TENANT, webhookFactory } from './fixtures.ts';

const HOOK = 'https://example.test/hook';
const BY = 'key:0';

async function createAction(
  store: Store,
  action: BulkActionKind,
  filter: BulkFilterWire,
  now = T0 + 10_000,
  tenant: string | null = TENANT,
  priority: number | null = null,
) {
  const request = checkBulkRequest(action, filter, { tenant: tenant ?? TENANT, admin: tenant === null });
  return store.bulkActionCreate({
    id: nextId(ID_PREFIXES.bulkAction),
    action,
    filter,
    tenant: request.tenant,
    selection: request.selection,
    priority,
    createdBy: BY,
    now,
  });
}

/** `action` claimed (at T0 + 20 s) and taken one step, a batch of 10: the whole of a small action. */
async function runWhole(
  store: Store,
  action: { readonly id: string },
  options: Pick<Parameters<Store['bulkActionStep']>[0], 'delivery' | 'onCancelled'>,
): ReturnType<Store['bulkActionStep']> {
  const claimed = await store.bulkActionClaim({ now: T0 + 20_000, leaseMs: LEASE_MS });
  return store.bulkActionStep({ id: action.id, leaseToken: claimed!.leaseToken!, now: T0 + 20_000, leaseMs: LEASE_MS, batchSize: 10, ...options });
}

/** The one delivery due (a test's store holds one), claimed and ended dead by an attempt answered `statusCode`. */
async function deadDelivery(store: Store, statusCode: number, error: string | null): Promise<Delivery> {
  const [claimed] = await store.deliveryClaimDue({ now: T0 + 5_000, workerId: 'd1', leaseMs: LEASE_MS, limit: 10 });
  assert.ok(claimed !== undefined, 'a delivery is due');
  const dead = await store.deliveryRecordAttempt({
    id: claimed.id,
    leaseToken: claimed.leaseToken ?? '',
    outcome: 'dead',
    nextAttemptAt: null,
    now: T0 + 5_001,
    attempt: { trigger: 'scheduled', startedAt: T0 + 5_000, durationMs: 1, statusCode, error, responseSnippet: null },
  });
  assert.equal(dead?.state, 'dead');
  return dead!;
}

export function bulkActionContract(store: CurrentStore, pendingCounts: (store: Store) => Promise<Map<string, number>>): void {
  describe('operationRedrive', () => {
    it('puts a failed operation back to pending as a fresh run, and its end writes a new delivery', async () => {
      const factory = webhookFactory();
      const { op } = await insertInState(store(), 'failed', { webhookUrl: HOOK, maxAttempts: 1 }, factory);
      assert.equal(op.webhookState, 'pending');
      const before = await pendingCounts(store());
      const now = T0 + 5_000;
      const outcome = await store().operationRedrive({ id: op.id, tenant: TENANT, now, by: BY });
      assert.equal(outcome.kind, 'redriven');
      const redriven = await store().operationGetById(op.id);
      assert.equal(redriven?.status, 'pending');
      assert.equal(redriven?.attempt, 1);
      assert.equal(redriven?.error, null);
      assert.equal(redriven?.startedAt, null);
      assert.equal(redriven?.finishedAt, null);
      assert.equal(redriven?.finishedVersion, null, 'no longer ended');
      assert.equal(redriven?.redrivenAt, now, 'known to be a redriven run (its first attempt starts a trace of its own)');
      assert.equal(op.redrivenAt, null);
      assert.equal(redriven?.runAt, now);
      assert.equal(redriven?.cancelRequested, false);
      assert.equal(redriven?.version, op.version + 1);
      assert.equal(redriven?.webhookState, null, 'the last run’s delivery is not the state of this one');
      assert.equal((await pendingCounts(store())).get(op.type), (before.get(op.type) ?? 0) + 1, 'counted pending again');
      const history = (await store().historyList({ operationId: op.id, tenant: TENANT, limit: 100 })) ?? [];
      assert.deepEqual(
        history.filter((e) => e.kind === 'redriven').map((e) => [e.at, e.data]),
        [[now, { by: BY, bulk_action_id: null }]],
      );
      const { leaseToken } = await claim(store(), op, now);
      const ended = await store().operationFinish({
        id: op.id,
        leaseToken,
        now: now + 10,
        status: 'completed',
        result: { contentType: 'text/plain', body: Buffer.from('ok') },
        delivery: factory,
      });
      assert.equal(ended?.status, 'completed');
      const deliveries = await store().deliveryListForOperation({ operationId: op.id, tenant: TENANT });
      assert.deepEqual(
        deliveries.map((d) => d.delivery.eventType),
        ['operation.failed', 'operation.completed'],
        'the old delivery stays as a record; the new end has its own',
      );
      assert.equal((await store().operationGetById(op.id))?.webhookState, 'pending');
    });

    it('redrives a cancelled one, announces it changed and due, and removes a result', async () => {
      const { op } = await insertInState(store(), 'cancelled');
      const events: string[] = [];
      const stop = store().subscribe((e) => {
        if ((e.kind === 'operation:changed' && e.id === op.id) || (e.kind === 'operation:due' && e.type === op.type)) events.push(e.kind);
      });
      const outcome = await store().operationRedrive({ id: op.id, tenant: TENANT, now: T0 + 1, by: BY });
      assert.equal(outcome.kind, 'redriven');
      await waitFor(() => events.length >= 2, { timeoutMs: 2_000, what: 'the changed and due events' }).finally(stop);
      assert.deepEqual(events.sort(), ['operation:changed', 'operation:due']);
    });

    it('gives it the priority asked for, and leaves its own without one', async () => {
      const high = await insertInState(store(), 'failed', { priority: 5 });
      const kept = await store().operationRedrive({ id: high.op.id, tenant: TENANT, now: T0 + 1, by: BY, priority: null });
      assert.equal(kept.kind === 'redriven' && kept.operation.priority, 5);
      const low = await insertInState(store(), 'cancelled', { priority: 5 });
      const lowered = await store().operationRedrive({ id: low.op.id, tenant: TENANT, now: T0 + 1, by: BY, priority: -10 });
      assert.equal(lowered.kind === 'redriven' && lowered.operation.priority, -10);
      assert.equal((await store().operationGetById(low.op.id))?.priority, -10);
    });

    it('answers not_redrivable to one that is not failed or cancelled (a lost race), and not_found to another tenant', async () => {
      const failed = await insertInState(store(), 'failed');
      assert.equal((await store().operationRedrive({ id: failed.op.id, tenant: TENANT, now: T0 + 1, by: BY })).kind, 'redriven');
      const again = await store().operationRedrive({ id: failed.op.id, tenant: TENANT, now: T0 + 2, by: BY });
      assert.equal(again.kind, 'not_redrivable', 'the second of two redrives finds it pending');
      for (const status of ['pending', 'processing', 'completed'] as const) {
        const { op } = await insertInState(store(), status);
        const outcome = await store().operationRedrive({ id: op.id, tenant: TENANT, now: T0 + 1, by: BY });
        assert.equal(outcome.kind, 'not_redrivable', status);
        assert.equal((await store().operationGetById(op.id))?.version, op.version, `${status}: unchanged`);
      }
      assert.equal((await store().operationRedrive({ id: failed.op.id, tenant: 'other', now: T0, by: BY })).kind, 'not_found');
    });
  });

  describe('bulk actions', () => {
    it('counts what a filter selects, among what existed when it was created, and keeps the record', async () => {
      const type = `bulk-${nextId('t')}`;
      const failed = [];
      for (let i = 0; i < 3; i++) failed.push((await insertInState(store(), 'failed', { type })).op);
      await insertInState(store(), 'completed', { type });
      await insertInState(store(), 'failed', { type, tenant: 'other' });
      const created = await createAction(store(), 'retry', { type });
      assert.equal(created.total, 3);
      assert.equal(
        await store().bulkActionCount({
          tenant: TENANT,
          selection: checkBulkRequest('retry', { type }, { tenant: TENANT, admin: false }).selection,
          existedBy: T0 + 10_000,
        }),
        3,
      );
      assert.deepEqual([created.status, created.processed, created.createdBy, created.tenant], ['pending', 0, BY, TENANT]);
      assert.deepEqual(created.filter, { type });
      assert.deepEqual(await store().bulkActionGet({ id: created.id, tenant: TENANT }), created);
      assert.equal(await store().bulkActionGet({ id: created.id, tenant: 'other' }), null, 'another tenant does not see it');
      assert.deepEqual((await store().bulkActionGet({ id: created.id, tenant: null }))?.id, created.id, 'an admin does');
      const all = await createAction(store(), 'retry', { type }, T0 + 10_000, null);
      assert.equal(all.total, 4, 'every tenant’s, for an admin');
      assert.deepEqual(
        (await store().bulkActionList({ tenant: TENANT, limit: 10 })).map((a) => a.id),
        [created.id],
      );
      assert.deepEqual(
        (await store().bulkActionList({ tenant: null, limit: 10 })).map((a) => a.id),
        [all.id, created.id],
      );
    });

    it('a retry with a priority keeps it on its record, and a runner that resumes it redrives each at it', async () => {
      const type = `bulk-${nextId('t')}`;
      const failed = [];
      for (let i = 0; i < 3; i++) failed.push((await insertInState(store(), 'failed', { type, priority: 3 })).op);
      const action = await createAction(store(), 'retry', { type }, T0 + 10_000, TENANT, -10);
      assert.equal(action.priority, -10);
      assert.deepEqual(action.filter, { type }, 'the priority is not part of the filter');
      assert.deepEqual(await store().bulkActionGet({ id: action.id, tenant: TENANT }), action);
      const now = T0 + 30_000;
      const claimed = await store().bulkActionClaim({ now, leaseMs: LEASE_MS });
      const step = { id: action.id, leaseToken: claimed!.leaseToken!, now, leaseMs: LEASE_MS, batchSize: 2, delivery: noDelivery };
      assert.equal((await store().bulkActionStep(step))?.processed, 2);
      // Its runner stops; the one that takes it over reads the priority back from the row.
      const taken = await store().bulkActionClaim({ now: now + LEASE_MS + 1, leaseMs: LEASE_MS });
      assert.equal(taken?.priority, -10);
      const done = await store().bulkActionStep({ ...step, leaseToken: taken!.leaseToken!, now: now + LEASE_MS + 2 });
      assert.deepEqual([done?.status, done?.succeeded], ['completed', 3]);
      for (const op of failed) assert.equal((await store().operationGetById(op.id))?.priority, -10, op.id);
      const plain = await createAction(store(), 'retry', { type });
      assert.equal(plain.priority, null, 'without one: each keeps its own');
    });

    it('a retry skips operations of types the runner does not run (runnableTypes): back to pending, none would run them', async () => {
      const tenant = `t-${nextId('t').toLowerCase()}`;
      const [runs, gone] = [`bulk-${nextId('t')}`, `bulk-${nextId('t')}`];
      const kept = (await insertInState(store(), 'failed', { type: runs, tenant })).op;
      const orphan = (await insertInState(store(), 'failed', { type: gone, tenant })).op;
      const action = await createAction(store(), 'retry', { status: 'failed' }, T0 + 10_000, tenant);
      const now = T0 + 30_000;
      const claimed = await store().bulkActionClaim({ now, leaseMs: LEASE_MS });
      assert.equal(claimed?.id, action.id);
      const step = { id: action.id, leaseToken: claimed!.leaseToken!, now, leaseMs: LEASE_MS, batchSize: 10, delivery: noDelivery, runnableTypes: [runs] };
      const done = await store().bulkActionStep(step);
      assert.deepEqual([done?.status, done?.processed, done?.succeeded, done?.skipped], ['completed', 2, 1, 1]);
      assert.equal((await store().operationGetById(kept.id))?.status, 'pending');
      assert.equal((await store().operationGetById(orphan.id))?.status, 'failed', 'left failed, where an operator can see it');
    });

    it('one runner holds it; batches move the cursor and the counts; it completes; a lost lease changes nothing', async () => {
      const type = `bulk-${nextId('t')}`;
      const failed = [];
      for (let i = 0; i < 3; i++) failed.push((await insertInState(store(), 'failed', { type })).op);
      const action = await createAction(store(), 'retry', { type });
      const late = (await insertInState(store(), 'failed', { type, now: T0 + 20_000 })).op;
      const now = T0 + 30_000;
      const claimed = await store().bulkActionClaim({ now, leaseMs: LEASE_MS });
      assert.equal(claimed?.id, action.id);
      assert.equal(claimed?.status, 'processing');
      assert.equal(claimed?.startedAt, now);
      assert.equal(await store().bulkActionClaim({ now: now + 1, leaseMs: LEASE_MS }), null, 'held by a live lease');
      const step = { id: action.id, leaseToken: claimed!.leaseToken!, now, leaseMs: LEASE_MS, batchSize: 2, delivery: noDelivery };
      assert.equal(await store().bulkActionStep({ ...step, leaseToken: 'stolen' }), null);
      const first = await store().bulkActionStep(step);
      assert.deepEqual([first?.status, first?.processed, first?.succeeded, first?.cursor], ['processing', 2, 2, failed[1]!.id]);
      // Its runner stops: once the lease runs out another takes it over and resumes after the cursor.
      const taken = await store().bulkActionClaim({ now: now + LEASE_MS + 1, leaseMs: LEASE_MS });
      assert.equal(taken?.id, action.id);
      assert.equal(taken?.cursor, failed[1]!.id);
      assert.equal(await store().bulkActionStep(step), null, 'the old lease is gone');
      // The third is redriven before the batch reaches it: no longer a match, it is not taken.
      await store().operationRedrive({ id: failed[2]!.id, tenant: TENANT, now, by: BY });
      const second = await store().bulkActionStep({ ...step, leaseToken: taken!.leaseToken!, now: now + LEASE_MS + 2 });
      assert.deepEqual([second?.status, second?.processed, second?.succeeded, second?.skipped], ['completed', 2, 2, 0]);
      assert.equal(second?.finishedAt, now + LEASE_MS + 2);
      assert.equal(second?.leaseToken, null);
      for (const op of failed) assert.equal((await store().operationGetById(op.id))?.status, 'pending');
      const history = (await store().historyList({ operationId: failed[0]!.id, tenant: TENANT, limit: 100 })) ?? [];
      assert.deepEqual(
        history.filter((e) => e.kind === 'redriven').map((e) => e.data),
        [{ by: BY, bulk_action_id: action.id }],
        'the bulk action is named on each operation it redrove',
      );
      assert.equal((await store().operationGetById(late.id))?.status, 'failed', 'made after the action: not touched');
      assert.equal(await store().bulkActionClaim({ now: now + 10 * LEASE_MS, leaseMs: LEASE_MS }), null, 'a finished action is not claimed');
    });

    it('cancel: a pending one ends cancelled with its outbox row, a processing one has its cancel requested', async () => {
      const type = `bulk-${nextId('t')}`;
      const processing = (await insertInState(store(), 'processing', { type })).op;
      const pending = (await insertInState(store(), 'pending', { type, webhookUrl: HOOK })).op;
      const action = await createAction(store(), 'cancel', { type });
      assert.equal(action.total, 2);
      const told: string[][] = [];
      const done = await runWhole(store(), action, {
        delivery: webhookFactory(),
        onCancelled: (operations) => told.push(operations.map((op) => `${op.id} ${op.status}`)),
      });
      assert.deepEqual([done?.status, done?.succeeded], ['completed', 2]);
      assert.deepEqual(told, [[`${pending.id} cancelled`]], 'told once, after the batch, of the pending one it ended (the running one ends where it runs)');
      const cancelled = await store().operationGetById(pending.id);
      assert.deepEqual([cancelled?.status, cancelled?.webhookState], ['cancelled', 'pending']);
      assert.equal((await store().operationGetById(processing.id))?.cancelRequested, true);
    });

    it('cancel: one whose cancel was requested already is skipped, not counted as changed, and nothing is written', async () => {
      const type = `bulk-${nextId('t')}`;
      const asked = (await insertInState(store(), 'processing', { type })).op;
      assert.equal((await store().operationCancel({ id: asked.id, tenant: asked.tenant, now: T0 + 10_000, delivery: noDelivery })).kind, 'requested');
      const before = await store().operationGetById(asked.id);
      const done = await runWhole(store(), await createAction(store(), 'cancel', { type }), { delivery: noDelivery });
      assert.deepEqual([done?.status, done?.processed, done?.succeeded, done?.skipped], ['completed', 1, 0, 1]);
      assert.equal((await store().operationGetById(asked.id))?.version, before?.version, 'unchanged');
    });

    it('delete: terminal ones go, one whose webhook is still being delivered stays (skipped)', async () => {
      const type = `bulk-${nextId('t')}`;
      const gone = (await insertInState(store(), 'completed', { type })).op;
      const delivering = (await insertInState(store(), 'failed', { type, webhookUrl: HOOK }, webhookFactory())).op;
      const action = await createAction(store(), 'delete', { type });
      const claimed = await store().bulkActionClaim({ now: T0 + 20_000, leaseMs: LEASE_MS });
      const announced: StoreEvent[] = [];
      const stop = store().subscribe((event) => announced.push(event));
      const done = await store().bulkActionStep({
        id: action.id,
        leaseToken: claimed!.leaseToken!,
        now: T0 + 20_000,
        leaseMs: LEASE_MS,
        batchSize: 10,
        delivery: noDelivery,
      });
      stop();
      assert.deepEqual([done?.status, done?.processed, done?.succeeded, done?.skipped], ['completed', 2, 1, 1]);
      assert.deepEqual(announced, [{ kind: 'operation:deleted', id: gone.id }], 'the one deleted is announced, as a single delete is');
      assert.equal(await store().operationGetById(gone.id), null);
      assert.equal((await store().operationGetById(delivering.id))?.status, 'failed');
    });

    it('replay_deliveries: dead deliveries go back to pending', async () => {
      const { op } = await insertInState(store(), 'completed', { webhookUrl: HOOK }, webhookFactory());
      const delivery = await deadDelivery(store(), 500, 'HTTP 500');
      assert.equal(delivery.operationId, op.id);
      const action = await createAction(store(), 'replay_deliveries', { url: HOOK });
      assert.equal(action.total, 1);
      const done = await runWhole(store(), action, { delivery: noDelivery });
      assert.deepEqual([done?.status, done?.succeeded], ['completed', 1]);
      assert.equal((await store().deliveryGet({ id: delivery.id, tenant: TENANT }))?.state, 'pending');
    });

    it('replay_deliveries leaves out, counted and done, a dead delivery of an end its operation was retried past', async () => {
      const url = `${HOOK}/${nextId('t')}`;
      const { op } = await insertInState(store(), 'failed', { webhookUrl: url, maxAttempts: 1 }, webhookFactory());
      const delivery = await deadDelivery(store(), 410, null);
      const selection = checkBulkRequest('replay_deliveries', { url }, { tenant: TENANT, admin: false }).selection;
      assert.equal(await store().bulkActionCount({ tenant: TENANT, selection, existedBy: T0 + 10_000 }), 1, 'dead, before the retry');
      assert.equal((await store().operationRedrive({ id: op.id, tenant: TENANT, now: T0 + 6_000, by: BY })).kind, 'redriven');
      assert.equal(await store().bulkActionCount({ tenant: TENANT, selection, existedBy: T0 + 10_000 }), 0, 'superseded by it');
      assert.equal((await createAction(store(), 'replay_deliveries', { url })).total, 0);
      assert.equal((await store().deliveryGet({ id: delivery.id, tenant: TENANT }))?.superseded, true);
    });

    it('a released lease lets the next claim resume it at once', async () => {
      const action = await createAction(store(), 'retry', {});
      const claimed = await store().bulkActionClaim({ now: T0 + 20_000, leaseMs: LEASE_MS });
      await store().bulkActionRelease({ id: action.id, leaseToken: 'stolen' });
      assert.equal(await store().bulkActionClaim({ now: T0 + 20_001, leaseMs: LEASE_MS }), null, 'a wrong token releases nothing');
      await store().bulkActionRelease({ id: action.id, leaseToken: claimed!.leaseToken! });
      const again = await store().bulkActionClaim({ now: T0 + 20_002, leaseMs: LEASE_MS });
      assert.equal(again?.id, action.id);
      assert.equal(again?.startedAt, T0 + 20_000, 'started when it first started');
    });

    it('fails under its lease with an error', async () => {
      const action = await createAction(store(), 'retry', {});
      const claimed = await store().bulkActionClaim({ now: T0 + 20_000, leaseMs: LEASE_MS });
      assert.equal(await store().bulkActionFail({ id: action.id, leaseToken: 'stolen', now: T0, error: { code: 'x', message: 'y' } }), null);
      const failed = await store().bulkActionFail({
        id: action.id,
        leaseToken: claimed!.leaseToken!,
        now: T0 + 20_001,
        error: { code: 'store_error', message: 'gone' },
      });
      assert.deepEqual([failed?.status, failed?.error, failed?.finishedAt], ['failed', { code: 'store_error', message: 'gone' }, T0 + 20_001]);
    });
  });
}
