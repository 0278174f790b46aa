// Owns: the timer shapes the schedulers are built from, all set on an injected TimerClock: an alarm at the earliest
// of the times asked for, a repeating tick, a wait bounded by a grace period.
// Not here: what wakes or ticks do (scheduling/claim-loop.ts, runtime/, webhooks/). Invariant: nothing here reads
// the system's timers or time except through the clock, so a test that drives the clock drives all of it.

import type { Timer, TimerClock } from '../domain/clock.ts';

export interface TimerOptions {
  /** Whether a pending timer keeps the process alive (default true). */
  readonly keepAlive?: boolean | undefined;
}

/** How often an alarm that fired before its time by the clock looks at the clock again. */
const LOOK_AGAIN_MS = 1_000;

/** One timer, set for the earliest time asked for; it rings once the clock has reached that time. */
export class Alarm {
  readonly #clock: TimerClock;
  readonly #ring: (at: number) => void;
  readonly #keepAlive: boolean;
  #timer: Timer | null = null;
  #at = Infinity;

  constructor(clock: TimerClock, ring: (at: number) => void, options: TimerOptions = {}) {
    this.#clock = clock;
    this.#ring = ring;
    this.#keepAlive = options.keepAlive ?? true;
  }

  /** Ring at `at` (at once if that has come), unless it is set to ring sooner already. */
  setAt(at: number): void {
    if (!(at < this.#at)) return;
    this.clear();
    this.#at = at;
    this.#arm(at);
  }

  clear(): void {
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#at = Infinity;
  }

  #arm(at: number, atMostMs = Infinity): void {
    this.#timer = this.#clock.setTimeout(
      () => {
        // The system's timers keep monotonic time and its clock the wall clock's, so a timer may fire a millisecond
        // before `at` has come by the clock, one longer than a timer can wait fires early, and a wall clock stepped back
        // makes any fire early. Wait out the rest, looking again every second: the store compares due times with the
        // clock (a claim made early finds nothing), and a clock put right again is then seen within a second, not
        // after the whole step.
        if (this.#clock.now() < at) return this.#arm(at, LOOK_AGAIN_MS);
        this.#timer = null;
        this.#at = Infinity;
        this.#ring(at);
      },
      Math.min(atMostMs, at - this.#clock.now()),
    );
    if (!this.#keepAlive) this.#timer.unref();
  }
}

/** Calls `tick` every `everyMs` on the clock until the returned function is called. */
export function every(clock: TimerClock, everyMs: number, tick: () => void, options: TimerOptions = {}): () => void {
  let timer: Timer | null = null;
  let stopped = false;
  const arm = (): void => {
    timer = clock.setTimeout(() => {
      if (stopped) return;
      // Set again before ticking, so the period holds however long, or however badly, the tick goes.
      arm();
      tick();
    }, everyMs);
    if (options.keepAlive === false) timer.unref();
  };
  arm();
  return () => {
    stopped = true;
    if (timer !== null) clock.clearTimeout(timer);
  };
}

/** True once `work` settles (either way) within `ms` on the clock; false if the time runs out first. */
export async function settlesWithin(clock: TimerClock, work: Promise<unknown>, ms: number): Promise<boolean> {
  const over = Promise.withResolvers<false>();
  const timer = clock.setTimeout(() => over.resolve(false), ms);
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      over.promise,
    ]);
  } finally {
    clock.clearTimeout(timer);
  }
}
