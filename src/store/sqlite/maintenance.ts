// Owns: SQLite retention (result bodies, finished operations, expired idempotency keys, idle keys' turns), the settings table and the
// worker nodes' rows. Not here: when retention runs or what it keeps (runtime/retention.ts), when a node is live (domain/capacity.ts).
// Invariant: prune touches only terminal operations; a setting, once stored, is never overwritten by a later first start.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { PruneParams, WorkerNode } from '../store.ts';
import { prepareAll, type Transactor } from './database.ts';
import { changedOf } from './rows.ts';
import { GLOBAL_PASS } from '../../domain/fairness.ts';

// $before $now. The operation is marked (a change: its result answers 410 from now on).
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

const STATEMENTS = {
  nodePut: NODE_PUT,
  nodesForget: NODES_FORGET,
  nodeLeave: NODE_LEAVE,
  nodesSeen: NODES_SEEN,
  pruneMarkResults: PRUNE_MARK_RESULTS,
  pruneResults: PRUNE_RESULTS,
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

  prune(params: PruneParams): { results: number; operations: number; idempotencyKeys: number } {
    return this.#tx.run((events) => {
      const marked = this.#s.pruneMarkResults.all({ before: params.resultsFinishedBefore, now: params.now });
      for (const r of marked) events.push(changedOf(r));
      const results = Number(this.#s.pruneResults.run({ before: params.resultsFinishedBefore }).changes);
      const operations = Number(this.#s.pruneOperations.run({ before: params.operationsFinishedBefore, now: params.now }).changes);
      const idempotencyKeys = Number(this.#s.pruneKeys.run({ now: params.now }).changes);
      this.#s.pruneFairKeys.run();
      return { results, operations, idempotencyKeys };
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
