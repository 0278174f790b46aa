// Owns: the Store interface, the one seam for all persistence (operations, results, idempotency keys,
// webhook deliveries and their attempts, operation history, duration samples, worker nodes, schedules (their methods: schedule-store.ts),
// redrives and bulk actions (bulk-action-store.ts), settings) and the change feed.
// Not here: any SQL (store/sqlite/, store/postgres/), any business rule (domain/, runtime/).
// Invariant: every method is one atomic transaction; every transition checks its precondition in the
// query (status, lease token) and a lost race returns null/false instead of throwing.

import type { Operation, OperationError, OperationResult, DeliveryState } from '../domain/operation.ts';
import type { OperationStatus } from '../domain/status.ts';
import type { WorkerNode } from '../domain/capacity.ts';
import type { DurationSample, RunningAttempt } from '../domain/eta.ts';
import type { Delivery, DeliveryAttempt } from '../domain/delivery.ts';
import type { TraceCarrier } from '../domain/trace-context.ts';
import type { Bucket, RateLimit } from '../domain/rate-limit.ts';
import type { Schedule, ScheduleTick } from '../domain/schedule.ts';
import type { ScheduleStore } from './schedule-store.ts';
import type { HistoryEvent } from '../domain/history.ts';
import type { BulkActionStore } from './bulk-action-store.ts';

// Decided in the domain; named here too because the runtime ends a cancelled attempt with it.
export { CANCELLED_BY_REQUEST } from '../domain/status.ts';
// Defined in the domain (the edges render them); named here too, beside the Store methods that take and give them.
export type { Delivery, DeliveryAttempt, DurationSample, HistoryEvent, Schedule, ScheduleTick, WorkerNode };
export type {
  DeclaredScheduleDraft,
  ScheduleCreateDraft,
  ScheduleCreateResult,
  ScheduleDeleteOutcome,
  ScheduleDraft,
  ScheduleFireParams,
  ScheduleListQuery,
} from './schedule-store.ts';

// ---------------------------------------------------------------- operations

export interface OperationDraft {
  readonly id: string;
  readonly tenant: string;
  readonly type: string;
  readonly input: unknown;
  readonly maxAttempts: number;
  readonly priority: number;
  readonly timeoutS: number;
  readonly runAt: number;
  readonly webhookUrl: string | null;
  /** The size of its work, as its task's cost(input) declared it (null: none); its duration sample keeps it. */
  readonly cost?: number | null | undefined;
  /** The trace context it is created in, kept for its attempts (null or absent: none). */
  readonly trace?: TraceCarrier | null | undefined;
  /** Its concurrency key (null or absent: none): its type's per-key limit counts it under this key. */
  readonly concurrencyKey?: string | null | undefined;
  /** The schedule whose tick creates it (null or absent: a submit). */
  readonly scheduleId?: string | null | undefined;
  /** When the operation is created (created_at, updated_at); idempotency keys expired before this are free. */
  readonly now: number;
}

/** The event every stored change of an operation announces (both adapters send this one shape). */
export function changed(op: Pick<Operation, 'id' | 'version' | 'status'>): StoreEvent {
  return { kind: 'operation:changed', id: op.id, version: op.version, status: op.status };
}

/** The event a pending operation announces with its run_at (workers of its type wake then). */
export function due(op: Pick<Operation, 'type' | 'runAt'>): StoreEvent {
  return { kind: 'operation:due', type: op.type, runAt: op.runAt };
}

/**
 * Fairness: the events an attempt with a concurrency key announces when it ends (any end: finish, retry, release,
 * recovery): its key has room again, so workers of its type on every node look for that key's waiting operations now.
 */
export function keyFreed(op: Pick<Operation, 'type' | 'concurrencyKey'>, now: number): StoreEvent[] {
  return op.concurrencyKey === null || op.concurrencyKey === undefined ? [] : [due({ type: op.type, runAt: now })];
}

