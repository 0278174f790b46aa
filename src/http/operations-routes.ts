// Owns: the /operations resource: create, read (with conditional GET and long-poll), list, cancel,
// delete and result.
// Not here: SSE (events-route.ts), task collection routes (task-routes.ts), the rules (runtime/operations.ts).
// Invariant: a status read never blocks longer than the Prefer: wait the client asked for (≤ 30 s), nor past
// the start of the app's close.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { isTerminal, REDRIVABLE_STATUSES } from '../domain/status.ts';
import type { OperationResult } from '../domain/operation.ts';
import { isHeaderValue } from '../domain/media-type.ts';
import type { OperationsService } from '../runtime/operations.ts';
import {
  ListQuerySchema,
  OperationIdParams,
  OperationPageSchema,
  OperationResourceSchema,
  SubmitBodySchema,
  SubmitHeadersSchema,
  ReadScopeQuery,
  CreateScopeQuery,
  CREATE_FORBIDDEN,
  emptyResponse,
  jsonResponse,
  operationHeaders,
  statusReadHeaders,
  problemResponses,
  resultResponse,
  ResultReadHeaders,
  RESULT_CONDITION_STATUSES,
  RESULT_IF_MATCH_FAILED,
  retryHeaders,
  submitHeaders,
  type SubmitBody,
} from './schemas.ts';
import { preferredWaitS, sendOperation, submitAndReply } from './submit.ts';
import { abortOnClose, closingSignal } from './closing.ts';
import { CACHE_CONTROL, addVary } from './caching.ts';
import { principalOf, readScope, tenantOf } from './tenant.ts';
import { AsyncOpsError } from '../domain/errors.ts';
import { parseDateTime } from '../domain/date-time.ts';
import { cursorAfter, decodeCursor } from './cursors.ts';
import { ID_PREFIXES } from '../domain/ids.ts';
import { entityTagsOf, newestVersionNamed, setOperationHeaders, tagsName } from './operation-headers.ts';
import { checkPreconditions, refuseUnlessIfMatch } from './preconditions.ts';
import type { Static } from '@sinclair/typebox';
import { SUBMIT_FIELDS } from '../runtime/submission.ts';

/** A retry's optional body: a new priority for the run (absent: it keeps its own). */
const RetryBody = Type.Object(
  { priority: Type.Optional({ ...SUBMIT_FIELDS.priority, description: 'The priority it runs at (higher runs first); absent: it keeps its own' }) },
  { additionalProperties: false },
);

const operationRef = Type.Ref(OperationResourceSchema);
const tags = ['operations'];

const PRECONDITION_FAILED = 'If-Match names no current version, or If-None-Match names the current one (`precondition_failed`): nothing was done';
/** What a cancel, retry or delete may be made conditional on (preconditions.ts). */
const ChangeConditions = Type.Object({
  'if-match': Type.Optional(Type.String({ description: 'The ETag of your last read (or `*`): act only if the operation is still at that version, else 412' })),
  'if-none-match': Type.Optional(Type.String({ description: 'Act only if the operation is not at a version named here (`*`: never), else 412' })),
});

/** What a creating request can answer (submit.ts): POST /operations and every task collection route. */
export const submitResponses = {
  200: jsonResponse(
    operationRef,
    'Finished within `Prefer: wait` (or, with `Prefer: return=minimal`, an Idempotency-Key replay of a finished one: no body)',
    submitHeaders,
  ),
  202: jsonResponse(
    operationRef,
    'Accepted: follow Location (or the events stream) until it ends. With `Prefer: return=minimal`: no body (`Preference-Applied: return=minimal`)',
    submitHeaders,
  ),
  ...problemResponses(
    [400, 'Not valid (the body, the input against its schema, or the Idempotency-Key): `errors` names each field'],
    CREATE_FORBIDDEN,
    [409, 'A request with this Idempotency-Key is still being handled'],
    413,
    415,
    [422, 'Unknown task type, a refused webhook_url, or an Idempotency-Key reused with another body'],
  ),
};

