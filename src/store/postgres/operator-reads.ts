// Owns: the PostgreSQL queries of the operator's reads: lists by filter (any tenant's, for an admin), the counts per
// type and status (summed from operation_counts, which statement triggers append to, and folded), and what the overview
// is computed from (with the ETAs the history's created events kept).
// Not here: reads of one operation (operations.ts); the overview's arithmetic (runtime/overview.ts).
// Invariant: every read walks an index: a list by id between bounds, the counts their own small table, the overview
// the operations finished (operations_finished_at) or running (operations_running) in its window.

import type { Operation } from '../../domain/operation.ts';
import { OPERATION_STATUSES, type OperationStatus } from '../../domain/status.ts';
import { ID_PREFIXES, idFloorAt } from '../../domain/ids.ts';
import type { OperationCount, OperationListQuery, OperationStats, OperationStatsQuery } from '../store.ts';
import type { PostgresDatabase, Queryable } from './database.ts';
import { toOperation, type OperationRow } from './rows.ts';
import { LISTED_COLUMNS } from './operations.ts';

/**
 * A list's statement and parameters: its conditions joined by AND, `$n` numbered as they come. Each combination is a
 * statement of its own, planned for what it filters: a prepared `($2 IS NULL OR status = $2)` may settle on a plan made
 * as if it filtered nothing.
 */
function listStatement(query: OperationListQuery): [sql: string, params: unknown[]] {
  const params: unknown[] = [];
  const at = (value: unknown) => `$${params.push(value)}`;
  const where: string[] = [];
  if (query.tenant !== null) where.push(`o.tenant = ${at(query.tenant)}`);
  // The status as a literal (one of OPERATION_STATUSES, checked): a generic plan then still knows which partial
  // indexes apply (operations_failed_cancelled_id).
  if (query.status !== undefined) {
    if (!OPERATION_STATUSES.includes(query.status)) throw new TypeError(`not a status: ${query.status}`);
    where.push(`o.status = '${query.status}'`);
  }
  if (query.type !== undefined) where.push(`o.type = ${at(query.type)}`);
  if (query.errorCode !== undefined) where.push(`o.error_code = ${at(query.errorCode)}`);
  if (query.scheduleId !== undefined) where.push(`o.schedule_id = ${at(query.scheduleId)}`);
  // The id bound lets the walk start and stop at the range (ids begin with their creation time); created_at says it exactly.
  if (query.createdAfter !== undefined)
    where.push(`o.id >= ${at(idFloorAt(ID_PREFIXES.operation, query.createdAfter))} AND o.created_at >= ${at(query.createdAfter)}`);
  if (query.createdBefore !== undefined)
    where.push(`o.id < ${at(idFloorAt(ID_PREFIXES.operation, query.createdBefore))} AND o.created_at < ${at(query.createdBefore)}`);
  if (query.beforeId !== undefined) where.push(`o.id < ${at(query.beforeId)}`);
  if (query.q !== undefined) {
    // Ids found by index: the operation's own, and those an idempotency key created, as long as they are kept (their
    // `created` event names the key: migration 0027; the tenant condition above scopes them) or while the key lives
    // (operations older than their history). `= ANY (ARRAY(…))`, each id a probe of the primary key: as `IN (…)` the
    // planner, guessing the key matches many events, walked the whole primary key (175 ms at 342,000 operations).
    const q = at(query.q);
    const ofTenant = query.tenant === null ? '' : ' AND k.tenant = $1';
    where.push(
      `o.id = ANY (ARRAY(SELECT ${q}::text UNION ALL SELECT k.operation_id FROM idempotency_keys k WHERE k.key = ${q}${ofTenant}` +
        ` UNION ALL SELECT h.operation_id FROM operation_history h WHERE h.kind = 'created' AND h.data ->> 'idempotency_key' = ${q}))`,
    );
  }
  const filter = where.length === 0 ? '' : ` WHERE ${where.join(' AND ')}`;
  return [`SELECT ${LISTED_COLUMNS} FROM operations o${filter} ORDER BY o.id DESC LIMIT ${at(query.limit)}`, params];
}

export async function listOperations(q: Queryable, query: OperationListQuery): Promise<Operation[]> {
  const [sql, params] = listStatement(query);
  return (await q.query<OperationRow>(sql, params)).map(toOperation);
}

/** Rows of operation_counts a read may sum before it folds them (each status change of each statement appends some). */
const FOLD_AFTER_ROWS = 512;

// Params: $1 tenant (the tenant's variant). `rows`: the rows summed, which says when to fold.
const COUNTS_OF_TENANT = `SELECT type, status, sum(n)::bigint AS count, sum(count(*)) OVER ()::bigint AS rows FROM operation_counts
WHERE tenant = $1 GROUP BY type, status ORDER BY type, status`;
const COUNTS_OF_ALL = `SELECT type, status, sum(n)::bigint AS count, sum(count(*)) OVER ()::bigint AS rows FROM operation_counts
GROUP BY type, status ORDER BY type, status`;

// One folder at a time (per schema): two would each re-insert what the other deleted. Rows appended meanwhile are not in
// the DELETE's snapshot, so they stay as they are.
const FOLD_LOCK = `SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || '.operation_counts')) AS got`;
const FOLD = `WITH gone AS (DELETE FROM operation_counts RETURNING tenant, type, status, n)
INSERT INTO operation_counts (tenant, type, status, n)
SELECT tenant, type, status, sum(n) FROM gone GROUP BY tenant, type, status HAVING sum(n) <> 0`;

