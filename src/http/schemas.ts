// Owns: the JSON schemas of the HTTP contract (TypeBox), shared by route validation, response
// serialisation and the generated OpenAPI document, and the responses routes declare (JSON, problem, empty, result)
// with their headers.
// Not here: task input schemas (each task declares its own).
// Invariant: snake_case names; what these schemas say is what clients see in /openapi.json.

import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { OPERATION_STATUSES, TERMINAL_STATUSES } from '../domain/status.ts';
import { DELIVERY_STATES, TENANT_NAME } from '../domain/operation.ts';
import { PAGE_LIMIT } from '../config/limits.ts';
import { SUBMIT_FIELDS } from '../runtime/submission.ts';
import { WEBHOOK_EVENT_TYPES } from '../webhooks/payload.ts';

/**
 * `T` or null as one schema (`type: [T, "null"]`), not a union: the response serialiser writes it directly, where a
 * union makes it validate each reply's value against every branch first, a cost on every status GET (bench/README.md).
 */
const Nullable = <T extends TSchema & { type: string }>(schema: T) => Type.Unsafe<Static<T> | null>({ ...schema, type: [schema.type, 'null'] });
const DateTime = Type.String({ format: 'date-time' });

/**
 * `T` or null as a union (`anyOf`), with an optional description of the whole: the routes' schemas that the serialiser's
 * `type` array cannot carry (a union or an object branch) or that are not on a hot path. Not `Nullable` above.
 */
export const NullableUnion = <T extends TSchema>(schema: T, description?: string) =>
  Type.Union([schema, Type.Null()], description === undefined ? {} : { description });

export const OperationStatusSchema = Type.Union(OPERATION_STATUSES.map((s) => Type.Literal(s)));
export const DeliveryStateSchema = Type.Union(DELIVERY_STATES.map((s) => Type.Literal(s)));

export const OperationIdParams = Type.Object({ id: Type.String({ maxLength: 200, description: 'Operation id (op_…)' }) });
export const DeliveryIdParams = Type.Object({ id: Type.String({ maxLength: 200, description: 'Delivery id (dlv_…)' }) });

export const OperationErrorSchema = Type.Object({ code: Type.String(), message: Type.String() });

export const OperationResourceSchema = Type.Object(
  {
    id: Type.String({ description: 'op_ + a sortable, URL-safe id' }),
    operation_id: Type.String({ description: 'Same as id' }),
    tenant: Type.String({
      description: "The tenant it belongs to: its API key's (`default` on a server without keys); an admin key's reads span tenants",
    }),
    type: Type.String(),
    status: OperationStatusSchema,
    input: Type.Optional(Type.Unknown()),
    progress: Nullable(Type.Number({ minimum: 0, maximum: 1 })),
    progress_message: Nullable(Type.String()),
    attempt: Type.Integer(),
    max_attempts: Type.Integer(),
    priority: Type.Integer(),
    concurrency_key: Nullable(
      Type.String({ description: "What its type's per-key limit of running operations counts it under (null: none); keys take turns" }),
    ),
    schedule_id: Nullable(Type.String({ description: 'The schedule whose tick created it (null: a submit); it stays when the schedule is deleted' })),
    created_at: DateTime,
    started_at: Nullable(DateTime),
    finished_at: Nullable(DateTime),
    updated_at: DateTime,
    run_at: DateTime,
    timeout_s: Type.Integer({ description: 'Max execution time of one attempt, whole seconds' }),
    queue_position: Nullable(
      Type.Integer({
        description:
          "Runnable pending operations of this type that start before this one: its own tenant's ahead of it, plus the turns other tenants take first (an estimate when several tenants wait)",
      }),
    ),
    estimated_completion_at: Nullable({ ...DateTime, description: 'When it is expected to end: the median of the estimate; null without a basis' }),
    estimated_completion_range: Nullable(
      Type.Object(
        {
          p10: { ...DateTime, description: 'It ends before this 1 time in 10' },
          p90: { ...DateTime, description: 'It ends by this 9 times in 10' },
        },
        { description: 'The range it ends in about 8 times in 10; null when estimated_completion_at is' },
      ),
    ),
    estimated_seconds_remaining: Nullable(Type.Number()),
    result_url: Nullable(Type.String()),
    error: Nullable({ ...OperationErrorSchema, description: 'Why it failed or was cancelled; null until it ends so' }),
    last_attempt_error: Nullable({ ...OperationErrorSchema, description: 'While a retry waits or runs: why the previous attempt failed' }),
    webhook: Nullable(Type.Object({ url: Type.String(), state: DeliveryStateSchema })),
    links: Type.Object({
      self: Type.String(),
      cancel: Nullable(Type.String()),
      result: Nullable(Type.String()),
      events: Type.String(),
    }),
  },
  { $id: 'Operation' },
);

