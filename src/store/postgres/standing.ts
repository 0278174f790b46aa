// Owns: where a pending operation stands on PostgreSQL: the one statement fragment that keeps the pending counts per type,
// the reads of queue positions (the queue_position function of migration 0003), of the running attempts of its type (and
// of the types it shares a global limit with, with their counts ahead of it), of the costs ahead (migration 0006) and of
// its concurrency key's own queue.
// Not here: what the standing means for the ETA (domain/eta.ts); the reference model (domain/queue.ts).
// Invariant: every statement that moves operations into or out of pending carries depthChange, so the counts change in
// the same statement as the operations (the store contract's walk checks them); a position is exact, read in one statement.

import type { Operation } from '../../domain/operation.ts';
import type { RunningAttempt } from '../../domain/eta.ts';
import { KEY_AHEAD_COUNTED, type QueueStanding, type QueueStandingParams, type StandingReadParams, type StandingScope } from '../store.ts';
import type { PostgresDatabase, Queryable, SequencedStatement } from './database.ts';
import { anchorOf, OPERATION_COLUMNS, toOperation, type OperationRow } from './rows.ts';
import { fairPositionOf, OTHER_TENANTS } from './fair-position.ts';

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

// The fragments below read from `t` (the operation: type, priority, run_at, id, tenant, concurrency_key) and a scope
// (StandingScope as JSON: {"running": {type: limit}, "shared": bool, "costs": {type: count}, "keys": {type: key limit}}).

/** A running attempt's columns, in the order toRunning reads them (as a row, and as the JSON array of one). */
const RUNNING_COLUMNS = 'type, started_at, progress, updated_at, cost, progress_anchor, progress_anchor_at';
const RUNNING_ROW = `json_build_array(${RUNNING_COLUMNS.split(', ')
  .map((c) => `r.${c}`)
  .join(', ')})`;

/** Running attempts of `t`'s type (of every type in the scope when shared), earliest first, as a JSON array of rows. */
function runningOf(scope: string): string {
  return `(SELECT coalesce(json_agg(${RUNNING_ROW}
    ORDER BY r.started_at), '[]')
  FROM jsonb_each_text(${scope} -> 'running') l(type, lim)
  CROSS JOIN LATERAL (SELECT ${RUNNING_COLUMNS} FROM operations
        WHERE status = 'processing' AND type = l.type ORDER BY started_at LIMIT l.lim::int) r
  WHERE l.type = t.type OR (${scope} ->> 'shared')::boolean)`;
}

/** When shared: per other type of the scope, its runnable pending operations ahead of `t` (a type with none pending: 0, unread). */
function othersAheadOf(scope: string, now: string, fromTail: string): string {
  return `CASE WHEN (${scope} ->> 'shared')::boolean THEN (SELECT coalesce(json_object_agg(l.type,
    CASE WHEN (SELECT coalesce(sum(d.pending), 0) FROM queue_depth d WHERE d.type = l.type) > 0
      THEN queue_position_among(l.type, t.priority, t.run_at, t.id, ${now}, ${fromTail}) ELSE 0 END), '{}')
  FROM jsonb_each_text(${scope} -> 'running') l(type, lim) WHERE l.type <> t.type AND l.lim::int > 0) END`;
}

/** The costs of the operations of `t`'s type ahead of it, nearest first, as many as the scope asks for its type. */
function costsAheadOf(scope: string, now: string): string {
  return `CASE WHEN coalesce((${scope} -> 'costs' ->> t.type)::int, 0) > 0
    THEN queue_costs_ahead(t.type, t.priority, t.run_at, t.id, ${now}, (${scope} -> 'costs' ->> t.type)::int) END`;
}

/**
 * Its concurrency key's own queue, when it has a key and the scope a key limit for its type (else null, nothing read):
 * [the key's runnable operations ahead of it in claim order, its running attempts as runningOf's rows]. Probes of the
 * key's rows only (operations_fair, operations_key_running: its `concurrency_key <> ''` is restated so the planner may use
 * it). For one not due yet, ahead are every due one of its priority
 * and above (their run_at is before its own).
 */
function keyStandingOf(scope: string, now: string): string {
  const limit = `coalesce((${scope} -> 'keys' ->> t.type)::int, 0)`;
  return `CASE WHEN t.concurrency_key <> '' AND t.tenant IS NOT NULL AND ${limit} > 0 THEN json_build_array(
    (SELECT count(*) FROM (SELECT FROM operations k WHERE k.status = 'pending' AND k.type = t.type AND k.tenant = t.tenant
       AND k.concurrency_key = t.concurrency_key AND k.run_at <= ${now}
       AND (k.priority > t.priority OR (k.priority = t.priority AND (k.run_at, k.id) < (t.run_at, t.id))) LIMIT ${KEY_AHEAD_COUNTED}) a),
    (SELECT coalesce(json_agg(${RUNNING_ROW}
       ORDER BY r.started_at), '[]')
     FROM (SELECT ${RUNNING_COLUMNS} FROM operations
       WHERE status = 'processing' AND type = t.type AND tenant = t.tenant AND concurrency_key = t.concurrency_key AND concurrency_key <> ''
       ORDER BY started_at LIMIT ${limit}) r)) END`;
}

