// Owns: the SQLite queries of operations, their results, idempotency keys and duration samples.
// Not here: deliveries beyond the outbox insert (deliveries.ts), deciding retries or outcomes (domain/, runtime/).
// Invariant: every transition names its precondition (status, lease token) in its WHERE clause and bumps version.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { Operation, OperationError, OperationResult } from '../../domain/operation.ts';
import { isTerminal, type OperationStatus } from '../../domain/status.ts';
import { DURATION_SAMPLE_LIMIT } from '../../domain/eta.ts';
import {
  CANCELLED_BY_REQUEST, changed, due, operationFromDraft,
  type CancelOutcome, type ClaimParams, type DeleteOutcome, type DeliveryFactory, type FinishParams, type IdempotencyClaim, type InsertOptions,
  type LeaseRef, type OperationDraft, type OperationInsertResult, type OperationListQuery, type PruneParams, type QueueStanding, type QueueStandingParams,
  type RecoverParams, type RecoverResult, type ReleaseParams, type RetryParams, type StandingReadParams, type StoreEvent,
} from '../store.ts';
import { GroupCommit, prepareAll, StatementCache, type Transactor } from './database.ts';
import { compareIds, type SqliteDeliveries } from './deliveries.ts';
import { changedOf, toOperation, toResult, type Row } from './rows.ts';
import { SqliteStanding } from './standing.ts';

/** Every operation column plus the state of its latest delivery. */
const SELECT = `SELECT o.*, (SELECT d.state FROM deliveries d WHERE d.operation_id = o.id ORDER BY d.created_at DESC, d.id DESC LIMIT 1) AS webhook_state
  FROM operations o`;

// $id $tenant $type $input $maxAttempts $priority $timeoutS $runAt $now $webhookUrl
// The row is what the draft says (operationFromDraft), so nothing is read back.
const INSERT = `INSERT INTO operations (id, tenant, type, status, input, attempt, max_attempts, priority, timeout_s, run_at, created_at, updated_at, webhook_url)
  VALUES ($id, $tenant, $type, 'pending', $input, 1, $maxAttempts, $priority, $timeoutS, $runAt, $now, $now, $webhookUrl)`;

// $tenant $key
const KEY_GET = `SELECT fingerprint, operation_id, expires_at FROM idempotency_keys WHERE tenant = $tenant AND key = $key`;

// $tenant $key $fingerprint $operationId $expiresAt. Replaces an expired key.
const KEY_PUT = `INSERT INTO idempotency_keys (tenant, key, fingerprint, operation_id, expires_at) VALUES ($tenant, $key, $fingerprint, $operationId, $expiresAt)
  ON CONFLICT (tenant, key) DO UPDATE SET fingerprint = excluded.fingerprint, operation_id = excluded.operation_id, expires_at = excluded.expires_at`;

const COUNTS = `SELECT type, status, count(*) AS count FROM operations GROUP BY type, status ORDER BY type, status`;

// $type $now $limit: the claim order.
const CLAIM_CANDIDATES = `SELECT id, priority, run_at FROM operations
  WHERE status = 'pending' AND type = $type AND run_at <= $now
  ORDER BY priority DESC, run_at, id LIMIT $limit`;

// $ids (JSON array) $now $leaseExpiresAt $workerId
const CLAIM = `UPDATE operations SET status = 'processing', started_at = $now, updated_at = $now, progress = NULL, progress_message = NULL,
    lease_token = lower(hex(randomblob(16))), lease_expires_at = $leaseExpiresAt, worker_id = $workerId, version = version + 1
  WHERE id IN (SELECT value FROM json_each($ids)) AND status = 'pending'
  RETURNING *`;

const UNDER_LEASE = `id = $id AND lease_token = $leaseToken AND status = 'processing'`;

// $id $leaseToken $leaseExpiresAt. Not a change: version stays.
const HEARTBEAT = `UPDATE operations SET lease_expires_at = $leaseExpiresAt WHERE ${UNDER_LEASE} RETURNING cancel_requested`;

