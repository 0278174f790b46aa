// Owns: the history rules of domain/history.ts: which progress reports are milestones (and so the bound per claim),
// when a release collapses onto the attempt's last one (and so the bound per operation), the event a requeue and an end
// record, and how an event reads on the wire.
// Not here: recording them (test/store/contract-history.ts), the route (test/e2e/history.test.ts).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  endEvent,
  historyBound,
  historyEvent,
  historyEventJson,
  isProgressMilestone,
  MAX_EVENTS_PER_CLAIM,
  MAX_PROGRESS_EVENTS_PER_CLAIM,
  progressStep,
  PROGRESS_STEPS,
  RELEASE_TAIL_LIMIT,
  releaseRecord,
  requeueEvent,
  requeueKind,
  type HistoryDraft,
  type HistoryEvent,
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
});

/**
 * A history kept as a store keeps it, driven through the domain's rules: appends take the next seq, and a release is
 * recorded as releaseRecord decides from the tail a store reads (from the latest `released` on, RELEASE_TAIL_LIMIT).
 */
class History {
  readonly events: HistoryEvent[] = [];
  #seq = 0;

  append(draft: HistoryDraft): void {
    this.events.push({ ...draft, seq: ++this.#seq });
  }

  release(at: number, attempt: number): void {
    const from = this.events.findLastIndex((e) => e.kind === 'released');
    const tail = from === -1 ? [] : this.events.slice(from, from + RELEASE_TAIL_LIMIT);
    const record = releaseRecord('op_1', at, attempt, tail);
    if (record.kind === 'append') {
      this.append(record.event);
      return;
    }
    const i = this.events.findIndex((e) => e.seq === record.seq);
    const moved = { ...this.events[i]!, at: record.at, data: record.data, seq: ++this.#seq };
    const kept = this.events.filter((e) => e.seq !== record.seq && !record.drop.includes(e.seq));
    this.events.splice(0, this.events.length, ...kept, moved);
  }

  /** A claim of `attempt` with `milestones` progress events. */
  claim(at: number, attempt: number, milestones = 0): void {
    this.append(historyEvent('op_1', at, 'claimed', { attempt, worker: 'w' }));
    for (let i = 0; i < milestones; i++) this.append(historyEvent('op_1', at, 'progress', { progress: i / 10, message: null }));
  }

  kinds(): string[] {
    return this.events.map((e) => e.kind);
  }
}

describe('releases of an attempt', () => {
  it('collapses repeated give-backs of one attempt into one released event counting them, at the latest', () => {
    const h = new History();
    h.append(historyEvent('op_1', 0, 'created', { tenant: 't', idempotency_key: null }));
    h.claim(1, 1, 2);
    h.release(2, 1);
    assert.deepEqual(h.events.at(-1)!.data, { attempt: 1, times: 1 }, 'the first release counts 1');
    for (let i = 0; i < 1_000; i++) {
      h.claim(10 + i, 1, 3);
      h.release(11 + i, 1);
    }
    // The first claim's events stay; every later claim's go with the release that followed it.
    assert.deepEqual(h.kinds(), ['created', 'claimed', 'progress', 'progress', 'released']);
    assert.deepEqual(h.events.at(-1)!.data, { attempt: 1, times: 1_001 });
    assert.equal(h.events.at(-1)!.at, 11 + 999);
    assert.ok(
      h.events.every((e, i) => i === 0 || (e.seq > h.events[i - 1]!.seq && e.at >= h.events[i - 1]!.at)),
      'seq grows, and so does at',
    );
  });

  it('keeps releases apart across anything else: another attempt, a lease expiry, a webhook attempt', () => {
    const h = new History();
    h.claim(1, 1);
    h.release(2, 1);
    h.claim(3, 1);
    h.append(historyEvent('op_1', 4, 'webhook_attempt', { delivery_id: 'd', attempt: 1, status_code: 200, duration_ms: 1, error: null, outcome: 'delivered' }));
    h.release(5, 1);
    h.claim(6, 1);
    h.append(historyEvent('op_1', 7, 'lease_expired', { attempt: 1 }));
    h.claim(8, 2);
    h.release(9, 2);
    assert.deepEqual(h.kinds(), ['claimed', 'released', 'claimed', 'webhook_attempt', 'released', 'claimed', 'lease_expired', 'claimed', 'released']);
    assert.ok(h.events.filter((e) => e.kind === 'released').every((e) => e.data['times'] === 1));
  });

  it('does not collapse a tail longer than one claim, nor one whose claim is of another attempt', () => {
    const released: HistoryEvent = { seq: 1, operationId: 'op_1', at: 0, kind: 'released', data: { attempt: 1, times: 4 } };
    const claimed = (attempt: number): HistoryEvent => ({ seq: 2, operationId: 'op_1', at: 0, kind: 'claimed', data: { attempt, worker: 'w' } });
    const progress = (seq: number): HistoryEvent => ({ seq, operationId: 'op_1', at: 0, kind: 'progress', data: { progress: null, message: null } });
    const milestones = Array.from({ length: MAX_PROGRESS_EVENTS_PER_CLAIM }, (_, i) => progress(3 + i));
    assert.deepEqual(releaseRecord('op_1', 9, 1, [released, claimed(1), ...milestones]), {
      kind: 'collapse',
      operationId: 'op_1',
      seq: 1,
      drop: [2, ...milestones.map((e) => e.seq)],
      at: 9,
      data: { attempt: 1, times: 5 },
    });
    assert.equal(releaseRecord('op_1', 9, 1, [released, claimed(1), ...milestones, progress(99)]).kind, 'append', 'more than a claim records');
    assert.equal(releaseRecord('op_1', 9, 2, [{ ...released, data: { attempt: 2, times: 1 } }, claimed(1)]).kind, 'append');
    assert.equal(releaseRecord('op_1', 9, 1, [released]).kind, 'append', 'no claim after it');
    assert.deepEqual(releaseRecord('op_1', 9, 1, []), { kind: 'append', event: historyEvent('op_1', 9, 'released', { attempt: 1, times: 1 }) });
  });

  it('bounds an operation: created; per run a cancel request and an end; per attempt two claims; per webhook attempt one more', () => {
    assert.equal(MAX_EVENTS_PER_CLAIM, 2 + MAX_PROGRESS_EVENTS_PER_CLAIM);
    assert.equal(historyBound({ attempts: 0, redrives: 0, webhookAttempts: 0 }), 3);
    assert.equal(historyBound({ attempts: 3, redrives: 1, webhookAttempts: 2 }), 1 + 1 + 2 * 2 + 3 * 2 * MAX_EVENTS_PER_CLAIM + 2 * (1 + MAX_EVENTS_PER_CLAIM));
  });

  it('holds the bound whatever order give-backs, failures, expiries and webhook attempts come in', () => {
    const random = seededRandom(13);
    for (let run = 0; run < 100; run++) {
      const h = new History();
      h.append(historyEvent('op_1', 0, 'created', { tenant: 't', idempotency_key: null }));
      let attempt = 1;
      let webhookAttempts = 0;
      const maxAttempts = 3;
      for (let step = 1; step < 400; step++) {
        h.claim(step, attempt, Math.floor(random() * (MAX_PROGRESS_EVENTS_PER_CLAIM + 1)));
        const roll = random();
        if (roll < 0.05) {
          webhookAttempts++;
          h.append(
            historyEvent('op_1', step, 'webhook_attempt', { delivery_id: 'd', attempt: 1, status_code: null, duration_ms: 1, error: 'x', outcome: 'retrying' }),
          );
        }
        if (roll < 0.9 || attempt === maxAttempts) {
          h.release(step, attempt);
          continue;
        }
        if (roll < 0.95) h.append(historyEvent('op_1', step, 'attempt_failed', { attempt, error: { code: 'x', message: '' }, next_run_at: step }));
        else h.append(historyEvent('op_1', step, 'lease_expired', { attempt }));
        attempt++;
      }
      const bound = historyBound({ attempts: maxAttempts, redrives: 0, webhookAttempts });
      assert.ok(h.events.length <= bound, `${h.events.length} events, bound ${bound}`);
    }
  });
});

describe('events of transitions', () => {
  const error = { code: 'flaky', message: 'try again' };

  it('a retry records the failed attempt, its error and the next run; an expiry only the attempt', () => {
    const retry = { event: 'retry', to: 'pending', attemptIncrement: 1, runAt: 5_000, error } as const;
    assert.equal(requeueKind(retry), 'attempt_failed');
    assert.deepEqual(requeueEvent('op_1', 10, retry, 2, 5_000), {
      operationId: 'op_1',
      at: 10,
      kind: 'attempt_failed',
      data: { attempt: 2, error, next_run_at: 5_000 },
    });
    assert.equal(requeueKind({ event: 'release' }), 'released', 'its event is releaseRecord’s');
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
