// Owns: the recurring schedule endpoints (POST/GET /schedules, GET/DELETE /schedules/{id}, pause, resume) as HTTP:
// their schemas, the Location of a created one, cursors and JSON.
// Not here: the rules (runtime/schedules.ts: validation, scoping, not found), firing ticks (runtime/scheduler.ts).
// Invariant: the routes only translate; every answer but the JSON shape comes from the SchedulesService.

import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { MAX_URL_LENGTH, PAGE_LIMIT, PRIORITY } from '../config/limits.ts';
import { iso } from '../domain/resource.ts';
import type { Schedule, ScheduleTick } from '../domain/schedule.ts';
import type { SchedulesService } from '../runtime/schedules.ts';
import { cursorAfter, decodeCursor } from './cursors.ts';
import { ID_PREFIXES } from '../domain/ids.ts';
import {
  CREATE_FORBIDDEN,
  CreateScopeQuery,
  NullableUnion,
  ReadScopeQuery,
  TenantQuery,
  emptyResponse,
  jsonResponse,
  problemResponses,
  requiredHeader,
} from './schemas.ts';
import { readScope, tenantOf } from './tenant.ts';
import { idempotencyKeyOf } from './submit.ts';

const DateTime = Type.String({ format: 'date-time' });

const ScheduleIdParams = Type.Object({ id: Type.String({ maxLength: 200, description: 'Schedule id (sch_…)' }) });

const CreateBody = Type.Object(
  {
    type: Type.String({ minLength: 1, maxLength: 64, description: 'A registered task type (GET /task-types)' }),
    input: Type.Optional(Type.Unknown({ description: "The input of every operation it creates; validated against the task's schema" })),
    cron: Type.String({
      minLength: 1,
      maxLength: 200,
      description:
        'Five fields (minute hour day-of-month month day-of-week), or six with seconds first: `*/10 * * * * *`; or a nickname: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly',
    }),
    timezone: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: 'The time zone the expression is read in: an IANA name, or a fixed UTC offset such as +05:30 (default UTC)',
      }),
    ),
    webhook_url: Type.Optional(
      Type.String({ minLength: 1, maxLength: MAX_URL_LENGTH, description: 'Absolute http(s) URL called when each operation it creates ends' }),
    ),
    priority: Type.Optional(
      Type.Integer({
        minimum: PRIORITY.min,
        maximum: PRIORITY.max,
        description: "Of every operation it creates (higher runs first; default 0), within the tenant's ceiling as a submit's",
      }),
    ),
  },
  { additionalProperties: false },
);

const TickSchema = Type.Object({
  tick: { ...DateTime, description: 'The time the expression named' },
  operation_id: NullableUnion(Type.String({ description: 'The operation it created; null when none could be (its type or input is no longer valid)' })),
  operation_url: NullableUnion(Type.String()),
  skipped: Type.Integer({ description: 'Missed ticks passed over before this one (docs/schedules.md)' }),
  fired_at: DateTime,
});

const ScheduleSchema = Type.Object({
  id: Type.String({ description: 'sch_ + a sortable, URL-safe id' }),
  tenant: Type.String({ description: 'The tenant it belongs to, whose operations its ticks create (`default` for one a task declares)' }),
  type: Type.String(),
  input: Type.Unknown(),
  cron: Type.String(),
  timezone: Type.String(),
  webhook_url: NullableUnion(Type.String()),
  priority: Type.Integer({ description: 'Of every operation it creates (0 for one a task declares)' }),
  paused: Type.Boolean(),
  origin: Type.Union([Type.Literal('api'), Type.Literal('task')], { description: '`task`: declared by its task definition (cannot be deleted here)' }),
  next_run_at: NullableUnion({
    ...DateTime,
    description: 'The next tick; while paused (nothing fires) the tick it would fire if resumed now. Null when the expression matches no later time',
  }),
  last_run_at: NullableUnion(DateTime),
  skipped_ticks: Type.Integer({ description: 'Missed ticks passed over so far' }),
  created_at: DateTime,
  updated_at: DateTime,
  links: Type.Object({
    self: Type.String(),
    operations: Type.String({ description: 'The operations its ticks created (GET /operations?schedule_id=…)' }),
  }),
});

// One object, not an intersection: the SDK's wire types are generated from it as one interface.
const ScheduleDetailSchema = Type.Object({
  ...ScheduleSchema.properties,
  recent_ticks: Type.Array(TickSchema, { description: 'The most recent ticks fired, newest first (up to 10)' }),
});

const ListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: PAGE_LIMIT.max, default: PAGE_LIMIT.default })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    tenant: Type.Optional(TenantQuery),
  },
  { additionalProperties: false },
);

