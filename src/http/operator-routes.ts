// Owns: the operator's read routes: GET /operations/counts (per type and status, cheap to poll), GET /stats/overview (per
// type over a window: throughput, failures, pickup and ETA error, a per-minute series) and GET /whoami (the caller's
// tenant and role, so a dashboard knows what it may show).
// Not here: the arithmetic (runtime/overview.ts), which tenants a read spans (tenant.ts readScope).

import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { OperationsService } from '../runtime/operations.ts';
import { OVERVIEW_WINDOW_S } from '../runtime/overview.ts';
import { NoQuery, NullableUnion, OperationStatusSchema, TenantQuery, jsonResponse, problemResponses } from './schemas.ts';
import { readScope } from './tenant.ts';

const DateTime = Type.String({ format: 'date-time' });

const CountsQuery = Type.Object({ tenant: Type.Optional(TenantQuery) }, { additionalProperties: false });
const CountsSchema = Type.Object({
  items: Type.Array(Type.Object({ type: Type.String(), status: OperationStatusSchema, count: Type.Integer({ minimum: 1 }) }), {
    description: 'Every (type, status) with at least one operation, by type then status',
  }),
});

const OverviewQuery = Type.Object(
  {
    window_s: Type.Optional(
      Type.Integer({
        minimum: OVERVIEW_WINDOW_S.min,
        maximum: OVERVIEW_WINDOW_S.max,
        default: OVERVIEW_WINDOW_S.default,
        description: 'Seconds back from now (a minute to a day); the series ends with the current minute',
      }),
    ),
    tenant: Type.Optional(TenantQuery),
  },
  { additionalProperties: false },
);
const OverviewSchema = Type.Object({
  window_s: Type.Integer(),
  generated_at: DateTime,
  types: Type.Array(
    Type.Object({
      type: Type.String(),
      pending: Type.Integer({ description: 'Now' }),
      processing: Type.Integer({ description: 'Now' }),
      failed: Type.Integer({ description: 'Now (all stored failed operations)' }),
      completed_in_window: Type.Integer(),
      failed_in_window: Type.Integer(),
      throughput_per_min: Type.Number({ description: 'Completed per minute over the window' }),
      failure_rate: Type.Number({ description: 'Failed of those that finished in the window (0 when none did)' }),
      pickup_ms: NullableUnion(
        Type.Object(
          { p50: Type.Integer(), p95: Type.Integer() },
          { description: 'From due (creation, unless scheduled later) to the start of the first attempt, of those started in the window; null: none' },
        ),
      ),
      eta_error: NullableUnion(
        Type.Object(
          { median: Type.Number(), p90: Type.Number(), samples: Type.Integer() },
          {
            description:
              'How far the estimated completion given at creation was off, relative to the time taken: |estimate − finished| / (finished − created), of those completed in the window; null: none',
          },
        ),
      ),
      series: Type.Array(Type.Object({ at: DateTime, completed: Type.Integer(), failed: Type.Integer() }), {
        description: 'One point a minute, oldest first: operations finished in that minute',
      }),
    }),
  ),
});

const WhoamiSchema = Type.Object({
  tenant: Type.String({ description: 'The tenant what you create belongs to (`default` on a server without keys)' }),
  admin: Type.Boolean({ description: 'Your reads span every tenant (an admin key, or a server without keys)' }),
});

export function registerOperatorRoutes(app: FastifyInstance, service: OperationsService): void {
  app.get<{ Querystring: Static<typeof CountsQuery> }>('/operations/counts', {
    schema: {
      tags: ['operations'],
      operationId: 'countOperations',
      summary: 'How many operations there are, per type and status',
      description: 'Read from counters kept as operations change, so it costs the same with a million stored: cheap enough to poll.',
      querystring: CountsQuery,
      response: { 200: jsonResponse(CountsSchema, 'The counts'), ...problemResponses(400, 403) },
    },
    handler: async (request) => ({ items: await service.counts(readScope(request)) }),
  });

  app.get<{ Querystring: Static<typeof OverviewQuery> }>('/stats/overview', {
    schema: {
      tags: ['operations'],
      operationId: 'getOverview',
      summary: 'Per task type: what waits, runs and failed, and how the last window went',
      querystring: OverviewQuery,
      response: { 200: jsonResponse(OverviewSchema, 'The overview'), ...problemResponses(400, 403) },
    },
    handler: async (request) => service.overview(readScope(request), request.query.window_s ?? OVERVIEW_WINDOW_S.default),
  });

  app.get('/whoami', {
    schema: {
      tags: ['operations'],
      operationId: 'whoami',
      summary: 'Who the key you sent is: its tenant, and whether it is an admin key',
      querystring: NoQuery,
      response: { 200: jsonResponse(WhoamiSchema, 'The caller') },
    },
    handler: async (request) => ({ tenant: request.tenant, admin: request.admin }),
  });
}
