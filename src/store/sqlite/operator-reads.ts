// Owns: the SQLite queries of the operator's reads: lists by filter (any tenant's, for an admin), the counts per type
// and status (from operation_counts, which triggers keep), and what the overview is computed from (with the ETAs the
// history's created events kept).
// Not here: reads of one operation (operations.ts); the overview's arithmetic (runtime/overview.ts).
// Invariant: every read walks an index: a list by id between bounds, the counts their own small table, the overview
// the operations finished (operations_finished_at) or running (operations_running) in its window.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { Operation } from '../../domain/operation.ts';
import { OPERATION_STATUSES, type OperationStatus } from '../../domain/status.ts';
import { ID_PREFIXES, idFloorAt } from '../../domain/ids.ts';
import type { OperationCount, OperationListQuery, OperationStats, OperationStatsQuery } from '../store.ts';
import { prepareAll, StatementCache } from './database.ts';
import { toOperation } from './rows.ts';
import { SELECT_LISTED } from './operations.ts';

/**
 * Each filter a list may have: its condition, by the parameter names it binds. The status is a literal (one of
 * OPERATION_STATUSES, checked): the planner then knows which partial indexes apply (operations_failed_cancelled_id).
 */
/** The operations whose `created` event names the key $q (any tenant's: the list's tenant condition scopes them). */
const CREATED_WITH_KEY = `SELECT h.operation_id FROM operation_history h WHERE h.kind = 'created' AND json_extract(h.data, '$.idempotency_key') = $q`;

const LIST_CONDITIONS = {
  tenant: 'o.tenant = $tenant',
  ...Object.fromEntries(OPERATION_STATUSES.map((status) => [`status:${status}`, `o.status = '${status}'`])),
  type: 'o.type = $type',
  errorCode: 'o.error_code = $errorCode',
  scheduleId: 'o.schedule_id = $scheduleId',
  // The id bound lets the walk start and stop at the range; created_at says it exactly.
  createdAfter: 'o.id >= $idFrom AND o.created_at >= $createdAfter',
  createdBefore: 'o.id < $idTo AND o.created_at < $createdBefore',
  beforeId: 'o.id < $beforeId',
  // Ids found by index: the operation's own, and those an idempotency key created, as long as they are kept (their
  // `created` event names the key: migration 0017) or while the key lives (operations older than their history).
  q: `o.id IN (SELECT $q UNION ALL SELECT k.operation_id FROM idempotency_keys k WHERE k.key = $q UNION ALL ${CREATED_WITH_KEY})`,
  qOfTenant: `o.id IN (SELECT $q UNION ALL SELECT k.operation_id FROM idempotency_keys k WHERE k.tenant = $tenant AND k.key = $q UNION ALL ${CREATED_WITH_KEY})`,
} as Readonly<Record<string, string>>;

// $limit, and the parameters of the named conditions. Each combination is a statement of its own, planned for it.
export function listSql(conditions: readonly string[]): string {
  const where = conditions.length === 0 ? '' : ` WHERE ${conditions.map((c) => LIST_CONDITIONS[c]).join(' AND ')}`;
  return `${SELECT_LISTED}${where} ORDER BY o.id DESC LIMIT $limit`;
}

const STATEMENTS = {
  // $tenant
  countsOfTenant: `SELECT type, status, count FROM operation_counts WHERE tenant = $tenant AND count > 0 ORDER BY type, status`,
  countsOfAll: `SELECT type, status, sum(count) AS count FROM operation_counts GROUP BY type, status HAVING sum(count) > 0 ORDER BY type, status`,
  // $since $bucketMs [$tenant]: completed and failed per type and bucket of the window.
  // The window's operations by operations_finished_at, named: without statistics the planner would take the tenant's
  // or the status's index and walk every operation ever finished.
  finished: `SELECT type, status, CAST((finished_at - $since) / $bucketMs AS INTEGER) AS bucket, count(*) AS count FROM operations INDEXED BY operations_finished_at
    WHERE finished_at >= $since AND status IN ('completed', 'failed') GROUP BY type, status, bucket`,
  finishedOfTenant: `SELECT type, status, CAST((finished_at - $since) / $bucketMs AS INTEGER) AS bucket, count(*) AS count FROM operations INDEXED BY operations_finished_at
    WHERE finished_at >= $since AND status IN ('completed', 'failed') AND tenant = $tenant GROUP BY type, status, bucket`,
  // $since $limit [$tenant]: first attempts started in the window, from when they were due: the latest that ended, and
  // those running (a retried one's started_at is its last attempt's, so only first attempts say how long the queue took).
  pickups: `SELECT type, wait FROM (SELECT type, started_at - run_at AS wait FROM operations INDEXED BY operations_finished_at
      WHERE finished_at >= $since AND attempt = 1 AND started_at >= $since ORDER BY finished_at DESC LIMIT $limit)
    UNION ALL SELECT type, started_at - run_at FROM operations INDEXED BY operations_running WHERE status = 'processing' AND attempt = 1 AND started_at >= $since`,
  pickupsOfTenant: `SELECT type, wait FROM (SELECT type, started_at - run_at AS wait FROM operations INDEXED BY operations_finished_at
      WHERE finished_at >= $since AND attempt = 1 AND started_at >= $since AND tenant = $tenant ORDER BY finished_at DESC LIMIT $limit)
    UNION ALL SELECT type, started_at - run_at FROM operations INDEXED BY operations_running WHERE status = 'processing' AND attempt = 1 AND started_at >= $since AND tenant = $tenant`,
  // $since $limit [$tenant]: the latest completed in the window with the ETA their create's reply gave (history's
  // created event; one probe of operation_history_operation each), leaving out redriven ones (their first ETA was for
  // another run).
  etas: `SELECT o.type, o.created_at, o.finished_at, json_extract(h.data, '$.estimated_completion_at') AS eta FROM operations o INDEXED BY operations_finished_at
    JOIN operation_history h ON h.operation_id = o.id AND h.kind = 'created'
    WHERE o.finished_at >= $since AND o.status = 'completed' AND json_extract(h.data, '$.estimated_completion_at') IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM operation_history r WHERE r.operation_id = o.id AND r.kind = 'redriven')
    ORDER BY o.finished_at DESC LIMIT $limit`,
  etasOfTenant: `SELECT o.type, o.created_at, o.finished_at, json_extract(h.data, '$.estimated_completion_at') AS eta FROM operations o INDEXED BY operations_finished_at
    JOIN operation_history h ON h.operation_id = o.id AND h.kind = 'created'
    WHERE o.finished_at >= $since AND o.status = 'completed' AND o.tenant = $tenant AND json_extract(h.data, '$.estimated_completion_at') IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM operation_history r WHERE r.operation_id = o.id AND r.kind = 'redriven')
    ORDER BY o.finished_at DESC LIMIT $limit`,
};

