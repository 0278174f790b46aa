// Owns: the PostgreSQL side of redrives and bulk actions: redriving operations, counting and selecting a bulk action's
// matches (keyset by id), its record, a runner's lease on it, and applying a batch (each match through the same code a
// single retry, cancel, delete or delivery replay takes) with its counts in one transaction.
// Not here: what a filter selects (domain/bulk-action.ts), when batches run (runtime/bulk-actions.ts).
// Invariant: a batch applies its matches, moves the cursor and stores the counts in one transaction, under the lease
// (its row locked for the batch, so a runner that took the action over meanwhile waits, then finds the lease moved).

import { selectionOf, type BulkAction } from '../../domain/bulk-action.ts';
import type { Operation, OperationError } from '../../domain/operation.ts';
import { changed, due } from '../store.ts';
import {
  filterColumn,
  toBulkAction,
  type BatchTally,
  type BulkActionDraft,
  type BulkActionListQuery,
  type BulkActionRow,
  type BulkLeaseRef,
  type BulkMatchQuery,
  type BulkStepParams,
  type RedriveOutcome,
  type RedriveParams,
} from '../bulk-action-store.ts';
import type { PostgresDatabase, Queryable, Transaction } from './database.ts';
import { replayDelivery } from './deliveries.ts';
import { getOperation, listFilters } from './operations.ts';
import { toOperation, type OperationRow } from './rows.ts';
import { depthChange } from './standing.ts';
import { historyOf } from './history.ts';
import { cancelIn, changedFrom, deleteIn } from './transitions.ts';
import { SUPERSEDED_BY_RETRY } from '../../domain/delivery.ts';

/** A delivery of the earlier end not in flight: none holds a live lease on it. */
const WAITING = `d.state IN ('pending', 'retrying') AND (d.lease_token IS NULL OR d.lease_expires_at < $3)`;

// Params: parallel arrays $1 ids, $2 tenants; $3 now, $4 by, $5 bulk action id (null: none), $6 priority (null: each
// keeps its own). A fresh run: attempt 1, nothing of the last one kept (its result goes); no longer finished, so its old
// deliveries are not its webhook state (rows.ts) and its end writes a new one. Those not delivered are marked superseded
// (migration 0028 says why): one waiting ends dead; one in flight keeps its lease, and its attempt is recorded
// (deliveries.ts); a dead one is not replayed. The operation is locked before its deliveries, as recording an attempt
// locks them (deliveries.ts, OPERATION_FIRST).
// Its updated_at (and so its history event) is $3, or its last change's if that came later (a rerun that ended while
// this waited for its row): history never goes back. Its run_at is $3 all the same: a node whose clock runs ahead must
// not hold the rerun back.
const REDRIVE = `
WITH redriven AS (
  UPDATE operations o
  SET status = 'pending', attempt = 1, run_at = $3, priority = coalesce($6::int, o.priority), error_code = NULL, error_message = NULL,
      progress = NULL, progress_message = NULL, progress_anchor = NULL, progress_anchor_at = NULL, started_at = NULL, finished_at = NULL,
      cancel_requested = false, result_expired = false, lease_token = NULL, lease_expires_at = NULL, worker_id = NULL,
      updated_at = greatest($3, o.updated_at), version = o.version + 1, finished_version = NULL, redriven_at = $3
  FROM unnest($1::text[], $2::text[]) AS t(id, tenant)
  WHERE o.id = t.id AND o.tenant = t.tenant AND o.status IN ('failed', 'cancelled')
  RETURNING o.*
), ${depthChange('redriven', '+')}, ${historyOf('redriven', 'updated_at', "'redriven'", "jsonb_build_object('by', $4::text, 'bulk_action_id', $5::text)")}, cleared AS (
  DELETE FROM results r USING redriven WHERE r.operation_id = redriven.id
), superseded AS (
  UPDATE deliveries d SET superseded = true, updated_at = $3,
      state = CASE WHEN ${WAITING} THEN 'dead' ELSE d.state END,
      last_error = CASE WHEN ${WAITING} THEN '${SUPERSEDED_BY_RETRY}' ELSE d.last_error END,
      next_attempt_at = CASE WHEN ${WAITING} THEN NULL ELSE d.next_attempt_at END
  FROM redriven WHERE d.operation_id = redriven.id AND d.state <> 'delivered' AND NOT d.superseded
)
SELECT redriven.*, NULL::text AS webhook_state FROM redriven ORDER BY redriven.id`;

