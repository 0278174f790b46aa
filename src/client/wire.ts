// Owns: the wire types of the asyncops HTTP API, generated from the server's /openapi.json by scripts/client-wire-types.ts.
// Not here: the SDK's option types (types.ts). Do not edit: run `npm run generate:client-types` after a route schema
// changes; test/client/wire-types.test.ts fails while this file and the server's document differ.

export interface CountOperationsResponse {
  /** Every (type, status) with at least one operation, by type then status */
  items: Array<{
    type: string;
    status: 'pending' | 'processing' | 'completed' | 'failed' | 'cancelled';
    count: number;
  }>;
}

export interface CreateBulkActionResponse {
  action: 'retry' | 'cancel' | 'delete' | 'replay_deliveries';
  /** All set fields must match. retry, cancel and delete take status, type, error_code, created_after, created_before; replay_deliveries (over dead deliveries) takes operation_type, url, created_after, created_before. */
  filter: {
    status?: 'pending' | 'processing' | 'completed' | 'failed' | 'cancelled';
    type?: string;
    error_code?: string;
    /** Created at or after this (RFC 3339) */
    created_after?: string;
    /** Created before this (RFC 3339) */
    created_before?: string;
    /** Admin keys only: this tenant alone (default: every tenant) */
    tenant?: string;
    /** replay_deliveries: deliveries of operations of this type */
    operation_type?: string;
    /** replay_deliveries: deliveries to this webhook URL */
    url?: string;
  };
  count: number;
}

export interface CreateScheduleBody {
  /** A registered task type (GET /task-types) */
  type: string;
  /** The input of every operation it creates; validated against the task's schema */
  input?: unknown;
  /** Five fields (minute hour day-of-month month day-of-week), or six with seconds first: `*\/10 * * * * *`; or a nickname: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly */
  cron: string;
  /** The time zone the expression is read in: an IANA name, or a fixed UTC offset such as +05:30 (default UTC) */
  timezone?: string;
  /** Absolute http(s) URL called when each operation it creates ends */
  webhook_url?: string;
  /** Of every operation it creates (higher runs first; default 0), within the tenant's ceiling as a submit's */
  priority?: number;
}

export interface CreateScheduleResponse {
  /** sch_ + a sortable, URL-safe id */
  id: string;
  /** The tenant it belongs to, whose operations its ticks create (`default` for one a task declares) */
  tenant: string;
  type: string;
  input: unknown;
  cron: string;
  timezone: string;
  webhook_url: string | null;
  /** Of every operation it creates (0 for one a task declares) */
  priority: number;
  paused: boolean;
  /** `task`: declared by its task definition (cannot be deleted here) */
  origin: 'api' | 'task';
  next_run_at: string | null;
  last_run_at: string | null;
  /** Missed ticks passed over so far */
  skipped_ticks: number;
  created_at: string;
  updated_at: string;
  links: {
    self: string;
    /** The operations its ticks created (GET /operations?schedule_id=…) */
    operations: string;
  };
}

export interface CreateStreamTokenResponse {
  /** Give it as `?token=` to GET /operations/{id}/events; it opens that stream only, until expires_at */
  token: string;
  expires_at: string;
}

export interface GetBulkActionResponse {
  id: string;
  action: 'retry' | 'cancel' | 'delete' | 'replay_deliveries';
  /** All set fields must match. retry, cancel and delete take status, type, error_code, created_after, created_before; replay_deliveries (over dead deliveries) takes operation_type, url, created_after, created_before. */
  filter: {
    status?: 'pending' | 'processing' | 'completed' | 'failed' | 'cancelled';
    type?: string;
    error_code?: string;
    /** Created at or after this (RFC 3339) */
    created_after?: string;
    /** Created before this (RFC 3339) */
    created_before?: string;
    /** Admin keys only: this tenant alone (default: every tenant) */
    tenant?: string;
    /** replay_deliveries: deliveries of operations of this type */
    operation_type?: string;
    /** replay_deliveries: deliveries to this webhook URL */
    url?: string;
  };
  priority: number | null;
  status: 'pending' | 'processing' | 'completed' | 'failed';
  /** Matches counted when it was created */
  total: number;
  processed: number;
  /** Processed and changed */
  succeeded: number;
  /** Processed but left as they were (changed meanwhile) */
  skipped: number;
  /** The principal that asked for it: `key:` and the first 12 hex digits of the key’s sha256, or `addr:IP` */
  created_by: string;
  tenant: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  error: {
    code: string;
    message: string;
  } | null;
  links: {
    self: string;
  };
}