// $id $leaseToken $progress $message $now
const PROGRESS = `UPDATE operations SET progress = $progress, progress_message = $message, updated_at = $now, version = version + 1
  WHERE ${UNDER_LEASE} RETURNING id, status, version`;

// $id $leaseToken $status $errorCode $errorMessage $now $progress $progressMessage (a last report not stored yet; null: none)
const FINISH = `UPDATE operations SET status = $status, finished_at = $now, updated_at = $now, error_code = $errorCode, error_message = $errorMessage,
    progress = coalesce($progress, progress), progress_message = CASE WHEN $progress IS NULL THEN progress_message ELSE $progressMessage END,
    lease_token = NULL, lease_expires_at = NULL, worker_id = NULL, version = version + 1
  WHERE ${UNDER_LEASE} RETURNING *`;

// $id $leaseToken $attemptIncrement $runAt $errorCode $errorMessage $now. Back to the queue; a release (nulls) keeps run_at, attempt and error.
const REQUEUE = `UPDATE operations SET status = 'pending', attempt = attempt + $attemptIncrement, run_at = coalesce($runAt, run_at),
    error_code = coalesce($errorCode, error_code), error_message = coalesce($errorMessage, error_message),
    started_at = NULL, progress = NULL, progress_message = NULL, lease_token = NULL, lease_expires_at = NULL, worker_id = NULL,
    updated_at = $now, version = version + 1
  WHERE ${UNDER_LEASE} AND cancel_requested = 0 RETURNING *`;

// $id $tenant $errorCode $errorMessage $now
const CANCEL_PENDING = `UPDATE operations SET status = 'cancelled', finished_at = $now, updated_at = $now, error_code = $errorCode, error_message = $errorMessage,
    version = version + 1
  WHERE id = $id AND tenant = $tenant AND status = 'pending' RETURNING *`;

// $id $tenant $now
const REQUEST_CANCEL = `UPDATE operations SET cancel_requested = 1, updated_at = $now, version = version + 1
  WHERE id = $id AND tenant = $tenant AND status = 'processing' AND cancel_requested = 0 RETURNING *`;

// $id $tenant. Not while its webhook is still being delivered: the delivery would go with it, unsent.
const DELETE_TERMINAL = `DELETE FROM operations WHERE id = $id AND tenant = $tenant AND status IN ('completed', 'failed', 'cancelled')
  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.operation_id = operations.id AND d.state IN ('pending', 'retrying'))`;

// $now
const EXPIRED_LEASES = `SELECT * FROM operations WHERE status = 'processing' AND lease_expires_at < $now ORDER BY lease_expires_at, id`;

// $type
const NEXT_RUN_AT = `SELECT min(run_at) AS at FROM operations INDEXED BY operations_pending_due WHERE status = 'pending' AND type = $type`;

// $operationId $contentType $body
const RESULT_PUT = `INSERT INTO results (operation_id, content_type, body) VALUES ($operationId, $contentType, $body)`;

// $id $tenant
const RESULT_GET = `SELECT r.content_type, r.body FROM results r JOIN operations o ON o.id = r.operation_id WHERE o.id = $id AND o.tenant = $tenant`;

// $type $durationMs
const SAMPLE_PUT = `INSERT INTO duration_samples (type, duration_ms) VALUES ($type, $durationMs)`;

// $type $keep: all but the newest $keep samples of a type.
const SAMPLE_TRIM = `DELETE FROM duration_samples WHERE type = $type
  AND id <= (SELECT id FROM duration_samples WHERE type = $type ORDER BY id DESC LIMIT 1 OFFSET $keep)`;

// $limit
const SAMPLES = `SELECT type, duration_ms FROM (
    SELECT type, duration_ms, row_number() OVER (PARTITION BY type ORDER BY id DESC) AS n FROM duration_samples)
  WHERE n <= $limit ORDER BY type, n`;

// $before $now
const PRUNE_MARK_RESULTS = `UPDATE operations SET result_expired = 1, updated_at = $now, version = version + 1
  WHERE finished_at < $before AND id IN (SELECT operation_id FROM results) RETURNING id, status, version`;
