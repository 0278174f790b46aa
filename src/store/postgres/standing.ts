// Owns: the PostgreSQL reads of where a pending operation stands: its queue position and its type's running attempts.
// Not here: keeping the pending counts (queue-depth.ts); what the standing means for the ETA (domain/eta.ts).
// Invariant: the position is exact, read in one statement.

import type { Operation } from '../../domain/operation.ts';
import type { RunningAttempt } from '../../domain/eta.ts';
import type { QueueStanding, QueueStandingParams, StandingReadParams } from '../store.ts';
import type { Queryable } from './database.ts';
import { OPERATION_COLUMNS, toOperation, type OperationRow } from './operations.ts';

/**
 * Counting ahead stops here: past it the operation is far down the queue, where counting what is behind it (nothing,
 * at the tail where new operations land) and taking that from the type's pending count is the shorter walk.
 */
const DIRECT_COUNT_CAP = 128;

const PENDING_OF_T = `FROM operations p WHERE p.status = 'pending' AND p.type = t.type`;

/** All pending of `t`'s type but `t`, less those of a higher priority not due at `now`: add what is behind `t` to get 0. */
function depthLessFutureHigher(now: string): string {
  return `(SELECT coalesce(sum(q.pending), 0) FROM queue_depth q WHERE q.type = t.type) - 1
    - (SELECT count(*) ${PENDING_OF_T} AND p.run_at > ${now} AND p.priority > t.priority)`;
}

/**
 * The position of pending operation `t` (columns id, type, priority, run_at) at `now`: runnable pending operations of its
 * type ahead of it in claim order (priority desc, run_at, id). Counted directly up to the cap; past it, for a due
 * operation, all pending of the type but itself, less those behind it, less those of a higher priority not due yet.
 */
function positionFromHead(now: string): string {
  const higherDue = `${PENDING_OF_T} AND p.priority > t.priority AND p.run_at <= ${now}`;
  const equalBefore = `${PENDING_OF_T} AND p.priority = t.priority AND (p.run_at, p.id) < (t.run_at, t.id) AND p.run_at <= ${now}`;
  return `(SELECT CASE
  WHEN d.n < ${DIRECT_COUNT_CAP} THEN d.n
  WHEN t.run_at <= ${now} THEN ${depthLessFutureHigher(now)}
    - (SELECT count(*) ${PENDING_OF_T} AND p.priority < t.priority)
    - (SELECT count(*) ${PENDING_OF_T} AND p.priority = t.priority AND (p.run_at, p.id) > (t.run_at, t.id))
  ELSE (SELECT count(*) ${higherDue}) + (SELECT count(*) ${equalBefore})
END FROM (SELECT count(*) AS n FROM ((SELECT 1 ${higherDue} LIMIT ${DIRECT_COUNT_CAP}) UNION ALL (SELECT 1 ${equalBefore} LIMIT ${DIRECT_COUNT_CAP})) x) d)`;
}

/** The same position, counting from the tail first (where a just inserted operation is): only the walk differs. */
function positionFromTail(now: string): string {
  const lower = `${PENDING_OF_T} AND p.priority < t.priority`;
  const equalAfter = `${PENDING_OF_T} AND p.priority = t.priority AND (p.run_at, p.id) > (t.run_at, t.id)`;
  return `(SELECT CASE
  WHEN b.n < ${DIRECT_COUNT_CAP} AND t.run_at <= ${now} THEN ${depthLessFutureHigher(now)} - b.n
  ELSE ${positionFromHead(now)}
END FROM (SELECT count(*) AS n FROM ((SELECT 1 ${lower} LIMIT ${DIRECT_COUNT_CAP}) UNION ALL (SELECT 1 ${equalAfter} LIMIT ${DIRECT_COUNT_CAP})) x) b)`;
}

/** Running attempts of `t`'s type, earliest first, as a JSON array of [started_at, progress, updated_at]. */
function runningOf(limit: string): string {
  return `(SELECT coalesce(json_agg(json_build_array(r.started_at, r.progress, r.updated_at) ORDER BY r.started_at), '[]')
  FROM (SELECT started_at, progress, updated_at FROM operations
        WHERE status = 'processing' AND type = t.type ORDER BY started_at LIMIT ${limit}) r)`;
}

// Params: $1 id, $2 type, $3 priority, $4 run at, $5 now, $6 running limit.
const standingSql = (position: string) => `
SELECT greatest(0, ${position}) AS position, ${runningOf('$6')} AS running
FROM (SELECT $1::text AS id, $2::text AS type, $3::int AS priority, $4::bigint AS run_at) t`;
const QUEUE_STANDING = standingSql(positionFromHead('$5'));
const QUEUE_STANDING_FROM_TAIL = standingSql(positionFromTail('$5'));

// Params: $1 id, $2 tenant, $3 now, $4 running limits (a JSON object: type → limit).
const GET_WITH_STANDING = `
WITH t AS (SELECT ${OPERATION_COLUMNS} FROM operations o WHERE o.id = $1 AND o.tenant = $2)
SELECT t.*,
  CASE WHEN t.status = 'pending' THEN greatest(0, ${positionFromHead('$3')}) END AS queue_position,
  CASE WHEN t.status = 'pending' THEN ${runningOf("coalesce(($4::jsonb ->> t.type)::int, 0)")} END AS queue_running
FROM t`;

type RunningWire = [number, number | null, number];

function toRunning(rows: readonly RunningWire[]): RunningAttempt[] {
  return rows.map(([startedAt, progress, progressAt]) => ({ startedAt, progress, progressAt }));
}

export async function queueStanding(q: Queryable, params: QueueStandingParams): Promise<QueueStanding | null> {
  const op = params.operation;
  if (op.status !== 'pending') return null;
  const [row] = await q.query<{ position: number; running: RunningWire[] }>(params.fromTail === true ? QUEUE_STANDING_FROM_TAIL : QUEUE_STANDING, [
    op.id, op.type, op.priority, op.runAt, params.now, Math.max(0, params.runningLimit),
  ]);
  return { position: Number(row!.position), running: toRunning(row!.running) };
}

export async function getWithStanding(q: Queryable, params: StandingReadParams): Promise<{ operation: Operation; standing: QueueStanding | null } | null> {
  const limits = JSON.stringify(Object.fromEntries(params.runningLimits));
  const [row] = await q.query<OperationRow & { queue_position: number | null; queue_running: RunningWire[] | null }>(
    GET_WITH_STANDING, [params.id, params.tenant, params.now, limits]);
  if (row === undefined) return null;
  const standing = row.queue_position === null ? null : { position: Number(row.queue_position), running: toRunning(row.queue_running ?? []) };
  return { operation: toOperation(row), standing };
}
