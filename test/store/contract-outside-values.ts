// Owns: contract cases for what comes from outside the store and what must not be lost with it: text a handler or a
// webhook receiver wrote (NUL, lone surrogates), lists that do not read inputs, a delete that would drop a webhook.
// Not here: the lifecycle itself (contract-lifecycle.ts), deliveries' schedule (contract-deliveries.ts).
// Invariant: both adapters keep the same cleaned text, and refuse the same deletes.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CurrentStore } from './contract.ts';
import { insertInState, LEASE_MS, noDelivery, T0, TENANT, webhookFactory } from './fixtures.ts';

const HOOK = 'https://example.test/hook';
/** NUL (PostgreSQL text refuses it) and a lone surrogate (not UTF-8) in one string. */
const DIRTY = 'a\u0000b\uD800c';
const CLEAN = 'a\uFFFDb\uFFFDc';

export function outsideValuesContract(store: CurrentStore): void {
  describe('text from outside is stored cleaned, on every write that takes it', () => {
    it('progress messages', async () => {
      const { op, leaseToken } = await insertInState(store(), 'processing');
      assert.equal(await store().operationProgress({ id: op.id, leaseToken: leaseToken!, now: T0 + 1, progress: 0.5, message: DIRTY }), true);
      assert.equal((await store().operationGetById(op.id))?.progressMessage, CLEAN);
    });

    it('an ending attempt: its error, its last progress report and its result content type', async () => {
      const failed = await insertInState(store(), 'processing');
      const ended = await store().operationFinish({
        id: failed.op.id,
        leaseToken: failed.leaseToken!,
        now: T0 + 2,
        status: 'failed',
        error: { code: `x${DIRTY}`, message: DIRTY },
        progress: { fraction: 0.4, message: DIRTY },
        delivery: noDelivery,
      });
      assert.deepEqual([ended?.error, ended?.progressMessage], [{ code: `x${CLEAN}`, message: CLEAN }, CLEAN]);
      const completed = await insertInState(store(), 'processing');
      await store().operationFinish({
        id: completed.op.id,
        leaseToken: completed.leaseToken!,
        now: T0 + 2,
        status: 'completed',
        result: { contentType: `text/plain${DIRTY}`, body: Buffer.from([0x6f, 0x6b, 0x00, 0x01]) },
        delivery: noDelivery,
      });
      const result = await store().resultGet({ id: completed.op.id, tenant: TENANT });
      assert.equal(result?.contentType, `text/plain${CLEAN}`);
      assert.deepEqual([...result!.body], [0x6f, 0x6b, 0x00, 0x01], 'a result is bytes: kept as they are');
    });

    it('a retry’s error and a recovered lease’s error', async () => {
      const retried = await insertInState(store(), 'processing');
      const back = await store().operationRetry({
        id: retried.op.id,
        leaseToken: retried.leaseToken!,
        now: T0 + 3,
        runAt: T0 + 10,
        error: { code: 'handler_error', message: DIRTY },
        delivery: noDelivery,
      });
      assert.equal(back?.error?.message, CLEAN);
      const expired = await insertInState(store(), 'processing');
      const recovered = await store().operationRecoverExpired({
        now: T0 + LEASE_MS + 1,
        delivery: noDelivery,
        error: { code: 'lease_expired', message: DIRTY },
      });
      assert.equal(recovered.requeued.find((op) => op.id === expired.op.id)?.error?.message, CLEAN);
    });

    it('a webhook attempt: the receiver’s reply and the error', async () => {
      const { op } = await insertInState(store(), 'completed', { webhookUrl: HOOK }, webhookFactory(T0));
      const [claimed] = await store().deliveryClaimDue({ now: T0, workerId: 'd1', leaseMs: LEASE_MS, limit: 10 });
      assert.equal(claimed?.operationId, op.id);
      const recorded = await store().deliveryRecordAttempt({
        id: claimed!.id,
        leaseToken: claimed!.leaseToken!,
        outcome: 'delivered',
        nextAttemptAt: null,
        now: T0 + 5,
        attempt: { trigger: 'scheduled', startedAt: T0, durationMs: 5, statusCode: 200, error: DIRTY, responseSnippet: `ok${DIRTY}` },
      });
      assert.equal(recorded?.state, 'delivered');
      const [attempt] = await store().deliveryAttempts({ deliveryId: claimed!.id });
      assert.deepEqual([attempt?.responseSnippet, attempt?.error], [`ok${CLEAN}`, CLEAN]);
    });
  });

  describe('operationList', () => {
    it('does not read inputs: a list never shows them, and they may be large', async () => {
      const { op } = await insertInState(store(), 'pending', { input: { big: 'x'.repeat(10_000) } });
      const [listed] = await store().operationList({ tenant: TENANT, limit: 1 });
      assert.equal(listed?.id, op.id);
      assert.equal(listed?.input, null);
      assert.deepEqual((await store().operationGetById(op.id))?.input, { big: 'x'.repeat(10_000) });
    });
  });

  describe('operationDelete', () => {
    it('keeps a finished operation while its webhook is still being delivered, and deletes it once delivered', async () => {
      const { op } = await insertInState(store(), 'completed', { webhookUrl: HOOK }, webhookFactory(T0));
      assert.equal(await store().operationDelete({ id: op.id, tenant: TENANT }), 'delivery_pending');
      const [claimed] = await store().deliveryClaimDue({ now: T0, workerId: 'd1', leaseMs: LEASE_MS, limit: 10 });
      await store().deliveryRecordAttempt({
        id: claimed!.id,
        leaseToken: claimed!.leaseToken!,
        outcome: 'retrying',
        nextAttemptAt: T0 + 1_000,
        now: T0 + 5,
        attempt: { trigger: 'scheduled', startedAt: T0, durationMs: 5, statusCode: 503, error: null, responseSnippet: null },
      });
      assert.equal(await store().operationDelete({ id: op.id, tenant: TENANT }), 'delivery_pending', 'retrying is still being delivered');
      assert.notEqual(await store().operationGetById(op.id), null);
      const [again] = await store().deliveryClaimDue({ now: T0 + 1_000, workerId: 'd1', leaseMs: LEASE_MS, limit: 10 });
      await store().deliveryRecordAttempt({
        id: again!.id,
        leaseToken: again!.leaseToken!,
        outcome: 'delivered',
        nextAttemptAt: null,
        now: T0 + 1_005,
        attempt: { trigger: 'scheduled', startedAt: T0 + 1_000, durationMs: 5, statusCode: 200, error: null, responseSnippet: null },
      });
      assert.equal(await store().operationDelete({ id: op.id, tenant: TENANT }), 'deleted');
      const processing = await insertInState(store(), 'processing');
      assert.equal(await store().operationDelete({ id: processing.op.id, tenant: TENANT }), 'not_terminal');
    });
  });
}
