// Owns: the SQLite side of redrives and bulk actions: redriving an operation, counting and selecting a bulk action's
// matches (keyset by id), its record, a runner's lease on it, and applying a batch (each match through the same code a
// single retry, cancel, delete or delivery replay takes) with its counts in one transaction.
// Not here: what a filter selects (domain/bulk-action.ts), when batches run (runtime/bulk-actions.ts).
// Invariant: a batch applies its matches, moves the cursor and stores the counts in one transaction, under the lease.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { selectionOf, type BulkAction, type BulkSelection } from '../../domain/bulk-action.ts';
import type { Operation, OperationError } from '../../domain/operation.ts';
import { changed, due, type StoreEvent } from '../store.ts';
import {
  filterColumn,
  toBulkAction,
  type BatchTally,
  type BulkActionDraft,
  type BulkActionListQuery,
  type BulkActionRow,
  type BulkLeaseRef,
  type BulkMatchQuery,
  type BulkStepParams,
  type RedriveOutcome,
  type RedriveParams,
} from '../bulk-action-store.ts';
import { prepareAll, StatementCache, type Transactor } from './database.ts';
import type { SqliteDeliveries } from './deliveries.ts';
import type { SqliteOperations } from './operations.ts';
import type { SqliteTransitions } from './transitions.ts';
import { toOperation } from './rows.ts';
import { appendHistory } from './history.ts';
import { historyEvent } from '../../domain/history.ts';
import { SUPERSEDED_BY_RETRY } from '../../domain/delivery.ts';

// $id $tenant $now $priority (null: keep its own). A fresh run: attempt 1, nothing of the last one kept; no longer finished, so its old deliveries are
// not its webhook state (operations.ts) and its end writes a new one. The queue_depth triggers count it pending again.
// Its updated_at (and so its history event) is $now, or its last change's if that came later (an end another process
// wrote after $now was read): history never goes back. Its run_at is $now all the same: a node whose clock runs ahead
// must not hold the rerun back.
const REDRIVE = `UPDATE operations SET status = 'pending', attempt = 1, run_at = $now, priority = coalesce($priority, priority), error_code = NULL,
    error_message = NULL, progress = NULL, progress_message = NULL, progress_anchor = NULL, progress_anchor_at = NULL, started_at = NULL, finished_at = NULL,
    cancel_requested = 0, result_expired = 0, lease_token = NULL, lease_expires_at = NULL, worker_id = NULL, updated_at = max($now, updated_at),
    version = version + 1, finished_version = NULL, redriven_at = $now
  WHERE id = $id AND tenant = $tenant AND status IN ('failed', 'cancelled') RETURNING *`;

// $id
const RESULT_DELETE = `DELETE FROM results WHERE operation_id = $id`;

/** A delivery of the earlier end not in flight: none holds a live lease on it. */
const WAITING = `state IN ('pending', 'retrying') AND (lease_token IS NULL OR lease_expires_at < $now)`;

// $id $now. The earlier end's deliveries not delivered are marked superseded (migration 0018 says why): one waiting
// ends dead; one in flight keeps its lease, and its attempt is recorded (deliveries.ts); a dead one is not replayed.
const SUPERSEDE_DELIVERIES = `UPDATE deliveries SET superseded = 1, updated_at = $now,
    state = CASE WHEN ${WAITING} THEN 'dead' ELSE state END,
    last_error = CASE WHEN ${WAITING} THEN '${SUPERSEDED_BY_RETRY}' ELSE last_error END,
    next_attempt_at = CASE WHEN ${WAITING} THEN NULL ELSE next_attempt_at END
  WHERE operation_id = $id AND state <> 'delivered' AND superseded = 0`;

// $id $action $filter $tenant $total $createdBy $now
const INSERT = `INSERT INTO bulk_actions (id, action, filter, tenant, status, total, created_by, created_at)
  VALUES ($id, $action, $filter, $tenant, 'pending', $total, $createdBy, $now) RETURNING *`;

