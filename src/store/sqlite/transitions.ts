// Owns: the SQLite lease transitions: claims, heartbeats, progress, ends (with result, duration sample and outbox), retry,
// release, cancel, delete, and applying the outcomes of expired leases. Not here: deciding an outcome (domain/status.ts:
// decideGiveBack, decideExpiredLease), reading operations (operations.ts), the outbox rows themselves (deliveries.ts).
// Each appends the history events it makes (history.ts) in its own transaction.
// Invariant: every transition names its precondition (status, lease token) in its WHERE clause and bumps version.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { Operation, OperationError } from '../../domain/operation.ts';
import { compareClaimOrder, mergeTypes, type Queued } from '../../domain/queue.ts';
import { decideExpiredLease, decideGiveBack, isTerminal, type GiveBack, type LeaseOutcome, type Requeue } from '../../domain/status.ts';
import { DURATION_SAMPLE_LIMIT, PROGRESS_ANCHOR_MS } from '../../domain/eta.ts';
import { countByType } from '../../domain/rate-limit.ts';
import {
  CANCELLED_BY_REQUEST,
  changed,
  claimedOperations,
  due,
  keyFreed,
  type CancelOutcome,
  type ClaimedOperations,
  type ClaimParams,
  type DeleteOutcome,
  type DeliveryFactory,
  type FinishParams,
  type LeaseRef,
  type ProgressParams,
  type RecoverParams,
  type RecoverResult,
  type ReleaseParams,
  type RetryParams,
  type IfVersion,
  type StoreEvent,
} from '../store.ts';
import { prepareAll, type GroupCommit, type Transactor } from './database.ts';
import type { SqliteDeliveries } from './deliveries.ts';
import type { SqliteOperations } from './operations.ts';
import { SqliteRateLimits } from './rate-limits.ts';
import { SqliteFairClaim, type FairPick } from './fair-claim.ts';
import { changedOf, toOperation } from './rows.ts';
import { appendHistory, recordRelease } from './history.ts';
import { endEvent, historyEvent, requeueEvent, type HistoryDraft } from '../../domain/history.ts';

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

// $id $leaseToken $progress $message $now $anchorMs. The point stored so far becomes the anchor once the anchor is
// $anchorMs behind it (or belongs to an earlier attempt), so the anchor trails the latest by about that much. updated_at
// (and the milestone's history event) never goes back, whatever the worker's clock did since the claim.
const PROGRESS = `UPDATE operations SET progress = $progress, progress_message = $message, updated_at = max($now, updated_at), version = version + 1,
    progress_anchor = CASE WHEN progress IS NOT NULL AND (progress_anchor_at IS NULL OR progress_anchor_at < started_at OR updated_at - progress_anchor_at >= $anchorMs)
      THEN progress ELSE progress_anchor END,
    progress_anchor_at = CASE WHEN progress IS NOT NULL AND (progress_anchor_at IS NULL OR progress_anchor_at < started_at OR updated_at - progress_anchor_at >= $anchorMs)
      THEN updated_at ELSE progress_anchor_at END
  WHERE ${UNDER_LEASE} RETURNING id, status, version, updated_at`;

// $id $leaseToken $status $errorCode $errorMessage $now $progress $progressMessage (a last report not stored yet; null: none).
// $now is when the handler returned; a cancel request written since (ends wait for their group's turn) may carry a later
// time, and updated_at (and so the end's history event) never goes back: finished_at keeps the time the attempt ended.
const FINISH = `UPDATE operations SET status = $status, finished_at = $now, updated_at = max($now, updated_at), error_code = $errorCode, error_message = $errorMessage,
    progress = coalesce($progress, progress), progress_message = CASE WHEN $progress IS NULL THEN progress_message ELSE $progressMessage END,
    lease_token = NULL, lease_expires_at = NULL, worker_id = NULL, version = version + 1, finished_version = version + 1
  WHERE ${UNDER_LEASE} RETURNING *`;

