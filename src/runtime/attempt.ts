// Owns: one attempt of a claimed operation: the handler's context (signal, coalesced progress, scoped log)
// and turning its outcome (return, throw, timeout, cancel, lost lease, shutdown) into one store call, traced as one
// `process` span the handler runs inside.
// Not here: claims, heartbeats, deadlines, slots (worker-pool.ts). Invariant: an attempt ends once.

import type { Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { monotonicNow, type Timer, type TimerClock } from '../domain/clock.ts';
import type { BackoffPolicy, Random } from '../domain/backoff.ts';
import { AsyncOpsError, coerceError, failureOf, isRateLimitedError } from '../domain/errors.ts';
import { holdMs, rateLimitedCountsAttempt } from '../domain/rate-limit.ts';
import {
  boundedError,
  decideAfterFailure,
  toOperationResult,
  InvalidResultError,
  boundedProgressMessage,
  type AttemptFailure,
  type OperationResult,
  type Operation,
  type OperationError,
} from '../domain/operation.ts';
import { isOutOfRoom, isRefusedValue } from '../store/storable.ts';
import type { TraceCarrier } from '../domain/trace-context.ts';
import { isProgressMilestone, progressStep } from '../domain/history.ts';
import { carrierOf, contextWithSpan, endProcessSpan, recordException, runInContext, startProcessSpan, traceLogFields } from '../telemetry/tracing.ts';
import { CANCELLED_BY_REQUEST, type DeliveryFactory, type Store } from '../store/store.ts';
import type { RegisteredTask } from './registry.ts';
import type { TaskContext } from './task.ts';

/** At most one progress write per operation in this interval; the last value is always written. */
export const PROGRESS_INTERVAL_MS = 200;
/**
 * Waits before each new try of an end the store could not be reached for (a connection reset, a proxy restarting):
 * about three seconds in all, well inside a lease, so a result is not lost to a moment's outage and the operation does
 * not wait out its lease, or lose an attempt to it. A try whose first did commit (only its answer lost) finds the lease
 * gone and stores nothing again.
 */
export const END_RETRY_DELAYS_MS = [100, 300, 900, 1_800] as const;

export type AbortCode = 'timeout' | 'cancelled' | 'shutdown' | 'lease_lost';

/** The `reason` of an attempt's AbortSignal; `signal.throwIfAborted()` throws it. */
export class AttemptAbortedError extends Error {
  readonly code: AbortCode;
  constructor(code: AbortCode, message: string) {
    super(message);
    // The name fetch, timers/promises and most libraries use for an aborted operation.
    this.name = 'AbortError';
    this.code = code;
  }
}

/**
 * How an attempt ended. `lost`: the lease was gone (or the store call failed), so nothing of ours was
 * stored; `released`: given back at shutdown without counting the attempt; `rate_limited`: the handler threw
 * RateLimitedError, so it was given back uncounted, to run again once the hold on its type ends.
 */
export type AttemptOutcome = 'completed' | 'failed' | 'retried' | 'cancelled' | 'released' | 'lost' | 'rate_limited';

export interface AttemptEnd {
  readonly id: string;
  readonly type: string;
  readonly attempt: number;
  readonly outcome: AttemptOutcome;
  /** The operation as stored by the ending transition; null when nothing was stored. */
  readonly operation: Operation | null;
  readonly error: OperationError | null;
  readonly durationMs: number;
}

export interface AttemptDeps {
  readonly store: Store;
  /** Time for what is stored, and the timer that spaces progress writes. */
  readonly clock: TimerClock;
  readonly backoff: BackoffPolicy;
  readonly random: Random;
  readonly delivery: DeliveryFactory;
  /** A handler's result larger than this fails the operation `result_too_large`, before anything is stored. */
  readonly maxResultBytes: number;
  /** The pool's logger; the attempt scopes a child with operation_id, type, attempt and its trace's ids. */
  readonly log: Logger;
  /** The worker running it, on its span (`messaging.client.id`). */
  readonly workerId: string;
  /** Called once, when the attempt starts to end: its handler returned or was given up on, so its slot is free. */
  readonly onEnding: (attempt: Attempt) => void;
  /** Called once, after the ending store call settled. */
  readonly onEnd: (attempt: Attempt, end: AttemptEnd) => void;
}

type StoreWrite = (now: number) => Promise<Operation | null>;

/**
 * The outbox factory whose delivery joins the trace of the attempt that ends its operation, when one of `attemptOf` does
 * (the delivery's own factory gives it the creating trace otherwise). One per pool: a store groups ends by factory.
 */
export function tracedDeliveryFactory(factory: DeliveryFactory, attemptOf: (operationId: string) => Attempt | undefined): DeliveryFactory {
  return (operation) => {
    const draft = factory(operation);
    const trace = draft === null ? null : (attemptOf(operation.id)?.traceCarrier ?? null);
    return draft === null || trace === null ? draft : { ...draft, trace };
  };
}

export class Attempt {
  readonly operation: Operation;
  readonly task: RegisteredTask;
  /**
   * When the attempt times out, on the clock's monotonic line (Clock.monotonicNow), where the pool's timer for it is set:
   * a wall clock stepped back held every timeout off for the step, and one stepped ahead failed work done in time.
   */
  readonly deadline: number;
  readonly #deps: AttemptDeps;
  readonly #controller = new AbortController();
  /** For the duration reported, which is measured, not scheduled: on the monotonic clock. */
  readonly #startedAt = performance.now();
  #log: Logger | null = null;
  #ending = false;
  /** The end under way (or done): what a release at shutdown waits for rather than let it go unstored. */
  #ended: Promise<void> = Promise.resolve();
  /** Given up (leaseLost): this node no longer answers for the operation, though its handler may still run. */
  #gaveUpLease = false;
  #handlerRunning = false;
  #handlerSettled: Promise<void> = Promise.resolve();
  #pendingProgress: number | null = null;
  /** When the handler reported the pending progress: stored as its time, since the ETA's rate is progress over time. */
  #pendingProgressAt = 0;
  /**
   * The handler's last progress report, stored with the end: coalescing may not have written it, or a write of it may
   * still be on its way when the end lands (and then finds no lease).
   */
  #lastReport: { fraction: number; message: string | null } | undefined = undefined;
  #progressMessage: string | null = null;
  #progressWrittenAt = -Infinity;
  /** The progress write on its way (it never rejects), awaited before the end is written. */
  #progressWrite: Promise<void> | null = null;
  #progressWriting = false;
  #progressTimer: Timer | null = null;
  /** History: the step of this attempt's last progress milestone (null: none yet), which the next must pass. */
  #milestoneStep: number | null = null;
  /** Started with the attempt, so every line of its log carries its trace; ended once the end is stored. */
  readonly #span: Span;

  constructor(operation: Operation, task: RegisteredTask, deps: AttemptDeps) {
    this.operation = operation;
    this.task = task;
    this.#deps = deps;
    this.#span = startProcessSpan(operation, deps.workerId);
    this.deadline = monotonicNow(deps.clock) + operation.timeoutS * 1000;
    this.#progressMessage = operation.progressMessage;
  }

  /** Whether this node still answers for the operation: running, or ending with its end's write on its way. */
  get holdsLease(): boolean {
    return !this.#gaveUpLease;
  }

  /** True once the attempt started to end; the handler's outcome no longer matters. */
  get ending(): boolean {
    return this.#ending;
  }

  get handlerRunning(): boolean {
    return this.#handlerRunning;
  }

  /** Settles when the handler returns or throws, which may be long after the attempt ended. */
  get handlerSettled(): Promise<void> {
    return this.#handlerSettled;
  }

  get log(): Logger {
    this.#log ??= this.#deps.log.child({
      operation_id: this.operation.id,
      type: this.operation.type,
      attempt: this.operation.attempt,
      ...traceLogFields(this.#span),
    });
    return this.#log;
  }

  /** This attempt's span as a carrier: the trace the webhook of an operation it ends joins (null: none). */
  get traceCarrier(): TraceCarrier | null {
    return carrierOf(this.#span);
  }

  start(): void {
    const attempt = this;
    const traceContext = contextWithSpan(this.#span);
    const ctx: TaskContext = {
      signal: this.#controller.signal,
      attempt: this.operation.attempt,
      operationId: this.operation.id,
      progress: (fraction, message) => this.#reportProgress(fraction, message),
      get log() {
        return attempt.log;
      },
      span: this.#span,
      traceContext,
    };
    this.#handlerRunning = true;
    this.#handlerSettled = runInContext(traceContext, () => this.#runHandler(ctx));
  }

  async #runHandler(ctx: TaskContext): Promise<void> {
    let value: unknown;
    let thrown: unknown;
    let threw = false;
    try {
      value = await this.task.definition.run(this.operation.input, ctx);
    } catch (error) {
      recordException(this.#span, error);
      thrown = error;
      threw = true;
    }
    this.#handlerRunning = false;
    if (this.#ending) {
      this.log.debug({ threw }, 'late handler outcome discarded');
      return;
    }
    // A handler that held the event loop past its deadline (a synchronous loop) settles before the deadline's timer
    // can fire: it timed out all the same, and what it returns is discarded.
    if (monotonicNow(this.#deps.clock) > this.deadline) return this.timeout();
    if (threw) this.#fail(thrown);
    else this.#complete(value);
  }

  #complete(value: unknown): void {
    // A result that cannot be stored would be the same on every attempt: each of these fails for good, not to retry.
    const limit = this.#deps.maxResultBytes;
    let result: OperationResult;
    try {
      result = toOperationResult(value);
    } catch (error) {
      // Too large to serialise at all (V8's "Invalid string length"), or not kept as given (InvalidResultError).
      const tooLarge = error instanceof RangeError;
      this.log.warn({ err: error }, 'the result cannot be stored');
      const message = tooLarge
        ? `the result is too large to serialise, more than the limit of ${limit} bytes (--max-result-bytes)`
        : error instanceof InvalidResultError
          ? error.message
          : `the result cannot be serialised as JSON: ${coerceError(error).message}`;
      this.#decide({ code: tooLarge ? 'result_too_large' : 'invalid_result', message, permanent: true });
      return;
    }
    if (result.body.byteLength > limit) {
      const message = `the result is ${result.body.byteLength} bytes, more than the limit of ${limit} (--max-result-bytes)`;
      this.log.warn({ bytes: result.body.byteLength, limit }, 'result too large');
      this.#decide({ code: 'result_too_large', message, permanent: true });
      return;
    }
    void this.#end('completed', null, (now) =>
      this.#deps.store.operationFinish({ ...this.#lease(), now, status: 'completed', result, delivery: this.#deps.delivery, progress: this.#lastReport }),
    );
  }

  #fail(thrown: unknown): void {
    if (isRateLimitedError(thrown)) {
      this.#rateLimited(thrown.retryAfterS, failureOf(thrown).message);
      return;
    }
    const { error, code, message, permanent } = failureOf(thrown);
    try {
      this.log.warn({ err: error, permanent }, 'attempt failed');
    } catch {
      // The logger's error serializer read what threw: the text read safely instead.
      this.log.warn({ message, permanent }, 'attempt failed');
    }
    this.#decide({ code, message, permanent });
  }

  /**
   * The service the handler calls is rate-limiting it: hold its type back on every node (first, so nothing of it starts
   * meanwhile), then give the operation back uncounted to run when the hold ends, with `rate_limited` as its last error.
   * Past RATE_LIMITED_FREE_S after its creation the throw counts as a failed attempt instead (the hold still applies).
   */
  #rateLimited(retryAfterS: unknown, message: string): void {
    const now = this.#deps.clock.now();
    const until = now + holdMs(retryAfterS);
    const error = boundedError('rate_limited', message);
    const hold = () => this.#deps.store.rateLimitHold({ type: this.operation.type, until, now: this.#deps.clock.now() });
    this.log.info({ retryAfterMs: until - now }, 'rate limited; holding the type back');
    if (rateLimitedCountsAttempt(this.operation.createdAt, now)) {
      this.#decide({ ...error, permanent: false }, hold);
      return;
    }
    void this.#end('rate_limited', error, async (at) => {
      await hold();
      return this.#deps.store.operationRelease({ ...this.#lease(), now: at, runAt: until, error, delivery: this.#deps.delivery });
    });
  }

  /** The deadline passed: abort the handler and end the attempt now, without waiting for it. */
  timeout(): void {
    if (this.#ending) return;
    const message = `attempt ${this.operation.attempt} exceeded its timeout of ${this.operation.timeoutS} s`;
    this.log.warn({ timeoutS: this.operation.timeoutS }, 'attempt timed out');
    this.#abort('timeout', message);
    this.#decide({ code: 'timeout', message, permanent: this.task.definition.retryOnTimeout !== true });
  }

  /** A cancel was requested: abort the handler and end the operation cancelled now. */
  cancel(): void {
    if (this.#ending) return;
    const error = CANCELLED_BY_REQUEST;
    this.#abort('cancelled', error.message);
    void this.#end('cancelled', error, (now) =>
      this.#deps.store.operationFinish({ ...this.#lease(), now, status: 'cancelled', error, delivery: this.#deps.delivery, progress: this.#lastReport }),
    );
  }

  /** The lease is gone (expired and taken over, or ended elsewhere): abort and forget the operation. */
  leaseLost(): void {
    if (this.#ending) return;
    this.log.warn('the lease on this attempt was lost; its handler is aborted and its end not stored');
    this.#gaveUpLease = true;
    this.#abort('lease_lost', 'the lease on this operation was lost');
    void this.#end('lost', null, null);
  }

  /** Shutdown past the grace period: abort and give the lease back without counting the attempt. */
  release(): Promise<void> {
    // An end already under way (its write tried again while the store cannot be reached) is waited for, not dropped.
    if (this.#ending) return this.#ended;
    this.#abort('shutdown', 'the worker is shutting down');
    return this.#end('released', null, (now) => this.#deps.store.operationRelease({ ...this.#lease(), now, delivery: this.#deps.delivery }));
  }

  /** `first`: a write to make before the end's (a rate-limited failure's hold). */
  #decide(failure: AttemptFailure, first: () => Promise<void> = async () => {}): void {
    const now = this.#deps.clock.now();
    const decision = decideAfterFailure(this.operation, failure, now, this.#deps.backoff, this.#deps.random);
    if (decision.kind === 'retry') {
      void this.#end('retried', decision.error, async () => {
        await first();
        return this.#deps.store.operationRetry({ ...this.#lease(), now, runAt: decision.runAt, error: decision.error, delivery: this.#deps.delivery });
      });
    } else {
      void this.#end('failed', decision.error, async () => {
        await first();
        return this.#deps.store.operationFinish({
          ...this.#lease(),
          now,
          status: 'failed',
          error: decision.error,
          delivery: this.#deps.delivery,
          progress: this.#lastReport,
        });
      });
    }
  }

  #abort(code: AbortCode, message: string): void {
    // Marked ending before the signal fires, so a handler that rejects in its abort listener is discarded.
    this.#ending = true;
    this.#controller.abort(new AttemptAbortedError(code, message));
  }

  // Every caller checked `#ending` synchronously before getting here, so this runs once per attempt.
  #end(outcome: AttemptOutcome, error: OperationError | null, write: StoreWrite | null): Promise<void> {
    this.#ended = this.#endWith(outcome, error, write);
    return this.#ended;
  }

  async #endWith(outcome: AttemptOutcome, error: OperationError | null, write: StoreWrite | null): Promise<void> {
    this.#ending = true;
    this.#deps.onEnding(this);
    if (this.#progressTimer !== null) this.#deps.clock.clearTimeout(this.#progressTimer);
    let operation: Operation | null = null;
    // When the handler was done with, which the slot was freed at: the end is stored at this time, not later.
    const endedAt = this.#deps.clock.now();
    // A progress write still on its way lands first: otherwise the end could be stored before it, and a milestone it
    // records in the history (which a retry, unlike a finish, does not carry) would come after the end or be lost.
    await this.#progressWrite;
    if (write !== null) {
      try {
        operation = await this.#writeEnd(write, endedAt);
        if (operation === null) this.log.warn({ outcome }, 'the lease was gone when the attempt ended; nothing stored');
      } catch (err) {
        // A full disk that outlasted the end's tries (#writeEnd) refuses it as a value too large does: left to lease
        // recovery, the handler ran again to the same refusal, attempt after attempt, and failed as lease_expired.
        if ((isRefusedValue(err) || isOutOfRoom(err)) && (outcome === 'completed' || outcome === 'failed' || outcome === 'retried')) {
          ({ outcome, error, operation } = await this.#endRefused(err));
        } else {
          this.log.error({ err }, 'ending the attempt failed in the store; lease recovery will take over');
        }
      }
    }
    const stored = write === null || operation !== null;
    // A retry or release finds a cancel requested meanwhile and ends the operation cancelled instead.
    const ended = operation?.status === 'cancelled' ? 'cancelled' : outcome;
    endProcessSpan(this.#span, stored ? ended : 'lost', error);
    this.#deps.onEnd(this, {
      id: this.operation.id,
      type: this.operation.type,
      attempt: this.operation.attempt,
      outcome: stored ? ended : 'lost',
      operation,
      error,
      durationMs: performance.now() - this.#startedAt,
    });
  }

  /** `write`, tried again while the store cannot be reached (END_RETRY_DELAYS_MS); any other error at once. */
  async #writeEnd(write: StoreWrite, endedAt: number): Promise<Operation | null> {
    for (let tries = 0; ; tries++) {
      try {
        const operation = await write(endedAt);
        return operation === null && tries > 0 ? await this.#storedByEarlierTry(endedAt) : operation;
      } catch (err) {
        const delayMs = END_RETRY_DELAYS_MS[tries];
        if (delayMs === undefined || !(err instanceof AsyncOpsError && err.code === 'store_unavailable')) throw err;
        this.log.warn({ err, retryInMs: delayMs }, 'ending the attempt could not reach the store; trying again');
        await new Promise<void>((resolve) => this.#deps.clock.setTimeout(resolve, delayMs));
      }
    }
  }

  /**
   * After a try the store may have committed with only its answer lost, the next finds the lease gone: the operation as
   * that try left it, when it carries this end's time (finished then, or requeued then) and no longer this attempt's
   * lease; else null (lease recovery's, or another node's).
   */
  async #storedByEarlierTry(endedAt: number): Promise<Operation | null> {
    const current = await this.#deps.store.operationGetById(this.operation.id).catch(() => null);
    if (current === null || current.leaseToken === this.operation.leaseToken) return null;
    return current.finishedAt === endedAt || current.updatedAt === endedAt ? current : null;
  }

  /**
   * The store refused what the attempt ended with (a result or text too large for it): the same end would be refused
   * again on every attempt, so the operation fails now, with nothing of the refused value.
   */
  async #endRefused(err: unknown): Promise<{ outcome: AttemptOutcome; error: OperationError; operation: Operation | null }> {
    const error = boundedError('result_not_stored', `the store refused the attempt's end: ${err instanceof Error ? err.message : String(err)}`);
    this.log.error({ err }, "the store refused the attempt's end; failing the operation");
    try {
      const operation = await this.#deps.store.operationFinish({
        ...this.#lease(),
        now: this.#deps.clock.now(),
        status: 'failed',
        error,
        delivery: this.#deps.delivery,
      });
      return { outcome: 'failed', error, operation };
    } catch (again) {
      this.log.error({ err: again }, 'failing the operation failed too; lease recovery will take over');
      return { outcome: 'failed', error, operation: null };
    }
  }

  #lease(): { id: string; leaseToken: string } {
    return { id: this.operation.id, leaseToken: this.operation.leaseToken ?? '' };
  }

  #reportProgress(fraction: number, message: string | undefined): void {
    if (this.#ending || typeof fraction !== 'number' || Number.isNaN(fraction)) return;
    // A message that is not text (a number, an object from a handler in JavaScript) is stored as its text.
    if (message !== undefined && message !== null) this.#progressMessage = boundedProgressMessage(String(message));
    this.#pendingProgress = Math.min(1, Math.max(0, fraction));
    this.#pendingProgressAt = this.#deps.clock.now();
    this.#lastReport = { fraction: this.#pendingProgress, message: this.#progressMessage };
    this.#flushProgress();
  }

  #flushProgress(): void {
    if (this.#pendingProgress === null || this.#progressWriting || this.#progressTimer !== null || this.#ending) return;
    // At most the interval, should the clock have stepped back since the last write.
    const wait = Math.min(PROGRESS_INTERVAL_MS, this.#progressWrittenAt + PROGRESS_INTERVAL_MS - monotonicNow(this.#deps.clock));
    if (wait > 0) {
      this.#progressTimer = this.#deps.clock.setTimeout(() => {
        this.#progressTimer = null;
        this.#flushProgress();
      }, wait);
      return;
    }
    const progress = this.#pendingProgress;
    this.#pendingProgress = null;
    const milestone = isProgressMilestone(this.#milestoneStep, progress);
    if (milestone) this.#milestoneStep = progressStep(progress);
    this.#progressWriting = true;
    this.#progressWrittenAt = monotonicNow(this.#deps.clock);
    // Stored with when it was reported, not when the coalesced write went out (up to an interval later): a rate read
    // from a late time would be too slow by the lag.
    this.#progressWrite = this.#deps.store
      .operationProgress({ ...this.#lease(), now: this.#pendingProgressAt, progress, message: this.#progressMessage, milestone })
      .then(
        () => undefined,
        (err: unknown) => this.log.warn({ err }, 'progress write failed'),
      )
      .finally(() => {
        this.#progressWriting = false;
        this.#flushProgress();
      });
  }
}
