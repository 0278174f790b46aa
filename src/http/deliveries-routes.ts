// Owns: the webhook delivery endpoints: the list (and dead-letter list), replay, and one operation's
// deliveries with every attempt, as HTTP: their schemas, cursors and JSON.
// Not here: the rules (webhooks/deliveries.ts: scoping, replay, not found), sending (webhooks/dispatcher.ts).
// Invariant: the routes only translate; every answer but the JSON shape comes from the DeliveriesService.

import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { Delivery, DeliveryAttempt } from '../domain/delivery.ts';
import { iso } from '../domain/resource.ts';
import type { DeliveriesService } from '../webhooks/deliveries.ts';
import { cursorAfter, decodeCursor } from './cursors.ts';
import { ID_PREFIXES } from '../domain/ids.ts';
import {
  DeliveryIdParams,
  DeliveryStateSchema,
  NullableUnion,
  OperationIdParams,
  ReadScopeQuery,
  TenantQuery,
  jsonResponse,
  problemResponses,
} from './schemas.ts';
import { readScope } from './tenant.ts';

export const DeliverySchema = Type.Object({
  id: Type.String(),
  operation_id: Type.String(),
  tenant: Type.String({ description: "Its operation's tenant (an admin key's lists span tenants)" }),
  webhook_id: Type.String({ description: 'The webhook-id header: the same on every attempt and replay' }),
  url: Type.String(),
  event_type: Type.String(),
  state: DeliveryStateSchema,
  attempt_count: Type.Integer(),
  next_attempt_at: NullableUnion(Type.String({ format: 'date-time' })),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
  last_status_code: NullableUnion(Type.Integer()),
  last_error: NullableUnion(Type.String()),
  superseded: Type.Boolean({
    description: 'Of an end its operation was retried past: never sent again, and a replay of it is a 409 (docs/webhooks.md)',
  }),
});

const AttemptSchema = Type.Object({
  attempt: Type.Integer(),
  trigger: Type.Union([Type.Literal('scheduled'), Type.Literal('manual')]),
  started_at: Type.String({ format: 'date-time' }),
  duration_ms: Type.Number(),
  status_code: NullableUnion(Type.Integer()),
  error: NullableUnion(Type.String()),
  response_snippet: NullableUnion(Type.String()),
});

const ListQuery = Type.Object(
  {
    state: Type.Optional(DeliveryStateSchema),
    tenant: Type.Optional(TenantQuery),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);

export function deliveryJson(d: Delivery) {
  return {
    id: d.id,
    operation_id: d.operationId,
    tenant: d.tenant,
    webhook_id: d.messageId,
    url: d.url,
    event_type: d.eventType,
    state: d.state,
    attempt_count: d.attemptCount,
    next_attempt_at: d.nextAttemptAt === null ? null : iso(d.nextAttemptAt),
    created_at: iso(d.createdAt),
    updated_at: iso(d.updatedAt),
    last_status_code: d.lastStatusCode,
    last_error: d.lastError,
    superseded: d.superseded === true,
  };
}

function attemptJson(a: DeliveryAttempt) {
  return {
    attempt: a.attempt,
    trigger: a.trigger,
    started_at: iso(a.startedAt),
    duration_ms: a.durationMs,
    status_code: a.statusCode,
    error: a.error,
    response_snippet: a.responseSnippet,
  };
}

export function registerDeliveryRoutes(app: FastifyInstance, deliveries: DeliveriesService): void {
  const tags = ['webhook deliveries'];
  app.get<{ Querystring: Static<typeof ListQuery> }>('/webhook-deliveries', {
    schema: {
      tags,
      operationId: 'listWebhookDeliveries',
      summary: 'Webhook deliveries, newest first; `state=dead` is the dead-letter list',
      querystring: ListQuery,
      response: {
        200: jsonResponse(Type.Object({ items: Type.Array(DeliverySchema), next_cursor: NullableUnion(Type.String()) }), 'A page of deliveries'),
        ...problemResponses(400, 403),
      },
    },
    handler: async (request) => {
      const { state, limit = 50, cursor } = request.query;
      const page = await deliveries.list(readScope(request), {
        state,
        limit,
        beforeId: cursor === undefined ? undefined : decodeCursor(cursor, ID_PREFIXES.delivery),
      });
      return { items: page.items.map(deliveryJson), next_cursor: cursorAfter(page.nextBeforeId) };
    },
  });

  app.post<{ Params: Static<typeof DeliveryIdParams> }>('/webhook-deliveries/:id/retry', {
    schema: {
      tags,
      operationId: 'retryWebhookDelivery',
      summary: 'Replay a dead delivery: new attempts with the same webhook-id',
      params: DeliveryIdParams,
      querystring: ReadScopeQuery,
      response: {
        202: jsonResponse(DeliverySchema, 'Due now; the schedule starts over'),
        ...problemResponses(400, 403, 404, [409, 'The delivery is not dead, or is of an end its operation was retried past']),
      },
    },
    handler: async (request, reply) => {
      return reply.code(202).send(deliveryJson(await deliveries.replay(readScope(request), request.params.id)));
    },
  });

  app.get<{ Params: Static<typeof OperationIdParams> }>('/operations/:id/deliveries', {
    schema: {
      tags,
      operationId: 'listOperationDeliveries',
      summary: 'Every webhook delivery of one operation, with each attempt',
      params: OperationIdParams,
      querystring: ReadScopeQuery,
      response: {
        200: jsonResponse(
          Type.Object({ items: Type.Array(Type.Intersect([DeliverySchema, Type.Object({ attempts: Type.Array(AttemptSchema) })])) }),
          'The deliveries, with every attempt',
        ),
        ...problemResponses(400, 403, 404),
      },
    },
    handler: async (request) => {
      const rows = await deliveries.forOperation(readScope(request), request.params.id);
      return { items: rows.map(({ delivery, attempts }) => ({ ...deliveryJson(delivery), attempts: attempts.map(attemptJson) })) };
    },
  });
}