export const SubmitBodySchema = Type.Object(
  {
    type: Type.String({ minLength: 1, maxLength: 64, description: 'A registered task type (GET /task-types)' }),
    input: Type.Optional(Type.Unknown({ description: "The task's input; validated against its schema" })),
    // The service compiles the same fields (with the server's ceilings), so every edge and embedder meets these rules.
    ...SUBMIT_FIELDS,
  },
  { additionalProperties: false },
);
export type SubmitBody = Static<typeof SubmitBodySchema>;

/** The request headers every creating route honours (submit.ts reads them). */
export const SubmitHeadersSchema = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({ description: '1..255 visible ASCII characters: the same key with the same body returns the same operation for 24 h' }),
  ),
  prefer: Type.Optional(
    Type.String({
      description:
        '`wait=N` (N ≤ 30): 200 with the finished operation if it completes within N s, else the usual 202. `return=minimal` (without `wait`): the same status and headers (Location, ETag) with no body and no Retry-After',
    }),
  ),
});

export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String(),
    instance: Type.Optional(Type.String()),
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  },
  { $id: 'Problem', additionalProperties: true },
);

/**
 * A tenant named in a request: a name no tenant can have (keys and embedders are held to the same) is a 400 naming the
 * field, not an empty list that reads as "this tenant has nothing".
 */
export function TenantName(description: string) {
  return Type.String({ minLength: 1, maxLength: 64, pattern: TENANT_NAME.source, description });
}

/** `?tenant=` on a read: an admin key's narrows to one tenant; a tenant key may name only its own (else 403). */
export const TenantQuery = TenantName('Admin keys: only this tenant (a tenant key may name only its own)');

/** The query of a read of one resource: an admin key may name the tenant it must belong to. */
export const ReadScopeQuery = Type.Object({ tenant: Type.Optional(TenantQuery) }, { additionalProperties: false });
/** `?tenant=` on a create: what a key creates is its own tenant's, an admin key's too; naming another is a 403. */
export const CreateScopeQuery = Type.Object(
  { tenant: Type.Optional(TenantName('Optional: your own tenant (what a key creates is its tenant’s; another tenant is 403)')) },
  { additionalProperties: false },
);
/** The query of a route that takes no parameter: one given is a 400, as on every route, not left unread. */
export const NoQuery = Type.Object({}, { additionalProperties: false });
/** The 403 of a create whose `?tenant=` names another tenant. */
export const CREATE_FORBIDDEN: readonly [403, string] = [403, 'Forbidden: `tenant` names another tenant, and what a key creates is its own tenant’s'];

export const ListQuerySchema = Type.Object(
  {
    status: Type.Optional(OperationStatusSchema),
    type: Type.Optional(Type.String({ maxLength: 64 })),
    error_code: Type.Optional(Type.String({ maxLength: 64, description: 'The code of its error (or of its last attempt, while a retry waits)' })),
    schedule_id: Type.Optional(Type.String({ maxLength: 64, description: "Created by this schedule's ticks" })),
    created_after: Type.Optional(Type.String({ format: 'date-time', description: 'Created at or after this (RFC 3339)' })),
    created_before: Type.Optional(Type.String({ format: 'date-time', description: 'Created before this (RFC 3339)' })),
    q: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'An operation id or an Idempotency-Key (exact): the one operation it names' })),
    tenant: Type.Optional(TenantQuery),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: PAGE_LIMIT.max, default: PAGE_LIMIT.default })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);

export const OperationPageSchema = Type.Object({
  items: Type.Array(Type.Ref(OperationResourceSchema)),
  next_cursor: Nullable(Type.String()),
});

