// Owns: the PostgreSQL lease transitions: leased claims, heartbeats, progress, retry, release, cancel, delete, and applying
// the outcomes of expired leases. Not here: deciding an outcome (domain/status.ts: decideGiveBack, decideExpiredLease),
// ending attempts (finish-group.ts), the outbox rows themselves (deliveries.ts).
// Invariant: every transition states its precondition in its WHERE clause (status, lease token, and the facts a decided
// outcome rests on); a lost race changes nothing.

import { compareClaimOrder } from '../../domain/queue.ts';
import { decideExpiredLease, decideGiveBack, isTerminal, type GiveBack, type LeaseFacts, type LeaseOutcome, type Requeue } from '../../domain/status.ts';
import type { Operation } from '../../domain/operation.ts';
import { PROGRESS_ANCHOR_MS } from '../../domain/eta.ts';
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
  type FinishParams,
  type IfVersion,
  type LeaseRef,
  type ProgressParams,
  type RecoverParams,
  type RecoverResult,
  type ReleaseParams,
} from '../store.ts';
import type { PostgresDatabase, Queryable, SequencedStatement, Transaction } from './database.ts';
import { writeOutbox } from './deliveries.ts';
import { endUnderLease, type Ending } from './finish-group.ts';
import { OPERATION_COLUMNS, toOperation, type OperationRow } from './rows.ts';
import { depthChange } from './standing.ts';
import { claimTurnTypes } from './fair-claim.ts';
import { pendingTurnTypes } from './pending-ends.ts';
import { appendHistory, CLAIMED_HISTORY, ERROR_JSON, historyOf, recordRelease, releaseTail } from './history.ts';
import { historyEvent, releaseRecord, requeueKind, type HistoryDraft } from '../../domain/history.ts';
import { takeTokens } from './rate-limits.ts';
import { countByType } from '../../domain/rate-limit.ts';

// Params: $1 now, $2 worker id, $3 lease ms, $4 types, $5 per-type limits, $6 overall limit.
// Each type takes at most its own limit in claim order, skipping rows other claimers hold; the overall limit then
// keeps the best across types. Fairness: a type where turns go round (pending-ends.ts: pendingTurnTypes) is left out and
// named in turn_types (one row with no operation when nothing was claimed), for claimTurnTypes. The claimed rows are found
// as `id = ANY (ARRAY(…))`, whose plan is an index probe each: joined to `chosen`, the plan kept after the table was
// analysed at a few thousand rows hashed a sequential scan of the whole table at every claim (bench/README.md, "A plan
// kept from an analysed table").
const CLAIM_OPERATIONS = `
WITH asked AS (
  SELECT * FROM unnest($4::text[], $5::int[]) AS w(type, n)
), turns AS (
  SELECT t.type FROM ${pendingTurnTypes('$4::text[]', 't')}
), candidates AS (
  SELECT c.id, c.priority, c.run_at
  FROM (SELECT * FROM asked WHERE type NOT IN (SELECT type FROM turns)) AS w
  CROSS JOIN LATERAL (
    SELECT p.id, p.priority, p.run_at FROM operations p
    WHERE p.status = 'pending' AND p.type = w.type AND p.run_at <= $1
    ORDER BY p.priority DESC, p.run_at, p.id
    LIMIT w.n
    FOR UPDATE SKIP LOCKED
  ) c
), chosen AS (
  SELECT id FROM candidates ORDER BY priority DESC, run_at, id LIMIT $6
), claimed AS (
  UPDATE operations o
  SET status = 'processing', lease_token = gen_random_uuid()::text, lease_expires_at = $1::bigint + $3::bigint, worker_id = $2,
      started_at = $1, updated_at = $1, version = o.version + 1, progress = NULL, progress_message = NULL
  WHERE o.id = ANY (ARRAY(SELECT id FROM chosen))
  RETURNING ${OPERATION_COLUMNS}
), ${depthChange('claimed', '-')}, ${CLAIMED_HISTORY}
SELECT c.*, t.turn_types FROM (SELECT array_agg(type) AS turn_types FROM turns) t LEFT JOIN claimed c ON true`;

