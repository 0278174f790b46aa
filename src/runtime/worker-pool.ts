// Owns: running claimed operations in this process: what wakes the claim loop, claims within global and per-type
// limits, one heartbeat and one deadline timer for all leases, lease recovery, announcing this node's limits (every
// node's ETA counts them), graceful shutdown. Not here: one
// attempt's outcome (attempt.ts), the loop's wake / sleep / poll / grace mechanics (scheduling/claim-loop.ts),
// persistence (store/). Invariant: at most `concurrency` handlers run at once, a handler whose attempt ended without it
// included (an attempt whose end is being stored is still held, but its slot is free once its handler returned).

import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { BackoffPolicy, Random } from '../domain/backoff.ts';
import { nodeLimits, WORKER_NODE_BEAT_MS, WORKER_NODE_LIVE_MS } from '../domain/capacity.ts';
import { monotonicNow, onMonotonicLine, systemClock, withTimers, type Clock, type TimerClock } from '../domain/clock.ts';
import type { Operation, OperationError } from '../domain/operation.ts';
import { ClaimLoop } from '../scheduling/claim-loop.ts';
import { DrainedTypes } from '../scheduling/drained-types.ts';
import { Alarm, every } from '../scheduling/timers.ts';
import type { DeliveryFactory, RecoverResult, Store, StoreEvent, TypeLimit } from '../store/store.ts';
import { DEFAULTS, DEFAULT_RETRY_BACKOFF } from '../config/settings.ts';
import { countByType } from '../domain/rate-limit.ts';
import { Attempt, tracedDeliveryFactory, type AttemptDeps, type AttemptEnd, type AttemptOutcome } from './attempt.ts';
import type { TaskRegistry } from './registry.ts';

export interface WorkerPoolOptions {
  readonly store: Store;
  readonly registry: TaskRegistry;
  readonly logger: Logger;
  /** Recorded on every lease this pool takes. */
  readonly workerId: string;
  /** Builds the webhook delivery written with every terminal transition (the outbox). */
  readonly deliveryFactory: DeliveryFactory;
  /** Time, and the timers of every wait (deadlines, polls, heartbeats, grace); one without timers gets the system's. */
  readonly clock?: Clock | undefined;
  /** Handlers running at once, across all types (default: `--concurrency`'s). */
  readonly concurrency?: number | undefined;
  readonly leaseMs?: number | undefined;
  /** Default leaseMs / 3. */
  readonly heartbeatMs?: number | undefined;
  /** The fallback poll, for wake-ups the change feed missed (default 2 s). */
  readonly pollMs?: number | undefined;
  /** How often expired leases are recovered (default leaseMs). */
  readonly recoverEveryMs?: number | undefined;
  /** How long stop() lets running attempts finish before releasing them (default: `--grace`'s). */
  readonly graceMs?: number | undefined;
  readonly retryBackoff?: BackoffPolicy | undefined;
  readonly random?: Random | undefined;
  /** The largest result a handler may return, in bytes (default: `--max-result-bytes`'s). */
  readonly maxResultBytes?: number | undefined;
  /** Fairness: each tenant's share of turns in the queues (absent: 1), from the API keys' `weight`. */
  readonly tenantWeights?: ReadonlyMap<string, number> | undefined;
}

export interface WorkerPoolEvents {
  'operation:claimed': [operation: Operation];
  'operation:finished': [end: AttemptEnd];
  /** Expired leases this node recovered: requeued for another attempt, or ended (failed, or cancelled). */
  'leases:recovered': [result: RecoverResult];
}

export interface WorkerPoolStats {
  /** Handlers running (the slots taken), in all and by type. */
  readonly running: number;
  readonly runningByType: Readonly<Record<string, number>>;
  /** Attempts held: running, or ended and their end not yet stored. */
  readonly held: number;
  /** Handlers still running after their attempt ended (they ignored the abort signal). */
  readonly abandoned: number;
  readonly claimed: number;
  /** Attempts ended, by outcome. */
  readonly ended: Readonly<Record<AttemptOutcome, number>>;
  readonly recovered: { readonly requeued: number; readonly ended: number };
}

