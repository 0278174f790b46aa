// Owns: how much work the worker nodes can run at once: each live node's limits (its global concurrency, and per type the
// lesser of the type's concurrency and that), summed over the nodes into the limits an ETA's queue runs under.
// Not here: announcing nodes (runtime/worker-pool.ts) or storing them (store/). Invariant: a node not seen within
// WORKER_NODE_LIVE_MS counts for nothing; with no live node known, a process falls back to its own configuration.

/** How often a worker node says it is alive, with its limits. */
export const WORKER_NODE_BEAT_MS = 5_000;
/** A node not heard from for this long is taken for gone (three beats missed). */
export const WORKER_NODE_LIVE_MS = 3 * WORKER_NODE_BEAT_MS;

/** One worker process and the limits it runs operations under. */
export interface WorkerNode {
  readonly id: string;
  /** Operations it runs at once, across types (`--concurrency`). */
  readonly concurrency: number;
  /** Per task type it runs: how many of that type at once (its concurrency, capped by the node's). */
  readonly typeLimits: Readonly<Record<string, number>>;
  /** When it last said it was alive (ms since the epoch). */
  readonly seenAt: number;
}

/** The limits a queue drains under, summed over the live worker nodes. */
export interface Capacity {
  /** Operations running at once across all types. */
  readonly global: number;
  /** Per type: how many of it run at once; a type missing here runs nowhere. */
  readonly perType: ReadonlyMap<string, number>;
}

/** The limits of one node, as it announces them: per type the lesser of the type's concurrency and the node's. */
export function nodeLimits(concurrency: number, types: ReadonlyArray<{ readonly type: string; readonly concurrency: number }>): Record<string, number> {
  return Object.fromEntries(types.map((t) => [t.type, Math.min(t.concurrency, concurrency)]));
}

/**
 * The nodes seen within WORKER_NODE_LIVE_MS of `now`, summed: the cluster taken as one pool. (A node's own global limit
 * binds only its own slots, so with very uneven nodes this is a little optimistic; the ETA's range absorbs it.)
 */
export function capacityOf(nodes: readonly WorkerNode[], now: number): Capacity | null {
  const live = nodes.filter((n) => now - n.seenAt <= WORKER_NODE_LIVE_MS && n.concurrency > 0);
  if (live.length === 0) return null;
  const perType = new Map<string, number>();
  for (const node of live) {
    for (const [type, limit] of Object.entries(node.typeLimits)) if (limit > 0) perType.set(type, (perType.get(type) ?? 0) + limit);
  }
  return { global: live.reduce((sum, n) => sum + n.concurrency, 0), perType };
}

/** Whether types wait for each other: their own limits add up to more than the global one, so they share its slots. */
export function typesCompete(capacity: Capacity): boolean {
  let sum = 0;
  for (const limit of capacity.perType.values()) sum += limit;
  return sum > capacity.global && capacity.perType.size > 1;
}
