// Owns: the SQLite queries of webhook deliveries and their attempts, including the outbox insert operations.ts calls.
// Not here: deciding outcomes or schedules (webhooks/), sending anything.
// Invariant: an attempt is recorded only under the live lease, and the attempt row and the delivery change commit together;
// a new delivery state is a new version of its operation (with an event), in the same transaction; so is the attempt's
// `webhook_attempt` history event.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { SUPERSEDED_BY_RETRY, webhookDestination } from '../../domain/delivery.ts';
import { compareIds } from '../../domain/queue.ts';
import type { Operation } from '../../domain/operation.ts';
import type {
  Delivery,
  DeliveryAttempt,
  DeliveryAttemptParams,
  DeliveryClaimParams,
  DeliveryDraft,
  DeliveryListQuery,
  DeliveryRetryOutcome,
  StoreEvent,
} from '../store.ts';
import { prepareAll, StatementCache, type Transactor } from './database.ts';
import { changedOf, toAttempt, toDelivery, type Row } from './rows.ts';
import { appendHistory } from './history.ts';
import { historyEvent } from '../../domain/history.ts';

// $id $messageId $operationId $tenant $url $destination $eventType $payload $nextAttemptAt $now $traceparent $tracestate
const INSERT = `INSERT INTO deliveries (id, message_id, operation_id, tenant, url, destination, event_type, payload, state, next_attempt_at, created_at, updated_at,
  traceparent, tracestate)
  VALUES ($id, $messageId, $operationId, $tenant, $url, $destination, $eventType, $payload, 'pending', $nextAttemptAt, $now, $now, $traceparent, $tracestate)`;

// $now $leaseExpiresAt $workerId $limit, and $except0… for the destinations to pass over. A lease is live while
// lease_expires_at >= now. The destination test reads only the due index, so the passed-over deliveries of a destination
// at its cap cost no row reads, and a parameter each (not one JSON array to unpack) is the cheaper test (bench/README.md).
// A destination missing (a row from before it was kept) is never passed over.
function claimDueSql(except: number): string {
  const passOver = except === 0 ? '' : `AND ifnull(destination, '') NOT IN (${Array.from({ length: except }, (_, i) => `$except${i}`).join(', ')})`;
  return `UPDATE deliveries SET lease_token = lower(hex(randomblob(16))), lease_expires_at = $leaseExpiresAt, worker_id = $workerId, updated_at = $now
  WHERE id IN (
    SELECT id FROM deliveries
    WHERE state IN ('pending', 'retrying') AND next_attempt_at <= $now ${passOver}
      AND (lease_token IS NULL OR lease_expires_at < $now) AND superseded = 0
    ORDER BY next_attempt_at, id LIMIT $limit)
  RETURNING *`;
}

// $id $leaseToken $state $nextAttemptAt $statusCode $error $now
// One a retry superseded while in flight records its attempt, and then ends dead unless delivered.
const RECORD_ATTEMPT = `UPDATE deliveries SET attempt_count = attempt_count + 1, schedule_attempt = schedule_attempt + 1,
    state = CASE WHEN superseded = 1 AND $state <> 'delivered' THEN 'dead' ELSE $state END,
    next_attempt_at = CASE WHEN superseded = 1 THEN NULL ELSE $nextAttemptAt END, last_status_code = $statusCode,
    last_error = CASE WHEN superseded = 1 AND $state <> 'delivered' THEN '${SUPERSEDED_BY_RETRY}' ELSE $error END,
    lease_token = NULL, lease_expires_at = NULL, worker_id = NULL, manual = 0, updated_at = $now
  WHERE id = $id AND lease_token = $leaseToken
  RETURNING *`;

// $deliveryId $attempt $trigger $startedAt $durationMs $statusCode $error $responseSnippet
const INSERT_ATTEMPT = `INSERT INTO delivery_attempts (delivery_id, attempt, trigger, started_at, duration_ms, status_code, error, response_snippet)
  VALUES ($deliveryId, $attempt, $trigger, $startedAt, $durationMs, $statusCode, $error, $responseSnippet)`;

// $id $tenant
const GET = `SELECT * FROM deliveries WHERE id = $id AND ($tenant IS NULL OR tenant = $tenant)`;

// $operationId $tenant
const LIST_FOR_OPERATION = `SELECT * FROM deliveries WHERE operation_id = $operationId AND tenant = $tenant ORDER BY created_at, id`;

// $deliveryId
const ATTEMPTS = `SELECT * FROM delivery_attempts WHERE delivery_id = $deliveryId ORDER BY attempt`;

// $id $now. Only a dead delivery is replayed, and not one of an end its operation was retried past (superseded); the
// message id stays.
const REPLAY = `UPDATE deliveries SET state = 'pending', next_attempt_at = $now, schedule_attempt = 0, manual = 1,
    lease_token = NULL, lease_expires_at = NULL, worker_id = NULL, updated_at = $now
  WHERE id = $id AND state = 'dead' AND superseded = 0
  RETURNING *`;

// $id
const STATE = `SELECT state FROM deliveries WHERE id = $id`;

