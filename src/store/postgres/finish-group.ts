// Owns: ending a group of attempts on PostgreSQL in one statement (results, duration samples and outbox rows included),
// in a transaction of its own or in the caller's. Not here: gathering the group (batcher.ts), deciding outcomes (runtime/,
// domain/status.ts). Invariant: each operation ends only under its lease (and, for an outcome decided on whether a cancel
// was requested, only while that still holds); one that does not end is missing from the answer.

import { DURATION_SAMPLE_LIMIT } from '../../domain/eta.ts';
import type { Operation } from '../../domain/operation.ts';
import { changed, keyFreed, type DeliveryFactory, type FinishParams } from '../store.ts';
import type { PostgresDatabase, Transaction } from './database.ts';
import { writeOutbox } from './deliveries.ts';
import { OPERATION_COLUMNS, toOperation, type OperationRow } from './rows.ts';
import { ERROR_JSON, historyOf } from './history.ts';

/** An end under a lease; `cancelRequested`, when given, is the fact the domain decided it on, and its guard. */
export interface Ending extends FinishParams {
  readonly cancelRequested?: boolean | undefined;
}

// Params: parallel arrays $1 ids, $2 lease tokens, $3 statuses, $4 error codes, $5 error messages, $6 result content types
// (null: none), $7 result bodies, $8 nows, $10 last progress reports not stored yet (null: none), $11 their messages,
// $12 whether a cancel was requested (null: either); $9 duration samples kept per type.
// Each operation ends under its lease (a lease token is held only while processing: every way out of processing clears it,
// so the token is the status's guard too; with status = 'processing' here a plan could walk operations_running, which
// keeps an entry for every operation that ran until the table is vacuumed: bench/README.md, "Plans made on an empty
// table"), with its terminal history event (at updated_at: a cancel request written since the handler returned may carry
// a later time than $8, and history never goes back; finished_at keeps $8); completed ones record their duration, and each
// type's samples are trimmed to about the newest $9 (samples another finish is already trimming are skipped, not waited
// for).
const FINISH_GROUP = `
WITH input AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[], $8::bigint[],
      $10::float8[], $11::text[], $12::bool[])
    AS i(id, lease_token, status, error_code, error_message, content_type, body, now, progress, progress_message, cancel_requested)
), finished AS (
  UPDATE operations o
  SET status = i.status, error_code = i.error_code, error_message = i.error_message, finished_at = i.now, updated_at = greatest(i.now, o.updated_at),
      progress = coalesce(i.progress, o.progress),
      progress_message = CASE WHEN i.progress IS NULL THEN o.progress_message ELSE i.progress_message END,
      version = o.version + 1, finished_version = o.version + 1, lease_token = NULL, lease_expires_at = NULL, worker_id = NULL
  FROM input i
  WHERE o.id = i.id AND o.lease_token = i.lease_token
    AND (i.cancel_requested IS NULL OR o.cancel_requested = i.cancel_requested)
  RETURNING ${OPERATION_COLUMNS}
), result AS (
  INSERT INTO results (operation_id, content_type, body)
  SELECT i.id, i.content_type, i.body FROM input i JOIN finished f ON f.id = i.id WHERE i.content_type IS NOT NULL
), ${historyOf('finished', 'updated_at', 'status', `CASE WHEN status = 'completed' THEN '{}'::jsonb ELSE jsonb_build_object('error', ${ERROR_JSON}) END`)}, sample AS (
  INSERT INTO duration_samples (type, duration_ms, cost) SELECT type, finished_at - started_at, cost FROM finished WHERE status = 'completed'
), trimmed AS (
  DELETE FROM duration_samples s WHERE s.id IN (
    SELECT k.id FROM duration_samples k JOIN (SELECT DISTINCT type FROM finished WHERE status = 'completed') f ON k.type = f.type
    WHERE k.id <= (SELECT x.id FROM duration_samples x WHERE x.type = f.type ORDER BY x.id DESC OFFSET $9::int - 1 LIMIT 1)
    FOR UPDATE OF k SKIP LOCKED
  )
)
SELECT * FROM finished`;

/** More would make one statement's parameters large; the rest wait for the next group. */
export const MAX_FINISH_GROUP = 200;

/** Ends each operation of `group` (null where it does not end), in a transaction of its own. */
export async function finishGroup(db: PostgresDatabase, group: readonly Ending[]): Promise<Array<Operation | null>> {
  const stored = await db.transaction((tx) => endUnderLease(tx, group));
  return group.map((p) => stored.get(p.id) ?? null);
}

/** Ends each operation of `group` that still holds its lease, with its outbox row, in the caller's transaction; by id. */
export async function endUnderLease(tx: Transaction, group: readonly Ending[]): Promise<Map<string, Operation>> {
  const column = <T>(pick: (p: Ending) => T) => group.map(pick);
  const resultOf = (p: Ending) => (p.status === 'completed' ? p.result : undefined);
  const rows = await tx.query<OperationRow>(FINISH_GROUP, [
    column((p) => p.id),
    column((p) => p.leaseToken),
    column((p) => p.status),
    column((p) => p.error?.code ?? null),
    column((p) => p.error?.message ?? null),
    column((p) => resultOf(p)?.contentType ?? null),
    column((p) => resultOf(p)?.body ?? null),
    column((p) => p.now),
    DURATION_SAMPLE_LIMIT,
    column((p) => p.progress?.fraction ?? null),
    column((p) => p.progress?.message ?? null),
    column((p) => p.cancelRequested ?? null),
  ]);
  const finished = rows.map(toOperation);
  const byId = new Map(group.map((p) => [p.id, p]));
  // One outbox statement per factory (in practice one: the pool's), written at the latest end of the group.
  const byFactory = new Map<DeliveryFactory, Operation[]>();
  for (const op of finished) {
    const factory = byId.get(op.id)!.delivery;
    byFactory.set(factory, [...(byFactory.get(factory) ?? []), op]);
  }
  const ended = new Map<string, Operation>();
  for (const [factory, ops] of byFactory) {
    for (const op of await writeOutbox(tx, ops, factory, Math.max(...ops.map((o) => o.finishedAt ?? 0)))) ended.set(op.id, op);
  }
  tx.events.push(...[...ended.values()].flatMap((op) => [changed(op), ...keyFreed(op, op.finishedAt ?? op.updatedAt)]));
  return ended;
}
