// Owns: webhook delivery rows and their attempts: writing outbox rows, leased claims, recording attempts, replays, reads.
// Not here: deciding outcomes or schedules (webhooks/), the operation transitions that write the outbox (transitions.ts).
// Invariant: an attempt is recorded only under the delivery's current lease; a claim never hands one delivery to two dispatchers;
// a new delivery state is a new version of its operation (with an event), in the same statement.

import { SUPERSEDED_BY_RETRY, webhookDestination } from '../../domain/delivery.ts';
import type { Operation } from '../../domain/operation.ts';
import type { OperationStatus } from '../../domain/status.ts';
import {
  changed,
  type Delivery,
  type DeliveryAttempt,
  type DeliveryAttemptParams,
  type DeliveryClaimParams,
  type DeliveryDraft,
  type DeliveryFactory,
  type DeliveryListQuery,
  type DeliveryRetryOutcome,
  type StoreEvent,
} from '../store.ts';
import type { PostgresDatabase, Queryable } from './database.ts';
import { listFilters } from './operations.ts';
import { toAttempt, toDelivery, type AttemptRow, type DeliveryRow } from './rows.ts';
import { historyOf } from './history.ts';

// Params: parallel arrays $1 ids, $2 message ids, $3 operation ids, $4 tenants, $5 urls, $6 destinations, $7 event types,
// $8 payloads, $9 next attempt at, $11 traceparents, $12 tracestates; $10 now.
const INSERT_DELIVERIES = `
INSERT INTO deliveries (id, message_id, operation_id, tenant, url, destination, event_type, payload, state, next_attempt_at, created_at, updated_at,
  traceparent, tracestate)
SELECT d.id, d.message_id, d.operation_id, d.tenant, d.url, d.destination, d.event_type, d.payload, 'pending', d.next_attempt_at, $10, $10,
  d.traceparent, d.tracestate
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], $11::text[], $12::text[])
  AS d(id, message_id, operation_id, tenant, url, destination, event_type, payload, next_attempt_at, traceparent, tracestate)`;

/**
 * The outbox: asks `factory` for each operation's delivery and writes them in one statement of the caller's
 * transaction. Returns the operations as stored with their delivery (webhookState 'pending' where one was written).
 */
export async function writeOutbox(
  tx: Queryable & { readonly events: StoreEvent[] },
  ops: readonly Operation[],
  factory: DeliveryFactory,
  now: number,
): Promise<Operation[]> {
  const drafts: Array<{ op: Operation; draft: DeliveryDraft }> = [];
  const result = ops.map((op) => {
    const draft = factory(op);
    if (draft === null) return op;
    drafts.push({ op, draft });
    return { ...op, webhookState: 'pending' as const };
  });
  if (drafts.length === 0) return result;
  const column = <T>(pick: (entry: { op: Operation; draft: DeliveryDraft }) => T) => drafts.map(pick);
  await tx.query(INSERT_DELIVERIES, [
    column((e) => e.draft.id),
    column((e) => e.draft.messageId),
    column((e) => e.op.id),
    column((e) => e.op.tenant),
    column((e) => e.draft.url),
    column((e) => webhookDestination(e.draft.url)),
    column((e) => e.draft.eventType),
    column((e) => e.draft.payload),
    column((e) => e.draft.nextAttemptAt),
    now,
    column((e) => e.draft.trace?.traceparent ?? null),
    column((e) => e.draft.trace?.tracestate ?? null),
  ]);
  tx.events.push({ kind: 'delivery:due', nextAttemptAt: Math.min(...column((e) => e.draft.nextAttemptAt)) });
  return result;
}

// Params: $1 now, $2 worker id, $3 lease ms, $4 limit, $5 destinations to pass over. An expired lease (a crashed
// dispatcher) is claimable again. A destination missing (a row a node of an older version wrote) is never passed over.
const CLAIM_DELIVERIES = `
WITH due AS (
  SELECT id FROM deliveries
  WHERE state IN ('pending', 'retrying') AND next_attempt_at <= $1 AND (lease_token IS NULL OR lease_expires_at < $1)
    AND coalesce(destination, '') <> ALL($5::text[]) AND NOT superseded
  ORDER BY next_attempt_at, id LIMIT $4
  FOR UPDATE SKIP LOCKED
)
UPDATE deliveries d
SET lease_token = gen_random_uuid()::text, lease_expires_at = $1::bigint + $3::bigint, worker_id = $2, updated_at = $1
FROM due WHERE d.id = due.id
RETURNING d.*`;

