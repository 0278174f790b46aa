// Owns: telling a reader that stopped from one that is slow: a connection where nothing of what waits to be sent moved
// for a whole period is given up on. Not here: what is written, or what giving up means (events-route.ts closes the
// stream). Invariant: at most one timer runs, and only while something waits to be sent.

/**
 * Watches one connection. `queued()` samples what waits to be sent, in parts (the stream's buffer, what the chunk being
 * written has left): a part that shrank is progress. `onStall` runs at most once a backlog.
 */
export class StallWatch {
  readonly #queued: () => readonly number[];
  readonly #periodMs: number;
  readonly #onStall: () => void;
  #timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  #mark: readonly number[] = [];

  constructor(queued: () => readonly number[], periodMs: number, onStall: () => void) {
    this.#queued = queued;
    this.#periodMs = periodMs;
    this.#onStall = onStall;
  }

  /** A write found the connection's buffers full: from now on, each period must see what waits move. */
  backedUp(): void {
    // Sampled once the write is handed on (a response sends what it was given at the end of the tick).
    if (this.#timer === undefined) this.#timer = setImmediate(() => this.#arm());
  }

  /** Everything queued was sent (the connection drained), or it closed. */
  clear(): void {
    clearTimeout(this.#timer as NodeJS.Timeout | undefined);
    clearImmediate(this.#timer as NodeJS.Immediate | undefined);
    this.#timer = undefined;
  }

  #arm(): void {
    this.#mark = this.#queued();
    this.#timer = setTimeout(() => {
      // A client that reads at all, however slowly, moves something: only one that read nothing in a period stalls.
      const now = this.#queued();
      if (now.some((part, i) => part < (this.#mark[i] ?? 0))) this.#arm();
      else {
        this.#timer = undefined;
        this.#onStall();
      }
    }, this.#periodMs);
  }
}
