// Owns: pruning on a timer: result bodies and terminal operations past their retention, expired
// idempotency keys.
// Not here: what "expired" means in SQL (the store's prune).
// Invariant: only terminal operations are ever pruned; a failed prune is logged and tried again later.

import type { Logger } from 'pino';
import type { Clock } from '../domain/clock.ts';
import type { Store } from '../store/store.ts';

const PRUNE_EVERY_MS = 60_000;
const PRUNE_AT_MOST_EVERY_MS = 1_000;

/** How often to prune: every minute, or more often when a retention is short, so nothing is kept much past it. */
export function pruneInterval(retentionMs: number, resultRetentionMs: number): number {
  return Math.min(PRUNE_EVERY_MS, Math.max(PRUNE_AT_MOST_EVERY_MS, Math.min(retentionMs, resultRetentionMs) / 2));
}

export interface RetentionOptions {
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly retentionMs: number;
  readonly resultRetentionMs: number;
  readonly everyMs?: number | undefined;
}

export class Retention {
  readonly #options: RetentionOptions;
  #timer: NodeJS.Timeout | null = null;

  constructor(options: RetentionOptions) {
    this.#options = options;
  }

  start(): void {
    if (this.#timer !== null) return;
    const { everyMs, retentionMs, resultRetentionMs } = this.#options;
    this.#timer = setInterval(() => void this.pruneNow(), everyMs ?? pruneInterval(retentionMs, resultRetentionMs));
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  async pruneNow(): Promise<void> {
    const { store, clock, logger, retentionMs, resultRetentionMs } = this.#options;
    const now = clock.now();
    try {
      const pruned = await store.prune({ resultsFinishedBefore: now - resultRetentionMs, operationsFinishedBefore: now - retentionMs, now });
      if (pruned.operations + pruned.results + pruned.idempotencyKeys > 0) logger.info(pruned, 'retention: pruned');
    } catch (error) {
      logger.warn({ err: error }, 'retention: prune failed; will try again');
    }
  }
}
