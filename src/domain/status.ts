// Owns: the operation lifecycle: statuses, events, the transition table, and the decisions that pick a row of it when
// an attempt ends without a result (its lease ran out, or its holder gives it back). Not here: persistence of a
// transition (store/, which applies what is decided here under the lease) or when an event happens (runtime/).
// Invariant: a terminal status never changes except by an explicit redrive (an operator's retry of a failed or cancelled
// operation: back to pending as a fresh run); every decision made here is a row of TRANSITIONS.

import type { OperationError } from './operation.ts';

export const OPERATION_STATUSES = ['pending', 'processing', 'completed', 'failed', 'cancelled'] as const;
export type OperationStatus = (typeof OPERATION_STATUSES)[number];

export const TERMINAL_STATUSES: readonly OperationStatus[] = ['completed', 'failed', 'cancelled'];

/** The status every operation is created in. */
export const INITIAL_STATUS: OperationStatus = 'pending';

export const OPERATION_EVENTS = ['claim', 'succeed', 'fail', 'retry', 'release', 'cancel', 'lease_expired', 'redrive'] as const;
export type OperationEvent = (typeof OPERATION_EVENTS)[number];

export interface Transition {
  readonly from: OperationStatus;
  readonly event: OperationEvent;
  readonly to: OperationStatus;
}

// Drawn in README.md ("Lifecycle"); test/domain/status.test.ts checks the two agree.
export const TRANSITIONS: readonly Transition[] = [
  { from: 'pending', event: 'claim', to: 'processing' },
  { from: 'pending', event: 'cancel', to: 'cancelled' },
  { from: 'processing', event: 'succeed', to: 'completed' },
  { from: 'processing', event: 'fail', to: 'failed' },
  { from: 'processing', event: 'retry', to: 'pending' },
  { from: 'processing', event: 'release', to: 'pending' },
  { from: 'processing', event: 'cancel', to: 'cancelled' },
  { from: 'processing', event: 'lease_expired', to: 'pending' },
  { from: 'processing', event: 'lease_expired', to: 'failed' },
  { from: 'processing', event: 'lease_expired', to: 'cancelled' },
  { from: 'failed', event: 'redrive', to: 'pending' },
  { from: 'cancelled', event: 'redrive', to: 'pending' },
];

export function isTerminal(status: OperationStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** The statuses an operator may redrive from (POST /operations/{id}/retry, a bulk retry): those with a redrive row. */
export const REDRIVABLE_STATUSES: readonly OperationStatus[] = TRANSITIONS.filter((t) => t.event === 'redrive').map((t) => t.from);

export function isOperationStatus(value: unknown): value is OperationStatus {
  return typeof value === 'string' && (OPERATION_STATUSES as readonly string[]).includes(value);
}

/** The statuses an event may lead to from `from` (none when the lifecycle does not allow it; a decision picks one). */
export function nextStatuses(from: OperationStatus, event: OperationEvent): OperationStatus[] {
  return TRANSITIONS.filter((t) => t.from === from && t.event === event).map((t) => t.to);
}

/** Whether some event takes an operation from `from` to `to`: what an observer of status changes alone can check. */
export function allowsChange(from: OperationStatus, to: OperationStatus): boolean {
  return TRANSITIONS.some((t) => t.from === from && t.to === to);
}

/** The error an operation ends with when a cancel ends it (a pending cancel, or a requested cancel its attempt ended into). */
export const CANCELLED_BY_REQUEST: OperationError = { code: 'cancelled', message: 'cancelled by request' };

/** What the next status of a processing operation depends on once its attempt ends without a result. */
export interface LeaseFacts {
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly cancelRequested: boolean;
}

/** A processing operation goes back to the queue: the store clears the lease and applies these. */
export interface Requeue {
  readonly event: 'retry' | 'release' | 'lease_expired';
  readonly to: 'pending';
  /** 1 when the attempt counted, 0 when it is given back uncounted. */
  readonly attemptIncrement: 0 | 1;
  /** The new run_at; null keeps it. */
  readonly runAt: number | null;
  /** The new last error; null keeps it. */
  readonly error: OperationError | null;
}

/** A processing operation ends for good (the store writes its outbox delivery with it). */
export interface End {
  readonly event: 'cancel' | 'lease_expired';
  readonly to: 'failed' | 'cancelled';
  readonly error: OperationError;
}

/** A decided change of a processing operation, for the store to apply under its lease. */
export type LeaseOutcome = Requeue | End;

/**
 * A lease ran out (its worker stopped answering): a requested cancel ends the operation cancelled, a spent last attempt
 * fails it with `error`, and otherwise it runs again at once as its next attempt (with `error` as the last one's), from
 * the head of its queue: it keeps the run_at it waited its turn with, as a release does, where a run_at of the
 * recovery's time put it behind everything queued while it ran (BullMQ and graphile-worker put it back in front too).
 */
export function decideExpiredLease(facts: LeaseFacts, error: OperationError): LeaseOutcome {
  if (facts.cancelRequested) return { event: 'lease_expired', to: 'cancelled', error: CANCELLED_BY_REQUEST };
  if (facts.attempt >= facts.maxAttempts) return { event: 'lease_expired', to: 'failed', error };
  return { event: 'lease_expired', to: 'pending', attemptIncrement: 1, runAt: null, error };
}

/**
 * How a lease holder gives its operation back: a retry (counted, run again at runAt) or a release (uncounted: at
 * shutdown, or, with runAt and error, when its handler was rate-limited: domain/rate-limit.ts).
 */
export type GiveBack =
  | { readonly event: 'retry'; readonly runAt: number; readonly error: OperationError }
  | { readonly event: 'release'; readonly runAt?: number | undefined; readonly error?: OperationError | undefined };

/** Back to the queue, unless a cancel was requested while the attempt ran: running it again would ignore the cancel. */
export function decideGiveBack(facts: Pick<LeaseFacts, 'cancelRequested'>, giveBack: GiveBack): LeaseOutcome {
  if (facts.cancelRequested) return { event: 'cancel', to: 'cancelled', error: CANCELLED_BY_REQUEST };
  if (giveBack.event === 'release') {
    return { event: 'release', to: 'pending', attemptIncrement: 0, runAt: giveBack.runAt ?? null, error: giveBack.error ?? null };
  }
  return { event: 'retry', to: 'pending', attemptIncrement: 1, runAt: giveBack.runAt, error: giveBack.error };
}