/** The operation an insert of `draft` stores (its input is JSON already, as parsed from a request, so it is kept as is). */
export function operationFromDraft(draft: OperationDraft): Operation {
  return {
    id: draft.id,
    tenant: draft.tenant,
    type: draft.type,
    status: 'pending',
    input: draft.input ?? null,
    progress: null,
    progressMessage: null,
    attempt: 1,
    maxAttempts: draft.maxAttempts,
    priority: draft.priority,
    timeoutS: draft.timeoutS,
    runAt: draft.runAt,
    createdAt: draft.now,
    startedAt: null,
    finishedAt: null,
    updatedAt: draft.now,
    error: null,
    webhookUrl: draft.webhookUrl,
    webhookState: null,
    cost: draft.cost ?? null,
    progressAnchor: null,
    trace: draft.trace ?? null,
    concurrencyKey: draft.concurrencyKey ?? null,
    scheduleId: draft.scheduleId ?? null,
    cancelRequested: false,
    leaseToken: null,
    leaseExpiresAt: null,
    workerId: null,
    resultExpired: false,
    version: 1,
    finishedVersion: null,
    redrivenAt: null,
  };
}

export interface InsertOptions {
  /** Read where a created operation stands in the same round trip (it is new, so counted from the tail). */
  readonly standing?: { readonly scope: StandingScope } | undefined;
}

export interface IdempotencyClaim {
  readonly key: string;
  /** A hash of the request that used the key; the same key with another fingerprint is refused. */
  readonly fingerprint: string;
  /**
   * What earlier versions of asyncops stored as the same request's fingerprint: a key stored by one of them, before an
   * upgrade, still replays (keys live a day).
   */
  readonly earlierFingerprints?: readonly string[] | undefined;
  readonly expiresAt: number;
}

/** Whether a key stored with `stored` was used by the request `claim` is: replayed, not refused as another body. */
export function sameRequest(stored: string, claim: IdempotencyClaim): boolean {
  return stored === claim.fingerprint || (claim.earlierFingerprints?.includes(stored) ?? false);
}

export type OperationInsertResult =
  /** `standing`: where it stands right after the insert, when the insert was asked for it. */
  | { readonly kind: 'created'; readonly operation: Operation; readonly standing?: QueueStanding | null }
  /** The key was used before with the same fingerprint: the earlier operation. */
  | { readonly kind: 'replayed'; readonly operation: Operation }
  /** The key was used before with another fingerprint. */
  | { readonly kind: 'key_mismatch'; readonly operationId: string };

export interface OperationListQuery {
  /** Null: every tenant's (an admin's read). */
  readonly tenant: string | null;
  readonly status?: OperationStatus | undefined;
  readonly type?: string | undefined;
  /** The code of its error (or of its last attempt's, while a retry waits). */
  readonly errorCode?: string | undefined;
  /** The schedule whose ticks created it. */
  readonly scheduleId?: string | undefined;
  /** Created at or after this (ms); with createdBefore, bounds the ids walked too (ids begin with their creation time). */
  readonly createdAfter?: number | undefined;
  /** Created strictly before this (ms). */
  readonly createdBefore?: number | undefined;
  /** Only the operation with this id, or the one this idempotency key (of its tenant) created: at most one. */
  readonly q?: string | undefined;
  readonly limit: number;
  /** Return operations with an id strictly below this one (the list is newest first, by id). */
  readonly beforeId?: string | undefined;
}

/** How many operations of a type are in a status (of one tenant, or of all). */
export interface OperationCount {
  readonly type: string;
  readonly status: OperationStatus;
  readonly count: number;
}

export interface OperationStatsQuery {
  /** Null: every tenant's. */
  readonly tenant: string | null;
  /** The window: operations finished (or started) at or after this, ms. */
  readonly since: number;
  /** Width of a series bucket, ms. */
  readonly bucketMs: number;
  /** At most this many of the latest starts, and of the latest completions, are read for the percentiles (a bound on the read). */
  readonly samples: number;
}

