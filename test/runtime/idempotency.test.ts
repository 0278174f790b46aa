// The Idempotency-Key gate of one process, and the fingerprint that tells a replay from another body under a key.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncOpsError } from '../../src/domain/errors.ts';
import { IdempotencyGate, fingerprintOf, submitFingerprints } from '../../src/runtime/idempotency.ts';

describe('IdempotencyGate', () => {
  it('refuses a key already in flight for the tenant until it is released; another tenant has its own', async () => {
    const gate = new IdempotencyGate();
    const release = gate.enter('a', 'k');
    assert.throws(
      () => gate.enter('a', 'k'),
      (error: unknown) => error instanceof AsyncOpsError && error.code === 'idempotency_key_in_use',
    );
    gate.enter('b', 'k')();
    release();
    gate.enter('a', 'k')();
    await assert.rejects(
      gate.hold('a', 'k', async () => {
        assert.throws(() => gate.enter('a', 'k'));
        throw new Error('work failed');
      }),
      /work failed/,
    );
    gate.enter('a', 'k')();
  });

  it('fingerprints a request by content, whatever the key order, leaving out what is undefined', () => {
    assert.equal(fingerprintOf({ a: 1, b: { c: [1, 2] }, d: undefined }), fingerprintOf({ b: { c: [1, 2] }, a: 1 }));
    assert.notEqual(fingerprintOf({ a: 1 }), fingerprintOf({ a: 2 }));
  });

  it('knows the fingerprint a request without a concurrency key had before concurrency keys, and no other', () => {
    const request = { type: 't', input: { a: 1 }, priority: 0 };
    const without = submitFingerprints({ ...request, concurrencyKey: null });
    assert.equal(without.fingerprint, fingerprintOf({ ...request, concurrencyKey: null }));
    assert.deepEqual(without.earlierFingerprints, [fingerprintOf(request)]);
    assert.deepEqual(submitFingerprints({ ...request, concurrencyKey: 'k' }).earlierFingerprints, []);
  });
});
