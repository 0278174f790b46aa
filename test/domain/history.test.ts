// Owns: the history rules of domain/history.ts: which progress reports are milestones (and so the bound per claim),
// the event a requeue and an end record, and how an event reads on the wire.
// Not here: recording them (test/store/contract-history.ts), the route (test/e2e/history.test.ts).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  endEvent,
  historyBound,
  historyEventJson,
  isProgressMilestone,
  MAX_PROGRESS_EVENTS_PER_CLAIM,
  progressStep,
  PROGRESS_STEPS,
  requeueEvent,
  requeueKind,
} from '../../src/domain/history.ts';
import { seededRandom } from '../support/seeded-random.ts';

/** Runs reports through the rule as an attempt does: the milestones it would record. */
function milestones(reports: ReadonlyArray<number | null>): Array<number | null> {
  let last: number | null = null;
  const recorded: Array<number | null> = [];
  for (const fraction of reports) {
    if (!isProgressMilestone(last, fraction)) continue;
    last = progressStep(fraction);
    recorded.push(fraction);
  }
  return recorded;
}

describe('progress milestones', () => {
  it('records the first report, then one per 10 % step reached', () => {
    assert.deepEqual(milestones([0.01, 0.02, 0.09, 0.1, 0.15, 0.19, 0.35, 0.36, 0.999, 1]), [0.01, 0.1, 0.35, 0.999, 1]);
  });

  it('records nothing for a report that goes back or stays in its step', () => {
    assert.deepEqual(milestones([0.55, 0.2, 0.51, 0.59, 0.6]), [0.55, 0.6]);
  });

  it('treats a report without a fraction as below every step, so only a first one is recorded', () => {
    assert.deepEqual(milestones([null, null, 0, 0.05]), [null, 0]);
  });

  it('bounds the events of a claim however often and however finely the handler reports', () => {
    const reports = [null, ...Array.from({ length: 100_000 }, (_, i) => i / 100_000), 1];
    const recorded = milestones(reports);
    assert.equal(recorded.length, PROGRESS_STEPS + 2);
    assert.equal(recorded.length, MAX_PROGRESS_EVENTS_PER_CLAIM);
    // And a random walk cannot do better than a steady climb.
    const random = seededRandom(7);
    assert.ok(milestones(Array.from({ length: 10_000 }, () => random())).length <= MAX_PROGRESS_EVENTS_PER_CLAIM);
  });

  it('keeps the steps within 0..PROGRESS_STEPS, with exact tenths in their own step', () => {
    assert.equal(progressStep(0.3), 3);
    assert.equal(progressStep(0.7), 7, 'a tenth off by a rounding error in binary is still its own step');
    assert.equal(progressStep(-1), 0);
    assert.equal(progressStep(2), PROGRESS_STEPS);
    assert.equal(progressStep(Number.NaN), -1);
  });

  it('bounds an operation: created, a cancel request and an end, plus per claim and per webhook attempt', () => {
    assert.equal(historyBound(0, 0), 3);
    assert.equal(historyBound(3, 2), 3 + 3 * (2 + MAX_PROGRESS_EVENTS_PER_CLAIM) + 2);
  });
});

describe('events of transitions', () => {
  const error = { code: 'flaky', message: 'try again' };

  it('a retry records the failed attempt, its error and the next run; a release and an expiry only the attempt', () => {
    const retry = { event: 'retry', to: 'pending', attemptIncrement: 1, runAt: 5_000, error } as const;
    assert.equal(requeueKind(retry), 'attempt_failed');
    assert.deepEqual(requeueEvent('op_1', 10, retry, 2, 5_000), {
      operationId: 'op_1',
      at: 10,
      kind: 'attempt_failed',
      data: { attempt: 2, error, next_run_at: 5_000 },
    });
    const release = { event: 'release', to: 'pending', attemptIncrement: 0, runAt: null, error: null } as const;
    assert.deepEqual(requeueEvent('op_1', 10, release, 2, 10), { operationId: 'op_1', at: 10, kind: 'released', data: { attempt: 2 } });
    const expired = { event: 'lease_expired', to: 'pending', attemptIncrement: 1, runAt: 10, error } as const;
    assert.deepEqual(requeueEvent('op_1', 10, expired, 1, 10).kind, 'lease_expired');
  });

  it('an end records its status, with the error unless it completed', () => {
    assert.deepEqual(endEvent('op_1', 1, 'completed', null).data, {});
    assert.deepEqual(endEvent('op_1', 1, 'failed', error), { operationId: 'op_1', at: 1, kind: 'failed', data: { error } });
    assert.equal(endEvent('op_1', 1, 'cancelled', error).kind, 'cancelled');
  });
});

describe('historyEventJson', () => {
  it('puts seq, at and kind with the data, and shows stored ms as RFC 3339', () => {
    assert.deepEqual(
      historyEventJson({
        seq: 4,
        operationId: 'op_1',
        at: 0,
        kind: 'attempt_failed',
        data: { attempt: 1, error: { code: 'x', message: 'y' }, next_run_at: 1_000 },
      }),
      {
        seq: 4,
        at: '1970-01-01T00:00:00.000Z',
        kind: 'attempt_failed',
        attempt: 1,
        error: { code: 'x', message: 'y' },
        next_run_at: '1970-01-01T00:00:01.000Z',
      },
    );
  });

  it('shows a created event without a noted ETA with estimated_completion_at null', () => {
    assert.deepEqual(historyEventJson({ seq: 1, operationId: 'op_1', at: 0, kind: 'created', data: { tenant: 't', idempotency_key: null } }), {
      seq: 1,
      at: '1970-01-01T00:00:00.000Z',
      kind: 'created',
      tenant: 't',
      idempotency_key: null,
      estimated_completion_at: null,
    });
    assert.equal(
      historyEventJson({ seq: 1, operationId: 'op_1', at: 0, kind: 'created', data: { tenant: 't', idempotency_key: null, estimated_completion_at: 2_000 } })[
        'estimated_completion_at'
      ],
      '1970-01-01T00:00:02.000Z',
    );
  });

  it('never lets data overwrite seq, at or kind', () => {
    const json = historyEventJson({ seq: 9, operationId: 'op_1', at: 0, kind: 'completed', data: { seq: 1, kind: 'x' } });
    assert.equal(json['seq'], 9);
    assert.equal(json['kind'], 'completed');
  });
});
