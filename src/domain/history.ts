// Owns: an operation's history: the kinds of event recorded, what each one's data holds, the rule that coalesces
// progress reports into milestones, the rule that collapses repeated releases of an attempt, the bound on events per
// operation that follows, and how an event reads on the wire.
// Not here: writing or reading events (store/*/history.ts and the transitions that append them), HTTP (http/history-routes.ts).
// Invariant: events are written in the transaction that makes the change they record, so history and state never disagree;
// they are ordered by `seq`, which only grows (a collapsed release moves to a fresh seq, never back); they go with their
// operation when it is deleted or pruned.

import type { OperationError } from './operation.ts';
import { iso } from './resource.ts';
import type { Requeue } from './status.ts';

export const HISTORY_KINDS = [
  'created',
  'claimed',
  'progress',
  'attempt_failed',
  'lease_expired',
  'released',
  'cancel_requested',
  'cancelled',
  'completed',
  'failed',
  'redriven',
  'webhook_attempt',
] as const;
export type HistoryKind = (typeof HISTORY_KINDS)[number];

/**
 * What each kind's `data` holds, as stored (times are ms since the epoch; on the wire they read as RFC 3339):
 * - created: the tenant and idempotency key it was created with, and `estimated_completion_at` once the reply that
 *   created it gave one (written just after the create, off its path: the ETA at creation, which ETA error is read from).
 * - claimed: the attempt that started and the worker (node) that runs it.
 * - progress: a milestone (progressMilestone) of the attempt's reports.
 * - attempt_failed: the attempt that failed, why, and when the next one runs.
 * - lease_expired: the attempt whose worker stopped answering (followed by `failed` or `cancelled` when it ends there).
 * - released: an attempt given back uncounted (its worker shut down, or its handler was rate-limited); it runs again.
 *   `times`: how many give-backs of the attempt in a row it stands for (releaseRecord), `at` the latest one's.
 * - cancel_requested: a cancel of a running operation (it ends `cancelled` once its handler stops).
 * - cancelled / failed: with the error; completed: nothing more.
 * - redriven: run again after it ended (who asked, and the bulk action when one did).
 * - webhook_attempt: one HTTP attempt of one of its webhook deliveries, and what the dispatcher made of it.
 */
export interface HistoryData {
  created: { tenant: string; idempotency_key: string | null; estimated_completion_at?: number | null };
  claimed: { attempt: number; worker: string };
  progress: { progress: number | null; message: string | null };
  attempt_failed: { attempt: number; error: OperationError; next_run_at: number };
  lease_expired: { attempt: number };
  released: { attempt: number; times: number };
  cancel_requested: Record<string, never>;
  cancelled: { error: OperationError | null };
  completed: Record<string, never>;
  failed: { error: OperationError | null };
  redriven: { by: string; bulk_action_id: string | null };
  webhook_attempt: {
    delivery_id: string;
    attempt: number;
    status_code: number | null;
    duration_ms: number;
    error: string | null;
    outcome: 'delivered' | 'retrying' | 'dead';
  };
}

/** An event to append (the store gives it its seq). */
export type HistoryDraft = {
  [K in HistoryKind]: { readonly operationId: string; readonly at: number; readonly kind: K; readonly data: HistoryData[K] };
}[HistoryKind];

/** An event as stored. `kind` is a string: a store may hold kinds a later version added. */
export interface HistoryEvent {
  readonly seq: number;
  readonly operationId: string;
  readonly at: number;
  readonly kind: string;
  readonly data: Readonly<Record<string, unknown>>;
}

export function historyEvent<K extends HistoryKind>(operationId: string, at: number, kind: K, data: HistoryData[K]): HistoryDraft {
  return { operationId, at, kind, data } as HistoryDraft;
}

// ---------------------------------------------------------------- progress milestones

/** Progress is recorded at most once per this fraction of the work (10 %), per attempt. */
export const PROGRESS_STEPS = 10;

/** The step a report is in: -1 for a report without a fraction, else 0..PROGRESS_STEPS (1 is the last step alone). */
export function progressStep(fraction: number | null): number {
  if (fraction === null || Number.isNaN(fraction)) return -1;
  return Math.min(PROGRESS_STEPS, Math.max(0, Math.floor(fraction * PROGRESS_STEPS + 1e-9)));
}

/**
 * Whether a progress write of an attempt is a milestone, to be recorded: its first one, and then one that reached a later
 * step than the last milestone. `lastStep`: the step of the attempt's last milestone (null: none yet).
 * So an attempt records at most PROGRESS_STEPS + 2 progress events (steps -1, 0, 1 … PROGRESS_STEPS), however often its
 * handler reports.
 */
export function isProgressMilestone(lastStep: number | null, fraction: number | null): boolean {
  return lastStep === null || progressStep(fraction) > lastStep;
}

/** The most progress events one claim of an operation records. */
export const MAX_PROGRESS_EVENTS_PER_CLAIM = PROGRESS_STEPS + 2;

/** The most events one claim records: its `claimed`, its milestones, and how it ended (one event). */
export const MAX_EVENTS_PER_CLAIM = 2 + MAX_PROGRESS_EVENTS_PER_CLAIM;

// ---------------------------------------------------------------- releases of an attempt

/**
 * How many of an operation's events, from its latest `released` on, a release reads to decide (releaseRecord): a tail
 * that collapses is at most one claim's events, so one more tells a longer one (which does not) from it.
 */
export const RELEASE_TAIL_LIMIT = MAX_EVENTS_PER_CLAIM + 1;