export async function claimOperations(db: PostgresDatabase, params: ClaimParams): Promise<ClaimedOperations> {
  const asked = params.types.filter((t) => t.limit > 0);
  if (params.limit <= 0 || asked.length === 0) return [];
  // Rate limits (rate-limits.ts): each type's limit capped by the tokens taken from its bucket; the unused go back
  // after the claim (a claim that fails keeps them: the bucket errs on starting fewer).
  const taken = await takeTokens(db, params, asked);
  const allowed = taken.types.filter((t) => t.limit > 0);
  // Started when the tokens were taken, on the buckets' time line: stamped at the `now` asked with, before a wait for a
  // connection, a claim's operations would count as started before others the bucket had granted first.
  const claimed = await claimWithin(db, taken.at === params.now ? params : { ...params, now: taken.at }, allowed);
  let rateLimitedUntil: number | undefined;
  try {
    rateLimitedUntil = await taken.settle(countByType(claimed));
  } catch (err) {
    // The claims are committed: given to the worker all the same (see claimWithin). Tokens not given back err on
    // starting fewer.
    db.reportError(err);
  }
  return claimedOperations(claimed, rateLimitedUntil);
}

/**
 * The plain claim of `types` (each with its free slots), as the store sends it: it keeps its plan (database.ts:
 * StatementOptions), so every plan of it must find the claimed rows by index, whatever the statistics it is made with.
 */
export function claimStatement(params: ClaimParams, types: ClaimParams['types']): SequencedStatement {
  return [
    CLAIM_OPERATIONS,
    [params.now, params.workerId, params.leaseMs, types.map((t) => t.type), types.map((t) => Math.min(t.limit, params.limit)), params.limit],
    { genericPlans: true },
  ];
}

async function claimWithin(db: PostgresDatabase, params: ClaimParams, types: ClaimParams['types']): Promise<Operation[]> {
  if (types.length === 0) return [];
  const rows = await db.queryUnflushed<OperationRow & { turn_types: string[] | null }>(...claimStatement(params, types));
  const claimed = rows.filter((r) => r.id !== null).map(toOperation);
  db.publish(claimed.map(changed));
  const turnTypes = new Set(rows[0]?.turn_types ?? []);
  if (turnTypes.size > 0 && claimed.length < params.limit) {
    const fair = types.filter((t) => turnTypes.has(t.type));
    try {
      await claimTurnTypes(db, params, fair, params.limit - claimed.length, claimed);
    } catch (err) {
      // What the statements before claimed is committed: thrown away here, no worker would run it or renew its lease,
      // and each would lose an attempt to lease_expired. It goes to the worker; the turns are tried at the next claim.
      db.reportError(err);
    }
  }
  return claimed.sort(compareClaimOrder);
}

// Params: $1 id, $2 lease token, $3 now, $4 lease ms. Not a change of the operation: version and updated_at stay.
const HEARTBEAT = `
UPDATE operations SET lease_expires_at = $3::bigint + $4::bigint
WHERE id = $1 AND status = 'processing' AND lease_token = $2
RETURNING cancel_requested`;

export async function heartbeat(db: PostgresDatabase, params: LeaseRef & { now: number; leaseMs: number }): Promise<{ cancelRequested: boolean } | null> {
  const [row] = await db.query<{ cancel_requested: boolean }>(HEARTBEAT, [params.id, params.leaseToken, params.now, params.leaseMs]);
  return row === undefined ? null : { cancelRequested: row.cancel_requested };
}

// Params: $1 id, $2 lease token, $3 now, $4 progress, $5 message, $6 anchor ms, $7 whether it is a milestone (recorded
// as a `progress` history event). The point stored so far becomes the anchor once the anchor is $6 ms behind it (or
// belongs to an earlier attempt), so the anchor trails the latest by about that much.
const PROGRESS = `
WITH progressed AS (
UPDATE operations SET progress = $4, progress_message = $5, updated_at = greatest($3::bigint, updated_at), version = version + 1,
  progress_anchor = CASE WHEN progress IS NOT NULL AND (progress_anchor_at IS NULL OR progress_anchor_at < started_at OR updated_at - progress_anchor_at >= $6)
    THEN progress ELSE progress_anchor END,
  progress_anchor_at = CASE WHEN progress IS NOT NULL AND (progress_anchor_at IS NULL OR progress_anchor_at < started_at OR updated_at - progress_anchor_at >= $6)
    THEN updated_at ELSE progress_anchor_at END
WHERE id = $1 AND status = 'processing' AND lease_token = $2
RETURNING id, version, status, updated_at, progress, progress_message
), ${historyOf('progressed', 'updated_at', "'progress'", "jsonb_build_object('progress', progress, 'message', progress_message)", '$7::bool')}
SELECT id, version, status FROM progressed`;

