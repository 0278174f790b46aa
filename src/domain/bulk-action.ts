// Owns: bulk actions as the domain sees them: the actions, their statuses, the filters each takes and what a filter
// selects (the statuses an action applies to, the time bounds), checked before anything is stored.
// Not here: running one (runtime/bulk-actions.ts), the SQL that selects and changes the matches (store/*/bulk-actions.ts).
// Invariant: an action only ever touches what its filter selects, among what existed when it was created; a filter
// naming a status the action cannot apply to is refused, never widened or silently emptied. Only a retry takes a priority
// (the redriven operations' new one), under the same rule as a submit's (fairness.ts).

import { dateTimeRefusal, parseDateTime } from './date-time.ts';
import { AsyncOpsError, validationFailed, type FieldError } from './errors.ts';
import { priorityProblem } from './fairness.ts';
import type { OperationError } from './operation.ts';
import { isOperationStatus, REDRIVABLE_STATUSES, type OperationStatus } from './status.ts';

export const BULK_ACTIONS = ['retry', 'cancel', 'delete', 'replay_deliveries'] as const;
export type BulkActionKind = (typeof BULK_ACTIONS)[number];

export const BULK_ACTION_STATUSES = ['pending', 'processing', 'completed', 'failed'] as const;
export type BulkActionStatus = (typeof BULK_ACTION_STATUSES)[number];

/** The statuses each operation action applies to; its filter may narrow them to one. */
export const ACTION_STATUSES: Readonly<Record<Exclude<BulkActionKind, 'replay_deliveries'>, readonly OperationStatus[]>> = {
  retry: REDRIVABLE_STATUSES,
  cancel: ['pending', 'processing'],
  delete: ['completed', 'failed', 'cancelled'],
};

/** A filter as the wire carries it (snake_case), kept as sent on the action's record. */
export interface BulkFilterWire {
  readonly status?: string | undefined;
  readonly type?: string | undefined;
  readonly error_code?: string | undefined;
  readonly created_after?: string | undefined;
  readonly created_before?: string | undefined;
  readonly tenant?: string | undefined;
  readonly operation_type?: string | undefined;
  readonly url?: string | undefined;
}

/** What an operation action selects: operations in one of `statuses` matching every field set. */
export interface OperationSelection {
  readonly target: 'operations';
  readonly statuses: readonly OperationStatus[];
  readonly type: string | null;
  readonly errorCode: string | null;
  /** created_at ≥ this (ms), null: no bound. */
  readonly createdAfter: number | null;
  /** created_at < this (ms), null: no bound. */
  readonly createdBefore: number | null;
}

/** What replay_deliveries selects: dead deliveries matching every field set. */
export interface DeliverySelection {
  readonly target: 'deliveries';
  readonly operationType: string | null;
  readonly url: string | null;
  readonly createdAfter: number | null;
  readonly createdBefore: number | null;
}

export type BulkSelection = OperationSelection | DeliverySelection;

/** A checked request for a bulk action: what it does, over which tenant (null: every tenant, an admin's), selecting what. */
export interface BulkRequest {
  readonly action: BulkActionKind;
  readonly filter: BulkFilterWire;
  /** The tenant it is limited to; null: every tenant (only an admin key may ask for that). */
  readonly tenant: string | null;
  readonly selection: BulkSelection;
  /** A retry's: the priority each redriven operation takes; null: each keeps its own. */
  readonly priority: number | null;
}

/** The stored record of a bulk action: who asked, what, and how far it got. */
export interface BulkAction {
  readonly id: string;
  readonly action: BulkActionKind;
  readonly filter: BulkFilterWire;
  /** The tenant it acts on; null: every tenant. */
  readonly tenant: string | null;
  /** A retry's: the priority each redriven operation takes; null: each keeps its own. */
  readonly priority: number | null;
  readonly status: BulkActionStatus;
  /** The matches counted when it was created (what it expects to process). */
  readonly total: number;
  readonly processed: number;
  /** Processed and changed. */
  readonly succeeded: number;
  /** Processed but left as they were (changed meanwhile: no longer in a status the action applies to, a delivery pending). */
  readonly skipped: number;
  /** The principal of the request that created it (an API key's `key:` and the start of its sha256, or `addr:IP` without keys). */
  readonly createdBy: string;
  readonly createdAt: number;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
  readonly error: OperationError | null;
  /** The last id processed (operations or deliveries, by id): a node that takes it over resumes after it. */
  readonly cursor: string | null;
  readonly leaseToken: string | null;
  readonly leaseExpiresAt: number | null;
}

/** The caller's reach: its tenant, and whether its key is an admin's (all tenants, may name one with filter.tenant). */
export interface BulkScope {
  readonly tenant: string;
  readonly admin: boolean;
}

/** The filter fields each kind of action takes. */
export const OPERATION_FILTER_FIELDS = ['status', 'type', 'error_code', 'created_after', 'created_before', 'tenant'] as const;
export const DELIVERY_FILTER_FIELDS = ['operation_type', 'url', 'created_after', 'created_before', 'tenant'] as const;

export function isBulkAction(value: unknown): value is BulkActionKind {
  return typeof value === 'string' && (BULK_ACTIONS as readonly string[]).includes(value);
}

