// Owns: the turns fair claims take: between the tenants of a type (stride scheduling: each takes its turn in order of its
// pass, which a turn advances by 1/weight) and between the concurrency keys of a tenant (the same with weight 1, after
// priority), the fair queue position, and the rule a priority a tenant asks for must meet (its bounds and the tenant's
// ceiling: a submit's and a retry's alike). Not here: reading or writing passes (store/),
// the weights and ceilings themselves (config/, http/auth.ts), the claim order inside one lane (queue.ts).
// Invariant: pure and deterministic: both adapters and the reference model choose the same turns from the same passes.

import type { Queued } from './queue.ts';

/** An operation's priority: higher runs first. */
export const PRIORITY = { min: -1000, max: 1000 } as const;

/**
 * Why a priority a tenant asks for is refused, or null: outside the contract's range, or above the tenant's ceiling (so
 * no tenant claims the head of every queue by itself). The one rule for a submit's priority and a retry's.
 */
export function priorityProblem(priority: number, ceiling: number, whose = "this tenant's ceiling"): string | null {
  if (!Number.isInteger(priority) || priority < PRIORITY.min || priority > PRIORITY.max) return `must be an integer from ${PRIORITY.min} to ${PRIORITY.max}`;
  if (priority > ceiling) return `must be <= ${ceiling}, ${whose}`;
  return null;
}

/**
 * The priority of a submit or schedule that names none: 0, or the tenant's ceiling where that is below 0 (else every
 * request that left it out, a collection route's included, which cannot carry one, would be refused).
 */
export const defaultPriority = (ceiling: number): number => Math.min(0, ceiling);

/** Who takes turns: a tenant (with its weight) or a key of a tenant (weight 1); pass null: none stored yet. */
export interface Contender {
  readonly name: string;
  readonly pass: number | null;
  readonly weight: number;
}

/** Where a contender starts a claim from. */
export interface StartPass {
  pass: number;
  readonly weight: number;
  /**
   * No pass stored yet, or one behind where the claim starts (back after a while), and no turn taken in this claim: it
   * goes first among those at its pass (it waited longest), and its pass is written where it joined.
   */
  fresh: boolean;
}

/**
 * The name under which the passes (fair_tenants, fair_keys) keep the global pass: the pass of the last turn a claim
 * took, which no tenant or key can be named (a tenant is letters, digits, `_ . -`; a key starts with a letter or digit).
 */
export const GLOBAL_PASS = '*';

/**
 * Passes as a claim starts from them: each clamped into [V, V + 1/weight], V the least stored pass among the contenders
 * not behind the global pass G (the pass of the last turn taken; G itself when all are behind it; before any turn, the
 * least stored pass). Stride scheduling keeps every active contender's next turn in [G, G + 1/weight] (each turn goes
 * to the least pass, so none is behind the last one taken, nor more than its stride ahead of it), so the clamp changes
 * nothing while turns go round; it only places one the claims did not see: new, or back after a while with nothing it
 * could start (none pending, none due, its keys at their limits), joins at the least pass of those waiting and banks no
 * credit; one left ahead (its rivals went without turns while it was alone) owes none. A pass behind G is not the floor:
 * a contender with nothing due keeps its pass where it was, and as the floor it held every other at it plus one turn,
 * ties going by name, for as long as it waited, then took every turn until the others' passes came back to it
 * (bench/README.md, Fairness, "An idle tenant held the floor").
 */
export function startPasses(contenders: readonly Contender[], globalPass: number | null = null): Map<string, StartPass> {
  const stored = contenders.flatMap((c) => (c.pass === null ? [] : [c.pass]));
  const current = globalPass === null ? [] : stored.filter((pass) => pass >= globalPass);
  const floor = current.length > 0 ? Math.min(...current) : (globalPass ?? (stored.length === 0 ? 0 : Math.min(...stored)));
  const start = new Map<string, StartPass>();
  for (const c of contenders) {
    const weight = c.weight > 0 ? c.weight : 1;
    // Behind V is a comeback (an active contender is never behind it): it waited longest, as a new one, so it goes first
    // among those at V, and its pass is written where it joined. Not fresh, it lost every tie by name at V and, taking
    // no turn, stayed behind to lose again at the next claim for as long as the others had work.
    const fresh = c.pass === null || c.pass < floor;
    start.set(c.name, { pass: Math.min(Math.max(c.pass ?? floor, floor), floor + 1 / weight), weight, fresh });
  }
  return start;
}

/** Whether `a` takes its turn before `b`: the lesser pass, then a fresh one, then the name. */
function before(a: string, sa: StartPass, b: string, sb: StartPass): boolean {
  return sa.pass < sb.pass || (sa.pass === sb.pass && (sa.fresh !== sb.fresh ? sa.fresh : a < b));
}

/**
 * Stride turns among contenders: the least pass goes next (then a fresh one, then the name), and its k-th turn is at
 * its start pass + k/weight (a product, not a running sum, so a store that computes it in SQL gets the same doubles).
 */
