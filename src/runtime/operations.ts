// Owns: the operations service the edges call: submit (validation, idempotency), read with ETA and queue
// position, list, cancel, delete, results, and waiting for a change (long-poll, SSE).
// Not here: HTTP details (http/), running handlers (worker-pool.ts), SQL (store/).
// Invariant: nothing is stored before the input passed its type's schema and the webhook URL its policy.

import { createHash } from 'node:crypto';
import { parseDateTime } from '../domain/date-time.ts';
import { AsyncOpsError } from '../domain/errors.ts';
import { newId, ID_PREFIXES, isId } from '../domain/ids.ts';
import { estimateCompletion, estimateDuration, DURATION_SAMPLE_LIMIT, type DurationEstimate } from '../domain/eta.ts';
import type { Operation, OperationResult } from '../domain/operation.ts';
import { baseResource, withEstimates, type OperationResource } from '../domain/resource.ts';
import { isTerminal, type OperationStatus } from '../domain/status.ts';
import type { Clock } from '../domain/clock.ts';
import type { DeliveryFactory, QueueStanding, Store } from '../store/store.ts';
import type { RegisteredTask, TaskRegistry } from './registry.ts';
import { ReadCache } from './read-cache.ts';

export interface SubmitRequest {
  readonly tenant: string;
  readonly type: string;
  readonly input: unknown;
  readonly webhookUrl?: string | null | undefined;
  readonly timeoutS?: number | undefined;
  readonly priority?: number | undefined;
  /** RFC 3339 time to run at, no earlier. */
  readonly runAt?: string | undefined;
  readonly maxAttempts?: number | undefined;
  readonly idempotencyKey?: string | undefined;
}

export interface OperationView {
  readonly operation: Operation;
  readonly resource: OperationResource;
  /** Strong validator of the stored state (changes with every stored change). */
  readonly etag: string;
  /** Seconds a poller should wait, derived from the ETA; null once terminal. */
  readonly retryAfterS: number | null;
}

export interface OperationsServiceOptions {
  readonly store: Store;
  readonly registry: TaskRegistry;
  readonly clock: Clock;
  /** Checks a webhook URL at submit time; returns a reason to refuse it, or null. */
  readonly checkWebhookUrl: (url: string) => string | null;
  readonly deliveryFactory: DeliveryFactory;
  /** Global worker concurrency of one worker process, for the ETA of pending operations. */
  readonly workerConcurrency: number;
  readonly limits: ServiceLimits;
  readonly idempotencyTtlMs?: number | undefined;
  /** How long a status read may be served again (0: never). Default DEFAULT_READ_CACHE_MS. */
  readonly readCacheMs?: number | undefined;
}

/**
 * Long enough that a burst of reads of one operation (pollers, streams and long-polls woken by one change) costs one
 * store read; short enough that its queue position and ETA are never noticeably old. Changes drop a read at once.
 */
export const DEFAULT_READ_CACHE_MS = 250;
const READ_CACHE_ENTRIES = 10_000;

export interface ServiceLimits {
  readonly maxTimeoutS: number;
  readonly maxAttempts: number;
  readonly maxListLimit: number;
}

export const DEFAULT_SERVICE_LIMITS: ServiceLimits = { maxTimeoutS: 24 * 3600, maxAttempts: 25, maxListLimit: 200 };

const DAY_MS = 24 * 3600 * 1000;
/** Duration statistics are re-read at most this often; they move slowly. */
const DURATIONS_REFRESH_MS = 1000;
const RETRY_AFTER_MAX_S = 15;
export const MAX_WEBHOOK_URL_LENGTH = 2048;

export interface OperationPage {
  readonly items: OperationResource[];
  readonly nextCursor: string | null;
}