/**
 * What a release records. `append`: a new `released` event. `collapse`: the operation's latest `released` event stands
 * for this release too: the claim events after it (`drop`, by seq) are deleted, and it takes `at`, `data` (its count
 * one up) and a fresh seq, so a reader following the history by cursor sees it change, and seq still only grows (a
 * deleted seq is never handed out again).
 */
export type ReleaseRecord =
  | { readonly kind: 'append'; readonly event: HistoryDraft }
  | {
      readonly kind: 'collapse';
      readonly operationId: string;
      readonly seq: number;
      readonly drop: readonly number[];
      readonly at: number;
      readonly data: HistoryData['released'];
    };

/**
 * The rule that bounds releases: an attempt can be given back uncounted again and again (a handler rate-limited for up to
 * RATE_LIMITED_FREE_S, runtime/attempt.ts, or shutdowns), and each give-back would otherwise add a claim's events. So a
 * release of `attempt` collapses onto the latest `released` event when that one is of the same attempt and all that
 * came after it is this claim's: its `claimed` (of the same attempt) and its milestones. Anything else in between (a
 * lease that expired, a webhook attempt, a redrive) keeps it apart: a new `released` event, `times` 1.
 * `tail`: the operation's events from its latest `released` on, in seq order, at most RELEASE_TAIL_LIMIT of them (none
 * when it has none).
 */
export function releaseRecord(operationId: string, at: number, attempt: number, tail: readonly HistoryEvent[]): ReleaseRecord {
  const [released, claimed, ...milestones] = tail;
  const collapses =
    released?.kind === 'released' &&
    released.data['attempt'] === attempt &&
    claimed?.kind === 'claimed' &&
    claimed.data['attempt'] === attempt &&
    milestones.length <= MAX_PROGRESS_EVENTS_PER_CLAIM &&
    milestones.every((e) => e.kind === 'progress');
  if (!collapses) return { kind: 'append', event: historyEvent(operationId, at, 'released', { attempt, times: 1 }) };
  const times = released.data['times'];
  return {
    kind: 'collapse',
    operationId,
    seq: released.seq,
    drop: [claimed.seq, ...milestones.map((e) => e.seq)],
    at,
    data: { attempt, times: (typeof times === 'number' ? times : 1) + 1 },
  };
}

/**
 * The bound on an operation's history, from the rules above. Once: `created`. Per run (the first, and one per redrive,
 * which records `redriven` and starts the attempts over): at most one `cancel_requested` (a cancel is asked once) and
 * one terminal event. Per attempt (a release does not count one; `attempts`: all runs' together, each at most its
 * max_attempts): one claim whose give-backs collapsed into one `released` event (releaseRecord: its `claimed`,
 * milestones and `released`), plus the claim after them (its `claimed`, milestones, and one of attempt_failed /
 * lease_expired, or on the last attempt `lease_expired` before the terminal event). Per webhook attempt: its event, and
 * one claim more (a webhook attempt recorded between two releases of an attempt keeps them apart).
 */
export function historyBound(params: { readonly attempts: number; readonly redrives: number; readonly webhookAttempts: number }): number {
  const runs = 1 + params.redrives;
  return 1 + params.redrives + 2 * runs + params.attempts * 2 * MAX_EVENTS_PER_CLAIM + params.webhookAttempts * (1 + MAX_EVENTS_PER_CLAIM);
}

// ---------------------------------------------------------------- events of transitions

/** The kind of event a decided requeue records: a failed attempt, a release, or a lease that ran out. */
export function requeueKind(requeue: Pick<Requeue, 'event'>): 'attempt_failed' | 'released' | 'lease_expired' {
  if (requeue.event === 'retry') return 'attempt_failed';
  return requeue.event === 'release' ? 'released' : 'lease_expired';
}

/**
 * The event a decided retry or lease expiry records (requeueKind; a release's is releaseRecord's). `attempt`: the attempt
 * that ended; `nextRunAt`: when the next one runs.
 */
export function requeueEvent(
  operationId: string,
  at: number,
  requeue: Pick<Requeue, 'error'> & { readonly event: 'retry' | 'lease_expired' },
  attempt: number,
  nextRunAt: number,
): HistoryDraft {
  if (requeue.event === 'lease_expired') return historyEvent(operationId, at, 'lease_expired', { attempt });
  return historyEvent(operationId, at, 'attempt_failed', {
    attempt,
    error: requeue.error ?? { code: 'unknown', message: '' },
    next_run_at: nextRunAt,
  });
}

/** The terminal event of an operation that ended with `status` (and `error`, unless it completed). */
export function endEvent(operationId: string, at: number, status: 'completed' | 'failed' | 'cancelled', error: OperationError | null): HistoryDraft {
  if (status === 'completed') return historyEvent(operationId, at, 'completed', {});
  return historyEvent(operationId, at, status, { error });
}

// ---------------------------------------------------------------- the wire

/** Data fields that are times: stored as ms, shown as RFC 3339. */
const TIME_FIELDS = new Set(['next_run_at', 'estimated_completion_at']);

/** An event as the API shows it: `{seq, at, kind, ...data}` with times in RFC 3339. */
export function historyEventJson(event: HistoryEvent): Record<string, unknown> {
  const json: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(event.data)) {
    json[key] = TIME_FIELDS.has(key) && typeof value === 'number' ? iso(value) : value;
  }
  if (event.kind === 'created' && json['estimated_completion_at'] === undefined) json['estimated_completion_at'] = null;
  return { ...json, seq: event.seq, at: iso(event.at), kind: event.kind };
}
