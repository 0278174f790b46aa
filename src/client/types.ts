// Owns: the TypeScript shapes of what the asyncops HTTP API sends and accepts, as the SDK sees them: named aliases of
// the wire types generated from the server's /openapi.json (wire.ts), and the SDK's own option types.
// Not here: the server's own definitions — the SDK must not import server code; wire.ts is generated from its document.
// Invariant: field names are the wire's snake_case; a field the server may add later is tolerated, never required.

import type * as Wire from './wire.ts';

/** The operation resource of `GET /operations/{id}`. */
export type Operation = Wire.Operation;
export type OperationStatus = Operation['status'];
/** Why an operation failed or was cancelled (`error`), or why its previous attempt failed (`last_attempt_error`). */
export type OperationError = NonNullable<Operation['error']>;

export const OPERATION_STATUSES = ['pending', 'processing', 'completed', 'failed', 'cancelled'] as const satisfies readonly OperationStatus[];
export const TERMINAL_STATUSES: readonly OperationStatus[] = ['completed', 'failed', 'cancelled'];
/** A status the server adds and the list above lacks fails to compile here. */
type MissingStatus = Exclude<OperationStatus, (typeof OPERATION_STATUSES)[number]>;
true satisfies [MissingStatus] extends [never] ? true : MissingStatus;

export function isTerminalStatus(status: string): boolean {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}

/** The body POSTed to a webhook_url when an operation ends (verifyWebhook returns it once the signature matches). */
export type WebhookEvent = Wire.WebhookEvent;

/** One page of a cursor-paginated list; `next_cursor` is null on the last page. */
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** A webhook delivery of `GET /webhook-deliveries`. */
export type Delivery = Wire.RetryWebhookDeliveryResponse;
export type DeliveryState = Delivery['state'];
/** A delivery with its attempts, as `GET /operations/{id}/deliveries` lists them. */
export type DeliveryWithAttempts = Wire.ListOperationDeliveriesResponse['items'][number];
/** One HTTP attempt of a delivery. */
export type DeliveryAttempt = DeliveryWithAttempts['attempts'][number];
/** A recurring schedule of `GET /schedules`. */
export type Schedule = Wire.PauseScheduleResponse;
/** A schedule with the ticks it fired most recently, as `GET /schedules/{id}` returns it. */
export type ScheduleDetail = Wire.GetScheduleResponse;
/** One fired tick: the operation it created (null: none could be) and the missed ticks passed over before it. */
export type ScheduleTick = ScheduleDetail['recent_ticks'][number];
/** One event of an operation's history (`GET /operations/{id}/history`): `seq`, `at`, `kind` and the kind's fields. */
export type HistoryEvent = Wire.ListOperationHistoryResponse['items'][number];
/** What an event records: created, claimed, progress, attempt_failed, lease_expired, released, cancel_requested, cancelled, completed, failed, redriven, webhook_attempt. */
export type HistoryKind = HistoryEvent['kind'];
/** A bulk action of `GET /bulk-actions/{id}`: what it does, to what, and how far it got. */
export type BulkAction = Wire.GetBulkActionResponse;
/** What a bulk action does: `retry`, `cancel`, `delete` (operations) or `replay_deliveries` (dead deliveries). */
export type BulkActionKind = BulkAction['action'];
// Every field of every action's filter (the request body's branches each take some: the server names one out of place).
type WireBulkFilter = BulkAction['filter'];
/**
 * What a bulk action selects: every field set must match (docs/http-api.md lists which fields each action takes). A
 * field given as undefined is not set (a consumer may set exactOptionalPropertyTypes).
 */
export type BulkFilter = { [K in keyof WireBulkFilter]?: WireBulkFilter[K] | undefined };
/** A registered task type of `GET /task-types`. */
export type TaskType = Wire.ListTaskTypesResponse['items'][number];
/** How many operations of a type are in a status (`GET /operations/counts`). */
export type OperationCount = Wire.CountOperationsResponse['items'][number];
/** The operator's overview of a window (`GET /stats/overview`): per type, counts, throughput, failures, pickup, ETA error, a series. */
export type Overview = Wire.GetOverviewResponse;
/** The caller as the server sees its key (`GET /whoami`): its tenant, and whether it is an admin key. */
export type Whoami = Wire.WhoamiResponse;

/**
 * RFC 9457 problem details, as every error reply carries them; `detail` and `code` are asyncops's, and may be missing
 * from a problem a proxy in between sent.
 */
/** An RFC 9457 problem: its optional members absent, or present as undefined (a consumer may set exactOptionalPropertyTypes). */
export type ProblemDetails = { [K in keyof Wire.Problem]?: Wire.Problem[K] | undefined } & {
  type: string;
  title: string;
  status: number;
};