/** What the overview is computed from (runtime/overview.ts); every read walks an index over the window only. */
export interface OperationStats {
  /** Operations finished in the window, per type, status (completed or failed) and bucket (floor((finished_at - since) / bucketMs)). */
  readonly finished: ReadonlyArray<{ readonly type: string; readonly status: 'completed' | 'failed'; readonly bucket: number; readonly count: number }>;
  /** Of the latest operations whose first attempt started in the window: the wait from run_at (its creation, unless scheduled) to its start, ms. */
  readonly pickups: ReadonlyArray<{ readonly type: string; readonly waitMs: number }>;
  /**
   * The latest operations completed in the window whose history recorded the ETA their create's reply gave (not those
   * redriven since: that ETA was for another run), with it (ms).
   */
  readonly etas: ReadonlyArray<{ readonly type: string; readonly createdAt: number; readonly finishedAt: number; readonly estimatedAt: number }>;
}

/** Where a pending operation stands: what its ETA is computed from. */
export interface QueueStanding {
  /**
   * Runnable pending operations of its type that run before it: 0 is next. Alone in its type's queue (or the only tenant
   * with operations due), exact in claim order (priority desc, run_at, id); with other tenants due, its own tenant's ahead
   * of it plus the turns the others take before it (domain/fairness.ts: fairPosition).
   */
  readonly position: number;
  /**
   * Attempts running now, earliest started first, with their type, cost, progress and when it was stored (updated_at):
   * those of its type, and with a shared scope those of every type in it.
   */
  readonly running: readonly RunningAttempt[];
  /** Costs of the operations of its type ahead of it, nearest first: as many as the scope asks for its type, at most position. */
  readonly aheadCosts?: readonly (number | null)[] | undefined;
  /** With a shared scope: per other type of the scope, its runnable pending operations that run before this one. */
  readonly aheadOfOtherTypes?: Readonly<Record<string, number>> | undefined;
  /** Its concurrency key's own queue (same tenant, type and key), when it has a key and the scope a key limit for its type. */
  readonly key?: KeyStanding | undefined;
}

/**
 * The most operations of a key ahead of one that a standing counts: counting walks the key's rows, at every status read
 * of each of them, so a key with a deep backlog would make its reads cost its depth. Past this the ETA waits as if this
 * many were ahead (an estimate that errs early).
 */
export const KEY_AHEAD_COUNTED = 10_000;

/** Where a pending operation stands among the operations of its concurrency key (same tenant, type and key). */
export interface KeyStanding {
  /** Runnable pending operations of the key ahead of it in claim order (priority desc, run_at, id): 0 is next; at most KEY_AHEAD_COUNTED. */
  readonly ahead: number;
  /** The key's running attempts, earliest started first, at most the scope's key limit of them. */
  readonly running: readonly RunningAttempt[];
}

/** What a standing reads besides the position: the same for every read until the worker nodes' limits change. */
export interface StandingScope {
  /** Per type: how many of its running attempts to read (its slots); a type not here gets none. */
  readonly runningLimits: ReadonlyMap<string, number>;
  /** The types share a global limit: read the running attempts of every type here, and the others' counts ahead. */
  readonly shared: boolean;
  /** Per type that declares a cost: how many costs of the operations of its type ahead of it to read. */
  readonly costsAhead: ReadonlyMap<string, number>;
  /** Fairness: each tenant's share of turns (absent: 1), as claims take them; the position counts the turns between tenants. */
  readonly tenantWeights?: ReadonlyMap<string, number> | undefined;
  /**
   * Per type: its limit per concurrency key (keyConcurrency), how many running attempts of an operation's key to read. An
   * operation with a key of a type here also gets its key's standing; one without a key, or of a type not here, reads nothing more.
   */
  readonly keyLimits?: ReadonlyMap<string, number> | undefined;
}

/** A scope reading only the running attempts of the operation's own type, up to these limits. */
export function ownTypeScope(runningLimits: Readonly<Record<string, number>> = {}): StandingScope {
  return { runningLimits: new Map(Object.entries(runningLimits)), shared: false, costsAhead: new Map() };
}