export async function progress(db: PostgresDatabase, params: ProgressParams): Promise<boolean> {
  const [row] = await db.query<Pick<OperationRow, 'id' | 'version' | 'status'>>(PROGRESS, [
    params.id,
    params.leaseToken,
    params.now,
    params.progress,
    params.message,
    PROGRESS_ANCHOR_MS,
    params.milestone === true,
  ]);
  if (row === undefined) return false;
  db.publish([changed(row)]);
  return true;
}

// Back in the queue, an operation keeps nothing of the attempt it left.
const UNLEASED = `status = 'pending', started_at = NULL, progress = NULL, progress_message = NULL,
    lease_token = NULL, lease_expires_at = NULL, worker_id = NULL`;

// Params: parallel arrays $1 ids, $2 lease tokens, $3 whether a cancel was requested, $4 attempt increments, $5 run at
// (null: keep), $6 error codes (null: keep the error), $7 error messages, $9 history kinds (domain/history.ts:
// requeueKind); $8 now. Decided requeues, each applied under its lease and only while the cancel request is as it was
// decided on, each with its history event (the attempt that ended; a failed one's error and next run), but a release:
// its event may collapse onto an earlier one, which releaseUnderLease decides and writes in the release's transaction.
const REQUEUE = `
WITH decided AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::bool[], $4::int[], $5::bigint[], $6::text[], $7::text[], $9::text[])
    AS d(id, lease_token, cancel_requested, attempt_increment, run_at, error_code, error_message, history_kind)
), requeued AS (
  UPDATE operations o
  SET ${UNLEASED}, attempt = o.attempt + d.attempt_increment, run_at = coalesce(d.run_at, o.run_at),
      error_code = coalesce(d.error_code, o.error_code), error_message = coalesce(d.error_message, o.error_message),
      updated_at = greatest($8::bigint, o.updated_at), version = o.version + 1
  FROM decided d
  WHERE o.id = d.id AND o.status = 'processing' AND o.lease_token = d.lease_token AND o.cancel_requested = d.cancel_requested
  RETURNING ${OPERATION_COLUMNS}
), ${depthChange('requeued', '+')}, ${historyOf(
  'requeued r JOIN decided d USING (id)',
  'r.updated_at',
  'd.history_kind',
  `CASE WHEN d.history_kind = 'attempt_failed'
    THEN jsonb_build_object('attempt', r.attempt - d.attempt_increment, 'error', jsonb_build_object('code', d.error_code, 'message', d.error_message), 'next_run_at', r.run_at)
    ELSE jsonb_build_object('attempt', r.attempt - d.attempt_increment) END`,
  "d.history_kind <> 'released'",
)}
SELECT * FROM requeued`;

interface DecidedRequeue {
  readonly lease: LeaseRef;
  readonly cancelRequested: boolean;
  readonly requeue: Requeue;
}

/** Applies decided requeues in one statement; those whose lease (or cancel request) changed are missing from the answer. */
async function requeueUnderLease(q: Queryable, now: number, decided: readonly DecidedRequeue[]): Promise<Operation[]> {
  const column = <T>(pick: (d: DecidedRequeue) => T) => decided.map(pick);
  const rows = await q.query<OperationRow>(REQUEUE, [
    column((d) => d.lease.id),
    column((d) => d.lease.leaseToken),
    column((d) => d.cancelRequested),
    column((d) => d.requeue.attemptIncrement),
    column((d) => d.requeue.runAt),
    column((d) => d.requeue.error?.code ?? null),
    column((d) => d.requeue.error?.message ?? null),
    now,
    column((d) => requeueKind(d.requeue)),
  ]);
  return rows.map(toOperation).sort(compareClaimOrder);
}

