// Owns: the wire types of the asyncops HTTP API, generated from the server's /openapi.json by scripts/client-wire-types.ts.
// Not here: the SDK's option types (types.ts). Do not edit: run `npm run generate:client-types` after a route schema
// changes; test/client/wire-types.test.ts fails while this file and the server's document differ.

export interface CreateStreamTokenResponse {
  /** Give it as `?token=` to GET /operations/{id}/events; it opens that stream only, until expires_at */
  token: string;
  expires_at: string;
}

export interface GetLivenessResponse {
  status: 'ok';
}

export interface GetReadinessResponse {
  status: 'ready';
  /** sqlite or postgres */
  store: string;
}

export interface ListOperationDeliveriesResponse {
  items: Array<{
    id: string;
    operation_id: string;
    /** The webhook-id header: the same on every attempt and replay */
    webhook_id: string;
    url: string;
    event_type: string;
    state: 'pending' | 'delivered' | 'retrying' | 'dead';
    attempt_count: number;
    next_attempt_at: string | null;
    created_at: string;
    updated_at: string;
    last_status_code: number | null;
    last_error: string | null;
  } & {
    attempts: Array<{
      attempt: number;
      trigger: 'scheduled' | 'manual';
      started_at: string;
      duration_ms: number;
      status_code: number | null;
      error: string | null;
      response_snippet: string | null;
    }>;
  }>;
}

export interface ListOperationsResponse {
  items: Array<Operation>;
  next_cursor: string | null;
}

export interface ListTaskTypesResponse {
  items: Array<{
    type: string;
    description: string | null;
    route: string | null;
    input_schema: unknown;
    timeout_s: number;
    max_attempts: number;
    concurrency: number;
    /** Median duration of recent successful attempts (or the declared prior) */
    observed_duration_s: number | null;
    observed_samples: number;
  }>;
}

export interface ListWebhookDeliveriesResponse {
  items: Array<{
    id: string;
    operation_id: string;
    /** The webhook-id header: the same on every attempt and replay */
    webhook_id: string;
    url: string;
    event_type: string;
    state: 'pending' | 'delivered' | 'retrying' | 'dead';
    attempt_count: number;
    next_attempt_at: string | null;
    created_at: string;
    updated_at: string;
    last_status_code: number | null;
    last_error: string | null;
  }>;
  next_cursor: string | null;
}

export interface Operation {
  /** op_ + a sortable, URL-safe id */
  id: string;
  /** Same as id */
  operation_id: string;
  type: string;
  status: 'pending' | 'processing' | 'completed' | 'failed' | 'cancelled';
  input?: unknown;
  progress: number | null;
  progress_message: string | null;
  attempt: number;
  max_attempts: number;
  priority: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
  run_at: string;
  /** Max execution time of one attempt, whole seconds */
  timeout_s: number;
  /** Runnable pending operations of this type ahead of this one */
  queue_position: number | null;
  /** When it is expected to end: the median of the estimate; null without a basis */
  estimated_completion_at: string | null;
  /** The range it ends in about 8 times in 10; null when estimated_completion_at is */
  estimated_completion_range: {
    /** It ends before this 1 time in 10 */
    p10: string;
    /** It ends by this 9 times in 10 */
    p90: string;
  } | null;
  estimated_seconds_remaining: number | null;
  result_url: string | null;
  /** Why it failed or was cancelled; null until it ends so */
  error: {
    code: string;
    message: string;
  } | null;
  /** While a retry waits or runs: why the previous attempt failed */
  last_attempt_error: {
    code: string;
    message: string;
  } | null;
  webhook: {
    url: string;
    state: 'pending' | 'delivered' | 'retrying' | 'dead';
  } | null;
  links: {
    self: string;
    cancel: string | null;
    result: string | null;
    events: string;
  };
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  errors?: Array<{
    path: string;
    message: string;
  }>;
  [extension: string]: unknown;
}

export interface RetryWebhookDeliveryResponse {
  id: string;
  operation_id: string;
  /** The webhook-id header: the same on every attempt and replay */
  webhook_id: string;
  url: string;
  event_type: string;
  state: 'pending' | 'delivered' | 'retrying' | 'dead';
  attempt_count: number;
  next_attempt_at: string | null;
  created_at: string;
  updated_at: string;
  last_status_code: number | null;
  last_error: string | null;
}

export interface SubmitOperationBody {
  /** A registered task type (GET /task-types) */
  type: string;
  /** The task's input; validated against its schema */
  input?: unknown;
  /** Absolute http(s) URL called when the operation ends */
  webhook_url?: string;
  /** Max execution time of one attempt, whole seconds, at most the server's --max-timeout */
  timeout_s?: number;
  /** Higher runs first */
  priority?: number;
  /** Do not start before this time */
  run_at?: string;
  /** Attempts before it fails; default the task type's */
  max_attempts?: number;
}

export interface WebhookEvent {
  type: 'operation.completed' | 'operation.failed' | 'operation.cancelled';
  /** When the operation ended */
  timestamp: string;
  operation_id: string;
  status: 'completed' | 'failed' | 'cancelled';
  /** Set when it completed */
  result_url: string | null;
  /** Why it failed or was cancelled; null when it completed */
  error: {
    code: string;
    message: string;
  } | null;
  data: Operation;
}