export class Turns {
  readonly #start: Map<string, StartPass>;
  readonly #taken = new Map<string, number>();
  readonly #dropped = new Set<string>();

  /** `globalPass`: as stored under GLOBAL_PASS (null: none yet). */
  constructor(contenders: readonly Contender[], globalPass: number | null = null) {
    this.#start = startPasses(contenders, globalPass);
  }

  /** Where `name` stands after `k` turns. */
  #at(name: string, k: number): StartPass {
    const s = this.#start.get(name)!;
    return { pass: s.pass + k / s.weight, weight: s.weight, fresh: s.fresh && k === 0 };
  }

  /** The next `n` turns among those not dropped, in order, without taking them. */
  plan(n: number): string[] {
    const counts = new Map([...this.#start.keys()].filter((name) => !this.#dropped.has(name)).map((name) => [name, this.#taken.get(name) ?? 0]));
    const order: string[] = [];
    while (order.length < n && counts.size > 0) {
      let next: string | undefined;
      for (const [name, k] of counts) if (next === undefined || before(name, this.#at(name, k), next, this.#at(next, counts.get(next)!))) next = name;
      order.push(next!);
      counts.set(next!, counts.get(next!)! + 1);
    }
    return order;
  }

  take(name: string): void {
    this.#taken.set(name, (this.#taken.get(name) ?? 0) + 1);
  }

  /** Out of turns for this claim (nothing more it may run now); its pass stays where its turns left it. */
  drop(name: string): void {
    this.#dropped.add(name);
  }

  /** Whether any contender may still take a turn. */
  get open(): boolean {
    return this.#dropped.size < this.#start.size;
  }

  /**
   * The passes to write back, by name: of those that took turns, as the claim leaves them, and of those new to the
   * queue (none stored) where they joined, so a tenant that waits keeps its place as the others' passes move on.
   */
  passes(): Array<readonly [string, number]> {
    const written = [...this.#start].filter(([name, s]) => this.#taken.has(name) || s.fresh).map(([name]) => name);
    const passes = written.sort().map((name) => [name, this.#at(name, this.#taken.get(name) ?? 0).pass] as const);
    const last = lastTurnPass([...this.#taken].map(([name, n]) => [this.#start.get(name)!, n] as const));
    // GLOBAL_PASS sorts before every name: the rows are written in this order (two claims never wait crosswise).
    return last === null ? passes : [[GLOBAL_PASS, last] as const, ...passes];
  }
}

/** The pass of the last turn taken (GLOBAL_PASS), from each contender's start and how many it took; null: none taken. */
export function lastTurnPass(taken: Iterable<readonly [StartPass, number]>): number | null {
  let last: number | null = null;
  for (const [start, n] of taken) if (n > 0) last = Math.max(last ?? -Infinity, start.pass + (n - 1) / start.weight);
  return last;
}

/**
 * Shares `n` turns among the contenders of `turns`, a round at a time: each round yields how many of the next turns each
 * contender has, receives how many it could take (a store takes them in one statement), drops one that took fewer (it
 * has no more it may run now) and shares what is left among the rest. Returns the contenders in turn order, one entry
 * per operation taken. A generator, so a synchronous and an asynchronous store drive the same rounds.
 */
export function* shareTurns(turns: Turns, n: number): Generator<Map<string, number>, string[], ReadonlyMap<string, number>> {
  const order: string[] = [];
  let left = n;
  while (left > 0 && turns.open) {
    const plan = turns.plan(left);
    const shares = new Map<string, number>();
    for (const name of plan) shares.set(name, (shares.get(name) ?? 0) + 1);
    const got = yield shares;
    const used = new Map<string, number>();
    for (const name of plan) {
      const u = used.get(name) ?? 0;
      if (u >= (got.get(name) ?? 0)) continue;
      used.set(name, u + 1);
      turns.take(name);
      order.push(name);
    }
    let took = 0;
    for (const [name, share] of shares) {
      const g = Math.min(got.get(name) ?? 0, share);
      took += g;
      if (g < share) turns.drop(name);
    }
    // A round that took nothing dropped every contender in it, so the rounds end: when no contender is left open.
    left -= took;
  }
  return order;
}

/**
 * The keys of a tenant a claim looks at, at least: those next in turn (least pass first) that have operations they may
 * start. Only among them does a higher priority go first; the others' turns come as their passes do. A window rather
 * than every key keeps a claim's cost from growing with a tenant's keys (bench/README.md, Fairness).
 */
export const LANE_WINDOW = 4;

/** Contenders' names in the order their turns come (least pass, a fresh one, the name), from where a claim starts them. */
export function inTurnOrder(start: ReadonlyMap<string, StartPass>): string[] {
  return [...start.keys()].sort((a, b) => (before(a, start.get(a)!, b, start.get(b)!) ? -1 : 1));
}

/** One key of a tenant (or '' for its operations without a key): its next operations in claim order, as many as it may start. */
export interface Lane {
  readonly key: string;
  readonly heads: readonly Queued[];
}

/**
 * Up to `n` of a tenant's operations from its lanes (those of the window: LANE_WINDOW): the highest priority among the
 * lanes' next operations goes first (priorities keep their meaning inside a tenant), and among lanes at that priority
 * the one of least pass (then key): its pass as the claim started it (`starts`, from all the tenant's keys and their
 * global pass) plus the turns it took `earlier` in the claim (a claim of several rounds asks again for each).
 * Returns what it took in order, and the passes to write back (as Turns.passes: those that took turns, and the new).
 */
export function laneTurns(
  lanes: readonly Lane[],
  n: number,
  starts: ReadonlyMap<string, StartPass>,
  earlier: ReadonlyMap<string, number> = new Map(),
): { readonly taken: Queued[]; readonly passes: Array<readonly [string, number]> } {
  const passes = new Map(
    lanes.map((l) => {
      const start = starts.get(l.key)!;
      const k = earlier.get(l.key) ?? 0;
      return [l.key, { pass: start.pass + k, weight: 1, fresh: start.fresh && k === 0 }];
    }),
  );
  const next = new Map(lanes.map((l) => [l.key, 0]));
  const taken: Queued[] = [];
  const turned = new Set<string>();
  while (taken.length < n) {
    let best: Lane | undefined;
    for (const lane of lanes) {
      const head = lane.heads[next.get(lane.key)!];
      if (head === undefined) continue;
      if (best === undefined) {
        best = lane;
        continue;
      }
      const top = best.heads[next.get(best.key)!]!;
      if (head.priority > top.priority) best = lane;
      else if (head.priority === top.priority && before(lane.key, passes.get(lane.key)!, best.key, passes.get(best.key)!)) best = lane;
    }
    if (best === undefined) break;
    const i = next.get(best.key)!;
    taken.push(best.heads[i]!);
    next.set(best.key, i + 1);
    const s = passes.get(best.key)!;
    s.pass += 1;
    s.fresh = false;
    turned.add(best.key);
  }
  const written = lanes.filter((l) => turned.has(l.key) || starts.get(l.key)!.fresh).map((l) => l.key);
  return { taken, passes: written.sort().map((key) => [key, passes.get(key)!.pass] as const) };
}

/** A tenant with operations of the type pending: its pass and weight, and how many of them are due (counted up to a bound). */
export interface TenantQueue extends Contender {
  readonly due: number;
}

/**
 * Per other tenant (among `contenders`, the tenants with operations of the type pending): how many turns it takes before
 * tenant `own` takes the turn for an operation with `ownAhead` of its own tenant ahead of it, in stride order from the
 * passes as a claim would start from them (`globalPass`: as stored under GLOBAL_PASS). How many of its operations to
 * count, at most.
 */
export function turnsAhead(own: string, ownAhead: number, contenders: readonly Contender[], globalPass: number | null = null): Map<string, number> {
  const all = contenders.some((t) => t.name === own) ? contenders : [...contenders, { name: own, pass: null, weight: 1 }];
  const start = startPasses(all, globalPass);
  const mine = start.get(own)!;
  // Its own turn for the operation: fresh only if it is its tenant's first.
  const mineAt: StartPass = { pass: mine.pass + ownAhead / mine.weight, weight: mine.weight, fresh: mine.fresh && ownAhead === 0 };
  const turns = new Map<string, number>();
  for (const t of all) if (t.name !== own) turns.set(t.name, turnsBefore(start.get(t.name)!, t.name, mineAt, own));
  return turns;
}

/**
 * How many runnable operations of its type start before one of tenant `own` that has `ownAhead` of its own tenant's
 * ahead of it: those, plus from each other tenant its turns first (turnsAhead), as many as it has due. Exact while no
 * tenant runs out of due operations before then and nothing else changes; key limits and the turns between a tenant's
 * keys are not counted (docs/tasks.md).
 */
export function fairPosition(own: string, ownAhead: number, tenants: readonly TenantQueue[], globalPass: number | null = null): number {
  const turns = turnsAhead(own, ownAhead, tenants, globalPass);
  let position = ownAhead;
  for (const t of tenants) if (t.name !== own) position += Math.min(t.due, turns.get(t.name) ?? 0);
  return position;
}

/** Turns (pass p, p + 1/w, …) of `name` that come before `own`'s turn at `at`. */
function turnsBefore(s: StartPass, name: string, at: StartPass, own: string): number {
  const x = (at.pass - s.pass) * s.weight;
  if (x < -1e-9) return 0;
  const whole = Math.round(x);
  if (Math.abs(x - whole) > 1e-9) return Math.ceil(x);
  // Its turn `whole` lands on `at` (to rounding): it goes first by the order of before() (fresh only on its first turn).
  return whole + (before(name, { ...s, pass: at.pass, fresh: s.fresh && whole === 0 }, own, at) ? 1 : 0);
}
