// Owns: the operation lifecycle in SQL: leased claims, heartbeats, progress, retry, release, cancel, delete, lease recovery.
// Not here: ending attempts (finish-group.ts), deciding which transition happens (runtime/, domain/), the outbox rows
// themselves (deliveries.ts).
// Invariant: every transition states its precondition in its WHERE clause (status, lease token); a lost race changes nothing.

import { isTerminal } from '../../domain/status.ts';
import type { Operation } from '../../domain/operation.ts';
import {
  CANCELLED_BY_REQUEST, changed, due, type CancelOutcome, type ClaimParams, type DeleteOutcome, type FinishParams, type LeaseRef,
  type RecoverParams, type RecoverResult, type ReleaseParams, type RetryParams,
} from '../store.ts';
import type { PostgresDatabase, Transaction } from './database.ts';
import { writeOutbox } from './deliveries.ts';
import { OPERATION_COLUMNS, toOperation, type OperationRow } from './operations.ts';
import { depthChange } from './queue-depth.ts';

const byClaimOrder = (a: Operation, b: Operation) => b.priority - a.priority || a.runAt - b.runAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

// Params: $1 now, $2 worker id, $3 lease ms, $4 types, $5 per-type limits, $6 overall limit.
// Each type takes at most its own limit in claim order, skipping rows other claimers hold; the overall limit then
// keeps the best across types.
const CLAIM_OPERATIONS = `
WITH candidates AS (
  SELECT c.id, c.priority, c.run_at
  FROM unnest($4::text[], $5::int[]) AS w(type, n)
  CROSS JOIN LATERAL (
    SELECT p.id, p.priority, p.run_at FROM operations p
    WHERE p.status = 'pending' AND p.type = w.type AND p.run_at <= $1
    ORDER BY p.priority DESC, p.run_at, p.id
    LIMIT w.n
    FOR UPDATE SKIP LOCKED
  ) c
), chosen AS (
  SELECT id FROM candidates ORDER BY priority DESC, run_at, id LIMIT $6
), claimed AS (
  UPDATE operations o
  SET status = 'processing', lease_token = gen_random_uuid()::text, lease_expires_at = $1::bigint + $3::bigint, worker_id = $2,
      started_at = $1, updated_at = $1, version = o.version + 1, progress = NULL, progress_message = NULL
  FROM chosen WHERE o.id = chosen.id
  RETURNING ${OPERATION_COLUMNS}
), ${depthChange('claimed', '-')}
SELECT * FROM claimed`;

export async function claimOperations(db: PostgresDatabase, params: ClaimParams): Promise<Operation[]> {
  const types = params.types.filter((t) => t.limit > 0);
  if (params.limit <= 0 || types.length === 0) return [];
  const rows = await db.query<OperationRow>(CLAIM_OPERATIONS, [
    params.now, params.workerId, params.leaseMs, types.map((t) => t.type), types.map((t) => Math.min(t.limit, params.limit)), params.limit,
  ]);
  const claimed = rows.map(toOperation).sort(byClaimOrder);
  db.publish(claimed.map(changed));
  return claimed;
}

// Params: $1 id, $2 lease token, $3 now, $4 lease ms. Not a change of the operation: version and updated_at stay.
const HEARTBEAT = `
UPDATE operations SET lease_expires_at = $3::bigint + $4::bigint
WHERE id = $1 AND status = 'processing' AND lease_token = $2
RETURNING cancel_requested`;

export async function heartbeat(db: PostgresDatabase, params: LeaseRef & { now: number; leaseMs: number }): Promise<{ cancelRequested: boolean } | null> {
  const [row] = await db.query<{ cancel_requested: boolean }>(HEARTBEAT, [params.id, params.leaseToken, params.now, params.leaseMs]);
  return row === undefined ? null : { cancelRequested: row.cancel_requested };
}

// Params: $1 id, $2 lease token, $3 now, $4 progress, $5 message.
const PROGRESS = `
UPDATE operations SET progress = $4, progress_message = $5, updated_at = $3, version = version + 1
WHERE id = $1 AND status = 'processing' AND lease_token = $2
RETURNING id, version, status`;