export const TaskTypeSchema = Type.Object({
  type: Type.String(),
  description: Nullable(Type.String()),
  route: Nullable(Type.String()),
  input_schema: Type.Unknown(),
  timeout_s: Type.Integer(),
  max_attempts: Type.Integer(),
  concurrency: Type.Integer(),
  rate_limit: Nullable(
    Type.Object(
      { limit: Type.Integer({ minimum: 1 }), interval_s: Type.Number({ exclusiveMinimum: 0 }) },
      { additionalProperties: false, description: 'At most `limit` starts per `interval_s` seconds, across all nodes (null: none declared)' },
    ),
  ),
  held_until: Nullable(
    Type.String({ format: 'date-time', description: 'A handler threw RateLimitedError: no operation of the type starts before this (null: not held)' }),
  ),
  observed_duration_s: Nullable(Type.Number({ description: 'Median duration of recent successful attempts (or the declared prior)' })),
  observed_samples: Type.Integer(),
});

/** The body of a webhook request (webhooks/payload.ts builds it); `webhooks` in /openapi.json describes the request. */
export const WebhookEventSchema = Type.Object(
  {
    type: Type.Union(WEBHOOK_EVENT_TYPES.map((t) => Type.Literal(t))),
    timestamp: Type.String({ format: 'date-time', description: 'When the operation ended' }),
    operation_id: Type.String(),
    status: Type.Union(TERMINAL_STATUSES.map((s) => Type.Literal(s))),
    result_url: Nullable(Type.String({ description: 'Set when it completed' })),
    error: Nullable({ ...OperationErrorSchema, description: 'Why it failed or was cancelled; null when it completed' }),
    data: Type.Ref(OperationResourceSchema, { description: 'The operation resource (with its input) as it was when it ended' }),
  },
  { $id: 'WebhookEvent' },
);

/**
 * Marks a response header that every such response carries. @fastify/swagger copies a response's `headers` as
 * schemas and has no place for `required`; openapi.ts lifts the mark onto the header object.
 */
export const REQUIRED_HEADER = 'x-required';
export const requiredHeader = <T extends TSchema>(schema: T): T => ({ ...schema, [REQUIRED_HEADER]: true });

/**
 * A route schema's request body as the OpenAPI document gives it, where it says more than the route's own `body` (which
 * Fastify validates with ajv, whose messages for a union of branches would not name the field at fault): openapi.ts
 * writes it in place of `body`, and the route's handler checks the same rules with messages of its own.
 */
export const DOCUMENTED_BODY = 'x-documented-body';
/** Spread into a route schema: the body the document gives (Fastify's schema type has no such member). */
export const documentedBodyOf = (schema: TSchema) => ({ [DOCUMENTED_BODY]: schema });

/** The schemas of the response headers routes declare. */
export const ResponseHeaders = {
  etag: Type.String({
    description:
      'A weak validator of the stored version of the operation (`W/"op_….3"`; queue_position and the ETA are worked out at each read, outside it); send it in If-None-Match to long-poll or get 304',
  }),
  retryAfter: Type.Integer({
    minimum: 1,
    description: 'Seconds: when a change is likely (half the estimated time left, 1..15), present while the operation is not terminal',
  }),
  tryAgainAfter: requiredHeader(Type.Integer({ minimum: 1, description: 'Seconds to wait before trying again' })),
  location: Type.String({ description: 'The status resource: /operations/{id}' }),
  preferenceApplied: Type.String({
    pattern: '^(wait=[0-9]+|return=minimal)$',
    description: 'The preference that was honoured: `wait=N` (N capped at 30), or on a submit `return=minimal`',
  }),
  idempotentReplayed: Type.Literal('true', { description: 'The Idempotency-Key was seen before: this is the operation it created' }),
};

/** The headers of a reply that carries an operation resource (sendOperation in submit.ts sets them). */
export const operationHeaders = { ETag: requiredHeader(ResponseHeaders.etag), 'Retry-After': ResponseHeaders.retryAfter };
/** …and of a status read, which may have been held (`Prefer: wait`). */
export const statusReadHeaders = { ...operationHeaders, 'Preference-Applied': ResponseHeaders.preferenceApplied };
/** …and of a submit's reply (submitAndReply). */
/** A retry's 202: back to pending, at its Location; it takes no Prefer and no Idempotency-Key. */
export const retryHeaders = {
  ...operationHeaders,
  Location: requiredHeader(ResponseHeaders.location),
};

