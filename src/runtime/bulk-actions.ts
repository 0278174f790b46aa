// Owns: bulk actions at run time: the service the edges call (a dry run's count, creating one, reading and listing them
// within a tenant's reach) and the runner every worker node starts, which takes one unfinished action at a time under a
// lease and applies it in batches, pausing between them so workers and requests are not starved.
// Not here: what a filter selects (domain/bulk-action.ts), the batches themselves (the store's bulkActionStep), HTTP.
// Invariant: one runner works on an action at a time (its lease); a runner that stops gives its lease back (or, crashed,
// lets it run out), and the action is taken over from its cursor, so every match is processed once.

import type { Logger } from 'pino';
import { PRIORITY } from '../config/limits.ts';
import { BULK_BATCH_SIZE, checkBulkRequest, type BulkAction, type BulkActionKind, type BulkFilterWire, type BulkScope } from '../domain/bulk-action.ts';
import { withTimers, type Clock, type Timer, type TimerClock } from '../domain/clock.ts';
import { AsyncOpsError } from '../domain/errors.ts';
import { ID_PREFIXES, isId, newId } from '../domain/ids.ts';
import type { OperationsObserver } from './observer.ts';
import type { DeliveryFactory, Store } from '../store/store.ts';

export interface BulkActionRequest {
  readonly scope: BulkScope;
  /** Who asks (the request's principal); the action's record keeps it. */
  readonly principal: string;
  readonly action: BulkActionKind;
  readonly filter: BulkFilterWire;
  /** A retry's: the priority each redriven operation takes (absent: each keeps its own). */
  readonly priority?: number | undefined;
  readonly dryRun: boolean;
}

export type BulkActionAnswer = { readonly dryRun: true; readonly count: number } | { readonly dryRun: false; readonly action: BulkAction };

export class BulkActionsService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #created: () => void;
  readonly #maxPriority: (tenant: string | null) => number;

  /**
   * `created`: told when an action is stored, so this node's runner takes it at once instead of at its next look.
   * `maxPriority`: a tenant's ceiling on priority, as a submit's (null: an admin's over every tenant); absent: the contract's maximum.
   */
  constructor(options: {
    readonly store: Store;
    readonly clock: Clock;
    readonly created?: (() => void) | undefined;
    readonly maxPriority?: ((tenant: string | null) => number) | undefined;
  }) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#created = options.created ?? (() => {});
    this.#maxPriority = options.maxPriority ?? (() => PRIORITY.max);
  }

  async request(request: BulkActionRequest): Promise<BulkActionAnswer> {
    const checked = checkBulkRequest(request.action, request.filter, request.scope, {
      priority: request.priority ?? null,
      ceiling: this.#maxPriority,
    });
    const now = this.#clock.now();
    if (request.dryRun) {
      return { dryRun: true, count: await this.#store.bulkActionCount({ tenant: checked.tenant, selection: checked.selection, existedBy: now }) };
    }
    const action = await this.#store.bulkActionCreate({
      id: newId(ID_PREFIXES.bulkAction, now),
      action: checked.action,
      filter: checked.filter,
      tenant: checked.tenant,
      selection: checked.selection,
      priority: checked.priority,
      createdBy: request.principal,
      now,
    });
    this.#created();
    return { dryRun: false, action };
  }

  /** `tenant` null: any tenant's (an admin's read). Another tenant's, or a malformed id, is not_found. */
  async get(tenant: string | null, id: string): Promise<BulkAction> {
    const action = isId(ID_PREFIXES.bulkAction, id) ? await this.#store.bulkActionGet({ id, tenant }) : null;
    if (action === null) throw new AsyncOpsError('not_found', `no bulk action ${JSON.stringify(id.slice(0, 64))}`);
    return action;
  }

  /** Newest first; `beforeId`: the page after the one that ended there. */
  async list(tenant: string | null, query: { readonly limit: number; readonly beforeId?: string | undefined }) {
    const rows = await this.#store.bulkActionList({ tenant, limit: query.limit + 1, beforeId: query.beforeId });
    const items = rows.slice(0, query.limit);
    return { items, nextBeforeId: rows.length > query.limit ? (items.at(-1)?.id ?? null) : null };
  }
}

export interface BulkActionRunnerOptions {
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  /** For the outbox rows a bulk cancel writes (as a single cancel does). */
  readonly delivery: DeliveryFactory;
  readonly leaseMs?: number | undefined;
  /** How often an idle runner looks for an action another node created. */
  readonly pollMs?: number | undefined;
  /**
   * The least pause between two batches, so the claims and requests waiting on the store go first; a batch that took
   * longer is followed by a pause as long as it took (on SQLite a batch holds the event loop and the one writer
   * throughout), so a bulk action takes at most about half of either.
   */
  readonly pauseMs?: number | undefined;
  readonly batchSize?: number | undefined;
  /** The task types this node runs: a bulk retry skips operations of any other (absent: it redrives any). */
  readonly runnableTypes?: (() => readonly string[]) | undefined;
  /** Told of each pending operation a bulk cancel ended here (metrics), as the operations service tells it of its own. */
  readonly observer?: Pick<OperationsObserver, 'cancelled'> | undefined;
}

