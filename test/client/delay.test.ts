// Timers of any length: a delay longer than a timer holds (2^31 − 1 ms) is re-armed in parts, never fired at once.

import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { delay, MAX_TIMER_MS, setLongTimeout } from '../../src/client/delay.ts';

describe('setLongTimeout', () => {
  it('fires after the whole delay, however many timers it takes, and not after clear()', () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      let fired = 0;
      setLongTimeout(() => fired++, 2 * MAX_TIMER_MS + 5);
      mock.timers.tick(MAX_TIMER_MS);
      mock.timers.tick(MAX_TIMER_MS);
      assert.equal(fired, 0, 'not at 2 × 2^31 − 1 ms');
      mock.timers.tick(5);
      assert.equal(fired, 1);
      const cleared = setLongTimeout(() => fired++, MAX_TIMER_MS + 1);
      mock.timers.tick(MAX_TIMER_MS);
      cleared.clear();
      mock.timers.tick(10);
      assert.equal(fired, 1, 'cleared between its parts');
    } finally {
      mock.timers.reset();
    }
  });

  it('delay() of more than a timer holds settles only when its signal aborts, with its reason', async () => {
    const controller = new AbortController();
    const waiting = delay(MAX_TIMER_MS * 3, controller.signal);
    const early = await Promise.race([waiting.then(() => 'settled'), new Promise((resolve) => setTimeout(() => resolve('pending'), 50))]);
    assert.equal(early, 'pending');
    controller.abort(new Error('stop'));
    await assert.rejects(waiting, /stop/);
  });
});
