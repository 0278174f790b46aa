// Owns: retention (result bodies, finished operations, expired idempotency keys, idle keys' turns), the settings table and the worker
// nodes' rows. Not here: when retention runs or what it keeps (runtime/retention.ts), when a node is live (domain/capacity.ts).
// Invariant: prune touches only terminal operations; a setting, once stored, is never overwritten by a later first start.

import type { Operation } from '../../domain/operation.ts';
import { changed, PRUNE_BATCH, type PruneParams, type WorkerNode } from '../store.ts';
import type { PostgresDatabase, Queryable, Transaction } from './database.ts';
import { GLOBAL_PASS } from '../../domain/fairness.ts';

// Pruning goes in batches of PRUNE_BATCH, each a transaction of its own: one transaction over a large backlog held a
// lock on every operation it would mark or delete until it committed (minutes for 200,000), and the deletes, replays
// and retries that met one waited as long, each holding a connection of its node's pool (walk h81).

// Params: $1 finished before, $2 now, $3 the batch's size, $4 the last id the batch before marked ('' for the first).
// The operation is marked (a change: its result answers 410 from now on). Its row is locked before its result's, the
// order a delete takes them in (the operation, then its result by the cascade): the other order deadlocked with
// deletes (16 of 300 in a race of the two). In id order, as a bulk action's batch goes, past the batch before: results
// not due yet stay in the join, and a batch that started over walked them all again (4 times as long with a sixth of
// 300,000 due, h85).
const PRUNE_RESULTS = `
WITH expiring AS MATERIALIZED (
  SELECT o.id FROM results r JOIN operations o ON o.id = r.operation_id
  WHERE o.id > $4 AND o.finished_at < $1 AND o.status IN ('completed', 'failed', 'cancelled') AND NOT o.result_expired
  ORDER BY o.id
  LIMIT $3
  FOR NO KEY UPDATE OF o
), dropped AS (
  DELETE FROM results r USING expiring e WHERE r.operation_id = e.id
)
UPDATE operations o SET result_expired = true, updated_at = $2, version = o.version + 1
FROM expiring e WHERE o.id = e.id
RETURNING o.id, o.version, o.status`;
// Params: $1 finished before, $2 now, $3 the batch's size, $4 the last id the batch before took ('' for the first).
// Results, deliveries and idempotency keys go with their operation, so it stays while its webhook is still being
// delivered, and while its idempotency key lives (a retried request must find it). In id order past the batch before:
// one that started over walked again every operation kept so far (8 times the single statement's time with 200,000
// kept and 100,000 due). Both are read from the statement's snapshot: a row a replay changed meanwhile (its webhook
// due again) goes only as the version it was read at, which the replay changed; it is looked at again at the next
// pruning. MATERIALIZED: a planner that merged the two reads of operations would compare the row's version with itself.
const PRUNE_OPERATIONS = `
WITH candidates AS MATERIALIZED (
  SELECT o.id, o.version FROM operations o WHERE o.id > $4 AND o.finished_at < $1 AND o.status IN ('completed', 'failed', 'cancelled')
    AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.operation_id = o.id AND d.state IN ('pending', 'retrying'))
    AND NOT EXISTS (SELECT 1 FROM idempotency_keys k WHERE k.operation_id = o.id AND k.expires_at >= $2)
  ORDER BY o.id
  LIMIT $3
), dropped AS (
  DELETE FROM operations o USING candidates c WHERE o.id = c.id AND o.version = c.version
  RETURNING 1
)
SELECT (SELECT count(*) FROM dropped) AS count, (SELECT count(*) FROM candidates) AS taken, (SELECT max(id) FROM candidates) AS last`;
// Params: $1 now, $2 the batch's size.
const PRUNE_KEYS = `WITH dropped AS (
  DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys WHERE expires_at < $1 LIMIT $2) RETURNING 1
) SELECT count(*) AS count FROM dropped`;
// A concurrency key's turn is kept while it has operations waiting: one back from idle joins the turns afresh whether
// or not its row is kept (domain/fairness.ts, startPasses), and a row a key used once would otherwise stay for good.
// Rows a claim has locked are passed over, never waited for: claims lock their keys in order and this would lock in
// the table's, so waiting could deadlock with one (a key passed over now goes at the next pruning). The keys' global
// pass (GLOBAL_PASS, one row per tenant and type) stays: it is where a key back from idle joins.
const PRUNE_FAIR_KEYS = `
DELETE FROM fair_keys f USING (
  SELECT k.type, k.tenant, k.concurrency_key FROM fair_keys k
  WHERE k.concurrency_key <> '${GLOBAL_PASS}' AND NOT EXISTS (SELECT 1 FROM operations o
    WHERE o.status = 'pending' AND o.type = k.type AND o.tenant = k.tenant AND o.concurrency_key = k.concurrency_key)
  FOR UPDATE SKIP LOCKED
) idle
WHERE f.type = idle.type AND f.tenant = idle.tenant AND f.concurrency_key = idle.concurrency_key`;