export async function progress(db: PostgresDatabase, params: LeaseRef & { now: number; progress: number | null; message: string | null }): Promise<boolean> {
  const [row] = await db.query<Pick<OperationRow, 'id' | 'version' | 'status'>>(PROGRESS, [params.id, params.leaseToken, params.now, params.progress, params.message]);
  if (row === undefined) return false;
  db.publish([changed(row)]);
  return true;
}

// Back in the queue, an operation keeps nothing of the attempt it left.
const UNLEASED = `status = 'pending', started_at = NULL, progress = NULL, progress_message = NULL,
    lease_token = NULL, lease_expires_at = NULL, worker_id = NULL`;

// Params: $1 id, $2 lease token, $3 now, $4 run at, $5 error code, $6 error message. No row when a cancel was requested:
// the caller ends the operation cancelled instead.
const RETRY = `
WITH requeued AS (
  UPDATE operations o
  SET ${UNLEASED}, attempt = o.attempt + 1, run_at = $4, error_code = $5, error_message = $6, updated_at = $3, version = o.version + 1
  WHERE o.id = $1 AND o.status = 'processing' AND o.lease_token = $2 AND NOT o.cancel_requested
  RETURNING ${OPERATION_COLUMNS}
), ${depthChange('requeued', '+')}
SELECT * FROM requeued`;

export async function retry(db: PostgresDatabase, params: RetryParams): Promise<Operation | null> {
  const [row] = await db.query<OperationRow>(RETRY, [params.id, params.leaseToken, params.now, params.runAt, params.error.code, params.error.message]);
  return requeued(db, row);
}

// Params: $1 id, $2 lease token, $3 now. The attempt is given back uncounted; no row when a cancel was requested.
const RELEASE = `
WITH requeued AS (
  UPDATE operations o
  SET ${UNLEASED}, updated_at = $3, version = o.version + 1
  WHERE o.id = $1 AND o.status = 'processing' AND o.lease_token = $2 AND NOT o.cancel_requested
  RETURNING ${OPERATION_COLUMNS}
), ${depthChange('requeued', '+')}
SELECT * FROM requeued`;

export async function release(db: PostgresDatabase, params: ReleaseParams): Promise<Operation | null> {
  const [row] = await db.query<OperationRow>(RELEASE, [params.id, params.leaseToken, params.now]);
  return requeued(db, row);
}

async function requeued(db: PostgresDatabase, row: OperationRow | undefined): Promise<Operation | null> {
  if (row === undefined) return null;
  const op = toOperation(row);
  db.publish([changed(op), due(op)]);
  return op;
}

// Params: $1 id, $2 tenant.
const LOCK_FOR_CANCEL = `SELECT ${OPERATION_COLUMNS} FROM operations o WHERE o.id = $1 AND o.tenant = $2 FOR UPDATE OF o`;
// Params: $1 id, $2 now, $3 error code, $4 error message.
const CANCEL_PENDING = `
WITH cancelled AS (
  UPDATE operations o
  SET status = 'cancelled', error_code = $3, error_message = $4, finished_at = $2, updated_at = $2, version = o.version + 1
  WHERE o.id = $1 AND o.status = 'pending'
  RETURNING ${OPERATION_COLUMNS}
), ${depthChange('cancelled', '-')}
SELECT * FROM cancelled`;
// Params: $1 id, $2 now.
const REQUEST_CANCEL = `
UPDATE operations o SET cancel_requested = true, updated_at = $2, version = o.version + 1
WHERE o.id = $1 AND o.status = 'processing'
RETURNING ${OPERATION_COLUMNS}`;

export async function cancel(db: PostgresDatabase, params: { id: string; tenant: string; now: number; delivery: FinishParams['delivery'] }): Promise<CancelOutcome> {
  return db.transaction(async (tx): Promise<CancelOutcome> => {
    const [row] = await tx.query<OperationRow>(LOCK_FOR_CANCEL, [params.id, params.tenant]);
    if (row === undefined) return { kind: 'not_found' };
    const current = toOperation(row);
    if (isTerminal(current.status)) return { kind: 'terminal', operation: current };
    if (current.status === 'processing') {
      if (current.cancelRequested) return { kind: 'requested', operation: current };
      const [requested] = await tx.query<OperationRow>(REQUEST_CANCEL, [params.id, params.now]);
      const op = toOperation(requested!);
      tx.events.push(changed(op), { kind: 'operation:cancel_requested', id: op.id });
      return { kind: 'requested', operation: op };
    }
    const [cancelled] = await tx.query<OperationRow>(CANCEL_PENDING, [params.id, params.now, CANCELLED_BY_REQUEST.code, CANCELLED_BY_REQUEST.message]);
    const [op] = await writeOutbox(tx, [toOperation(cancelled!)], params.delivery, params.now);
    tx.events.push(changed(op!));
    return { kind: 'cancelled', operation: op! };
  });
}

