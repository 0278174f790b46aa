// Owns: the SQLite queries of recurring schedules: create, read, list, pause/resume, delete, the declared ones kept in
// step, the due ones, and firing a tick. Not here: inserting the tick's operation (operations.ts, called inside the same
// transaction), when a tick is due or which one fires (domain/schedule.ts).
// Invariant: a tick fires in one transaction that advances next_run_at only from the value the caller read, records the
// tick under its (schedule_id, tick) key and inserts its operation: one operation per tick, however many callers race.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
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
import { prepareAll, type GroupCommit } from './database.ts';
import type { SqliteOperations } from './operations.ts';
import type { Row } from './rows.ts';

/** Ticks kept per schedule, newest first: what GET /schedules/{id} shows. Older ones are deleted as new ones fire. */
export const TICKS_KEPT = 20;

const COLUMNS =
  'id, tenant, type, input, cron, timezone, webhook_url, priority, paused, next_run_at, last_run_at, skipped_ticks, origin, created_at, updated_at';

const STATEMENTS = {
  // $id $tenant $type $input $cron $timezone $webhookUrl $nextRunAt $now $priority $idempotencyKey $fingerprint (create()
  // has found no schedule of the tenant under the key, in the same transaction).
  insert: `INSERT INTO schedules (id, tenant, type, input, cron, timezone, webhook_url, priority, paused, next_run_at, last_run_at, skipped_ticks, origin,
      idempotency_key, request_fingerprint, created_at, updated_at)
    VALUES ($id, $tenant, $type, $input, $cron, $timezone, $webhookUrl, $priority, 0, $nextRunAt, NULL, 0, 'api', $idempotencyKey, $fingerprint, $now, $now)
    RETURNING ${COLUMNS}`,
  byKey: `SELECT ${COLUMNS}, request_fingerprint FROM schedules WHERE tenant = $tenant AND idempotency_key = $key`,
  // On schedules_tenant: the tenant's rows alone.
  countOfTenant: `SELECT count(*) AS n FROM schedules WHERE tenant = $tenant AND origin = 'api'`,
  // The same, for a declared schedule: a changed expression or zone starts from its new next tick; paused stays.
  upsertDeclared: `INSERT INTO schedules (id, tenant, type, input, cron, timezone, webhook_url, paused, next_run_at, last_run_at, skipped_ticks, origin, declared_key, created_at, updated_at)
    VALUES ($id, $tenant, $type, $input, $cron, $timezone, $webhookUrl, 0, $nextRunAt, NULL, 0, 'task', $key, $now, $now)
    ON CONFLICT (declared_key) DO UPDATE SET
      next_run_at = CASE WHEN schedules.cron IS NOT excluded.cron OR schedules.timezone IS NOT excluded.timezone THEN excluded.next_run_at ELSE schedules.next_run_at END,
      updated_at = CASE WHEN schedules.cron IS NOT excluded.cron OR schedules.timezone IS NOT excluded.timezone OR schedules.input IS NOT excluded.input
        OR schedules.webhook_url IS NOT excluded.webhook_url OR schedules.tenant IS NOT excluded.tenant THEN excluded.updated_at ELSE schedules.updated_at END,
      tenant = excluded.tenant, type = excluded.type, input = excluded.input, cron = excluded.cron, timezone = excluded.timezone, webhook_url = excluded.webhook_url`,
  // The declared rows, and what each declares (domain/declared-schedules.ts matches the declarations to them).
  declaredRows: `SELECT declared_key, type, cron, timezone, input FROM schedules WHERE origin = 'task' ORDER BY declared_key`,
  // $keys: JSON array of the declared keys that stay.
  deleteUndeclared: `DELETE FROM schedules WHERE origin = 'task' AND declared_key NOT IN (SELECT value FROM json_each($keys))`,
  get: `SELECT ${COLUMNS} FROM schedules WHERE id = $id AND ($tenant IS NULL OR tenant = $tenant)`,
  list: `SELECT ${COLUMNS} FROM schedules WHERE ($tenant IS NULL OR tenant = $tenant) AND id < $beforeId ORDER BY id DESC LIMIT $limit`,
  // Resuming a paused schedule starts from $nextRunAt; pausing keeps next_run_at, which no scheduler reads while paused.
  setPaused: `UPDATE schedules SET
      next_run_at = CASE WHEN paused = 1 AND $paused = 0 THEN $nextRunAt ELSE next_run_at END,
      updated_at = CASE WHEN paused IS NOT $paused THEN $now ELSE updated_at END,
      paused = $paused
    WHERE id = $id AND tenant = $tenant RETURNING ${COLUMNS}`,
  originOf: `SELECT origin FROM schedules WHERE id = $id AND tenant = $tenant`,
  delete: `DELETE FROM schedules WHERE id = $id AND tenant = $tenant AND origin = 'api'`,
  ticks: `SELECT tick, operation_id, skipped, fired_at FROM schedule_ticks WHERE schedule_id = $id ORDER BY tick DESC LIMIT $limit`,
  due: `SELECT ${COLUMNS} FROM schedules INDEXED BY schedules_due
    WHERE paused = 0 AND next_run_at IS NOT NULL AND next_run_at <= $now ORDER BY next_run_at LIMIT $limit`,
  nextRunAt: `SELECT min(next_run_at) AS at FROM schedules INDEXED BY schedules_due WHERE paused = 0 AND next_run_at IS NOT NULL`,
  // $id $expected $tick $skipped $nextRunAt $now
  advance: `UPDATE schedules SET next_run_at = $nextRunAt, last_run_at = $tick, skipped_ticks = skipped_ticks + $skipped, updated_at = $now
    WHERE id = $id AND paused = 0 AND next_run_at = $expected RETURNING ${COLUMNS}`,
  // $id $tick $operationId $skipped $now
  recordTick: `INSERT INTO schedule_ticks (schedule_id, tick, operation_id, skipped, fired_at) VALUES ($id, $tick, $operationId, $skipped, $now)`,
  // $id $keep
  trimTicks: `DELETE FROM schedule_ticks WHERE schedule_id = $id
    AND tick < (SELECT tick FROM schedule_ticks WHERE schedule_id = $id ORDER BY tick DESC LIMIT 1 OFFSET $keep - 1)`,
};