export function registerScheduleRoutes(app: FastifyInstance, schedules: SchedulesService, basePath: string): void {
  const tags = ['schedules'];
  const scheduleJson = (s: Schedule) => ({
    id: s.id,
    tenant: s.tenant,
    type: s.type,
    input: s.input,
    cron: s.cron,
    timezone: s.timezone,
    webhook_url: s.webhookUrl,
    priority: s.priority,
    paused: s.paused,
    origin: s.origin,
    next_run_at: s.nextRunAt === null ? null : iso(s.nextRunAt),
    last_run_at: s.lastRunAt === null ? null : iso(s.lastRunAt),
    skipped_ticks: s.skippedTicks,
    created_at: iso(s.createdAt),
    updated_at: iso(s.updatedAt),
    links: { self: `${basePath}/schedules/${s.id}`, operations: `${basePath}/operations?schedule_id=${s.id}` },
  });
  const tickJson = (t: ScheduleTick) => ({
    tick: iso(t.tick),
    operation_id: t.operationId,
    operation_url: t.operationId === null ? null : `${basePath}/operations/${t.operationId}`,
    skipped: t.skipped,
    fired_at: iso(t.firedAt),
  });

  app.post<{ Body: Static<typeof CreateBody> }>('/schedules', {
    // It creates operations, one per tick, so it counts as creating them.
    config: { rateClass: 'create' },
    schema: {
      tags,
      operationId: 'createSchedule',
      summary: 'Create a recurring schedule: an operation of the type with this input at every tick',
      body: CreateBody,
      querystring: CreateScopeQuery,
      headers: Type.Object({
        'idempotency-key': Type.Optional(
          Type.String({
            description:
              '1..255 visible ASCII characters: the same key with the same body returns the schedule it created (201, `Idempotent-Replayed: true`) for as long as that schedule exists; with another body, 422',
          }),
        ),
      }),
      response: {
        201: jsonResponse(ScheduleSchema, 'Created (or, under an Idempotency-Key seen before with the same body, the schedule it created)', {
          Location: requiredHeader(Type.String({ description: 'The schedule: /schedules/{id}' })),
          'Idempotent-Replayed': Type.Literal('true', { description: 'The Idempotency-Key was seen before: this is the schedule it created' }),
        }),
        ...problemResponses(
          [400, 'Not valid (the body, the input against its schema, the cron expression or time zone, or the Idempotency-Key): `errors` names each field'],
          CREATE_FORBIDDEN,
          [409, 'The tenant holds as many schedules as it may (--max-schedules): `limit` says how many; delete one first'],
          413,
          415,
          [422, 'Unknown task type, a refused webhook URL, or an Idempotency-Key used before with another body'],
        ),
      },
    },
    handler: async (request, reply) => {
      const { type, input, cron, timezone, webhook_url, priority } = request.body;
      const idempotencyKey = idempotencyKeyOf(request);
      const { schedule, created } = await schedules.create({
        tenant: tenantOf(request),
        type,
        input,
        cron,
        timezone,
        webhookUrl: webhook_url,
        priority,
        idempotencyKey,
      });
      if (!created) reply.header('idempotent-replayed', 'true');
      return reply.code(201).header('location', `${basePath}/schedules/${schedule.id}`).send(scheduleJson(schedule));
    },
  });

  app.get<{ Querystring: Static<typeof ListQuery> }>('/schedules', {
    schema: {
      tags,
      operationId: 'listSchedules',
      summary: 'Schedules, newest first',
      querystring: ListQuery,
      response: {
        200: jsonResponse(Type.Object({ items: Type.Array(ScheduleSchema), next_cursor: NullableUnion(Type.String()) }), 'A page of schedules'),
        ...problemResponses(400, 403),
      },
    },
    handler: async (request) => {
      const { limit = PAGE_LIMIT.default, cursor } = request.query;
      const page = await schedules.list(readScope(request), { limit, beforeId: cursor === undefined ? undefined : decodeCursor(cursor, ID_PREFIXES.schedule) });
      return { items: page.items.map(scheduleJson), next_cursor: cursorAfter(page.nextBeforeId) };
    },
  });

  app.get<{ Params: Static<typeof ScheduleIdParams> }>('/schedules/:id', {
    schema: {
      tags,
      operationId: 'getSchedule',
      summary: 'A schedule, with its next tick and the operations its recent ticks created',
      params: ScheduleIdParams,
      querystring: ReadScopeQuery,
      response: { 200: jsonResponse(ScheduleDetailSchema, 'The schedule'), ...problemResponses(400, 403, 404) },
    },
    handler: async (request) => {
      const { schedule, ticks } = await schedules.get(readScope(request), request.params.id);
      return { ...scheduleJson(schedule), recent_ticks: ticks.map(tickJson) };
    },
  });

  for (const action of ['pause', 'resume'] as const) {
    app.post<{ Params: Static<typeof ScheduleIdParams> }>(`/schedules/:id/${action}`, {
      schema: {
        tags,
        operationId: `${action}Schedule`,
        summary:
          action === 'pause'
            ? 'Pause a schedule: no tick fires until it is resumed (idempotent)'
            : 'Resume a schedule: the next tick after now fires; ticks passed while paused are not caught up (idempotent)',
        params: ScheduleIdParams,
        querystring: ReadScopeQuery,
        response: { 200: jsonResponse(ScheduleSchema, action === 'pause' ? 'Paused' : 'Running'), ...problemResponses(400, 403, 404) },
      },
      handler: async (request) => {
        // An admin key acts on any tenant's schedule (a declared one belongs to the default tenant, which no key may be).
        const scope = readScope(request);
        const schedule = action === 'pause' ? await schedules.pause(scope, request.params.id) : await schedules.resume(scope, request.params.id);
        return scheduleJson(schedule);
      },
    });
  }

  app.delete<{ Params: Static<typeof ScheduleIdParams> }>('/schedules/:id', {
    schema: {
      tags,
      operationId: 'deleteSchedule',
      summary: 'Delete a schedule created through the API; the operations it created stay',
      params: ScheduleIdParams,
      querystring: ReadScopeQuery,
      response: {
        204: emptyResponse('Deleted'),
        ...problemResponses(400, 403, 404, [409, 'Declared by its task definition: remove it there, or pause it']),
      },
    },
    handler: async (request, reply) => {
      await schedules.delete(readScope(request), request.params.id);
      return reply.code(204).send();
    },
  });
}