export function registerOperationRoutes(app: FastifyInstance, service: OperationsService): void {
  const closing = closingSignal(app);
  app.post<{ Body: SubmitBody }>('/operations', {
    config: { rateClass: 'create' },
    schema: {
      tags,
      operationId: 'submitOperation',
      summary: 'Submit an operation',
      description:
        'Stores the operation and answers 202 with its status resource. `Idempotency-Key` makes retries safe; `Prefer: wait=N` (N ≤ 30) waits up to N s and answers 200 if it finished; `Prefer: return=minimal` answers with Location and ETag only, without reading where it stands in the queue.',
      headers: SubmitHeadersSchema,
      querystring: CreateScopeQuery,
      body: SubmitBodySchema,
      response: submitResponses,
    },
    handler: (request, reply) => {
      const body = request.body;
      return submitAndReply(
        service,
        request,
        reply,
        {
          tenant: tenantOf(request),
          type: body.type,
          input: body.input ?? {},
          webhookUrl: body.webhook_url,
          timeoutS: body.timeout_s,
          priority: body.priority,
          runAt: body.run_at,
          maxAttempts: body.max_attempts,
          concurrencyKey: body.concurrency_key,
        },
        closing,
      );
    },
  });

  app.get<{ Querystring: Static<typeof ListQuerySchema> }>('/operations', {
    schema: {
      tags,
      operationId: 'listOperations',
      summary: 'List operations, newest first',
      description: 'Filters combine (AND). An admin key lists every tenant, or the one `tenant` names.',
      querystring: ListQuerySchema,
      response: { 200: jsonResponse(OperationPageSchema, 'A page of operations, without their input'), ...problemResponses(400, 403) },
    },
    handler: async (request) => {
      const { status, type, error_code, schedule_id, q, limit = 50, cursor } = request.query;
      const createdAfter = queryTime(request.query.created_after);
      const createdBefore = queryTime(request.query.created_before);
      if (createdAfter !== undefined && createdBefore !== undefined && createdAfter > createdBefore) {
        throw new AsyncOpsError('validation_failed', 'created_after is after created_before', {
          errors: [{ path: '/query/created_after', message: 'must not be after created_before' }],
        });
      }
      const page = await service.list(readScope(request), {
        status,
        type,
        errorCode: error_code,
        scheduleId: schedule_id,
        createdAfter,
        createdBefore,
        q,
        limit,
        beforeId: cursor === undefined ? undefined : decodeCursor(cursor, ID_PREFIXES.operation),
      });
      return { items: page.items, next_cursor: cursorAfter(page.nextBeforeId) };
    },
  });

  app.get<{ Params: Static<typeof OperationIdParams> }>('/operations/:id', {
    schema: {
      tags,
      operationId: 'getOperation',
      summary: 'Read an operation',
      description:
        '`Retry-After` (seconds) while not terminal; `ETag`. With `If-None-Match` and `Prefer: wait=N` (N ≤ 30) the reply comes when the operation changes, or after N s (304 if still unchanged).',
      params: OperationIdParams,
      querystring: ReadScopeQuery,
      headers: Type.Object({
        'if-match': Type.Optional(Type.String({ description: 'Answer only while the operation is at a version named here (`*`: any), else 412' })),
        'if-none-match': Type.Optional(Type.String({ description: 'The ETag of your last read: 304 while it is still current' })),
        prefer: Type.Optional(Type.String({ description: '`wait=N` (N ≤ 30), with If-None-Match: hold the request until the operation changes or N s pass' })),
      }),
      response: {
        200: jsonResponse(operationRef, 'The operation', statusReadHeaders),
        304: emptyResponse('Not modified: the ETag sent in If-None-Match is still current', statusReadHeaders),
        ...problemResponses(400, 403, 404, [412, 'If-Match names no current version of the operation (`precondition_failed`)']),
      },
    },
    handler: (request, reply) => readOperation(service, request, reply, closing),
  });

  app.post<{ Params: Static<typeof OperationIdParams> }>('/operations/:id/cancel', {
    schema: {
      tags,
      operationId: 'cancelOperation',
      summary: 'Cancel an operation',
      description: 'Pending: cancelled at once (200). Processing: the handler is aborted and the operation ends cancelled (202). Terminal: 409.',
      params: OperationIdParams,
      querystring: ReadScopeQuery,
      headers: ChangeConditions,
      response: {
        200: jsonResponse(operationRef, 'Cancelled', operationHeaders),
        202: jsonResponse(operationRef, 'Cancel requested: the running handler is aborted and the operation ends cancelled', operationHeaders),
        ...problemResponses(400, 403, 404, [409, 'The operation is already terminal'], [412, PRECONDITION_FAILED]),
      },
    },
    handler: async (request, reply) => {
      const ifVersion = await checkPreconditions(request, service, (op) => !isTerminal(op.status));
      const view = await service.cancel(await service.tenantOfRead(readScope(request), request.params.id), request.params.id, ifVersion);
      return sendOperation(reply, view, isTerminal(view.operation.status) ? 200 : 202);
    },
  });

  app.post<{ Params: Static<typeof OperationIdParams>; Body: Static<typeof RetryBody> }>('/operations/:id/retry', {
    schema: {
      tags,
      operationId: 'retryOperation',
      summary: 'Retry a failed or cancelled operation',
      description:
        'Runs it again as a fresh run: back to `pending` with attempts counted from 1, its error, progress and result cleared, and its webhook sent again when it ends (202, `Location`). Any other status: 409 `not_redrivable`. An admin key retries any tenant’s. The body is optional: `priority` gives it a new priority (as a submit’s, within its tenant’s ceiling); without it, it keeps its own.',
      params: OperationIdParams,
      querystring: ReadScopeQuery,
      headers: ChangeConditions,
      body: RetryBody,
      response: {
        202: jsonResponse(operationRef, 'Back to pending: follow Location (or the events stream) until it ends', retryHeaders),
        ...problemResponses(
          400,
          403,
          404,
          [409, 'Not failed or cancelled (`not_redrivable`): `operation_status` says what it is'],
          [412, PRECONDITION_FAILED],
          [422, 'Of a type this server does not run (`unknown_task_type`)'],
        ),
      },
    },
    // No body (or an empty one) stays a valid retry (it keeps its priority): validate it as `{}`. A JSON `null` is a body,
    // and not an object.
    preValidation: async (request) => {
      if (request.body === undefined) request.body = {};
    },
    handler: async (request, reply) => {
      // As the retry itself refuses: a 409 for another status, a 422 for a type this server does not run.
      const ifVersion = await checkPreconditions(
        request,
        service,
        (op) => REDRIVABLE_STATUSES.includes(op.status) && service.registry.get(op.type) !== undefined,
      );
      const tenant = await service.tenantOfRead(readScope(request), request.params.id);
      const view = await service.retry(tenant, request.params.id, principalOf(request), request.body.priority, ifVersion);
      return sendOperation(reply.header('location', view.resource.links.self), view, 202);
    },
  });

  app.delete<{ Params: Static<typeof OperationIdParams> }>('/operations/:id', {
    schema: {
      tags,
      operationId: 'deleteOperation',
      summary: 'Delete a finished operation and its result',
      params: OperationIdParams,
      querystring: ReadScopeQuery,
      headers: ChangeConditions,
      response: {
        204: emptyResponse('Deleted'),
        ...problemResponses(400, 403, 404, [409, 'Not terminal yet, or its webhook is still being delivered'], [412, PRECONDITION_FAILED]),
      },
    },
    handler: async (request, reply) => {
      // As the delete itself refuses (409): not ended, or its webhook still being delivered.
      const ifVersion = await checkPreconditions(
        request,
        service,
        (op) => isTerminal(op.status) && op.webhookState !== 'pending' && op.webhookState !== 'retrying',
      );
      await service.delete(await service.tenantOfRead(readScope(request), request.params.id), request.params.id, ifVersion);
      return reply.code(204).send();
    },
  });

  app.get<{ Params: Static<typeof OperationIdParams> }>('/operations/:id/result', {
    schema: {
      tags,
      operationId: 'getOperationResult',
      summary: 'The result of a completed operation, with its own content type',
      params: OperationIdParams,
      querystring: ReadScopeQuery,
      headers: ResultReadHeaders,
      response: {
        200: resultResponse,
        ...RESULT_CONDITION_STATUSES,
        ...problemResponses(400, 403, 404, [409, 'Not completed: `operation_status` says what it is'], 410, RESULT_IF_MATCH_FAILED),
      },
    },
    handler: async (request, reply) =>
      sendResult(request, reply, await service.result(await service.tenantOfRead(readScope(request), request.params.id), request.params.id)),
  });
}

