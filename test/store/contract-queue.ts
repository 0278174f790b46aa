// Owns: contract cases for putting operations in and reading them out: insert, idempotency, get, list, counts, claim order.
// Not here: what happens under a lease (contract-lifecycle.ts).
// Invariant: uses only the Store interface; time passes through `now`.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CurrentStore } from './contract.ts';
import { claim, draft, insertInState, LEASE_MS, noDelivery, T0, TENANT } from './fixtures.ts';

export function operationQueueContract(store: CurrentStore): void {
  describe('operationInsert and operationGet', () => {
    it('creates a pending operation with every field set from the draft', async () => {
      const trace = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: 'k=v' };
      const d = draft({
        priority: 5,
        timeoutS: 90,
        maxAttempts: 4,
        runAt: T0 + 10,
        webhookUrl: 'https://example.test/hook',
        cost: 12.5,
        trace,
        concurrencyKey: 'acct-1',
        scheduleId: 'sch_01HF7YAT01V6JR087EYEQ6E05Q',
        now: T0,
      });
      const result = await store().operationInsert(d);
      assert.equal(result.kind, 'created');
      const expected = {
        id: d.id,
        tenant: TENANT,
        type: 'report',
        status: 'pending',
        input: d.input,
        progress: null,
        progressMessage: null,
        attempt: 1,
        maxAttempts: 4,
        priority: 5,
        timeoutS: 90,
        runAt: T0 + 10,
        createdAt: T0,
        startedAt: null,
        finishedAt: null,
        finishedVersion: null,
        redrivenAt: null,
        updatedAt: T0,
        error: null,
        webhookUrl: 'https://example.test/hook',
        webhookState: null,
        cancelRequested: false,
        leaseToken: null,
        leaseExpiresAt: null,
        workerId: null,
        resultExpired: false,
        cost: 12.5,
        progressAnchor: null,
        trace,
        concurrencyKey: 'acct-1',
        scheduleId: 'sch_01HF7YAT01V6JR087EYEQ6E05Q',
        version: 1,
      };
      assert.deepEqual(result.kind === 'created' && result.operation, expected);
      assert.deepEqual(await store().operationGet({ id: d.id, tenant: TENANT }), expected);
      assert.deepEqual(await store().operationGetById(d.id), expected);
    });

    it('round-trips any JSON input', async () => {
      for (const input of [null, 0, 'text', [1, { a: [true, null] }], { nested: { ünï: 'cödé', n: 1.5 } }]) {
        const d = draft({ input });
        await store().operationInsert(d);
        assert.deepEqual((await store().operationGetById(d.id))?.input, input);
      }
    });

    it('hides an operation from another tenant and answers null for unknown ids', async () => {
      const d = draft();
      await store().operationInsert(d);
      assert.equal(await store().operationGet({ id: d.id, tenant: 'other' }), null);
      assert.equal(await store().operationGet({ id: 'op_unknown', tenant: TENANT }), null);
      assert.equal(await store().operationGetById('op_unknown'), null);
    });
  });

  describe('idempotency keys', () => {
    const claimKey = (key: string, fingerprint = 'fp-1', expiresAt = T0 + 86_400_000) => ({ key, fingerprint, expiresAt });

    it('replays the earlier operation for the same key and fingerprint, without inserting another', async () => {
      const first = draft();
      const created = await store().operationInsert(first, claimKey('k1'));
      assert.equal(created.kind, 'created');
      const again = await store().operationInsert(draft({ now: T0 + 5 }), claimKey('k1'));
      assert.equal(again.kind, 'replayed');
      assert.equal(again.kind === 'replayed' && again.operation.id, first.id);
      assert.equal((await store().operationList({ tenant: TENANT, limit: 10 })).length, 1);
    });

    it('refuses the same key with another fingerprint and names the earlier operation', async () => {
      const first = draft();
      await store().operationInsert(first, claimKey('k1', 'fp-1'));
      const other = await store().operationInsert(draft(), claimKey('k1', 'fp-2'));
      assert.deepEqual(other, { kind: 'key_mismatch', operationId: first.id });
      assert.equal((await store().operationList({ tenant: TENANT, limit: 10 })).length, 1);
    });

    it('scopes keys per tenant', async () => {
      await store().operationInsert(draft(), claimKey('k1', 'fp-1'));
      const elsewhere = await store().operationInsert(draft({ tenant: 'other' }), claimKey('k1', 'fp-2'));
      assert.equal(elsewhere.kind, 'created');
    });

    it('treats a key whose expiry has passed as free', async () => {
      await store().operationInsert(draft(), claimKey('k1', 'fp-1', T0 + 1_000));
      const later = draft({ now: T0 + 1_001 });
      const reused = await store().operationInsert(later, claimKey('k1', 'fp-2', T0 + 99_000));
      assert.equal(reused.kind, 'created');
      const replay = await store().operationInsert(draft({ now: T0 + 2_000 }), claimKey('k1', 'fp-2'));
      assert.equal(replay.kind === 'replayed' && replay.operation.id, later.id);
    });

    it('replays the operation as it is now, not as it was inserted', async () => {
      const first = draft({ type: 'replayed' });
      await store().operationInsert(first, claimKey('k2'));
      const { leaseToken } = await claim(store(), first);
      const replay = await store().operationInsert(draft({ type: 'replayed' }), claimKey('k2'));
      assert.equal(replay.kind === 'replayed' && replay.operation.status, 'processing');
      assert.equal(replay.kind === 'replayed' && replay.operation.leaseToken, leaseToken);
    });
  });

  describe('operationList', () => {
    it('pages newest first with beforeId, without gaps or repeats', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) {
        const d = draft();
        ids.push(d.id);
        await store().operationInsert(d);
      }
      await store().operationInsert(draft({ tenant: 'other' }));
      const seen: string[] = [];
      let beforeId: string | undefined;
      for (;;) {
        const page = await store().operationList({ tenant: TENANT, limit: 3, beforeId });
        seen.push(...page.map((op) => op.id));
        if (page.length < 3) break;
        beforeId = page.at(-1)!.id;
      }
      assert.deepEqual(seen, [...ids].reverse());
    });

    it('filters by status and type', async () => {
      const pending = await insertInState(store(), 'pending', { type: 'a' });
      const done = await insertInState(store(), 'completed', { type: 'b' });
      await insertInState(store(), 'failed', { type: 'b' });
      const byStatus = await store().operationList({ tenant: TENANT, status: 'completed', limit: 10 });
      assert.deepEqual(
        byStatus.map((op) => op.id),
        [done.op.id],
      );
      const byType = await store().operationList({ tenant: TENANT, type: 'a', limit: 10 });
      assert.deepEqual(
        byType.map((op) => op.id),
        [pending.op.id],
      );
      const both = await store().operationList({ tenant: TENANT, type: 'b', status: 'completed', limit: 10, beforeId: 'op_ZZZZ' });
      assert.deepEqual(
        both.map((op) => op.id),
        [done.op.id],
      );
    });

    it('lists only the asking tenant', async () => {
      await store().operationInsert(draft({ tenant: 'other' }));
      assert.deepEqual(await store().operationList({ tenant: TENANT, limit: 10 }), []);
    });
  });

  describe('operationCounts and operationNextRunAt', () => {
    it('counts operations by type and status', async () => {
      await insertInState(store(), 'completed', { type: 'a' });
      await store().operationInsert(draft({ type: 'a' }));
      await store().operationInsert(draft({ type: 'a' }));
      await store().operationInsert(draft({ type: 'b', tenant: 'other' }));
      const counts = await store().operationCounts();
      const sorted = [...counts].sort((x, y) => `${x.type}/${x.status}`.localeCompare(`${y.type}/${y.status}`));
      assert.deepEqual(sorted, [
        { type: 'a', status: 'completed', count: 1 },
        { type: 'a', status: 'pending', count: 2 },
        { type: 'b', status: 'pending', count: 1 },
      ]);
    });

    it('reports the earliest run_at among pending operations of the given types, or null', async () => {
      const types = ['report', 'other'];
      assert.equal(await store().operationNextRunAt({ types }), null);
      await store().operationInsert(draft({ runAt: T0 + 500 }));
      await store().operationInsert(draft({ type: 'other', runAt: T0 + 200 }));
      await store().operationInsert(draft({ type: 'not-mine', runAt: T0 + 50 }));
      await insertInState(store(), 'processing', { type: 'report', runAt: T0 + 100 });
      assert.equal(await store().operationNextRunAt({ types }), T0 + 200);
      assert.equal(await store().operationNextRunAt({ types: ['report'] }), T0 + 500);
      assert.equal(await store().operationNextRunAt({ types: [] }), null);
    });
  });

  describe('operationClaimDue', () => {
    const claimAll = (now: number, types: Array<{ type: string; limit: number }>, limit = 100, workerId = 'w1') =>
      store().operationClaimDue({ now, workerId, leaseMs: LEASE_MS, types, limit });

    it('claims due operations in priority, run_at, id order and sets the lease', async () => {
      const low = draft({ priority: 0, runAt: T0 - 100 });
      const highLate = draft({ priority: 5, runAt: T0 - 10 });
      const highEarly = draft({ priority: 5, runAt: T0 - 20 });
      const sameAsEarly = draft({ priority: 5, runAt: T0 - 20 });
      const future = draft({ priority: 9, runAt: T0 + 1 });
      for (const d of [low, highLate, highEarly, sameAsEarly, future]) await store().operationInsert(d);
      const claimed = await claimAll(T0, [{ type: 'report', limit: 10 }], 10, 'worker-7');
      assert.deepEqual(
        claimed.map((op) => op.id),
        [highEarly.id, sameAsEarly.id, highLate.id, low.id],
      );
      for (const op of claimed) {
        assert.equal(op.status, 'processing');
        assert.equal(op.startedAt, T0);
        assert.equal(op.updatedAt, T0);
        assert.equal(op.leaseExpiresAt, T0 + LEASE_MS);
        assert.equal(op.workerId, 'worker-7');
        assert.equal(op.version, 2);
        assert.equal(op.progress, null);
        assert.equal(typeof op.leaseToken, 'string');
        assert.deepEqual(await store().operationGetById(op.id), op);
      }
      assert.equal(new Set(claimed.map((op) => op.leaseToken)).size, 4);
    });

    it('never claims an operation twice', async () => {
      await store().operationInsert(draft());
      assert.equal((await claimAll(T0, [{ type: 'report', limit: 5 }])).length, 1);
      assert.equal((await claimAll(T0 + 1, [{ type: 'report', limit: 5 }], 100, 'w2')).length, 0);
    });

    it('honours per-type limits, the overall limit, and claims only the listed types', async () => {
      for (let i = 0; i < 4; i++) await store().operationInsert(draft({ type: 'a' }));
      for (let i = 0; i < 4; i++) await store().operationInsert(draft({ type: 'b', priority: 1 }));
      await store().operationInsert(draft({ type: 'c', priority: 9 }));
      const first = await claimAll(T0, [
        { type: 'a', limit: 2 },
        { type: 'b', limit: 3 },
      ]);
      assert.deepEqual(first.map((op) => op.type).sort(), ['a', 'a', 'b', 'b', 'b']);
      const capped = await claimAll(
        T0,
        [
          { type: 'a', limit: 5 },
          { type: 'b', limit: 5 },
        ],
        2,
      );
      assert.deepEqual(
        capped.map((op) => op.type),
        ['b', 'a'],
        'the overall limit keeps claim order across types',
      );
      assert.deepEqual(await claimAll(T0, [{ type: 'a', limit: 0 }]), []);
      assert.deepEqual(await claimAll(T0, [{ type: 'a', limit: 5 }], 0), []);
      assert.deepEqual(await claimAll(T0, []), []);
    });

    it('resets progress when an operation is claimed again', async () => {
      const { op, leaseToken } = await insertInState(store(), 'processing');
      await store().operationProgress({ id: op.id, leaseToken: leaseToken!, now: T0, progress: 0.5, message: 'half' });
      await store().operationRelease({ id: op.id, leaseToken: leaseToken!, now: T0, delivery: noDelivery });
      const again = await claim(store(), op);
      assert.equal(again.op.progress, null);
      assert.equal(again.op.progressMessage, null);
    });
  });
}
