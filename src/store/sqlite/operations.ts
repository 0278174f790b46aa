// Owns: the SQLite queries that create and read operations: inserts (with idempotency keys), reads, results, duration
// samples, the next run_at, and an insert's `created` history event. Not here: lease transitions (transitions.ts), where an operation stands (standing.ts),
// lists and counts (operator-reads.ts), deliveries (deliveries.ts), retention and settings (maintenance.ts).
// Invariant: an insert and its idempotency key commit together; a reused live key inserts nothing.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { Operation, OperationResult } from '../../domain/operation.ts';
import {
  changed,
  due,
  operationFromDraft,
  sameRequest,
  type DurationSample,
  type IdempotencyClaim,
  type InsertOptions,
  type OperationDraft,
  type OperationInsertResult,
  type QueueStanding,
  type QueueStandingParams,
  type StandingReadParams,
  type StoreEvent,
} from '../store.ts';
import { prepareAll, type GroupCommit } from './database.ts';
import { toOperation, toResult } from './rows.ts';
import type { SqliteStanding } from './standing.ts';
import { appendHistory } from './history.ts';
import { historyEvent } from '../../domain/history.ts';

/**
 * The state of an operation's latest delivery: of its latest end (written with it, at its finished_at), so a redriven
 * operation has none until it ends again.
 */
const WEBHOOK_STATE = `(SELECT d.state FROM deliveries d WHERE d.operation_id = o.id AND d.created_at >= o.finished_at ORDER BY d.created_at DESC, d.id DESC LIMIT 1) AS webhook_state`;

/** Every operation column plus WEBHOOK_STATE. */
const SELECT = `SELECT o.*, ${WEBHOOK_STATE}
  FROM operations o`;

// $id $tenant $type $input $maxAttempts $priority $timeoutS $runAt $now $webhookUrl $cost $traceparent $tracestate $concurrencyKey ('': none) $scheduleId
// The row is what the draft says (operationFromDraft), so nothing is read back.
const INSERT = `INSERT INTO operations (id, tenant, type, status, input, attempt, max_attempts, priority, timeout_s, run_at, created_at, updated_at, webhook_url, cost, traceparent, tracestate, concurrency_key, schedule_id)
  VALUES ($id, $tenant, $type, 'pending', $input, 1, $maxAttempts, $priority, $timeoutS, $runAt, $now, $now, $webhookUrl, $cost, $traceparent, $tracestate, $concurrencyKey, $scheduleId)`;

// $tenant $key
const KEY_GET = `SELECT fingerprint, operation_id, expires_at FROM idempotency_keys WHERE tenant = $tenant AND key = $key`;

// $tenant $key $fingerprint $operationId $expiresAt. Replaces an expired key.
const KEY_PUT = `INSERT INTO idempotency_keys (tenant, key, fingerprint, operation_id, expires_at) VALUES ($tenant, $key, $fingerprint, $operationId, $expiresAt)
  ON CONFLICT (tenant, key) DO UPDATE SET fingerprint = excluded.fingerprint, operation_id = excluded.operation_id, expires_at = excluded.expires_at`;

// $type
const NEXT_RUN_AT = `SELECT min(run_at) AS at FROM operations INDEXED BY operations_pending_due WHERE status = 'pending' AND type = $type`;

// $id $tenant
const RESULT_GET = `SELECT r.content_type, r.body FROM results r JOIN operations o ON o.id = r.operation_id WHERE o.id = $id AND o.tenant = $tenant`;

// $limit
const SAMPLES = `SELECT type, duration_ms, cost FROM (
    SELECT type, duration_ms, cost, row_number() OVER (PARTITION BY type ORDER BY id DESC) AS n FROM duration_samples)
  WHERE n <= $limit ORDER BY type, n`;

/** SELECT without the input, which a list never shows and which may be large: it reads as JSON null (operator-reads.ts lists with it). */
export const SELECT_LISTED = `SELECT o.id, o.tenant, o.type, o.status, o.progress, o.progress_message, o.attempt, o.max_attempts, o.priority, o.timeout_s, o.run_at, o.created_at, o.started_at, o.finished_at, o.updated_at, o.error_code, o.error_message, o.webhook_url, o.cancel_requested, o.lease_token, o.lease_expires_at, o.worker_id, o.result_expired, o.version, o.finished_version, o.redriven_at, o.cost, o.progress_anchor, o.progress_anchor_at, o.concurrency_key, o.schedule_id, 'null' AS input,
    ${WEBHOOK_STATE}
  FROM operations o`;

