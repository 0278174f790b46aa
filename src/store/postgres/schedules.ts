// Owns: the PostgreSQL queries of recurring schedules: create, read, list, pause/resume, delete, the declared ones kept
// in step, the due ones, and firing a tick. Not here: inserting the tick's operation (operations.ts, called inside the
// same transaction), when a tick is due or which one fires (domain/schedule.ts).
// Invariant: a tick fires in one transaction that advances next_run_at only from the value the caller read (nodes firing
// at once wait on the row, and all but the first find it moved), records the tick under its (schedule_id, tick) key and
// inserts its operation: one operation per tick across all nodes.

import type { Operation } from '../../domain/operation.ts';
import { declaredKeys } from '../../domain/declared-schedules.ts';
import type { Schedule, ScheduleOrigin, ScheduleTick } from '../../domain/schedule.ts';
import type {
  DeclaredScheduleDraft,
  ScheduleCreateDraft,
  ScheduleCreateResult,
  ScheduleDeleteOutcome,
  ScheduleDraft,
  ScheduleFireParams,
  ScheduleListQuery,
  StoreEvent,
} from '../store.ts';
import type { PostgresDatabase, Queryable } from './database.ts';
import { insertOperation } from './operations.ts';

/** Ticks kept per schedule, newest first: what GET /schedules/{id} shows. Older ones are deleted as new ones fire. */
export const TICKS_KEPT = 20;

const COLUMNS =
  'id, tenant, type, input, cron, timezone, webhook_url, priority, paused, next_run_at, last_run_at, skipped_ticks, origin, created_at, updated_at';

interface ScheduleRow {
  id: string;
  tenant: string;
  type: string;
  input: string;
  cron: string;
  timezone: string;
  webhook_url: string | null;
  priority: number;
  paused: boolean;
  next_run_at: number | null;
  last_run_at: number | null;
  skipped_ticks: number;
  origin: string;
  created_at: number;
  updated_at: number;
}

// Params: $1 id, $2 tenant, $3 type, $4 input (JSON text), $5 cron, $6 timezone, $7 webhook url, $8 next run at, $9 now,
// $10 idempotency key, $11 request fingerprint, $12 priority. Nothing (no row) when the tenant has a schedule under the
// key already (one being created at the same moment is waited for).
const INSERT = `INSERT INTO schedules (id, tenant, type, input, cron, timezone, webhook_url, priority, paused, next_run_at, skipped_ticks, origin,
    idempotency_key, request_fingerprint, created_at, updated_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $12, false, $8, 0, 'api', $10, $11, $9, $9)
  ON CONFLICT (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING ${COLUMNS}`;

// Params: $1 tenant, $2 idempotency key.
const BY_KEY = `SELECT ${COLUMNS}, request_fingerprint FROM schedules WHERE tenant = $1 AND idempotency_key = $2`;

// Params: $1 tenant. Taken by a create that counts the tenant's schedules, released at its commit: creates of one
// tenant at once, on any node, count one after another (a collision of two tenants' hashes only orders theirs too).
const LOCK_TENANT_SCHEDULES = `SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.schedules.' || $1::text))`;
// Params: $1 tenant. On schedules_tenant: the tenant's rows alone.
const COUNT_OF_TENANT = `SELECT count(*)::int AS n FROM schedules WHERE tenant = $1 AND origin = 'api'`;

// The same and $10 the declared key. A changed expression or zone starts from its new next tick; paused stays.
const UPSERT_DECLARED = `INSERT INTO schedules (id, tenant, type, input, cron, timezone, webhook_url, paused, next_run_at, skipped_ticks, origin, declared_key, created_at, updated_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, false, $8, 0, 'task', $10, $9, $9)
  ON CONFLICT (declared_key) DO UPDATE SET
    next_run_at = CASE WHEN schedules.cron IS DISTINCT FROM excluded.cron OR schedules.timezone IS DISTINCT FROM excluded.timezone
      THEN excluded.next_run_at ELSE schedules.next_run_at END,
    updated_at = CASE WHEN (schedules.cron, schedules.timezone, schedules.input, schedules.webhook_url, schedules.tenant)
      IS DISTINCT FROM (excluded.cron, excluded.timezone, excluded.input, excluded.webhook_url, excluded.tenant) THEN excluded.updated_at ELSE schedules.updated_at END,
    tenant = excluded.tenant, type = excluded.type, input = excluded.input, cron = excluded.cron, timezone = excluded.timezone,
    webhook_url = excluded.webhook_url`;