// Params: $1 id, $2 tenant. Only terminal operations whose webhook is not still being delivered go; their result,
// deliveries and keys go with them.
const DELETE_OPERATION = `
WITH target AS (
  SELECT id, status, EXISTS (
    SELECT 1 FROM deliveries d WHERE d.operation_id = operations.id AND d.state IN ('pending', 'retrying')
  ) AS delivering
  FROM operations WHERE id = $1 AND tenant = $2
), deleted AS (
  DELETE FROM operations o USING target
  WHERE o.id = target.id AND o.status IN ('completed', 'failed', 'cancelled') AND NOT target.delivering
  RETURNING o.id
)
SELECT (SELECT count(*) FROM deleted) AS deleted, status, delivering FROM target`;

export async function deleteOperation(db: PostgresDatabase, id: string, tenant: string): Promise<DeleteOutcome> {
  const [row] = await db.query<{ deleted: number; status: Operation['status']; delivering: boolean }>(DELETE_OPERATION, [id, tenant]);
  if (row === undefined) return 'not_found';
  if (row.deleted > 0) return 'deleted';
  return isTerminal(row.status) ? 'delivery_pending' : 'not_terminal';
}

// Params: $1 now, $2 error code, $3 error message. A lease is live through its expiry ms.
// Expired leases with attempts left and no cancel requested go back to the queue, due now, with the error recorded.
const REQUEUE_EXPIRED = `
WITH expired AS (
  SELECT id FROM operations
  WHERE status = 'processing' AND lease_expires_at < $1 AND NOT cancel_requested AND attempt < max_attempts
  FOR UPDATE SKIP LOCKED
), requeued AS (
  UPDATE operations o
  SET ${UNLEASED}, attempt = o.attempt + 1, run_at = $1, error_code = $2, error_message = $3, updated_at = $1, version = o.version + 1
  FROM expired WHERE o.id = expired.id
  RETURNING ${OPERATION_COLUMNS}
), ${depthChange('requeued', '+')}
SELECT * FROM requeued`;

// Params: $1 now, $2 error code, $3 error message (for attempts spent), $4 and $5 the same for a requested cancel.
const END_EXPIRED = `
WITH expired AS (
  SELECT id FROM operations
  WHERE status = 'processing' AND lease_expires_at < $1 AND (cancel_requested OR attempt >= max_attempts)
  FOR UPDATE SKIP LOCKED
)
UPDATE operations o
SET status = CASE WHEN o.cancel_requested THEN 'cancelled' ELSE 'failed' END,
    error_code = CASE WHEN o.cancel_requested THEN $4 ELSE $2 END,
    error_message = CASE WHEN o.cancel_requested THEN $5 ELSE $3 END,
    finished_at = $1, updated_at = $1, version = o.version + 1, lease_token = NULL, lease_expires_at = NULL, worker_id = NULL
FROM expired WHERE o.id = expired.id
RETURNING ${OPERATION_COLUMNS}`;

export async function recoverExpired(db: PostgresDatabase, params: RecoverParams): Promise<RecoverResult> {
  return db.transaction(async (tx: Transaction) => {
    const endedRows = await tx.query<OperationRow>(END_EXPIRED, [
      params.now, params.error.code, params.error.message, CANCELLED_BY_REQUEST.code, CANCELLED_BY_REQUEST.message,
    ]);
    const ended = await writeOutbox(tx, endedRows.map(toOperation).sort(byClaimOrder), params.delivery, params.now);
    // Last: it takes pending-count rows, which creates and claims wait on until this transaction commits.
    const requeuedRows = await tx.query<OperationRow>(REQUEUE_EXPIRED, [params.now, params.error.code, params.error.message]);
    const requeuedOps = requeuedRows.map(toOperation).sort(byClaimOrder);
    for (const op of requeuedOps) tx.events.push(changed(op), due(op));
    for (const op of ended) tx.events.push(changed(op));
    return { requeued: requeuedOps, ended };
  });
}