/**
 * Gives a lease back (a retry or a release) as the domain decides. The outcome rests on one fact, whether a cancel was
 * requested, and reading it first would cost a round trip: so the outcome decided for each value is applied guarded by
 * that value, "no" first (the usual case, one statement). A requested cancel stays requested, so under a held lease
 * exactly one of them applies, and under a lost one neither. `end` applies an end (the store's finish group).
 */
export async function giveBack(
  db: PostgresDatabase,
  end: (ending: Ending) => Promise<Operation | null>,
  params: ReleaseParams,
  how: GiveBack,
): Promise<Operation | null> {
  for (const cancelRequested of [false, true]) {
    const outcome: LeaseOutcome = decideGiveBack({ cancelRequested }, how);
    if (outcome.to !== 'pending') {
      const ended = await end({ ...params, status: outcome.to, error: outcome.error, cancelRequested });
      if (ended !== null) return ended;
      continue;
    }
    const decided: DecidedRequeue = { lease: params, cancelRequested, requeue: outcome };
    const requeued = outcome.event === 'release' ? await releaseUnderLease(db, params.now, decided) : (await requeueUnderLease(db, params.now, [decided]))[0];
    if (requeued !== undefined) {
      db.publish([changed(requeued), due(requeued), ...keyFreed(requeued, params.now)]);
      return requeued;
    }
  }
  return null;
}

/**
 * A decided release, in one transaction: its requeue, and its `released` event as releaseRecord decides (a new one, or
 * the attempt's last one collapsed onto). The read is the release path's alone; it goes first, so the locks the requeue
 * takes (pending counts) are held for one statement, not two.
 */
async function releaseUnderLease(db: PostgresDatabase, now: number, decided: DecidedRequeue): Promise<Operation | undefined> {
  return db.transaction(async (tx) => {
    const tail = await releaseTail(tx, decided.lease.id);
    const [released] = await requeueUnderLease(tx, now, [decided]);
    if (released !== undefined) await recordRelease(tx, releaseRecord(released.id, released.updatedAt, released.attempt, tail));
    return released;
  });
}

// Params: $1 ids, $2 tenants. Locked in id order, waiting for any lock held: claims skip locked rows, so a bulk cancel
// waits only for claims that hold no lock of its own. It takes its pending counts' shard after every row (CANCEL),
// so it never holds a shard while it waits for a row a claim holds (a claim writes its shard after taking rows).
const LOCK_FOR_CANCEL = `SELECT ${OPERATION_COLUMNS} FROM operations o JOIN unnest($1::text[], $2::text[]) AS t(id, tenant) ON o.id = t.id AND o.tenant = t.tenant
ORDER BY o.id FOR UPDATE OF o`;
// Params: $1 pending ids, $2 processing ids without a cancel request (both locked), $3 now, $4 error code, $5 error message.
// Pending ones end cancelled at once; processing ones are asked to stop, which their lease holder does. Their updated_at
// (and so the history event) is $3, or the operation's last change's if that came later (a claim while this waited for
// its row): history never goes back; finished_at is $3 all the same (no clock running ahead moves it).
const CANCEL = `
WITH cancelled AS (
  UPDATE operations o
  SET status = 'cancelled', error_code = $4, error_message = $5, finished_at = $3, updated_at = greatest($3, o.updated_at),
      version = o.version + 1, finished_version = o.version + 1
  WHERE o.id = ANY($1::text[]) AND o.status = 'pending'
  RETURNING ${OPERATION_COLUMNS}
), requested AS (
  UPDATE operations o SET cancel_requested = true, updated_at = greatest($3, o.updated_at), version = o.version + 1
  WHERE o.id = ANY($2::text[]) AND o.status = 'processing'
  RETURNING ${OPERATION_COLUMNS}
), ${depthChange('cancelled', '-')}, ${historyOf(
  `(SELECT id, updated_at AS at, 'cancelled' AS kind, jsonb_build_object('error', ${ERROR_JSON}) AS data FROM cancelled
    UNION ALL SELECT id, updated_at, 'cancel_requested', '{}'::jsonb FROM requested) e`,
  'at',
  'kind',
  'data',
)}
SELECT cancelled.*, true AS ended FROM cancelled UNION ALL SELECT requested.*, false FROM requested`;