/** Redrives those of `matches` still failed or cancelled, in the caller's transaction; returns the redriven. */
async function redriveIn(
  tx: Transaction,
  matches: ReadonlyArray<{ readonly id: string; readonly tenant: string }>,
  now: number,
  /** What each one's `redriven` history event says: who asked, and the bulk action that did (null: none). */
  history: { readonly by: string; readonly bulkActionId: string | null },
  /** The priority they take; null: each keeps its own. */
  priority: number | null,
): Promise<Operation[]> {
  if (matches.length === 0) return [];
  const rows = await tx.query<OperationRow>(REDRIVE, [matches.map((m) => m.id), matches.map((m) => m.tenant), now, history.by, history.bulkActionId, priority]);
  const redriven = rows.map(toOperation);
  for (const op of redriven) tx.events.push(changed(op), due(op));
  return redriven;
}

export async function redrive(db: PostgresDatabase, params: RedriveParams): Promise<RedriveOutcome> {
  return db.transaction(async (tx): Promise<RedriveOutcome> => {
    const movedOn = await changedFrom(tx, params);
    if (movedOn !== null) return { kind: 'changed', operation: movedOn };
    const [operation] = await redriveIn(tx, [params], params.now, { by: params.by, bulkActionId: null }, params.priority ?? null);
    if (operation !== undefined) return { kind: 'redriven', operation };
    const current = await getOperation(tx, params.id, params.tenant);
    return current === null ? { kind: 'not_found' } : { kind: 'not_redrivable', operation: current };
  });
}

/** The FROM and WHERE of a selection's matches, with their parameters (numbered from 1, in order). */
function matchSql(query: BulkMatchQuery, cursor: string | null): { from: string; where: string; params: unknown[] } {
  const params: unknown[] = [];
  const where: string[] = [];
  const add = (test: (n: string) => string, value: unknown) => {
    if (value === null) return;
    params.push(value);
    where.push(test(`$${params.length}`));
  };
  const selection = query.selection;
  let from: string;
  if (selection.target === 'operations') {
    from = 'operations m';
    add((n) => `m.status = ANY(${n}::text[])`, selection.statuses);
    add((n) => `m.type = ${n}`, selection.type);
    add((n) => `m.error_code = ${n}`, selection.errorCode);
  } else {
    from = selection.operationType === null ? 'deliveries m' : 'deliveries m JOIN operations o ON o.id = m.operation_id';
    // Not one of an end its operation was retried past: a replay refuses it (deliveries.ts), and a count must not hold it.
    where.push(`m.state = 'dead' AND NOT m.superseded`);
    add((n) => `o.type = ${n}`, selection.operationType);
    add((n) => `m.url = ${n}`, selection.url);
  }
  add((n) => `m.tenant = ${n}`, query.tenant);
  add((n) => `m.created_at >= ${n}::bigint`, selection.createdAfter);
  add((n) => `m.created_at < ${n}::bigint`, selection.createdBefore);
  add((n) => `m.created_at <= ${n}::bigint`, query.existedBy);
  add((n) => `m.id > ${n}`, cursor);
  return { from, where: where.join(' AND '), params };
}

