// Owns: the operations service the edges call: submit, read (through the read cache), list, cancel, delete, results
// and waiting for a change, each composed from the parts that decide it. Not here: submit fields (submission.ts), the
// key gate (idempotency.ts), watchers and long-poll (watchers.ts), the ETA (operation-view.ts), HTTP, handlers, SQL.
// Invariant: nothing is stored before the input passed its type's schema and the webhook URL its policy.

import { AsyncOpsError } from '../domain/errors.ts';
import { priorityProblem } from '../domain/fairness.ts';
import { newId, ID_PREFIXES, isId } from '../domain/ids.ts';
import type { DurationEstimate } from '../domain/eta.ts';
import type { Operation, OperationResult } from '../domain/operation.ts';
import type { OperationResource } from '../domain/resource.ts';
import { isTerminal, REDRIVABLE_STATUSES } from '../domain/status.ts';
import type { TraceCarrier } from '../domain/trace-context.ts';
import { endCreateSpan, startCreateSpan } from '../telemetry/tracing.ts';
import type { OperationsObserver } from './observer.ts';
import { withTimers, type Clock, type TimerClock } from '../domain/clock.ts';
import type { DeliveryFactory, OperationCount, OperationListQuery, QueueStanding, Store } from '../store/store.ts';
import type { RegisteredTask, TaskRegistry } from './registry.ts';
import { ReadCache } from './read-cache.ts';
import { OperatorStats, type Overview } from './overview.ts';
import { defaultTimeoutS, SubmitFields, type SubmitFieldValues, type SubmitLimits } from './submission.ts';
import { IdempotencyGate, submitFingerprints } from './idempotency.ts';
import { ChangeWatchers, waitForChange, type ChangeListener } from './watchers.ts';
import { OperationViews, type OperationView } from './operation-view.ts';
import { MAX_ATTEMPTS, PAGE_LIMIT, PRIORITY } from '../config/limits.ts';
import { DEFAULTS } from '../config/settings.ts';

export interface SubmitRequest extends SubmitFieldValues {
  readonly tenant: string;
  readonly type: string;
  readonly input: unknown;
  readonly idempotencyKey?: string | undefined;
  /** The trace context the request came with (`traceparent`); the create span is its child and the operation keeps it. */
  readonly trace?: TraceCarrier | null | undefined;
}

export interface OperationsServiceOptions {
  readonly store: Store;
  readonly registry: TaskRegistry;
  /** Time, and the timer a long-poll waits on; one without timers gets the system's. */
  readonly clock: Clock;
  /** Checks a webhook URL at submit time; returns a reason to refuse it, or null. */
  readonly checkWebhookUrl: (url: string) => string | null;
  readonly deliveryFactory: DeliveryFactory;
  /** Global worker concurrency of one worker process, for the ETA of pending operations. */
  readonly workerConcurrency: number;
  readonly limits: ServiceLimits;
  /** Fairness: the highest priority a tenant may submit (absent: the contract's maximum). */
  readonly maxPriority?: ((tenant: string) => number) | undefined;
  /** Fairness: each tenant's share of turns, which queue positions count (absent: 1 each). */
  readonly tenantWeights?: ReadonlyMap<string, number> | undefined;
  readonly idempotencyTtlMs?: number | undefined;
  /** How long a status read may be served again (0: never). Default: `--read-cache`'s. */
  readonly readCacheMs?: number | undefined;
  /** Where the HTTP API is mounted (`''` or a prefix such as `/async`): the links of every resource start with it. */
  readonly basePath?: string | undefined;
  /** Told of creations, cancels and ends (metrics). */
  readonly observer?: OperationsObserver | undefined;
}

const READ_CACHE_ENTRIES = 10_000;

export interface ServiceLimits extends SubmitLimits {
  readonly maxListLimit: number;
}

export const DEFAULT_SERVICE_LIMITS: ServiceLimits = { maxTimeoutS: DEFAULTS.maxTimeout / 1000, maxAttempts: MAX_ATTEMPTS, maxListLimit: PAGE_LIMIT.max };

const DAY_MS = 24 * 3600 * 1000;

/** A submit as stored: `standing` when the insert read it (undefined: not asked, or the store could not). */
interface StoredSubmit {
  readonly operation: Operation;
  readonly created: boolean;
  readonly standing: QueueStanding | null | undefined;
  /** The time it was created at, which a render counts from. */
  readonly now: number;
}