export const DEFAULT_POLL_MS = 2_000;
const LEASE_EXPIRED: OperationError = { code: 'lease_expired', message: 'the worker running this attempt stopped renewing its lease' };
// A handler still running this long after its attempt ended is reported as ignoring its signal.
const ABANDON_WARNING_MS = 1_000;

type State = 'idle' | 'running' | 'stopping' | 'stopped';

/**
 * Wakes on the store's `operation:due` events, at the next run_at and on a slow fallback poll (the claim loop's).
 * A slot frees when its handler returns, so the next claim overlaps storing the end; a handler given up on (timeout,
 * cancel, lost lease) that ignores its signal keeps its slot until it returns. Handlers share this event loop, so a CPU-heavy one
 * must yield between chunks of work (the built-in report task awaits setImmediate), or heartbeats,
 * deadlines and claims stall along with everything else in the process.
 */
export class WorkerPool extends EventEmitter<WorkerPoolEvents> {
  readonly #store: Store;
  readonly #registry: TaskRegistry;
  readonly #log: Logger;
  readonly #workerId: string;
  readonly #clock: TimerClock;
  readonly #readClock = (): number => this.#clock.now();
  readonly #concurrency: number;
  readonly #leaseMs: number;
  readonly #heartbeatMs: number;
  readonly #pollMs: number;
  readonly #graceMs: number;
  readonly #attemptDeps: AttemptDeps;
  readonly #loop: ClaimLoop;
  /** One timer for every attempt's deadline, set at the earliest. */
  readonly #deadlines: Alarm;

  #state: State = 'idle';
  #started: Promise<void> | null = null;
  #stopped: Promise<void> | null = null;
  #unsubscribe: (() => void) | null = null;
  /** Attempts held: claimed, and their end not yet stored. */
  readonly #attempts = new Set<Attempt>();
  /** The latest attempt of each operation held (a retried one can be claimed again while its last end is stored). */
  readonly #byOperation = new Map<string, Attempt>();
  /** Slots taken: attempts whose handler runs (an ending attempt's slot is free while its end is stored). */
  #busy = 0;
  readonly #busyByType = new Map<string, number>();
  readonly #abandoned = new Set<Attempt>();
  /** When each held attempt's lease ends, as last renewed (its claim's until a heartbeat renews it). */
  readonly #leaseEnds = new WeakMap<Attempt, number>();
  #onIdle: (() => void) | null = null;
  #stopHeartbeats: (() => void) | null = null;
  #heartbeating = false;
  #stopNodeBeats: (() => void) | null = null;

  readonly #tenantWeights: ReadonlyMap<string, number> | undefined;
  #nextRunAtAskedAt = -Infinity;
  /** Types the last claims found nothing due of, left out of the claims a freed slot makes until work of them is announced. */
  readonly #drained = new DrainedTypes();
  #claimedCount = 0;
  readonly #endedCount: Record<AttemptOutcome, number> = { completed: 0, failed: 0, retried: 0, cancelled: 0, released: 0, lost: 0, rate_limited: 0 };
  readonly #recoveredCount = { requeued: 0, ended: 0 };

