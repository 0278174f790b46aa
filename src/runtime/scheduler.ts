// Owns: the scheduler loop every worker node runs: sleep until the earliest next tick (or the fallback poll), wake when
// a schedule changes on any node, fire the due ticks, stop on shutdown. Not here: firing a tick (schedules.ts), the
// loop's wake / sleep / poll mechanics (scheduling/claim-loop.ts). Invariant: every node may fire the same tick at once;
// the store lets one of them create its operation, so the loop needs no leader.

import type { Logger } from 'pino';
import type { TimerClock } from '../domain/clock.ts';
import { ClaimLoop } from '../scheduling/claim-loop.ts';
import type { Store } from '../store/store.ts';
import type { SchedulesService } from './schedules.ts';

/** Schedules fired per pass; more due go round again at once. */
const FIRE_BATCH = 50;
/** The longest the loop sleeps when no change was heard of (a change announced while the feed was away). */
export const SCHEDULER_POLL_MS = 5_000;

export interface SchedulerOptions {
  readonly store: Store;
  readonly schedules: SchedulesService;
  readonly clock: TimerClock;
  readonly logger: Logger;
  readonly pollMs?: number | undefined;
}

export class Scheduler {
  readonly #options: SchedulerOptions;
  readonly #loop: ClaimLoop;
  #unsubscribe: (() => void) | null = null;

  constructor(options: SchedulerOptions) {
    this.#options = options;
    this.#loop = new ClaimLoop({
      clock: options.clock,
      claim: () => this.#pass(),
      recover: async () => {},
      pollMs: options.pollMs ?? SCHEDULER_POLL_MS,
      // Recovery is a no-op here: nothing a scheduler takes is leased.
      recoverEveryMs: 2 ** 30,
      onError: (err) => options.logger.warn({ err }, 'scheduler: firing due ticks failed; trying again at the next wake-up'),
    });
  }

  async start(): Promise<void> {
    this.#unsubscribe ??= this.#options.store.subscribe((event) => {
      if (event.kind === 'schedule:changed') {
        if (event.nextRunAt === null) this.#loop.wake();
        else this.#loop.wakeAt(event.nextRunAt);
      } else if (event.kind === 'feed:resumed') {
        this.#loop.wake();
      }
    });
    await this.#loop.start();
  }

  /** Stops waking, and waits for the pass in flight (a tick being fired commits or rolls back whole). */
  async stop(): Promise<void> {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    await this.#loop.stop(0, () => null);
  }

  async #pass(): Promise<boolean> {
    const { more, nextRunAt } = await this.#options.schedules.fireDue(FIRE_BATCH);
    if (nextRunAt !== null) this.#loop.wakeAt(nextRunAt);
    return more;
  }
}