// Params: $1 id, $2 tenant, $3 now, $4 scope (JSON). It keeps its plan, so it leaves out the key's standing (KEY_STANDING).
const GET_WITH_STANDING = `
WITH t AS (SELECT ${OPERATION_COLUMNS} FROM operations o WHERE o.id = $1 AND ($2::text IS NULL OR o.tenant = $2))
SELECT t.*,
  CASE WHEN t.status = 'pending' THEN queue_position(t.type, t.priority, t.run_at, t.id, $3, false) END AS queue_position,
  CASE WHEN t.status = 'pending' THEN ${runningOf('$4::jsonb')} END AS queue_running,
  CASE WHEN t.status = 'pending' THEN ${costsAheadOf('$4::jsonb', '$3')} END AS queue_costs,
  CASE WHEN t.status = 'pending' THEN ${othersAheadOf('$4::jsonb', '$3', 'false')} END AS queue_others,
  t.status = 'pending' AND ${OTHER_TENANTS} AS queue_turns
FROM t`;

// Params: $1 type, $2 tenant, $3 concurrency key, $4 priority, $5 run at, $6 id, $7 now, $8 scope (JSON). A pending
// operation's key standing (keyStandingOf), planned per call as the keyed standings are (queueStandingsOf): in a plan
// kept from statistics where every pending operation had the same key, the count walked the type's whole queue.
const KEY_STANDING = `
SELECT ${keyStandingOf('$8::jsonb', '$7')} AS key
FROM (SELECT $1::text AS type, $2::text AS tenant, $3::text AS concurrency_key, $4::int AS priority, $5::bigint AS run_at, $6::text AS id) t`;

type RunningWire = [string, number, number | null, number, number | null, number | null, number | null];

function toRunning(rows: readonly RunningWire[]): RunningAttempt[] {
  return rows.map(([type, startedAt, progress, progressAt, cost, anchor, anchorAt]) => ({
    type,
    startedAt,
    progress,
    progressAt,
    cost,
    anchor: anchorOf(anchor, anchorAt),
  }));
}

// Params: parallel arrays $1 ids, $2 types, $3 priorities, $4 run at, $5 from the tail, $6 scopes (JSON), $8 tenants
// (null: not known), $9 concurrency keys ('': none); $7 now. The standings of a group of pending operations, in their
// order; `turns`: other tenants wait in its queue, so its position is the fair one (fair-position.ts), read after.
// Two variants: with the key's standing (keyStandingOf) for a group where an operation has a concurrency key, and
// without, which keeps its plan (every plan of it walks indexes, one made on an empty table too); the count of a key's
// operations ahead, planned on an empty table, walked the type's whole queue on operations_claim filtering on the key.
const queueStandingsOf = (keyed: boolean) => `
SELECT queue_position(t.type, t.priority, t.run_at, t.id, $7, t.from_tail) AS position,
  ${runningOf('t.scope')} AS running,
  ${costsAheadOf('t.scope', '$7')} AS costs,
  ${othersAheadOf('t.scope', '$7', 't.from_tail')} AS others,
  ${keyed ? keyStandingOf('t.scope', '$7') : 'NULL::json'} AS key,
  coalesce(${OTHER_TENANTS}, false) AS turns
FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::bool[], $6::jsonb[], $8::text[], $9::text[]) WITH ORDINALITY
  AS t(id, type, priority, run_at, from_tail, scope, tenant, concurrency_key, n)
ORDER BY t.n`;
const QUEUE_STANDINGS_KEYED = queueStandingsOf(true);
const QUEUE_STANDINGS = queueStandingsOf(false);

export interface StandingRow {
  readonly position: number;
  readonly running: RunningWire[];
  readonly costs: Array<number | null> | null;
  readonly others: Record<string, number> | null;
  /** Its key's standing (keyStandingOf), null without one. */
  readonly key?: [number, RunningWire[]] | null;
  readonly turns?: boolean | null;
}

/**
 * Fairness: the standing with its position counted with the turns between tenants, when the row says others wait (one
 * more round trip then; none with one tenant). The costs ahead stay those of the type's claim order, at most position.
 */
export async function withTurns(q: Queryable, standing: QueueStanding, turns: boolean | null | undefined, params: QueueStandingParams): Promise<QueueStanding> {
  const tenant = params.operation.tenant;
  if (turns !== true || tenant === undefined) return standing;
  const position = await fairPositionOf(q, { ...params.operation, tenant }, params.now, params.scope.tenantWeights);
  const fair: { -readonly [K in keyof QueueStanding]: QueueStanding[K] } = { ...standing, position };
  if (standing.aheadCosts !== undefined) fair.aheadCosts = standing.aheadCosts.slice(0, position);
  return fair;
}

