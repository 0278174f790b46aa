// Owns: the store contract cases of the operator's reads: lists by every filter (and across tenants), the counts the
// adapters keep per tenant, type and status through every change, and what the overview is computed from.
// Not here: the overview's arithmetic (test/runtime/overview.test.ts), HTTP (test/e2e/operator.test.ts).
// Invariant: adapter-neutral: only the Store interface is used.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ID_PREFIXES, newId } from '../../src/domain/ids.ts';
import type { OperationCount, OperationDraft, OperationInsertResult, Store } from '../../src/store/store.ts';
import type { CurrentStore } from './contract.ts';
import { claim, draft, insertInState, noDelivery, T0, TENANT } from './fixtures.ts';
import { waitFor } from '../support/wait.ts';

/** A draft created at `now` with an id made then, as the service makes them (a list's time range walks the ids). */
function createdAt(now: number, overrides: Partial<OperationDraft> = {}): OperationDraft {
  return draft({ id: newId(ID_PREFIXES.operation, now), now, runAt: now, ...overrides });
}

/** The counts as a GROUP BY over every stored operation would give them: what the counters must agree with. */
async function countedByListing(store: Store, tenant: string | null): Promise<OperationCount[]> {
  const all = await store.operationList({ tenant, limit: 10_000 });
  const counts = new Map<string, OperationCount>();
  for (const op of all) {
    const key = `${op.type}\u0000${op.status}`;
    counts.set(key, { type: op.type, status: op.status, count: (counts.get(key)?.count ?? 0) + 1 });
  }
  return [...counts.values()].sort((a, b) => (a.type === b.type ? a.status.localeCompare(b.status) : a.type.localeCompare(b.type)));
}

