// Owns: GET /task-types and the collection routes task types declare (POST /reports, POST /reports/async,
// GET /reports/{id}).
// Not here: the generic /operations routes; validation rules (runtime/).
// Invariant: on a collection route the body is the task input; a top-level webhook_url is taken out of it; a
// route serves only operations of its own type (any other id is not found there).

import type { FastifyInstance, FastifySchemaCompiler } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { AsyncOpsError, fieldErrorsSummary } from '../domain/errors.ts';
import type { OperationsService } from '../runtime/operations.ts';
import type { RegisteredTask } from '../runtime/registry.ts';
import {
  CreateScopeQuery,
  OperationIdParams,
  ReadScopeQuery,
  SubmitHeadersSchema,
  TaskTypeSchema,
  jsonResponse,
  problemResponses,
  resultResponse,
  ResultReadHeaders,
  RESULT_CONDITION_STATUSES,
  RESULT_IF_MATCH_FAILED,
  NoQuery,
} from './schemas.ts';
import { submitAndReply } from './submit.ts';
import { closingSignal } from './closing.ts';
import { sendResult, submitResponses } from './operations-routes.ts';
import { readScope, tenantOf } from './tenant.ts';
import { MAX_URL_LENGTH } from '../config/limits.ts';

export function registerTaskRoutes(app: FastifyInstance, service: OperationsService): void {
  app.get('/task-types', {
    schema: {
      tags: ['task types'],
      operationId: 'listTaskTypes',
      summary: 'Registered task types with their input schema, limits and observed duration',
      querystring: NoQuery,
      response: { 200: jsonResponse(Type.Object({ items: Type.Array(TaskTypeSchema) }), 'Every registered task type') },
    },
    handler: async () => {
      const [estimates, held] = await Promise.all([service.durationEstimates(), service.heldUntil()]);
      const heldUntil = (type: string) => {
        const until = held.get(type);
        return until === undefined ? null : new Date(until).toISOString();
      };
      const items = service.registry.list().map((task) => {
        const estimate = estimates.get(task.type) ?? null;
        return {
          type: task.type,
          description: task.definition.description ?? null,
          route: task.route,
          input_schema: task.inputSchema,
          // As an operation of the type gets it: held to the server's --max-timeout.
          timeout_s: service.defaultTimeoutS(task),
          max_attempts: task.maxAttempts,
          concurrency: task.concurrency,
          rate_limit: task.rateLimit === null ? null : { limit: task.rateLimit.limit, interval_s: task.rateLimit.intervalS },
          held_until: heldUntil(task.type),
          observed_duration_s: estimate === null ? null : Math.round(estimate.typicalMs) / 1000,
          observed_samples: estimate?.samples ?? 0,
        };
      });
      return { items };
    },
  });
  for (const task of service.registry.list()) if (task.route !== null) registerCollection(app, service, task, task.route);
}

function registerCollection(app: FastifyInstance, service: OperationsService, task: RegisteredTask, route: string): void {
  const closing = closingSignal(app);
  const tags = [task.type];
  const name = operationName(task.type);
  const submitSchema = {
    tags,
    operationId: `submit${name}`,
    summary: `Submit a ${task.type} operation`,
    description: `The body is the ${task.type} input (below); a top-level \`webhook_url\` is taken out of it as the webhook. Answers 202 with the operation resource; \`Idempotency-Key\`, \`Prefer: wait=N\` and \`Prefer: return=minimal\` work as on POST /operations.`,
    headers: SubmitHeadersSchema,
    querystring: CreateScopeQuery,
    body: {
      ...task.inputSchema,
      properties: { ...((task.inputSchema.properties as object | undefined) ?? {}), webhook_url: { type: 'string', maxLength: MAX_URL_LENGTH } },
    },
    response: submitResponses,
  };
  const handler = async (request: import('fastify').FastifyRequest, reply: import('fastify').FastifyReply) => {
    const body = request.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new AsyncOpsError('validation_failed', 'the body must be a JSON object (the task input)', { errors: [{ path: '/', message: 'must be object' }] });
    }
    const { webhook_url: webhookUrl, ...input } = body as Record<string, unknown>;
    if (webhookUrl !== undefined && typeof webhookUrl !== 'string') {
      throw new AsyncOpsError('validation_failed', 'webhook_url must be a string', { errors: [{ path: '/webhook_url', message: 'must be string' }] });
    }
    try {
      return await submitAndReply(service, request, reply, { tenant: tenantOf(request), type: task.type, input, webhookUrl }, closing);
    } catch (error) {
      throw error instanceof AsyncOpsError ? relativeToBody(error) : error;
    }
  };
  // The task registry validates the input (one validator, one error format); the route schema documents it. The query
  // and headers are checked as on POST /operations.
  const noValidation: FastifySchemaCompiler<unknown> = (route) => (route.httpPart === 'body' ? () => true : app.validatorCompiler!(route));
  app.post(route, { config: { rateClass: 'create' }, schema: submitSchema, validatorCompiler: noValidation, handler });
  app.post(`${route}/async`, {
    config: { rateClass: 'create' },
    schema: { ...submitSchema, operationId: `submit${name}Async`, summary: `${submitSchema.summary} (explicitly asynchronous)` },
    validatorCompiler: noValidation,
    handler,
  });
  app.get<{ Params: Static<typeof OperationIdParams> }>(`${route}/:id`, {
    schema: {
      tags,
      operationId: `get${name}Result`,
      summary: `The result of a completed ${task.type} operation`,
      params: OperationIdParams,
      querystring: ReadScopeQuery,
      headers: ResultReadHeaders,
      response: {
        200: resultResponse,
        ...RESULT_CONDITION_STATUSES,
        ...problemResponses(
          400,
          403,
          [404, `Not found, or not a ${task.type} operation`],
          [409, 'Not completed: `operation_status` says what it is'],
          410,
          RESULT_IF_MATCH_FAILED,
        ),
      },
    },
    handler: async (request, reply) => {
      // Another type's operation is a 404 here, whatever its status. An admin key reads any tenant's, as at
      // /operations/{id}/result: this is the resource's own result_url.
      const tenant = await service.tenantOfRead(readScope(request), request.params.id);
      return sendResult(request, reply, await service.result(tenant, request.params.id, task.type));
    },
  });
}

/** A task type as it goes into operationIds: `sales_report` → `SalesReport` (submitSalesReport, getSalesReportResult). */
export function operationName(type: string): string {
  return type
    .split(/[_.-]+/)
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');
}

/** On a collection route the body is the input, so `/input/x` is reported as `/x`. */
function relativeToBody(error: AsyncOpsError): AsyncOpsError {
  if (!error.errors.some((e) => e.path.startsWith('/input'))) return error;
  const errors = error.errors.map((e) => ({ ...e, path: e.path.startsWith('/input') ? e.path.slice('/input'.length) || '/' : e.path }));
  return new AsyncOpsError(error.code, fieldErrorsSummary(errors), { errors, extra: { ...error.extra } });
}
