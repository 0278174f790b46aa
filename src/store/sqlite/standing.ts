// Owns: the SQLite reads of where a pending operation stands: its queue position and its type's running attempts.
// Not here: what the standing means for the ETA (domain/eta.ts); the pending counts themselves (kept by the triggers of
// migration 0002). Invariant: the position is exact as of the statement that counts it (in one process nothing can
// come between the reads; another process writing the file can, and then the position is one change behind).

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { Operation } from '../../domain/operation.ts';
import type { QueueStanding } from '../store.ts';
import { prepareAll } from './database.ts';

/**
 * Counting ahead stops here: past it the operation is far down the queue, where counting what is behind it (nothing,
 * at the tail where new operations land) and taking that from the type's pending count is the shorter walk.
 */
const DIRECT_COUNT_CAP = 128;

// $type $priority $runAt $id $now. The runnable operations ahead in claim order (priority desc, run_at, id), up to the cap
// (a literal: a bound LIMIT made the statement take twice as long).
const AHEAD_UP_TO = `SELECT count(*) AS n FROM (
    SELECT 1 FROM operations INDEXED BY operations_claim
    WHERE status = 'pending' AND type = $type AND priority > $priority AND run_at <= $now
    UNION ALL
    SELECT 1 FROM operations INDEXED BY operations_claim
    WHERE status = 'pending' AND type = $type AND priority = $priority AND (run_at, id) < ($runAt, $id) AND run_at <= $now
    LIMIT ${DIRECT_COUNT_CAP})`;

// $type $priority $runAt $id $now. The same count for an operation that is due: all pending of its type but itself, less
// those behind it in claim order, less those of a higher priority that are not due yet (ahead of it, but not runnable).
const AHEAD_FROM_DEPTH = `SELECT coalesce((SELECT pending FROM queue_depth WHERE type = $type), 0) - 1
  - (SELECT count(*) FROM operations INDEXED BY operations_claim WHERE status = 'pending' AND type = $type AND priority < $priority)
  - (SELECT count(*) FROM operations INDEXED BY operations_claim
     WHERE status = 'pending' AND type = $type AND priority = $priority AND (run_at, id) > ($runAt, $id))
  - (SELECT count(*) FROM operations INDEXED BY operations_pending_due
     WHERE status = 'pending' AND type = $type AND run_at > $now AND priority > $priority) AS n`;

// $type $priority $runAt $id $now. From the tail, for an operation that is due: those behind it up to the cap, and, when
// that is all of them, its position as in AHEAD_FROM_DEPTH.
const FROM_TAIL = `SELECT behind.n AS behind, coalesce((SELECT pending FROM queue_depth WHERE type = $type), 0) - 1 - behind.n
  - (SELECT count(*) FROM operations INDEXED BY operations_pending_due
     WHERE status = 'pending' AND type = $type AND run_at > $now AND priority > $priority) AS n
  FROM (SELECT count(*) AS n FROM (
    SELECT 1 FROM operations INDEXED BY operations_claim
    WHERE status = 'pending' AND type = $type AND priority = $priority AND (run_at, id) > ($runAt, $id)
    UNION ALL
    SELECT 1 FROM operations INDEXED BY operations_claim WHERE status = 'pending' AND type = $type AND priority < $priority
    LIMIT ${DIRECT_COUNT_CAP})) behind`;

// $type $priority $runAt $id $now. Uncapped, for an operation deep in the queue that is not due yet.
const AHEAD = `SELECT (
    SELECT count(*) FROM operations INDEXED BY operations_claim
    WHERE status = 'pending' AND type = $type AND priority > $priority AND run_at <= $now
  ) + (
    SELECT count(*) FROM operations INDEXED BY operations_claim
    WHERE status = 'pending' AND type = $type AND priority = $priority AND (run_at, id) < ($runAt, $id) AND run_at <= $now
  ) AS n`;

// $type $limit
const RUNNING = `SELECT started_at, progress, updated_at FROM operations INDEXED BY operations_running
  WHERE status = 'processing' AND type = $type ORDER BY started_at LIMIT $limit`;

const STATEMENTS = { aheadUpTo: AHEAD_UP_TO, aheadFromDepth: AHEAD_FROM_DEPTH, fromTail: FROM_TAIL, ahead: AHEAD, running: RUNNING };

export class SqliteStanding {
  #s: Record<keyof typeof STATEMENTS, StatementSync>;

  constructor(db: DatabaseSync) {
    this.#s = prepareAll(db, STATEMENTS);
  }

  /**
   * The standing of `op` if it is pending (null otherwise). `fromTail`: count from the tail first, where a just inserted
   * operation is; either way the position is the same, only the walk differs.
   */
  of(op: Pick<Operation, 'id' | 'type' | 'status' | 'priority' | 'runAt'>, now: number, runningLimit: number, fromTail = false): QueueStanding | null {
    if (op.status !== 'pending') return null;
    const at = { type: op.type, priority: op.priority, runAt: op.runAt, id: op.id, now };
    const due = op.runAt <= now;
    let position: number | null = null;
    if (fromTail && due) {
      const row = this.#s.fromTail.get(at)!;
      if (Number(row['behind']) < DIRECT_COUNT_CAP) position = Number(row['n']);
    }
    if (position === null) {
      position = Number(this.#s.aheadUpTo.get(at)!['n']);
      if (position >= DIRECT_COUNT_CAP) position = Number((due ? this.#s.aheadFromDepth : this.#s.ahead).get(at)!['n']);
    }
    // Only another process writing between this statement and the read of `op` can make it negative.
    position = Math.max(0, position);
    const running = runningLimit <= 0 ? [] : this.#s.running.all({ type: op.type, limit: runningLimit }).map((r) => ({
      startedAt: Number(r['started_at']),
      progress: r['progress'] === null ? null : Number(r['progress']),
      progressAt: Number(r['updated_at']),
    }));
    return { position, running };
  }
}