/**
 * A list's time filter as ms. The route's schema took only a text parseDateTime reads (the validators' `date-time` is
 * the domain's, app.ts), and refused any other naming its path and why.
 */
function queryTime(text: string | undefined): number | undefined {
  return text === undefined ? undefined : (parseDateTime(text) ?? undefined);
}

/**
 * A result's bytes are the handler's, in the content type it named: opened in a browser from this origin (a result link,
 * the dashboard's), an HTML or SVG one could run script as the dashboard, past its CSRF checks. So it is never sniffed,
 * and a document made of it is sandboxed (an opaque origin, no script); API clients read the bytes unchanged.
 */
const RESULT_HEADERS = { 'x-content-type-options': 'nosniff', 'content-security-policy': 'sandbox' } as const;

export function sendResult(request: FastifyRequest, reply: FastifyReply, result: OperationResult): FastifyReply {
  // RFC 9110 §13.1, looked at once there is a result to send (a 404, 409 or 410 stays one): a result carries no ETag,
  // so an If-Match naming versions names none of it, and `If-None-Match: *` is false for one that is there.
  const ifMatch = request.headers['if-match'];
  if (ifMatch !== undefined && !entityTagsOf(ifMatch).includes('*')) {
    throw new AsyncOpsError('precondition_failed', 'If-Match names a version, and a result has none (it never changes): send * or leave it out');
  }
  if (entityTagsOf(request.headers['if-none-match']).includes('*')) {
    return reply.code(304).header('cache-control', CACHE_CONTROL.immutable).send();
  }
  // A type no header carries is refused when the attempt ends; one stored before that rule goes out as bytes.
  const contentType = isHeaderValue(result.contentType) ? result.contentType : 'application/octet-stream';
  // A Buffer goes out as stored bytes; Fastify does not serialise it.
  return reply.code(200).header('content-type', contentType).header('cache-control', CACHE_CONTROL.immutable).headers(RESULT_HEADERS).send(result.body);
}

