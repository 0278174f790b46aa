// Owns: the Alarm's rings as the clock it is set on moves, stepped included: a wall clock stepped back makes its timer
// fire before its time, and one put right again must be seen within a second, not after the whole step.
// Invariant: real timers and a clock whose time the test steps.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemClock, type TimerClock } from '../../src/domain/clock.ts';
import { Alarm } from '../../src/scheduling/timers.ts';

describe('Alarm', () => {
  it('rings within a second of a clock put right after a step back, not after the step', async () => {
    let step = 0;
    const clock: TimerClock = { ...systemClock, now: () => Date.now() + step };
    const rang: number[] = [];
    const alarm = new Alarm(clock, (at) => rang.push(at));
    try {
      alarm.setAt(clock.now() + 100);
      step = -30 * 60_000;
      await sleep(300);
      assert.deepEqual(rang, [], 'not before its time by the clock');
      step = 0;
      const put = performance.now();
      while (rang.length === 0 && performance.now() - put < 3_000) await sleep(20);
      assert.equal(rang.length, 1, 'rang once the clock was put right');
      assert.ok(performance.now() - put < 1_500, `rang ${Math.round(performance.now() - put)} ms after`);
    } finally {
      alarm.clear();
    }
  });
});