export class OperationsService {
  readonly #store: Store;
  readonly #registry: TaskRegistry;
  readonly #clock: Clock;
  readonly #options: OperationsServiceOptions;
  /** Per operation: told each stored change's version, or null when changes may have been missed (feed:resumed). */
  readonly #watchers = new Map<string, Set<(version: number | null) => void>>();
  readonly #keysInFlight = new Set<string>();
  #durations = new Map<string, DurationEstimate | null>();
  #durationsReadAt = -Infinity;
  /** Per type: how many of its operations run at once (its limit, within one worker process's): the ETA's slots. */
  readonly #runningLimits: ReadonlyMap<string, number>;
  #unsubscribe: (() => void) | null = null;
  readonly #cache: ReadCache;

  constructor(options: OperationsServiceOptions) {
    this.#options = options;
    this.#store = options.store;
    this.#registry = options.registry;
    this.#clock = options.clock;
    this.#cache = new ReadCache({ ttlMs: options.readCacheMs ?? DEFAULT_READ_CACHE_MS, maxEntries: READ_CACHE_ENTRIES });
    this.#runningLimits = new Map(options.registry.list().map((task) => [task.type, Math.min(task.concurrency, options.workerConcurrency)]));
  }

  /** Start listening to the store's change feed (for long-polls and SSE). */
  start(): void {
    this.#unsubscribe ??= this.#store.subscribe((event) => {
      // The cache first, so what the watchers read is the change, not a cached read from before it.
      if (event.kind === 'operation:changed') {
        this.#cache.changed(event.id);
        const listeners = this.#watchers.get(event.id);
        if (listeners) for (const listener of [...listeners]) listener(event.version);
      } else if (event.kind === 'feed:resumed') {
        this.#cache.changedAll();
        for (const listeners of [...this.#watchers.values()]) for (const listener of [...listeners]) listener(null);
      }
    });
  }

  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
  }

  get registry(): TaskRegistry {
    return this.#registry;
  }

  async submit(request: SubmitRequest): Promise<{ view: OperationView; created: boolean }> {
    const task = this.#registry.get(request.type);
    if (task === undefined) {
      throw new AsyncOpsError('unknown_task_type', `unknown task type "${request.type}"`, {
        errors: [{ path: '/type', message: `must be one of: ${this.#registry.list().map((t) => t.type).join(', ')}` }],
      });
    }
    const fieldErrors = this.#registry.validateInput(task.type, request.input);
    if (fieldErrors.length > 0) throw new AsyncOpsError('validation_failed', `input is not valid for task type "${task.type}"`, { errors: fieldErrors });
    const draftFields = this.#checkSubmitFields(request, task);
    const webhookUrl = request.webhookUrl ?? null;
    // Route schemas say so too, but collection routes validate their body as task input, not this field.
    if (webhookUrl !== null && webhookUrl.length > MAX_WEBHOOK_URL_LENGTH) {
      throw new AsyncOpsError('validation_failed', `webhook_url is longer than ${MAX_WEBHOOK_URL_LENGTH} characters`, {
        errors: [{ path: '/webhook_url', message: `must NOT have more than ${MAX_WEBHOOK_URL_LENGTH} characters` }],
      });
    }
    if (webhookUrl !== null) {
      const refusal = this.#options.checkWebhookUrl(webhookUrl);
      if (refusal !== null) throw new AsyncOpsError('webhook_url_refused', `webhook_url refused: ${refusal}`, { errors: [{ path: '/webhook_url', message: refusal }] });
    }
    const now = this.#clock.now();
    const draft = {
      id: newId(ID_PREFIXES.operation, now),
      tenant: request.tenant,
      type: task.type,
      input: request.input,
      webhookUrl,
      now,
      ...draftFields,
      // A run_at in the past means now: stored as it was sent, it would run ahead of everything pending since then.
      runAt: Math.max(draftFields.runAt ?? now, now),
    };
    if (request.idempotencyKey === undefined) {
      const result = await this.#store.operationInsert(draft, undefined, { standing: { runningLimit: this.#runningLimits.get(task.type) ?? 0 } });
      if (result.kind !== 'created') throw new Error(`store answered ${result.kind} to an insert without a key`);
      // The store read where it stands with the insert; one that could not is asked now.
      if (result.standing !== undefined) return { view: await this.#render(result.operation, result.standing, now, this.#base(result.operation, true)), created: true };
      return { view: await this.#view(result.operation, { fromTail: true }), created: true };
    }
    const inFlight = `${request.tenant}\u0000${request.idempotencyKey}`;
    if (this.#keysInFlight.has(inFlight)) {
      throw new AsyncOpsError('idempotency_key_in_use', 'a request with this Idempotency-Key is still being processed; retry later');
    }
    this.#keysInFlight.add(inFlight);
    try {
      const fingerprint = fingerprintOf({ type: task.type, input: request.input, webhookUrl, ...draftFields });
      const ttl = this.#options.idempotencyTtlMs ?? DAY_MS;
      const result = await this.#store.operationInsert(draft, { key: request.idempotencyKey, fingerprint, expiresAt: now + ttl });
      if (result.kind === 'key_mismatch') {
        throw new AsyncOpsError('idempotency_key_mismatch', 'this Idempotency-Key was used with a different request body', { extra: { operation_id: result.operationId } });
      }
      return { view: await this.#view(result.operation, { fromTail: result.kind === 'created' }), created: result.kind === 'created' };
    } finally {
      this.#keysInFlight.delete(inFlight);
    }
  }

  /** Hold a submit's idempotency key while the caller waits on the new operation (Prefer: wait). */
  async holdKey<T>(tenant: string, key: string | undefined, work: () => Promise<T>): Promise<T> {
    if (key === undefined) return work();
    const inFlight = `${tenant}\u0000${key}`;
    this.#keysInFlight.add(inFlight);
    try {
      return await work();
    } finally {
      this.#keysInFlight.delete(inFlight);
    }
  }

  #checkSubmitFields(request: SubmitRequest, task: RegisteredTask) {
    const { limits } = this.#options;
    const errors: { path: string; message: string }[] = [];
    // A type's default above the configured ceiling is held to it; only a value the client sent is refused.
    const timeoutS = request.timeoutS ?? Math.min(task.timeoutS, limits.maxTimeoutS);
    // Whole seconds, as the route schema says, for callers of the service that bypass it (embedders).
    if (!(Number.isInteger(timeoutS) && timeoutS >= 1 && timeoutS <= limits.maxTimeoutS)) errors.push({ path: '/timeout_s', message: `must be an integer in [1, ${limits.maxTimeoutS}]` });
    const maxAttempts = request.maxAttempts ?? task.maxAttempts;
    if (!(Number.isInteger(maxAttempts) && maxAttempts >= 1 && maxAttempts <= limits.maxAttempts)) errors.push({ path: '/max_attempts', message: `must be an integer in [1, ${limits.maxAttempts}]` });
    const priority = request.priority ?? 0;
    if (!(Number.isInteger(priority) && Math.abs(priority) <= 1000)) errors.push({ path: '/priority', message: 'must be an integer in [-1000, 1000]' });
    let runAt: number | undefined;
    if (request.runAt !== undefined) {
      runAt = parseDateTime(request.runAt) ?? undefined;
      if (runAt === undefined) errors.push({ path: '/run_at', message: 'must be an RFC 3339 date-time that exists (e.g. 2026-03-01T09:00:00Z)' });
    }
    if (errors.length > 0) throw new AsyncOpsError('validation_failed', errors.map((e) => `${e.path} ${e.message}`).join('; '), { errors });
    return { timeoutS, maxAttempts, priority, runAt };
  }

  async get(tenant: string, id: string): Promise<OperationView> {
    const now = this.#clock.now();
    // Only while subscribed to the change feed does a change drop what the cache holds. Only ids read are kept, so a
    // malformed one is never found here and #read refuses it.
    const cached = this.#unsubscribe === null ? undefined : this.#cache.lookup(id, now);
    // Ids are global: another tenant's operation is not found, cached or not.
    if (cached !== undefined && cached.operation.tenant !== tenant) throw notFound(id);
    return cached === undefined ? this.#read(tenant, id, now) : this.#render(cached.operation, cached.standing, now, cached.base);
  }

  /** A read of the store (kept in the cache for the next), rendered. */
  async #read(tenant: string, id: string, now = this.#clock.now()): Promise<OperationView> {
    if (!isId(ID_PREFIXES.operation, id)) throw notFound(id);
    const ticket = this.#cache.ticket();
    const fresh = await this.#store.operationGetWithStanding({ id, tenant, now, runningLimits: this.#runningLimits });
    if (fresh === null) throw notFound(id);
    const read = { ...fresh, base: this.#base(fresh.operation, true) };
    if (this.#unsubscribe !== null) this.#cache.keep(id, read, ticket, now);
    return this.#render(read.operation, read.standing, now, read.base);
  }

  async list(tenant: string, query: { status?: OperationStatus | undefined; type?: string | undefined; limit: number; cursor?: string | undefined }): Promise<OperationPage> {
    const limit = Math.min(query.limit, this.#options.limits.maxListLimit);
    const beforeId = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    const rows = await this.#store.operationList({ tenant, status: query.status, type: query.type, limit: limit + 1, beforeId });
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const nextCursor = rows.length > limit && last !== undefined ? encodeCursor(last.id) : null;
    const items = await Promise.all(page.map(async (op) => (await this.#view(op, { includeInput: false })).resource));
    return { items, nextCursor };
  }

  async cancel(tenant: string, id: string): Promise<OperationView> {
    if (!isId(ID_PREFIXES.operation, id)) throw notFound(id);
    const outcome = await this.#store.operationCancel({ id, tenant, now: this.#clock.now(), delivery: this.#options.deliveryFactory });
    if (outcome.kind === 'not_found') throw notFound(id);
    if (outcome.kind === 'terminal') {
      throw new AsyncOpsError('conflict', `operation ${id} is already ${outcome.operation.status}`, { extra: { operation_status: outcome.operation.status } });
    }
    return this.#view(outcome.operation);
  }

  async delete(tenant: string, id: string): Promise<void> {
    if (!isId(ID_PREFIXES.operation, id)) throw notFound(id);
    const outcome = await this.#store.operationDelete({ id, tenant });
    // A delete is no change event; other nodes' caches let go of it within their time to live.
    this.#cache.changed(id);
    if (outcome === 'not_found') throw notFound(id);
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
  async waitForChange(tenant: string, id: string, version: number, timeoutMs: number, signal?: AbortSignal): Promise<OperationView> {
    let wake: () => void = () => {};
    let woken = new Promise<void>((resolve) => (wake = resolve));
    let over = false;
    const unwatch = this.watch(id, (changed) => {
      // null: changes may have been missed, so look again.
      if (changed === null || changed !== version) wake();
    });
    const end = () => {
      over = true;
      wake();
    };
    const timer = setTimeout(end, timeoutMs);
    signal?.addEventListener('abort', end, { once: true });
    try {
      // From the store, not the cache: a change the cache has not heard of yet must end the wait at once.
      let current = await this.#read(tenant, id);
      while (current.operation.version === version && !over && !signal?.aborted) {
        await woken;
        woken = new Promise<void>((resolve) => (wake = resolve));
        if (!over) current = await this.#read(tenant, id);
      }
      return over ? await this.get(tenant, id) : current;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', end);
      unwatch();
    }
  }

  /**
   * Call `onChange` for every stored change of one operation (with its version; null when changes may have been
   * missed and it is worth reading again) until the returned function is called.
   */
  watch(id: string, listener: (version: number | null) => void): () => void {
    let set = this.#watchers.get(id);
    if (set === undefined) {
      set = new Set();
      this.#watchers.set(id, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#watchers.delete(id);
    };
  }

  async #find(tenant: string, id: string): Promise<Operation> {
    if (!isId(ID_PREFIXES.operation, id)) throw notFound(id);
    const op = await this.#store.operationGet({ id, tenant });
    if (op === null) throw notFound(id);
    return op;
  }

  /** Typical durations per type, from recent history blended with declared priors; refreshed lazily. */
  async durationEstimates(): Promise<Map<string, DurationEstimate | null>> {
    const now = this.#clock.now();
    if (now - this.#durationsReadAt >= DURATIONS_REFRESH_MS) {
      this.#durationsReadAt = now;
      const samples = await this.#store.durationSamples({ limit: DURATION_SAMPLE_LIMIT });
      const next = new Map<string, DurationEstimate | null>();
      for (const task of this.#registry.list()) next.set(task.type, estimateDuration(samples.get(task.type) ?? [], task.estimatedDurationMs));
      this.#durations = next;
    }
    return this.#durations;
  }

  /** `fromTail`: the operation was just inserted, so its queue position is counted from the tail. */
  async #view(op: Operation, { includeInput = true, fromTail = false }: { includeInput?: boolean; fromTail?: boolean } = {}): Promise<OperationView> {
    const now = this.#clock.now();
    const standing = op.status === 'pending'
      ? await this.#store.operationQueueStanding({ operation: op, now, runningLimit: this.#runningLimits.get(op.type) ?? 0, fromTail })
      : null;
    return this.#render(op, standing, now, this.#base(op, includeInput));
  }

  #base(op: Operation, includeInput: boolean): OperationResource {
    return baseResource(op, this.#registry.get(op.type)?.route ?? null, includeInput);
  }

  async #render(op: Operation, standing: QueueStanding | null, now: number, base: OperationResource): Promise<OperationView> {
    // A pending operation read a moment ago may have been claimed since; then it has no standing, and no ETA yet.
    const queuePosition = op.status === 'pending' ? (standing?.position ?? null) : null;
    let eta: number | null = null;
    if (op.status === 'pending' || op.status === 'processing') {
      eta = estimateCompletion({
        now,
        status: op.status,
        runAt: op.runAt,
        startedAt: op.startedAt,
        progress: op.progress,
        // Heartbeats do not touch updated_at, so while processing it is when progress was last stored.
        progressAt: op.updatedAt,
        queuePosition,
        concurrency: this.#runningLimits.get(op.type) ?? 1,
        running: standing?.running,
        estimate: (await this.durationEstimates()).get(op.type) ?? null,
      });
    }
    const resource = withEstimates(base, op, { now, queuePosition, estimatedCompletionAt: eta });
    return { operation: op, resource, etag: `"${op.id}.${op.version}"`, retryAfterS: retryAfter(op, eta, now) };
  }
}

/** Seconds until it is worth asking again: half the remaining time, within [1, 15]; null once terminal. */
function retryAfter(op: Operation, eta: number | null, now: number): number | null {
  if (isTerminal(op.status)) return null;
  if (eta === null) return 1;
  return Math.min(RETRY_AFTER_MAX_S, Math.max(1, Math.ceil((eta - now) / 2000)));
}

function notFound(id: string): AsyncOpsError {
  return new AsyncOpsError('not_found', `no operation ${JSON.stringify(id.slice(0, 64))}`);
}

/** A stable hash of a submit request, for Idempotency-Key reuse checks (key order does not matter). */
export function fingerprintOf(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('base64url');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

export function encodeCursor(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

/** The id a cursor names; a cursor that is not one of ours is a validation error, never a 500. */
export function decodeCursor(cursor: string): string {
  const id = cursor.length <= 64 ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  if (!isId(ID_PREFIXES.operation, id) && !isId(ID_PREFIXES.delivery, id)) {
    throw new AsyncOpsError('validation_failed', 'cursor is not valid; use next_cursor from a previous page', { errors: [{ path: '/query/cursor', message: 'is not a valid cursor' }] });
  }
  return id;
}
