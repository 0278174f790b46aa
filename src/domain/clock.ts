// Owns: the clock seam: what time it is and, for what must wake up later, timers on that same time line. Services
// take a Clock so tests control time instead of sleeping. Invariant: a timer set for `ms` fires no sooner than `ms`
// of the timer's own time have passed (the caller checks the clock if it needs the clock to have moved on too).

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** A pending timer, as a TimerClock's setTimeout returned it. */
export interface Timer {
  /** Lets the process exit while this timer is pending. */
  unref(): unknown;
}

/** A clock that can also wake its caller: what deadlines, sleeps and polls are set on. */
export interface TimerClock extends Clock {
  /** Calls `callback` once, `ms` from now. */
  setTimeout(callback: () => void, ms: number): Timer;
  clearTimeout(timer: Timer): void;
}

// Longest delay setTimeout accepts; a longer one fires at once. A caller waiting longer sets another when it fires.
/** The longest delay a Node timer holds (about 24.8 days): a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

// The global timers and Date are looked up at each call, not when this module loads, so that `node:test`'s mock
// timers (`t.mock.timers.enable({ apis: ['setTimeout', 'Date'] })`) drive this clock, its timers and its time together.
export const systemClock: TimerClock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, Math.min(MAX_TIMER_MS, Math.max(0, ms))),
  clearTimeout: (timer) => globalThis.clearTimeout(timer as Parameters<typeof globalThis.clearTimeout>[0]),
};

/** `clock` itself when it has timers; for one that only tells the time, its time with the system's timers. */
export function withTimers(clock: Clock): TimerClock {
  if ('setTimeout' in clock && 'clearTimeout' in clock) return clock as TimerClock;
  return { now: () => clock.now(), setTimeout: systemClock.setTimeout, clearTimeout: systemClock.clearTimeout };
}