export async function claimDeliveries(q: Queryable, params: DeliveryClaimParams): Promise<Delivery[]> {
  if (params.limit <= 0) return [];
  const rows = await q.query<DeliveryRow>(CLAIM_DELIVERIES, [params.now, params.workerId, params.leaseMs, params.limit, params.exceptDestinations ?? []]);
  return rows.map(toDelivery).sort((a, b) => (a.nextAttemptAt ?? 0) - (b.nextAttemptAt ?? 0) || (a.id < b.id ? -1 : 1));
}

// Params: $1 id, $2 lease token, $3 outcome state, $4 next attempt at, $5 now, $6 trigger, $7 started at,
// $8 duration ms, $9 status code, $10 error, $11 response snippet. The attempt is recorded with its `webhook_attempt`
// history event. A new state of the delivery is a new version of its operation, whose resource shows it (its ETag);
// updated_at stays, as it says when the operation itself last moved.
// OPERATION_FIRST locks the operation before the delivery row is: deleting an operation locks it and then (the cascade)
// its deliveries, and the opposite order here would deadlock with a DELETE sent as the webhook is being recorded.
const OPERATION_FIRST = 'EXISTS (SELECT 1 FROM operations o WHERE o.id = d.operation_id FOR NO KEY UPDATE)';
const RECORD_ATTEMPT = `
WITH before AS (
  SELECT state FROM deliveries WHERE id = $1
), recorded AS (
  UPDATE deliveries d
  SET state = CASE WHEN d.superseded AND $3 <> 'delivered' THEN 'dead' ELSE $3 END, attempt_count = d.attempt_count + 1,
      schedule_attempt = d.schedule_attempt + 1, next_attempt_at = CASE WHEN $3 = 'retrying' AND NOT d.superseded THEN $4::bigint END, updated_at = $5,
      last_status_code = $9, last_error = CASE WHEN d.superseded AND $3 <> 'delivered' THEN '${SUPERSEDED_BY_RETRY}' ELSE $10 END,
      lease_token = NULL, lease_expires_at = NULL, worker_id = NULL, manual = false
  WHERE d.id = $1 AND d.lease_token = $2 AND d.state IN ('pending', 'retrying') AND ${OPERATION_FIRST}
  RETURNING d.*
), attempt AS (
  INSERT INTO delivery_attempts (delivery_id, attempt, trigger, started_at, duration_ms, status_code, error, response_snippet)
  SELECT id, attempt_count, $6, $7, $8, $9, $10, $11 FROM recorded
  RETURNING delivery_id, duration_ms
), ${historyOf(
  '(SELECT r.operation_id AS id, r.id AS delivery_id, r.attempt_count, r.last_status_code, r.last_error, r.state, a.duration_ms FROM recorded r JOIN attempt a ON a.delivery_id = r.id) w',
  '$5',
  "'webhook_attempt'",
  `jsonb_build_object('delivery_id', w.delivery_id, 'attempt', w.attempt_count, 'status_code', w.last_status_code, 'duration_ms', w.duration_ms,
    'error', $10::text, 'outcome', w.state)`,
)}, touched AS (
  UPDATE operations o SET version = o.version + 1
  FROM recorded r, before b WHERE o.id = r.operation_id AND r.state <> b.state
  RETURNING o.id, o.version, o.status
)
SELECT r.*, t.version AS operation_version, t.status AS operation_status FROM recorded r LEFT JOIN touched t ON t.id = r.operation_id`;