// $ends: a JSON array of [id, lease token, status, now, error code, error message, progress, progress message], at most
// one per id. FINISH for many attempts in one statement (the ends a pool's slots hand over in one turn of the event loop).
const FINISH_MANY = `UPDATE operations SET status = e.status, finished_at = e.now, updated_at = max(e.now, operations.updated_at), error_code = e.error_code,
    error_message = e.error_message, progress = coalesce(e.progress, operations.progress),
    progress_message = CASE WHEN e.progress IS NULL THEN operations.progress_message ELSE e.progress_message END,
    lease_token = NULL, lease_expires_at = NULL, worker_id = NULL, version = operations.version + 1, finished_version = operations.version + 1
  FROM (SELECT value ->> 0 AS id, value ->> 1 AS lease_token, value ->> 2 AS status, value ->> 3 AS now, value ->> 4 AS error_code,
      value ->> 5 AS error_message, value ->> 6 AS progress, value ->> 7 AS progress_message FROM json_each($ends)) AS e
  WHERE operations.id = e.id AND operations.lease_token = e.lease_token AND operations.status = 'processing'
  RETURNING *`;

// $id $leaseToken: what the outcome of an attempt that ends without a result is decided on.
const LEASE_FACTS = `SELECT attempt, max_attempts, cancel_requested FROM operations WHERE ${UNDER_LEASE}`;

// $id $leaseToken $attemptIncrement $runAt $errorCode $errorMessage $now: a decided Requeue (nulls keep run_at and the
// error). The facts it was decided on were read in the same transaction, so the lease is its whole guard.
const REQUEUE = `UPDATE operations SET status = 'pending', attempt = attempt + $attemptIncrement, run_at = coalesce($runAt, run_at),
    error_code = coalesce($errorCode, error_code), error_message = coalesce($errorMessage, error_message),
    started_at = NULL, progress = NULL, progress_message = NULL, lease_token = NULL, lease_expires_at = NULL, worker_id = NULL,
    updated_at = max($now, updated_at), version = version + 1
  WHERE ${UNDER_LEASE} RETURNING *`;

// $id $tenant $errorCode $errorMessage $now
const CANCEL_PENDING = `UPDATE operations SET status = 'cancelled', finished_at = $now, updated_at = max($now, updated_at), error_code = $errorCode, error_message = $errorMessage,
    version = version + 1, finished_version = version + 1
  WHERE id = $id AND tenant = $tenant AND status = 'pending' RETURNING *`;

// $id $tenant $now
const REQUEST_CANCEL = `UPDATE operations SET cancel_requested = 1, updated_at = max($now, updated_at), version = version + 1
  WHERE id = $id AND tenant = $tenant AND status = 'processing' AND cancel_requested = 0 RETURNING *`;

// $id $tenant. Not while its webhook is still being delivered: the delivery would go with it, unsent.
const DELETE_TERMINAL = `DELETE FROM operations WHERE id = $id AND tenant = $tenant AND status IN ('completed', 'failed', 'cancelled')
  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.operation_id = operations.id AND d.state IN ('pending', 'retrying'))`;

// $now. A lease is live through its expiry ms.
const EXPIRED_LEASES = `SELECT * FROM operations WHERE status = 'processing' AND lease_expires_at < $now ORDER BY lease_expires_at, id`;

// $operationId $contentType $body
const RESULT_PUT = `INSERT INTO results (operation_id, content_type, body) VALUES ($operationId, $contentType, $body)`;

// $type $durationMs $cost
const SAMPLE_PUT = `INSERT INTO duration_samples (type, duration_ms, cost) VALUES ($type, $durationMs, $cost)`;

// $samples: a JSON array of [type, duration ms, cost].
const SAMPLES_PUT = `INSERT INTO duration_samples (type, duration_ms, cost)
  SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each($samples) ORDER BY key`;

// $type $keep: all but the newest $keep samples of a type.
const SAMPLE_TRIM = `DELETE FROM duration_samples WHERE type = $type
  AND id <= (SELECT id FROM duration_samples WHERE type = $type ORDER BY id DESC LIMIT 1 OFFSET $keep)`;

const STATEMENTS = {
  claimCandidates: CLAIM_CANDIDATES,
  claim: CLAIM,
  heartbeat: HEARTBEAT,
  progress: PROGRESS,
  finish: FINISH,
  finishMany: FINISH_MANY,
  leaseFacts: LEASE_FACTS,
  requeue: REQUEUE,
  cancelPending: CANCEL_PENDING,
  requestCancel: REQUEST_CANCEL,
  deleteTerminal: DELETE_TERMINAL,
  expiredLeases: EXPIRED_LEASES,
  resultPut: RESULT_PUT,
  samplePut: SAMPLE_PUT,
  samplesPut: SAMPLES_PUT,
  sampleTrim: SAMPLE_TRIM,
};