export async function cancel(
  db: PostgresDatabase,
  params: { id: string; tenant: string; now: number; delivery: FinishParams['delivery'] } & IfVersion,
): Promise<CancelOutcome> {
  return db.transaction(async (tx) => {
    const movedOn = await changedFrom(tx, params);
    return movedOn === null ? (await cancelIn(tx, [params], params.now, params.delivery)).get(params.id)! : { kind: 'changed', operation: movedOn };
  });
}

// Params: $1 id, $2 tenant. The row, held until the transaction ends.
const LOCK_ONE = `SELECT ${OPERATION_COLUMNS} FROM operations o WHERE o.id = $1 AND o.tenant = $2 FOR UPDATE`;

/**
 * The operation, held for the rest of the transaction, when it is no longer at `ifVersion` (IfVersion); null when it is
 * (and then it stays so until the transaction ends), or none was asked, or it is gone.
 */
export async function changedFrom(tx: Queryable, params: { readonly id: string; readonly tenant: string } & IfVersion): Promise<Operation | null> {
  if (params.ifVersion === undefined) return null;
  const [row] = await tx.query<OperationRow>(LOCK_ONE, [params.id, params.tenant]);
  const current = row === undefined ? null : toOperation(row);
  return current !== null && current.version !== params.ifVersion ? current : null;
}

/**
 * Cancels each of `targets` inside the caller's transaction (one, or a bulk cancel's batch), by id: a pending one ends
 * cancelled (with its outbox row), a processing one is asked to stop; a terminal or unknown one is left as it is.
 */
export async function cancelIn(
  tx: Transaction,
  targets: ReadonlyArray<{ readonly id: string; readonly tenant: string }>,
  now: number,
  delivery: FinishParams['delivery'],
): Promise<Map<string, CancelOutcome>> {
  const outcomes = new Map<string, CancelOutcome>();
  const locked = (await tx.query<OperationRow>(LOCK_FOR_CANCEL, [targets.map((t) => t.id), targets.map((t) => t.tenant)])).map(toOperation);
  const pending: string[] = [];
  const processing: string[] = [];
  for (const op of locked) {
    if (isTerminal(op.status)) outcomes.set(op.id, { kind: 'terminal', operation: op });
    else if (op.status === 'pending') pending.push(op.id);
    else if (op.cancelRequested) outcomes.set(op.id, { kind: 'requested', operation: op, already: true });
    else processing.push(op.id);
  }
  if (pending.length + processing.length > 0) {
    const rows = await tx.query<OperationRow & { ended: boolean }>(CANCEL, [pending, processing, now, CANCELLED_BY_REQUEST.code, CANCELLED_BY_REQUEST.message]);
    for (const op of await writeOutbox(tx, rows.filter((r) => r.ended).map(toOperation), delivery, now)) {
      outcomes.set(op.id, { kind: 'cancelled', operation: op });
      tx.events.push(changed(op));
    }
    for (const op of rows.filter((r) => !r.ended).map(toOperation)) {
      outcomes.set(op.id, { kind: 'requested', operation: op });
      tx.events.push(changed(op), { kind: 'operation:cancel_requested', id: op.id });
    }
  }
  for (const target of targets) if (!outcomes.has(target.id)) outcomes.set(target.id, { kind: 'not_found' });
  return outcomes;
}

// Params: $1 id, $2 tenant. Only terminal operations whose webhook is not still being delivered go; their result,
// deliveries and keys go with them. `delivering` is read from the statement's snapshot: a replay that committed while
// the DELETE waited for its lock made the webhook due again, which a re-check of the row alone would not see, so the
// row goes only as the version it was read at (a replay changes the version).
const DELETE_OPERATION = `
WITH target AS (
  SELECT id, status, version, EXISTS (
    SELECT 1 FROM deliveries d WHERE d.operation_id = operations.id AND d.state IN ('pending', 'retrying')
  ) AS delivering
  FROM operations WHERE id = $1 AND tenant = $2
), deleted AS (
  DELETE FROM operations o USING target
  WHERE o.id = target.id AND o.version = target.version AND o.status IN ('completed', 'failed', 'cancelled') AND NOT target.delivering
  RETURNING o.id
)
SELECT (SELECT count(*) FROM deleted) AS deleted, status, delivering FROM target`;

