// Owns: when a pending operation starts: the claim order played forward under every limit that applies (its type's,
// the global one shared with other types), from the attempts running now and the operations ahead of it.
// Not here: how long each piece of work takes (duration-model.ts, eta.ts). Invariant: an operation starts only when a
// global slot and a slot of its type are free, in claim order among the types that have one (as a claim takes them).

import type { Capacity } from './capacity.ts';

/** An attempt running now: its slot frees `remaining` ms after now. */
export interface Occupant {
  readonly type: string;
  readonly remaining: number;
  readonly variance: number;
}

/** A pending operation ahead, in claim order: how long it will hold its slot. */
export interface QueueItem {
  readonly type: string;
  readonly mean: number;
  readonly variance: number;
}

export interface QueuePlay {
  readonly now: number;
  /**
   * The operation itself starts no sooner than this (now, or its run_at). Those ahead are due now (a queue position
   * counts only operations due), so they run from now: a backlog ahead of an operation due later drains meanwhile.
   */
  readonly ready: number;
  /**
   * Nothing of its own type starts before this (now, or the end of a hold on the type: its backlog does not drain
   * meanwhile, and then the slots take it from there); other types' operations start as slots free. Absent: now.
   */
  readonly opensAt?: number | undefined;
  /** The operation's own type. */
  readonly type: string;
  readonly capacity: Capacity;
  readonly running: readonly Occupant[];
  /** Operations ahead of it, in claim order (at most MAX_PLAYED of them). */
  readonly ahead: readonly QueueItem[];
  /** Operations ahead of it past those, per type: drained as a fluid. */
  readonly beyond?: readonly QueueBulk[] | undefined;
}

/** `count` operations of a type, each holding its slot `mean` ms (with that variance). */
export interface QueueBulk extends QueueItem {
  readonly count: number;
}

export interface Start {
  readonly at: number;
  /**
   * Variance of the start (ms²): the spread of the work that ran before it in the slot it takes, lessened as the earliest
   * of several slots' is (÷√slots); past MAX_PLAYED, the fluid's (the spread of all the work, shared by the slots).
   */
  readonly variance: number;
}

/** Past this many operations ahead, the rest drain as a fluid at the rate the limits allow: the walk stays cheap. */
export const MAX_PLAYED = 256;

/**
 * When the operation starts, playing the queue forward: at each moment slots free up, the earliest operations in claim
 * order whose type has a free slot take the free global slots. Null when no slot ever serves its type.
 */
