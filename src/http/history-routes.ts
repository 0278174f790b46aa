// Owns: GET /operations/{id}/history: an operation's events, oldest first, cursor-paginated, as HTTP: its schema, cursors
// and JSON. Not here: the rules (runtime/history.ts: scope, not found), what an event holds (domain/history.ts).
// Invariant: the route only translates; a tenant key sees its own operations' history, an admin key any tenant's.

import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { HISTORY_KINDS, historyEventJson } from '../domain/history.ts';
import { PAGE_LIMIT } from '../config/limits.ts';
import type { HistoryService } from '../runtime/history.ts';
import { decodeSeqCursor, seqCursorAfter } from './cursors.ts';
import { NullableUnion, OperationErrorSchema, OperationIdParams, TenantQuery, jsonResponse, problemResponses } from './schemas.ts';
import { readScope } from './tenant.ts';

/** `T` or null, described as a whole (so the description reaches the OpenAPI document and the SDK's types). */
const DateTime = Type.String({ format: 'date-time' });

/** Every field an event of some kind has (each kind has its own few: domain/history.ts, docs/http-api.md). */
const HistoryEventSchema = Type.Object(
  {
    seq: Type.Integer({ description: 'Orders the events of the operation; the cursor of its pages' }),
    at: DateTime,
    kind: Type.String({ description: `One of: ${HISTORY_KINDS.join(', ')} (a later version may add kinds)` }),
    tenant: Type.Optional(Type.String({ description: 'created: the tenant it was created for' })),
    idempotency_key: Type.Optional(NullableUnion(Type.String(), 'created: the Idempotency-Key it was created with')),
    estimated_completion_at: Type.Optional(NullableUnion(DateTime, 'created: the ETA the reply that created it gave (null: none was given)')),
    attempt: Type.Optional(
      Type.Integer({ description: 'claimed, attempt_failed, lease_expired, released: the attempt; webhook_attempt: the delivery attempt' }),
    ),
    worker: Type.Optional(Type.String({ description: 'claimed: the worker that runs the attempt' })),
    times: Type.Optional(
      Type.Integer({
        minimum: 1,
        description:
          'released: how many give-backs of the attempt in a row it stands for (each later one deletes its claim’s events and moves this event to a new seq and at)',
      }),
    ),
    progress: Type.Optional(NullableUnion(Type.Number(), 'progress: the fraction done (a milestone: the first report, then one per 10 %)')),
    message: Type.Optional(NullableUnion(Type.String(), 'progress: the message reported with it')),
    error: Type.Optional(
      Type.Union([OperationErrorSchema, Type.String(), Type.Null()], {
        description: 'attempt_failed, failed, cancelled: the error; webhook_attempt: what went wrong sending it (null: a reply came)',
      }),
    ),
    next_run_at: Type.Optional({ ...DateTime, description: 'attempt_failed: when the next attempt runs' }),
    by: Type.Optional(Type.String({ description: 'redriven: who asked' })),
    bulk_action_id: Type.Optional(NullableUnion(Type.String(), 'redriven: the bulk action that did it')),
    delivery_id: Type.Optional(Type.String({ description: 'webhook_attempt: the delivery' })),
    status_code: Type.Optional(NullableUnion(Type.Integer(), 'webhook_attempt: the receiver’s HTTP status (null: no reply)')),
    duration_ms: Type.Optional(Type.Number({ description: 'webhook_attempt: how long the attempt took' })),
    outcome: Type.Optional(
      Type.Union([Type.Literal('delivered'), Type.Literal('retrying'), Type.Literal('dead')], { description: 'webhook_attempt: what came of it' }),
    ),
  },
  { additionalProperties: true },
);

const HistoryQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: PAGE_LIMIT.max, default: PAGE_LIMIT.default })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    tenant: Type.Optional(TenantQuery),
  },
  { additionalProperties: false },
);

export function registerHistoryRoutes(app: FastifyInstance, history: HistoryService): void {
  app.get<{ Params: Static<typeof OperationIdParams>; Querystring: Static<typeof HistoryQuery> }>('/operations/:id/history', {
    schema: {
      tags: ['operations'],
      operationId: 'listOperationHistory',
      summary: 'What happened to an operation, oldest first',
      description:
        'Its events: created, claimed, progress milestones, attempt_failed, lease_expired, released, cancel_requested, cancelled, completed, failed, redriven and each webhook_attempt. Kept while the operation is, and deleted with it.',
      params: OperationIdParams,
      querystring: HistoryQuery,
      response: {
        200: jsonResponse(Type.Object({ items: Type.Array(HistoryEventSchema), next_cursor: NullableUnion(Type.String()) }), 'A page of events'),
        ...problemResponses(400, 403, 404),
      },
    },
    handler: async (request) => {
      const { limit = PAGE_LIMIT.default, cursor } = request.query;
      const page = await history.list(readScope(request), request.params.id, {
        limit,
        afterSeq: cursor === undefined ? undefined : decodeSeqCursor(cursor),
      });
      return { items: page.items.map(historyEventJson), next_cursor: seqCursorAfter(page.nextAfterSeq) };
    },
  });
}
