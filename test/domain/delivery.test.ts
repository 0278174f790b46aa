import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { retryAfterWithinSchedule, scheduleDelay } from '../../src/domain/backoff.ts';
import { decideAfterDeliveryAttempt, type DeliveryAttemptResult } from '../../src/domain/delivery.ts';
import { DEFAULTS } from '../../src/config/settings.ts';

const schedule = [1_000, 10_000, 60_000];
const ok = (statusCode: number | null, retryAfterMs: number | null = null): DeliveryAttemptResult => ({ statusCode, refused: false, retryAfterMs });
const ctx = (scheduleAttempt: number, random = () => 0.5) => ({ scheduleAttempt, scheduleMs: schedule, now: 1_000_000, random });

describe('scheduleDelay with the default webhook schedule', () => {
  it('never lets a gap shrink across retries of an increasing schedule, whatever the draws', () => {
    const draws = [0.99, 0, 0.7, 0.01, 1, 0.3, 0.5];
    for (let i = 0; i < 500; i++) {
      let previous = -1;
      for (let retry = 1; retry <= DEFAULTS.webhookSchedule.length; retry++) {
        const r = draws[(i + retry) % draws.length]!;
        const delay = scheduleDelay(DEFAULTS.webhookSchedule, retry, () => r)!;
        assert.ok(delay >= previous, `retry ${retry}: ${delay} < ${previous}`);
        previous = delay;
      }
    }
  });
});

describe('retryAfterWithinSchedule', () => {
  it('waits at least what the schedule chose and at most its longest step', () => {
    assert.equal(retryAfterWithinSchedule(5_000, null, schedule), 5_000);
    assert.equal(retryAfterWithinSchedule(5_000, 2_000, schedule), 5_000);
    assert.equal(retryAfterWithinSchedule(5_000, 30_000, schedule), 30_000);
    assert.equal(retryAfterWithinSchedule(5_000, 3_600_000, schedule), 60_000);
    // Delay-seconds of more digits than a double holds (parsed as Infinity) is past every step: the longest, not none.
    assert.equal(retryAfterWithinSchedule(5_000, Number.POSITIVE_INFINITY, schedule), 60_000);
    assert.equal(retryAfterWithinSchedule(5_000, Number.NaN, schedule), 5_000);
  });
});

describe('decideAfterDeliveryAttempt', () => {
  it('delivers on any 2xx', () => {
    for (const status of [200, 201, 204, 299]) assert.deepEqual(decideAfterDeliveryAttempt(ok(status), ctx(0)), { outcome: 'delivered', nextAttemptAt: null });
  });

  it('retries other statuses, timeouts and connection errors on the schedule', () => {
    for (const status of [500, 404, 301, 429, 503, null]) {
      assert.deepEqual(decideAfterDeliveryAttempt(ok(status), ctx(1)), { outcome: 'retrying', nextAttemptAt: 1_000_000 + 5_500 }, String(status));
    }
  });

  it('is dead after the last scheduled attempt (schedule length + 1 attempts)', () => {
    assert.equal(decideAfterDeliveryAttempt(ok(500), ctx(2)).outcome, 'retrying');
    const last = decideAfterDeliveryAttempt(ok(500), ctx(3));
    assert.equal(last.outcome, 'dead');
    if (last.outcome === 'dead') assert.match(last.reason, /exhausted/);
  });

  it('is dead at once on 410 Gone and on a refused destination', () => {
    assert.equal(decideAfterDeliveryAttempt(ok(410), ctx(0)).outcome, 'dead');
    assert.equal(decideAfterDeliveryAttempt({ statusCode: null, refused: true, retryAfterMs: null }, ctx(0)).outcome, 'dead');
  });

  it('honours Retry-After on 429 and 503 within the schedule bounds, and ignores it elsewhere', () => {
    assert.equal(decideAfterDeliveryAttempt(ok(429, 20_000), ctx(0)).nextAttemptAt, 1_000_000 + 20_000);
    assert.equal(decideAfterDeliveryAttempt(ok(503, 999_999_999), ctx(0)).nextAttemptAt, 1_000_000 + 60_000);
    assert.equal(decideAfterDeliveryAttempt(ok(503, 0), ctx(1)).nextAttemptAt, 1_000_000 + 5_500);
    assert.equal(decideAfterDeliveryAttempt(ok(500, 20_000), ctx(0)).nextAttemptAt, 1_000_000 + 500);
  });

  it('default schedule: 8 attempts spanning about a day', () => {
    assert.equal(DEFAULTS.webhookSchedule.length + 1, 8);
    const longest = DEFAULTS.webhookSchedule.reduce((a, b) => a + b, 0);
    const shortest = DEFAULTS.webhookSchedule.slice(0, -1).reduce((a, b) => a + b, 0);
    assert.ok(shortest >= 12 * 3_600_000 && longest <= 36 * 3_600_000);
  });
});
