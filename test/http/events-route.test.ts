// An event stream's event kinds: `status` when the status changed or a new run began, `progress` when only progress
// did, including when one event stands for several versions another node wrote (PostgreSQL).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventKind } from '../../src/http/events-route.ts';
import { operationFromDraft } from '../../src/store/store.ts';
import type { Operation } from '../../src/domain/operation.ts';
import { draft, T0 } from '../store/fixtures.ts';

const pending = operationFromDraft(draft());
const running: Operation = { ...pending, status: 'processing', startedAt: T0 + 10, version: 2 };

describe('eventKind', () => {
  it('is status for the first event, and whenever the status changed', () => {
    assert.equal(eventKind(null, running), 'status');
    assert.equal(eventKind(pending, running), 'status');
    assert.equal(eventKind(running, { ...running, status: 'completed', version: 3 }), 'status');
  });

  it('is progress when only progress changed, in one version or several', () => {
    assert.equal(eventKind(running, { ...running, progress: 0.5, version: 3 }), 'progress');
    assert.equal(eventKind(running, { ...running, progress: 0.9, version: 6 }), 'progress');
  });

  it('is status for a new run seen as one event: a release and the claim after it, or a retry, though both read processing', () => {
    assert.equal(eventKind(running, { ...running, startedAt: T0 + 500, version: 4 }), 'status', 'released, then claimed again');
    assert.equal(eventKind(running, { ...running, attempt: 2, startedAt: T0 + 900, version: 4 }), 'status', 'failed, then retried');
  });
});
