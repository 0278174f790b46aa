// Owns: the redrive and bulk-action part of the Store interface (store.ts): redriving one failed or cancelled operation,
// and keeping bulk actions: their record, a runner's lease on one, and each batch it applies. Not here: any SQL
// (store/sqlite/bulk-actions.ts, store/postgres/bulk-actions.ts), what a filter selects (domain/bulk-action.ts), when a
// batch runs (runtime/bulk-actions.ts).
// Invariant: as every Store method, each is one atomic transaction; a batch applies its changes, moves the cursor and
// stores the counts together, and only under the runner's live lease (a lost lease changes nothing and returns null).

import type { BulkAction, BulkActionKind, BulkFilterWire, BulkSelection } from '../domain/bulk-action.ts';
import type { Operation, OperationError } from '../domain/operation.ts';
import type { DeliveryFactory } from './store.ts';

export interface RedriveParams {
  readonly id: string;
  readonly tenant: string;
  readonly now: number;
  /** Who asked (the request's principal), for the operation's history. */
  readonly by: string;
  /** The priority it takes; null or absent: it keeps its own. */
  readonly priority?: number | null | undefined;
  /** Only if the operation is at this version (IfVersion in store.ts). */
  readonly ifVersion?: number | undefined;
}

export type RedriveOutcome =
  /** Back to pending as a fresh run: attempt 1, no error, progress or result, its webhook to be sent again when it ends. */
  | { readonly kind: 'redriven'; readonly operation: Operation }
  /** Not failed or cancelled (a lost race with another redrive, or never ended): unchanged. */
  | { readonly kind: 'not_redrivable'; readonly operation: Operation }
  /** Not at `ifVersion`: unchanged. */
  | { readonly kind: 'changed'; readonly operation: Operation }
  | { readonly kind: 'not_found' };

export interface BulkActionDraft {
  readonly id: string;
  readonly action: BulkActionKind;
  readonly filter: BulkFilterWire;
  /** null: every tenant. */
  readonly tenant: string | null;
  readonly selection: BulkSelection;
  /** A retry's priority for the redriven (null: each keeps its own); stored with the filter (filterColumn). */
  readonly priority: number | null;
  readonly createdBy: string;
  readonly now: number;
}

export interface BulkMatchQuery {
  /** null: every tenant. */
  readonly tenant: string | null;
  readonly selection: BulkSelection;
  /** Only what existed by then (created_at ≤ this). */
  readonly existedBy: number;
}

export interface BulkActionListQuery {
  /** null: every tenant's (an admin's list). */
  readonly tenant: string | null;
  readonly limit: number;
  /** Actions with an id strictly below this one (newest first). */
  readonly beforeId?: string | undefined;
}

export interface BulkLeaseRef {
  readonly id: string;
  readonly leaseToken: string;
}

export interface BulkStepParams extends BulkLeaseRef {
  readonly now: number;
  /** The lease runs on to now + leaseMs with each batch. */
  readonly leaseMs: number;
  /** Matches taken in this batch, by id after the stored cursor. */
  readonly batchSize: number;
  /** For the outbox rows a bulk cancel of pending operations writes, as a single cancel does. */
  readonly delivery: DeliveryFactory;
  /** Told, once the batch has committed, of the pending operations it cancelled (counted where a single cancel is). */
  readonly onCancelled?: ((operations: readonly Operation[]) => void) | undefined;
  /**
   * A retry's: the task types that run (the runner's registered ones). A match of another type is skipped, as a single
   * retry of it is refused: back to pending, nothing would ever run it. Absent: any.
   */
  readonly runnableTypes?: readonly string[] | undefined;
}

export interface BulkActionStore {
  /** failed | cancelled → pending as a fresh run (one transaction, with its events and a `redriven` history event). */
  operationRedrive(params: RedriveParams): Promise<RedriveOutcome>;

