// Owns: the PostgreSQL rows of operations, deliveries and delivery attempts, the columns an Operation is read from, and
// turning rows into domain records. Not here: which rows are read (operations.ts, transitions.ts, deliveries.ts, ...).
// Invariant: int8 columns arrive as numbers (database.ts), so a row maps field by field, with no conversion beyond names.

import { webhookDestination } from '../../domain/delivery.ts';
import type { DeliveryState, Operation, OperationError, ProgressPoint } from '../../domain/operation.ts';
import type { OperationStatus } from '../../domain/status.ts';
import type { TraceCarrier } from '../../domain/trace-context.ts';
import type { Delivery, DeliveryAttempt } from '../store.ts';

export interface OperationRow {
  id: string;
  tenant: string;
  type: string;
  status: OperationStatus;
  input: string;
  progress: number | null;
  progress_message: string | null;
  attempt: number;
  max_attempts: number;
  priority: number;
  timeout_s: number;
  run_at: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  updated_at: number;
  error_code: string | null;
  error_message: string | null;
  webhook_url: string | null;
  webhook_state: DeliveryState | null;
  cancel_requested: boolean;
  lease_token: string | null;
  lease_expires_at: number | null;
  worker_id: string | null;
  result_expired: boolean;
  version: number;
  finished_version: number | null;
  redriven_at: number | null;
  cost: number | null;
  progress_anchor: number | null;
  progress_anchor_at: number | null;
  /** Absent from a read that does not select them (a list). */
  traceparent?: string | null;
  tracestate?: string | null;
  /** '' for none. */
  concurrency_key?: string;
  schedule_id: string | null;
}

/**
 * The state of an operation's latest delivery, of its latest end (written with it, at its finished_at), so a redriven
 * operation has none until it ends again. A column of `operations o`.
 */
export const WEBHOOK_STATE_COLUMN = `(
  SELECT d.state FROM deliveries d WHERE d.operation_id = o.id AND d.created_at >= o.finished_at ORDER BY d.created_at DESC, d.id DESC LIMIT 1
) AS webhook_state`;

/** The columns of an Operation from `operations o`: the row plus WEBHOOK_STATE_COLUMN. */
export const OPERATION_COLUMNS = `o.*, ${WEBHOOK_STATE_COLUMN}`;

export function toOperation(row: OperationRow): Operation {
  const error: OperationError | null = row.error_code === null ? null : { code: row.error_code, message: row.error_message ?? '' };
  return {
    id: row.id,
    tenant: row.tenant,
    type: row.type,
    status: row.status,
    input: JSON.parse(row.input) as unknown,
    progress: row.progress,
    progressMessage: row.progress_message,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    priority: row.priority,
    timeoutS: row.timeout_s,
    runAt: row.run_at,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    updatedAt: row.updated_at,
    error,
    webhookUrl: row.webhook_url,
    webhookState: row.webhook_state,
    cancelRequested: row.cancel_requested,
    leaseToken: row.lease_token,
    leaseExpiresAt: row.lease_expires_at,
    workerId: row.worker_id,
    resultExpired: row.result_expired,
    cost: row.cost,
    progressAnchor: anchorOf(row.progress_anchor, row.progress_anchor_at),
    trace: traceOf(row),
    concurrencyKey: row.concurrency_key === undefined || row.concurrency_key === '' ? null : row.concurrency_key,
    scheduleId: row.schedule_id ?? null,
    version: row.version,
    finishedVersion: row.finished_version,
    redrivenAt: row.redriven_at,
  };
}

/** The trace context a row of operations or deliveries keeps, if any. */
function traceOf(row: { traceparent?: string | null; tracestate?: string | null }): TraceCarrier | null {
  return row.traceparent === undefined || row.traceparent === null ? null : { traceparent: row.traceparent, tracestate: row.tracestate ?? null };
}

/** A progress point from its two columns; null unless both are set. */
export function anchorOf(progress: number | null, at: number | null): ProgressPoint | null {
  return progress === null || at === null ? null : { progress, at };
}

export interface DeliveryRow {
  id: string;
  message_id: string;
  operation_id: string;
  tenant: string;
  url: string;
  destination: string | null;
  event_type: string;
  payload: string;
  state: DeliveryState;
  attempt_count: number;
  schedule_attempt: number;
  next_attempt_at: number | null;
  created_at: number;
  updated_at: number;
  last_status_code: number | null;
  last_error: string | null;
  lease_token: string | null;
  manual: boolean;
  superseded: boolean;
  traceparent?: string | null;
  tracestate?: string | null;
}

export interface AttemptRow {
  delivery_id: string;
  attempt: number;
  trigger: 'scheduled' | 'manual';
  started_at: number;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
  response_snippet: string | null;
}

export function toDelivery(row: DeliveryRow): Delivery {
  return {
    id: row.id,
    messageId: row.message_id,
    operationId: row.operation_id,
    tenant: row.tenant,
    url: row.url,
    destination: row.destination ?? webhookDestination(row.url),
    eventType: row.event_type,
    payload: row.payload,
    state: row.state,
    attemptCount: row.attempt_count,
    scheduleAttempt: row.schedule_attempt,
    nextAttemptAt: row.next_attempt_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
    leaseToken: row.lease_token,
    manual: row.manual,
    superseded: row.superseded,
    trace: traceOf(row),
  };
}

export function toAttempt(row: AttemptRow): DeliveryAttempt {
  return {
    deliveryId: row.delivery_id,
    attempt: row.attempt,
    trigger: row.trigger,
    startedAt: row.started_at,
    durationMs: row.duration_ms,
    statusCode: row.status_code,
    error: row.error,
    responseSnippet: row.response_snippet,
  };
}
