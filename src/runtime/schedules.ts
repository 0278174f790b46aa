// Owns: the schedules service the edges call (create, read with its recent ticks, list, pause, resume, delete), keeping
// the schedules tasks declare in step with their definitions, and firing the due ticks into ordinary operations.
// Not here: when to look for due ticks (scheduler.ts), which tick fires (domain/schedule.ts), SQL, HTTP.
// Invariant: nothing is stored before the type exists, the input passed its schema, the cron and time zone parse and the
// webhook URL passed its policy; a tick's operation is built as a submit's is (the type's defaults, its cost).

import { DEFAULTS } from '../config/settings.ts';
import type { Clock } from '../domain/clock.ts';
import { AsyncOpsError, validationFailed } from '../domain/errors.ts';
import { ID_PREFIXES, isId, newId } from '../domain/ids.ts';
import { DEFAULT_TENANT, type Operation } from '../domain/operation.ts';
import { checkCron, DEFAULT_TIMEZONE, decideFiring, firstTick, type Schedule, type ScheduleTick } from '../domain/schedule.ts';
import type { DeclaredScheduleDraft, OperationDraft, Store } from '../store/store.ts';
import type { TaskRegistry } from './registry.ts';
import { defaultPriority, PRIORITY, priorityProblem } from '../domain/fairness.ts';
import { fingerprintOf } from './idempotency.ts';
import { declaredSchedulesOf } from './task.ts';
import { defaultTimeoutS } from './submission.ts';

export interface ScheduleRequest {
  readonly tenant: string;
  readonly type: string;
  readonly input: unknown;
  readonly cron: string;
  readonly timezone?: string | undefined;
  readonly webhookUrl?: string | null | undefined;
  /** Of the operations its ticks create (default 0), within the tenant's ceiling as a submit's. */
  readonly priority?: number | undefined;
  /** The tenant's key for this create: a retry with the same request returns the schedule it made (while it exists). */
  readonly idempotencyKey?: string | undefined;
}

/** A create's schedule, and whether this request made it (false: a replay of the create that did, by its key). */
export interface ScheduleCreated {
  readonly schedule: Schedule;
  readonly created: boolean;
}

/** Told of each tick this node fired (metrics): its operation (null: none could be made) and the ticks it passed over. */
export interface ScheduleObserver {
  tickFired(schedule: Schedule, operation: Operation | null, skipped: number): void;
}

export interface SchedulesServiceOptions {
  readonly store: Store;
  readonly registry: TaskRegistry;
  readonly clock: Clock;
  /** Checks a webhook URL; returns a reason to refuse it, or null. */
  readonly checkWebhookUrl: (url: string) => string | null;
  /** The server's ceiling on an attempt's timeout (`--max-timeout`), which a type's default is held to. */
  readonly maxTimeoutS?: number | undefined;
  readonly observer?: ScheduleObserver | undefined;
  /** A tenant's ceiling on priority, as a submit's (tenant-policies.ts); absent: the contract's maximum. */
  readonly maxPriority?: ((tenant: string) => number) | undefined;
  /** The schedules one tenant may hold, created through the API (`--max-schedules`); null or absent: no cap. */
  readonly maxPerTenant?: number | null | undefined;
  /** Told when a task's own `validate` threw at a tick (which the tick then passes over, and the others go on). */
  readonly onValidateThrew?: ((schedule: Schedule, error: unknown) => void) | undefined;
}

/** Recent ticks a schedule's read shows (the store keeps about this many). */
const TICKS_SHOWN = 10;

export interface SchedulePage {
  readonly items: Schedule[];
  /** When more follow, the id of this page's last schedule: the next page is the one below it. */
  readonly nextBeforeId: string | null;
}

export class SchedulesService {
  readonly #options: SchedulesServiceOptions;
  readonly #store: Store;
  readonly #registry: TaskRegistry;

  constructor(options: SchedulesServiceOptions) {
    this.#options = options;
    this.#store = options.store;
    this.#registry = options.registry;
  }