// $id $tenant (null: any tenant)
const GET = `SELECT * FROM bulk_actions WHERE id = $id AND ($tenant IS NULL OR tenant = $tenant)`;

// $now $leaseMs: the oldest unfinished action no live lease holds.
const CLAIM = `UPDATE bulk_actions SET status = 'processing', started_at = coalesce(started_at, $now), lease_token = lower(hex(randomblob(16))),
    lease_expires_at = $now + $leaseMs
  WHERE id = (SELECT id FROM bulk_actions WHERE status IN ('pending', 'processing') AND (lease_token IS NULL OR lease_expires_at < $now)
    ORDER BY created_at, id LIMIT 1)
  RETURNING *`;

const UNDER_LEASE = `id = $id AND lease_token = $leaseToken AND status = 'processing'`;

// $id $leaseToken
const LEASED = `SELECT * FROM bulk_actions WHERE ${UNDER_LEASE}`;

// $id $leaseToken $processed $succeeded $skipped $cursor (null: keep) $leaseExpiresAt $done (1: completed) $now
const ADVANCE = `UPDATE bulk_actions SET processed = processed + $processed, succeeded = succeeded + $succeeded, skipped = skipped + $skipped,
    cursor = coalesce($cursor, cursor),
    status = CASE WHEN $done = 1 THEN 'completed' ELSE status END,
    finished_at = CASE WHEN $done = 1 THEN $now ELSE finished_at END,
    lease_token = CASE WHEN $done = 1 THEN NULL ELSE lease_token END,
    lease_expires_at = CASE WHEN $done = 1 THEN NULL ELSE $leaseExpiresAt END
  WHERE ${UNDER_LEASE} RETURNING *`;

// $id $leaseToken $now $errorCode $errorMessage
const FAIL = `UPDATE bulk_actions SET status = 'failed', finished_at = $now, error_code = $errorCode, error_message = $errorMessage,
    lease_token = NULL, lease_expires_at = NULL
  WHERE ${UNDER_LEASE} RETURNING *`;

// $id $leaseToken
const RELEASE = `UPDATE bulk_actions SET lease_token = NULL, lease_expires_at = NULL WHERE ${UNDER_LEASE}`;

const STATEMENTS = {
  release: RELEASE,
  redrive: REDRIVE,
  resultDelete: RESULT_DELETE,
  supersedeDeliveries: SUPERSEDE_DELIVERIES,
  insert: INSERT,
  get: GET,
  claim: CLAIM,
  leased: LEASED,
  advance: ADVANCE,
  fail: FAIL,
};

/** The WHERE clause and parameters of a selection's matches ($existedBy, $cursor when given), as `alias.column` tests. */
function matchSql(query: BulkMatchQuery, cursor: string | null): { from: string; where: string; params: Record<string, string | number> } {
  const params: Record<string, string | number> = { existedBy: query.existedBy };
  const where: string[] = [];
  const selection: BulkSelection = query.selection;
  const add = (test: string, name: string, value: string | number | null) => {
    if (value === null) return;
    where.push(test);
    params[name] = value;
  };
  let from: string;
  if (selection.target === 'operations') {
    from = 'operations m';
    where.push(`m.status IN (${selection.statuses.map((_, i) => `$status${i}`).join(', ')})`);
    selection.statuses.forEach((status, i) => {
      params[`status${i}`] = status;
    });
    add('m.type = $type', 'type', selection.type);
    add('m.error_code = $errorCode', 'errorCode', selection.errorCode);
  } else {
    from = selection.operationType === null ? 'deliveries m' : 'deliveries m JOIN operations o ON o.id = m.operation_id';
    // Not one of an end its operation was retried past: a replay refuses it (deliveries.ts), and a count must not hold it.
    where.push(`m.state = 'dead' AND m.superseded = 0`);
    add('o.type = $operationType', 'operationType', selection.operationType);
    add('m.url = $url', 'url', selection.url);
  }
  add('m.tenant = $tenant', 'tenant', query.tenant);
  add('m.created_at >= $createdAfter', 'createdAfter', selection.createdAfter);
  add('m.created_at < $createdBefore', 'createdBefore', selection.createdBefore);
  where.push('m.created_at <= $existedBy');
  add('m.id > $cursor', 'cursor', cursor);
  return { from, where: where.join(' AND '), params };
}