/** An end asked for, waiting for its group. */
interface Ending {
  readonly params: FinishParams;
  readonly resolve: (operation: Operation | null) => void;
  readonly reject: (error: unknown) => void;
}

function errorParams(error: OperationError | null | undefined): { errorCode: string | null; errorMessage: string | null } {
  return { errorCode: error?.code ?? null, errorMessage: error?.message ?? null };
}

export class SqliteTransitions {
  #db: DatabaseSync;
  #tx: Transactor;
  #group: GroupCommit;
  #operations: SqliteOperations;
  #deliveries: SqliteDeliveries;
  #s: Record<keyof typeof STATEMENTS, StatementSync>;
  /** Samples written per type since the last trim; trimming every DURATION_SAMPLE_LIMIT writes bounds the table. */
  #samplesSinceTrim = new Map<string, number>();
  readonly #rateLimits: SqliteRateLimits;
  readonly #fair: SqliteFairClaim;
  /** Ends asked for since the group commit's item for them was queued; that item ends them all at once. */
  #ending: Ending[] = [];

  /** `group`: attempt ends (finish, retry) share a transaction with the other writes of their turn of the event loop. */
  constructor(db: DatabaseSync, tx: Transactor, group: GroupCommit, operations: SqliteOperations, deliveries: SqliteDeliveries) {
    this.#db = db;
    this.#tx = tx;
    this.#group = group;
    this.#operations = operations;
    this.#deliveries = deliveries;
    this.#s = prepareAll(db, STATEMENTS);
    this.#rateLimits = new SqliteRateLimits(db);
    this.#fair = new SqliteFairClaim(db);
  }