  async create(request: ScheduleRequest): Promise<ScheduleCreated> {
    const task = this.#registry.require(request.type);
    const timezone = request.timezone ?? DEFAULT_TIMEZONE;
    const ceiling = this.#options.maxPriority?.(request.tenant) ?? PRIORITY.max;
    const priority = request.priority ?? defaultPriority(ceiling);
    // Left out or null, as a create's is (operations-routes.ts): checked, kept and handed to each operation as {}.
    const input = request.input ?? {};
    const errors = [...checkCron(request.cron, timezone), ...this.#registry.validateInput(task.type, input)];
    const priorityRefused = priorityProblem(priority, ceiling);
    if (priorityRefused !== null) errors.push({ path: '/priority', message: priorityRefused });
    if (errors.length > 0) throw validationFailed(errors);
    const webhookUrl = request.webhookUrl ?? null;
    if (webhookUrl !== null) {
      const refusal = this.#options.checkWebhookUrl(webhookUrl);
      if (refusal !== null)
        throw new AsyncOpsError('webhook_url_refused', `webhook_url refused: ${refusal}`, { errors: [{ path: '/webhook_url', message: refusal }] });
    }
    const now = this.#options.clock.now();
    const idempotency =
      request.idempotencyKey === undefined
        ? undefined
        : { key: request.idempotencyKey, fingerprint: fingerprintOf({ type: task.type, input, cron: request.cron, timezone, webhookUrl, priority }) };
    const result = await this.#store.scheduleCreate({
      id: newId(ID_PREFIXES.schedule, now),
      tenant: request.tenant,
      type: task.type,
      input,
      cron: request.cron,
      timezone,
      webhookUrl,
      priority,
      nextRunAt: firstTick({ cron: request.cron, timezone }, now),
      now,
      idempotency,
      maxPerTenant: this.#options.maxPerTenant ?? null,
    });
    if (result.kind === 'limit_reached') {
      throw new AsyncOpsError('conflict', `this tenant holds ${result.limit} schedules, the most it may (--max-schedules): delete one first`, {
        extra: { limit: result.limit },
      });
    }
    if (result.kind === 'created') return { schedule: this.#shown(result.schedule), created: true };
    if (result.fingerprint !== idempotency?.fingerprint) {
      throw new AsyncOpsError('idempotency_key_mismatch', 'this Idempotency-Key was used with a different request body', {
        extra: { schedule_id: result.schedule.id },
      });
    }
    return { schedule: this.#shown(result.schedule), created: false };
  }

  /** The schedule and its most recent ticks, newest first; not_found outside `scope` (a tenant; null: any, an admin's read). */
  async get(scope: string | null, id: string): Promise<{ schedule: Schedule; ticks: ScheduleTick[] }> {
    const schedule = await this.#find(scope, id);
    return { schedule: this.#shown(schedule), ticks: await this.#store.scheduleTicks({ id, limit: TICKS_SHOWN }) };
  }

  /** `tenant` null: every tenant's (an admin's read). */
  async list(tenant: string | null, query: { readonly limit: number; readonly beforeId?: string | undefined }): Promise<SchedulePage> {
    const rows = await this.#store.scheduleList({ tenant, limit: query.limit + 1, beforeId: query.beforeId });
    const items = rows.slice(0, query.limit);
    return { items: items.map((s) => this.#shown(s)), nextBeforeId: rows.length > query.limit ? (items.at(-1)?.id ?? null) : null };
  }

  /** Pause: no tick fires until it is resumed. Idempotent. `scope` as for get: an admin acts on any tenant's. */
  pause(scope: string | null, id: string): Promise<Schedule> {
    return this.#setPaused(scope, id, true);
  }

  /** Resume: the next tick after now fires; those that passed while it was paused are not caught up. Idempotent. */
  resume(scope: string | null, id: string): Promise<Schedule> {
    return this.#setPaused(scope, id, false);
  }

  async #setPaused(scope: string | null, id: string, paused: boolean): Promise<Schedule> {
    const current = await this.#find(scope, id);
    const now = this.#options.clock.now();
    const schedule = await this.#store.scheduleSetPaused({ id, tenant: current.tenant, paused, nextRunAt: firstTick(current, now), now });
    if (schedule === null) throw notFound(id);
    return this.#shown(schedule);
  }

  /** A paused schedule's stored tick goes by unfired; it shows the tick it would fire if resumed now, as resume() stores. */
  #shown(schedule: Schedule): Schedule {
    return schedule.paused ? { ...schedule, nextRunAt: firstTick(schedule, this.#options.clock.now()) } : schedule;
  }

  /** Deletes a schedule created through the API; the operations it created stay. A declared one is a conflict. */
  async delete(scope: string | null, id: string): Promise<void> {
    const tenant = scope ?? (await this.#find(scope, id)).tenant;
    const outcome = isId(ID_PREFIXES.schedule, id) ? await this.#store.scheduleDelete({ id, tenant }) : 'not_found';
    if (outcome === 'not_found') throw notFound(id);
    if (outcome === 'declared') {
      throw new AsyncOpsError('conflict', `schedule ${id} is declared by its task's definition: remove it there, or pause it`);
    }
  }

  /** The schedule `id` within `scope` (null: any tenant's), or not_found. */
  async #find(scope: string | null, id: string): Promise<Schedule> {
    const schedule = isId(ID_PREFIXES.schedule, id) ? await this.#store.scheduleGet({ id, tenant: scope }) : null;
    if (schedule === null) throw notFound(id);
    return schedule;
  }

  /** Make the stored declared schedules what the registered tasks declare now (each node does at start-up). */
  async syncDeclared(): Promise<void> {
    const now = this.#options.clock.now();
    const drafts: DeclaredScheduleDraft[] = [];
    for (const task of this.#registry.list()) {
      declaredSchedulesOf(task.definition).forEach((declared, index) => {
        const timezone = declared.timezone ?? DEFAULT_TIMEZONE;
        drafts.push({
          index,
          id: newId(ID_PREFIXES.schedule, now),
          tenant: DEFAULT_TENANT,
          type: task.type,
          input: declared.input ?? {},
          cron: declared.cron,
          timezone,
          webhookUrl: null,
          nextRunAt: firstTick({ cron: declared.cron, timezone }, now),
          now,
        });
      });
    }
    await this.#store.scheduleSyncDeclared({ schedules: drafts, now });
  }

  /**
   * Fire the ticks due at now, up to `limit` schedules; `more`: there may be more due now. `nextRunAt`: the earliest next
   * tick once none is due (null: none, or more are due).
   */
  async fireDue(limit: number): Promise<{ readonly more: boolean; readonly nextRunAt: number | null }> {
    const due = await this.#store.scheduleDue({ now: this.#options.clock.now(), limit });
    for (const schedule of due) await this.#fire(schedule);
    if (due.length >= limit) return { more: true, nextRunAt: null };
    return { more: false, nextRunAt: await this.#store.scheduleNextRunAt() };
  }

  async #fire(schedule: Schedule): Promise<void> {
    if (schedule.nextRunAt === null) return;
    const now = this.#options.clock.now();
    const firing = decideFiring(schedule, schedule.nextRunAt, now);
    if (firing === null) return;
    const fired = await this.#store.scheduleFire({
      scheduleId: schedule.id,
      expected: schedule.nextRunAt,
      ...firing,
      draft: this.#draftFor(schedule, now),
      now,
    });
    // Null: another node fired this tick first.
    if (fired !== null) this.#options.observer?.tickFired(fired.schedule, fired.operation, firing.skipped);
  }

  /**
   * Whether the stored input passes the type's schema and its own `validate`. One that throws (which docs/tasks.md
   * forbids) counts as not passing: thrown out of the pass, it would stop every schedule due behind this one, on every
   * node, each pass again, since this one stays first in line.
   */
  #inputPasses(schedule: Schedule, type: string): boolean {
    try {
      return this.#registry.validateInput(type, schedule.input).length === 0;
    } catch (error) {
      this.#options.onValidateThrew?.(schedule, error);
      return false;
    }
  }

  /** The operation a tick creates, as a submit of the schedule's type and input would; null when none can be. */
  #draftFor(schedule: Schedule, now: number): OperationDraft | null {
    const task = this.#registry.get(schedule.type);
    // The type is gone from this server, or its schema changed under the stored input: the tick passes without one.
    if (task === undefined || !this.#inputPasses(schedule, task.type)) return null;
    return {
      id: newId(ID_PREFIXES.operation, now),
      tenant: schedule.tenant,
      type: task.type,
      input: schedule.input,
      maxAttempts: task.maxAttempts,
      priority: schedule.priority,
      timeoutS: defaultTimeoutS(task, this.#options.maxTimeoutS ?? DEFAULTS.maxTimeout / 1000),
      // Now, not the tick: a catch-up tick from long ago must not run ahead of what is pending since.
      runAt: now,
      webhookUrl: schedule.webhookUrl,
      cost: this.#registry.costOf(task.type, schedule.input),
      trace: null,
      scheduleId: schedule.id,
      now,
    };
  }
}

function notFound(id: string): AsyncOpsError {
  return new AsyncOpsError('not_found', `no schedule ${JSON.stringify(id.slice(0, 64))}`);
}
