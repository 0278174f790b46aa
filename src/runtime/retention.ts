// Owns: pruning on a timer: result bodies and terminal operations past their retention, expired
// idempotency keys.
// Not here: what "expired" means in SQL (the store's prune).
// Invariant: only terminal operations are ever pruned; a failed prune is logged and tried again later.

import type { Logger } from 'pino';
import { withTimers, type Clock } from '../domain/clock.ts';
import { every } from '../scheduling/timers.ts';
import type { Store } from '../store/store.ts';

const PRUNE_EVERY_MS = 60_000;
const PRUNE_AT_MOST_EVERY_MS = 1_000;

/** How often to prune: every minute, or more often when a retention is short, so nothing is kept much past it. */
export function pruneInterval(retentionMs: number, resultRetentionMs: number): number {
  return Math.min(PRUNE_EVERY_MS, Math.max(PRUNE_AT_MOST_EVERY_MS, Math.min(retentionMs, resultRetentionMs) / 2));
}

export interface RetentionOptions {
  readonly store: Store;
  /** Time, and the timer pruning runs on; one without timers gets the system's. */
  readonly clock: Clock;
  readonly logger: Logger;
  readonly retentionMs: number;
  readonly resultRetentionMs: number;
  readonly everyMs?: number | undefined;
}

export class Retention {
  readonly #options: RetentionOptions;
  #stopTimer: (() => void) | null = null;
  /** The pruning under way, if any: a store that prunes in batches may take longer than the interval. */
  #pruning: Promise<void> | null = null;
  /** Ends a pruning under way between two of its batches, once stop() is called. */
  #stopping = new AbortController();

  constructor(options: RetentionOptions) {
    this.#options = options;
  }

  start(): void {
    if (this.#stopTimer !== null) return;
    const { clock, everyMs, retentionMs, resultRetentionMs } = this.#options;
    this.#stopTimer = every(withTimers(clock), everyMs ?? pruneInterval(retentionMs, resultRetentionMs), () => void this.pruneNow(), { keepAlive: false });
  }

  /**
   * No pruning from now on, and the one under way ends after its batch: resolves once it has, so the store it writes
   * to is not closed under it (its batch's changes still to be announced). A later start() prunes again.
   */
  async stop(): Promise<void> {
    this.#stopTimer?.();
    this.#stopTimer = null;
    this.#stopping.abort();
    await this.#pruning;
    this.#stopping = new AbortController();
  }

  /** Prunes what is due, unless a pruning is still under way: then that one's end (it reaches the same rows). */
  pruneNow(): Promise<void> {
    this.#pruning ??= this.#prune().finally(() => {
      this.#pruning = null;
    });
    return this.#pruning;
  }

  async #prune(): Promise<void> {
    const { store, clock, logger, retentionMs, resultRetentionMs } = this.#options;
    const now = clock.now();
    try {
      const pruned = await store.prune({
        resultsFinishedBefore: now - resultRetentionMs,
        operationsFinishedBefore: now - retentionMs,
        now,
        signal: this.#stopping.signal,
      });
      if (pruned.operations + pruned.results + pruned.idempotencyKeys > 0) logger.info(pruned, 'retention: pruned');
    } catch (error) {
      logger.warn({ err: error }, 'retention: prune failed; will try again');
    }
  }
}
