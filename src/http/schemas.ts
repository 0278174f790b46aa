// Owns: the JSON schemas of the HTTP contract (TypeBox), shared by route validation, response
// serialisation and the generated OpenAPI document.
// Not here: task input schemas (each task declares its own).
// Invariant: snake_case names; what these schemas say is what clients see in /openapi.json.

import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { OPERATION_STATUSES } from '../domain/status.ts';
import { DELIVERY_STATES } from '../domain/operation.ts';

/**
 * `T` or null as one schema (`type: [T, "null"]`), not a union: the response serialiser writes it directly, where it
 * validated each reply's value against every branch of a union (ajv's date-time check took 4 % of a status GET).
 */
const Nullable = <T extends TSchema & { type: string }>(schema: T) => Type.Unsafe<Static<T> | null>({ ...schema, type: [schema.type, 'null'] });
const DateTime = Type.String({ format: 'date-time' });

export const OperationStatusSchema = Type.Union(OPERATION_STATUSES.map((s) => Type.Literal(s)));
export const DeliveryStateSchema = Type.Union(DELIVERY_STATES.map((s) => Type.Literal(s)));

export const OperationIdParams = Type.Object({ id: Type.String({ maxLength: 200, description: 'Operation id (op_…)' }) });
export const DeliveryIdParams = Type.Object({ id: Type.String({ maxLength: 200, description: 'Delivery id (dlv_…)' }) });

export const OperationErrorSchema = Type.Object({ code: Type.String(), message: Type.String() });

export const OperationResourceSchema = Type.Object(
  {
    id: Type.String({ description: 'op_ + a sortable, URL-safe id' }),
    operation_id: Type.String({ description: 'Same as id' }),
    type: Type.String(),
    status: OperationStatusSchema,
    input: Type.Optional(Type.Unknown()),
    progress: Nullable(Type.Number({ minimum: 0, maximum: 1 })),
    progress_message: Nullable(Type.String()),
    attempt: Type.Integer(),
    max_attempts: Type.Integer(),
    priority: Type.Integer(),
    created_at: DateTime,
    started_at: Nullable(DateTime),
    finished_at: Nullable(DateTime),
    updated_at: DateTime,
    run_at: DateTime,
    timeout_s: Type.Integer({ description: 'Max execution time of one attempt, whole seconds' }),
    queue_position: Nullable(Type.Integer({ description: 'Runnable pending operations of this type ahead of this one' })),
    estimated_completion_at: Nullable(DateTime),
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
    webhook_url: Type.Optional(Type.String({ minLength: 1, maxLength: 2048, description: 'Absolute http(s) URL called when the operation ends' })),
    // Whole seconds: the stores keep an integer, so a fraction is refused here rather than failing at the insert.
    timeout_s: Type.Optional(Type.Integer({ minimum: 1, description: 'Max execution time of one attempt, whole seconds, at most the server\'s --max-timeout' })),
    priority: Type.Optional(Type.Integer({ minimum: -1000, maximum: 1000, description: 'Higher runs first' })),
    run_at: Type.Optional(Type.String({ format: 'date-time', description: 'Do not start before this time' })),
    max_attempts: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);
export type SubmitBody = Static<typeof SubmitBodySchema>;

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

export const ListQuerySchema = Type.Object(
  {
    status: Type.Optional(OperationStatusSchema),
    type: Type.Optional(Type.String({ maxLength: 64 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
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
  observed_duration_s: Nullable(Type.Number({ description: 'Median duration of recent successful attempts (or the declared prior)' })),
  observed_samples: Type.Integer(),
});

export const problemResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, Type.Ref(ProblemSchema, { description: 'RFC 9457 problem details' })]));
