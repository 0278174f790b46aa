// Owns: the SQLite reads of where a pending operation stands: its queue position, the running attempts of its type (and
// of the types it shares a global limit with, with their counts ahead of it), the costs of the operations ahead, and its
// concurrency key's own queue (the key's operations ahead of it and running).
// Not here: what the standing means for the ETA (domain/eta.ts); the pending counts themselves (kept by the triggers of
// migration 0002); the same rules on PostgreSQL (its queue_position function) and as a plain model (domain/queue.ts).
// Invariant: the position is exact as of the statement that counts it (in one process nothing comes between the reads;
// another process writing the file can, and then the position is one change behind).

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { RunningAttempt } from '../../domain/eta.ts';
import { KEY_AHEAD_COUNTED, type KeyStanding, type QueueStanding, type QueueStandingParams, type StandingScope } from '../store.ts';
import { prepareAll } from './database.ts';
import { anchorOf } from './rows.ts';
import { fairPosition, GLOBAL_PASS, turnsAhead } from '../../domain/fairness.ts';
import { TENANTS } from './fair-claim.ts';

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

// $type $priority $now. The same for a key that is not one of $type's operations: nothing is taken off for the key itself.
const DEPTH_LESS_LATER_AMONG = `SELECT coalesce((SELECT pending FROM queue_depth WHERE type = $type), 0)
  - (SELECT count(*) FROM operations INDEXED BY operations_pending_due
     WHERE status = 'pending' AND type = $type AND run_at > $now AND priority > $priority) AS n`;

// The types with operations pending: only these can have any ahead of another type's.
const DEPTHS = `SELECT type FROM queue_depth WHERE pending > 0`;

// $type $priority $now. Ahead of an operation not due yet: the due ones of its priority and above.
const AHEAD_OF_LATER = `SELECT count(*) AS n FROM operations INDEXED BY operations_claim
  WHERE status = 'pending' AND type = $type AND priority >= $priority AND run_at <= $now`;

/** A running attempt's columns, as toRunning reads them. */
const RUNNING_COLUMNS = 'type, started_at, progress, updated_at, cost, progress_anchor, progress_anchor_at';

// $type $limit
const RUNNING = `SELECT ${RUNNING_COLUMNS} FROM operations INDEXED BY operations_running
  WHERE status = 'processing' AND type = $type ORDER BY started_at LIMIT $limit`;

// Every type's running attempts at once, when types share a global limit: one statement rather than one per type, and
// without parameters (binding one costs more than reading none). There are never many: no more than every worker's slots.
const RUNNING_ALL = `SELECT ${RUNNING_COLUMNS} FROM operations INDEXED BY operations_running
  WHERE status = 'processing' ORDER BY started_at`;

// $type $priority $runAt $id $now $limit. The costs of the operations ahead in claim order, in two walks that each stop at
// $limit: the due ones of a higher priority (all before the rest), then the due ones of its priority before it.
const COSTS_AHEAD_HIGHER = `SELECT cost FROM operations INDEXED BY operations_claim
  WHERE status = 'pending' AND type = $type AND priority > $priority AND run_at <= $now ORDER BY priority DESC, run_at, id LIMIT $limit`;
const COSTS_AHEAD_SAME = `SELECT cost FROM operations INDEXED BY operations_claim
  WHERE status = 'pending' AND type = $type AND priority = $priority AND (run_at, id) < ($runAt, $id) AND run_at <= $now
  ORDER BY priority DESC, run_at, id LIMIT $limit`;

// Fairness. $type $tenant: whether another tenant has operations of the type pending (two probes of operations_fair).
const OTHER_TENANTS = `SELECT EXISTS (SELECT 1 FROM operations INDEXED BY operations_fair WHERE status = 'pending' AND type = $type AND tenant < $tenant)
  OR EXISTS (SELECT 1 FROM operations INDEXED BY operations_fair WHERE status = 'pending' AND type = $type AND tenant > $tenant) AS n`;
// $type $tenant $priority $runAt $id $now: its own tenant's runnable operations ahead of a due one, in claim order.
const OWN_AHEAD = `SELECT count(*) AS n FROM operations INDEXED BY operations_fair
  WHERE status = 'pending' AND type = $type AND tenant = $tenant AND run_at <= $now
    AND (priority > $priority OR (priority = $priority AND (run_at, id) < ($runAt, $id)))`;
// $type $tenant $priority $now: ahead of one not due yet, its own tenant's due ones of its priority and above.
const OWN_AHEAD_OF_LATER = `SELECT count(*) AS n FROM operations INDEXED BY operations_fair
  WHERE status = 'pending' AND type = $type AND tenant = $tenant AND run_at <= $now AND priority >= $priority`;