function toSchedule(row: Row): Schedule {
  const at = (column: string) => (row[column] === null ? null : Number(row[column]));
  return {
    id: String(row['id']),
    tenant: String(row['tenant']),
    type: String(row['type']),
    input: JSON.parse(String(row['input'])) as unknown,
    cron: String(row['cron']),
    timezone: String(row['timezone']),
    webhookUrl: row['webhook_url'] === null ? null : String(row['webhook_url']),
    priority: Number(row['priority']),
    paused: row['paused'] === 1,
    nextRunAt: at('next_run_at'),
    lastRunAt: at('last_run_at'),
    skippedTicks: Number(row['skipped_ticks']),
    origin: String(row['origin']) as ScheduleOrigin,
    createdAt: Number(row['created_at']),
    updatedAt: Number(row['updated_at']),
  };
}

function draftParams(draft: ScheduleDraft) {
  return {
    id: draft.id,
    tenant: draft.tenant,
    type: draft.type,
    input: JSON.stringify(draft.input ?? null),
    cron: draft.cron,
    timezone: draft.timezone,
    webhookUrl: draft.webhookUrl,
    nextRunAt: draft.nextRunAt,
    now: draft.now,
  };
}

const changedEvent = (schedule: Pick<Schedule, 'nextRunAt' | 'paused'>): StoreEvent => ({
  kind: 'schedule:changed',
  nextRunAt: schedule.paused ? null : schedule.nextRunAt,
});

export class SqliteSchedules {
  readonly #s: Record<keyof typeof STATEMENTS, StatementSync>;
  readonly #group: GroupCommit;
  readonly #operations: SqliteOperations;

  constructor(db: DatabaseSync, group: GroupCommit, operations: SqliteOperations) {
    this.#s = prepareAll(db, STATEMENTS);
    this.#group = group;
    this.#operations = operations;
  }

