// Owns: SQLite retention (result bodies, finished operations, expired idempotency keys, idle keys' turns), the settings table and the
// worker nodes' rows. Not here: when retention runs or what it keeps (runtime/retention.ts), when a node is live (domain/capacity.ts).
// Invariant: prune touches only terminal operations; a setting, once stored, is never overwritten by a later first start.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { PRUNE_BATCH, type PruneParams, type WorkerNode } from '../store.ts';
import { prepareAll, type Transactor } from './database.ts';
import { changedOf } from './rows.ts';
import { GLOBAL_PASS } from '../../domain/fairness.ts';

// Pruning goes in batches of PRUNE_BATCH operations, each its own transaction, walking the finished operations in
// finished_at order (the index's, rowid breaking ties) from a cursor: one transaction over a large backlog held the
// event loop for its whole length (10 s for 200,000 operations: /healthz, heartbeats and claims waited), and a batch
// that started over from the oldest would walk again what the ones before it passed over. A batch reads PRUNE_BATCH
// operations past the cursor and takes those of them that are due: one that read on until it had PRUNE_BATCH due
// walked, in one call, every operation kept (a key alive, a result already gone) on the way, at each pruning: 200,000
// such held the event loop 0.2-0.5 s a minute with nothing to remove.
// $before $afterAt $afterRowid $limit: a batch's operations are those finished before $before past the cursor, in the
// index's order; each select below says, as `due`, what makes one go.
const FINISHED_PAST_CURSOR = 'o.finished_at < $before AND (o.finished_at, o.rowid) > ($afterAt, $afterRowid)';
const CURSOR_ORDER = 'ORDER BY o.finished_at, o.rowid LIMIT $limit';
// Those that still have a result.
const PRUNE_RESULTS_BATCH = `SELECT o.rowid AS rid, o.finished_at AS at, o.id,
    EXISTS (SELECT 1 FROM results r WHERE r.operation_id = o.id) AS due
  FROM operations o WHERE ${FINISHED_PAST_CURSOR} ${CURSOR_ORDER}`;
// $ids (JSON) $now. The operation is marked (a change: its result answers 410 from now on).
const PRUNE_MARK_RESULTS = `UPDATE operations SET result_expired = 1, updated_at = $now, version = version + 1
  WHERE id IN (SELECT value FROM json_each($ids)) RETURNING id, status, version`;
// $ids (JSON)
const PRUNE_RESULTS = `DELETE FROM results WHERE operation_id IN (SELECT value FROM json_each($ids))`;
// And $now: terminal ones that may go. An operation stays while its webhook is still being delivered, and while its
// idempotency key lives (a retried request must find it).
const PRUNE_OPERATIONS_BATCH = `SELECT o.rowid AS rid, o.finished_at AS at, o.id,
    (o.status IN ('completed', 'failed', 'cancelled')
      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.operation_id = o.id AND d.state IN ('pending', 'retrying'))
      AND NOT EXISTS (SELECT 1 FROM idempotency_keys k WHERE k.operation_id = o.id AND k.expires_at >= $now)) AS due
  FROM operations o WHERE ${FINISHED_PAST_CURSOR} ${CURSOR_ORDER}`;
// $ids (JSON). Results, deliveries, attempts, history and idempotency keys go by ON DELETE CASCADE.
const PRUNE_OPERATIONS = `DELETE FROM operations WHERE id IN (SELECT value FROM json_each($ids))`;
// $now $limit
const PRUNE_KEYS = `DELETE FROM idempotency_keys WHERE rowid IN (SELECT rowid FROM idempotency_keys WHERE expires_at < $now LIMIT $limit)`;
// A concurrency key's turn is kept while it has operations waiting: one back from idle joins the turns afresh whether
// or not its row is kept (domain/fairness.ts, startPasses), and a row a key used once would otherwise stay for good.
// The keys' global pass (GLOBAL_PASS, one row per tenant and type) stays: it is where a key back from idle joins.
const PRUNE_FAIR_KEYS = `DELETE FROM fair_keys WHERE concurrency_key <> '${GLOBAL_PASS}' AND NOT EXISTS (SELECT 1 FROM operations o INDEXED BY operations_fair
  WHERE o.status = 'pending' AND o.type = fair_keys.type AND o.tenant = fair_keys.tenant AND o.concurrency_key = fair_keys.concurrency_key)`;

// $key $value
const SETTING_INIT = 'INSERT OR IGNORE INTO settings (key, value) VALUES ($key, $value)';
// $key
const SETTING_GET = 'SELECT value FROM settings WHERE key = $key';

// $id $concurrency $typeLimits $seenAt
const NODE_PUT = `INSERT INTO worker_nodes (id, concurrency, type_limits, seen_at) VALUES ($id, $concurrency, $typeLimits, $seenAt)
  ON CONFLICT (id) DO UPDATE SET concurrency = excluded.concurrency, type_limits = excluded.type_limits, seen_at = excluded.seen_at`;
// $before
const NODES_FORGET = `DELETE FROM worker_nodes WHERE seen_at < $before`;
// $id
const NODE_LEAVE = `DELETE FROM worker_nodes WHERE id = $id`;
// $since
const NODES_SEEN = `SELECT id, concurrency, type_limits, seen_at FROM worker_nodes WHERE seen_at >= $since ORDER BY id`;

/** Where the next batch of pruning starts: its phase, and past which finished operation (finished_at, then rowid). */
export interface PruneCursor {
  readonly phase: 'results' | 'operations' | 'keys';
  readonly finishedAt: number;
  readonly rowid: number;
}