/** How often a delete reads the row again after a change it waited for (another delete, a retry) took it away. */
const DELETE_TRIES = 3;

/**
 * `db`: the database, or a transaction of the caller's that publishes on commit (a bulk delete's batch). The row is
 * read from the statement's snapshot, so a delete that waited for another's lock finds its DELETE matched nothing
 * while `target` still shows the row as it was: it asks again, and a new statement sees what that change left.
 */
export async function deleteOperation(db: PostgresDatabase, params: { readonly id: string; readonly tenant: string } & IfVersion): Promise<DeleteOutcome> {
  const outcome =
    params.ifVersion === undefined
      ? await deleteIn(db, params.id, params.tenant)
      : await db.transaction(async (tx) => ((await changedFrom(tx, params)) === null ? deleteIn(tx, params.id, params.tenant) : 'changed'));
  if (outcome === 'deleted') db.publish([{ kind: 'operation:deleted', id: params.id }]);
  return outcome;
}

/** An operation's delete in the caller's transaction (a bulk delete's batch), announced by the caller. */
export async function deleteIn(q: Queryable, id: string, tenant: string): Promise<DeleteOutcome> {
  for (let tries = 1; ; tries++) {
    const [row] = await q.query<{ deleted: number; status: Operation['status']; delivering: boolean }>(DELETE_OPERATION, [id, tenant]);
    if (row === undefined) return 'not_found';
    if (row.deleted > 0) return 'deleted';
    if (!isTerminal(row.status)) return 'not_terminal';
    if (row.delivering || tries === DELETE_TRIES) return 'delivery_pending';
  }
}

// Params: $1 now. A lease is live through its expiry ms. The rows stay locked until the decided outcomes are applied.
const EXPIRED_LEASES = `
SELECT id, lease_token, attempt, max_attempts, cancel_requested, updated_at FROM operations
WHERE status = 'processing' AND lease_expires_at < $1
FOR UPDATE SKIP LOCKED`;

interface ExpiredLeaseRow {
  id: string;
  lease_token: string;
  attempt: number;
  max_attempts: number;
  cancel_requested: boolean;
  updated_at: number;
}

/** Lists the expired leases, has the domain decide each one's outcome, and applies them by kind, in one transaction. */
export async function recoverExpired(db: PostgresDatabase, params: RecoverParams): Promise<RecoverResult> {
  return db.transaction(async (tx) => {
    const expired = await tx.query<ExpiredLeaseRow>(EXPIRED_LEASES, [params.now]);
    const ends: Ending[] = [];
    // An end records the expiry before the end (the rows are locked, so each end applies); a requeue records it as its
    // own event (requeueKind).
    const expiries: HistoryDraft[] = [];
    const requeues: DecidedRequeue[] = [];
    const held = new Set(params.held ?? []);
    for (const row of expired) {
      if (held.has(row.lease_token)) continue;
      const facts: LeaseFacts = { attempt: row.attempt, maxAttempts: row.max_attempts, cancelRequested: row.cancel_requested };
      const lease = { id: row.id, leaseToken: row.lease_token };
      const outcome = decideExpiredLease(facts, params.error);
      if (outcome.to === 'pending') requeues.push({ lease, cancelRequested: facts.cancelRequested, requeue: outcome });
      else {
        ends.push({ ...lease, now: params.now, status: outcome.to, error: outcome.error, delivery: params.delivery, cancelRequested: facts.cancelRequested });
        // At the later of now and its last change (a cancel request written since this sweep read the clock).
        expiries.push(historyEvent(row.id, Math.max(params.now, Number(row.updated_at)), 'lease_expired', { attempt: row.attempt }));
      }
    }
    await appendHistory(tx, expiries);
    const ended = ends.length === 0 ? [] : [...(await endUnderLease(tx, ends)).values()].sort(compareClaimOrder);
    // Last: it takes pending-count rows, which creates and claims wait on until this transaction commits.
    const requeued = requeues.length === 0 ? [] : await requeueUnderLease(tx, params.now, requeues);
    for (const op of requeued) tx.events.push(changed(op), due(op), ...keyFreed(op, params.now));
    return { requeued, ended };
  });
}