export async function recordAttempt(db: PostgresDatabase, params: DeliveryAttemptParams): Promise<Delivery | null> {
  const a = params.attempt;
  const [row] = await db.query<DeliveryRow & OperationTouch>(RECORD_ATTEMPT, [
    params.id,
    params.leaseToken,
    params.outcome,
    params.nextAttemptAt,
    params.now,
    a.trigger,
    a.startedAt,
    Math.round(a.durationMs),
    a.statusCode,
    a.error,
    a.responseSnippet,
  ]);
  if (row === undefined) return null;
  const delivery = toDelivery(row);
  if (delivery.state === 'retrying' && delivery.nextAttemptAt !== null) {
    db.publish([{ kind: 'delivery:due', nextAttemptAt: delivery.nextAttemptAt }]);
  }
  publishTouch(db, delivery, row);
  return delivery;
}

/** The operation a delivery's new state changed, as the statement returned it (nulls: the state stayed). */
interface OperationTouch {
  operation_version: number | null;
  operation_status: OperationStatus | null;
}

function publishTouch(db: Pick<PostgresDatabase, 'publish'>, delivery: Delivery, touch: OperationTouch): void {
  if (touch.operation_version === null || touch.operation_status === null) return;
  db.publish([changed({ id: delivery.operationId, version: touch.operation_version, status: touch.operation_status })]);
}

// Params: $1 id, $2 tenant.
const SELECT_DELIVERY = 'SELECT * FROM deliveries WHERE id = $1 AND ($2::text IS NULL OR tenant = $2)';

export async function getDelivery(q: Queryable, id: string, tenant: string | null): Promise<Delivery | null> {
  const [row] = await q.query<DeliveryRow>(SELECT_DELIVERY, [id, tenant]);
  return row === undefined ? null : toDelivery(row);
}

export async function listDeliveries(q: Queryable, query: DeliveryListQuery): Promise<Delivery[]> {
  // No tenant: every tenant's (an admin's list).
  const [where, params] = listFilters({ 'tenant =': query.tenant ?? undefined, 'state =': query.state, 'id <': query.beforeId });
  const filter = where === '' ? '' : ` WHERE ${where}`;
  const rows = await q.query<DeliveryRow>(`SELECT * FROM deliveries${filter} ORDER BY id DESC LIMIT $${params.length + 1}`, [...params, query.limit]);
  return rows.map(toDelivery);
}

// Params: $1 operation id, $2 tenant.
const SELECT_OPERATION_DELIVERIES = 'SELECT * FROM deliveries WHERE operation_id = $1 AND tenant = $2 ORDER BY created_at, id';
// Params: $1 delivery ids.
const SELECT_ATTEMPTS = 'SELECT * FROM delivery_attempts WHERE delivery_id = ANY($1::text[]) ORDER BY delivery_id, attempt';

export async function attemptsOf(q: Queryable, deliveryIds: readonly string[]): Promise<DeliveryAttempt[]> {
  if (deliveryIds.length === 0) return [];
  return (await q.query<AttemptRow>(SELECT_ATTEMPTS, [deliveryIds])).map(toAttempt);
}

export async function listOperationDeliveries(
  q: Queryable,
  operationId: string,
  tenant: string,
): Promise<Array<{ delivery: Delivery; attempts: DeliveryAttempt[] }>> {
  const deliveries = (await q.query<DeliveryRow>(SELECT_OPERATION_DELIVERIES, [operationId, tenant])).map(toDelivery);
  const attempts = await attemptsOf(
    q,
    deliveries.map((d) => d.id),
  );
  return deliveries.map((delivery) => ({ delivery, attempts: attempts.filter((a) => a.deliveryId === delivery.id) }));
}

// Params: $1 id, $2 tenant, $3 now. A replay: due now, the schedule restarts, the next attempt is a manual one. Not of a
// delivery of an end its operation was retried past (superseded): sent now, it would reach the receiver after the
// rerun's. The mark is on the row itself, so a replay that waited for a retry's locks sees it.
const REPLAY_DELIVERY = `
WITH replayed AS (
  UPDATE deliveries d SET state = 'pending', next_attempt_at = $3, schedule_attempt = 0, updated_at = $3, manual = true
  WHERE d.id = $1 AND d.tenant = $2 AND d.state = 'dead' AND NOT d.superseded AND ${OPERATION_FIRST}
  RETURNING d.*
), touched AS (
  UPDATE operations o SET version = o.version + 1 FROM replayed r WHERE o.id = r.operation_id
  RETURNING o.id, o.version, o.status
)
SELECT r.*, t.version AS operation_version, t.status AS operation_status FROM replayed r LEFT JOIN touched t ON t.id = r.operation_id`;

