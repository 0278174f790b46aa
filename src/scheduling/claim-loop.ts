// Owns: the claim loop the worker pool and the webhook dispatcher share: wake on an event, claim for the free slots
// until a claim comes up short, sleep until the next due time or the fallback poll, recover expired leases on a period,
// and stop with a grace period for the work it started. Not here: what a claim takes and runs, or what recovery does
// (runtime/worker-pool.ts, webhooks/dispatcher.ts). Invariant: one claim pass at a time; a wake during a pass makes it
// go round again; every wait is a timer on the injected clock.

import type { Timer, TimerClock } from '../domain/clock.ts';
import { Alarm, every, settlesWithin } from './timers.ts';

/**
 * Due times asked for beyond the one the alarm is set to, kept so that ringing for the first does not forget the
 * rest. Past this many the latest are let go: the claim after a wake-up, or the fallback poll, finds them.
 */
const WANTED_TIMES = 64;

export interface ClaimLoopOptions {
  readonly clock: TimerClock;
  /** Claims for the free slots and starts what it took; true when more may be due now (it got all it asked for). */
  readonly claim: () => Promise<boolean>;
  /** Returns expired leases to the queue; run at start and then every `recoverEveryMs`. It wakes the loop if it wants. */
  readonly recover: () => Promise<unknown>;
  /** The fallback poll: the longest the loop sleeps after a pass, for due work no event told of. */
  readonly pollMs: number;
  readonly recoverEveryMs: number;
  /** Whether the loop's timers keep the process alive (default true). */
  readonly keepAlive?: boolean | undefined;
  /** A timed wake-up (a due time, or the fallback poll) is about to claim. */
  readonly onTimedWake?: (() => void) | undefined;
  /** A claim pass threw; the next wake-up, at the latest the fallback poll, tries again. */
  readonly onError: (err: unknown) => void;
}

export class ClaimLoop {
  readonly #options: ClaimLoopOptions;
  readonly #alarm: Alarm;
  #running = false;
  #stopped = false;
  #started: Promise<void> | null = null;
  #stopRecovering: (() => void) | null = null;
  #wakeQueued = false;
  #pass: Promise<void> | null = null;
  #again = false;
  /** Due times wakeAt was asked for that have not come yet, earliest first (at most WANTED_TIMES). */
  #wanted: number[] = [];
  /**
   * The fallback poll: a timer of pollMs, not a time on the clock, which the alarm holds. Set on the alarm, a wall clock
   * stepped back held it (and so every claim no event woke) for the whole step.
   */
  #poll: Timer | null = null;