export async function countOperations(db: PostgresDatabase, tenant: string | null): Promise<OperationCount[]> {
  const rows = await db.query<{ type: string; status: OperationStatus; count: number; rows: number }>(
    tenant === null ? COUNTS_OF_ALL : COUNTS_OF_TENANT,
    tenant === null ? [] : [tenant],
  );
  if ((rows[0]?.rows ?? 0) > FOLD_AFTER_ROWS) await foldCounts(db);
  return rows.filter((r) => r.count > 0).map((r) => ({ type: r.type, status: r.status, count: r.count }));
}

/** Fold the appended changes into one row per count (skipped while another node folds). */
export function foldCounts(db: PostgresDatabase): Promise<void> {
  return db.transaction(async (tx) => {
    const [lock] = await tx.query<{ got: boolean }>(FOLD_LOCK);
    if (lock?.got === true) await tx.query(FOLD);
  });
}

// Params: $1 since, $2 bucket ms, [$3 tenant]: completed and failed per type and bucket of the window.
const FINISHED = `SELECT type, status, (finished_at - $1) / $2 AS bucket, count(*)::bigint AS count FROM operations
WHERE finished_at >= $1 AND status IN ('completed', 'failed') GROUP BY type, status, bucket`;
const FINISHED_OF_TENANT = `SELECT type, status, (finished_at - $1) / $2 AS bucket, count(*)::bigint AS count FROM operations
WHERE finished_at >= $1 AND status IN ('completed', 'failed') AND tenant = $3 GROUP BY type, status, bucket`;
// Params: $1 since, $2 limit, [$3 tenant]: first attempts started in the window, from when they were due: the latest
// that ended, and those running (a retried one's started_at is its last attempt's, so only first attempts say how long
// the queue took).
const PICKUPS = `(SELECT type, started_at - run_at AS wait FROM operations
  WHERE finished_at >= $1 AND attempt = 1 AND started_at >= $1 ORDER BY finished_at DESC LIMIT $2)
UNION ALL SELECT type, started_at - run_at FROM operations WHERE status = 'processing' AND attempt = 1 AND started_at >= $1`;
const PICKUPS_OF_TENANT = `(SELECT type, started_at - run_at AS wait FROM operations
  WHERE finished_at >= $1 AND attempt = 1 AND started_at >= $1 AND tenant = $3 ORDER BY finished_at DESC LIMIT $2)
UNION ALL SELECT type, started_at - run_at FROM operations WHERE status = 'processing' AND attempt = 1 AND started_at >= $1 AND tenant = $3`;

// Params: $1 since, $2 limit, [$3 tenant]: the latest completed in the window with the ETA their create's reply gave
// (history's created event; one probe of its primary key each), leaving out redriven ones (their first ETA was for
// another run).
const ETAS = `SELECT o.type, o.created_at, o.finished_at, (h.data ->> 'estimated_completion_at')::float8 AS eta FROM operations o
JOIN operation_history h ON h.operation_id = o.id AND h.kind = 'created'
WHERE o.finished_at >= $1 AND o.status = 'completed' AND h.data ->> 'estimated_completion_at' IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM operation_history r WHERE r.operation_id = o.id AND r.kind = 'redriven')
ORDER BY o.finished_at DESC LIMIT $2`;
const ETAS_OF_TENANT = `SELECT o.type, o.created_at, o.finished_at, (h.data ->> 'estimated_completion_at')::float8 AS eta FROM operations o
JOIN operation_history h ON h.operation_id = o.id AND h.kind = 'created'
WHERE o.finished_at >= $1 AND o.status = 'completed' AND o.tenant = $3 AND h.data ->> 'estimated_completion_at' IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM operation_history r WHERE r.operation_id = o.id AND r.kind = 'redriven')
ORDER BY o.finished_at DESC LIMIT $2`;

export async function operationStats(q: Queryable, query: OperationStatsQuery): Promise<OperationStats> {
  const tenant = query.tenant === null ? [] : [query.tenant];
  const [finished, pickups, etas] = await Promise.all([
    q.query<{ type: string; status: 'completed' | 'failed'; bucket: number; count: number }>(query.tenant === null ? FINISHED : FINISHED_OF_TENANT, [
      query.since,
      query.bucketMs,
      ...tenant,
    ]),
    q.query<{ type: string; wait: number }>(query.tenant === null ? PICKUPS : PICKUPS_OF_TENANT, [query.since, query.samples, ...tenant]),
    q.query<{ type: string; created_at: number; finished_at: number; eta: number }>(query.tenant === null ? ETAS : ETAS_OF_TENANT, [
      query.since,
      query.samples,
      ...tenant,
    ]),
  ]);
  return {
    finished: finished.map((r) => ({ type: r.type, status: r.status, bucket: Number(r.bucket), count: Number(r.count) })),
    pickups: pickups.map((r) => ({ type: r.type, waitMs: Math.max(0, Number(r.wait)) })),
    etas: etas.map((r) => ({ type: r.type, createdAt: r.created_at, finishedAt: r.finished_at, estimatedAt: Number(r.eta) })),
  };
}