export interface GetLivenessResponse {
  status: 'ok';
}

export interface GetOverviewResponse {
  window_s: number;
  generated_at: string;
  types: Array<{
    type: string;
    /** Now */
    pending: number;
    /** Now */
    processing: number;
    /** Now (all stored failed operations) */
    failed: number;
    completed_in_window: number;
    failed_in_window: number;
    /** Completed per minute over the window */
    throughput_per_min: number;
    /** Failed of those that finished in the window (0 when none did) */
    failure_rate: number;
    pickup_ms: {
      p50: number;
      p95: number;
    } | null;
    eta_error: {
      median: number;
      p90: number;
      samples: number;
    } | null;
    /** One point a minute, oldest first: operations finished in that minute */
    series: Array<{
      at: string;
      completed: number;
      failed: number;
    }>;
  }>;
}

export interface GetReadinessResponse {
  status: 'ready';
  /** sqlite or postgres */
  store: string;
}

export interface GetScheduleResponse {
  /** sch_ + a sortable, URL-safe id */
  id: string;
  /** The tenant it belongs to, whose operations its ticks create (`default` for one a task declares) */
  tenant: string;
  type: string;
  input: unknown;
  cron: string;
  timezone: string;
  webhook_url: string | null;
  /** Of every operation it creates (0 for one a task declares) */
  priority: number;
  paused: boolean;
  /** `task`: declared by its task definition (cannot be deleted here) */
  origin: 'api' | 'task';
  next_run_at: string | null;
  last_run_at: string | null;
  /** Missed ticks passed over so far */
  skipped_ticks: number;
  created_at: string;
  updated_at: string;
  links: {
    self: string;
    /** The operations its ticks created (GET /operations?schedule_id=…) */
    operations: string;
  };
  /** The most recent ticks fired, newest first (up to 10) */
  recent_ticks: Array<{
    /** The time the expression named */
    tick: string;
    operation_id: string | null;
    operation_url: string | null;
    /** Missed ticks passed over before this one (docs/schedules.md) */
    skipped: number;
    fired_at: string;
  }>;
}

export interface ListBulkActionsResponse {
  items: Array<{
    id: string;
    action: 'retry' | 'cancel' | 'delete' | 'replay_deliveries';
    /** All set fields must match. retry, cancel and delete take status, type, error_code, created_after, created_before; replay_deliveries (over dead deliveries) takes operation_type, url, created_after, created_before. */
    filter: {
      status?: 'pending' | 'processing' | 'completed' | 'failed' | 'cancelled';
      type?: string;
      error_code?: string;
      /** Created at or after this (RFC 3339) */
      created_after?: string;
      /** Created before this (RFC 3339) */
      created_before?: string;
      /** Admin keys only: this tenant alone (default: every tenant) */
      tenant?: string;
      /** replay_deliveries: deliveries of operations of this type */
      operation_type?: string;
      /** replay_deliveries: deliveries to this webhook URL */
      url?: string;
    };
    priority: number | null;
    status: 'pending' | 'processing' | 'completed' | 'failed';
    /** Matches counted when it was created */
    total: number;
    processed: number;
    /** Processed and changed */
    succeeded: number;
    /** Processed but left as they were (changed meanwhile) */
    skipped: number;
    /** The principal that asked for it: `key:` and the first 12 hex digits of the key’s sha256, or `addr:IP` */
    created_by: string;
    tenant: string | null;
    created_at: string;
    started_at: string | null;
    finished_at: string | null;
    error: {
      code: string;
      message: string;
    } | null;
    links: {
      self: string;
    };
  }>;
  next_cursor: string | null;
}

