import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  CANCELLED_BY_REQUEST,
  OPERATION_EVENTS,
  OPERATION_STATUSES,
  TRANSITIONS,
  allowsChange,
  decideExpiredLease,
  decideGiveBack,
  isTerminal,
  nextStatuses,
  REDRIVABLE_STATUSES,
  type LeaseOutcome,
} from '../../src/domain/status.ts';

const LOST = { code: 'lease_expired', message: 'the worker stopped answering' };
const BOOM = { code: 'boom', message: 'again' };

/** Every combination of what a decision depends on. */
const FACTS = [false, true].flatMap((cancelRequested) => [1, 2, 3].map((attempt) => ({ attempt, maxAttempts: 3, cancelRequested })));

function assertInTable(outcome: LeaseOutcome): void {
  assert.ok(
    TRANSITIONS.some((t) => t.from === 'processing' && t.event === outcome.event && t.to === outcome.to),
    `processing --${outcome.event}--> ${outcome.to}`,
  );
}

describe('operation state machine', () => {
  it('terminal statuses have no way out but an explicit redrive of a failed or cancelled one', () => {
    for (const status of OPERATION_STATUSES.filter(isTerminal)) {
      for (const event of OPERATION_EVENTS) {
        const expected = event === 'redrive' && status !== 'completed' ? ['pending'] : [];
        assert.deepEqual(nextStatuses(status, event), expected, `${status} --${event}-->`);
      }
    }
    assert.deepEqual([...REDRIVABLE_STATUSES].sort(), ['cancelled', 'failed']);
    assert.equal(REDRIVABLE_STATUSES.includes('completed'), false);
    assert.equal(REDRIVABLE_STATUSES.includes('pending'), false);
  });

  it('refuses anything not in the table', () => {
    assert.deepEqual(nextStatuses('pending', 'succeed'), []);
    assert.deepEqual(nextStatuses('pending', 'retry'), []);
    assert.deepEqual(nextStatuses('processing', 'claim'), []);
    assert.deepEqual(nextStatuses('pending', 'claim'), ['processing']);
    assert.deepEqual(nextStatuses('processing', 'retry'), ['pending']);
    assert.deepEqual(nextStatuses('processing', 'lease_expired').sort(), ['cancelled', 'failed', 'pending']);
    assert.equal(allowsChange('pending', 'completed'), false);
    assert.equal(allowsChange('completed', 'pending'), false);
    assert.equal(allowsChange('failed', 'pending'), true);
    assert.equal(allowsChange('processing', 'failed'), true);
  });

  it('status only moves forward, except a requeue or a redrive back to pending', () => {
    const rank = { pending: 0, processing: 1, completed: 2, failed: 2, cancelled: 2 } as const;
    for (const t of TRANSITIONS) {
      if (t.to === 'pending') assert.ok(t.event === 'retry' || t.event === 'release' || t.event === 'lease_expired' || t.event === 'redrive');
      else assert.ok(rank[t.to] > rank[t.from], `${t.from} → ${t.to}`);
    }
  });

  it('the diagram in README.md is the table', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const drawn = [...readme.matchAll(/^\s*(\w+)\s+--(\w+)-->\s+(\w+)\s*$/gm)].map((m) => `${m[1]} ${m[2]} ${m[3]}`);
    const table = TRANSITIONS.map((t) => `${t.from} ${t.event} ${t.to}`);
    assert.deepEqual([...drawn].sort(), [...table].sort());
  });
});

describe('decideExpiredLease', () => {
  it('cancels a requested cancel, fails a spent last attempt, and otherwise runs the next attempt now, keeping its place', () => {
    assert.deepEqual(decideExpiredLease({ attempt: 1, maxAttempts: 3, cancelRequested: true }, LOST), {
      event: 'lease_expired',
      to: 'cancelled',
      error: CANCELLED_BY_REQUEST,
    });
    assert.deepEqual(decideExpiredLease({ attempt: 3, maxAttempts: 3, cancelRequested: true }, LOST).to, 'cancelled', 'a cancel wins over spent attempts');
    assert.deepEqual(decideExpiredLease({ attempt: 3, maxAttempts: 3, cancelRequested: false }, LOST), {
      event: 'lease_expired',
      to: 'failed',
      error: LOST,
    });
    assert.deepEqual(decideExpiredLease({ attempt: 2, maxAttempts: 3, cancelRequested: false }, LOST), {
      event: 'lease_expired',
      to: 'pending',
      attemptIncrement: 1,
      runAt: null,
      error: LOST,
    });
  });

  it('decides only rows of the table', () => {
    for (const facts of FACTS) assertInTable(decideExpiredLease(facts, LOST));
  });
});

describe('decideGiveBack', () => {
  it('requeues a retry (counted, at its run_at, with its error) and a release (uncounted, keeping both)', () => {
    const facts = { cancelRequested: false };
    assert.deepEqual(decideGiveBack(facts, { event: 'retry', runAt: 500, error: BOOM }), {
      event: 'retry',
      to: 'pending',
      attemptIncrement: 1,
      runAt: 500,
      error: BOOM,
    });
    assert.deepEqual(decideGiveBack(facts, { event: 'release' }), { event: 'release', to: 'pending', attemptIncrement: 0, runAt: null, error: null });
  });

  it('ends the operation cancelled instead when a cancel was requested while the attempt ran', () => {
    for (const giveBack of [{ event: 'retry', runAt: 500, error: BOOM }, { event: 'release' }] as const) {
      assert.deepEqual(decideGiveBack({ cancelRequested: true }, giveBack), { event: 'cancel', to: 'cancelled', error: CANCELLED_BY_REQUEST });
    }
  });

  it('decides only rows of the table', () => {
    for (const facts of FACTS) {
      assertInTable(decideGiveBack(facts, { event: 'retry', runAt: 500, error: BOOM }));
      assertInTable(decideGiveBack(facts, { event: 'release' }));
    }
  });
});