  create(draft: ScheduleCreateDraft): Promise<ScheduleCreateResult> {
    return this.#group.run((events): ScheduleCreateResult => {
      const key = draft.idempotency?.key ?? null;
      const existing = key === null ? undefined : this.#s.byKey.get({ tenant: draft.tenant, key });
      if (existing !== undefined) return { kind: 'existing', schedule: toSchedule(existing), fingerprint: String(existing['request_fingerprint']) };
      const limit = draft.maxPerTenant ?? null;
      if (limit !== null && Number(this.#s.countOfTenant.get({ tenant: draft.tenant })!['n']) >= limit) return { kind: 'limit_reached', limit };
      // In this transaction nothing takes the key between the read above and this insert.
      const row = this.#s.insert.get({
        ...draftParams(draft),
        priority: draft.priority,
        idempotencyKey: key,
        fingerprint: draft.idempotency?.fingerprint ?? null,
      })!;
      const schedule = toSchedule(row);
      events.push(changedEvent(schedule));
      return { kind: 'created', schedule };
    });
  }

  get(params: { readonly id: string; readonly tenant: string | null }): Schedule | null {
    const row = this.#s.get.get({ id: params.id, tenant: params.tenant });
    return row === undefined ? null : toSchedule(row);
  }

  list(query: ScheduleListQuery): Schedule[] {
    // Every id sorts below '~' (ids are sch_ and URL-safe characters), so no cursor reads as "from the top".
    return this.#s.list.all({ tenant: query.tenant, beforeId: query.beforeId ?? '~', limit: query.limit }).map(toSchedule);
  }

  setPaused(params: { id: string; tenant: string; paused: boolean; nextRunAt: number | null; now: number }): Promise<Schedule | null> {
    return this.#group.run((events) => {
      const row = this.#s.setPaused.get({ id: params.id, tenant: params.tenant, paused: params.paused ? 1 : 0, nextRunAt: params.nextRunAt, now: params.now });
      if (row === undefined) return null;
      const schedule = toSchedule(row);
      events.push(changedEvent(schedule));
      return schedule;
    });
  }

  delete(params: { readonly id: string; readonly tenant: string }): Promise<ScheduleDeleteOutcome> {
    return this.#group.run((events): ScheduleDeleteOutcome => {
      const row = this.#s.originOf.get({ id: params.id, tenant: params.tenant });
      if (row === undefined) return 'not_found';
      if (row['origin'] !== 'api') return 'declared';
      this.#s.delete.run({ id: params.id, tenant: params.tenant });
      events.push({ kind: 'schedule:changed', nextRunAt: null });
      return 'deleted';
    });
  }

  ticks(params: { readonly id: string; readonly limit: number }): ScheduleTick[] {
    return this.#s.ticks.all({ id: params.id, limit: params.limit }).map((row) => ({
      tick: Number(row['tick']),
      operationId: row['operation_id'] === null ? null : String(row['operation_id']),
      skipped: Number(row['skipped']),
      firedAt: Number(row['fired_at']),
    }));
  }

  syncDeclared(params: { readonly schedules: readonly DeclaredScheduleDraft[]; readonly now: number }): Promise<void> {
    return this.#group.run((events) => {
      const stored = this.#s.declaredRows.all().map((row) => ({
        key: String(row['declared_key']),
        type: String(row['type']),
        cron: String(row['cron']),
        timezone: String(row['timezone']),
        input: JSON.parse(String(row['input'])) as unknown,
      }));
      const keys = declaredKeys(params.schedules, stored);
      params.schedules.forEach((draft, i) => {
        this.#s.upsertDeclared.run({ ...draftParams(draft), key: keys[i]! });
      });
      this.#s.deleteUndeclared.run({ keys: JSON.stringify(keys) });
      events.push({ kind: 'schedule:changed', nextRunAt: null });
    });
  }

  due(params: { readonly now: number; readonly limit: number }): Schedule[] {
    return this.#s.due.all({ now: params.now, limit: params.limit }).map(toSchedule);
  }

  nextRunAt(): number | null {
    const at = this.#s.nextRunAt.get()?.['at'];
    return at === null || at === undefined ? null : Number(at);
  }

  fire(params: ScheduleFireParams): Promise<{ schedule: Schedule; operation: Operation | null } | null> {
    return this.#group.run((events) => {
      const row = this.#s.advance.get({
        id: params.scheduleId,
        expected: params.expected,
        tick: params.tick,
        skipped: params.skipped,
        nextRunAt: params.nextRunAt,
        now: params.now,
      });
      if (row === undefined) return null;
      const schedule = toSchedule(row);
      let operation: Operation | null = null;
      if (params.draft !== null) {
        const inserted = this.#operations.insertIn(events, params.draft);
        if (inserted.kind !== 'created') throw new Error(`store answered ${inserted.kind} to a tick's insert`);
        operation = inserted.operation;
      }
      this.#s.recordTick.run({ id: schedule.id, tick: params.tick, operationId: operation?.id ?? null, skipped: params.skipped, now: params.now });
      this.#s.trimTicks.run({ id: schedule.id, keep: TICKS_KEPT });
      events.push(changedEvent(schedule));
      return { schedule, operation };
    });
  }
}