export interface SubmitOptions {
  webhookUrl?: string | undefined;
  idempotencyKey?: string | undefined;
  timeoutS?: number | undefined;
  priority?: number | undefined;
  /** When the operation may start: a Date or an RFC 3339 string. */
  runAt?: Date | string | undefined;
  maxAttempts?: number | undefined;
  /**
   * A customer or account id: at most the task type's `keyConcurrency` operations with the same key run at once, across
   * every worker node, and keys take turns. 1..128 letters, digits and `_ . : @ / -`, a letter or digit first.
   */
  concurrencyKey?: string | undefined;
  /** `Prefer: wait=N`: the server holds the reply up to N s and answers 200 if the operation finished by then. */
  waitS?: number | undefined;
  signal?: AbortSignal | undefined;
}

/** What `submitMinimal` answers: where the operation is, without its resource (`Prefer: return=minimal`). */
export interface AcceptedOperation {
  /** The operation's id (op_…), the last segment of its Location. */
  id: string;
  /** Its status resource, as the server's Location says (a path under the server's prefix). */
  location: string;
  /** Its stored version: send it in If-None-Match to long-poll for the first change. */
  etag: string | null;
  /** The Idempotency-Key was seen before: this is the operation it created. */
  replayed: boolean;
}

/** A change made only while the operation is still at the version read (RFC 9110 If-Match; else a 412). */
export interface ConditionalOptions {
  /**
   * An ETag (`submitMinimal`'s `etag`, or one from another client), or an operation this client returned from `get`,
   * `submit`, `wait`, `cancel` or `retry`, whose ETag it sends. An operation from a list came with none: a TypeError.
   */
  ifMatch?: string | Operation | undefined;
}

export interface WaitOptions {
  /**
   * Called with each new snapshot of the operation the client receives, the first one included. A throw, or the
   * rejection of the promise an async one returns (awaited before the wait goes on), ends the wait with that error.
   */
  onProgress?: ((operation: Operation) => unknown) | undefined;
  signal?: AbortSignal | undefined;
  /** Give up (AsyncOpsWaitTimeoutError) when the operation is not terminal after this long. */
  timeoutMs?: number | undefined;
}

export interface EventsOptions {
  /** Ends the iteration: the pending `next()` rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  /** Resume after this version (an event's `version` received before, or an EventSource's `lastEventId`, its digits). */
  lastEventId?: number | string | undefined;
  /**
   * Reconnect when nothing, not even a keepalive, arrives for this long (default 60 s; the server's keepalive comes
   * every 15 s unless its `--sse-keepalive` says otherwise).
   */
  idleTimeoutMs?: number | undefined;
}

/** One event of `events()`: the operation as of `version`, after a `status` change (or a new run) or a `progress` one. */
export interface OperationEvent {
  type: 'status' | 'progress';
  version: number;
  operation: Operation;
}

/** `POST /operations/{id}/stream-token`: opens that operation's event stream as `?token=`, for an `EventSource`. */
export type StreamToken = Wire.CreateStreamTokenResponse;

export interface ListOptions {
  status?: OperationStatus | undefined;
  type?: string | undefined;
  /** The code of its error (or of its last attempt's, while a retry waits). */
  errorCode?: string | undefined;
  /** Created by this schedule's ticks. */
  scheduleId?: string | undefined;
  /** Created at or after this (a Date, or an RFC 3339 string). */
  createdAfter?: Date | string | undefined;
  /** Created before this. */
  createdBefore?: Date | string | undefined;
  /** An operation id or an Idempotency-Key: the one operation it names. */
  q?: string | undefined;
  /** An admin key: only this tenant's (a tenant key may name only its own). */
  tenant?: string | undefined;
  limit?: number | undefined;
  cursor?: string | undefined;
}

export interface CreateScheduleOptions {
  /** IANA time zone the expression is read in (default UTC). */
  timezone?: string | undefined;
  /** Called when each operation the schedule creates ends. */
  webhookUrl?: string | undefined;
  /** Of every operation it creates (higher runs first; default 0), within the tenant's ceiling. */
  priority?: number | undefined;
  /**
   * The same key with the same schedule returns the one it created (while it exists), so a create whose reply was
   * lost is sent again; without one, a create is not retried (it could make a second schedule).
   */
  idempotencyKey?: string | undefined;
}

export interface ScheduleListOptions {
  limit?: number | undefined;
  cursor?: string | undefined;
  /** An admin key's list: only this tenant's (without it, every tenant's). */
  tenant?: string | undefined;
}

export interface HistoryOptions {
  limit?: number | undefined;
  cursor?: string | undefined;
}

export interface DeliveryListOptions {
  state?: DeliveryState | undefined;
  limit?: number | undefined;
  cursor?: string | undefined;
}

/** A fetched result: its bytes and content type; `text()` decodes them as UTF-8, `json()` parses them. */
export interface OperationResult {
  contentType: string;
  body: Uint8Array<ArrayBuffer>;
  text(): string;
  json<T = unknown>(): T;
}