const DEFAULT_LEASE_MS = 30_000;
const DEFAULT_POLL_MS = 1_000;
const DEFAULT_PAUSE_MS = 5;
/** A batch that failed (a deadlock on PostgreSQL, a busy SQLite) is tried again this many times before the action fails. */
const STEP_TRIES = 3;

export class BulkActionRunner {
  readonly #options: BulkActionRunnerOptions;
  readonly #clock: TimerClock;
  #running: Promise<void> | null = null;
  #stopping = false;
  #sleep: { timer: Timer; wake: () => void } | null = null;

  constructor(options: BulkActionRunnerOptions) {
    this.#options = options;
    this.#clock = withTimers(options.clock);
  }

  start(): void {
    if (this.#running !== null) return;
    this.#stopping = false;
    this.#running = this.#loop();
  }

  /** Look now: an action was just created here. */
  wake(): void {
    this.#sleep?.wake();
  }

  /** Ends after the batch in hand commits, giving its action's lease back: a runner (here or on any node) resumes it from its cursor. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.wake();
    await this.#running;
    this.#running = null;
  }

  async #loop(): Promise<void> {
    const { store, logger } = this.#options;
    const leaseMs = this.#options.leaseMs ?? DEFAULT_LEASE_MS;
    while (!this.#stopping) {
      let action: BulkAction | null = null;
      try {
        action = await store.bulkActionClaim({ now: this.#clock.now(), leaseMs });
      } catch (err) {
        logger.warn({ err }, 'bulk actions: claim failed; will look again');
      }
      if (action === null) await this.#pause(this.#options.pollMs ?? DEFAULT_POLL_MS);
      else await this.#run(action, leaseMs);
    }
  }

  async #run(claimed: BulkAction, leaseMs: number): Promise<void> {
    const { store, logger } = this.#options;
    const leaseToken = claimed.leaseToken;
    if (leaseToken === null) return;
    logger.info({ bulkAction: claimed.id, action: claimed.action, total: claimed.total, resumedAfter: claimed.cursor }, 'bulk action: running');
    let failures = 0;
    while (!this.#stopping) {
      const began = this.#clock.now();
      try {
        const step = await store.bulkActionStep({
          id: claimed.id,
          leaseToken,
          now: this.#clock.now(),
          leaseMs,
          batchSize: this.#options.batchSize ?? BULK_BATCH_SIZE,
          delivery: this.#options.delivery,
          runnableTypes: this.#options.runnableTypes?.(),
          onCancelled: (operations) => {
            for (const operation of operations) this.#options.observer?.cancelled(operation);
          },
        });
        failures = 0;
        if (step === null) return logger.warn({ bulkAction: claimed.id }, 'bulk action: lease lost; another runner has it');
        if (step.status !== 'processing') {
          return logger.info({ bulkAction: step.id, processed: step.processed, succeeded: step.succeeded, skipped: step.skipped }, 'bulk action: completed');
        }
      } catch (err) {
        if (++failures < STEP_TRIES) {
          logger.warn({ err, bulkAction: claimed.id }, 'bulk action: a batch failed; trying it again');
          await this.#pause(100 * failures);
          continue;
        }
        const error = { code: 'bulk_action_failed', message: err instanceof Error ? err.message : String(err) };
        logger.error({ err, bulkAction: claimed.id }, 'bulk action: failed');
        await store.bulkActionFail({ id: claimed.id, leaseToken, now: this.#clock.now(), error }).catch(() => {});
        return;
      }
      await this.#pause(Math.max(this.#options.pauseMs ?? DEFAULT_PAUSE_MS, this.#clock.now() - began));
    }
    // Stopping: a failure to give the lease back only means the next runner waits for it to run out.
    await store
      .bulkActionRelease({ id: claimed.id, leaseToken })
      .catch((err: unknown) => logger.warn({ err, bulkAction: claimed.id }, 'bulk action: lease not given back'));
  }

  /** Waits `ms` on the clock, or until woken (a new action here, or stop()). */
  #pause(ms: number): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        if (this.#sleep === null) return;
        this.#clock.clearTimeout(this.#sleep.timer);
        this.#sleep = null;
        resolve();
      };
      const timer = this.#clock.setTimeout(wake, ms);
      timer.unref();
      this.#sleep = { timer, wake };
    });
  }
}