  constructor(options: WorkerPoolOptions) {
    super();
    this.#store = options.store;
    this.#registry = options.registry;
    this.#workerId = options.workerId;
    this.#tenantWeights = options.tenantWeights;
    this.#log = options.logger.child({ workerId: options.workerId });
    this.#clock = withTimers(options.clock ?? systemClock);
    this.#concurrency = positive('concurrency', options.concurrency ?? DEFAULTS.concurrency);
    if (!Number.isInteger(this.#concurrency)) throw new TypeError(`WorkerPool: concurrency must be a whole number, got ${this.#concurrency}`);
    this.#leaseMs = positive('leaseMs', options.leaseMs ?? DEFAULTS.lease);
    this.#heartbeatMs = positive('heartbeatMs', options.heartbeatMs ?? Math.floor(this.#leaseMs / 3));
    this.#pollMs = positive('pollMs', options.pollMs ?? DEFAULT_POLL_MS);
    this.#graceMs = nonNegative('graceMs', options.graceMs ?? DEFAULTS.grace);
    this.#attemptDeps = {
      store: options.store,
      clock: this.#clock,
      backoff: options.retryBackoff ?? DEFAULT_RETRY_BACKOFF,
      random: options.random ?? Math.random,
      delivery: tracedDeliveryFactory(options.deliveryFactory, (id) => this.#byOperation.get(id)),
      maxResultBytes: positive('maxResultBytes', options.maxResultBytes ?? DEFAULTS.maxResultBytes),
      log: this.#log,
      workerId: options.workerId,
      onEnding: (attempt) => this.#onEnding(attempt),
      onEnd: (attempt, end) => this.#onEnd(attempt, end),
    };
    this.#loop = new ClaimLoop({
      clock: this.#clock,
      claim: () => this.#claimOnce(),
      recover: () => this.recover(),
      pollMs: this.#pollMs,
      // A third of the lease, as the heartbeats: an attempt cut off by a crash runs again within a third of a lease of
      // its lapse, where once a lease checked it up to a whole lease late (a read of the running leases' index).
      recoverEveryMs: positive('recoverEveryMs', options.recoverEveryMs ?? Math.max(1, Math.floor(this.#leaseMs / 3))),
      // A timed wake-up was set for the earliest run_at the pool was told of; the store knows the one after it, which may be close.
      onTimedWake: () => {
        this.#nextRunAtAskedAt = -Infinity;
        this.#drained.forget();
      },
      onError: (err) => this.#log.error({ err }, 'claiming failed; the next wake-up retries'),
    });
    // On the monotonic line: a timeout is how long the attempt ran, which no step of the wall clock changes.
    this.#deadlines = new Alarm(onMonotonicLine(this.#clock), (at) => this.#onDeadline(at));
  }

  /** Recover expired leases, then start claiming. Idempotent. */
  start(): Promise<void> {
    if (this.#state === 'stopping' || this.#state === 'stopped') return Promise.reject(new Error('WorkerPool: start() after stop()'));
    this.#started ??= this.#start();
    return this.#started;
  }

  async #start(): Promise<void> {
    this.#state = 'running';
    this.#unsubscribe = this.#store.subscribe((event) => this.#onStoreEvent(event));
    this.#stopHeartbeats = every(this.#clock, this.#heartbeatMs, () => void this.#heartbeat());
    await this.#nodeBeat();
    this.#stopNodeBeats = every(this.#clock, WORKER_NODE_BEAT_MS, () => void this.#nodeBeat());
    await this.#loop.start();
    this.#log.info({ concurrency: this.#concurrency, types: this.#registry.list().map((t) => t.type) }, 'worker pool started');
  }

  /**
   * Stop claiming, let running attempts finish for up to `graceMs`, then abort the rest and release
   * their leases so another node takes them at once. Idempotent: later calls return the first's promise.
   */
  stop(options: { readonly graceMs?: number | undefined } = {}): Promise<void> {
    this.#stopped ??= this.#stop(nonNegative('graceMs', options.graceMs ?? this.#graceMs));
    return this.#stopped;
  }

  async #stop(graceMs: number): Promise<void> {
    this.#state = 'stopping';
    // No claim from here on. Heartbeats and deadlines go on through the grace period: the attempts still run.
    const stopped = this.#loop.stop(graceMs, () => {
      if (this.#attempts.size === 0) return null;
      this.#log.info({ running: this.#attempts.size, graceMs }, 'worker pool stopping; waiting for running attempts');
      return new Promise<void>((resolve) => (this.#onIdle = resolve));
    });
    await this.#started?.catch(() => undefined);
    await stopped;
    this.#onIdle = null;
    const left = [...this.#attempts];
    if (left.length > 0) this.#log.warn({ operationIds: left.map((a) => a.operation.id) }, 'grace period over; releasing leases');
    await Promise.all(left.map((attempt) => attempt.release()));
    this.#stopHeartbeats?.();
    this.#stopNodeBeats?.();
    // A pool never started never joined (and its store may never have opened): nothing to withdraw.
    if (this.#started !== null) {
      await this.#store.workerNodeLeave({ id: this.#workerId }).catch((err: unknown) => this.#log.warn({ err }, 'could not withdraw this worker node'));
    }
    this.#deadlines.clear();
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    this.#state = 'stopped';
    // Said only of a pool that was started.
    if (this.#started !== null) this.#log.info('worker pool stopped');
  }

  /** Operations held now (claimed and not yet ended in the store). */
  runningCount(): number {
    return this.#attempts.size;
  }

  stats(): WorkerPoolStats {
    return {
      running: this.#busy,
      runningByType: Object.fromEntries(this.#busyByType),
      held: this.#attempts.size,
      abandoned: this.#abandoned.size,
      claimed: this.#claimedCount,
      ended: { ...this.#endedCount },
      recovered: { ...this.#recoveredCount },
    };
  }

  /** Return operations whose lease expired (a crashed node) to the queue, or end them. Runs periodically. */
  async recover(): Promise<RecoverResult> {
    try {
      // Not this node's own attempts, whose leases lapsed while a handler held the event loop: the heartbeat after it
      // renews them, or their end, already on its way, stores them (another node may still take them over meanwhile:
      // at least once).
      const held = [...this.#attempts].flatMap((a) => (!a.holdsLease || a.operation.leaseToken === null ? [] : [a.operation.leaseToken]));
      const result = await this.#store.operationRecoverExpired({ now: this.#clock.now(), delivery: this.#attemptDeps.delivery, error: LEASE_EXPIRED, held });
      if (result.requeued.length + result.ended.length > 0) {
        this.#recoveredCount.requeued += result.requeued.length;
        this.#recoveredCount.ended += result.ended.length;
        this.#log.warn({ requeued: result.requeued.map((o) => o.id), ended: result.ended.map((o) => o.id) }, 'recovered expired leases');
        this.#emitSafely('leases:recovered', result);
      }
      if (result.requeued.length > 0) {
        this.#drained.forget();
        this.#loop.wake();
      }
      return result;
    } catch (err) {
      this.#log.error({ err }, 'lease recovery failed');
      return { requeued: [], ended: [] };
    }
  }

  #onStoreEvent(event: StoreEvent): void {
    if (event.kind === 'operation:cancel_requested') {
      this.#byOperation.get(event.id)?.cancel();
    } else if (event.kind === 'feed:resumed') {
      // Due operations may have been announced while the feed was away.
      this.#drained.forget();
      this.#loop.wake();
    } else if (event.kind === 'operation:due' && this.#registry.get(event.type) !== undefined) {
      const now = this.#clock.now();
      this.#drained.announce(event.type, event.runAt, now);
      if (event.runAt <= now) this.#loop.wakeNow();
      else this.#loop.wakeAt(event.runAt);
    }
  }

  /** One claim for the free slots; true when it got all it asked for (more may be due). */
  async #claimOnce(): Promise<boolean> {
    const free = this.#concurrency - this.#busy;
    if (free <= 0) return false;
    const types: TypeLimit[] = [];
    let wanted = 0;
    this.#drained.refresh(this.#store.unannouncedWrites(), this.#clock.now());
    for (const task of this.#registry.list()) {
      if (this.#drained.has(task.type)) continue;
      // `free` already leaves out the slots this type holds; its own limit does not.
      const limit = Math.min(task.concurrency - (this.#busyByType.get(task.type) ?? 0), free);
      if (limit > 0) types.push({ type: task.type, limit, rateLimit: task.rateLimit, keyLimit: task.keyConcurrency });
      wanted += Math.max(0, limit);
    }
    if (types.length === 0) return false;
    const asked = Math.min(free, wanted);
    const mark = this.#drained.mark();
    const claimed = await this.#store.operationClaimDue({
      now: this.#clock.now(),
      clock: this.#readClock,
      workerId: this.#workerId,
      leaseMs: this.#leaseMs,
      types,
      limit: asked,
      tenantWeights: this.#tenantWeights,
    });
    for (const operation of claimed) this.#begin(operation);
    if (claimed.length >= asked) return true;
    // A rate limit (or a hold) held some back: come back when its next token is there, not on the next poll.
    if (claimed.rateLimitedUntil !== undefined) this.#loop.wakeAt(claimed.rateLimitedUntil);
    else
      this.#drained.settle(
        mark,
        types.map((t) => ({ type: t.type, limit: Math.min(t.limit, asked) })),
        countByType(claimed),
        this.#clock.now(),
      );
    // The queue has nothing more for us now: sleep until the next scheduled run_at (retries, run_at). Every insert and
    // requeue announces its run_at (operation:due), so asking the store is for what no event told of (work stored
    // before this pool started, an event lost): at most once per fallback poll, not after every short claim, which
    // would put a second round trip between a due operation and its claim.
    const now = this.#clock.now();
    if (now - this.#nextRunAtAskedAt < this.#pollMs) return false;
    this.#nextRunAtAskedAt = now;
    const next = await this.#store.operationNextRunAt({ types: this.#registry.list().map((task) => task.type) });
    if (next !== null && next > this.#clock.now()) this.#loop.wakeAt(next);
    return false;
  }

  #begin(operation: Operation): void {
    const task = this.#registry.get(operation.type);
    if (task === undefined) throw new Error(`claimed operation ${operation.id} of unregistered type ${operation.type}`);
    const attempt = new Attempt(operation, task, this.#attemptDeps);
    this.#attempts.add(attempt);
    this.#byOperation.set(operation.id, attempt);
    this.#busy += 1;
    this.#busyByType.set(task.type, (this.#busyByType.get(task.type) ?? 0) + 1);
    this.#claimedCount += 1;
    this.#emitSafely('operation:claimed', operation);
    if (this.#state !== 'running') {
      void attempt.release();
      return;
    }
    attempt.start();
    this.#deadlines.setAt(attempt.deadline);
  }

  // The slot is free once the handler is done with, not once its end is stored: the next claim overlaps that write.
  // A handler given up on (a timeout, a cancel, a lost lease) that ignores its signal keeps its slot until it returns:
  // its code still runs here, and the limits count what runs (a freed slot let a type of concurrency 2 run six at once).
  #onEnding(attempt: Attempt): void {
    if (attempt.handlerRunning) {
      void attempt.handlerSettled.finally(() => this.#freeSlot(attempt));
      return;
    }
    this.#freeSlot(attempt);
  }

  #freeSlot(attempt: Attempt): void {
    this.#busy -= 1;
    const type = attempt.operation.type;
    const busy = (this.#busyByType.get(type) ?? 1) - 1;
    if (busy > 0) this.#busyByType.set(type, busy);
    else this.#busyByType.delete(type);
    this.#loop.wake();
  }

  #onEnd(attempt: Attempt, end: AttemptEnd): void {
    this.#attempts.delete(attempt);
    if (this.#byOperation.get(end.id) === attempt) this.#byOperation.delete(end.id);
    this.#endedCount[end.outcome] += 1;
    if (attempt.handlerRunning) this.#watchAbandoned(attempt);
    if (end.outcome === 'retried' && end.operation !== null) this.#loop.wakeAt(end.operation.runAt);
    this.#emitSafely('operation:finished', end);
    if (this.#attempts.size === 0) this.#onIdle?.();
    this.#loop.wake();
  }

  #watchAbandoned(attempt: Attempt): void {
    this.#abandoned.add(attempt);
    const warn = this.#clock.setTimeout(
      () => attempt.log.warn('handler still running after its attempt ended; it should honour ctx.signal'),
      ABANDON_WARNING_MS,
    );
    warn.unref();
    void attempt.handlerSettled.finally(() => {
      this.#clock.clearTimeout(warn);
      this.#abandoned.delete(attempt);
    });
  }

  #emitSafely<K extends keyof WorkerPoolEvents>(event: K, ...args: WorkerPoolEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: WorkerPoolEvents[K]) => boolean).call(this, event, ...args);
    } catch (err) {
      this.#log.error({ err, event }, 'a worker pool listener threw');
    }
  }

  // One alarm for all deadlines, set at the earliest; when it rings, every attempt past its deadline times out and
  // the alarm is set at the next one.
  #onDeadline(at: number): void {
    const now = Math.max(at, monotonicNow(this.#clock));
    let next = Infinity;
    for (const attempt of this.#attempts.values()) {
      if (attempt.ending) continue;
      if (attempt.deadline <= now) attempt.timeout();
      else next = Math.min(next, attempt.deadline);
    }
    this.#deadlines.setAt(next);
  }

  /** Tells every node's ETA that this one runs, and how much of each type at once; nodes long silent are forgotten. */
  async #nodeBeat(): Promise<void> {
    const now = this.#clock.now();
    const typeLimits = nodeLimits(this.#concurrency, this.#registry.list());
    try {
      await this.#store.workerNodeBeat({
        node: { id: this.#workerId, concurrency: this.#concurrency, typeLimits, seenAt: now },
        forgetBefore: now - 10 * WORKER_NODE_LIVE_MS,
      });
    } catch (err) {
      this.#log.warn({ err }, 'could not announce this worker node; ETAs count its slots once it can');
    }
  }

  /**
   * Cut off from the store, this node cannot renew a lease, and once it ends another node may claim the operation: an
   * attempt whose lease ends before the next heartbeat could renew it is given up now (its handler's signal fires)
   * rather than left running beside the node that takes it over. Half a period more than one: a tick comes late on a
   * busy event loop, and the one after it would be past the end.
   */
  #giveUpUnrenewed(): void {
    const now = this.#clock.now();
    for (const attempt of this.#attempts) {
      if (attempt.ending) continue;
      const end = this.#leaseEnds.get(attempt) ?? attempt.operation.leaseExpiresAt ?? Number.POSITIVE_INFINITY;
      if (now + 1.5 * this.#heartbeatMs < end) continue;
      attempt.log.warn('the lease could not be renewed before it ends: giving the attempt up');
      attempt.leaseLost();
    }
  }

  async #heartbeat(): Promise<void> {
    // A heartbeat still under way a whole period later (a database that stopped answering) renews nothing either. A tick
    // that is merely late (a busy event loop) sends its heartbeat, which renews: only one that failed or hangs gives up.
    // A round whose replies came while a handler held the event loop is answered, but they are read after this timer,
    // in the poll phase of this turn: judged once they are (setImmediate), it has renewed, and nothing is given up.
    if (this.#heartbeating) {
      setImmediate(() => {
        if (this.#heartbeating) this.#giveUpUnrenewed();
      });
      return;
    }
    this.#heartbeating = true;
    const now = this.#clock.now();
    let failed = false;
    try {
      await Promise.all(
        [...this.#attempts.values()]
          .filter((a) => !a.ending)
          .map(async (attempt) => {
            try {
              const lease = await this.#store.operationHeartbeat({
                id: attempt.operation.id,
                leaseToken: attempt.operation.leaseToken ?? '',
                now,
                leaseMs: this.#leaseMs,
              });
              if (lease === null) attempt.leaseLost();
              else {
                this.#leaseEnds.set(attempt, now + this.#leaseMs);
                if (lease.cancelRequested) attempt.cancel();
              }
            } catch (err) {
              attempt.log.warn({ err }, 'heartbeat failed');
              failed = true;
            }
          }),
      );
      // Once for the round, over every attempt held: those renewed in it are safe.
      if (failed) this.#giveUpUnrenewed();
    } finally {
      this.#heartbeating = false;
    }
  }
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new TypeError(`WorkerPool: ${name} must be a positive number, got ${value}`);
  return value;
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new TypeError(`WorkerPool: ${name} must be zero or more, got ${value}`);
  return value;
}