export const submitHeaders = {
  ...retryHeaders,
  'Preference-Applied': ResponseHeaders.preferenceApplied,
  'Idempotent-Replayed': ResponseHeaders.idempotentReplayed,
};

type HeaderSchemas = Readonly<Record<string, TSchema>>;
const withHeaders = (headers: HeaderSchemas | undefined) => (headers === undefined ? {} : { headers });

/** A JSON response; `content` makes @fastify/swagger write its media type and Fastify pick its serializer by it. */
export const jsonResponse = (schema: TSchema, description: string, headers?: HeaderSchemas) => ({
  description,
  ...withHeaders(headers),
  content: { 'application/json': { schema } },
});

/** A response without a body (204, 304). */
export const emptyResponse = (description: string, headers?: HeaderSchemas) => ({ type: 'null', description, ...withHeaders(headers) });

/** What a result route sends: the stored bytes under the content type the handler gave. */
export const resultResponse = {
  description:
    'The result, with the content type its handler gave: JSON by default, CSV from a task that returns it (the report with `format: csv`), or any other type',
  // sendResult sets them: a browser that opens a result neither sniffs it nor runs script from it as this origin.
  headers: {
    'X-Content-Type-Options': requiredHeader(Type.Literal('nosniff', { description: 'The content type is the handler’s, not to be sniffed' })),
    'Content-Security-Policy': requiredHeader(
      Type.Literal('sandbox', { description: 'A document made of the result has an opaque origin and runs no script' }),
    ),
  },
  content: {
    'application/json': { schema: Type.Unknown({ description: 'A JSON result' }) },
    'text/csv': { schema: Type.String() },
    '*/*': { schema: Type.String({ contentMediaType: 'application/octet-stream', description: 'Bytes of another type' }) },
  },
};

/** A result read's conditions (RFC 9110 §13.1): a result never changes and carries no ETag. */
export const ResultReadHeaders = Type.Object({
  'if-match': Type.Optional(Type.String({ description: '`*`: answer while the result is there; naming a version (a result has no ETag): 412' })),
  'if-none-match': Type.Optional(Type.String({ description: '`*`: 304 while the result is there (it never changes); naming versions changes nothing' })),
});

/** What a result read's conditions may answer instead of the result. */
export const RESULT_CONDITION_STATUSES = {
  304: emptyResponse('Not modified: `If-None-Match: *`, and the result is there (it never changes)'),
} as const;

/** The 412 of a result read whose If-Match names a version. */
export const RESULT_IF_MATCH_FAILED: readonly [412, string] = [412, 'If-Match names a version, and a result has none (`precondition_failed`)'];

const PROBLEM_DESCRIPTIONS: Readonly<Record<number, string>> = {
  400: 'Not valid: `errors` names each failing field',
  403: 'Forbidden: `tenant` names another tenant, and only an admin key reads other tenants',
  404: 'Not found (for this tenant)',
  409: 'Conflicts with the current state',
  410: 'The result was removed by retention',
  413: 'The request body is over the limit',
  415: 'The body is not application/json in UTF-8',
  422: 'Understood but refused',
  429: 'Too many requests: honour Retry-After',
  503: 'Unavailable: retry, on this or another node',
};

/** An RFC 9457 problem response (problem.ts sends every error as one, a 503 with Retry-After). */
export const problemResponse = (status: number, description = PROBLEM_DESCRIPTIONS[status] ?? 'Problem', headers?: HeaderSchemas) => ({
  description,
  ...withHeaders(status === 503 ? { 'Retry-After': ResponseHeaders.tryAgainAfter, ...headers } : headers),
  content: { 'application/problem+json': { schema: Type.Ref(ProblemSchema) } },
});

/** Problem responses by status: a number takes the usual description, `[status, description]` says what it means on this route. */
export const problemResponses = (...statuses: Array<number | readonly [number, string]>) =>
  Object.fromEntries(statuses.map((s) => (typeof s === 'number' ? [s, problemResponse(s)] : [s[0], problemResponse(s[0], s[1])])));
