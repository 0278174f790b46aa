// Owns: the public API of the `asyncops` package: the server as a library (createAsyncOps), the task API
// (defineTask, PermanentError, inWorkerThread), the stores, and their types.
// Not here: the HTTP client, which is `asyncops/client` and pulls in no server code.

export { createAsyncOps, VERSION, type AsyncOps, type AsyncOpsOptions, type AsyncOpsParts } from './main.ts';
export { defineTask, type TaskContext, type TaskDefinition, type TaskResult } from './runtime/task.ts';
export { inWorkerThread, type IsolatedHandler, type IsolatedTaskContext } from './runtime/worker-thread.ts';
export { PermanentError, AsyncOpsError, ERROR_CODES, type ErrorCode, type FieldError } from './domain/errors.ts';
export { OPERATION_STATUSES, TERMINAL_STATUSES, type OperationStatus } from './domain/status.ts';
export type { Operation, OperationError, OperationResult, DeliveryState } from './domain/operation.ts';
export type { OperationResource } from './domain/resource.ts';
export type { Store, StoreEvent } from './store/store.ts';
export { openStoreFromSpec } from './store/open.ts';
export { createSqliteStore } from './store/sqlite/sqlite-store.ts';
export { createPostgresStore } from './store/postgres/postgres-store.ts';
export { builtInTasks } from './tasks/index.ts';
export { verifyWebhook, signWebhook, generateWebhookSecret, WebhookVerificationError } from './signing/webhook-signature.ts';