export class SqliteBulkActions {
  readonly #db: DatabaseSync;
  readonly #tx: Transactor;
  readonly #s: Record<keyof typeof STATEMENTS, StatementSync>;
  readonly #cache: StatementCache;
  readonly #operations: SqliteOperations;
  readonly #transitions: SqliteTransitions;
  readonly #deliveries: SqliteDeliveries;

  constructor(db: DatabaseSync, tx: Transactor, operations: SqliteOperations, transitions: SqliteTransitions, deliveries: SqliteDeliveries) {
    this.#db = db;
    this.#tx = tx;
    this.#s = prepareAll(db, STATEMENTS);
    this.#cache = new StatementCache(db);
    this.#operations = operations;
    this.#transitions = transitions;
    this.#deliveries = deliveries;
  }

  redrive(params: RedriveParams): RedriveOutcome {
    return this.#tx.run((events) => {
      const movedOn = this.#transitions.changedFrom(params);
      return movedOn === null ? this.#redriveIn(params, null, events) : { kind: 'changed', operation: movedOn };
    });
  }

  #redriveIn(params: RedriveParams, bulkActionId: string | null, events: StoreEvent[]): RedriveOutcome {
    const row = this.#s.redrive.get({ id: params.id, tenant: params.tenant, now: params.now, priority: params.priority ?? null });
    if (row === undefined) {
      const current = this.#operations.get(params);
      return current === null ? { kind: 'not_found' } : { kind: 'not_redrivable', operation: current };
    }
    this.#s.resultDelete.run({ id: params.id });
    this.#s.supersedeDeliveries.run({ id: params.id, now: params.now });
    const operation: Operation = toOperation(row, null);
    appendHistory(this.#db, [historyEvent(operation.id, operation.updatedAt, 'redriven', { by: params.by, bulk_action_id: bulkActionId })]);
    events.push(changed(operation), due(operation));
    return { kind: 'redriven', operation };
  }

  count(query: BulkMatchQuery): number {
    const { from, where, params } = matchSql(query, null);
    const row = this.#cache.get(`SELECT count(*) AS n FROM ${from} WHERE ${where}`).get(params);
    return Number(row?.['n'] ?? 0);
  }

  create(draft: BulkActionDraft): BulkAction {
    return this.#tx.run(() => {
      const total = this.count({ tenant: draft.tenant, selection: draft.selection, existedBy: draft.now });
      const row = this.#s.insert.get({
        id: draft.id,
        action: draft.action,
        filter: filterColumn(draft),
        tenant: draft.tenant,
        total,
        createdBy: draft.createdBy,
        now: draft.now,
      });
      return toBulkAction(row as unknown as BulkActionRow);
    });
  }

  get(params: { readonly id: string; readonly tenant: string | null }): BulkAction | null {
    const row = this.#s.get.get({ id: params.id, tenant: params.tenant });
    return row === undefined ? null : toBulkAction(row as unknown as BulkActionRow);
  }

  list(query: BulkActionListQuery): BulkAction[] {
    const where = [query.tenant === null ? null : 'tenant = $tenant', query.beforeId === undefined ? null : 'id < $beforeId'].filter((w) => w !== null);
    const params: Record<string, string | number> = { limit: query.limit };
    if (query.tenant !== null) params['tenant'] = query.tenant;
    if (query.beforeId !== undefined) params['beforeId'] = query.beforeId;
    const sql = `SELECT * FROM bulk_actions ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`} ORDER BY id DESC LIMIT $limit`;
    return this.#cache
      .get(sql)
      .all(params)
      .map((row) => toBulkAction(row as unknown as BulkActionRow));
  }

  claim(params: { readonly now: number; readonly leaseMs: number }): BulkAction | null {
    const row = this.#tx.run(() => this.#s.claim.get(params));
    return row === undefined ? null : toBulkAction(row as unknown as BulkActionRow);
  }

  step(params: BulkStepParams): BulkAction | null {
    let cancelled: readonly Operation[] = [];
    const stepped = this.#tx.run((events) => {
      const leased = this.#s.leased.get({ id: params.id, leaseToken: params.leaseToken });
      if (leased === undefined) return null;
      const action = toBulkAction(leased as unknown as BulkActionRow);
      const tally = this.#applyBatch(action, params, events);
      cancelled = tally.cancelled;
      const row = this.#s.advance.get({
        id: params.id,
        leaseToken: params.leaseToken,
        processed: tally.processed,
        succeeded: tally.succeeded,
        skipped: tally.skipped,
        cursor: tally.lastId,
        leaseExpiresAt: params.now + params.leaseMs,
        done: tally.processed < params.batchSize ? 1 : 0,
        now: params.now,
      });
      return toBulkAction(row as unknown as BulkActionRow);
    });
    if (cancelled.length > 0) params.onCancelled?.(cancelled);
    return stepped;
  }

  /** The next batch of matches after the cursor, each applied as its single action would be. */
  #applyBatch(action: BulkAction, params: BulkStepParams, events: StoreEvent[]): BatchTally {
    const selection = selectionOf(action);
    const { from, where, params: values } = matchSql({ tenant: action.tenant, selection, existedBy: action.createdAt }, action.cursor);
    // A retry's matches are operations, whose type says whether anything runs them (runnableTypes).
    const type = action.action === 'retry' ? ', m.type' : '';
    const matches = this.#cache
      .get(`SELECT m.id, m.tenant${type} FROM ${from} WHERE ${where} ORDER BY m.id LIMIT $limit`)
      .all({ ...values, limit: params.batchSize })
      .map((r) => ({ id: String(r['id']), tenant: String(r['tenant']), type: r['type'] }));
    const runnable = params.runnableTypes === undefined ? null : new Set(params.runnableTypes);
    let succeeded = 0;
    const cancelled: Operation[] = [];
    for (const { type: matchType, ...match } of matches) {
      const at = { id: match.id, tenant: match.tenant, now: params.now };
      let changedIt: boolean;
      switch (action.action) {
        case 'retry':
          changedIt =
            (runnable === null || runnable.has(String(matchType))) &&
            this.#redriveIn({ ...at, by: action.createdBy, priority: action.priority }, action.id, events).kind === 'redriven';
          break;
        case 'cancel': {
          const outcome = this.#transitions.cancelIn({ ...at, delivery: params.delivery }, events);
          changedIt = outcome.kind === 'cancelled' || (outcome.kind === 'requested' && outcome.already !== true);
          if (outcome.kind === 'cancelled') cancelled.push(outcome.operation);
          break;
        }
        case 'delete':
          changedIt = this.#transitions.deleteIn(match, events) === 'deleted';
          break;
        case 'replay_deliveries':
          changedIt = this.#deliveries.retryIn(at, events).kind === 'scheduled';
          break;
      }
      if (changedIt) succeeded++;
    }
    return { processed: matches.length, succeeded, skipped: matches.length - succeeded, lastId: matches.at(-1)?.id ?? null, cancelled };
  }

  release(params: BulkLeaseRef): void {
    this.#tx.run(() => this.#s.release.run({ id: params.id, leaseToken: params.leaseToken }));
  }

  fail(params: BulkLeaseRef & { readonly now: number; readonly error: OperationError }): BulkAction | null {
    const row = this.#tx.run(() =>
      this.#s.fail.get({ id: params.id, leaseToken: params.leaseToken, now: params.now, errorCode: params.error.code, errorMessage: params.error.message }),
    );
    return row === undefined ? null : toBulkAction(row as unknown as BulkActionRow);
  }
}
