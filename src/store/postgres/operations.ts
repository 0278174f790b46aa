// Owns: the PostgreSQL queries that create and read operations: an insert with an idempotency key, reads, results,
// duration samples, the next run_at. Not here: inserts without a key (insert-group.ts), lease transitions
// (transitions.ts), where an operation stands (standing.ts), lists and counts (operator-reads.ts), deliveries
// (deliveries.ts), retention (maintenance.ts).
// Invariant: an insert and its idempotency key commit in one statement; concurrent inserts with one key resolve to one operation.

import { AsyncOpsError } from '../../domain/errors.ts';
import type { Operation, OperationResult } from '../../domain/operation.ts';
import { changed, due, sameRequest, type DurationSample, type IdempotencyClaim, type OperationDraft, type OperationInsertResult } from '../store.ts';
import type { PostgresDatabase, Queryable } from './database.ts';
import { OPERATION_COLUMNS, toOperation, WEBHOOK_STATE_COLUMN, type OperationRow } from './rows.ts';
import { depthChange } from './standing.ts';
import { historyOf } from './history.ts';

/** OPERATION_COLUMNS without the input, which a list never shows and which may be large: it reads as JSON null (operator-reads.ts lists with it). */
export const LISTED_COLUMNS = `o.id, o.tenant, o.type, o.status, o.progress, o.progress_message, o.attempt, o.max_attempts, o.priority, o.timeout_s, o.run_at, o.created_at, o.started_at, o.finished_at, o.updated_at, o.error_code, o.error_message, o.webhook_url, o.cancel_requested, o.lease_token, o.lease_expires_at, o.worker_id, o.result_expired, o.version, o.cost, o.progress_anchor, o.progress_anchor_at, o.concurrency_key, o.schedule_id, 'null' AS input, ${WEBHOOK_STATE_COLUMN}`;

// Params: $1 id, $2 tenant, $3 type, $4 input (JSON text), $5 max attempts, $6 priority, $7 timeout s, $8 run at,
// $9 webhook url, $10 now, $11 idempotency key (null: none), $12 fingerprint, $13 key expires at, $14 cost, $15 traceparent,
// $16 tracestate, $17 concurrency key ('': none). The key row is taken (or an expired one taken over) first; the operation is inserted only if that happened,
// with its `created` history event.
// A concurrent insert with the same key waits on the key's index entry and then finds it taken.
const INSERT_OPERATION = `
WITH key_taken AS (
  INSERT INTO idempotency_keys (tenant, key, fingerprint, operation_id, expires_at)
  SELECT $2, $11, $12, $1, $13 WHERE $11::text IS NOT NULL
  ON CONFLICT (tenant, key) DO UPDATE
    SET fingerprint = excluded.fingerprint, operation_id = excluded.operation_id, expires_at = excluded.expires_at
    WHERE idempotency_keys.expires_at <= $10
  RETURNING 1
), inserted AS (
  INSERT INTO operations (id, tenant, type, status, input, attempt, max_attempts, priority, timeout_s, run_at,
                          created_at, updated_at, webhook_url, cost, traceparent, tracestate, concurrency_key, schedule_id)
  SELECT $1, $2, $3, 'pending', $4, 1, $5, $6, $7, $8, $10, $10, $9, $14::float8, $15::text, $16::text, $17::text, $18::text
  WHERE $11::text IS NULL OR EXISTS (SELECT 1 FROM key_taken)
  RETURNING *
), ${depthChange('inserted', '+')}, ${historyOf('inserted', 'created_at', "'created'", "jsonb_build_object('tenant', tenant, 'idempotency_key', $11::text)")}
SELECT inserted.*, NULL::text AS webhook_state FROM inserted`;

// Params: $1 tenant, $2 key.
const SELECT_KEY = 'SELECT fingerprint, operation_id FROM idempotency_keys WHERE tenant = $1 AND key = $2';

/** Where an insert runs and announces its events: the database itself, or a transaction it is part of (schedules.ts). */
export type InsertTarget = Queryable & Pick<PostgresDatabase, 'publish'>;

