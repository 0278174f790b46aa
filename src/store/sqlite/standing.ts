// Owns: the SQLite reads of where a pending operation stands: its queue position and its type's running attempts.
// Not here: what the standing means for the ETA (domain/eta.ts); the pending counts themselves (kept by the triggers of
// migration 0002); the same rules on PostgreSQL (its queue_position function) and as a plain model (domain/queue.ts).
// Invariant: the position is exact as of the statement that counts it (in one process nothing comes between the reads;
// another process writing the file can, and then the position is one change behind).

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { Operation } from '../../domain/operation.ts';
import type { QueueStanding } from '../store.ts';
import { prepareAll } from './database.ts';

/**
 * Bounds of the counts, taken in turns ahead and behind (twice each bound), so the walk is about the shorter side: the few
 * behind a new operation at the tail, the few ahead of one at the head. Literal LIMITs, a statement per bound: a bound
 * parameter makes the statement slower (bench/README.md). null: no bound, the last turn.
 */
const BOUNDS = [128, 1_024, 8_192, 65_536, null] as const;

const claimOrder = (where: string) => `SELECT 1 FROM operations INDEXED BY operations_claim WHERE status = 'pending' AND type = $type AND ${where}`;
const countUpTo = (bound: number | null, first: string, second: string) =>
  `SELECT count(*) AS n FROM (${claimOrder(first)} UNION ALL ${claimOrder(second)}${bound === null ? '' : ` LIMIT ${bound}`})`;

// $type $priority $runAt $id $now. The runnable operations ahead of a due one in claim order (priority desc, run_at, id).
const aheadUpTo = (bound: number | null) =>
  countUpTo(bound, 'priority > $priority AND run_at <= $now', 'priority = $priority AND (run_at, id) < ($runAt, $id)');
// $type $priority $runAt $id. The pending operations behind one in claim order.
const behindUpTo = (bound: number | null) => countUpTo(bound, 'priority = $priority AND (run_at, id) > ($runAt, $id)', 'priority < $priority');

// $type $priority $now. What the count behind is taken from: all pending of the type but the operation itself, less those
// of a higher priority that are not due yet (ahead of it, but not runnable).
const DEPTH_LESS_LATER = `SELECT coalesce((SELECT pending FROM queue_depth WHERE type = $type), 0) - 1
  - (SELECT count(*) FROM operations INDEXED BY operations_pending_due
     WHERE status = 'pending' AND type = $type AND run_at > $now AND priority > $priority) AS n`;

// $type $priority $now. Ahead of an operation not due yet: the due ones of its priority and above.
const AHEAD_OF_LATER = `SELECT count(*) AS n FROM operations INDEXED BY operations_claim
  WHERE status = 'pending' AND type = $type AND priority >= $priority AND run_at <= $now`;

// $type $limit
const RUNNING = `SELECT started_at, progress, updated_at FROM operations INDEXED BY operations_running
  WHERE status = 'processing' AND type = $type ORDER BY started_at LIMIT $limit`;

const STATEMENTS = { depthLessLater: DEPTH_LESS_LATER, aheadOfLater: AHEAD_OF_LATER, running: RUNNING };

export class SqliteStanding {
  #s: Record<keyof typeof STATEMENTS, StatementSync>;
  #ahead: StatementSync[];
  #behind: StatementSync[];

  constructor(db: DatabaseSync) {
    this.#s = prepareAll(db, STATEMENTS);
    this.#ahead = BOUNDS.map((bound) => db.prepare(aheadUpTo(bound)));
    this.#behind = BOUNDS.map((bound) => db.prepare(behindUpTo(bound)));
  }

  /**
   * The standing of `op` if it is pending (null otherwise). `fromTail`: count behind first, where a just inserted
   * operation is; either way the position is the same, only the walk differs.
   */
  of(op: Pick<Operation, 'id' | 'type' | 'status' | 'priority' | 'runAt'>, now: number, runningLimit: number, fromTail = false): QueueStanding | null {
    if (op.status !== 'pending') return null;
    const key = { type: op.type, priority: op.priority, runAt: op.runAt, id: op.id };
    // Only another process writing between these statements and the read of `op` can make it negative.
    const position = Math.max(
      0,
      op.runAt > now ? Number(this.#s.aheadOfLater.get({ type: op.type, priority: op.priority, now })!['n']) : this.#positionOfDue(key, now, fromTail),
    );
    const running =
      runningLimit <= 0
        ? []
        : this.#s.running.all({ type: op.type, limit: runningLimit }).map((r) => ({
            startedAt: Number(r['started_at']),
            progress: r['progress'] === null ? null : Number(r['progress']),
            progressAt: Number(r['updated_at']),
          }));
    return { position, running };
  }

  #positionOfDue(key: { type: string; priority: number; runAt: number; id: string }, now: number, fromTail: boolean): number {
    for (let i = 0; i < BOUNDS.length; i++) {
      const bound = BOUNDS[i] ?? Infinity;
      for (const side of fromTail ? (['behind', 'ahead'] as const) : (['ahead', 'behind'] as const)) {
        const n = Number((side === 'ahead' ? this.#ahead[i]!.get({ ...key, now }) : this.#behind[i]!.get(key))!['n']);
        if (n >= bound) continue;
        if (side === 'ahead') return n;
        return Number(this.#s.depthLessLater.get({ type: key.type, priority: key.priority, now })!['n']) - n;
      }
    }
    throw new Error('unreachable: the last bound is none');
  }
}
