// Owns: the claim order of pending operations, and the plain reference model of what the stores compute with indexes,
// kept counts and bounded walks: queue positions (in its own type's queue, and counted in another type's; with several
// tenants, with the turns between them: fairness.ts) and pending counts per type. Not here: reading them (store/), the ETA made from a position (eta.ts).
// Invariant: the store contract's random walk checks both adapters against this model.

import { fairPosition, GLOBAL_PASS } from './fairness.ts';
import type { Operation } from './operation.ts';

export type Queued = Pick<Operation, 'id' | 'type' | 'priority' | 'runAt'>;

/** Plain code-unit order: SQLite's BINARY collation, and the order any collation gives ids (a prefix, then upper-case base32). */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The order pending operations of a type are claimed in: higher priority first, then earlier run_at, then id. */
export function compareClaimOrder(a: Queued, b: Queued): number {
  return b.priority - a.priority || a.runAt - b.runAt || compareIds(a.id, b.id);
}

/**
 * Where `op` stands at `now` among the `pending` operations (its own type's, or all: others are ignored): how many runnable
 * ones (run_at reached) run before it in claim order. One not due yet is behind no one that is due later, so ahead of it
 * are the due ones of its priority and above.
 */
export function queuePosition(op: Queued, pending: readonly Queued[], now: number): number {
  return aheadOfType(op, op.type, pending, now);
}

/**
 * How many runnable pending operations of `type` (its own or another) run before `op` in claim order: where types share a
 * global limit, a claim takes the earliest of those whose type has a free slot, so another type's ahead of it wait first.
 */
export function aheadOfType(op: Queued, type: string, pending: readonly Queued[], now: number): number {
  return pending.filter((p) => p.type === type && p.id !== op.id && p.runAt <= now && compareClaimOrder(p, op) < 0).length;
}

/** Pending operations per type, as counted from the operations themselves (types with none are left out). */
export function pendingCounts(operations: ReadonlyArray<Pick<Operation, 'type' | 'status'>>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const op of operations) if (op.status === 'pending') counts.set(op.type, (counts.get(op.type) ?? 0) + 1);
  return counts;
}

/**
 * The first `limit` of several types' candidates, each type's kept in its own (turn) order: the best head in claim order
 * goes next. Types whose candidates are in claim order already merge as a sort would.
 */
export function mergeTypes<T extends Queued>(lists: ReadonlyArray<readonly T[]>, limit: number): T[] {
  const next = lists.map(() => 0);
  const merged: T[] = [];
  while (merged.length < limit) {
    let best = -1;
    for (let i = 0; i < lists.length; i++) {
      const head = lists[i]![next[i]!];
      if (head !== undefined && (best < 0 || compareClaimOrder(head, lists[best]![next[best]!]!) < 0)) best = i;
    }
    if (best < 0) break;
    merged.push(lists[best]![next[best]!]!);
    next[best]! += 1;
  }
  return merged;
}

export type TenantQueued = Queued & Pick<Operation, 'tenant'>;

/**
 * Fairness: where `op` stands when the tenants of its type take turns (claims in fairness.ts's stride order): its own
 * tenant's runnable operations ahead of it (as queuePosition counts them), plus each other tenant's turns before it, as
 * many as it has due. With one tenant pending, queuePosition among its own. `passes`: the stored ones (absent: none yet),
 * the global pass under GLOBAL_PASS.
 */
export function fairQueuePosition(
  op: TenantQueued,
  pending: readonly TenantQueued[],
  now: number,
  passes: ReadonlyMap<string, number> = new Map(),
  weights: ReadonlyMap<string, number> = new Map(),
): number {
  const ofType = pending.filter((p) => p.type === op.type);
  const own = aheadOfType(
    op,
    op.type,
    ofType.filter((p) => p.tenant === op.tenant),
    now,
  );
  const tenants = [...new Set(ofType.map((p) => p.tenant))];
  if (tenants.every((t) => t === op.tenant)) return own;
  const due = (tenant: string) => ofType.filter((p) => p.tenant === tenant && p.id !== op.id && p.runAt <= now).length;
  return fairPosition(
    op.tenant,
    own,
    tenants.map((name) => ({ name, pass: passes.get(name) ?? null, weight: weights.get(name) ?? 1, due: due(name) })),
    passes.get(GLOBAL_PASS) ?? null,
  );
}
