// Owns: the schedules part of the Store interface (store.ts): the methods that keep recurring schedules and fire their
// ticks, and the shapes they take. Not here: any SQL (store/sqlite/schedules.ts, store/postgres/schedules.ts), which
// tick fires (domain/schedule.ts). Invariant: as every Store method, each is one atomic transaction; a lost race to fire
// a tick returns null.

import type { Operation } from '../domain/operation.ts';
import type { Schedule, ScheduleTick } from '../domain/schedule.ts';
import type { OperationDraft } from './store.ts';

export interface ScheduleDraft {
  readonly id: string;
  readonly tenant: string;
  readonly type: string;
  readonly input: unknown;
  readonly cron: string;
  readonly timezone: string;
  readonly webhookUrl: string | null;
  readonly nextRunAt: number | null;
  readonly now: number;
}

/** A schedule created through the API; with `idempotency`, under the tenant's key, with its request's fingerprint. */
export interface ScheduleCreateDraft extends ScheduleDraft {
  /** Of the operations its ticks create (a declared schedule's are 0). */
  readonly priority: number;
  readonly idempotency?: { readonly key: string; readonly fingerprint: string } | undefined;
  /**
   * The schedules created through the API the tenant may hold (null: no cap), counted in the create's transaction, so
   * creates at once on several nodes do not pass it together. A key's replay is answered whatever the count.
   */
  readonly maxPerTenant?: number | null | undefined;
}

export type ScheduleCreateResult =
  | { readonly kind: 'created'; readonly schedule: Schedule }
  /** The tenant's schedule made under the same key (nothing was created), and the fingerprint of the request that made it. */
  | { readonly kind: 'existing'; readonly schedule: Schedule; readonly fingerprint: string }
  /** Nothing was created: the tenant holds `limit` schedules already. */
  | { readonly kind: 'limit_reached'; readonly limit: number };

/**
 * A schedule a task declares: kept in step with the declaration at start-up, one row per declaration however many nodes
 * start. Which row is the store's to find (domain/declared-schedules.ts): the one that declares the same, wherever the
 * declaration now stands in its task's list.
 */
export interface DeclaredScheduleDraft extends ScheduleDraft {
  /** Its place in its task's list of declarations. */
  readonly index: number;
}

export interface ScheduleListQuery {
  /** Null: every tenant's (an admin's read). */
  readonly tenant: string | null;
  readonly limit: number;
  /** Schedules with an id strictly below this one (newest first). */
  readonly beforeId?: string | undefined;
}

export interface ScheduleFireParams {
  readonly scheduleId: string;
  /** The next_run_at the caller read: the firing happens only if it is still that (one caller wins a tick). */
  readonly expected: number;
  /** The tick fired (the expected one, or with the missed-tick policy a later one). */
  readonly tick: number;
  readonly skipped: number;
  readonly nextRunAt: number | null;
  /** The operation the tick creates; null: the tick passes without one (its type is gone, or its input no longer valid). */
  readonly draft: OperationDraft | null;
  readonly now: number;
}

/** `declared`: a schedule a task declares is not deleted through the API (it would come back at the next start). */
export type ScheduleDeleteOutcome = 'deleted' | 'declared' | 'not_found';

export interface ScheduleStore {
  /**
   * With a key the tenant's existing schedule holds, creates nothing and returns that one (the caller compares
   * fingerprints); with the tenant at `maxPerTenant`, creates nothing.
   */
  scheduleCreate(draft: ScheduleCreateDraft): Promise<ScheduleCreateResult>;
  /** `tenant` null: whichever tenant's it is (an admin's read). */
  scheduleGet(params: { readonly id: string; readonly tenant: string | null }): Promise<Schedule | null>;
  /** Newest first. */
  scheduleList(query: ScheduleListQuery): Promise<Schedule[]>;
  /** Pause, or resume with the next tick from now (ticks passed while paused are not caught up). Null when not found. */
  scheduleSetPaused(params: {
    readonly id: string;
    readonly tenant: string;
    readonly paused: boolean;
    readonly nextRunAt: number | null;
    readonly now: number;
  }): Promise<Schedule | null>;
  /** Deletes a schedule created through the API, with its tick history (the operations it created stay). */
  scheduleDelete(params: { readonly id: string; readonly tenant: string }): Promise<ScheduleDeleteOutcome>;
  /** The ticks a schedule fired, newest first (the store keeps the most recent few). */
  scheduleTicks(params: { readonly id: string; readonly limit: number }): Promise<ScheduleTick[]>;
  /**
   * Make the declared schedules what `schedules` says: insert those missing, update a changed cron, time zone, input or
   * webhook (next tick from `nextRunAt`), delete declared ones no longer declared. Safe when several nodes start at once.
   */
  scheduleSyncDeclared(params: { readonly schedules: readonly DeclaredScheduleDraft[]; readonly now: number }): Promise<void>;
  /** Unpaused schedules whose next tick is at or before `now`, earliest first, across tenants. */
  scheduleDue(params: { readonly now: number; readonly limit: number }): Promise<Schedule[]>;
  /** The earliest next tick of an unpaused schedule, so a scheduler can sleep until then. */
  scheduleNextRunAt(): Promise<number | null>;
  /**
   * Fire one tick, in one transaction: advance next_run_at if it is still `expected`, record the tick and insert its
   * operation as operationInsert does. Null when another caller fired it first (or the schedule is gone or paused).
   */
  scheduleFire(params: ScheduleFireParams): Promise<{ readonly schedule: Schedule; readonly operation: Operation | null } | null>;
}