export async function countMatches(q: Queryable, query: BulkMatchQuery): Promise<number> {
  const { from, where, params } = matchSql(query, null);
  const [row] = await q.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${from} WHERE ${where}`, params);
  return row?.n ?? 0;
}

// Params: $1 id, $2 action, $3 filter (JSON text), $4 tenant (null: every tenant), $5 total, $6 created by, $7 now.
const INSERT = `INSERT INTO bulk_actions (id, action, filter, tenant, status, total, created_by, created_at)
  VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7) RETURNING *`;

export async function createBulkAction(db: PostgresDatabase, draft: BulkActionDraft): Promise<BulkAction> {
  return db.transaction(async (tx) => {
    const total = await countMatches(tx, { tenant: draft.tenant, selection: draft.selection, existedBy: draft.now });
    const [row] = await tx.query<BulkActionRow>(INSERT, [draft.id, draft.action, filterColumn(draft), draft.tenant, total, draft.createdBy, draft.now]);
    return toBulkAction(row!);
  });
}

// Params: $1 id, $2 tenant (null: any tenant).
const SELECT_BULK_ACTION = 'SELECT * FROM bulk_actions WHERE id = $1 AND ($2::text IS NULL OR tenant = $2)';

export async function getBulkAction(q: Queryable, id: string, tenant: string | null): Promise<BulkAction | null> {
  const [row] = await q.query<BulkActionRow>(SELECT_BULK_ACTION, [id, tenant]);
  return row === undefined ? null : toBulkAction(row);
}

export async function listBulkActions(q: Queryable, query: BulkActionListQuery): Promise<BulkAction[]> {
  // No tenant: every tenant's (an admin's list).
  const [where, params] = listFilters({ 'tenant =': query.tenant ?? undefined, 'id <': query.beforeId });
  const filter = where === '' ? '' : ` WHERE ${where}`;
  const rows = await q.query<BulkActionRow>(`SELECT * FROM bulk_actions${filter} ORDER BY id DESC LIMIT $${params.length + 1}`, [...params, query.limit]);
  return rows.map(toBulkAction);
}

// Params: $1 now, $2 lease ms. The oldest unfinished action no live lease holds; nodes claiming at once skip the row
// another holds, so one takes it.
const CLAIM = `
UPDATE bulk_actions b SET status = 'processing', started_at = coalesce(b.started_at, $1), lease_token = gen_random_uuid()::text,
  lease_expires_at = $1::bigint + $2::bigint
