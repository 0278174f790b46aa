// Owns: the public surface of the SDK, the package export `asyncops/client`: it runs unchanged in Node, browsers, Deno
// and Bun (fetch, Web Crypto, no `node:` module, no Buffer in its types).
// Not here: any server code — src/client/ imports only itself, signing/ and json/, which it shares with the server
// (test/imports.test.ts checks).
// Invariant: what is exported here is the SDK's contract; internals (transport, wait pacing) stay unexported.

export { AsyncOpsClient, type AsyncOpsClientOptions } from './client.ts';
export { AsyncOpsApiError, AsyncOpsNetworkError, AsyncOpsUnexpectedResponseError, AsyncOpsWaitTimeoutError } from './errors.ts';
export type { RetryPolicy, RetryPolicyOptions } from './transport.ts';
export {
  isTerminalStatus,
  OPERATION_STATUSES,
  TERMINAL_STATUSES,
  type AcceptedOperation,
  type BulkAction,
  type BulkActionKind,
  type BulkFilter,
  type ConditionalOptions,
  type Delivery,
  type DeliveryAttempt,
  type DeliveryListOptions,
  type DeliveryState,
  type DeliveryWithAttempts,
  type EventsOptions,
  type HistoryEvent,
  type HistoryKind,
  type HistoryOptions,
  type ListOptions,
  type Operation,
  type OperationCount,
  type OperationError,
  type OperationEvent,
  type OperationResult,
  type OperationStatus,
  type Overview,
  type Page,
  type ProblemDetails,
  type CreateScheduleOptions,
  type Schedule,
  type ScheduleDetail,
  type ScheduleListOptions,
  type ScheduleTick,
  type StreamToken,
  type SubmitOptions,
  type TaskType,
  type WaitOptions,
  type Whoami,
  type WebhookEvent,
} from './types.ts';
export { verifyWebhook } from './webhooks.ts';
export {
  generateWebhookSecret,
  signWebhook,
  tenantWebhookSecret,
  WebhookVerificationError,
  type SignWebhookParams,
  type VerifyWebhookOptions,
  type WebhookBody,
  type WebhookHeaders,
  type WebhookHeaderSource,
} from '../signing/webhook-signature.ts';