  claimDue(params: ClaimParams): ClaimedOperations {
    if (params.limit <= 0) return [];
    return this.#tx.run((events) => {
      // Rate limits (rate-limits.ts): each type's limit capped by its bucket's tokens; the unused go back below.
      const taken = this.#rateLimits.take(params);
      const claimed = this.#claimWithin(params, taken.types, events);
      return claimedOperations(claimed, taken.settle(countByType(claimed)));
    });
  }

  #claimWithin(params: ClaimParams, types: ClaimParams['types'], events: StoreEvent[]): Operation[] {
    // Fairness (fair-claim.ts): each type's candidates in turn order between tenants and keys, or in plain claim order
    // where that is fair already; the overall limit then keeps the best heads across types.
    const perType: Queued[][] = [];
    const picks: FairPick[] = [];
    for (const { type, limit, keyLimit } of types) {
      if (limit <= 0) continue;
      const n = Math.min(limit, params.limit);
      const pick = this.#fair.pick(type, n, params.now, keyLimit, params.tenantWeights);
      if (pick !== null) {
        picks.push(pick);
        perType.push([...pick.candidates]);
        continue;
      }
      perType.push(
        this.#s.claimCandidates
          .all({ type, now: params.now, limit: n })
          .map((r) => ({ id: String(r['id']), type, priority: Number(r['priority']), runAt: Number(r['run_at']) })),
      );
    }
    const ids = mergeTypes(perType, params.limit).map((c) => c.id);
    if (ids.length === 0) return [];
    const rows = this.#s.claim.all({
      ids: JSON.stringify(ids),
      now: params.now,
      leaseExpiresAt: params.now + params.leaseMs,
      workerId: params.workerId,
    });
    const claimed = rows.map((row) => toOperation(row, null)).sort(compareClaimOrder);
    if (picks.length > 0) {
      const claimedIds = new Set(claimed.map((op) => op.id));
      for (const pick of picks) pick.record(claimedIds);
    }
    appendHistory(
      this.#db,
      claimed.map((op) => historyEvent(op.id, params.now, 'claimed', { attempt: op.attempt, worker: params.workerId })),
    );
    for (const op of claimed) events.push(changed(op));
    return claimed;
  }

  heartbeat(params: LeaseRef & { readonly now: number; readonly leaseMs: number }): { cancelRequested: boolean } | null {
    const row = this.#tx.run(() => this.#s.heartbeat.get({ id: params.id, leaseToken: params.leaseToken, leaseExpiresAt: params.now + params.leaseMs }));
    return row === undefined ? null : { cancelRequested: row['cancel_requested'] === 1 };
  }

  progress(params: ProgressParams): boolean {
    return this.#tx.run((events) => {
      const row = this.#s.progress.get({
        id: params.id,
        leaseToken: params.leaseToken,
        progress: params.progress,
        message: params.message,
        now: params.now,
        anchorMs: PROGRESS_ANCHOR_MS,
      });
      if (row === undefined) return false;
      if (params.milestone === true) {
        appendHistory(this.#db, [historyEvent(params.id, Number(row['updated_at']), 'progress', { progress: params.progress, message: params.message })]);
      }
      events.push(changedOf(row));
      return true;
    });
  }

  /**
   * Ends an attempt with the other ends asked for in the same turn of the event loop: one statement for all, one item of
   * the group commit (bench/README.md, "Ends of a turn in one statement"). A group that fails (one end the store
   * refuses) is tried again end by end, so that only that one fails.
   */
  finish(params: FinishParams): Promise<Operation | null> {
    return new Promise<Operation | null>((resolve, reject) => {
      this.#ending.push({ params, resolve, reject });
      if (this.#ending.length > 1) return;
      let group: Ending[] | null = null;
      this.#group
        .run((events) => {
          group = this.#ending;
          this.#ending = [];
          return this.#finishAll(group, events);
        })
        .then(
          (ended) => {
            for (const [i, end] of (group ?? []).entries()) end.resolve(ended[i] ?? null);
          },
          (error: unknown) => {
            if (group === null) {
              // The group commit failed before this work ran (its BEGIN): every end waiting fails with it, as each would alone.
              const waiting = this.#ending;
              this.#ending = [];
              for (const end of waiting) end.reject(error);
              return;
            }
            for (const end of group) this.#group.run((events) => this.#finishUnderLease(end.params, events)).then(end.resolve, end.reject);
          },
        );
    });
  }

  /** The terminal transitions of `group` in one statement; an end of an operation the group ends already goes alone. */
  #finishAll(group: readonly Ending[], events: StoreEvent[]): Array<Operation | null> {
    if (group.length === 1) return [this.#finishUnderLease(group[0]!.params, events)];
    const first = new Map<string, FinishParams>();
    for (const { params } of group) if (!first.has(params.id)) first.set(params.id, params);
    const rows = this.#s.finishMany.all({
      ends: JSON.stringify(
        [...first.values()].map((p) => [
          p.id,
          p.leaseToken,
          p.status,
          p.now,
          p.error?.code ?? null,
          p.error?.message ?? null,
          p.progress?.fraction ?? null,
          p.progress?.message ?? null,
        ]),
      ),
    });
    const finished = new Map(rows.map((row) => [String(row['id']), toOperation(row, null)]));
    const samples: Array<{ type: string; durationMs: number; cost: number | null }> = [];
    const ends: HistoryDraft[] = [];
    for (const [id, params] of first) {
      const operation = finished.get(id);
      if (operation === undefined) continue;
      if (params.result !== undefined) {
        this.#s.resultPut.run({ operationId: id, contentType: params.result.contentType, body: params.result.body });
      }
      if (operation.status === 'completed' && operation.startedAt !== null) {
        samples.push({ type: operation.type, durationMs: params.now - operation.startedAt, cost: operation.cost });
      }
      ends.push(endEvent(id, operation.updatedAt, params.status, operation.error));
    }
    if (samples.length > 0) {
      this.#s.samplesPut.run({ samples: JSON.stringify(samples.map((s) => [s.type, s.durationMs, s.cost])) });
      for (const [type, written] of countByType(samples)) this.#trimSamples(type, written);
    }
    appendHistory(this.#db, ends);
    const ended = new Map<string, Operation>();
    for (const [id, params] of first) {
      const operation = finished.get(id);
      if (operation === undefined) continue;
      events.push(changed(operation), ...keyFreed(operation, params.now));
      ended.set(id, this.#writeOutbox(operation, params.delivery, params.now, events));
    }
    return group.map(({ params }) => (first.get(params.id) === params ? (ended.get(params.id) ?? null) : this.#finishUnderLease(params, events)));
  }

  /** The terminal transition under a lease, with its result, duration sample and outbox delivery. */
  #finishUnderLease(params: FinishParams, events: StoreEvent[]): Operation | null {
    const row = this.#s.finish.get({
      id: params.id,
      leaseToken: params.leaseToken,
      status: params.status,
      now: params.now,
      ...errorParams(params.error),
      progress: params.progress?.fraction ?? null,
      progressMessage: params.progress?.message ?? null,
    });
    if (row === undefined) return null;
    const operation = toOperation(row, null);
    if (params.result !== undefined) {
      this.#s.resultPut.run({ operationId: operation.id, contentType: params.result.contentType, body: params.result.body });
    }
    if (operation.status === 'completed' && operation.startedAt !== null) this.#sample(operation.type, params.now - operation.startedAt, operation.cost);
    appendHistory(this.#db, [endEvent(operation.id, operation.updatedAt, params.status, operation.error)]);
    events.push(changed(operation), ...keyFreed(operation, params.now));
    return this.#writeOutbox(operation, params.delivery, params.now, events);
  }

  #sample(type: string, durationMs: number, cost: number | null): void {
    this.#s.samplePut.run({ type, durationMs, cost });
    this.#trimSamples(type, 1);
  }

  /** After `written` more samples of `type`: trims them to the newest DURATION_SAMPLE_LIMIT every that many writes. */
  #trimSamples(type: string, written: number): void {
    const since = (this.#samplesSinceTrim.get(type) ?? 0) + written;
    if (since < DURATION_SAMPLE_LIMIT) {
      this.#samplesSinceTrim.set(type, since);
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
    return this.#group.run((events) => this.#giveBack(params, { event: 'retry', runAt: params.runAt, error: params.error }, events));
  }

  release(params: ReleaseParams): Operation | null {
    return this.#tx.run((events) => this.#giveBack(params, { event: 'release', runAt: params.runAt, error: params.error }, events));
  }

  /** Reads what the outcome depends on under the lease, has the domain decide it, and applies it. */
  #giveBack(params: ReleaseParams, giveBack: GiveBack, events: StoreEvent[]): Operation | null {
    const facts = this.#s.leaseFacts.get({ id: params.id, leaseToken: params.leaseToken });
    if (facts === undefined) return null;
    const outcome = decideGiveBack({ cancelRequested: facts['cancel_requested'] === 1 }, giveBack);
    return this.#apply(params, outcome, params.now, params.delivery, events);
  }

  /** A decided outcome, applied under the lease (null when it is gone), in the transaction its facts were read in. */
  #apply(lease: LeaseRef, outcome: LeaseOutcome, now: number, delivery: DeliveryFactory, events: StoreEvent[]): Operation | null {
    if (outcome.to === 'pending') return this.#requeue(lease, outcome, now, events);
    return this.#finishUnderLease({ ...lease, now, status: outcome.to, error: outcome.error, delivery }, events);
  }

  #requeue(lease: LeaseRef, requeue: Requeue, now: number, events: StoreEvent[]): Operation | null {
    const row = this.#s.requeue.get({
      id: lease.id,
      leaseToken: lease.leaseToken,
      attemptIncrement: requeue.attemptIncrement,
      runAt: requeue.runAt,
      now,
      ...errorParams(requeue.error),
    });
    if (row === undefined) return null;
    const operation = toOperation(row, null);
    const { event } = requeue;
    if (event === 'release') recordRelease(this.#db, operation.id, operation.updatedAt, operation.attempt);
    else
      appendHistory(this.#db, [
        requeueEvent(operation.id, operation.updatedAt, { event, error: requeue.error }, operation.attempt - requeue.attemptIncrement, operation.runAt),
      ]);
    events.push(changed(operation), due(operation), ...keyFreed(operation, now));
    return operation;
  }

  cancel(params: { readonly id: string; readonly tenant: string; readonly now: number; readonly delivery: DeliveryFactory } & IfVersion): CancelOutcome {
    return this.#tx.run((events) => {
      const movedOn = this.changedFrom(params);
      return movedOn === null ? this.cancelIn(params, events) : { kind: 'changed', operation: movedOn };
    });
  }

  /** The operation, when it is no longer at `ifVersion` (IfVersion); null when it is, or none was asked, or it is gone. */
  changedFrom(params: { readonly id: string; readonly tenant: string } & IfVersion): Operation | null {
    if (params.ifVersion === undefined) return null;
    const current = this.#operations.get(params);
    return current !== null && current.version !== params.ifVersion ? current : null;
  }

  /** cancel, inside the caller's transaction (a bulk cancel applies it to each operation of a batch). */
  cancelIn(
    params: { readonly id: string; readonly tenant: string; readonly now: number; readonly delivery: DeliveryFactory },
    events: StoreEvent[],
  ): CancelOutcome {
    const current = this.#operations.get(params);
    if (current === null) return { kind: 'not_found' };
    // The history event (and updated_at) at `now`, or at its last change if that came later (another process's claim
    // after `now` was read): history never goes back. finished_at is `now` all the same (no clock running ahead moves it).
    const eventAt = Math.max(params.now, current.updatedAt);
    const at = { id: params.id, tenant: params.tenant, now: params.now };
    if (current.status === 'pending') {
      const row = this.#s.cancelPending.get({ ...at, ...errorParams(CANCELLED_BY_REQUEST) });
      const operation = toOperation(row!, null);
      appendHistory(this.#db, [endEvent(operation.id, eventAt, 'cancelled', operation.error)]);
      events.push(changed(operation));
      return { kind: 'cancelled', operation: this.#writeOutbox(operation, params.delivery, params.now, events) };
    }
    if (current.status !== 'processing') return { kind: 'terminal', operation: current };
    if (current.cancelRequested) return { kind: 'requested', operation: current, already: true };
    const operation = toOperation(this.#s.requestCancel.get(at)!, null);
    appendHistory(this.#db, [historyEvent(operation.id, eventAt, 'cancel_requested', {})]);
    events.push(changed(operation), { kind: 'operation:cancel_requested', id: operation.id });
    return { kind: 'requested', operation };
  }

  delete(params: { readonly id: string; readonly tenant: string } & IfVersion): DeleteOutcome {
    return this.#tx.run((events) => (this.changedFrom(params) === null ? this.deleteIn({ id: params.id, tenant: params.tenant }, events) : 'changed'));
  }

  /** delete, inside the caller's transaction (a bulk delete applies it to each operation of a batch). */
  deleteIn(params: { readonly id: string; readonly tenant: string }, events: StoreEvent[]): DeleteOutcome {
    if (this.#s.deleteTerminal.run(params).changes > 0) {
      events.push({ kind: 'operation:deleted', id: params.id });
      return 'deleted';
    }
    const current = this.#operations.get(params);
    if (current === null) return 'not_found';
    return isTerminal(current.status) ? 'delivery_pending' : 'not_terminal';
  }

  /** Lists the expired leases, has the domain decide each one's outcome, and applies them, in one transaction. */
  recoverExpired(params: RecoverParams): RecoverResult {
    return this.#tx.run((events) => {
      const requeued: Operation[] = [];
      const ended: Operation[] = [];
      const held = new Set(params.held ?? []);
      for (const row of this.#s.expiredLeases.all({ now: params.now })) {
        if (held.has(String(row['lease_token']))) continue;
        const op = toOperation(row, null);
        const outcome = decideExpiredLease(op, params.error);
        // An end records the expiry before the end; a requeue records it as its own event (requeueEvent).
        // At the later of now and its last change (a cancel request written since this sweep read the clock).
        if (outcome.to !== 'pending')
          appendHistory(this.#db, [historyEvent(op.id, Math.max(params.now, op.updatedAt), 'lease_expired', { attempt: op.attempt })]);
        const applied = this.#apply({ id: op.id, leaseToken: op.leaseToken ?? '' }, outcome, params.now, params.delivery, events);
        if (applied !== null) (outcome.to === 'pending' ? requeued : ended).push(applied);
      }
      return { requeued: requeued.sort(compareClaimOrder), ended: ended.sort(compareClaimOrder) };
    });
  }
}