  /** How many operations (or dead deliveries) a selection matches now: a dry run's answer and a new action's total. */
  bulkActionCount(query: BulkMatchQuery): Promise<number>;
  /** Stores a pending bulk action with its total counted in the same transaction. */
  bulkActionCreate(draft: BulkActionDraft): Promise<BulkAction>;
  /** tenant null: whichever tenant's. */
  bulkActionGet(params: { readonly id: string; readonly tenant: string | null }): Promise<BulkAction | null>;
  /** Newest first. */
  bulkActionList(query: BulkActionListQuery): Promise<BulkAction[]>;
  /**
   * Takes the oldest unfinished action that no live lease holds (pending, or processing under an expired lease: its
   * runner stopped), under a fresh lease; null when there is none.
   */
  bulkActionClaim(params: { readonly now: number; readonly leaseMs: number }): Promise<BulkAction | null>;
  /**
   * Applies one batch under the lease: the next matches after the cursor (among what existed when it was created), the
   * counts and the cursor; completed (lease cleared) once a batch finds fewer than batchSize. Null when the lease is gone.
   */
  bulkActionStep(params: BulkStepParams): Promise<BulkAction | null>;
  /** Gives the lease back (its runner stops): the next claim, on any node, resumes it from its cursor at once. */
  bulkActionRelease(params: BulkLeaseRef): Promise<void>;
  /** Ends it failed with `error` under the lease; null when the lease is gone. */
  bulkActionFail(params: BulkLeaseRef & { readonly now: number; readonly error: OperationError }): Promise<BulkAction | null>;
}

/** The columns of a bulk_actions row, as both adapters read them (times and counts as numbers, filter as JSON text). */
export interface BulkActionRow {
  readonly id: string;
  readonly action: string;
  readonly filter: string;
  readonly tenant: string | null;
  readonly status: string;
  readonly total: number;
  readonly processed: number;
  readonly succeeded: number;
  readonly skipped: number;
  readonly created_by: string;
  readonly created_at: number;
  readonly started_at: number | null;
  readonly finished_at: number | null;
  readonly error_code: string | null;
  readonly error_message: string | null;
  readonly cursor: string | null;
  readonly lease_token: string | null;
  readonly lease_expires_at: number | null;
}

/**
 * The `filter` column's JSON: the filter as sent, and a retry's priority beside its fields under `priority` (no filter
 * has such a field: checkBulkRequest refuses it), so the row needs no column of its own and a resumed retry reads it back.
 */
export function filterColumn(draft: Pick<BulkActionDraft, 'filter' | 'priority'>): string {
  return JSON.stringify(draft.priority === null ? draft.filter : { ...draft.filter, priority: draft.priority });
}

/** A bulk_actions row as the domain's record (the columns were checked by the table's constraints when written). */
export function toBulkAction(row: BulkActionRow): BulkAction {
  const n = (v: number | null): number | null => (v === null ? null : Number(v));
  const { priority, ...filter } = JSON.parse(row.filter) as BulkFilterWire & { readonly priority?: number };
  return {
    id: row.id,
    action: row.action as BulkAction['action'],
    filter,
    tenant: row.tenant,
    priority: priority ?? null,
    status: row.status as BulkAction['status'],
    total: Number(row.total),
    processed: Number(row.processed),
    succeeded: Number(row.succeeded),
    skipped: Number(row.skipped),
    createdBy: row.created_by,
    createdAt: Number(row.created_at),
    startedAt: n(row.started_at),
    finishedAt: n(row.finished_at),
    error: row.error_code === null ? null : { code: row.error_code, message: row.error_message ?? '' },
    cursor: row.cursor,
    leaseToken: row.lease_token,
    leaseExpiresAt: n(row.lease_expires_at),
  };
}

/** What one batch did: how many it took, changed and left, and the last id it took (the cursor moves there). */
export interface BatchTally {
  readonly processed: number;
  readonly succeeded: number;
  readonly skipped: number;
  readonly lastId: string | null;
  /** The pending operations a cancel ended (for BulkStepParams.onCancelled). */
  readonly cancelled: readonly Operation[];
}