/** A retry's priority, and the ceiling it is held to: the tenant's (null: an admin's over every tenant, the lowest of theirs). */
export interface BulkPriority {
  readonly priority: number | null;
  readonly ceiling: (tenant: string | null) => number;
}

const NO_PRIORITY: BulkPriority = { priority: null, ceiling: () => Number.POSITIVE_INFINITY };

/**
 * Checks a bulk action request and decides what it selects. Throws validation_failed naming each bad field
 * (`/filter/status`, …): an unknown field, a status the action does not apply to, a time that is not RFC 3339, an
 * empty time range, a tenant named by a key that is not an admin's, a priority on an action other than retry, or one a
 * submit by that tenant would be refused (out of range, above its ceiling).
 */
export function checkBulkRequest(action: BulkActionKind, filter: BulkFilterWire, scope: BulkScope, asked: BulkPriority = NO_PRIORITY): BulkRequest {
  const errors: FieldError[] = [];
  const allowed: readonly string[] = action === 'replay_deliveries' ? DELIVERY_FILTER_FIELDS : OPERATION_FILTER_FIELDS;
  for (const field of Object.keys(filter)) {
    if (!allowed.includes(field)) errors.push({ path: `/filter/${field}`, message: `not a filter of ${action}; use: ${allowed.join(', ')}` });
  }
  const time = (field: 'created_after' | 'created_before'): number | null => {
    const text = filter[field];
    if (text === undefined) return null;
    const at = parseDateTime(text);
    if (at === null) errors.push({ path: `/filter/${field}`, message: dateTimeRefusal(text) });
    return at;
  };
  const createdAfter = time('created_after');
  const createdBefore = time('created_before');
  if (createdAfter !== null && createdBefore !== null && createdAfter >= createdBefore) {
    errors.push({ path: '/filter/created_before', message: 'must be later than created_after' });
  }
  for (const [field, value] of Object.entries(filter)) {
    // PostgreSQL text refuses NUL: a filter holding one could match nothing, and would fail there instead.
    if (typeof value === 'string' && value.includes('\u0000')) errors.push({ path: `/filter/${field}`, message: 'must not hold a NUL character' });
  }
  if (filter.tenant !== undefined && filter.tenant !== scope.tenant && !scope.admin) {
    errors.push({ path: '/filter/tenant', message: 'only an admin key may name another tenant' });
  }
  let selection: BulkSelection;
  if (action === 'replay_deliveries') {
    selection = { target: 'deliveries', operationType: filter.operation_type ?? null, url: filter.url ?? null, createdAfter, createdBefore };
  } else {
    const applies = ACTION_STATUSES[action];
    let statuses = applies;
    if (filter.status !== undefined) {
      if (!isOperationStatus(filter.status) || !applies.includes(filter.status)) {
        errors.push({ path: '/filter/status', message: `${action} applies to ${applies.join(', ')}` });
      } else statuses = [filter.status];
    }
    selection = { target: 'operations', statuses, type: filter.type ?? null, errorCode: filter.error_code ?? null, createdAfter, createdBefore };
  }
  const tenant = scope.admin ? (filter.tenant ?? null) : scope.tenant;
  if (asked.priority !== null) {
    // An admin's retry over every tenant is held to the lowest ceiling of any, which is no one tenant's.
    const whose = tenant === null ? 'the lowest ceiling of any tenant (the action spans every tenant)' : undefined;
    const refused = action === 'retry' ? priorityProblem(asked.priority, asked.ceiling(tenant), whose) : `only a retry takes a priority, not ${action}`;
    if (refused !== null) errors.push({ path: '/priority', message: refused });
  }
  if (errors.length > 0) throw validationFailed(errors);
  return { action, filter, tenant, selection, priority: asked.priority };
}

/** The selection a stored action was created with (its filter was checked then, so this cannot fail). */
export function selectionOf(action: Pick<BulkAction, 'action' | 'filter'>): BulkSelection {
  return checkBulkRequest(action.action, action.filter, { tenant: '', admin: true }).selection;
}

/** How many matches a runner takes in one transaction: small enough that workers and requests wait briefly on it. */
export const BULK_BATCH_SIZE = 500;

/** A bulk action as the API shows it (snake_case, RFC 3339 times). */
export interface BulkActionResource {
  readonly id: string;
  readonly action: BulkActionKind;
  readonly filter: BulkFilterWire;
  readonly priority: number | null;
  readonly status: BulkActionStatus;
  readonly total: number;
  readonly processed: number;
  readonly succeeded: number;
  readonly skipped: number;
  readonly created_by: string;
  readonly tenant: string | null;
  readonly created_at: string;
  readonly started_at: string | null;
  readonly finished_at: string | null;
  readonly error: OperationError | null;
  readonly links: { readonly self: string };
}

export function toBulkActionResource(action: BulkAction, basePath = ''): BulkActionResource {
  const at = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: action.id,
    action: action.action,
    filter: action.filter,
    priority: action.priority,
    status: action.status,
    total: action.total,
    processed: action.processed,
    succeeded: action.succeeded,
    skipped: action.skipped,
    created_by: action.createdBy,
    tenant: action.tenant,
    created_at: new Date(action.createdAt).toISOString(),
    started_at: at(action.startedAt),
    finished_at: at(action.finishedAt),
    error: action.error,
    links: { self: `${basePath}/bulk-actions/${action.id}` },
  };
}