export class SqliteOperatorReads {
  #s: Record<keyof typeof STATEMENTS, StatementSync>;
  #lists: StatementCache;

  constructor(db: DatabaseSync) {
    this.#s = prepareAll(db, STATEMENTS);
    this.#lists = new StatementCache(db);
  }

  list(query: OperationListQuery): Operation[] {
    const params: Record<string, string | number> = { limit: query.limit };
    const conditions: string[] = [];
    const add = (condition: string, values: Record<string, string | number>) => {
      conditions.push(condition);
      Object.assign(params, values);
    };
    if (query.tenant !== null) add('tenant', { tenant: query.tenant });
    if (query.status !== undefined) {
      if (!OPERATION_STATUSES.includes(query.status)) throw new TypeError(`not a status: ${query.status}`);
      add(`status:${query.status}`, {});
    }
    if (query.type !== undefined) add('type', { type: query.type });
    if (query.errorCode !== undefined) add('errorCode', { errorCode: query.errorCode });
    if (query.scheduleId !== undefined) add('scheduleId', { scheduleId: query.scheduleId });
    if (query.createdAfter !== undefined)
      add('createdAfter', { createdAfter: query.createdAfter, idFrom: idFloorAt(ID_PREFIXES.operation, query.createdAfter) });
    if (query.createdBefore !== undefined)
      add('createdBefore', { createdBefore: query.createdBefore, idTo: idFloorAt(ID_PREFIXES.operation, query.createdBefore) });
    if (query.beforeId !== undefined) add('beforeId', { beforeId: query.beforeId });
    if (query.q !== undefined) add(query.tenant === null ? 'q' : 'qOfTenant', { q: query.q });
    return this.#lists
      .get(listSql(conditions))
      .all(params)
      .map((row) => toOperation(row));
  }

  counts(tenant: string | null): OperationCount[] {
    const rows = tenant === null ? this.#s.countsOfAll.all() : this.#s.countsOfTenant.all({ tenant });
    return rows.map((r) => ({ type: String(r['type']), status: r['status'] as OperationStatus, count: Number(r['count']) }));
  }

  stats(query: OperationStatsQuery): OperationStats {
    const window = { since: query.since, ...(query.tenant === null ? {} : { tenant: query.tenant }) };
    const finished = (query.tenant === null ? this.#s.finished : this.#s.finishedOfTenant).all({ ...window, bucketMs: query.bucketMs });
    const pickups = (query.tenant === null ? this.#s.pickups : this.#s.pickupsOfTenant).all({ ...window, limit: query.samples });
    const etas = (query.tenant === null ? this.#s.etas : this.#s.etasOfTenant).all({ ...window, limit: query.samples });
    return {
      finished: finished.map((r) => ({
        type: String(r['type']),
        status: r['status'] as 'completed' | 'failed',
        bucket: Number(r['bucket']),
        count: Number(r['count']),
      })),
      pickups: pickups.map((r) => ({ type: String(r['type']), waitMs: Math.max(0, Number(r['wait'])) })),
      etas: etas.map((r) => ({
        type: String(r['type']),
        createdAt: Number(r['created_at']),
        finishedAt: Number(r['finished_at']),
        estimatedAt: Number(r['eta']),
      })),
    };
  }
}
