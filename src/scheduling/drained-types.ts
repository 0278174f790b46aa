// Owns: which task types a worker pool's claims found empty, so that a slot freeing up does not ask the store again
// for types with nothing due (bench/README.md, "A freed slot asks only for announced work"). Not here: when the pool
// claims (claim-loop.ts), what wakes it (runtime/worker-pool.ts). Invariant: a type is left out only while nothing
// that could make its work claimable has been heard since the claim that found it empty began, and the store reports
// no write its change feed did not announce; a doubt (a timed wake, a resumed feed, a recovery) asks for every type.

/** Taken before a claim, handed to `settle` after it. */
export interface ClaimMark {
  readonly heard: number;
  readonly writes: number;
}

export class DrainedTypes {
  readonly #drained = new Set<string>();
  /** Counts what was heard, so a claim can tell whether anything was announced while it ran. */
  #heard = 0;
  /** The store's mark of writes its feed does not announce (Store.unannouncedWrites) when the set was last valid. */
  #writes = 0;

  /** The types to leave out of a claim now; none once the store reports a write no event told of. */
  leftOut(writes: number): ReadonlySet<string> {
    return this.#validAt(writes);
  }

  /** Work of `type` may be claimable now: an insert, a requeue, a freed concurrency key. */
  announce(type: string): void {
    this.#heard += 1;
    this.#drained.delete(type);
  }

  /** Work of any type may be claimable now. */
  forget(): void {
    this.#heard += 1;
    this.#drained.clear();
  }

  mark(writes: number): ClaimMark {
    return { heard: this.#heard, writes };
  }

  /**
   * After a claim that took fewer than it asked for in all (so no overall limit cut it short): each type that got fewer
   * than its own limit had no more due. Nothing is recorded when anything was announced while it ran, since it may
   * have read the store before that work was there.
   */
  settle(mark: ClaimMark, asked: readonly { readonly type: string; readonly limit: number }[], claimedByType: ReadonlyMap<string, number>): void {
    if (mark.heard !== this.#heard) return;
    const drained = this.#validAt(mark.writes);
    for (const { type, limit } of asked) if ((claimedByType.get(type) ?? 0) < limit) drained.add(type);
  }

  #validAt(writes: number): Set<string> {
    if (writes !== this.#writes) {
      this.#writes = writes;
      this.#drained.clear();
    }
    return this.#drained;
  }
}