export function operatorReadsContract(store: CurrentStore): void {
  describe('operationList filters', () => {
    it('filters by error code, created range and tenant (null: every tenant), newest first, and pages within them', async () => {
      const a1 = await store().operationInsert(createdAt(T0 + 1_000, { tenant: 'a', type: 'x' }));
      const b1 = await store().operationInsert(createdAt(T0 + 2_000, { tenant: 'b', type: 'x' }));
      const a2 = await store().operationInsert(createdAt(T0 + 3_000, { tenant: 'a', type: 'y' }));
      const failed = await insertInState(store(), 'failed', { ...createdAt(T0 + 4_000, { tenant: 'a', type: 'z' }) });
      const ids = (ops: ReadonlyArray<{ id: string }>) => ops.map((o) => o.id);
      const [ida1, idb1, ida2] = [a1, b1, a2].map((r) => (r.kind === 'created' ? r.operation.id : ''));

      assert.deepEqual(ids(await store().operationList({ tenant: null, limit: 10 })), [failed.op.id, ida2, idb1, ida1]);
      assert.deepEqual(ids(await store().operationList({ tenant: 'a', limit: 10 })), [failed.op.id, ida2, ida1]);
      assert.deepEqual(ids(await store().operationList({ tenant: null, errorCode: 'boom', limit: 10 })), [failed.op.id]);
      assert.deepEqual(ids(await store().operationList({ tenant: 'b', errorCode: 'boom', limit: 10 })), []);
      // At or after, strictly before.
      assert.deepEqual(ids(await store().operationList({ tenant: null, createdAfter: T0 + 2_000, createdBefore: T0 + 4_000, limit: 10 })), [ida2, idb1]);
      assert.deepEqual(ids(await store().operationList({ tenant: 'a', createdAfter: T0 + 2_000, createdBefore: T0 + 4_000, limit: 10 })), [ida2]);
      assert.deepEqual(ids(await store().operationList({ tenant: null, createdBefore: T0 + 1_000, limit: 10 })), []);
      assert.deepEqual(ids(await store().operationList({ tenant: null, type: 'x', status: 'pending', limit: 10 })), [idb1, ida1]);
      const first = await store().operationList({ tenant: null, createdAfter: T0 + 1_000, limit: 2 });
      const next = await store().operationList({ tenant: null, createdAfter: T0 + 1_000, limit: 2, beforeId: first.at(-1)!.id });
      assert.deepEqual([...ids(first), ...ids(next)], [failed.op.id, ida2, idb1, ida1]);
    });

    it('filters by the schedule whose tick created it, which the operation keeps however it was inserted', async () => {
      const [sch1, sch2] = [newId(ID_PREFIXES.schedule, T0), newId(ID_PREFIXES.schedule, T0 + 1)];
      const grouped = await store().operationInsert(createdAt(T0 + 1_000, { scheduleId: sch1 }));
      const keyed = await store().operationInsert(createdAt(T0 + 2_000, { scheduleId: sch1 }), { key: 'tick-2', fingerprint: 'f', expiresAt: T0 + 86_400_000 });
      const other = await store().operationInsert(createdAt(T0 + 3_000, { scheduleId: sch2 }));
      const submitted = await store().operationInsert(createdAt(T0 + 4_000));
      const created = (r: OperationInsertResult) => (r.kind === 'created' ? r.operation : assert.fail(r.kind));
      const [g, k, o, s] = [created(grouped), created(keyed), created(other), created(submitted)];
      assert.deepEqual(
        [g, k, o, s].map((op) => op.scheduleId ?? null),
        [sch1, sch1, sch2, null],
        'as inserted',
      );
      const read = await Promise.all([g, k, o, s].map((op) => store().operationGetById(op.id)));
      assert.deepEqual(
        read.map((op) => op?.scheduleId ?? null),
        [sch1, sch1, sch2, null],
        'as read back',
      );
      const listed = async (scheduleId: string, tenant: string | null = null, limit = 10) =>
        (await store().operationList({ tenant, scheduleId, limit })).map((op) => [op.id, op.scheduleId]);
      assert.deepEqual(await listed(sch1), [
        [k.id, sch1],
        [g.id, sch1],
      ]);
      assert.deepEqual(await listed(sch1, TENANT), [
        [k.id, sch1],
        [g.id, sch1],
      ]);
      assert.deepEqual(await listed(sch1, 'another tenant'), []);
      assert.deepEqual(await listed(sch2), [[o.id, sch2]]);
      assert.deepEqual(await listed('sch_none'), []);
      // It stays through the operation's life: claimed, and ended.
      const ended = await insertInState(store(), 'completed', { scheduleId: sch2 });
      assert.equal(ended.op.scheduleId, sch2);
      assert.deepEqual(await listed(sch2), [
        [ended.op.id, sch2],
        [o.id, sch2],
      ]);
    });

    it('q finds one operation by its id or by the idempotency key that created it, within the tenant asked for', async () => {
      const keyed = await store().operationInsert(createdAt(T0 + 1_000, { tenant: 'a' }), { key: 'order-42', fingerprint: 'f', expiresAt: T0 + 86_400_000 });
      const other = await store().operationInsert(createdAt(T0 + 2_000, { tenant: 'b' }), { key: 'order-42', fingerprint: 'f', expiresAt: T0 + 86_400_000 });
      assert.equal(keyed.kind, 'created');
      assert.equal(other.kind, 'created');
      const ids = async (tenant: string | null, q: string) => (await store().operationList({ tenant, q, limit: 10 })).map((o) => o.id);
      assert.deepEqual(await ids('a', keyed.operation.id), [keyed.operation.id]);
      assert.deepEqual(await ids('b', keyed.operation.id), [], "another tenant's id is not found");
      assert.deepEqual(await ids('a', 'order-42'), [keyed.operation.id]);
      assert.deepEqual(await ids('b', 'order-42'), [other.operation.id]);
      assert.deepEqual(await ids(null, 'order-42'), [other.operation.id, keyed.operation.id]);
      assert.deepEqual(await ids(null, 'no-such-key'), []);
      assert.deepEqual(await ids(null, keyed.operation.id), [keyed.operation.id]);
      // The key lives a day, the operation longer: it is found by its key for as long as it is kept, and so is the one a
      // later create made with the key once it had expired.
      await store().prune({ resultsFinishedBefore: 0, operationsFinishedBefore: 0, now: T0 + 86_400_001 });
      assert.deepEqual(await ids('a', 'order-42'), [keyed.operation.id], 'found after its key expired and was pruned');
      const reused = await store().operationInsert(createdAt(T0 + 86_400_002, { tenant: 'a' }), {
        key: 'order-42',
        fingerprint: 'g',
        expiresAt: T0 + 2 * 86_400_000,
      });
      assert.equal(reused.kind, 'created');
      assert.deepEqual(await ids('a', 'order-42'), [reused.operation.id, keyed.operation.id]);
      assert.deepEqual(await ids(null, 'order-42'), [reused.operation.id, other.operation.id, keyed.operation.id]);
    });
  });

  describe('operationCounts', () => {
    it('counts per tenant, type and status through inserts, claims, finishes, retries, cancels and deletes', async () => {
      for (let i = 0; i < 3; i++) await store().operationInsert(draft({ tenant: 'a', type: 'q' }));
      await store().operationInsert(draft({ tenant: 'b', type: 'q' }));
      await insertInState(store(), 'completed', { tenant: 'a', type: 'done' });
      const failed = await insertInState(store(), 'failed', { tenant: 'b', type: 'bad' });
      await insertInState(store(), 'cancelled', { tenant: 'a', type: 'q2' });
      const running = await insertInState(store(), 'processing', { tenant: 'a', type: 'run' });
      const retried = await store().operationRetry({
        id: running.op.id,
        leaseToken: running.leaseToken!,
        now: T0 + 10,
        runAt: T0 + 20,
        error: { code: 'flaky', message: 'again' },
        delivery: noDelivery,
      });
      assert.equal(retried?.status, 'pending');
      await claim(store(), { id: running.op.id, type: 'run' }, T0 + 20);
      assert.equal(await store().operationDelete({ id: failed.op.id, tenant: 'b' }), 'deleted');

      for (const tenant of ['a', 'b', null])
        assert.deepEqual(await store().operationCounts({ tenant }), await countedByListing(store(), tenant), `tenant ${tenant}`);
      assert.deepEqual(await store().operationCounts(), await countedByListing(store(), null));
      assert.deepEqual(await store().operationCounts({ tenant: 'a' }), [
        { type: 'done', status: 'completed', count: 1 },
        { type: 'q', status: 'pending', count: 3 },
        { type: 'q2', status: 'cancelled', count: 1 },
        { type: 'run', status: 'processing', count: 1 },
      ]);
    });

    it('stays exact over many changes (what an adapter folds its counters at)', async () => {
      for (let round = 0; round < 6; round++) {
        await Promise.all(Array.from({ length: 120 }, (_, i) => store().operationInsert(draft({ tenant: `t${i % 3}`, type: `k${round % 2}` }))));
        await store().operationClaimDue({ now: T0, workerId: 'w', leaseMs: 30_000, types: [{ type: `k${round % 2}`, limit: 50 }], limit: 50 });
        assert.deepEqual(await store().operationCounts({ tenant: null }), await countedByListing(store(), null));
      }
      for (const tenant of ['t0', 't1', 't2']) assert.deepEqual(await store().operationCounts({ tenant }), await countedByListing(store(), tenant));
    });
  });

  describe('operationStats', () => {
    it('reads what finished in the window, by bucket, and how long first attempts waited to start', async () => {
      const since = T0;
      // Created at T0 + 5 s, started at T0 + 5 s (no wait), finished a second later: bucket 0.
      await insertInState(store(), 'completed', { ...createdAt(T0 + 5_000, { type: 'r' }) });
      // A scheduled run: due at T0 + 70 s, claimed when due; finished in bucket 1.
      await insertInState(store(), 'failed', { ...createdAt(T0 + 6_000, { type: 'r', runAt: T0 + 70_000 }) });
      // Finished before the window: not read.
      await insertInState(store(), 'completed', { ...createdAt(T0 - 120_000, { type: 'r' }) });
      // Waited 2 s for a worker, and runs.
      const waiting = createdAt(T0 + 1_000, { type: 's', tenant: 'other' });
      await store().operationInsert(waiting);
      await claim(store(), waiting, T0 + 3_000);
      const stats = await store().operationStats({ tenant: null, since, bucketMs: 60_000, samples: 100 });
      const finished = [...stats.finished].sort((x, y) => x.bucket - y.bucket);
      assert.deepEqual(finished, [
        { type: 'r', status: 'completed', bucket: 0, count: 1 },
        { type: 'r', status: 'failed', bucket: 1, count: 1 },
      ]);
      assert.deepEqual(
        [...stats.pickups].sort((x, y) => x.type.localeCompare(y.type)),
        [
          { type: 'r', waitMs: 0 },
          { type: 'r', waitMs: 0 },
          { type: 's', waitMs: 2_000 },
        ],
      );
      assert.deepEqual(stats.etas, [], 'no ETA was noted on any created event');
      const ofTenant = await store().operationStats({ tenant: 'other', since, bucketMs: 60_000, samples: 100 });
      assert.deepEqual(ofTenant.finished, []);
      assert.deepEqual(ofTenant.pickups, [{ type: 's', waitMs: 2_000 }]);
    });
  });

  describe('operationStats: ETAs', () => {
    it('reads the ETA the create noted in the history of operations completed in the window', async () => {
      const noted = createdAt(T0 + 1_000, { type: 'e', tenant: 'a' });
      await store().operationInsert(noted);
      store().historyNoteEstimate({ operationId: noted.id, estimatedCompletionAt: T0 + 4_000 });
      const unnoted = createdAt(T0 + 2_000, { type: 'e', tenant: 'b' });
      await store().operationInsert(unnoted);
      const read = async (tenant: string | null) => (await store().operationStats({ tenant, since: T0, bucketMs: 60_000, samples: 100 })).etas;
      // Noted off the create's path: wait until it is there (it is on the created event, whatever the status).
      await waitFor(async () => (await store().historyList({ operationId: noted.id, tenant: 'a', limit: 1 }))?.[0]?.data['estimated_completion_at'], {
        timeoutMs: 2_000,
        what: 'the ETA noted',
      });
      for (const d of [noted, unnoted]) {
        const { leaseToken } = await claim(store(), d, T0 + 2_500);
        await store().operationFinish({ id: d.id, leaseToken, now: T0 + 5_000, status: 'completed', delivery: noDelivery });
      }
      assert.deepEqual(await read(null), [{ type: 'e', createdAt: T0 + 1_000, finishedAt: T0 + 5_000, estimatedAt: T0 + 4_000 }]);
      assert.deepEqual(await read('b'), [], 'one without a noted ETA is left out');
    });
  });
}
