// Owns: the clock seam: what time it is and, for what must wake up later, timers on that same time line. Services
// take a Clock so tests control time instead of sleeping. Invariant: a timer set for `ms` fires no sooner than `ms`
// of the timer's own time have passed (the caller checks the clock if it needs the clock to have moved on too).

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /**
   * Milliseconds on a line that never steps (performance.now()), for how long something local has taken (an attempt's
   * timeout, a wait): the wall clock may be stepped (NTP, a VM resumed) while it runs. Absent: now() (a test's clock,
   * whose time only moves when told).
   */
  monotonicNow?(): number;
}

/** `clock`'s monotonic reading (Clock.monotonicNow), or its time when it has none. */
export const monotonicNow = (clock: Clock): number => clock.monotonicNow?.() ?? clock.now();

/** `clock` with its monotonic reading as its time: timers and an Alarm for local durations, which no clock step moves. */
export function onMonotonicLine(clock: TimerClock): TimerClock {
  return { now: () => monotonicNow(clock), setTimeout: (callback, ms) => clock.setTimeout(callback, ms), clearTimeout: (timer) => clock.clearTimeout(timer) };
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
// timers (`t.mock.timers.enable({ apis: ['setTimeout', 'Date'] })`) drive this clock, its timers and its time together;
// not its monotonic reading (performance.now(), which they do not mock): a test of timeouts uses a clock without one
// (test/support/mock-time.ts), whose time stands in for it.
export const systemClock: TimerClock = {
  now: () => Date.now(),
  monotonicNow: () => performance.now(),
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, Math.min(MAX_TIMER_MS, Math.max(0, ms))),
  clearTimeout: (timer) => globalThis.clearTimeout(timer as Parameters<typeof globalThis.clearTimeout>[0]),
};

/** `clock` itself when it has timers; for one that only tells the time, its time with the system's timers. */
export function withTimers(clock: Clock): TimerClock {
  if ('setTimeout' in clock && 'clearTimeout' in clock) return clock as TimerClock;
  const timers = { now: () => clock.now(), setTimeout: systemClock.setTimeout, clearTimeout: systemClock.clearTimeout };
  return clock.monotonicNow === undefined ? timers : { ...timers, monotonicNow: () => clock.monotonicNow!() };
}

/** `work`'s outcome, or a rejection with `message` if `ms` pass on the clock first. */
export async function withDeadline<T>(clock: TimerClock, work: Promise<T>, ms: number, message: string): Promise<T> {
  const deadline = Promise.withResolvers<never>();
  const timer = clock.setTimeout(() => deadline.reject(new Error(message)), ms);
  try {
    return await Promise.race([work, deadline.promise]);
  } finally {
    clock.clearTimeout(timer);
  }
}
