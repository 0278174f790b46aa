// ETag and Retry-After of a reply that carries an operation: drawn from the view at the edge.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { etagOf, retryAfterS } from '../../src/http/operation-headers.ts';
import type { OperationView } from '../../src/runtime/operation-view.ts';
import type { Operation } from '../../src/domain/operation.ts';

const view = (status: Operation['status'], estimatedCompletionAt: number | null): OperationView => ({
  operation: { id: 'op_x', version: 3, status } as Operation,
  resource: {} as OperationView['resource'],
  estimatedCompletionAt,
  renderedAt: 10_000,
});

describe('operation headers', () => {
  it('the ETag is the id and stored version, quoted', () => {
    assert.equal(etagOf({ id: 'op_x', version: 3 }), 'W/"op_x.3"');
  });

  it('Retry-After is half the time left, within 1..15 s; 1 without an ETA; none once terminal', () => {
    assert.equal(retryAfterS(view('processing', 10_000 + 8_000)), 4);
    assert.equal(retryAfterS(view('processing', 10_000 + 2_001)), 2);
    assert.equal(retryAfterS(view('pending', 10_000 + 600_000)), 15);
    assert.equal(retryAfterS(view('processing', 9_000)), 1);
    assert.equal(retryAfterS(view('pending', null)), 1);
    assert.equal(retryAfterS(view('completed', null)), null);
  });
});