export const PRUNE_START: PruneCursor = { phase: 'results', finishedAt: Number.MIN_SAFE_INTEGER, rowid: 0 };

/** The ids of the rows a batch read that are due (JSON, for json_each), or null when none is. */
function dueIds(rows: ReadonlyArray<Record<string, unknown>>): string | null {
  const ids = rows.filter((r) => Number(r['due']) === 1).map((r) => r['id']);
  return ids.length === 0 ? null : JSON.stringify(ids);
}

/** Where the batch after one that read `rows` of `phase` starts: past them, or the next phase once a batch read short. */
function nextAfter(phase: 'results' | 'operations', rows: ReadonlyArray<Record<string, unknown>>): PruneCursor {
  if (rows.length === PRUNE_BATCH) return cursorAfter(phase, rows);
  return { ...PRUNE_START, phase: phase === 'results' ? 'operations' : 'keys' };
}

function cursorAfter(phase: PruneCursor['phase'], rows: ReadonlyArray<Record<string, unknown>>): PruneCursor {
  const last = rows[rows.length - 1]!;
  return { phase, finishedAt: Number(last['at']), rowid: Number(last['rid']) };
}

const STATEMENTS = {
  nodePut: NODE_PUT,
  nodesForget: NODES_FORGET,
  nodeLeave: NODE_LEAVE,
  nodesSeen: NODES_SEEN,
  pruneResultsBatch: PRUNE_RESULTS_BATCH,
  pruneMarkResults: PRUNE_MARK_RESULTS,
  pruneResults: PRUNE_RESULTS,
  pruneOperationsBatch: PRUNE_OPERATIONS_BATCH,
  pruneOperations: PRUNE_OPERATIONS,
  pruneKeys: PRUNE_KEYS,
  pruneFairKeys: PRUNE_FAIR_KEYS,
  settingInit: SETTING_INIT,
  settingGet: SETTING_GET,
};

export class SqliteMaintenance {
  #tx: Transactor;
  #s: Record<keyof typeof STATEMENTS, StatementSync>;

  constructor(db: DatabaseSync, tx: Transactor) {
    this.#tx = tx;
    this.#s = prepareAll(db, STATEMENTS);
  }

  /**
   * One batch of pruning, its own transaction: up to PRUNE_BATCH results, then operations, then expired idempotency
   * keys, from `at` on. Returns what it removed and where the next batch starts, or null once everything due is gone.
   */
  pruneBatch(params: PruneParams, at: PruneCursor): { results: number; operations: number; idempotencyKeys: number; next: PruneCursor | null } {
    const after = { afterAt: at.finishedAt, afterRowid: at.rowid, limit: PRUNE_BATCH };
    const readResults = () => this.#s.pruneResultsBatch.all({ before: params.resultsFinishedBefore, ...after });
    const readOperations = () => this.#s.pruneOperationsBatch.all({ before: params.operationsFinishedBefore, now: params.now, ...after });
    // A batch with nothing due (a long stretch kept) is read without a write transaction of its own; one with something
    // due is read again inside its transaction, as another process may have written meanwhile.
    if (at.phase !== 'keys') {
      const read = at.phase === 'results' ? readResults() : readOperations();
      if (dueIds(read) === null) return { results: 0, operations: 0, idempotencyKeys: 0, next: nextAfter(at.phase, read) };
    }
    return this.#tx.run((events) => {
      const pruned = { results: 0, operations: 0, idempotencyKeys: 0 };
      if (at.phase === 'results') {
        const read = readResults();
        const ids = dueIds(read);
        if (ids !== null) {
          for (const r of this.#s.pruneMarkResults.all({ ids, now: params.now })) events.push(changedOf(r));
          pruned.results = Number(this.#s.pruneResults.run({ ids }).changes);
        }
        return { ...pruned, next: nextAfter('results', read) };
      }
      if (at.phase === 'operations') {
        const read = readOperations();
        const ids = dueIds(read);
        if (ids !== null) pruned.operations = Number(this.#s.pruneOperations.run({ ids }).changes);
        return { ...pruned, next: nextAfter('operations', read) };
      }
      pruned.idempotencyKeys = Number(this.#s.pruneKeys.run({ now: params.now, limit: PRUNE_BATCH }).changes);
      if (pruned.idempotencyKeys === PRUNE_BATCH) return { ...pruned, next: at };
      this.#s.pruneFairKeys.run();
      return { ...pruned, next: null };
    });
  }

  workerNodeBeat(node: WorkerNode, forgetBefore: number): void {
    this.#tx.run(() => {
      this.#s.nodePut.run({ id: node.id, concurrency: node.concurrency, typeLimits: JSON.stringify(node.typeLimits), seenAt: node.seenAt });
      this.#s.nodesForget.run({ before: forgetBefore });
    });
  }

  workerNodeLeave(id: string): void {
    this.#tx.run(() => this.#s.nodeLeave.run({ id }));
  }

  workerNodes(since: number): WorkerNode[] {
    return this.#s.nodesSeen.all({ since }).map((r) => ({
      id: String(r['id']),
      concurrency: Number(r['concurrency']),
      typeLimits: JSON.parse(String(r['type_limits'])) as Record<string, number>,
      seenAt: Number(r['seen_at']),
    }));
  }

  settingGetOrInit(key: string, initial: string): string {
    this.#s.settingInit.run({ key, value: initial });
    return String(this.#s.settingGet.get({ key })?.['value']);
  }
}