export interface QueueStandingParams {
  /** The operation as just read or written: its place in the claim order is taken from these fields. */
  readonly operation: Pick<Operation, 'id' | 'type' | 'status' | 'priority' | 'runAt'> & {
    readonly tenant?: string | undefined;
    /** Its concurrency key (null or absent: none; with no tenant known, not read). */
    readonly concurrencyKey?: string | null | undefined;
  };
  readonly now: number;
  readonly scope: StandingScope;
  /** Count from the tail of the queue first, where a just inserted operation is; only the cost differs. */
  readonly fromTail?: boolean | undefined;
}

export interface StandingReadParams {
  readonly id: string;
  /** null: whichever tenant's it is (an admin's read). */
  readonly tenant: string | null;
  readonly now: number;
  readonly scope: StandingScope;
}

export interface TypeLimit {
  readonly type: string;
  /** How many more operations of this type this worker may take now. */
  readonly limit: number;
  /**
   * Fairness: how many operations of this type with one concurrency key may run at once, across every node and slot
   * (absent: no limit). Operations without a key are not held to it.
   */
  readonly keyLimit?: number | undefined;
  /** Rate limits: its execution rate limit as this node declares it (null or absent: none); the claim takes a token per start. */
  readonly rateLimit?: RateLimit | null | undefined;
}

/**
 * Rate limits: what a claim took. `rateLimitedUntil`: a type's bucket (or a hold) let fewer start than were asked for,
 * and its next token comes (or its hold ends) then; the claim loop comes back at that time.
 */
export type ClaimedOperations = Operation[] & { readonly rateLimitedUntil?: number | undefined };

/** What a claim took, with `rateLimitedUntil` only when a bucket held some back (so a plain claim is a plain array). */
export function claimedOperations(operations: Operation[], rateLimitedUntil: number | undefined): ClaimedOperations {
  return rateLimitedUntil === undefined ? operations : Object.assign(operations, { rateLimitedUntil });
}

/** Rate limits: a hold on a type (a handler threw RateLimitedError): nothing of it starts on any node before `until`. */
export interface RateLimitHoldParams {
  readonly type: string;
  readonly until: number;
  readonly now: number;
}

export interface ClaimParams {
  readonly now: number;
  /**
   * The claimer's clock, read again where the store waits between `now` and taking rate-limit tokens (a PostgreSQL claim
   * waiting for a connection): the buckets' time is its reading then. Without it, `now`: claims late by waits that vary
   * would over-fill a bucket (docs/tasks.md, Rate limits).
   */
  readonly clock?: (() => number) | undefined;
  readonly workerId: string;
  readonly leaseMs: number;
  /** Per-type free slots; only these types are claimed. */
  readonly types: readonly TypeLimit[];
  /** Upper bound across all types. */
  readonly limit: number;
  /** Fairness: each tenant's share of turns (absent from the map: 1); within a type, tenants take turns in proportion. */
  readonly tenantWeights?: ReadonlyMap<string, number> | undefined;
}

export interface LeaseRef {
  readonly id: string;
  readonly leaseToken: string;
}

export interface ProgressParams extends LeaseRef {
  readonly now: number;
  readonly progress: number | null;
  readonly message: string | null;
  /** History: record this report as a `progress` event (the attempt decided it is a milestone: domain/history.ts). */
  readonly milestone?: boolean | undefined;
}

export interface HistoryListQuery {
  readonly operationId: string;
  /** Null: any tenant's (an admin's read). */
  readonly tenant: string | null;
  /** Only events with a larger seq (the page after one that ended there). */
  readonly afterSeq?: number | undefined;
  readonly limit: number;
}

/**
 * Builds the webhook delivery an operation's terminal transition writes in the same transaction
 * (the outbox). Called inside the transaction with the operation as it is after the transition;
 * returns null when no delivery is due (no webhook_url).
 */
export type DeliveryFactory = (operation: Operation) => DeliveryDraft | null;