WHERE b.id = (SELECT id FROM bulk_actions WHERE status IN ('pending', 'processing') AND (lease_token IS NULL OR lease_expires_at < $1)
  ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING b.*`;

export async function claimBulkAction(q: Queryable, now: number, leaseMs: number): Promise<BulkAction | null> {
  const [row] = await q.query<BulkActionRow>(CLAIM, [now, leaseMs]);
  return row === undefined ? null : toBulkAction(row);
}

// Params: $1 id, $2 lease token.
const LEASED = `SELECT * FROM bulk_actions WHERE id = $1 AND lease_token = $2 AND status = 'processing' FOR UPDATE`;

// Params: $1 id, $2 processed, $3 succeeded, $4 skipped, $5 cursor (null: keep), $6 lease expires at, $7 done, $8 now.
const ADVANCE = `
UPDATE bulk_actions SET processed = processed + $2, succeeded = succeeded + $3, skipped = skipped + $4, cursor = coalesce($5, cursor),
  status = CASE WHEN $7 THEN 'completed' ELSE status END, finished_at = CASE WHEN $7 THEN $8 ELSE finished_at END,
  lease_token = CASE WHEN $7 THEN NULL ELSE lease_token END, lease_expires_at = CASE WHEN $7 THEN NULL ELSE $6::bigint END
WHERE id = $1 RETURNING *`;

export async function stepBulkAction(db: PostgresDatabase, params: BulkStepParams): Promise<BulkAction | null> {
  let cancelled: readonly Operation[] = [];
  const stepped = await db.transaction(async (tx) => {
    const [leased] = await tx.query<BulkActionRow>(LEASED, [params.id, params.leaseToken]);
    if (leased === undefined) return null;
    const tally = await applyBatch(tx, toBulkAction(leased), params);
    cancelled = tally.cancelled;
    const done = tally.processed < params.batchSize;
    const [row] = await tx.query<BulkActionRow>(ADVANCE, [
      params.id,
      tally.processed,
      tally.succeeded,
      tally.skipped,
      tally.lastId,
      params.now + params.leaseMs,
      done,
      params.now,
    ]);
    return toBulkAction(row!);
  });
  if (cancelled.length > 0) params.onCancelled?.(cancelled);
  return stepped;
}

/** The next batch of matches after the cursor, each applied as its single action would be. */
async function applyBatch(tx: Transaction, action: BulkAction, params: BulkStepParams): Promise<BatchTally> {
  const { from, where, params: values } = matchSql({ tenant: action.tenant, selection: selectionOf(action), existedBy: action.createdAt }, action.cursor);
  // A retry's matches are operations, whose type says whether anything runs them (runnableTypes).
  const type = action.action === 'retry' ? ', m.type' : '';
  const matches = await tx.query<{ id: string; tenant: string; type?: string }>(
    `SELECT m.id, m.tenant${type} FROM ${from} WHERE ${where} ORDER BY m.id LIMIT ${params.batchSize}`,
    values,
  );
  let succeeded = 0;
  const cancelled: Operation[] = [];
  if (action.action === 'retry') {
    const runnable = params.runnableTypes === undefined ? null : new Set(params.runnableTypes);
    const redrivable = runnable === null ? matches : matches.filter((m) => runnable.has(m.type ?? ''));
    succeeded = (await redriveIn(tx, redrivable, params.now, { by: action.createdBy, bulkActionId: action.id }, action.priority)).length;
  } else if (action.action === 'cancel') {
    // The whole batch in two statements (cancelIn): one at a time, each match's pending count took a shard of its own
    // while the next match's row was awaited, and claims, which take rows and then a shard, deadlocked with it.
    for (const outcome of (await cancelIn(tx, matches, params.now, params.delivery)).values()) {
      if (outcome.kind === 'cancelled' || (outcome.kind === 'requested' && outcome.already !== true)) succeeded++;
      if (outcome.kind === 'cancelled') cancelled.push(outcome.operation);
    }
  } else {
    // One match at a time, in id order: the single action's own statements, with its events, in this transaction.
    const publishing = { query: tx.query, publish: (events: Parameters<PostgresDatabase['publish']>[0]) => void tx.events.push(...events) };
    for (const match of matches) {
      let changedIt: boolean;
      if (action.action === 'delete') {
        changedIt = (await deleteIn(tx, match.id, match.tenant)) === 'deleted';
        if (changedIt) tx.events.push({ kind: 'operation:deleted', id: match.id });
      } else changedIt = (await replayDelivery(publishing, match.id, match.tenant, params.now)).kind === 'scheduled';
      if (changedIt) succeeded++;
    }
  }
  return { processed: matches.length, succeeded, skipped: matches.length - succeeded, lastId: matches.at(-1)?.id ?? null, cancelled };
}

// Params: $1 id, $2 lease token.
const RELEASE = `UPDATE bulk_actions SET lease_token = NULL, lease_expires_at = NULL WHERE id = $1 AND lease_token = $2 AND status = 'processing'`;

export async function releaseBulkAction(q: Queryable, params: BulkLeaseRef): Promise<void> {
  await q.query(RELEASE, [params.id, params.leaseToken]);
}

// Params: $1 id, $2 lease token, $3 now, $4 error code, $5 error message.
const FAIL = `
UPDATE bulk_actions SET status = 'failed', finished_at = $3, error_code = $4, error_message = $5, lease_token = NULL, lease_expires_at = NULL
WHERE id = $1 AND lease_token = $2 AND status = 'processing' RETURNING *`;

export async function failBulkAction(q: Queryable, params: BulkLeaseRef & { now: number; error: OperationError }): Promise<BulkAction | null> {
  const [row] = await q.query<BulkActionRow>(FAIL, [params.id, params.leaseToken, params.now, params.error.code, params.error.message]);
  return row === undefined ? null : toBulkAction(row);
}