// Results first, then operations, then expired keys, each in batches while a batch comes back full (as SQLite's
// pruning goes: an operation deleted first would take its result with it unmarked, and uncounted). The idle keys'
// turns go after them, in a statement of their own, so its row locks are never held beside claims' for long.
export async function prune(db: PostgresDatabase, params: PruneParams): Promise<{ results: number; operations: number; idempotencyKeys: number }> {
  // Each batch says how many it removed and whether it was full; a stop (params.signal) ends the walk between batches.
  const inBatches = async (batch: (tx: Transaction) => Promise<{ removed: number; full: boolean }>): Promise<number> => {
    let total = 0;
    for (let full = true; full && params.signal?.aborted !== true; ) {
      const done = await db.transaction(batch);
      total += done.removed;
      full = done.full;
    }
    return total;
  };
  const count = async (tx: Queryable, sql: string, ...params: number[]) => Number((await tx.query<{ count: number }>(sql, params))[0]?.count ?? 0);
  let markedUpTo = '';
  const results = await inBatches(async (tx) => {
    const marked = await tx.query<Pick<Operation, 'id' | 'version' | 'status'>>(PRUNE_RESULTS, [
      params.resultsFinishedBefore,
      params.now,
      PRUNE_BATCH,
      markedUpTo,
    ]);
    tx.events.push(...marked.map(changed));
    // Ids are ASCII, so JavaScript's order of them is the byte order the column sorts in.
    for (const { id } of marked) if (id > markedUpTo) markedUpTo = id;
    return { removed: marked.length, full: marked.length === PRUNE_BATCH };
  });
  let takenUpTo = '';
  const operations = await inBatches(async (tx) => {
    const [row] = await tx.query<{ count: number; taken: number; last: string | null }>(PRUNE_OPERATIONS, [
      params.operationsFinishedBefore,
      params.now,
      PRUNE_BATCH,
      takenUpTo,
    ]);
    takenUpTo = row?.last ?? takenUpTo;
    return { removed: Number(row?.count ?? 0), full: Number(row?.taken ?? 0) === PRUNE_BATCH };
  });
  const idempotencyKeys = await inBatches(async (tx) => {
    const removed = await count(tx, PRUNE_KEYS, params.now, PRUNE_BATCH);
    return { removed, full: removed === PRUNE_BATCH };
  });
  // A stopped pruning leaves the idle keys' turns to the next one too.
  if (params.signal?.aborted !== true) await db.query(PRUNE_FAIR_KEYS);
  return { results, operations, idempotencyKeys };
}

// Params: $1 key, $2 value.
const INIT_SETTING = 'INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING';
// Params: $1 key.
const SELECT_SETTING = 'SELECT value FROM settings WHERE key = $1';

/** Two statements on purpose: the SELECT's fresh snapshot sees a value a concurrent first start committed meanwhile. */
export async function settingGetOrInit(q: Queryable, key: string, initial: string): Promise<string> {
  await q.query(INIT_SETTING, [key, initial]);
  const [row] = await q.query<{ value: string }>(SELECT_SETTING, [key]);
  if (row === undefined) throw new Error(`setting ${key} vanished after it was stored`);
  return row.value;
}

// Params: $1 id, $2 concurrency, $3 type limits (JSON), $4 seen at, $5 forget nodes seen before.
const NODE_BEAT = `
WITH beat AS (
  INSERT INTO worker_nodes (id, concurrency, type_limits, seen_at) VALUES ($1, $2, $3::jsonb, $4)
  ON CONFLICT (id) DO UPDATE SET concurrency = excluded.concurrency, type_limits = excluded.type_limits, seen_at = excluded.seen_at
)
DELETE FROM worker_nodes WHERE seen_at < $5 AND id <> $1`;
// Params: $1 id.
const NODE_LEAVE = 'DELETE FROM worker_nodes WHERE id = $1';
// Params: $1 seen since.
const NODES_SEEN = 'SELECT id, concurrency, type_limits, seen_at FROM worker_nodes WHERE seen_at >= $1 ORDER BY id';

export async function workerNodeBeat(q: Queryable, node: WorkerNode, forgetBefore: number): Promise<void> {
  await q.query(NODE_BEAT, [node.id, node.concurrency, JSON.stringify(node.typeLimits), node.seenAt, forgetBefore]);
}

export async function workerNodeLeave(q: Queryable, id: string): Promise<void> {
  await q.query(NODE_LEAVE, [id]);
}

export async function workerNodes(q: Queryable, since: number): Promise<WorkerNode[]> {
  const rows = await q.query<{ id: string; concurrency: number; type_limits: Record<string, number>; seen_at: number }>(NODES_SEEN, [since]);
  return rows.map((r) => ({ id: r.id, concurrency: r.concurrency, typeLimits: r.type_limits, seenAt: r.seen_at }));
}