export interface FinishParams extends LeaseRef {
  readonly now: number;
  readonly status: 'completed' | 'failed' | 'cancelled';
  readonly result?: OperationResult | undefined;
  readonly error?: OperationError | undefined;
  readonly delivery: DeliveryFactory;
  /** The handler's last progress report, stored with the end (coalesced writes may not have stored it yet). */
  readonly progress?: { readonly fraction: number; readonly message: string | null } | undefined;
}

export interface RetryParams extends LeaseRef {
  readonly now: number;
  readonly runAt: number;
  readonly error: OperationError;
  /** For the delivery written when a cancel was requested meanwhile, and the operation ends cancelled instead. */
  readonly delivery: DeliveryFactory;
}

export interface ReleaseParams extends LeaseRef {
  readonly now: number;
  /** Rate limits: a rate-limited release runs again at this time (absent: run_at stays) ... */
  readonly runAt?: number | undefined;
  /** ... with this as its last attempt's error (absent: the error stays). */
  readonly error?: OperationError | undefined;
  /** For the delivery written when a cancel was requested meanwhile, and the operation ends cancelled instead. */
  readonly delivery: DeliveryFactory;
}

export type CancelOutcome =
  | { readonly kind: 'cancelled'; readonly operation: Operation }
  /**
   * Processing: the cancel is recorded; the lease holder aborts the handler and ends the operation. `already`: it had
   * been requested before, and nothing was written (a bulk cancel counts it as skipped, not as changed).
   */
  | { readonly kind: 'requested'; readonly operation: Operation; readonly already?: boolean }
  | { readonly kind: 'terminal'; readonly operation: Operation }
  /** Not at `ifVersion`: unchanged. */
  | { readonly kind: 'changed'; readonly operation: Operation }
  | { readonly kind: 'not_found' };

/**
 * `delivery_pending`: terminal, but its webhook is still being delivered (pending or retrying), so it stays. `changed`:
 * not at `ifVersion`, unchanged.
 */
export type DeleteOutcome = 'deleted' | 'not_terminal' | 'delivery_pending' | 'changed' | 'not_found';

/**
 * A change made only if the operation is still at `ifVersion` (a request's If-Match, checked against the version read
 * before it): checked in the change's own transaction with the row held, so a change that landed in between is an
 * outcome `changed` and nothing is done, not a second change on a version the client never saw.
 */
export interface IfVersion {
  readonly ifVersion?: number | undefined;
}

export interface RecoverParams {
  readonly now: number;
  /**
   * The lease tokens of the attempts the recovering node still runs: their leases are left alone, though expired (a
   * handler held its event loop past them, so no heartbeat could renew them); its next heartbeat renews them. Without
   * this the node requeued its own attempt under way, and the handler ran twice.
   */
  readonly held?: readonly string[] | undefined;
  /** Builds the delivery for operations that end (attempts spent, or a cancel was requested). */
  readonly delivery: DeliveryFactory;
  /** Error recorded on operations failed because their last attempt's lease expired. */
  readonly error: OperationError;
}

export interface RecoverResult {
  /** Returned to the queue (attempt + 1). */
  readonly requeued: readonly Operation[];
  /** Ended: failed (attempts spent) or cancelled (cancel requested). */
  readonly ended: readonly Operation[];
}

/**
 * How many results, operations or expired keys one batch of pruning removes at most, each batch a transaction of its
 * own on either store: one transaction over a large backlog held a node up (docs/reliability.md, "What is kept").
 */
export const PRUNE_BATCH = 500;

export interface PruneParams {
  /** Delete result bodies of operations finished before this; their result answers 410 afterwards. */
  readonly resultsFinishedBefore: number;
  /** Delete terminal operations (and their deliveries) finished before this. */
  readonly operationsFinishedBefore: number;
  /** Delete idempotency keys that expired before this. */
  readonly now: number;
  /** Once aborted (the node stops), pruning ends between two of its batches: what is left goes at the next pruning. */
  readonly signal?: AbortSignal | undefined;
}

// ---------------------------------------------------------------- webhook deliveries

