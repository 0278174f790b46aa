// Owns: which task types a worker pool's claims found empty, so that a slot freeing up does not ask the store again
// for types with nothing due (bench/README.md, "A freed slot asks only for announced work"). Not here: when the pool
// claims (claim-loop.ts), what wakes it (runtime/worker-pool.ts). Invariant: a type is left out only while nothing
// that could make its work claimable has been heard since the claim that found it empty began, no run_at it was told
// of has come, the store reports no write its change feed did not announce, and for at most DRAINED_FOR_MS; a doubt
// (a timed wake, a resumed feed, a recovery) asks for every type.

/**
 * How long a type found empty is left out at most. What no event tells of lands within it: a run_at merged away when
 * PostgreSQL's notifications are compacted (one `operation:due` per type, the earliest), an operation another node's
 * claim held locked while this one skipped it. Short against the 2 s poll; long against the slots a busy pool frees.
 */
export const DRAINED_FOR_MS = 100;

/** Taken before a claim, handed to `settle` after it. */
export interface ClaimMark {
  readonly heard: number;
  readonly writes: number;
}

export class DrainedTypes {
  /** Each type left out, with when the claim that found it empty was settled. */
  readonly #drained = new Map<string, number>();
  /** The earliest run_at announced per type that had not come when it was announced. */
  readonly #dueAt = new Map<string, number>();
  /** Counts what was heard, so a claim can tell whether anything was announced while it ran. */
  #heard = 0;
  /** The store's mark of writes its feed does not announce (Store.unannouncedWrites) when the set was last valid. */
  #writes = 0;

  /** Whether to leave `type` out of a claim at `now`; call `refresh` first. */
  has(type: string): boolean {
    return this.#drained.has(type);
  }

  /**
   * Before a claim at `now`: drops what no longer holds (a type's mark older than DRAINED_FOR_MS, a type whose run_at has
   * come, everything once the store reports a write no event told of).
   */
  refresh(writes: number, now: number): void {
    if (writes !== this.#writes) {
      this.#writes = writes;
      this.#drained.clear();
    }
    for (const [type, at] of this.#drained) if (now - at >= DRAINED_FOR_MS) this.#drained.delete(type);
    for (const [type, at] of this.#dueAt) {
      if (at > now) continue;
      this.#dueAt.delete(type);
      this.#drained.delete(type);
    }
  }

  /**
   * Work of `type` due at `runAt` was announced: an insert, a requeue, a freed concurrency key. Due by `now`, the type
   * is asked for again at once; due later, once that time has come.
   */
  announce(type: string, runAt: number, now: number): void {
    if (runAt > now) {
      this.#dueAt.set(type, Math.min(runAt, this.#dueAt.get(type) ?? Infinity));
      return;
    }
    this.#heard += 1;
    this.#drained.delete(type);
  }

  /** Work of any type may be claimable now. */
  forget(): void {
    this.#heard += 1;
    this.#drained.clear();
  }

  /** Before a claim, after `refresh`. */
  mark(): ClaimMark {
    return { heard: this.#heard, writes: this.#writes };
  }

  /**
   * After a claim that took fewer than it asked for in all (so no overall limit cut it short), settled at `now`: each
   * type that got fewer than its own limit had no more due. Nothing is recorded when anything was announced while it
   * ran, since it may have read the store before that work was there, or when the store's mark moved since (refresh).
   */
  settle(mark: ClaimMark, asked: readonly { readonly type: string; readonly limit: number }[], claimedByType: ReadonlyMap<string, number>, now: number): void {
    if (mark.heard !== this.#heard || mark.writes !== this.#writes) return;
    for (const { type, limit } of asked) if ((claimedByType.get(type) ?? 0) < limit) this.#drained.set(type, now);
  }
}