export function toStanding(row: StandingRow): QueueStanding {
  const position = Number(row.position);
  const standing: { -readonly [K in keyof QueueStanding]: QueueStanding[K] } = { position, running: toRunning(row.running) };
  if (row.costs !== null && row.costs.length > 0) standing.aheadCosts = row.costs.slice(0, position);
  if (row.others !== null) standing.aheadOfOtherTypes = Object.fromEntries(Object.entries(row.others).map(([type, n]) => [type, Number(n)]));
  if (row.key !== null && row.key !== undefined) standing.key = { ahead: Number(row.key[0]), running: toRunning(row.key[1]) };
  return standing;
}

/** A scope as the statements take it (JSON), made once per scope: the service's changes only with the nodes' limits. */
const scopesJson = new WeakMap<StandingScope, string>();

function scopeJson(scope: StandingScope): string {
  let json = scopesJson.get(scope);
  if (json === undefined) {
    json = JSON.stringify({
      running: Object.fromEntries(scope.runningLimits),
      shared: scope.shared,
      costs: Object.fromEntries(scope.costsAhead),
      keys: Object.fromEntries(scope.keyLimits ?? []),
    });
    scopesJson.set(scope, json);
  }
  return json;
}

/**
 * The statement reading the standings of pending operations, one row each, in order; `genericPlans` when it may keep its
 * plan (database.ts: StatementOptions).
 */
export function standingsStatement(pending: readonly QueueStandingParams[]): SequencedStatement {
  const column = <T>(pick: (p: QueueStandingParams) => T) => pending.map(pick);
  const keyed = pending.some((p) => (p.operation.concurrencyKey ?? '') !== '');
  return [
    keyed ? QUEUE_STANDINGS_KEYED : QUEUE_STANDINGS,
    [
      column((p) => p.operation.id),
      column((p) => p.operation.type),
      column((p) => p.operation.priority),
      column((p) => p.operation.runAt),
      column((p) => p.fromTail === true),
      column((p) => scopeJson(p.scope)),
      Math.max(...column((p) => p.now)),
      column((p) => p.operation.tenant ?? null),
      column((p) => p.operation.concurrencyKey ?? ''),
    ],
    { genericPlans: !keyed },
  ];
}

/** Standings of a group (null for those not pending), in one statement. */
export async function queueStandings(db: PostgresDatabase, group: readonly QueueStandingParams[]): Promise<Array<QueueStanding | null>> {
  const pending = group.filter((p) => p.operation.status === 'pending');
  if (pending.length === 0) return group.map(() => null);
  const rows = await db.query<StandingRow>(...standingsStatement(pending));
  const byParams = new Map(await Promise.all(pending.map(async (p, i) => [p, await withTurns(db, toStanding(rows[i]!), rows[i]!.turns, p)] as const)));
  return group.map((p) => byParams.get(p) ?? null);
}

/**
 * A status read: one statement that keeps its plan (database.ts: StatementOptions), since it is the most frequent call of
 * all; a pending operation with a key its type limits reads its key's standing with a second (KEY_STANDING).
 */
export async function getWithStanding(
  db: PostgresDatabase,
  params: StandingReadParams,
): Promise<{ operation: Operation; standing: QueueStanding | null } | null> {
  const [row] = await db.query<
    OperationRow & {
      queue_position: number | null;
      queue_running: RunningWire[] | null;
      queue_costs: StandingRow['costs'];
      queue_others: StandingRow['others'];
      queue_turns: boolean | null;
    }
  >(GET_WITH_STANDING, [params.id, params.tenant, params.now, scopeJson(params.scope)], { genericPlans: true });
  if (row === undefined) return null;
  const operation = toOperation(row);
  if (row.queue_position === null) return { operation, standing: null };
  const key = await keyStandingRead(db, operation, params);
  const standing = await withTurns(
    db,
    toStanding({ position: row.queue_position, running: row.queue_running ?? [], costs: row.queue_costs, others: row.queue_others, key }),
    row.queue_turns,
    { operation, now: params.now, scope: params.scope },
  );
  return { operation, standing };
}

/** A pending operation's key standing, when it has a key its scope limits (else null, nothing read). */
async function keyStandingRead(db: PostgresDatabase, op: Operation, params: StandingReadParams): Promise<StandingRow['key']> {
  if ((op.concurrencyKey ?? '') === '' || (params.scope.keyLimits?.get(op.type) ?? 0) <= 0) return null;
  const [row] = await db.query<{ key: StandingRow['key'] }>(KEY_STANDING, [
    op.type,
    op.tenant,
    op.concurrencyKey,
    op.priority,
    op.runAt,
    op.id,
    params.now,
    scopeJson(params.scope),
  ]);
  return row?.key ?? null;
}