/** `db`: the database, or a transaction of the caller's that publishes on commit (a bulk replay's batch). */
export async function replayDelivery(
  db: Queryable & Pick<PostgresDatabase, 'publish'>,
  id: string,
  tenant: string,
  now: number,
): Promise<DeliveryRetryOutcome> {
  const [row] = await db.query<DeliveryRow & OperationTouch>(REPLAY_DELIVERY, [id, tenant, now]);
  if (row !== undefined) {
    const delivery = toDelivery(row);
    db.publish([{ kind: 'delivery:due', nextAttemptAt: now }]);
    publishTouch(db, delivery, row);
    return { kind: 'scheduled', delivery };
  }
  const current = await getDelivery(db, id, tenant);
  if (current === null) return { kind: 'not_found' };
  return { kind: current.state === 'dead' && current.superseded === true ? 'superseded' : 'not_dead', delivery: current };
}

// Params: $1 now. One a retry superseded while in flight (its attempt's record never came) ends dead, and so does one
// that waits with no lease (marked by migration 0028, or written by a node of an earlier version beside this one): no
// claim takes it.
const RECOVER_DELIVERIES = `
WITH swept AS (
  UPDATE deliveries SET state = 'dead', next_attempt_at = NULL, last_error = '${SUPERSEDED_BY_RETRY}', updated_at = $1
  WHERE superseded AND state IN ('pending', 'retrying') AND lease_token IS NULL
), recovered AS (
  UPDATE deliveries SET lease_token = NULL, lease_expires_at = NULL, worker_id = NULL,
    state = CASE WHEN superseded THEN 'dead' ELSE state END, next_attempt_at = CASE WHEN superseded THEN NULL ELSE next_attempt_at END,
    last_error = CASE WHEN superseded AND state <> 'dead' THEN '${SUPERSEDED_BY_RETRY}' ELSE last_error END
  WHERE lease_token IS NOT NULL AND lease_expires_at < $1
  RETURNING 1
)
SELECT count(*) AS count FROM recovered`;

export async function recoverDeliveries(db: PostgresDatabase, now: number): Promise<number> {
  const [row] = await db.query<{ count: number }>(RECOVER_DELIVERIES, [now]);
  const count = row?.count ?? 0;
  if (count > 0) db.publish([{ kind: 'delivery:due', nextAttemptAt: now }]);
  return count;
}

// Deliveries in flight (leased) are left out: their end wakes the dispatcher, and their past time would hide the next
// delivery due after them (its retry went out late, at the in-flight attempt's end or the fallback poll). A time in
// the past belongs to one due but held back (its destination at its cap here), whose end wakes the dispatcher too.
const NEXT_ATTEMPT_AT =
  "SELECT min(next_attempt_at) AS next_attempt_at FROM deliveries WHERE state IN ('pending', 'retrying') AND lease_token IS NULL AND next_attempt_at > $1";

export async function nextAttemptAt(q: Queryable, after: number): Promise<number | null> {
  const [row] = await q.query<{ next_attempt_at: number | null }>(NEXT_ATTEMPT_AT, [after]);
  return row?.next_attempt_at ?? null;
}

// Each state read from an index of its own: the due index, and the dead one (migration 0007).
const COUNTS = `SELECT 'dead' AS state, count(*)::int AS count FROM deliveries WHERE state = 'dead'
  UNION ALL SELECT state, count(*)::int AS count FROM deliveries WHERE state IN ('pending', 'retrying') GROUP BY state`;

export function counts(q: Queryable): Promise<Array<{ state: 'pending' | 'retrying' | 'dead'; count: number }>> {
  return q.query<{ state: 'pending' | 'retrying' | 'dead'; count: number }>(COUNTS);
}
