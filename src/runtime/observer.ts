// Owns: what the operations service tells an observer (metrics) of what happens on this node: operations created and
// cancelled here, with the completion time estimated for them, and every end the change feed announces.
// Not here: counting or exporting (http/metrics.ts), attempt ends (the worker pool's events).
// Invariant: each creation and each cancel of a pending operation is reported by the one node that made it.

import type { Operation } from '../domain/operation.ts';
import type { OperationStatus } from '../domain/status.ts';

export interface OperationsObserver {
  /** Created on this node (an idempotent replay is not), with the completion time its reply estimated (null: none). */
  created(operation: Operation, estimate: { readonly at: number | null; readonly givenAt: number }): void;
  /** This node cancelled a pending operation; one that was running is reported where its attempt ends. */
  cancelled(operation: Operation): void;
  /** An operation reached `status` on any node, heard `now` on the change feed. */
  ended(id: string, status: OperationStatus, now: number): void;
}