const STATEMENTS = {
  get: `${SELECT} WHERE o.id = $id AND o.tenant = $tenant`,
  getById: `${SELECT} WHERE o.id = $id`,
  insert: INSERT,
  keyGet: KEY_GET,
  keyPut: KEY_PUT,
  nextRunAt: NEXT_RUN_AT,
  resultGet: RESULT_GET,
  samples: SAMPLES,
};

export class SqliteOperations {
  #db: DatabaseSync;
  #group: GroupCommit;
  #s: Record<keyof typeof STATEMENTS, StatementSync>;
  #standing: SqliteStanding;

  /** `group`: inserts share a transaction with the other writes of their turn of the event loop. */
  constructor(db: DatabaseSync, group: GroupCommit, standing: SqliteStanding) {
    this.#db = db;
    this.#group = group;
    this.#s = prepareAll(db, STATEMENTS);
    this.#standing = standing;
  }

  insert(draft: OperationDraft, idempotency?: IdempotencyClaim, options: InsertOptions = {}): Promise<OperationInsertResult> {
    return this.#group.run((events) => this.insertIn(events, draft, idempotency, options));
  }

  /** The insert, in a transaction the caller holds (a schedule's tick is advanced in the same one). */
  insertIn(events: StoreEvent[], draft: OperationDraft, idempotency?: IdempotencyClaim, options: InsertOptions = {}): OperationInsertResult {
    if (idempotency !== undefined) {
      const key = this.#s.keyGet.get({ tenant: draft.tenant, key: idempotency.key });
      if (key !== undefined && Number(key['expires_at']) >= draft.now) {
        const operationId = String(key['operation_id']);
        if (!sameRequest(String(key['fingerprint']), idempotency)) return { kind: 'key_mismatch', operationId };
        const earlier = this.getById(operationId);
        if (earlier !== null) return { kind: 'replayed', operation: earlier };
      }
    }
    this.#s.insert.run({
      id: draft.id,
      tenant: draft.tenant,
      type: draft.type,
      input: JSON.stringify(draft.input ?? null),
      maxAttempts: draft.maxAttempts,
      priority: draft.priority,
      timeoutS: draft.timeoutS,
      runAt: draft.runAt,
      now: draft.now,
      webhookUrl: draft.webhookUrl,
      cost: draft.cost ?? null,
      traceparent: draft.trace?.traceparent ?? null,
      tracestate: draft.trace?.tracestate ?? null,
      concurrencyKey: draft.concurrencyKey ?? '',
      scheduleId: draft.scheduleId ?? null,
    });
    const operation = operationFromDraft(draft);
    if (idempotency !== undefined) {
      this.#s.keyPut.run({
        tenant: draft.tenant,
        key: idempotency.key,
        fingerprint: idempotency.fingerprint,
        operationId: operation.id,
        expiresAt: idempotency.expiresAt,
      });
    }
    appendHistory(this.#db, [historyEvent(operation.id, draft.now, 'created', { tenant: draft.tenant, idempotency_key: idempotency?.key ?? null })]);
    events.push(changed(operation), due(operation));
    if (options.standing === undefined) return { kind: 'created', operation };
    return { kind: 'created', operation, standing: this.#standing.of(operation, draft.now, options.standing.scope, true) };
  }

  get(params: { readonly id: string; readonly tenant: string }): Operation | null {
    const row = this.#s.get.get({ id: params.id, tenant: params.tenant });
    return row === undefined ? null : toOperation(row);
  }

  getById(id: string): Operation | null {
    const row = this.#s.getById.get({ id });
    return row === undefined ? null : toOperation(row);
  }

  queueStanding(params: QueueStandingParams): QueueStanding | null {
    return this.#standing.of(params.operation, params.now, params.scope, params.fromTail);
  }

  getWithStanding(params: StandingReadParams): { operation: Operation; standing: QueueStanding | null } | null {
    const operation = params.tenant === null ? this.getById(params.id) : this.get({ id: params.id, tenant: params.tenant });
    if (operation === null) return null;
    return { operation, standing: this.#standing.of(operation, params.now, params.scope) };
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

  durationSamples(limit: number): Map<string, DurationSample[]> {
    const samples = new Map<string, DurationSample[]>();
    for (const row of this.#s.samples.all({ limit })) {
      const type = String(row['type']);
      const list = samples.get(type) ?? [];
      list.push({ durationMs: Number(row['duration_ms']), cost: row['cost'] === null ? null : Number(row['cost']) });
      samples.set(type, list);
    }
    return samples;
  }
}
