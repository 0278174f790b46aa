import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isId } from '../../src/domain/ids.ts';
import type { Operation } from '../../src/domain/operation.ts';
import { toOperationResource } from '../../src/domain/resource.ts';
import { webhookDeliveryFactory } from '../../src/webhooks/payload.ts';

const NOW = Date.parse('2026-06-28T12:00:00.000Z');
const base: Operation = {
  id: 'op_01JD0000000000000000000000',
  tenant: 'default',
  type: 'report',
  status: 'completed',
  input: { a: 1 },
  progress: 1,
  progressMessage: null,
  attempt: 1,
  maxAttempts: 3,
  priority: 0,
  timeoutS: 300,
  runAt: NOW - 5_000,
  createdAt: NOW - 5_000,
  startedAt: NOW - 4_000,
  finishedAt: NOW - 1_000,
  updatedAt: NOW - 1_000,
  error: null,
  webhookUrl: 'https://hooks.example.com/x',
  webhookState: null,
  cancelRequested: false,
  leaseToken: null,
  leaseExpiresAt: null,
  workerId: null,
  resultExpired: false,
  cost: null,
  progressAnchor: null,
  version: 4,
};
const factory = webhookDeliveryFactory({
  clock: { now: () => NOW },
  renderResource: (op) => toOperationResource(op, { now: NOW, queuePosition: null, estimatedCompletionAt: null, route: '/reports', includeInput: false }),
  randomBytes: (n) => new Uint8Array(n).fill(7),
});

describe('webhookDeliveryFactory', () => {
  it('builds the operation.completed event with the resource as data, due now', () => {
    const draft = factory(base);
    assert.ok(draft);
    assert.ok(isId('dlv_', draft.id));
    assert.ok(isId('msg_', draft.messageId));
    assert.equal(draft.url, base.webhookUrl);
    assert.equal(draft.eventType, 'operation.completed');
    assert.equal(draft.nextAttemptAt, NOW);
    const payload = JSON.parse(draft.payload);
    assert.deepEqual(Object.keys(payload), ['type', 'timestamp', 'operation_id', 'status', 'result_url', 'error', 'data']);
    assert.equal(payload.type, 'operation.completed');
    assert.equal(payload.timestamp, '2026-06-28T11:59:59.000Z');
    assert.equal(payload.operation_id, base.id);
    assert.equal(payload.status, 'completed');
    assert.equal(payload.result_url, `/reports/${base.id}`);
    assert.equal(payload.error, null);
    assert.equal(payload.data.id, base.id);
    assert.equal(payload.data.status, 'completed');
  });

  it('names failed and cancelled events and carries the error', () => {
    const error = { code: 'handler_error', message: 'boom' };
    const failed = JSON.parse(factory({ ...base, status: 'failed', error })!.payload);
    assert.equal(failed.type, 'operation.failed');
    assert.deepEqual(failed.error, error);
    assert.equal(failed.result_url, null);
    assert.equal(factory({ ...base, status: 'cancelled' })?.eventType, 'operation.cancelled');
  });

  it('writes nothing without a webhook URL or for a status that is not terminal', () => {
    assert.equal(factory({ ...base, webhookUrl: null }), null);
    assert.equal(factory({ ...base, status: 'processing' }), null);
  });

  it('gives each delivery its own ids', () => {
    const live = webhookDeliveryFactory({
      clock: { now: () => NOW },
      renderResource: (op) => toOperationResource(op, { now: NOW, queuePosition: null, estimatedCompletionAt: null, route: null, includeInput: false }),
    });
    const a = live(base)!;
    const b = live(base)!;
    assert.notEqual(a.id, b.id);
    assert.notEqual(a.messageId, b.messageId);
  });
});