// $before
const PRUNE_RESULTS = `DELETE FROM results WHERE operation_id IN (SELECT id FROM operations WHERE finished_at < $before)`;
// $before $now. Results, deliveries, attempts and idempotency keys go by ON DELETE CASCADE, so an operation stays while
// its webhook is still being delivered, and while its idempotency key lives (a retried request must find it).
const PRUNE_OPERATIONS = `DELETE FROM operations WHERE status IN ('completed', 'failed', 'cancelled') AND finished_at < $before
  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.operation_id = operations.id AND d.state IN ('pending', 'retrying'))
  AND NOT EXISTS (SELECT 1 FROM idempotency_keys k WHERE k.operation_id = operations.id AND k.expires_at >= $now)`;
// $now
const PRUNE_KEYS = `DELETE FROM idempotency_keys WHERE expires_at < $now`;

/** SELECT without the input, which a list never shows and which may be large: it reads as JSON null. */
const SELECT_LISTED = `SELECT o.id, o.tenant, o.type, o.status, o.progress, o.progress_message, o.attempt, o.max_attempts, o.priority, o.timeout_s, o.run_at, o.created_at, o.started_at, o.finished_at, o.updated_at, o.error_code, o.error_message, o.webhook_url, o.cancel_requested, o.lease_token, o.lease_expires_at, o.worker_id, o.result_expired, o.version, 'null' AS input,
    (SELECT d.state FROM deliveries d WHERE d.operation_id = o.id ORDER BY d.created_at DESC, d.id DESC LIMIT 1) AS webhook_state
  FROM operations o`;

// $tenant $limit, and $status / $type / $beforeId when the query has them.
function listSql(filters: readonly string[]): string {
  const where = ['o.tenant = $tenant', ...filters.map((f) => (f === 'beforeId' ? 'o.id < $beforeId' : `o.${f} = $${f}`))];
  return `${SELECT_LISTED} WHERE ${where.join(' AND ')} ORDER BY o.id DESC LIMIT $limit`;
}

const STATEMENTS = {
  get: `${SELECT} WHERE o.id = $id AND o.tenant = $tenant`, getById: `${SELECT} WHERE o.id = $id`,
  insert: INSERT, keyGet: KEY_GET, keyPut: KEY_PUT, counts: COUNTS,
  claimCandidates: CLAIM_CANDIDATES, claim: CLAIM, heartbeat: HEARTBEAT, progress: PROGRESS, finish: FINISH,
  requeue: REQUEUE, cancelPending: CANCEL_PENDING, requestCancel: REQUEST_CANCEL, deleteTerminal: DELETE_TERMINAL,
  expiredLeases: EXPIRED_LEASES, nextRunAt: NEXT_RUN_AT, resultPut: RESULT_PUT, resultGet: RESULT_GET,
  samplePut: SAMPLE_PUT, sampleTrim: SAMPLE_TRIM, samples: SAMPLES, pruneMarkResults: PRUNE_MARK_RESULTS,
  pruneResults: PRUNE_RESULTS, pruneOperations: PRUNE_OPERATIONS, pruneKeys: PRUNE_KEYS,
};

function errorParams(error: OperationError | null | undefined): { errorCode: string | null; errorMessage: string | null } {
  return { errorCode: error?.code ?? null, errorMessage: error?.message ?? null };
}

function claimOrder(a: Row, b: Row): number {
  return Number(b['priority']) - Number(a['priority']) || Number(a['run_at']) - Number(b['run_at']) || compareIds(String(a['id']), String(b['id']));
}

export class SqliteOperations {
  #tx: Transactor;
  /** Inserts and attempt ends (finish, retry) of one turn of the event loop share a transaction. */
  readonly group: GroupCommit;
  #deliveries: SqliteDeliveries;
  #s: Record<keyof typeof STATEMENTS, StatementSync>;
  #lists: StatementCache;
  #standing: SqliteStanding;
  /** Samples written per type since the last trim; trimming every DURATION_SAMPLE_LIMIT writes bounds the table. */
  #samplesSinceTrim = new Map<string, number>();

