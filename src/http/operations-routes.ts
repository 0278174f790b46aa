// Owns: the /operations resource: create, read (with conditional GET and long-poll), list, cancel,
// delete and result.
// Not here: SSE (events-route.ts), task collection routes (task-routes.ts), the rules (runtime/operations.ts).
// Invariant: a status read never blocks longer than the Prefer: wait the client asked for (≤ 30 s), nor past
// the start of the app's close.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { isTerminal } from '../domain/status.ts';
import type { OperationResult } from '../domain/operation.ts';
import type { OperationsService } from '../runtime/operations.ts';
import {
  ListQuerySchema,
  OperationIdParams,
  OperationPageSchema,
  OperationResourceSchema,
  SubmitBodySchema,
  problemResponses,
  type SubmitBody,
} from './schemas.ts';
import { preferredWaitS, sendOperation, submitAndReply } from './submit.ts';
import { abortOnClose, closingSignal } from './closing.ts';
import { tenantOf } from './tenant.ts';
import type { Static } from '@sinclair/typebox';

const operationRef = Type.Ref(OperationResourceSchema);
const tags = ['operations'];

export function registerOperationRoutes(app: FastifyInstance, service: OperationsService): void {
  const closing = closingSignal(app);
  app.post<{ Body: SubmitBody }>('/operations', {
    config: { rateClass: 'create' },
    schema: {
      tags,
      summary: 'Submit an operation',
      description: 'Stores the operation and answers 202 with its status resource. `Idempotency-Key` makes retries safe; `Prefer: wait=N` (N ≤ 30) waits up to N s and answers 200 if it finished.',
      headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String()), prefer: Type.Optional(Type.String()) }),
      body: SubmitBodySchema,
      response: { 200: operationRef, 202: operationRef, ...problemResponses(400, 409, 413, 415, 422) },
    },
    handler: (request, reply) => {
      const body = request.body;
      return submitAndReply(service, request, reply, {
        tenant: tenantOf(request),
        type: body.type,
        input: body.input ?? {},
        webhookUrl: body.webhook_url,
        timeoutS: body.timeout_s,
        priority: body.priority,
        runAt: body.run_at,
        maxAttempts: body.max_attempts,
      }, closing);
    },
  });

  app.get<{ Querystring: Static<typeof ListQuerySchema> }>('/operations', {
    schema: {
      tags,
      summary: 'List operations, newest first',
      querystring: ListQuerySchema,
      response: { 200: OperationPageSchema, ...problemResponses(400) },
    },
    handler: async (request) => {
      const { status, type, limit = 50, cursor } = request.query;
      const page = await service.list(tenantOf(request), { status, type, limit, cursor });
      return { items: page.items, next_cursor: page.nextCursor };
    },
  });

  app.get<{ Params: Static<typeof OperationIdParams> }>('/operations/:id', {
    schema: {
      tags,
      summary: 'Read an operation',
      description: '`Retry-After` (seconds) while not terminal; `ETag`. With `If-None-Match` and `Prefer: wait=N` (N ≤ 30) the reply comes when the operation changes, or after N s (304 if still unchanged).',
      params: OperationIdParams,
      headers: Type.Object({ 'if-none-match': Type.Optional(Type.String()), prefer: Type.Optional(Type.String()) }),
      response: { 200: operationRef, 304: Type.Null({ description: 'Not modified' }), ...problemResponses(404) },
    },
    handler: (request, reply) => readOperation(service, request, reply, closing),
  });

  app.post<{ Params: Static<typeof OperationIdParams> }>('/operations/:id/cancel', {
    schema: {
      tags,
      summary: 'Cancel an operation',
      description: 'Pending: cancelled at once (200). Processing: the handler is aborted and the operation ends cancelled (202). Terminal: 409.',
      params: OperationIdParams,
      response: { 200: operationRef, 202: operationRef, ...problemResponses(404, 409) },
    },
    handler: async (request, reply) => {
      const view = await service.cancel(tenantOf(request), request.params.id);
      return sendOperation(reply, view, isTerminal(view.operation.status) ? 200 : 202);
    },
  });

  app.delete<{ Params: Static<typeof OperationIdParams> }>('/operations/:id', {
    schema: {
      tags,
      summary: 'Delete a finished operation and its result',
      params: OperationIdParams,
      response: { 204: Type.Null({ description: 'Deleted' }), ...problemResponses(404, 409) },
    },
    handler: async (request, reply) => {
      await service.delete(tenantOf(request), request.params.id);
      return reply.code(204).send();
    },
  });

  app.get<{ Params: Static<typeof OperationIdParams> }>('/operations/:id/result', {
    schema: {
      tags,
      summary: 'The result of a completed operation, with its own content type',
      params: OperationIdParams,
      response: { 200: Type.Unknown({ description: 'The result body' }), ...problemResponses(404, 409, 410) },
    },
    handler: async (request, reply) => sendResult(reply, await service.result(tenantOf(request), request.params.id)),
  });
}

export function sendResult(reply: FastifyReply, result: OperationResult): FastifyReply {
  // A Buffer goes out as stored bytes; Fastify does not serialise it.
  return reply.code(200).header('content-type', result.contentType).send(result.body);
}

/** A held long-poll answers as at its timeout (304 if unchanged) once `closing` fires. */
async function readOperation(service: OperationsService, request: FastifyRequest<{ Params: Static<typeof OperationIdParams> }>, reply: FastifyReply, closing: AbortSignal): Promise<FastifyReply> {
  const tenant = tenantOf(request);
  let view = await service.get(tenant, request.params.id);
  const ifNoneMatch = request.headers['if-none-match'];
  const matches = () => ifNoneMatch !== undefined && ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === view.etag);
  const waitS = preferredWaitS(request);
  if (waitS !== null && matches() && !isTerminal(view.operation.status)) {
    reply.header('preference-applied', `wait=${waitS}`);
    view = await service.waitForChange(tenant, view.operation.id, view.operation.version, waitS * 1000, abortOnClose(reply, closing));
  }
  if (matches()) {
    reply.header('etag', view.etag);
    if (view.retryAfterS !== null) reply.header('retry-after', String(view.retryAfterS));
    return reply.code(304).send();
  }
  return sendOperation(reply, view, 200);
}