// Params: $1 the declared keys that stay.
// The declared rows, and what each declares.
// In key order, so the pairing does not follow the table's physical order (which a pause's update changes).
const DECLARED_ROWS = `SELECT declared_key, type, cron, timezone, input FROM schedules WHERE origin = 'task' ORDER BY declared_key COLLATE "C"`;
// Taken by each node's start-up sync, released at its commit: the syncs of nodes starting at once go one after another.
const LOCK_DECLARED = `SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.declared_schedules'))`;
const DELETE_UNDECLARED = `DELETE FROM schedules WHERE origin = 'task' AND NOT (declared_key = ANY ($1::text[]))`;

// Params: $1 id, $2 tenant (null: any).
const GET = `SELECT ${COLUMNS} FROM schedules WHERE id = $1 AND ($2::text IS NULL OR tenant = $2)`;

// Params: $1 tenant (null: every tenant's), $2 before id ('~' sorts after every id: from the top), $3 limit.
const LIST = `SELECT ${COLUMNS} FROM schedules WHERE ($1::text IS NULL OR tenant = $1) AND id < $2 ORDER BY id DESC LIMIT $3`;

// Params: $1 id, $2 tenant, $3 paused, $4 next run at (on resume), $5 now. Pausing keeps next_run_at, unread while paused.
const SET_PAUSED = `UPDATE schedules SET
    next_run_at = CASE WHEN paused AND NOT $3::boolean THEN $4::bigint ELSE next_run_at END,
    updated_at = CASE WHEN paused <> $3::boolean THEN $5::bigint ELSE updated_at END,
    paused = $3::boolean
  WHERE id = $1 AND tenant = $2 RETURNING ${COLUMNS}`;

// Params: $1 id, $2 tenant. The outcome in one statement: deleted, declared (kept), or no row (not found). An api row
// `target` saw that `gone` did not delete was deleted by a concurrent statement (the snapshot still holds it): not found.
const DELETE = `WITH target AS (SELECT id, origin FROM schedules WHERE id = $1 AND tenant = $2),
  gone AS (DELETE FROM schedules s USING target t WHERE s.id = t.id AND t.origin = 'api' RETURNING s.id)
SELECT CASE WHEN EXISTS (SELECT 1 FROM gone) THEN 'deleted' ELSE 'declared' END AS outcome FROM target
WHERE EXISTS (SELECT 1 FROM gone) OR origin <> 'api'`;

// Params: $1 id, $2 limit.
const TICKS = `SELECT tick, operation_id, skipped, fired_at FROM schedule_ticks WHERE schedule_id = $1 ORDER BY tick DESC LIMIT $2`;

// Params: $1 now, $2 limit.
const DUE = `SELECT ${COLUMNS} FROM schedules WHERE NOT paused AND next_run_at IS NOT NULL AND next_run_at <= $1 ORDER BY next_run_at LIMIT $2`;

const NEXT_RUN_AT = `SELECT min(next_run_at) AS at FROM schedules WHERE NOT paused AND next_run_at IS NOT NULL`;

// Params: $1 id, $2 expected next run at, $3 tick, $4 skipped, $5 next run at, $6 now. A node that lost the race waits
// for the winner's commit, then finds next_run_at moved and updates nothing.
const ADVANCE = `UPDATE schedules SET next_run_at = $5, last_run_at = $3, skipped_ticks = skipped_ticks + $4, updated_at = $6
  WHERE id = $1 AND NOT paused AND next_run_at = $2 RETURNING ${COLUMNS}`;