// $id. The operation's resource shows its webhook's state, so a new state is a new version of it (its ETag). updated_at
// stays: it says when the operation itself last moved.
const TOUCH_OPERATION = `UPDATE operations SET version = version + 1 WHERE id = $id RETURNING id, version, status`;

// $now
// One a retry superseded while in flight (its attempt's record never came) ends dead.
const RECOVER_EXPIRED = `UPDATE deliveries SET lease_token = NULL, lease_expires_at = NULL, worker_id = NULL,
    state = CASE WHEN superseded = 1 THEN 'dead' ELSE state END, next_attempt_at = CASE WHEN superseded = 1 THEN NULL ELSE next_attempt_at END,
    last_error = CASE WHEN superseded = 1 AND state <> 'dead' THEN '${SUPERSEDED_BY_RETRY}' ELSE last_error END
  WHERE lease_token IS NOT NULL AND lease_expires_at < $now
  RETURNING next_attempt_at`;

// $now. One a retry superseded that waits with no lease (marked by migration 0018, or written by a node of an earlier
// version beside this one) ends dead: no claim takes it.
const SWEEP_SUPERSEDED = `UPDATE deliveries SET state = 'dead', next_attempt_at = NULL, last_error = '${SUPERSEDED_BY_RETRY}', updated_at = $now
  WHERE superseded = 1 AND state IN ('pending', 'retrying') AND lease_token IS NULL`;

// Deliveries in flight (leased) are left out, as on PostgreSQL (postgres/deliveries.ts says why).
// $after
const NEXT_ATTEMPT_AT = `SELECT min(next_attempt_at) AS at FROM deliveries
  WHERE state IN ('pending', 'retrying') AND lease_token IS NULL AND next_attempt_at > $after`;

// Each state read from an index of its own: the due index, and the dead one (migration 0005).
const COUNTS = `SELECT 'dead' AS state, count(*) AS count FROM deliveries WHERE state = 'dead'
  UNION ALL SELECT state, count(*) AS count FROM deliveries WHERE state IN ('pending', 'retrying') GROUP BY state`;

const STATEMENTS = {
  counts: COUNTS,
  insert: INSERT,
  recordAttempt: RECORD_ATTEMPT,
  insertAttempt: INSERT_ATTEMPT,
  get: GET,
  listForOperation: LIST_FOR_OPERATION,
  attempts: ATTEMPTS,
  replay: REPLAY,
  recoverExpired: RECOVER_EXPIRED,
  sweepSuperseded: SWEEP_SUPERSEDED,
  nextAttemptAt: NEXT_ATTEMPT_AT,
  state: STATE,
  touchOperation: TOUCH_OPERATION,
};

// $limit, and $tenant / $state / $beforeId when the query has them (no tenant: every tenant's, an admin's list).
function listSql(withTenant: boolean, withState: boolean, withBefore: boolean): string {
  const where: string[] = [];
  if (withTenant) where.push('tenant = $tenant');
  if (withState) where.push('state = $state');
  if (withBefore) where.push('id < $beforeId');
  return `SELECT * FROM deliveries${where.length === 0 ? '' : ` WHERE ${where.join(' AND ')}`} ORDER BY id DESC LIMIT $limit`;
}

export class SqliteDeliveries {
  #db: DatabaseSync;
  #tx: Transactor;
  #s: Record<keyof typeof STATEMENTS, StatementSync>;
  #lists: StatementCache;
  #claims: StatementCache;

  constructor(db: DatabaseSync, tx: Transactor) {
    this.#db = db;
    this.#lists = new StatementCache(db);
    this.#claims = new StatementCache(db);
    this.#tx = tx;
    this.#s = prepareAll(db, STATEMENTS);
  }

