// Owns: the operation lifecycle as data (statuses, events, the transition table) and the one function that applies it.
// Not here: persistence of a transition (store/) or deciding when an event happens (runtime/).
// Invariant: a terminal status never changes; anything not in TRANSITIONS is refused.

export const OPERATION_STATUSES = ['pending', 'processing', 'completed', 'failed', 'cancelled'] as const;
export type OperationStatus = (typeof OPERATION_STATUSES)[number];

export const TERMINAL_STATUSES: readonly OperationStatus[] = ['completed', 'failed', 'cancelled'];

export const OPERATION_EVENTS = ['claim', 'succeed', 'fail', 'retry', 'cancel', 'lease_expired'] as const;
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
  { from: 'processing', event: 'cancel', to: 'cancelled' },
  { from: 'processing', event: 'lease_expired', to: 'pending' },
];

export function isTerminal(status: OperationStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

export function isOperationStatus(value: unknown): value is OperationStatus {
  return typeof value === 'string' && (OPERATION_STATUSES as readonly string[]).includes(value);
}

/** The status an event leads to, or null when the lifecycle does not allow it. */
export function nextStatus(from: OperationStatus, event: OperationEvent): OperationStatus | null {
  return TRANSITIONS.find((t) => t.from === from && t.event === event)?.to ?? null;
}