export interface DeliveryDraft {
  readonly id: string;
  /** The Standard Webhooks `webhook-id`: fixed for the life of the delivery, across retries and replays. */
  readonly messageId: string;
  readonly url: string;
  readonly eventType: string;
  /** The exact body to send (and sign). */
  readonly payload: string;
  readonly nextAttemptAt: number;
  /** The trace its attempts' spans join (null or absent: none). */
  readonly trace?: TraceCarrier | null | undefined;
}

export interface DeliveryClaimParams {
  readonly now: number;
  readonly workerId: string;
  readonly leaseMs: number;
  readonly limit: number;
  /** Destinations to pass over (the dispatcher has them at their cap): their deliveries stay due, in their turn. */
  readonly exceptDestinations?: readonly string[] | undefined;
}

export interface DeliveryAttemptParams extends LeaseRef {
  readonly attempt: Omit<DeliveryAttempt, 'deliveryId' | 'attempt'>;
  /** What the dispatcher decided: delivered, retry at nextAttemptAt, or dead. */
  readonly outcome: 'delivered' | 'retrying' | 'dead';
  readonly nextAttemptAt: number | null;
  readonly now: number;
}

export interface DeliveryListQuery {
  /** Null: every tenant's (an admin's read). */
  readonly tenant: string | null;
  readonly state?: DeliveryState | undefined;
  readonly limit: number;
  /** Deliveries with an id strictly below this one (newest first). */
  readonly beforeId?: string | undefined;
}

export type DeliveryRetryOutcome =
  | { readonly kind: 'scheduled'; readonly delivery: Delivery }
  | { readonly kind: 'not_dead'; readonly delivery: Delivery }
  /** Dead, but of an end its operation was retried past since: sent now, it would reach the receiver after the rerun's. */
  | { readonly kind: 'superseded'; readonly delivery: Delivery }
  | { readonly kind: 'not_found' };

// ---------------------------------------------------------------- change feed

/**
 * What other parts of the system (in this process or, on PostgreSQL, any node) need to hear about.
 * - `operation:changed`: any stored change to an operation (long-poll, SSE).
 * - `operation:due`: a pending operation became runnable (workers wake up).
 * - `operation:cancel_requested`: a processing operation should be aborted by its lease holder.
 * - `delivery:due`: a delivery became due (the dispatcher wakes up).
 * - `schedule:changed`: a schedule was created, changed or fired (schedulers look again; nextRunAt: its next tick).
 * - `rate_limit:held`: a type is held back until `until` (a RateLimitedError): claimers on every node skip it.
 * - `feed:resumed`: the feed may have missed events (a lost PostgreSQL LISTEN connection came back): whoever waits
 *   on one should look again. Emitted locally, never sent to other nodes.
 */
export type StoreEvent =
  | { readonly kind: 'operation:changed'; readonly id: string; readonly version: number; readonly status: OperationStatus }
  | { readonly kind: 'operation:due'; readonly type: string; readonly runAt: number }
  | { readonly kind: 'operation:cancel_requested'; readonly id: string }
  /** A finished operation was deleted: caches let go of it, and its long-polls and event streams look again (404). */
  | { readonly kind: 'operation:deleted'; readonly id: string }
  | { readonly kind: 'delivery:due'; readonly nextAttemptAt: number }
  | { readonly kind: 'schedule:changed'; readonly nextRunAt: number | null }
  | { readonly kind: 'rate_limit:held'; readonly type: string; readonly until: number }
  | { readonly kind: 'feed:resumed' };

export type StoreListener = (event: StoreEvent) => void;

// ---------------------------------------------------------------- the interface

export interface Store extends ScheduleStore, BulkActionStore {
  /** Which adapter this is, for logs and metrics. */
  readonly kind: 'sqlite' | 'postgres';

