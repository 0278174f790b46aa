// Owns: the TypeScript shapes of what the asyncops HTTP API sends and accepts (DESIGN §1), as the SDK sees them.
// Not here: the server's own definitions (src/domain/resource.ts) — the SDK must not import server code, so this mirrors them.
// Invariant: field names are the wire's snake_case; a field the server may add later is tolerated, never required.

export const OPERATION_STATUSES = ['pending', 'processing', 'completed', 'failed', 'cancelled'] as const;
export type OperationStatus = (typeof OPERATION_STATUSES)[number];

export const TERMINAL_STATUSES: readonly OperationStatus[] = ['completed', 'failed', 'cancelled'];

export function isTerminalStatus(status: string): boolean {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}

export interface OperationError {
  code: string;
  message: string;
}

/** The operation resource of `GET /operations/{id}`. */
export interface Operation {
  id: string;
  operation_id: string;
  type: string;
  status: OperationStatus;
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
  timeout_s: number;
  queue_position: number | null;
  estimated_completion_at: string | null;
  estimated_seconds_remaining: number | null;
  result_url: string | null;
  /** Why it failed or was cancelled; null until it ends so. */
  error: OperationError | null;
  /** While a retry waits or runs: why the previous attempt failed. */
  last_attempt_error: OperationError | null;
  webhook: { url: string; state: string } | null;
  links: { self: string; cancel: string | null; result: string | null; events: string };
}

/** One page of a cursor-paginated list; `next_cursor` is null on the last page. */
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export type DeliveryState = 'pending' | 'delivered' | 'retrying' | 'dead';

/** A webhook delivery of `GET /webhook-deliveries`. */
export interface Delivery {
  id: string;
  operation_id: string;
  webhook_id: string;
  url: string;
  event_type: string;
  state: DeliveryState;
  attempt_count: number;
  next_attempt_at: string | null;
  created_at: string;
  updated_at: string;
  last_status_code: number | null;
  last_error: string | null;
}

/** One HTTP attempt of a delivery. */
export interface DeliveryAttempt {
  attempt: number;
  trigger: 'scheduled' | 'manual';
  started_at: string;
  duration_ms: number | null;
  status_code: number | null;
  error: string | null;
  response_snippet: string | null;
}

/** A delivery with its attempts, as `GET /operations/{id}/deliveries` lists them. */
export interface DeliveryWithAttempts extends Delivery {
  attempts: DeliveryAttempt[];
}

/** RFC 9457 problem details, as every error reply carries them. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail?: string;
  code?: string;
  errors?: { path: string; message: string }[];
  [extension: string]: unknown;
}

export interface SubmitOptions {
  webhookUrl?: string;
  idempotencyKey?: string;
  timeoutS?: number;
  priority?: number;
  /** When the operation may start: a Date or an RFC 3339 string. */
  runAt?: Date | string;
  maxAttempts?: number;
  /** `Prefer: wait=N`: the server holds the reply up to N s and answers 200 if the operation finished by then. */
  waitS?: number;
  signal?: AbortSignal;
}

export interface WaitOptions {
  /** Called with each new snapshot of the operation the client receives, the first one included. */
  onProgress?: (operation: Operation) => void;
  signal?: AbortSignal;
  /** Give up (AsyncOpsWaitTimeoutError) when the operation is not terminal after this long. */
  timeoutMs?: number;
}

export interface ListOptions {
  status?: OperationStatus;
  type?: string;
  limit?: number;
  cursor?: string;
}

export interface DeliveryListOptions {
  state?: DeliveryState;
  limit?: number;
  cursor?: string;
}

/** A fetched result: its bytes and content type; `json()` parses them. */
export interface OperationResult {
  contentType: string;
  body: Buffer;
  json<T = unknown>(): T;
}