  constructor(db: DatabaseSync, tx: Transactor, deliveries: SqliteDeliveries) {
    this.#lists = new StatementCache(db);
    this.#tx = tx;
    this.group = new GroupCommit(db, tx);
    this.#deliveries = deliveries;
    this.#s = prepareAll(db, STATEMENTS);
    this.#standing = new SqliteStanding(db);
  }

  insert(draft: OperationDraft, idempotency?: IdempotencyClaim, options: InsertOptions = {}): Promise<OperationInsertResult> {
    return this.group.run((events): OperationInsertResult => {
      if (idempotency !== undefined) {
        const key = this.#s.keyGet.get({ tenant: draft.tenant, key: idempotency.key });
        if (key !== undefined && Number(key['expires_at']) >= draft.now) {
          const operationId = String(key['operation_id']);
          if (key['fingerprint'] !== idempotency.fingerprint) return { kind: 'key_mismatch', operationId };
          const earlier = this.getById(operationId);
          if (earlier !== null) return { kind: 'replayed', operation: earlier };
        }
      }
      this.#s.insert.run({
        id: draft.id, tenant: draft.tenant, type: draft.type, input: JSON.stringify(draft.input ?? null),
        maxAttempts: draft.maxAttempts, priority: draft.priority, timeoutS: draft.timeoutS, runAt: draft.runAt,
        now: draft.now, webhookUrl: draft.webhookUrl,
      });
      const operation = operationFromDraft(draft);
      if (idempotency !== undefined) {
        this.#s.keyPut.run({
          tenant: draft.tenant, key: idempotency.key, fingerprint: idempotency.fingerprint, operationId: operation.id,
          expiresAt: idempotency.expiresAt,
        });
      }
      events.push(changed(operation), due(operation));
      if (options.standing === undefined) return { kind: 'created', operation };
      return { kind: 'created', operation, standing: this.#standing.of(operation, draft.now, options.standing.runningLimit, true) };
    });
  }

  get(params: { readonly id: string; readonly tenant: string }): Operation | null {
    const row = this.#s.get.get({ id: params.id, tenant: params.tenant });
    return row === undefined ? null : toOperation(row);
  }

  getById(id: string): Operation | null {
    const row = this.#s.getById.get({ id });
    return row === undefined ? null : toOperation(row);
  }

  list(query: OperationListQuery): Operation[] {
    const params: Record<string, string | number> = { tenant: query.tenant, limit: query.limit };
    if (query.status !== undefined) params['status'] = query.status;
    if (query.type !== undefined) params['type'] = query.type;
    if (query.beforeId !== undefined) params['beforeId'] = query.beforeId;
    const filters = Object.keys(params).filter((k) => k !== 'tenant' && k !== 'limit');
    return this.#lists.get(listSql(filters)).all(params).map((row) => toOperation(row));
  }

  queueStanding(params: QueueStandingParams): QueueStanding | null {
    return this.#standing.of(params.operation, params.now, params.runningLimit, params.fromTail);
  }

  getWithStanding(params: StandingReadParams): { operation: Operation; standing: QueueStanding | null } | null {
    const operation = this.get(params);
    if (operation === null) return null;
    return { operation, standing: this.#standing.of(operation, params.now, params.runningLimits.get(operation.type) ?? 0) };
  }

  counts(): Array<{ type: string; status: OperationStatus; count: number }> {
    return this.#s.counts.all().map((r) => ({ type: String(r['type']), status: r['status'] as OperationStatus, count: Number(r['count']) }));
  }

  claimDue(params: ClaimParams): Operation[] {
    if (params.limit <= 0) return [];
    return this.#tx.run((events) => {
      const candidates: Row[] = [];
      for (const { type, limit } of params.types) {
        if (limit > 0) candidates.push(...this.#s.claimCandidates.all({ type, now: params.now, limit: Math.min(limit, params.limit) }));
      }
      if (candidates.length === 0) return [];
      const ids = candidates.sort(claimOrder).slice(0, params.limit).map((r) => r['id']);
      const rows = this.#s.claim.all({
        ids: JSON.stringify(ids), now: params.now, leaseExpiresAt: params.now + params.leaseMs, workerId: params.workerId,
      });
      const claimed = rows.sort(claimOrder).map((row) => toOperation(row, null));
      for (const op of claimed) events.push(changed(op));
      return claimed;
    });
  }

  heartbeat(params: LeaseRef & { readonly now: number; readonly leaseMs: number }): { cancelRequested: boolean } | null {
    const row = this.#tx.run(() => this.#s.heartbeat.get({ id: params.id, leaseToken: params.leaseToken, leaseExpiresAt: params.now + params.leaseMs }));
    return row === undefined ? null : { cancelRequested: row['cancel_requested'] === 1 };
  }

  progress(params: LeaseRef & { readonly now: number; readonly progress: number | null; readonly message: string | null }): boolean {
    return this.#tx.run((events) => {
      const row = this.#s.progress.get({ id: params.id, leaseToken: params.leaseToken, progress: params.progress, message: params.message, now: params.now });
      if (row === undefined) return false;
      events.push(changedOf(row));
      return true;
    });
  }

  finish(params: FinishParams): Promise<Operation | null> {
    return this.group.run((events) => this.#finishUnderLease(params, events));
  }

  /** The terminal transition under a lease, with its result, duration sample and outbox delivery. */
  #finishUnderLease(params: FinishParams, events: StoreEvent[]): Operation | null {
    const row = this.#s.finish.get({
      id: params.id, leaseToken: params.leaseToken, status: params.status, now: params.now, ...errorParams(params.error),
      progress: params.progress?.fraction ?? null, progressMessage: params.progress?.message ?? null,
    });
    if (row === undefined) return null;
    const operation = toOperation(row, null);
    if (params.result !== undefined) {
      this.#s.resultPut.run({ operationId: operation.id, contentType: params.result.contentType, body: params.result.body });
    }
    if (operation.status === 'completed' && operation.startedAt !== null) this.#sample(operation.type, params.now - operation.startedAt);
    events.push(changed(operation));
    return this.#writeOutbox(operation, params.delivery, params.now, events);
  }

  #sample(type: string, durationMs: number): void {
    this.#s.samplePut.run({ type, durationMs });
    const written = (this.#samplesSinceTrim.get(type) ?? 0) + 1;
    if (written < DURATION_SAMPLE_LIMIT) {
      this.#samplesSinceTrim.set(type, written);
      return;
    }
    this.#s.sampleTrim.run({ type, keep: DURATION_SAMPLE_LIMIT });
    this.#samplesSinceTrim.set(type, 0);
  }

  /** Inserts the delivery the factory builds for an ended operation and returns the operation as a read would show it. */
  #writeOutbox(operation: Operation, factory: DeliveryFactory, now: number, events: StoreEvent[]): Operation {
    const draft = factory(operation);
    if (draft === null) return operation;
    this.#deliveries.insert(operation, draft, now, events);
    return { ...operation, webhookState: 'pending' };
  }

  retry(params: RetryParams): Promise<Operation | null> {
    return this.group.run((events) => this.#requeueUnlessCancelled(params, 1, params.runAt, params.error, events));
  }

  release(params: ReleaseParams): Operation | null {
    return this.#tx.run((events) => this.#requeueUnlessCancelled(params, 0, null, null, events));
  }

  /** Back to the queue; a cancel requested while the attempt ran ends the operation cancelled instead. */
  #requeueUnlessCancelled(params: RetryParams | ReleaseParams, attemptIncrement: number, runAt: number | null, error: OperationError | null, events: StoreEvent[]): Operation | null {
    return this.#requeue(params, attemptIncrement, runAt, error, params.now, events)
      ?? this.#finishUnderLease({ ...params, status: 'cancelled', error: CANCELLED_BY_REQUEST }, events);
  }

  #requeue(lease: LeaseRef, attemptIncrement: number, runAt: number | null, error: OperationError | null, now: number, events: StoreEvent[]): Operation | null {
    const row = this.#s.requeue.get({ id: lease.id, leaseToken: lease.leaseToken, attemptIncrement, runAt, now, ...errorParams(error) });
    if (row === undefined) return null;
    const operation = toOperation(row, null);
    events.push(changed(operation), due(operation));
    return operation;
  }

  cancel(params: { readonly id: string; readonly tenant: string; readonly now: number; readonly delivery: DeliveryFactory }): CancelOutcome {
    return this.#tx.run((events): CancelOutcome => {
      const current = this.get(params);
      if (current === null) return { kind: 'not_found' };
      const at = { id: params.id, tenant: params.tenant, now: params.now };
      if (current.status === 'pending') {
        const row = this.#s.cancelPending.get({ ...at, ...errorParams(CANCELLED_BY_REQUEST) });
        const operation = toOperation(row!, null);
        events.push(changed(operation));
        return { kind: 'cancelled', operation: this.#writeOutbox(operation, params.delivery, params.now, events) };
      }
      if (current.status !== 'processing') return { kind: 'terminal', operation: current };
      if (current.cancelRequested) return { kind: 'requested', operation: current };
      const operation = toOperation(this.#s.requestCancel.get(at)!, null);
      events.push(changed(operation), { kind: 'operation:cancel_requested', id: operation.id });
      return { kind: 'requested', operation };
    });
  }

  delete(params: { readonly id: string; readonly tenant: string }): DeleteOutcome {
    return this.#tx.run((): DeleteOutcome => {
      if (this.#s.deleteTerminal.run(params).changes > 0) return 'deleted';
      const current = this.get(params);
      if (current === null) return 'not_found';
      return isTerminal(current.status) ? 'delivery_pending' : 'not_terminal';
    });
  }

  recoverExpired(params: RecoverParams): RecoverResult {
    return this.#tx.run((events) => {
      const requeued: Operation[] = [];
      const ended: Operation[] = [];
      for (const row of this.#s.expiredLeases.all({ now: params.now })) {
        const op = toOperation(row, null);
        const lease = { id: op.id, leaseToken: op.leaseToken ?? '' };
        if (!op.cancelRequested && op.attempt < op.maxAttempts) {
          const back = this.#requeue(lease, 1, params.now, params.error, params.now, events);
          if (back !== null) requeued.push(back);
          continue;
        }
        const status = op.cancelRequested ? 'cancelled' : 'failed';
        const error = op.cancelRequested ? CANCELLED_BY_REQUEST : params.error;
        const done = this.#finishUnderLease({ ...lease, now: params.now, status, error, delivery: params.delivery }, events);
        if (done !== null) ended.push(done);
      }
      return { requeued, ended };
    });
  }

  nextRunAt(types: readonly string[]): number | null {
    let earliest: number | null = null;
    for (const type of types) {
      const at = this.#s.nextRunAt.get({ type })?.['at'];
      if (typeof at === 'number' && (earliest === null || at < earliest)) earliest = at;
    }
    return earliest;
  }

  resultGet(params: { readonly id: string; readonly tenant: string }): OperationResult | null {
    const row = this.#s.resultGet.get({ id: params.id, tenant: params.tenant });
    return row === undefined ? null : toResult(row);
  }

  durationSamples(limit: number): Map<string, number[]> {
    const samples = new Map<string, number[]>();
    for (const row of this.#s.samples.all({ limit })) {
      const type = String(row['type']);
      const list = samples.get(type) ?? [];
      list.push(Number(row['duration_ms']));
      samples.set(type, list);
    }
    return samples;
  }

  prune(params: PruneParams): { results: number; operations: number; idempotencyKeys: number } {
    return this.#tx.run((events) => {
      const marked = this.#s.pruneMarkResults.all({ before: params.resultsFinishedBefore, now: params.now });
      for (const r of marked) events.push(changedOf(r));
      const results = Number(this.#s.pruneResults.run({ before: params.resultsFinishedBefore }).changes);
      const operations = Number(this.#s.pruneOperations.run({ before: params.operationsFinishedBefore, now: params.now }).changes);
      const idempotencyKeys = Number(this.#s.pruneKeys.run({ now: params.now }).changes);
      return { results, operations, idempotencyKeys };
    });
  }
}