// Params: $1 schedule id, $2 tick, $3 operation id, $4 skipped, $5 now, $6 ticks kept. Older ticks of the schedule go.
const RECORD_TICK = `WITH recorded AS (
  INSERT INTO schedule_ticks (schedule_id, tick, operation_id, skipped, fired_at) VALUES ($1, $2, $3, $4, $5) RETURNING tick
)
DELETE FROM schedule_ticks WHERE schedule_id = $1
  AND tick < (SELECT tick FROM schedule_ticks WHERE schedule_id = $1 ORDER BY tick DESC OFFSET $6::int - 2 LIMIT 1)`;

function toSchedule(row: ScheduleRow): Schedule {
  return {
    id: row.id,
    tenant: row.tenant,
    type: row.type,
    input: JSON.parse(row.input) as unknown,
    cron: row.cron,
    timezone: row.timezone,
    webhookUrl: row.webhook_url,
    priority: row.priority,
    paused: row.paused,
    nextRunAt: row.next_run_at,
    lastRunAt: row.last_run_at,
    skippedTicks: row.skipped_ticks,
    origin: row.origin as ScheduleOrigin,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

const draftParams = (d: ScheduleDraft) => [d.id, d.tenant, d.type, JSON.stringify(d.input ?? null), d.cron, d.timezone, d.webhookUrl, d.nextRunAt, d.now];

const changedEvent = (schedule: Pick<Schedule, 'nextRunAt' | 'paused'>): StoreEvent => ({
  kind: 'schedule:changed',
  nextRunAt: schedule.paused ? null : schedule.nextRunAt,
});

/** Times a create under a key is tried when the schedule holding the key is deleted between the insert and the read. */
const KEYED_CREATE_TRIES = 3;

export async function createSchedule(db: PostgresDatabase, draft: ScheduleCreateDraft): Promise<ScheduleCreateResult> {
  const key = draft.idempotency?.key ?? null;
  const limit = draft.maxPerTenant ?? null;
  /** The tenant's schedule under the key, as a replay's answer; null without a key, or with none there now. */
  const existing = async (q: Queryable): Promise<ScheduleCreateResult | null> => {
    if (key === null) return null;
    const [row] = await q.query<ScheduleRow & { request_fingerprint: string }>(BY_KEY, [draft.tenant, key]);
    return row === undefined ? null : { kind: 'existing', schedule: toSchedule(row), fingerprint: row.request_fingerprint };
  };
  for (let tried = 1; ; tried++) {
    const result = await db.transaction(async (tx): Promise<ScheduleCreateResult | null> => {
      if (limit !== null) {
        await tx.query(LOCK_TENANT_SCHEDULES, [draft.tenant]);
        // A replay is answered whatever the count.
        const replay = await existing(tx);
        if (replay !== null) return replay;
        const [count] = await tx.query<{ n: number }>(COUNT_OF_TENANT, [draft.tenant]);
        if ((count?.n ?? 0) >= limit) return { kind: 'limit_reached', limit };
      }
      const [row] = await tx.query<ScheduleRow>(INSERT, [...draftParams(draft), key, draft.idempotency?.fingerprint ?? null, draft.priority]);
      if (row !== undefined) {
        const schedule = toSchedule(row);
        tx.events.push(changedEvent(schedule));
        return { kind: 'created', schedule };
      }
      // Another create took the key (without the lock: without a cap, or a node of an older version): its schedule, now
      // committed (the insert waited for it), or none if it was deleted since, and the create goes again.
      return existing(tx);
    });
    if (result !== null) return result;
    if (tried === KEYED_CREATE_TRIES) throw new Error(`the schedule holding Idempotency-Key ${key} kept going away while one was created under it`);
  }
}

export async function getSchedule(db: PostgresDatabase, params: { id: string; tenant: string | null }): Promise<Schedule | null> {
  const [row] = await db.query<ScheduleRow>(GET, [params.id, params.tenant]);
  return row === undefined ? null : toSchedule(row);
}

export async function listSchedules(db: PostgresDatabase, query: ScheduleListQuery): Promise<Schedule[]> {
  return (await db.query<ScheduleRow>(LIST, [query.tenant, query.beforeId ?? '~', query.limit])).map(toSchedule);
}

export async function setSchedulePaused(
  db: PostgresDatabase,
  params: { id: string; tenant: string; paused: boolean; nextRunAt: number | null; now: number },
): Promise<Schedule | null> {
  const [row] = await db.query<ScheduleRow>(SET_PAUSED, [params.id, params.tenant, params.paused, params.nextRunAt, params.now]);
  if (row === undefined) return null;
  const schedule = toSchedule(row);
  db.publish([changedEvent(schedule)]);
  return schedule;
}

export async function deleteSchedule(db: PostgresDatabase, params: { id: string; tenant: string }): Promise<ScheduleDeleteOutcome> {
  const [row] = await db.query<{ outcome: 'deleted' | 'declared' }>(DELETE, [params.id, params.tenant]);
  if (row === undefined) return 'not_found';
  if (row.outcome === 'deleted') db.publish([{ kind: 'schedule:changed', nextRunAt: null }]);
  return row.outcome;
}

export async function scheduleTicks(db: PostgresDatabase, params: { id: string; limit: number }): Promise<ScheduleTick[]> {
  const rows = await db.query<{ tick: number; operation_id: string | null; skipped: number; fired_at: number }>(TICKS, [params.id, params.limit]);
  return rows.map((r) => ({ tick: r.tick, operationId: r.operation_id, skipped: r.skipped, firedAt: r.fired_at }));
}

export async function syncDeclaredSchedules(db: PostgresDatabase, params: { schedules: readonly DeclaredScheduleDraft[]; now: number }): Promise<void> {
  await db.transaction(async (tx) => {
    // One node at a time: each matches the declarations to the rows it reads (domain/declared-schedules.ts), which a
    // node starting at once must not change in between.
    await tx.query(LOCK_DECLARED);
    const stored = (await tx.query<{ declared_key: string; type: string; cron: string; timezone: string; input: string }>(DECLARED_ROWS)).map((row) => ({
      key: row.declared_key,
      type: row.type,
      cron: row.cron,
      timezone: row.timezone,
      input: JSON.parse(row.input) as unknown,
    }));
    const keys = declaredKeys(params.schedules, stored);
    const drafts = params.schedules.map((draft, i) => ({ draft, key: keys[i]! })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    for (const { draft, key } of drafts) await tx.query(UPSERT_DECLARED, [...draftParams(draft), key]);
    await tx.query(DELETE_UNDECLARED, [keys]);
    tx.events.push({ kind: 'schedule:changed', nextRunAt: null });
  });
}

export async function dueSchedules(db: PostgresDatabase, params: { now: number; limit: number }): Promise<Schedule[]> {
  return (await db.query<ScheduleRow>(DUE, [params.now, params.limit])).map(toSchedule);
}

export async function nextScheduleRunAt(db: PostgresDatabase): Promise<number | null> {
  const [row] = await db.query<{ at: number | null }>(NEXT_RUN_AT);
  return row?.at ?? null;
}

export async function fireSchedule(db: PostgresDatabase, params: ScheduleFireParams): Promise<{ schedule: Schedule; operation: Operation | null } | null> {
  return db.transaction(async (tx) => {
    const [row] = await tx.query<ScheduleRow>(ADVANCE, [params.scheduleId, params.expected, params.tick, params.skipped, params.nextRunAt, params.now]);
    if (row === undefined) return null;
    const schedule = toSchedule(row);
    let operation: Operation | null = null;
    if (params.draft !== null) {
      // The store's own insert (pending counts, events), in this transaction: its events go out when it commits.
      const inserted = await insertOperation({ query: tx.query, publish: (events) => tx.events.push(...events) }, params.draft);
      if (inserted.kind !== 'created') throw new Error(`store answered ${inserted.kind} to a tick's insert`);
      operation = inserted.operation;
    }
    await tx.query(RECORD_TICK, [schedule.id, params.tick, operation?.id ?? null, params.skipped, params.now, TICKS_KEPT]);
    tx.events.push(changedEvent(schedule));
    return { schedule, operation };
  });
}
