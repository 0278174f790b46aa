// Owns: driving time in a unit test with node:test's mock timers: a TimerClock whose time and timers move only when
// the test ticks, and a bounded wait for the code under test to set a timer, so that a tick never comes before it.
// Invariant: setImmediate stays real (the claim loop's next turn and SQLite's write batching wait for no time), and
// real time is back before the test's other after hooks stop what it started.

import type { TestContext } from 'node:test';
import { systemClock, type Timer, type TimerClock } from '../../src/domain/clock.ts';
import { waitFor } from './wait.ts';

export interface MockTime {
  /** Time and timers on the mock, for what the test runs (the system clock follows the mock too). */
  readonly clock: TimerClock;
  /** Moves time on by `ms`, running every timer due by then, in order. */
  tick(ms: number): void;
  /** Resolves once a timer of `ms` set through `clock` is pending: the code under test now waits for time to pass. */
  timerSet(ms: number, what: string): Promise<void>;
}

/** Call first in a test, before it starts anything with an after hook of its own. */
export function mockTime(t: TestContext): MockTime {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: Date.now() });
  // After hooks run in the order they were added: this one first, as stopping what the test started may wait on a timer.
  t.after(() => t.mock.timers.reset());
  const pending = new Map<Timer, number>();
  const clock: TimerClock = {
    now: () => systemClock.now(),
    setTimeout(callback, ms) {
      const timer = systemClock.setTimeout(() => {
        pending.delete(timer);
        callback();
      }, ms);
      pending.set(timer, ms);
      return timer;
    },
    clearTimeout(timer) {
      pending.delete(timer);
      systemClock.clearTimeout(timer);
    },
  };
  return {
    clock,
    tick: (ms) => t.mock.timers.tick(ms),
    async timerSet(ms, what) {
      await waitFor(() => [...pending.values()].includes(ms), { what: `a ${ms} ms timer: ${what}` });
    },
  };
}