// $type $tenant $now $limit: a tenant's due operations, counted up to the turns it takes first.
const DUE_UP_TO = `SELECT count(*) AS n FROM (SELECT 1 FROM operations INDEXED BY operations_fair
  WHERE status = 'pending' AND type = $type AND tenant = $tenant AND run_at <= $now LIMIT $limit)`;
const PASSES = `SELECT tenant, pass FROM fair_tenants WHERE type = $type`;

// Concurrency keys: probes of the key's own rows (operations_fair, operations_key_running), never the type's queue.
// $type $tenant $key $priority $runAt $id $now: the key's runnable operations ahead of it in claim order (for one not due
// yet, that is every due one of its priority and above: their run_at is before its own); at most KEY_AHEAD_COUNTED.
const KEY_AHEAD = `SELECT count(*) AS n FROM (SELECT 1 FROM operations INDEXED BY operations_fair
  WHERE status = 'pending' AND type = $type AND tenant = $tenant AND concurrency_key = $key AND run_at <= $now
    AND (priority > $priority OR (priority = $priority AND (run_at, id) < ($runAt, $id))) LIMIT ${KEY_AHEAD_COUNTED})`;
// $type $tenant $key $limit: the key's running attempts, earliest started first (`concurrency_key <> ''` restates the
// partial index's condition, so the planner may use it).
const KEY_RUNNING = `SELECT ${RUNNING_COLUMNS} FROM operations INDEXED BY operations_key_running
  WHERE status = 'processing' AND type = $type AND tenant = $tenant AND concurrency_key = $key AND concurrency_key <> ''
  ORDER BY started_at LIMIT $limit`;

const STATEMENTS = {
  otherTenants: OTHER_TENANTS,
  ownAhead: OWN_AHEAD,
  ownAheadOfLater: OWN_AHEAD_OF_LATER,
  dueUpTo: DUE_UP_TO,
  passes: PASSES,
  tenants: TENANTS,
  depthLessLater: DEPTH_LESS_LATER,
  depthLessLaterAmong: DEPTH_LESS_LATER_AMONG,
  depths: DEPTHS,
  aheadOfLater: AHEAD_OF_LATER,
  running: RUNNING,
  runningAll: RUNNING_ALL,
  costsAheadHigher: COSTS_AHEAD_HIGHER,
  costsAheadSame: COSTS_AHEAD_SAME,
  keyAhead: KEY_AHEAD,
  keyRunning: KEY_RUNNING,
};