  constructor(options: ClaimLoopOptions) {
    this.#options = options;
    this.#alarm = new Alarm(
      options.clock,
      () => {
        // The alarm holds one time: set it again for the next one asked for. Else a time asked for after the first (a
        // retry, a run_at) waits for the fallback poll whenever the claim's own read of the next due time names an
        // earlier one it cannot claim (a destination or a type at its cap).
        const now = this.#options.clock.now();
        while (this.#wanted.length > 0 && this.#wanted[0]! <= now) this.#wanted.shift();
        if (this.#wanted.length > 0) this.#alarm.setAt(this.#wanted[0]!);
        this.#options.onTimedWake?.();
        this.wake();
      },
      { keepAlive: options.keepAlive },
    );
  }

  /** True from start() until stop(). */
  get running(): boolean {
    return this.#running;
  }

  /** Recover, then claim; from then on, recover every `recoverEveryMs`. Idempotent; after stop(), it does nothing. */
  start(): Promise<void> {
    if (this.#started !== null) return this.#started;
    if (this.#stopped) return Promise.resolve();
    this.#running = true;
    const { clock, recoverEveryMs, keepAlive } = this.#options;
    this.#stopRecovering = every(clock, recoverEveryMs, () => void this.#recover(), { keepAlive });
    this.#started = this.#recover().then(() => this.wake());
    return this.#started;
  }

  /**
   * Claim soon: after this turn of the event loop, so a burst of wake-ups (due events, attempts ending together)
   * is one claim for all the free slots. Not a timer: it waits for no time to pass.
   */
  wake(): void {
    if (!this.#running || this.#wakeQueued) return;
    this.#wakeQueued = true;
    setImmediate(() => this.#woken());
  }

  /**
   * Claim once the code running now is done, before the event loop turns: for work just announced, which wake() would
   * claim only after whatever was queued before it, such as the reply to the request that created it (bench/README.md,
   * "New work is claimed before the reply").
   */
  wakeNow(): void {
    if (!this.#running || this.#wakeQueued) return;
    this.#wakeQueued = true;
    queueMicrotask(() => this.#woken());
  }

  #woken(): void {
    this.#wakeQueued = false;
    if (!this.#running) return;
    if (this.#pass !== null) this.#again = true;
    else this.#pass = this.#run().finally(() => (this.#pass = null));
  }

  /** Claim at `at` on the clock (soon, if that has come), unless a wake-up is set for sooner. */
  wakeAt(at: number): void {
    if (!this.#running) return;
    if (at <= this.#options.clock.now()) {
      this.wake();
      return;
    }
    this.#want(at);
    this.#alarm.setAt(at);
  }

  #want(at: number): void {
    const wanted = this.#wanted;
    if (wanted.length >= WANTED_TIMES && at >= wanted[wanted.length - 1]!) return;
    let i = wanted.length;
    while (i > 0 && wanted[i - 1]! > at) i--;
    if (wanted[i - 1] === at) return;
    wanted.splice(i, 0, at);
    if (wanted.length > WANTED_TIMES) wanted.pop();
  }

  /**
   * Stop waking and claiming, wait for the pass in flight, then give the work the loop started up to `graceMs` to
   * finish: `idle` returns what settles when it has (null: nothing is running). True if it finished in time.
   */
  async stop(graceMs: number, idle: () => Promise<unknown> | null): Promise<boolean> {
    this.#running = false;
    this.#stopped = true;
    this.#alarm.clear();
    this.#wanted = [];
    this.#clearPoll();
    this.#stopRecovering?.();
    this.#stopRecovering = null;
    await this.#started;
    await this.#pass;
    const running = idle();
    return running === null || settlesWithin(this.#options.clock, running, graceMs);
  }

  async #run(): Promise<void> {
    try {
      do {
        this.#again = false;
        let turned = false;
        setImmediate(() => (turned = true));
        if (await this.#options.claim()) this.#again = true;
        // A pass that ran in microtasks alone (a store that answers without I/O, SQLite, and handlers that end without
        // awaiting anything) lets the event loop turn before the next: pass after pass would otherwise starve the rest
        // of the process (the group commit of their ends, heartbeats, HTTP) until the queue is empty (bench/README.md,
        // "A claim loop that never let go"). One that waited for I/O has let it turn already.
        if (this.#again && this.#running && !turned) await new Promise<void>((resolve) => setImmediate(resolve));
      } while (this.#again && this.#running);
    } catch (err) {
      this.#options.onError(err);
    }
    // Due work no event told of (stored by another node, or announced while the feed was away) waits this long at most.
    if (!this.#running) return;
    this.#clearPoll();
    this.#poll = this.#options.clock.setTimeout(() => {
      this.#poll = null;
      this.#options.onTimedWake?.();
      this.wake();
    }, this.#options.pollMs);
    if (this.#options.keepAlive === false) this.#poll.unref();
  }

  #clearPoll(): void {
    if (this.#poll !== null) this.#options.clock.clearTimeout(this.#poll);
    this.#poll = null;
  }

  async #recover(): Promise<void> {
    try {
      await this.#options.recover();
    } catch (err) {
      this.#options.onError(err);
    }
  }
}