export async function insertOperation(db: InsertTarget, draft: OperationDraft, idempotency?: IdempotencyClaim): Promise<OperationInsertResult> {
  // A key can vanish between the two reads (its operation deleted, the key pruned); then it is free to take again.
  for (let round = 0; round < 3; round++) {
    const rows = await db.query<OperationRow>(INSERT_OPERATION, [
      draft.id,
      draft.tenant,
      draft.type,
      JSON.stringify(draft.input ?? null),
      draft.maxAttempts,
      draft.priority,
      draft.timeoutS,
      draft.runAt,
      draft.webhookUrl,
      draft.now,
      idempotency?.key ?? null,
      idempotency?.fingerprint ?? null,
      idempotency?.expiresAt ?? null,
      draft.cost ?? null,
      draft.trace?.traceparent ?? null,
      draft.trace?.tracestate ?? null,
      draft.concurrencyKey ?? '',
      draft.scheduleId ?? null,
    ]);
    const row = rows[0];
    if (row !== undefined) {
      const operation = toOperation(row);
      db.publish([changed(operation), due(operation)]);
      return { kind: 'created', operation };
    }
    if (idempotency === undefined) throw new Error(`operation ${draft.id} was not inserted`);
    const [key] = await db.query<{ fingerprint: string; operation_id: string }>(SELECT_KEY, [draft.tenant, idempotency.key]);
    if (key === undefined) continue;
    if (!sameRequest(key.fingerprint, idempotency)) return { kind: 'key_mismatch', operationId: key.operation_id };
    const existing = await getOperationById(db, key.operation_id);
    if (existing !== null) return { kind: 'replayed', operation: existing };
  }
  throw new AsyncOpsError('idempotency_key_in_use', 'the Idempotency-Key kept changing hands; retry later');
}

// Params: $1 id, $2 tenant.
const SELECT_OPERATION = `SELECT ${OPERATION_COLUMNS} FROM operations o WHERE o.id = $1 AND o.tenant = $2`;
// Params: $1 id.
const SELECT_OPERATION_BY_ID = `SELECT ${OPERATION_COLUMNS} FROM operations o WHERE o.id = $1`;

export async function getOperation(q: Queryable, id: string, tenant: string): Promise<Operation | null> {
  const [row] = await q.query<OperationRow>(SELECT_OPERATION, [id, tenant]);
  return row === undefined ? null : toOperation(row);
}

export async function getOperationById(q: Queryable, id: string): Promise<Operation | null> {
  const [row] = await q.query<OperationRow>(SELECT_OPERATION_BY_ID, [id]);
  return row === undefined ? null : toOperation(row);
}

/**
 * The conditions a list query has, as `column op $n` joined by AND, and their parameters. Each combination is a
 * statement of its own, planned for what it filters: a prepared `($2 IS NULL OR status = $2)` may settle on a plan
 * made as if it filtered nothing.
 */
export function listFilters(filters: Readonly<Record<string, string | undefined>>): [where: string, params: string[]] {
  const params: string[] = [];
  const conditions: string[] = [];
  for (const [condition, value] of Object.entries(filters)) {
    if (value === undefined) continue;
    params.push(value);
    conditions.push(`${condition} $${params.length}`);
  }
  return [conditions.join(' AND '), params];
}

// Params: $1 types. In claim order the first operation of each priority has that priority's earliest run_at: a walk over
// the priorities in use (a few index probes per type on operations_claim), not over the queue.
const NEXT_RUN_AT = `
WITH RECURSIVE firsts AS (
  SELECT w.type, f.priority, f.run_at FROM unnest($1::text[]) AS w(type)
  CROSS JOIN LATERAL (
    SELECT priority, run_at FROM operations WHERE status = 'pending' AND type = w.type ORDER BY priority DESC, run_at, id LIMIT 1
  ) f
  UNION ALL
  SELECT f.type, n.priority, n.run_at FROM firsts f
  CROSS JOIN LATERAL (
    SELECT priority, run_at FROM operations WHERE status = 'pending' AND type = f.type AND priority < f.priority
    ORDER BY priority DESC, run_at, id LIMIT 1
  ) n
)
SELECT min(run_at) AS run_at FROM firsts`;

export async function nextRunAt(q: Queryable, types: readonly string[]): Promise<number | null> {
  const [row] = await q.query<{ run_at: number | null }>(NEXT_RUN_AT, [types]);
  return row?.run_at ?? null;
}

// Params: $1 id, $2 tenant.
const SELECT_RESULT = `
SELECT r.content_type, r.body FROM results r JOIN operations o ON o.id = r.operation_id
WHERE o.id = $1 AND o.tenant = $2`;

export async function getResult(q: Queryable, id: string, tenant: string): Promise<OperationResult | null> {
  const [row] = await q.query<{ content_type: string; body: Buffer }>(SELECT_RESULT, [id, tenant]);
  return row === undefined ? null : { contentType: row.content_type, body: row.body };
}

// Params: $1 samples per type.
const SELECT_DURATION_SAMPLES = `
SELECT type, duration_ms, cost FROM (
  SELECT type, duration_ms, cost, row_number() OVER (PARTITION BY type ORDER BY id DESC) AS n FROM duration_samples
) s WHERE n <= $1 ORDER BY type, n`;

export async function durationSamples(q: Queryable, limit: number): Promise<Map<string, DurationSample[]>> {
  const rows = await q.query<{ type: string; duration_ms: number; cost: number | null }>(SELECT_DURATION_SAMPLES, [limit]);
  const samples = new Map<string, DurationSample[]>();
  for (const row of rows) {
    const sample = { durationMs: row.duration_ms, cost: row.cost };
    const list = samples.get(row.type);
    if (list === undefined) samples.set(row.type, [sample]);
    else list.push(sample);
  }
  return samples;
}