/** A read of one operation from the store, and the cache's ticket when it began (a change heard of since makes it stale). */
interface ReadUnderWay {
  readonly ticket: number;
  readonly read: ReturnType<Store['operationGetWithStanding']>;
}

export interface OperationPage {
  readonly items: OperationResource[];
  /** When more follow, the id of this page's last operation: the next page is the one below it. */
  readonly nextBeforeId: string | null;
}

export class OperationsService {
  readonly #store: Store;
  readonly #registry: TaskRegistry;
  readonly #clock: TimerClock;
  readonly #options: OperationsServiceOptions;
  readonly #fields: SubmitFields;
  readonly #keys = new IdempotencyGate();
  readonly #watchers = new ChangeWatchers();
  readonly #views: OperationViews;
  #unsubscribe: (() => void) | null = null;
  readonly #cache: ReadCache;
  /** Store reads under way, by tenant and id, with the cache ticket each began at (#read). */
  readonly #reading = new Map<string, ReadUnderWay>();
  /** Per operation read, the read to begin once the one under way ends: the reads past the cache asked for meanwhile share it. */
  readonly #readingNext = new Map<string, Promise<ReadUnderWay>>();
  readonly #stats: OperatorStats;

  constructor(options: OperationsServiceOptions) {
    this.#options = options;
    this.#store = options.store;
    this.#registry = options.registry;
    this.#clock = withTimers(options.clock);
    this.#fields = new SubmitFields(options.limits);
    this.#views = new OperationViews({
      store: options.store,
      registry: options.registry,
      clock: this.#clock,
      workerConcurrency: options.workerConcurrency,
      basePath: options.basePath,
      tenantWeights: options.tenantWeights,
    });
    this.#cache = new ReadCache({ ttlMs: options.readCacheMs ?? DEFAULTS.readCache, maxEntries: READ_CACHE_ENTRIES });
    this.#stats = new OperatorStats(options.store, this.#clock, () => options.registry.list().map((task) => task.type));
  }

  /** Start listening to the store's change feed (for long-polls and SSE). */
  start(): void {
    this.#unsubscribe ??= this.#store.subscribe((event) => {
      // The cache first, so what the watchers read is the change, not a cached read from before it.
      if (event.kind === 'operation:changed') {
        this.#cache.changed(event.id);
        this.#watchers.changed(event.id, event.version);
        if (isTerminal(event.status)) this.#options.observer?.ended(event.id, event.status, this.#clock.now());
      } else if (event.kind === 'operation:deleted') {
        // A held long-poll reads again and answers 404; an event stream closes.
        this.#cache.changed(event.id);
        this.#watchers.lookAgain(event.id);
      } else if (event.kind === 'feed:resumed') {
        this.#cache.changedAll();
        this.#watchers.mayHaveMissed();
      }
    });
  }

  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
  }

  /** Where the HTTP API is mounted: `''`, or a prefix such as `/async`. */
  get basePath(): string {
    return this.#options.basePath ?? '';
  }

  /** The timeout an operation of `task` gets when its submit names none (held to the configured ceiling). */
  defaultTimeoutS(task: RegisteredTask): number {
    return defaultTimeoutS(task, this.#options.limits.maxTimeoutS);
  }

  get registry(): TaskRegistry {
    return this.#registry;
  }

  /** Submits within a `create` span (messaging conventions), whose context the operation keeps for its first attempt. */
  async submit(request: SubmitRequest): Promise<{ view: OperationView; created: boolean }> {
    // The models (and rate-limit buckets) as they were before the insert: read after it, a worker woken by the insert
    // may have taken this operation's own token already, and the reply would promise a wait for the next one.
    await this.#views.durationEstimates();
    const submitted = await this.#traced(request, async (trace) => {
      const stored = await this.#insert(request, trace, true);
      return { view: await this.#storedView(stored), operation: stored.operation, created: stored.created };
    });
    const { view } = submitted;
    if (submitted.created) this.#options.observer?.created(view.operation, { at: view.estimatedCompletionAt, givenAt: view.renderedAt });
    // History: the ETA this reply gives is what the operation's ETA error is measured against. It is known only after the
    // insert (from where the operation stands), so it is noted on the created event off this path, with later writes.
    if (submitted.created && view.estimatedCompletionAt !== null) {
      this.#store.historyNoteEstimate({ operationId: view.operation.id, estimatedCompletionAt: Math.round(view.estimatedCompletionAt) });
    }
    return { view, created: submitted.created };
  }

  /**
   * The reply's view of an operation just stored. The store read where it stands with the insert; one that could not (or
   * an insert with a key) is asked now. A store that stops answering after the insert committed leaves the operation
   * stored all the same: its reply is still the 202 it earned, without a position or an ETA, never a 503 a client would
   * take for "not created" (and, without a key, send again: a second operation).
   */
  async #storedView(stored: StoredSubmit): Promise<OperationView> {
    try {
      return stored.standing !== undefined
        ? await this.#views.render(stored.operation, stored.standing, stored.now, this.#views.base(stored.operation, true))
        : await this.#views.view(stored.operation, { fromTail: stored.created });
    } catch (error) {
      if (!(error instanceof AsyncOpsError) || error.code !== 'store_unavailable') throw error;
      return this.#views.unestimated(stored.operation, true);
    }
  }

  /**
   * Submits as `submit` does, and answers with the stored operation alone: no queue standing is read and no ETA
   * rendered, for a caller that only needs where to find it (`Prefer: return=minimal`).
   */
  async submitStored(request: SubmitRequest): Promise<{ operation: Operation; created: boolean }> {
    const stored = await this.#traced(request, (trace) => this.#insert(request, trace, false));
    if (stored.created) this.#options.observer?.created(stored.operation, { at: null, givenAt: stored.now });
    return { operation: stored.operation, created: stored.created };
  }

  async #traced<T extends { operation: Operation; created: boolean }>(request: SubmitRequest, work: (trace: TraceCarrier | null) => Promise<T>): Promise<T> {
    const { span, carrier } = startCreateSpan(this.#registry.get(request.type)?.type ?? null, request.trace ?? null);
    let submitted: T;
    try {
      submitted = await work(carrier);
    } catch (error) {
      endCreateSpan(span, { error });
      throw error;
    }
    endCreateSpan(span, { operationId: submitted.operation.id, replayed: !submitted.created });
    return submitted;
  }

  /** Checks and stores it; `withStanding`: a new operation without a key has its standing read in the same round trip. */
  async #insert(request: SubmitRequest, trace: TraceCarrier | null, withStanding: boolean): Promise<StoredSubmit> {
    const task = this.#registry.require(request.type);
    const fieldErrors = this.#registry.validateInput(task.type, request.input);
    if (fieldErrors.length > 0) throw new AsyncOpsError('validation_failed', `input is not valid for task type "${task.type}"`, { errors: fieldErrors });
    const fields = this.#fields.check(request, task, this.#options.maxPriority?.(request.tenant));
    if (fields.webhookUrl !== null) {
      const refusal = this.#options.checkWebhookUrl(fields.webhookUrl);
      if (refusal !== null)
        throw new AsyncOpsError('webhook_url_refused', `webhook_url refused: ${refusal}`, { errors: [{ path: '/webhook_url', message: refusal }] });
    }
    const now = this.#clock.now();
    const draft = {
      id: newId(ID_PREFIXES.operation, now),
      tenant: request.tenant,
      type: task.type,
      input: request.input,
      now,
      // The size of its work, for the ETA: its duration sample keeps it, so the time per unit is learnt.
      cost: this.#registry.costOf(task.type, request.input),
      trace,
      ...fields,
      // A run_at in the past means now: stored as it was sent, it would run ahead of everything pending since then.
      runAt: Math.max(fields.runAt ?? now, now),
    };
    if (request.idempotencyKey === undefined) {
      const result = await this.#store.operationInsert(draft, undefined, withStanding ? { standing: { scope: this.#views.scope } } : undefined);
      if (result.kind !== 'created') throw new Error(`store answered ${result.kind} to an insert without a key`);
      return { operation: result.operation, created: true, standing: result.standing, now };
    }
    const release = this.#keys.enter(request.tenant, request.idempotencyKey);
    try {
      // As sent (run_at before it is held to now), so a retry of the same request matches whenever it comes.
      const fingerprints = submitFingerprints({ type: task.type, input: request.input, ...fields });
      const ttl = this.#options.idempotencyTtlMs ?? DAY_MS;
      const result = await this.#store.operationInsert(draft, { key: request.idempotencyKey, ...fingerprints, expiresAt: now + ttl });
      if (result.kind === 'key_mismatch') {
        throw new AsyncOpsError('idempotency_key_mismatch', 'this Idempotency-Key was used with a different request body', {
          extra: { operation_id: result.operationId },
        });
      }
      return { operation: result.operation, created: result.kind === 'created', standing: undefined, now };
    } finally {
      release();
    }
  }

  /** Hold a submit's idempotency key while the caller waits on the new operation (Prefer: wait). */
  holdKey<T>(tenant: string, key: string | undefined, work: () => Promise<T>): Promise<T> {
    return this.#keys.hold(tenant, key, work);
  }

  /**
   * `tenant` null: whichever tenant's it is (an admin's read). `fresh`: from the store, not the read cache nor a read
   * of it under way, which may have begun before that version was stored (a client knows of a later version than this
   * node may have heard of).
   */
  async get(tenant: string | null, id: string, options: { readonly fresh?: boolean } = {}): Promise<OperationView> {
    const now = this.#clock.now();
    // Only while subscribed to the change feed does a change drop what the cache holds. Only ids read are kept, so a
    // malformed one is never found here and #read refuses it.
    const cached = this.#unsubscribe === null || options.fresh === true ? undefined : this.#cache.lookup(id, now);
    // Ids are global: another tenant's operation is not found, cached or not.
    if (cached !== undefined && tenant !== null && cached.operation.tenant !== tenant) throw notFound(id);
    if (cached !== undefined) return this.#views.render(cached.operation, cached.standing, now, cached.base);
    return this.#read(tenant, id, now, options.fresh === true);
  }

  /**
   * A read of the store (kept in the cache for the next), rendered. Reads of one operation asked for while one is under
   * way, with no change heard of since it began (its ticket), share it: the long-polls and streams one change wakes
   * all read at once, and it costs the store one read, cache or not. A read past the cache (`fresh`) joins none begun
   * before it was asked for, which may have missed the version its client saw: it shares the one that begins once the
   * read under way ends, as every read past the cache asked for meanwhile does (a storm of them costs a read at a time).
   */
  async #read(tenant: string | null, id: string, now = this.#clock.now(), fresh = false): Promise<OperationView> {
    if (!isId(ID_PREFIXES.operation, id)) throw notFound(id);
    const ticket = this.#cache.ticket();
    const key = `${tenant ?? ''}\u0000${id}`;
    let underWay = this.#reading.get(key);
    if (fresh && underWay !== undefined) underWay = await this.#readAfter(key, underWay, tenant, id);
    else if (underWay === undefined || underWay.ticket !== ticket) underWay = this.#startRead(key, tenant, id, ticket, now);
    const stored = await underWay.read;
    if (stored === null) throw notFound(id);
    const read = { ...stored, base: this.#views.base(stored.operation, true) };
    if (this.#unsubscribe !== null) this.#cache.keep(id, read, ticket, now);
    return this.#views.render(read.operation, read.standing, now, read.base);
  }

  #startRead(key: string, tenant: string | null, id: string, ticket: number, now: number): ReadUnderWay {
    const shared = { ticket, read: this.#store.operationGetWithStanding({ id, tenant, now, scope: this.#views.scope }) };
    this.#reading.set(key, shared);
    const forget = () => {
      if (this.#reading.get(key) === shared) this.#reading.delete(key);
    };
    shared.read.then(forget, forget);
    return shared;
  }

  /** The read that begins once `current` ends (whatever it answered), shared by all who ask for it meanwhile. */
  #readAfter(key: string, current: ReadUnderWay, tenant: string | null, id: string): Promise<ReadUnderWay> {
    let next = this.#readingNext.get(key);
    if (next === undefined) {
      // Whatever the read under way answered (or failed with): only its end is waited for.
      next = current.read
        .catch(() => null)
        .then(() => {
          this.#readingNext.delete(key);
          return this.#startRead(key, tenant, id, this.#cache.ticket(), this.#clock.now());
        });
      this.#readingNext.set(key, next);
    }
    return next;
  }

  /**
   * The tenant whose operation `id` is, for a read in `scope` (readScope: a tenant, or null for an admin's read of any):
   * the scope itself, or, for an admin, the operation's own tenant; not_found when there is no such operation.
   */
  async tenantOfRead(scope: string | null, id: string): Promise<string> {
    if (scope !== null) return scope;
    // An operation's tenant never changes, so a cached read of it answers (an admin polling reads the store once a turn).
    const cached = this.#cache.lookup(id, this.#clock.now());
    if (cached !== undefined) return cached.operation.tenant;
    const operation = isId(ID_PREFIXES.operation, id) ? await this.#store.operationGetById(id) : null;
    if (operation === null) throw notFound(id);
    return operation.tenant;
  }

  /** Operations per type and status, of a tenant or (null) of every tenant: from counters, cheap to poll. */
  counts(tenant: string | null): Promise<OperationCount[]> {
    return this.#store.operationCounts({ tenant });
  }

  /** The operator's overview of the last `windowS` seconds, of a tenant or (null) of every tenant. */
  overview(tenant: string | null, windowS: number): Promise<Overview> {
    return this.#stats.overview(tenant, windowS);
  }

  /** `tenant` null: every tenant's (an admin's list). `beforeId`: only operations with a smaller id (the page after the one that ended there). */
  async list(tenant: string | null, query: Omit<OperationListQuery, 'tenant'>): Promise<OperationPage> {
    const limit = Math.min(query.limit, this.#options.limits.maxListLimit);
    // One more than the page holds, to know whether another follows.
    const rows = await this.#store.operationList({ ...query, tenant, limit: limit + 1 });
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const items = await Promise.all(page.map(async (op) => (await this.#views.view(op, { includeInput: false })).resource));
    return { items, nextBeforeId: rows.length > limit && last !== undefined ? last.id : null };
  }

  async cancel(tenant: string, id: string, ifVersion?: number | undefined): Promise<OperationView> {
    if (!isId(ID_PREFIXES.operation, id)) throw notFound(id);
    const outcome = await this.#store.operationCancel({ id, tenant, now: this.#clock.now(), delivery: this.#options.deliveryFactory, ifVersion });
    if (outcome.kind === 'not_found') throw notFound(id);
    if (outcome.kind === 'changed') throw changedMeanwhile(id);
    if (outcome.kind === 'terminal') {
      throw new AsyncOpsError('conflict', `operation ${id} is already ${outcome.operation.status}`, { extra: { operation_status: outcome.operation.status } });
    }
    if (outcome.kind === 'cancelled') this.#options.observer?.cancelled(outcome.operation);
    return this.#views.view(outcome.operation);
  }

  /**
   * An operator's retry (a redrive): a failed or cancelled operation goes back to pending as a fresh run (attempts from
   * 1, its webhook sent again when it ends). `by`: who asked, for its history. `priority`: the one it takes (absent: it
   * keeps its own), under a submit's rule for the operation's tenant.
   */
  async retry(tenant: string, id: string, by: string, priority?: number | undefined, ifVersion?: number | undefined): Promise<OperationView> {
    if (!isId(ID_PREFIXES.operation, id)) throw notFound(id);
    if (priority !== undefined) {
      const refused = priorityProblem(priority, this.#options.maxPriority?.(tenant) ?? PRIORITY.max);
      if (refused !== null) throw new AsyncOpsError('validation_failed', `/priority ${refused}`, { errors: [{ path: '/priority', message: refused }] });
    }
    // Back to pending, an operation of a type this node does not run would wait for ever: refused as a submit of it is.
    const current = await this.#store.operationGet({ id, tenant });
    if (current === null) throw notFound(id);
    // Only one that could go back: any other status is the redrive's own 409.
    if (REDRIVABLE_STATUSES.includes(current.status) && this.#registry.get(current.type) === undefined) {
      // Not the submit's problem, which names a /type field: a retry sends none.
      const types = this.#registry.list().map((task) => task.type);
      const runs = types.length === 0 ? 'it runs none' : `it runs: ${types.join(', ')}`;
      throw new AsyncOpsError('unknown_task_type', `operation ${id} is of type "${current.type}", which this server does not run (${runs})`);
    }
    // As a submit's: the models and buckets as they were before the rerun could take its token.
    await this.#views.durationEstimates();
    const outcome = await this.#store.operationRedrive({ id, tenant, now: this.#clock.now(), by, priority: priority ?? null, ifVersion });
    if (outcome.kind === 'not_found') throw notFound(id);
    if (outcome.kind === 'changed') throw changedMeanwhile(id);
    if (outcome.kind === 'not_redrivable') {
      const status = outcome.operation.status;
      throw new AsyncOpsError('not_redrivable', `operation ${id} is ${status}; only a failed or cancelled operation is retried`, {
        extra: { operation_status: status },
      });
    }
    return this.#views.view(outcome.operation);
  }

  async delete(tenant: string, id: string, ifVersion?: number | undefined): Promise<void> {
    if (!isId(ID_PREFIXES.operation, id)) throw notFound(id);
    // A delete that happens is announced (operation:deleted): every node's cache lets go of it and its watchers look again.
    const outcome = await this.#store.operationDelete({ id, tenant, ifVersion });
    if (outcome === 'not_found') throw notFound(id);
    if (outcome === 'changed') throw changedMeanwhile(id);
    if (outcome === 'not_terminal') throw new AsyncOpsError('conflict', `operation ${id} is not finished; cancel it first`);
    if (outcome === 'delivery_pending') {
      throw new AsyncOpsError('conflict', `operation ${id} has a webhook still being delivered; delete it once the delivery is delivered or dead`);
    }
  }

  /** `type`: only an operation of this type is found (a task's own result route). */
  async result(tenant: string, id: string, type?: string): Promise<OperationResult> {
    const op = await this.#find(tenant, id);
    if (type !== undefined && op.type !== type) throw new AsyncOpsError('not_found', `no ${type} operation ${JSON.stringify(id.slice(0, 64))}`);
    if (op.status !== 'completed') {
      throw new AsyncOpsError('not_completed', `operation ${id} is ${op.status}, not completed`, { extra: { operation_status: op.status, operation_id: id } });
    }
    if (op.resultExpired) throw new AsyncOpsError('result_gone', `the result of operation ${id} was removed by retention`);
    const result = await this.#store.resultGet({ id, tenant });
    if (result === null) throw new AsyncOpsError('result_gone', `the result of operation ${id} is no longer available`);
    return result;
  }

  /**
   * Resolve with the operation once its stored version differs from `version`, or after `timeoutMs`
   * with the current state (a long-poll). Subscribes before reading, so no change slips between.
   */
  waitForChange(tenant: string | null, id: string, version: number, timeoutMs: number, signal?: AbortSignal): Promise<OperationView> {
    return waitForChange(this.#watchers, this.#clock, {
      id,
      version,
      timeoutMs,
      signal,
      // From the store, not the cache: a change the cache has not heard of yet must end the wait at once.
      read: () => this.#read(tenant, id),
      versionOf: (view) => view.operation.version,
      current: () => this.get(tenant, id),
    });
  }

  /**
   * Call `listener` for every stored change of one operation (with its version; null when changes may have been
   * missed and it is worth reading again) until the returned function is called.
   */
  watch(id: string, listener: ChangeListener): () => void {
    return this.#watchers.watch(id, listener);
  }

  /** Typical durations per type, from recent history blended with declared priors; refreshed lazily. */
  durationEstimates(): Promise<Map<string, DurationEstimate | null>> {
    return this.#views.durationEstimates();
  }

  /**
   * Rate limits: when each held type's hold ends, read from the store now. Not the buckets the estimates last read (up
   * to a second old), which would leave out a hold of a second altogether, where /metrics shows it.
   */
  async heldUntil(): Promise<Map<string, number>> {
    const now = this.#clock.now();
    const held = new Map<string, number>();
    for (const [type, bucket] of await this.#store.rateLimitBuckets()) if (bucket.heldUntil > now) held.set(type, bucket.heldUntil);
    return held;
  }

  async #find(tenant: string, id: string): Promise<Operation> {
    if (!isId(ID_PREFIXES.operation, id)) throw notFound(id);
    const op = await this.#store.operationGet({ id, tenant });
    if (op === null) throw notFound(id);
    return op;
  }
}

/**
 * A change made on the version a precondition was checked against (`ifVersion`) found another: one landed in between
 * (a worker's end, another client's change), and the client's If-Match no longer names the current version.
 */
function changedMeanwhile(id: string): AsyncOpsError {
  return new AsyncOpsError(
    'precondition_failed',
    `operation ${id} changed while this request was made: its If-Match (or If-None-Match) no longer holds; read it again`,
  );
}

function notFound(id: string): AsyncOpsError {
  return new AsyncOpsError('not_found', `no operation ${JSON.stringify(id.slice(0, 64))}`);
}
