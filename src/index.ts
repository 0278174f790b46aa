// Owns: the public API of the `asyncops` package, all an embedder writes against: createAsyncOps and the Fastify
// plugin (embed.ts), the task API (defineTask, PermanentError, RateLimitedError, inWorkerThread), the error a submit from code throws, and
// the types of their options. Not here: stores, services, the domain's records (internal, free to change), and the
// HTTP client with the wire types and webhook verification, which are `asyncops/client` (no server code).

export {
  createAsyncOps,
  asyncopsPlugin,
  type AsyncOps,
  type AsyncOpsHandler,
  type AsyncOpsPluginOptions,
  type EmbeddedAsyncOps,
  type SubmitOptions,
} from './embed.ts';
export { VERSION, type AsyncOpsOptions, type ApiKeyConfig, type BackoffPolicy, type RateLimits, type ServiceLimits } from './main.ts';
export { defineTask, type ScheduleDeclaration, type TaskContext, type TaskDefinition, type TaskResult } from './runtime/task.ts';
export { inWorkerThread, type IsolatedHandler, type IsolatedTaskContext } from './runtime/worker-thread.ts';
export { PermanentError, RateLimitedError, AsyncOpsError, type ErrorCode, type FieldError } from './domain/errors.ts';
// Named for the task: `RateLimits` (main.ts) are the HTTP API's request rate limits.
export type { RateLimit as TaskRateLimit } from './domain/rate-limit.ts';