export interface ListOperationDeliveriesResponse {
  items: Array<{
    id: string;
    operation_id: string;
    /** Its operation's tenant (an admin key's lists span tenants) */
    tenant: string;
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
    /** Of an end its operation was retried past: never sent again, and a replay of it is a 409 (docs/webhooks.md) */
    superseded: boolean;
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

export interface ListOperationHistoryResponse {
  items: Array<{
    /** Orders the events of the operation; the cursor of its pages */
    seq: number;
    at: string;
    /** One of: created, claimed, progress, attempt_failed, lease_expired, released, cancel_requested, cancelled, completed, failed, redriven, webhook_attempt (a later version may add kinds) */
    kind: string;
    /** created: the tenant it was created for */
    tenant?: string;
    /** created: the Idempotency-Key it was created with */
    idempotency_key?: string | null;
    /** created: the ETA the reply that created it gave (null: none was given) */
    estimated_completion_at?: string | null;
    /** claimed, attempt_failed, lease_expired, released: the attempt; webhook_attempt: the delivery attempt */
    attempt?: number;
    /** claimed: the worker that runs the attempt */
    worker?: string;
    /** released: how many give-backs of the attempt in a row it stands for (each later one deletes its claim’s events and moves this event to a new seq and at) */
    times?: number;
    /** progress: the fraction done (a milestone: the first report, then one per 10 %) */
    progress?: number | null;
    /** progress: the message reported with it */
    message?: string | null;
    /** attempt_failed, failed, cancelled: the error; webhook_attempt: what went wrong sending it (null: a reply came) */
    error?: {
      code: string;
      message: string;
    } | string | null;
    /** attempt_failed: when the next attempt runs */
    next_run_at?: string;
    /** redriven: who asked */
    by?: string;
    /** redriven: the bulk action that did it */
    bulk_action_id?: string | null;
    /** webhook_attempt: the delivery */
    delivery_id?: string;
    /** webhook_attempt: the receiver’s HTTP status (null: no reply) */
    status_code?: number | null;
    /** webhook_attempt: how long the attempt took */
    duration_ms?: number;
    /** webhook_attempt: what came of it */
    outcome?: 'delivered' | 'retrying' | 'dead';
    [extension: string]: unknown;
  }>;
  next_cursor: string | null;
}

export interface ListOperationsResponse {
  items: Array<Operation>;
  next_cursor: string | null;
}

export interface ListSchedulesResponse {
  items: Array<{
    /** sch_ + a sortable, URL-safe id */
    id: string;
    /** The tenant it belongs to, whose operations its ticks create (`default` for one a task declares) */
    tenant: string;
    type: string;
    input: unknown;
    cron: string;
    timezone: string;
    webhook_url: string | null;
    /** Of every operation it creates (0 for one a task declares) */
    priority: number;
    paused: boolean;
    /** `task`: declared by its task definition (cannot be deleted here) */
    origin: 'api' | 'task';
    next_run_at: string | null;
    last_run_at: string | null;
    /** Missed ticks passed over so far */
    skipped_ticks: number;
    created_at: string;
    updated_at: string;
    links: {
      self: string;
      /** The operations its ticks created (GET /operations?schedule_id=…) */
      operations: string;
    };
  }>;
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
    /** At most `limit` starts per `interval_s` seconds, across all nodes (null: none declared) */
    rate_limit: {
      limit: number;
      interval_s: number;
    } | null;
    /** A handler threw RateLimitedError: no operation of the type starts before this (null: not held) */
    held_until: string | null;
    /** Median duration of recent successful attempts (or the declared prior) */
    observed_duration_s: number | null;
    observed_samples: number;
  }>;
}

export interface ListWebhookDeliveriesResponse {
  items: Array<{
    id: string;
    operation_id: string;
    /** Its operation's tenant (an admin key's lists span tenants) */
    tenant: string;
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
    /** Of an end its operation was retried past: never sent again, and a replay of it is a 409 (docs/webhooks.md) */
    superseded: boolean;
  }>;
  next_cursor: string | null;
}

export interface Operation {
  /** op_ + a sortable, URL-safe id */
  id: string;
  /** Same as id */
  operation_id: string;
  /** The tenant it belongs to: its API key's (`default` on a server without keys); an admin key's reads span tenants */
  tenant: string;
  type: string;
  status: 'pending' | 'processing' | 'completed' | 'failed' | 'cancelled';
  input?: unknown;
  progress: number | null;
  progress_message: string | null;
  attempt: number;
  max_attempts: number;
  priority: number;
  /** What its type's per-key limit of running operations counts it under (null: none); keys take turns */
  concurrency_key: string | null;
  /** The schedule whose tick created it (null: a submit); it stays when the schedule is deleted */
  schedule_id: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
  run_at: string;
  /** Max execution time of one attempt, whole seconds */
  timeout_s: number;
  /** Runnable pending operations of this type that start before this one: its own tenant's ahead of it, plus the turns other tenants take first (an estimate when several tenants wait) */
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

export interface PauseScheduleResponse {
  /** sch_ + a sortable, URL-safe id */
  id: string;
  /** The tenant it belongs to, whose operations its ticks create (`default` for one a task declares) */
  tenant: string;
  type: string;
  input: unknown;
  cron: string;
  timezone: string;
  webhook_url: string | null;
  /** Of every operation it creates (0 for one a task declares) */
  priority: number;
  paused: boolean;
  /** `task`: declared by its task definition (cannot be deleted here) */
  origin: 'api' | 'task';
  next_run_at: string | null;
  last_run_at: string | null;
  /** Missed ticks passed over so far */
  skipped_ticks: number;
  created_at: string;
  updated_at: string;
  links: {
    self: string;
    /** The operations its ticks created (GET /operations?schedule_id=…) */
    operations: string;
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

export interface ResumeScheduleResponse {
  /** sch_ + a sortable, URL-safe id */
  id: string;
  /** The tenant it belongs to, whose operations its ticks create (`default` for one a task declares) */
  tenant: string;
  type: string;
  input: unknown;
  cron: string;
  timezone: string;
  webhook_url: string | null;
  /** Of every operation it creates (0 for one a task declares) */
  priority: number;
  paused: boolean;
  /** `task`: declared by its task definition (cannot be deleted here) */
  origin: 'api' | 'task';
  next_run_at: string | null;
  last_run_at: string | null;
  /** Missed ticks passed over so far */
  skipped_ticks: number;
  created_at: string;
  updated_at: string;
  links: {
    self: string;
    /** The operations its ticks created (GET /operations?schedule_id=…) */
    operations: string;
  };
}

export interface RetryOperationBody {
  /** The priority it runs at (higher runs first); absent: it keeps its own */
  priority?: number;
}

export interface RetryWebhookDeliveryResponse {
  id: string;
  operation_id: string;
  /** Its operation's tenant (an admin key's lists span tenants) */
  tenant: string;
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
  /** Of an end its operation was retried past: never sent again, and a replay of it is a 409 (docs/webhooks.md) */
  superseded: boolean;
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
  /** A customer or account id: at most the task type's keyConcurrency operations with the same key run at once (across every node), and keys take turns */
  concurrency_key?: string;
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

export interface WhoamiResponse {
  /** The tenant what you create belongs to (`default` on a server without keys) */
  tenant: string;
  /** Your reads span every tenant (an admin key, or a server without keys) */
  admin: boolean;
}