  /** Apply pending migrations and start the change feed. Idempotent; safe when several nodes start at once. */
  open(): Promise<void>;
  /** Stop the change feed and release connections. */
  close(): Promise<void>;
  /** Cheap round trip for readiness checks; throws when the database is unreachable. */
  /** Answers once the store can read its own tables: a database that answers without them (a schema dropped) is not ready. */
  ping(): Promise<void>;
  /**
   * A number that moves when another process may have written something subscribe() did not announce: SQLite's feed
   * carries only this process's writes (its mark is `PRAGMA data_version`); PostgreSQL's carries every node's (always
   * 0). A worker pool reads it before leaving out a type its last claim found empty. Synchronous and cheap.
   */
  unannouncedWrites(): number;

  /** Insert an operation, or, with an idempotency claim, return the operation the key already names. */
  operationInsert(draft: OperationDraft, idempotency?: IdempotencyClaim, options?: InsertOptions): Promise<OperationInsertResult>;
  operationGet(params: { readonly id: string; readonly tenant: string }): Promise<Operation | null>;
  /** By id alone, for the runtime (which works across tenants). */
  operationGetById(id: string): Promise<Operation | null>;
  /** Newest first. The input is not read (a list never shows it, and it may be large): it is null in what this returns. */
  operationList(query: OperationListQuery): Promise<Operation[]>;
  /** Where a pending operation stands in its type's queue; null when it is not pending. */
  operationQueueStanding(params: QueueStandingParams): Promise<QueueStanding | null>;
  /** operationGet and, for a pending operation, its standing, read together (one snapshot, one round trip). */
  operationGetWithStanding(params: StandingReadParams): Promise<{ readonly operation: Operation; readonly standing: QueueStanding | null } | null>;
  /**
   * Count of operations by type and status (for metrics, the ETA and GET /operations/counts), of one tenant or (null or
   * absent) of all; read from counters kept in the writing transactions, never by counting the operations.
   */
  operationCounts(params?: { readonly tenant?: string | null | undefined }): Promise<OperationCount[]>;
  /** What the overview of the operations finished and started since a time is computed from. */
  operationStats(query: OperationStatsQuery): Promise<OperationStats>;

  /** Claim due pending operations: status → processing, fresh lease token, started_at = now. */
  operationClaimDue(params: ClaimParams): Promise<ClaimedOperations>;
  /**
   * Extend a lease. Returns null when the lease is gone; otherwise whether a cancel was requested.
   * Not a change of the operation: version stays, no event (a poller must not wake for a heartbeat).
   */
  operationHeartbeat(params: LeaseRef & { readonly now: number; readonly leaseMs: number }): Promise<{ readonly cancelRequested: boolean } | null>;
  /**
   * Record handler progress (0..1) under the lease; false when the lease is gone. `now` is when the handler reported it
   * (updated_at), which a coalesced write may send a little later: the ETA reads a rate from it.
   */
  operationProgress(params: ProgressParams): Promise<boolean>;
  /** End the attempt and the operation; writes the result and the outbox delivery. Null when the lease is gone. */
  operationFinish(params: FinishParams): Promise<Operation | null>;
  /**
   * processing → pending with attempt + 1 and run_at later; but cancelled (with its outbox row) when a cancel was
   * requested while the attempt ran (decideGiveBack). Null when the lease is gone.
   */
  operationRetry(params: RetryParams): Promise<Operation | null>;
  /** Give back a lease without counting the attempt (graceful shutdown): processing → pending, same attempt; cancelled as retry is. */
  operationRelease(params: ReleaseParams): Promise<Operation | null>;
  operationCancel(
    params: { readonly id: string; readonly tenant: string; readonly now: number; readonly delivery: DeliveryFactory } & IfVersion,
  ): Promise<CancelOutcome>;
  operationDelete(params: { readonly id: string; readonly tenant: string } & IfVersion): Promise<DeleteOutcome>;
  /**
   * Expired leases: each is listed, its outcome decided by the domain (decideExpiredLease: requeue, fail or cancel) and
   * applied under its lease, all in one transaction.
   */
  operationRecoverExpired(params: RecoverParams): Promise<RecoverResult>;
  /** Rate limits: hold a type back (no claim starts it before `until`; a later hold already set stays). */
  rateLimitHold(params: RateLimitHoldParams): Promise<void>;
  /** Rate limits: the stored buckets (with holds), by type: for the ETA and metrics. */
  rateLimitBuckets(): Promise<Map<string, Bucket>>;
  /** The earliest run_at among pending operations of these types, so workers can sleep until then. */
  operationNextRunAt(params: { readonly types: readonly string[] }): Promise<number | null>;