export function startOf(play: QueuePlay): Start | null {
  const own = play.capacity.perType.get(play.type) ?? 0;
  if (own <= 0 || play.capacity.global <= 0) return null;
  const slots = Math.min(own, play.capacity.global);
  const played = play.ahead;
  const rest = play.beyond ?? [];
  const limitOf = (type: string) => play.capacity.perType.get(type) ?? Infinity;

  const ends = new MinHeap();
  const busy = new Map<string, number>();
  let busyAll = 0;
  for (const r of play.running) {
    ends.push({ at: play.now + Math.max(0, r.remaining), type: r.type, variance: r.variance, chain: r.variance });
    busy.set(r.type, (busy.get(r.type) ?? 0) + 1);
    busyAll += 1;
  }
  // Per type, its operations in claim order; the next to start is the earliest head among types with a free slot.
  const queues = new Map<string, Array<{ index: number; item: QueueItem }>>();
  played.forEach((item, index) => {
    const q = queues.get(item.type);
    if (q === undefined) queues.set(item.type, [{ index, item }]);
    else q.push({ index, item });
  });
  const heads = new Map<string, number>();
  const self = { index: played.length, item: { type: play.type, mean: 0, variance: 0 } };
  (queues.get(play.type) ?? queues.set(play.type, []).get(play.type)!).push(self);

  let now = play.now;
  // A hold on its own type: its queue waits for it, other types' go on starting meanwhile.
  const opensAt = play.opensAt ?? play.now;
  let endedVariance = 0;
  // The spread of when each freed slot came free (the work run in it so far), earliest freed first: the next to start takes it.
  const freed: number[] = [];
  for (;;) {
    // Start what can start now.
    while (busyAll < play.capacity.global) {
      let next: { type: string; entry: { index: number; item: QueueItem } } | null = null;
      for (const [type, queue] of queues) {
        const entry = queue[heads.get(type) ?? 0];
        if (entry === undefined || (busy.get(type) ?? 0) >= limitOf(type) || (type === play.type && now < opensAt)) continue;
        if (next === null || entry.index < next.entry.index) next = { type, entry };
      }
      if (next === null) break;
      const chain = freed.shift() ?? 0;
      if (next.entry === self && rest.length === 0) return notBefore(play.ready, { at: now, variance: chain / Math.sqrt(slots) });
      if (next.entry === self) return notBefore(play.ready, fluid(play, rest, now, endedVariance, slots));
      heads.set(next.type, (heads.get(next.type) ?? 0) + 1);
      busy.set(next.type, (busy.get(next.type) ?? 0) + 1);
      busyAll += 1;
      ends.push({ at: now + next.entry.item.mean, type: next.type, variance: next.entry.item.variance, chain: chain + next.entry.item.variance });
    }
    // Its type opens before another slot frees: its queue starts then, in the slots free by then.
    if (now < opensAt && opensAt <= ends.peekAt()) {
      now = opensAt;
      continue;
    }
    const end = ends.pop();
    if (end === undefined) return null;
    now = Math.max(now, end.at);
    busy.set(end.type, (busy.get(end.type) ?? 1) - 1);
    busyAll -= 1;
    endedVariance += end.variance;
    freed.push(end.chain);
  }
}

/**
 * When the operation starts if everything ahead of it is of its type and alike (no costs read): the slots free up as
 * their attempts end, and the operations ahead take the earliest one by one; with equal durations they come free in the
 * same order each round, so the one `position` places ahead starts on slot position mod n, position div n rounds later.
 * O(slots), where playing the queue is O(position): what every status read of a long uniform queue would pay.
 */
export function startOfUniform(play: {
  readonly now: number;
  readonly ready: number;
  /** As QueuePlay's: no slot takes from the queue before it. */
  readonly opensAt?: number | undefined;
  readonly slots: number;
  /** The running attempts of its type (the only ones there are). */
  readonly running: readonly Occupant[];
  readonly position: number;
  readonly item: QueueItem;
}): Start | null {
  const slots = Math.floor(play.slots);
  if (slots <= 0) return null;
  const ends = play.running.map((r) => ({ at: play.now + Math.max(0, r.remaining), chain: r.variance }));
  // More running than slots (limits lowered since): the extra hold theirs until they end, as the earliest do.
  ends.sort((a, b) => a.at - b.at);
  const free = [...ends.slice(0, slots), ...Array.from({ length: Math.max(0, slots - ends.length) }, () => ({ at: play.now, chain: 0 }))];
  const extra = ends.slice(slots);
  for (const e of extra) {
    free.sort((a, b) => a.at - b.at);
    free[0] = { at: Math.max(free[0]!.at, e.at), chain: e.chain };
  }
  const opensAt = play.opensAt ?? play.now;
  for (const f of free) f.at = Math.max(f.at, opensAt);
  free.sort((a, b) => a.at - b.at);
  const slot = free[play.position % slots]!;
  const rounds = Math.floor(play.position / slots);
  return notBefore(play.ready, { at: slot.at + rounds * play.item.mean, variance: (slot.chain + rounds * play.item.variance) / Math.sqrt(slots) });
}

/** Its turn, or `ready` when that comes later: then it waits for a time it knows, with no spread from the queue. */
export function notBefore(ready: number, turn: Start): Start {
  return turn.at >= ready ? turn : { at: ready, variance: 0 };
}