type Key = { type: string; priority: number; runAt: number; id: string };

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
  of(op: QueueStandingParams['operation'], now: number, scope: StandingScope, fromTail = false): QueueStanding | null {
    if (op.status !== 'pending') return null;
    const key = { type: op.type, priority: op.priority, runAt: op.runAt, id: op.id };
    // Fairness: with other tenants waiting, its own tenant's ahead of it and the turns the others take first.
    const turns = op.tenant !== undefined && Number(this.#s.otherTenants.get({ type: op.type, tenant: op.tenant })!['n']) === 1;
    // Only another process writing between these statements and the read of `op` can make it negative.
    const position = turns ? this.#fairPosition(key, op.tenant!, now, scope.tenantWeights) : Math.max(0, this.#countAhead(key, now, fromTail, true));
    const running = scope.shared ? this.#runningAll(scope.runningLimits) : this.#running(op.type, scope.runningLimits.get(op.type) ?? 0);
    const standing: { -readonly [K in keyof QueueStanding]: QueueStanding[K] } = { position, running };
    const costs = Math.min(position, scope.costsAhead.get(op.type) ?? 0);
    if (costs > 0) standing.aheadCosts = this.#costsAhead(key, now, costs);
    if (scope.shared) {
      // Most types have nothing pending most of the time: one read of the pending counts rules them out.
      const pending = new Set(this.#s.depths.all().map((r) => String(r['type'])));
      const others: Record<string, number> = {};
      for (const [type, limit] of scope.runningLimits) {
        if (type === op.type || limit <= 0) continue;
        others[type] = pending.has(type) ? Math.max(0, this.#countAhead({ ...key, type }, now, fromTail, false)) : 0;
      }
      standing.aheadOfOtherTypes = others;
    }
    // Only an operation with a key pays for the key's reads.
    const concurrencyKey = op.concurrencyKey ?? '';
    const keyLimit = scope.keyLimits?.get(op.type) ?? 0;
    if (concurrencyKey !== '' && op.tenant !== undefined && keyLimit > 0) standing.key = this.#keyStanding(key, op.tenant, concurrencyKey, now, keyLimit);
    return standing;
  }

  /** Its concurrency key's runnable operations ahead of it and running attempts (up to the key's limit). */
  #keyStanding(key: Key, tenant: string, concurrencyKey: string, now: number, limit: number): KeyStanding {
    const ahead = Number(this.#s.keyAhead.get({ ...key, tenant, key: concurrencyKey, now })!['n']);
    const running = this.#s.keyRunning.all({ type: key.type, tenant, key: concurrencyKey, limit }).map(toRunning);
    return { ahead, running };
  }

  #fairPosition(key: Key, tenant: string, now: number, weights: ReadonlyMap<string, number> | undefined): number {
    const own =
      key.runAt > now
        ? Number(this.#s.ownAheadOfLater.get({ type: key.type, tenant, priority: key.priority, now })!['n'])
        : Number(this.#s.ownAhead.get({ ...key, tenant, now })!['n']);
    const passes = new Map(this.#s.passes.all({ type: key.type }).map((r) => [String(r['tenant']), Number(r['pass'])]));
    const contenders = this.#s.tenants
      .all({ type: key.type })
      .map((r) => String(r['tenant']))
      .map((name) => ({ name, pass: passes.get(name) ?? null, weight: weights?.get(name) ?? 1 }));
    const globalPass = passes.get(GLOBAL_PASS) ?? null;
    const turns = turnsAhead(tenant, own, contenders, globalPass);
    const tenants = contenders.map((c) => {
      const limit = turns.get(c.name) ?? 0;
      return { ...c, due: c.name === tenant || limit <= 0 ? 0 : Number(this.#s.dueUpTo.get({ type: key.type, tenant: c.name, now, limit })!['n']) };
    });
    return fairPosition(tenant, own, tenants, globalPass);
  }

  /** The running attempts of every type of the scope, each type's earliest started up to its limit. */
  #runningAll(limits: ReadonlyMap<string, number>): RunningAttempt[] {
    const taken = new Map<string, number>();
    return this.#s.runningAll
      .all()
      .map(toRunning)
      .filter((r) => {
        const n = taken.get(r.type!) ?? 0;
        taken.set(r.type!, n + 1);
        return n < (limits.get(r.type!) ?? 0);
      });
  }

  /** Runnable pending operations of `key.type` ahead of the key; `self`: the key is one of them (and not counted). */
  #countAhead(key: Key, now: number, fromTail: boolean, self: boolean): number {
    if (key.runAt > now) return Number(this.#s.aheadOfLater.get({ type: key.type, priority: key.priority, now })!['n']);
    return this.#positionOfDue(key, now, fromTail, self);
  }

  #running(type: string, limit: number): RunningAttempt[] {
    if (limit <= 0) return [];
    return this.#s.running.all({ type, limit }).map(toRunning);
  }

  #costsAhead(key: Key, now: number, limit: number): Array<number | null> {
    const cost = (r: Record<string, unknown>) => (r['cost'] === null ? null : Number(r['cost']));
    const higher = this.#s.costsAheadHigher.all({ type: key.type, priority: key.priority, now, limit }).map(cost);
    if (higher.length >= limit) return higher;
    return [...higher, ...this.#s.costsAheadSame.all({ ...key, now, limit: limit - higher.length }).map(cost)];
  }

  #positionOfDue(key: Key, now: number, fromTail: boolean, self: boolean): number {
    for (let i = 0; i < BOUNDS.length; i++) {
      const bound = BOUNDS[i] ?? Infinity;
      for (const side of fromTail ? (['behind', 'ahead'] as const) : (['ahead', 'behind'] as const)) {
        const n = Number((side === 'ahead' ? this.#ahead[i]!.get({ ...key, now }) : this.#behind[i]!.get(key))!['n']);
        if (n >= bound) continue;
        if (side === 'ahead') return n;
        const depth = self ? this.#s.depthLessLater : this.#s.depthLessLaterAmong;
        return Number(depth.get({ type: key.type, priority: key.priority, now })!['n']) - n;
      }
    }
    throw new Error('unreachable: the last bound is none');
  }
}

function toRunning(r: Record<string, unknown>): RunningAttempt {
  return {
    type: String(r['type']),
    startedAt: Number(r['started_at']),
    progress: r['progress'] === null ? null : Number(r['progress']),
    progressAt: Number(r['updated_at']),
    cost: r['cost'] === null ? null : Number(r['cost']),
    anchor: anchorOf(r['progress_anchor'] as number | null, r['progress_anchor_at'] as number | null),
  };
}