  resultGet(params: { readonly id: string; readonly tenant: string }): Promise<OperationResult | null>;

  /** Recent successful-attempt durations per type, with the cost their operation declared, newest first, at most `limit` each. */
  durationSamples(params: { readonly limit: number }): Promise<Map<string, DurationSample[]>>;

  /** Record that a worker node is alive, with its limits; forget nodes not heard from since `forgetBefore`. */
  workerNodeBeat(params: { readonly node: WorkerNode; readonly forgetBefore: number }): Promise<void>;
  /** A worker node stops: its slots count no more. */
  workerNodeLeave(params: { readonly id: string }): Promise<void>;
  /** The worker nodes heard from at or after `since`. */
  workerNodes(params: { readonly since: number }): Promise<WorkerNode[]>;

  prune(params: PruneParams): Promise<{ readonly results: number; readonly operations: number; readonly idempotencyKeys: number }>;

  /**
   * History: a page of an operation's events, oldest first (domain/history.ts); null when the operation does not exist
   * for the tenant (an operation with no events after the cursor gives an empty page). The transitions append them.
   */
  historyList(query: HistoryListQuery): Promise<HistoryEvent[] | null>;
  /**
   * History: notes the ETA a create's reply gave on its `created` event (where ETA error is read from). Not waited for:
   * written with later writes, off the create's path; a failure goes to the store's onError.
   */
  historyNoteEstimate(params: { readonly operationId: string; readonly estimatedCompletionAt: number }): void;

  deliveryClaimDue(params: DeliveryClaimParams): Promise<Delivery[]>;
  deliveryRecordAttempt(params: DeliveryAttemptParams): Promise<Delivery | null>;
  /** `tenant` null: whichever tenant's it is (an admin's read). */
  deliveryGet(params: { readonly id: string; readonly tenant: string | null }): Promise<Delivery | null>;
  deliveryList(query: DeliveryListQuery): Promise<Delivery[]>;
  deliveryListForOperation(params: {
    readonly operationId: string;
    readonly tenant: string;
  }): Promise<Array<{ readonly delivery: Delivery; readonly attempts: DeliveryAttempt[] }>>;
  deliveryAttempts(params: { readonly deliveryId: string }): Promise<DeliveryAttempt[]>;
  /** Replay a dead delivery: state → pending, due now, schedule restarts, same message id. */
  deliveryRetry(params: { readonly id: string; readonly tenant: string; readonly now: number }): Promise<DeliveryRetryOutcome>;
  /** Expired delivery leases (a crashed dispatcher) go back to due. Returns how many. */
  deliveryRecoverExpired(params: { readonly now: number }): Promise<number>;
  /**
   * The earliest next attempt later than `after` of a delivery not in flight (unleased), or null. Later than: one due by
   * then and not claimed waits on its destination's cap, whose attempts' ends wake the dispatcher; a min over all would
   * name that one and hide every later time (a hanging receiver's backlog hid the other receivers' retries).
   */
  deliveryNextAttemptAt(params: { readonly after: number }): Promise<number | null>;
  /** Deliveries not yet delivered, by state (pending, retrying, dead: the dead-letter depth), for metrics; each read from an index. */
  deliveryCounts(): Promise<Array<{ readonly state: 'pending' | 'retrying' | 'dead'; readonly count: number }>>;

  /** Read a setting; set it only if absent (so concurrent first starts agree on one value) and return what is stored. */
  settingGetOrInit(key: string, initial: string): Promise<string>;

  /** Subscribe to the change feed; returns the unsubscribe function. */
  subscribe(listener: StoreListener): () => void;
}