/**
 * The operations past MAX_PLAYED, drained as a fluid, added to when the played part let the operation's turn come. Its
 * own type's work ahead goes through the slots its limit allows of those the other types leave free; another type holds
 * its own limit's slots, or as many as it has operations left if fewer (or a share of the global ones, when the others
 * together would hold more), only while it has work ahead. So 3,000 operations of a type of 3 slots ahead of one of a type of 100 slots (out of 900) delay it by
 * nothing (they took 30 hours of its ETA), and one quick operation of a type of 9 slots (out of 10) for a moment only.
 */
function fluid(play: QueuePlay, rest: readonly QueueBulk[], turnAt: number, endedVariance: number, slots: number): Start {
  const global = play.capacity.global;
  const limitOf = (type: string) => Math.min(play.capacity.perType.get(type) ?? Infinity, global);
  let own = 0;
  let ownVariance = 0;
  let allVariance = 0;
  // Each other type's work ahead, and how many operations it is: it holds no more slots than it has operations left.
  const others = new Map<string, number>();
  const counts = new Map<string, number>();
  for (const bulk of rest) {
    if (bulk.type === play.type) {
      own += bulk.count * bulk.mean;
      ownVariance += bulk.count * bulk.variance;
    } else if (bulk.count > 0 && bulk.mean > 0) {
      others.set(bulk.type, (others.get(bulk.type) ?? 0) + bulk.count * bulk.mean);
      counts.set(bulk.type, (counts.get(bulk.type) ?? 0) + bulk.count);
    }
    allVariance += bulk.count * bulk.variance;
  }
  const means = new Map([...others].map(([type, work]) => [type, work / counts.get(type)!]));
  const holdOf = (type: string, work: number) => Math.min(limitOf(type), Math.max(1, Math.ceil(work / means.get(type)! - 1e-9)));
  // Played forward from one type's draining to the next: one step a type, and the last for its own.
  let at = 0;
  let held = false;
  for (let step = 0, steps = others.size + 1; step <= steps; step++) {
    let hold = 0;
    for (const [type, work] of others) hold += holdOf(type, work);
    const left = Math.floor(global - hold);
    // The others hold every slot: each drains at its share of the global rate until the first of them is done.
    const rateOf = (type: string, work: number) => (left >= 1 ? holdOf(type, work) : (global * holdOf(type, work)) / hold);
    const ownRate = left >= 1 ? Math.min(limitOf(play.type), left) : 0;
    if (ownRate > 0 && own === 0) break;
    let nextDrained = Infinity;
    for (const [type, work] of others) nextDrained = Math.min(nextDrained, work / rateOf(type, work));
    if (ownRate > 0 && own / ownRate <= nextDrained) {
      at += own / ownRate;
      break;
    }
    if (nextDrained === Infinity) break;
    if (ownRate === 0) held = true;
    at += nextDrained;
    own = Math.max(0, own - ownRate * nextDrained);
    for (const [type, work] of others) {
      const after = work - rateOf(type, work) * nextDrained;
      if (after <= work * 1e-9) others.delete(type);
      else others.set(type, after);
    }
  }
  return { at: turnAt + at, variance: (endedVariance + (held ? allVariance : ownVariance)) / (slots * slots) };
}

interface End {
  readonly at: number;
  readonly type: string;
  readonly variance: number;
  /** The variance of when it ends: its own and that of the work before it in its slot. */
  readonly chain: number;
}

/** A binary heap of slot ends, earliest first. */
class MinHeap {
  readonly #items: End[] = [];

  push(item: End): void {
    const a = this.#items;
    a.push(item);
    for (let i = a.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (a[parent]!.at <= a[i]!.at) break;
      [a[parent], a[i]] = [a[i]!, a[parent]!];
      i = parent;
    }
  }

  /** When the earliest ends; Infinity with none. */
  peekAt(): number {
    return this.#items[0]?.at ?? Infinity;
  }

  pop(): End | undefined {
    const a = this.#items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l]!.at < a[m]!.at) m = l;
        if (r < a.length && a[r]!.at < a[m]!.at) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}
