// Owns: the public JSON shape of an operation (DESIGN §1), rendered from the domain record.
// Not here: computing the ETA or queue position (runtime/), HTTP headers (http/).
// Invariant: snake_case keys; times are RFC 3339 UTC; fields without a basis are null, never guessed.

import type { DeliveryState, Operation } from './operation.ts';
import { isTerminal, type OperationStatus } from './status.ts';

export interface OperationResource {
  id: string;
  operation_id: string;
  /** The tenant it belongs to (an admin's lists span tenants). */
  tenant: string;
  type: string;
  status: OperationStatus;
  input?: unknown;
  progress: number | null;
  progress_message: string | null;
  attempt: number;
  max_attempts: number;
  priority: number;
  concurrency_key: string | null;
  /** The schedule whose tick created it (null: a submit). */
  schedule_id: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
  run_at: string;
  timeout_s: number;
  queue_position: number | null;
  estimated_completion_at: string | null;
  /** When it ends 8 times in 10: after p10 and by p90 (RFC 3339); null when estimated_completion_at is. */
  estimated_completion_range: { p10: string; p90: string } | null;
  estimated_seconds_remaining: number | null;
  result_url: string | null;
  error: { code: string; message: string } | null;
  last_attempt_error: { code: string; message: string } | null;
  webhook: { url: string; state: DeliveryState } | null;
  links: { self: string; cancel: string | null; result: string | null; events: string };
}

export interface ResourceContext {
  readonly now: number;
  readonly queuePosition: number | null;
  readonly estimatedCompletionAt: number | null;
  /** The range around it (ms since the epoch); absent or null: none. */
  readonly estimatedCompletionRange?: { readonly p10: number; readonly p90: number } | null | undefined;
  /** The task type's collection route (e.g. `/reports`), if it declares one. */
  readonly route: string | null;
  readonly includeInput: boolean;
  /** Where the API is mounted (`''`, or a prefix such as `/async`): every link the resource carries starts with it. */
  readonly basePath?: string | undefined;
}

let lastIso = { ms: Number.NaN, text: '' };

/**
 * RFC 3339 in UTC. A new operation's created_at, updated_at and run_at are one instant, rendered three times per reply:
 * the last one is kept (bench/README.md, the create profile).
 */
export const iso = (ms: number): string => {
  if (ms !== lastIso.ms) lastIso = { ms, text: new Date(ms).toISOString() };
  return lastIso.text;
};
const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));

/** The status resource of an operation: its `links.self`, and the Location of the reply that created it. */
export function operationPath(id: string, basePath = ''): string {
  return `${basePath}/operations/${id}`;
}

export function resultPath(op: Pick<Operation, 'id'>, route: string | null, basePath = ''): string {
  return route === null ? `${basePath}/operations/${op.id}/result` : `${basePath}${route}/${op.id}`;
}

export function toOperationResource(op: Operation, ctx: ResourceContext): OperationResource {
  return withEstimates(baseResource(op, ctx.route, ctx.includeInput, ctx.basePath), op, ctx);
}

/**
 * The resource without what changes with time alone (queue position, ETA): the same for every read of one stored
 * version, so a cached read renders it once.
 */
export function baseResource(op: Operation, route: string | null, includeInput: boolean, basePath = ''): OperationResource {
  const terminal = isTerminal(op.status);
  const completed = op.status === 'completed';
  // A result removed by retention is not advertised: its URL would only answer 410.
  const result = completed && !op.resultExpired ? resultPath(op, route, basePath) : null;
  const self = operationPath(op.id, basePath);
  const resource: OperationResource = {
    id: op.id,
    operation_id: op.id,
    tenant: op.tenant,
    type: op.type,
    status: op.status,
    // Coalesced progress writes may not have stored the last report; a completed operation is all done.
    progress: completed ? 1 : op.progress,
    progress_message: op.progressMessage,
    attempt: op.attempt,
    max_attempts: op.maxAttempts,
    priority: op.priority,
    concurrency_key: op.concurrencyKey ?? null,
    schedule_id: op.scheduleId ?? null,
    created_at: iso(op.createdAt),
    started_at: isoOrNull(op.startedAt),
    finished_at: isoOrNull(op.finishedAt),
    updated_at: iso(op.updatedAt),
    run_at: iso(op.runAt),
    timeout_s: op.timeoutS,
    queue_position: null,
    estimated_completion_at: null,
    estimated_completion_range: null,
    estimated_seconds_remaining: null,
    result_url: result,
    // The stored error is the last failed attempt's until the operation ends: a retry that then succeeds never failed.
    error: terminal ? op.error : null,
    last_attempt_error: terminal ? null : op.error,
    webhook: op.webhookUrl === null ? null : { url: op.webhookUrl, state: op.webhookState ?? 'pending' },
    links: {
      self,
      cancel: terminal ? null : `${self}/cancel`,
      result,
      events: `${self}/events`,
    },
  };
  if (includeInput) resource.input = op.input;
  return resource;
}

/** `base` with the queue position and ETA as of `ctx.now`; a terminal operation has neither. */
export function withEstimates(
  base: OperationResource,
  op: Operation,
  ctx: Pick<ResourceContext, 'now' | 'queuePosition' | 'estimatedCompletionAt' | 'estimatedCompletionRange'>,
): OperationResource {
  if (isTerminal(op.status)) return base;
  const eta = ctx.estimatedCompletionAt;
  const range = eta === null ? null : (ctx.estimatedCompletionRange ?? null);
  return {
    ...base,
    queue_position: op.status === 'pending' ? ctx.queuePosition : null,
    estimated_completion_at: isoOrNull(eta),
    estimated_completion_range: range === null ? null : { p10: iso(range.p10), p90: iso(range.p90) },
    estimated_seconds_remaining: eta === null ? null : Math.max(0, Math.round((eta - ctx.now) / 100) / 10),
  };
}