/** A held long-poll answers as at its timeout (304 if unchanged) once `closing` fires. */
async function readOperation(
  service: OperationsService,
  request: FastifyRequest<{ Params: Static<typeof OperationIdParams> }>,
  reply: FastifyReply,
  closing: AbortSignal,
): Promise<FastifyReply> {
  addVary(reply, 'Prefer');
  // One read, by scope: an admin's finds the operation whatever its tenant (no lookup of the tenant first).
  let view = await service.get(readScope(request), request.params.id);
  const entityTags = entityTagsOf(request.headers['if-none-match']);
  // A client that has seen a later version than this node's cached read (from another node behind a balancer) is
  // answered from the store: the cached one would be a status going back, a long-poll answered at once with it, or
  // an If-Match on the version it saw refused.
  const seen = Math.max(
    newestVersionNamed(entityTags, view.operation.id) ?? 0,
    newestVersionNamed(entityTagsOf(request.headers['if-match']), view.operation.id) ?? 0,
  );
  if (seen > view.operation.version) view = await service.get(readScope(request), request.params.id, { fresh: true });
  // RFC 9110 §13.1.1: a false If-Match is answered 412, on a read too (§13.2.2: before If-None-Match is looked at).
  refuseUnlessIfMatch(request.headers['if-match'], view.operation);
  // `*` matches whatever the current version is (RFC 9110, 13.1.2), so there is no change to wait for.
  const any = entityTags.includes('*');
  const matches = () => tagsName(entityTags, view.operation);
  const waitS = preferredWaitS(request);
  // A finished operation waits too: its webhook's state is still a new version of it (pending → delivered).
  if (waitS !== null && !any && matches()) {
    reply.header('preference-applied', `wait=${waitS}`);
    view = await service.waitForChange(view.operation.tenant, view.operation.id, view.operation.version, waitS * 1000, abortOnClose(reply, closing));
  }
  if (matches()) {
    setOperationHeaders(reply, view);
    return reply.code(304).send();
  }
  return sendOperation(reply, view, 200);
}
