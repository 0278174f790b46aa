// Owns: the webhook delivery endpoints: the list (and dead-letter list), replay, and one operation's
// deliveries with every attempt.
// Not here: sending (webhooks/dispatcher.ts).
// Invariant: deliveries are scoped to the tenant of their operation; another tenant's id is 404.

import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { AsyncOpsError } from '../domain/errors.ts';
import { ID_PREFIXES, isId } from '../domain/ids.ts';
import { iso } from '../domain/resource.ts';
import type { Clock } from '../domain/clock.ts';
import type { Delivery, DeliveryAttempt, Store } from '../store/store.ts';
import { decodeCursor, encodeCursor } from '../runtime/operations.ts';
import { DeliveryIdParams, DeliveryStateSchema, OperationIdParams, problemResponses } from './schemas.ts';
import { tenantOf } from './tenant.ts';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

export const DeliverySchema = Type.Object({
  id: Type.String(),
  operation_id: Type.String(),
  webhook_id: Type.String({ description: 'The webhook-id header: the same on every attempt and replay' }),
  url: Type.String(),
  event_type: Type.String(),
  state: DeliveryStateSchema,
  attempt_count: Type.Integer(),
  next_attempt_at: Nullable(Type.String({ format: 'date-time' })),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
  last_status_code: Nullable(Type.Integer()),
  last_error: Nullable(Type.String()),
});

const AttemptSchema = Type.Object({
  attempt: Type.Integer(),
  trigger: Type.Union([Type.Literal('scheduled'), Type.Literal('manual')]),
  started_at: Type.String({ format: 'date-time' }),
  duration_ms: Type.Number(),
  status_code: Nullable(Type.Integer()),
  error: Nullable(Type.String()),
  response_snippet: Nullable(Type.String()),
});

const ListQuery = Type.Object(
  {
    state: Type.Optional(DeliveryStateSchema),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);

export function deliveryJson(d: Delivery) {
  return {
    id: d.id,
    operation_id: d.operationId,
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

function deliveryNotFound(id: string): AsyncOpsError {
  return new AsyncOpsError('not_found', `no webhook delivery ${JSON.stringify(id.slice(0, 64))}`);
}

export function registerDeliveryRoutes(app: FastifyInstance, deps: { store: Store; clock: Clock }): void {
  const { store, clock } = deps;
  const tags = ['webhook deliveries'];
  app.get<{ Querystring: Static<typeof ListQuery> }>('/webhook-deliveries', {
    schema: {
      tags,
      summary: 'Webhook deliveries, newest first; `state=dead` is the dead-letter list',
      querystring: ListQuery,
      response: { 200: Type.Object({ items: Type.Array(DeliverySchema), next_cursor: Nullable(Type.String()) }), ...problemResponses(400) },
    },
    handler: async (request) => {
      const { state, limit = 50, cursor } = request.query;
      const beforeId = cursor === undefined ? undefined : decodeCursor(cursor);
      const rows = await store.deliveryList({ tenant: tenantOf(request), state, limit: limit + 1, beforeId });
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return { items: page.map(deliveryJson), next_cursor: rows.length > limit && last !== undefined ? encodeCursor(last.id) : null };
    },
  });

  app.post<{ Params: Static<typeof DeliveryIdParams> }>('/webhook-deliveries/:id/retry', {
    schema: {
      tags,
      summary: 'Replay a dead delivery: new attempts with the same webhook-id',
      params: DeliveryIdParams,
      response: { 202: DeliverySchema, ...problemResponses(404, 409) },
    },
    handler: async (request, reply) => {
      const { id } = request.params;
      if (!isId(ID_PREFIXES.delivery, id)) throw deliveryNotFound(id);
      const outcome = await store.deliveryRetry({ id, tenant: tenantOf(request), now: clock.now() });
      if (outcome.kind === 'not_found') throw deliveryNotFound(id);
      if (outcome.kind === 'not_dead') throw new AsyncOpsError('conflict', `delivery ${id} is ${outcome.delivery.state}; only dead deliveries are replayed`);
      return reply.code(202).send(deliveryJson(outcome.delivery));
    },
  });

  app.get<{ Params: Static<typeof OperationIdParams> }>('/operations/:id/deliveries', {
    schema: {
      tags,
      summary: "Every webhook delivery of one operation, with each attempt",
      params: OperationIdParams,
      response: { 200: Type.Object({ items: Type.Array(Type.Intersect([DeliverySchema, Type.Object({ attempts: Type.Array(AttemptSchema) })])) }), ...problemResponses(404) },
    },
    handler: async (request) => {
      const { id } = request.params;
      const tenant = tenantOf(request);
      if (!isId(ID_PREFIXES.operation, id) || (await store.operationGet({ id, tenant })) === null) {
        throw new AsyncOpsError('not_found', `no operation ${JSON.stringify(id.slice(0, 64))}`);
      }
      const rows = await store.deliveryListForOperation({ operationId: id, tenant });
      return { items: rows.map(({ delivery, attempts }) => ({ ...deliveryJson(delivery), attempts: attempts.map(attemptJson) })) };
    },
  });
}
