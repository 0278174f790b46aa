// Owns: turning SQLite rows into domain records (Operation, Delivery, DeliveryAttempt, OperationResult).
// Not here: which rows are read (operations.ts, transitions.ts, deliveries.ts, maintenance.ts).
// Invariant: a column of the wrong type is a schema bug and throws, never a silently wrong record.

import type { SQLOutputValue } from 'node:sqlite';
import { webhookDestination } from '../../domain/delivery.ts';
import type { Operation, OperationResult, DeliveryState, ProgressPoint } from '../../domain/operation.ts';
import type { TraceCarrier } from '../../domain/trace-context.ts';
import type { OperationStatus } from '../../domain/status.ts';
import { changed, type Delivery, type DeliveryAttempt, type StoreEvent } from '../store.ts';

export type Row = Record<string, SQLOutputValue>;

function str(row: Row, column: string): string {
  const v = row[column];
  if (typeof v !== 'string') throw new TypeError(`column ${column}: expected text, got ${typeof v}`);
  return v;
}

function strOrNull(row: Row, column: string): string | null {
  return row[column] === null ? null : str(row, column);
}

function num(row: Row, column: string): number {
  const v = row[column];
  if (typeof v !== 'number') throw new TypeError(`column ${column}: expected a number, got ${typeof v}`);
  return v;
}

function numOrNull(row: Row, column: string): number | null {
  return row[column] === null ? null : num(row, column);
}

/** `webhookState` is passed in because RETURNING rows carry no join; a fresh or running operation has no delivery. */
export function toOperation(row: Row, webhookState: DeliveryState | null = (row['webhook_state'] ?? null) as DeliveryState | null): Operation {
  const errorCode = strOrNull(row, 'error_code');
  return {
    id: str(row, 'id'),
    tenant: str(row, 'tenant'),
    type: str(row, 'type'),
    status: str(row, 'status') as OperationStatus,
    input: JSON.parse(str(row, 'input')) as unknown,
    progress: numOrNull(row, 'progress'),
    progressMessage: strOrNull(row, 'progress_message'),
    attempt: num(row, 'attempt'),
    maxAttempts: num(row, 'max_attempts'),
    priority: num(row, 'priority'),
    timeoutS: num(row, 'timeout_s'),
    runAt: num(row, 'run_at'),
    createdAt: num(row, 'created_at'),
    startedAt: numOrNull(row, 'started_at'),
    finishedAt: numOrNull(row, 'finished_at'),
    updatedAt: num(row, 'updated_at'),
    error: errorCode === null ? null : { code: errorCode, message: str(row, 'error_message') },
    webhookUrl: strOrNull(row, 'webhook_url'),
    webhookState,
    cancelRequested: num(row, 'cancel_requested') === 1,
    leaseToken: strOrNull(row, 'lease_token'),
    leaseExpiresAt: numOrNull(row, 'lease_expires_at'),
    workerId: strOrNull(row, 'worker_id'),
    resultExpired: num(row, 'result_expired') === 1,
    cost: numOrNull(row, 'cost'),
    progressAnchor: anchorOf(numOrNull(row, 'progress_anchor'), numOrNull(row, 'progress_anchor_at')),
    trace: traceOf(row),
    concurrencyKey: keyOf(row['concurrency_key']),
    scheduleId: strOrNull(row, 'schedule_id'),
    version: num(row, 'version'),
    finishedVersion: numOrNull(row, 'finished_version'),
    redrivenAt: numOrNull(row, 'redriven_at'),
  };
}

/** A stored concurrency key: '' (and a read that does not select it) is none. */
export function keyOf(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

/** The trace context a row keeps; a read that does not select it (a list) has none. */
function traceOf(row: Row): TraceCarrier | null {
  const traceparent = row['traceparent'];
  if (traceparent === undefined || traceparent === null) return null;
  return { traceparent: str(row, 'traceparent'), tracestate: strOrNull(row, 'tracestate') };
}

/** A progress point from its two columns; null unless both are set. */
export function anchorOf(progress: number | null, at: number | null): ProgressPoint | null {
  return progress === null || at === null ? null : { progress, at };
}

export function toResult(row: Row): OperationResult {
  const body = row['body'];
  if (!(body instanceof Uint8Array)) throw new TypeError('column body: expected a blob');
  return { contentType: str(row, 'content_type'), body: Buffer.from(body.buffer, body.byteOffset, body.byteLength) };
}

export function toDelivery(row: Row): Delivery {
  return {
    id: str(row, 'id'),
    messageId: str(row, 'message_id'),
    operationId: str(row, 'operation_id'),
    tenant: str(row, 'tenant'),
    url: str(row, 'url'),
    destination: strOrNull(row, 'destination') ?? webhookDestination(str(row, 'url')),
    eventType: str(row, 'event_type'),
    payload: str(row, 'payload'),
    state: str(row, 'state') as DeliveryState,
    attemptCount: num(row, 'attempt_count'),
    scheduleAttempt: num(row, 'schedule_attempt'),
    nextAttemptAt: numOrNull(row, 'next_attempt_at'),
    createdAt: num(row, 'created_at'),
    updatedAt: num(row, 'updated_at'),
    lastStatusCode: numOrNull(row, 'last_status_code'),
    lastError: strOrNull(row, 'last_error'),
    leaseToken: strOrNull(row, 'lease_token'),
    manual: num(row, 'manual') === 1,
    superseded: num(row, 'superseded') === 1,
    trace: traceOf(row),
  };
}

export function toAttempt(row: Row): DeliveryAttempt {
  return {
    deliveryId: str(row, 'delivery_id'),
    attempt: num(row, 'attempt'),
    trigger: str(row, 'trigger') as DeliveryAttempt['trigger'],
    startedAt: num(row, 'started_at'),
    durationMs: num(row, 'duration_ms'),
    statusCode: numOrNull(row, 'status_code'),
    error: strOrNull(row, 'error'),
    responseSnippet: strOrNull(row, 'response_snippet'),
  };
}

/** The change event of a row an UPDATE returned (`RETURNING id, status, version`, or every column). */
export function changedOf(row: Row): StoreEvent {
  return changed({ id: str(row, 'id'), version: num(row, 'version'), status: str(row, 'status') as OperationStatus });
}