  /** The outbox write: runs inside the caller's transaction. */
  insert(operation: Operation, draft: DeliveryDraft, now: number, events: StoreEvent[]): void {
    this.#s.insert.run({
      id: draft.id,
      messageId: draft.messageId,
      operationId: operation.id,
      tenant: operation.tenant,
      url: draft.url,
      destination: webhookDestination(draft.url),
      eventType: draft.eventType,
      payload: draft.payload,
      nextAttemptAt: draft.nextAttemptAt,
      now,
      traceparent: draft.trace?.traceparent ?? null,
      tracestate: draft.trace?.tracestate ?? null,
    });
    events.push({ kind: 'delivery:due', nextAttemptAt: draft.nextAttemptAt });
  }

  claimDue(params: DeliveryClaimParams): Delivery[] {
    if (params.limit <= 0) return [];
    const except = params.exceptDestinations ?? [];
    const values: Record<string, string | number> = {
      now: params.now,
      leaseExpiresAt: params.now + params.leaseMs,
      workerId: params.workerId,
      limit: params.limit,
    };
    for (const [i, destination] of except.entries()) values[`except${i}`] = destination;
    const rows = this.#tx.run(() => this.#claims.get(claimDueSql(except.length)).all(values));
    return rows.map(toDelivery).sort((a, b) => (a.nextAttemptAt ?? 0) - (b.nextAttemptAt ?? 0) || compareIds(a.id, b.id));
  }

  recordAttempt(params: DeliveryAttemptParams): Delivery | null {
    return this.#tx.run((events) => {
      const before = this.#s.state.get({ id: params.id })?.['state'];
      const row = this.#s.recordAttempt.get({
        id: params.id,
        leaseToken: params.leaseToken,
        state: params.outcome,
        nextAttemptAt: params.nextAttemptAt,
        statusCode: params.attempt.statusCode,
        error: params.attempt.error,
        now: params.now,
      });
      if (row === undefined) return null;
      const delivery = toDelivery(row);
      const a = params.attempt;
      this.#s.insertAttempt.run({
        deliveryId: delivery.id,
        attempt: delivery.attemptCount,
        trigger: a.trigger,
        startedAt: a.startedAt,
        durationMs: a.durationMs,
        statusCode: a.statusCode,
        error: a.error,
        responseSnippet: a.responseSnippet,
      });
      appendHistory(this.#db, [
        historyEvent(delivery.operationId, params.now, 'webhook_attempt', {
          delivery_id: delivery.id,
          attempt: delivery.attemptCount,
          status_code: a.statusCode,
          duration_ms: Math.round(a.durationMs),
          error: a.error,
          // What became of the delivery: dead where a retry of the operation superseded it in flight.
          outcome: delivery.state === 'dead' ? 'dead' : params.outcome,
        }),
      ]);
      if (delivery.state === 'retrying' && delivery.nextAttemptAt !== null) {
        events.push({ kind: 'delivery:due', nextAttemptAt: delivery.nextAttemptAt });
      }
      if (delivery.state !== before) this.#touchOperation(delivery.operationId, events);
      return delivery;
    });
  }

  get(params: { readonly id: string; readonly tenant: string | null }): Delivery | null {
    const row = this.#s.get.get({ id: params.id, tenant: params.tenant });
    return row === undefined ? null : toDelivery(row);
  }

  list(query: DeliveryListQuery): Delivery[] {
    const withState = query.state !== undefined;
    const withBefore = query.beforeId !== undefined;
    const params: Record<string, string | number> = { limit: query.limit };
    if (query.tenant !== null) params['tenant'] = query.tenant;
    if (query.state !== undefined) params['state'] = query.state;
    if (query.beforeId !== undefined) params['beforeId'] = query.beforeId;
    return this.#lists
      .get(listSql(query.tenant !== null, withState, withBefore))
      .all(params)
      .map(toDelivery);
  }

  listForOperation(params: { readonly operationId: string; readonly tenant: string }): Array<{ delivery: Delivery; attempts: DeliveryAttempt[] }> {
    const rows = this.#s.listForOperation.all({ operationId: params.operationId, tenant: params.tenant });
    return rows.map((row) => {
      const delivery = toDelivery(row);
      return { delivery, attempts: this.attempts(delivery.id) };
    });
  }

  attempts(deliveryId: string): DeliveryAttempt[] {
    return this.#s.attempts.all({ deliveryId }).map(toAttempt);
  }

  retry(params: { readonly id: string; readonly tenant: string; readonly now: number }): DeliveryRetryOutcome {
    return this.#tx.run((events) => this.retryIn(params, events));
  }

  /** retry, inside the caller's transaction (a bulk replay applies it to each delivery of a batch). */
  retryIn(params: { readonly id: string; readonly tenant: string; readonly now: number }, events: StoreEvent[]): DeliveryRetryOutcome {
    const current = this.#s.get.get({ id: params.id, tenant: params.tenant });
    if (current === undefined) return { kind: 'not_found' };
    const row = this.#s.replay.get({ id: params.id, now: params.now });
    if (row === undefined)
      return { kind: current['state'] === 'dead' && current['superseded'] === 1 ? 'superseded' : 'not_dead', delivery: toDelivery(current) };
    events.push({ kind: 'delivery:due', nextAttemptAt: params.now });
    const delivery = toDelivery(row);
    this.#touchOperation(delivery.operationId, events);
    return { kind: 'scheduled', delivery };
  }

  #touchOperation(operationId: string, events: StoreEvent[]): void {
    const op = this.#s.touchOperation.get({ id: operationId });
    if (op !== undefined) events.push(changedOf(op));
  }

  recoverExpired(now: number): number {
    return this.#tx.run((events) => {
      const rows: Row[] = this.#s.recoverExpired.all({ now });
      for (const row of rows) {
        const at = row['next_attempt_at'];
        if (typeof at === 'number') events.push({ kind: 'delivery:due', nextAttemptAt: at });
      }
      this.#s.sweepSuperseded.run({ now });
      return rows.length;
    });
  }

  nextAttemptAt(after: number): number | null {
    const at = this.#s.nextAttemptAt.get({ after })?.['at'];
    return typeof at === 'number' ? at : null;
  }

  counts(): Array<{ state: 'pending' | 'retrying' | 'dead'; count: number }> {
    return this.#s.counts.all().map((row) => ({ state: row['state'] as 'pending' | 'retrying' | 'dead', count: Number(row['count']) }));
  }
}
