// Owns: where a pending operation stands on PostgreSQL: the one statement fragment that keeps the pending counts per type,
// the reads of queue positions (the queue_position function of migration 0003) and of a type's running attempts.
// Not here: what the standing means for the ETA (domain/eta.ts); the reference model (domain/queue.ts).
// Invariant: every statement that moves operations into or out of pending carries depthChange, so the counts change in
// the same statement as the operations (the store contract's walk checks them); a position is exact, read in one statement.

import type { Operation } from '../../domain/operation.ts';
import type { RunningAttempt } from '../../domain/eta.ts';
import type { QueueStanding, QueueStandingParams, StandingReadParams } from '../store.ts';
import type { Queryable } from './database.ts';
import { OPERATION_COLUMNS, toOperation, type OperationRow } from './rows.ts';

/**
 * Rows per type in queue_depth; each statement adds to one drawn at random, so two writers wait on one row (until the
 * first commits) only by a 1-in-32 chance. Not by connection: two connections that shared a row would wait on each other
 * at every write.
 */
const DEPTH_SHARDS = 32;

/**
 * A CTE named `depth` adding (`+`) or taking (`-`) the rows of `source` (which has a `type` column) to the pending
 * counts. Types in order, so two writers never take two count rows in opposite orders.
 */
export function depthChange(source: string, sign: '+' | '-'): string {
  return `depth AS (
  INSERT INTO queue_depth (type, shard, pending)
  SELECT type, floor(random() * ${DEPTH_SHARDS})::int, ${sign}count(*) FROM ${source} GROUP BY type ORDER BY type
  ON CONFLICT (type, shard) DO UPDATE SET pending = queue_depth.pending + excluded.pending
)`;
}

/** Running attempts of `t`'s type, earliest first, as a JSON array of [started_at, progress, updated_at]. */
function runningOf(limit: string): string {
  return `(SELECT coalesce(json_agg(json_build_array(r.started_at, r.progress, r.updated_at) ORDER BY r.started_at), '[]')
  FROM (SELECT started_at, progress, updated_at FROM operations
        WHERE status = 'processing' AND type = t.type ORDER BY started_at LIMIT ${limit}) r)`;
}

// Params: $1 id, $2 tenant, $3 now, $4 running limits (a JSON object: type → limit).
const GET_WITH_STANDING = `
WITH t AS (SELECT ${OPERATION_COLUMNS} FROM operations o WHERE o.id = $1 AND o.tenant = $2)
SELECT t.*,
  CASE WHEN t.status = 'pending' THEN queue_position(t.type, t.priority, t.run_at, t.id, $3, false) END AS queue_position,
  CASE WHEN t.status = 'pending' THEN ${runningOf('coalesce(($4::jsonb ->> t.type)::int, 0)')} END AS queue_running
FROM t`;

type RunningWire = [number, number | null, number];

function toRunning(rows: readonly RunningWire[]): RunningAttempt[] {
  return rows.map(([startedAt, progress, progressAt]) => ({ startedAt, progress, progressAt }));
}

// Params: parallel arrays $1 ids, $2 types, $3 priorities, $4 run at, $5 from the tail, $6 running limits; $7 now.
// The standings of a group of pending operations, in their order.
const QUEUE_STANDINGS = `
SELECT queue_position(t.type, t.priority, t.run_at, t.id, $7, t.from_tail) AS position,
  ${runningOf('t.running_limit')} AS running
FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::bool[], $6::int[]) WITH ORDINALITY
  AS t(id, type, priority, run_at, from_tail, running_limit, n)
ORDER BY t.n`;

export interface StandingRow {
  readonly position: number;
  readonly running: RunningWire[];
}

export function toStanding(row: StandingRow): QueueStanding {
  return { position: Number(row.position), running: toRunning(row.running) };
}

/** The statement reading the standings of pending operations, one row each, in order. */
export function standingsStatement(pending: readonly QueueStandingParams[]): readonly [string, readonly unknown[]] {
  const column = <T>(pick: (p: QueueStandingParams) => T) => pending.map(pick);
  return [
    QUEUE_STANDINGS,
    [
      column((p) => p.operation.id),
      column((p) => p.operation.type),
      column((p) => p.operation.priority),
      column((p) => p.operation.runAt),
      column((p) => p.fromTail === true),
      column((p) => Math.max(0, p.runningLimit)),
      Math.max(...column((p) => p.now)),
    ],
  ];
}

/** Standings of a group (null for those not pending), in one statement. */
export async function queueStandings(q: Queryable, group: readonly QueueStandingParams[]): Promise<Array<QueueStanding | null>> {
  const pending = group.filter((p) => p.operation.status === 'pending');
  if (pending.length === 0) return group.map(() => null);
  const rows = await q.query<StandingRow>(...standingsStatement(pending));
  const byParams = new Map(pending.map((p, i) => [p, toStanding(rows[i]!)]));
  return group.map((p) => byParams.get(p) ?? null);
}

/** The running limits as the statement takes them (JSON), made once per map: the service's is fixed at start. */
const limitsJson = new WeakMap<ReadonlyMap<string, number>, string>();

export async function getWithStanding(q: Queryable, params: StandingReadParams): Promise<{ operation: Operation; standing: QueueStanding | null } | null> {
  let limits = limitsJson.get(params.runningLimits);
  if (limits === undefined) {
    limits = JSON.stringify(Object.fromEntries(params.runningLimits));
    limitsJson.set(params.runningLimits, limits);
  }
  const [row] = await q.query<OperationRow & { queue_position: number | null; queue_running: RunningWire[] | null }>(GET_WITH_STANDING, [
    params.id,
    params.tenant,
    params.now,
    limits,
  ]);
  if (row === undefined) return null;
  const standing = row.queue_position === null ? null : toStanding({ position: row.queue_position, running: row.queue_running ?? [] });
  return { operation: toOperation(row), standing };
}
