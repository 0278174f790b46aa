// Owns: gathering calls into groups for one statement each: what is asked in one turn of the event loop (or within
// gatherMs), or while the last group is being written, goes together in the next. Not here: what a group's statement
// says (its caller's write).
// Invariant: each call settles with its own result once its group settled, or with its own error (a group that failed
// for one of its items is tried again item by item); groups run one at a time, in order; a group never holds two
// items of one key.

import { AsyncOpsError } from '../../domain/errors.ts';

interface Waiting<In, Out> {
  readonly item: In;
  readonly resolve: (out: Out) => void;
  readonly reject: (error: unknown) => void;
}

export interface BatcherOptions<In, Out> {
  /** Answers a group with one result per item, in order. */
  readonly write: (items: readonly In[]) => Promise<readonly Out[]>;
  readonly maxGroup: number;
  /**
   * Items of one key go in separate groups, in the order asked: one statement cannot tell two items of one row apart
   * (the attempt whose lease expired and the attempt that took it over, ending together).
   */
  readonly keyOf?: (item: In) => string;
  /**
   * How long the first item of a group waits for others before the group is written (default: a turn of the event
   * loop). For writes nobody waits on, so that a busy store writes them in fewer, larger groups; idle() writes at once.
   */
  readonly gatherMs?: number;
}

/**
 * On PostgreSQL every statement is a round trip and every commit a disk flush: calls that arrive together (the attempts
 * a pool ends at once, the creates of concurrent requests) share both.
 */
export class Batcher<In, Out> {
  readonly #write: (items: readonly In[]) => Promise<readonly Out[]>;
  readonly #maxGroup: number;
  readonly #keyOf: ((item: In) => string) | undefined;
  readonly #gatherMs: number;
  #queue: Array<Waiting<In, Out>> = [];
  #writing: Promise<void> | null = null;
  /** Ends the gathering under way now, if any: its group is written at once. */
  #endGathering: (() => void) | null = null;

  constructor(options: BatcherOptions<In, Out>) {
    this.#write = options.write;
    this.#maxGroup = options.maxGroup;
    this.#keyOf = options.keyOf;
    this.#gatherMs = options.gatherMs ?? 0;
  }

  submit(item: In): Promise<Out> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#writing ??= this.#gathered().then(() => this.#drain());
    });
  }

  /** Settles once everything asked for so far is written (a store waits for it before closing), gathering no longer. */
  async idle(): Promise<void> {
    while (this.#writing !== null) {
      this.#endGathering?.();
      await this.#writing;
    }
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const group = this.#nextGroup();
        try {
          const outs = await this.#write(group.map((w) => w.item));
          for (const [i, w] of group.entries()) w.resolve(outs[i]!);
        } catch (error) {
          // A group fails whole (one statement, one transaction). One bad item (a NUL in an error message) must not
          // fail the others with it, so each goes again on its own; a store that is away fails them all alike, and
          // trying each again would only hold up the groups behind.
          if (group.length === 1 || isUnavailable(error)) for (const w of group) w.reject(error);
          else for (const w of group) await this.#write([w.item]).then((outs) => w.resolve(outs[0]!), w.reject);
        }
        // What came while that group was written gathers too, so that a steady stream goes in groups of gatherMs.
        if (this.#gatherMs > 0 && this.#queue.length > 0) await this.#gathered();
      }
    } finally {
      this.#writing = null;
    }
  }

  /** After a turn of the event loop, or gatherMs (sooner if idle() is waiting). */
  #gathered(): Promise<void> {
    if (this.#gatherMs === 0) return new Promise<void>((done) => setImmediate(done));
    return new Promise<void>((done) => {
      const timer = setTimeout(() => this.#endGathering?.(), this.#gatherMs);
      this.#endGathering = () => {
        clearTimeout(timer);
        this.#endGathering = null;
        done();
      };
    });
  }

  #nextGroup(): Array<Waiting<In, Out>> {
    const keyOf = this.#keyOf;
    if (keyOf === undefined) return this.#queue.splice(0, this.#maxGroup);
    const group: Array<Waiting<In, Out>> = [];
    const later: Array<Waiting<In, Out>> = [];
    const keys = new Set<string>();
    for (const waiting of this.#queue) {
      const key = keyOf(waiting.item);
      if (group.length < this.#maxGroup && !keys.has(key)) {
        keys.add(key);
        group.push(waiting);
      } else {
        // Once an item of a key waits, every later one of that key waits behind it.
        keys.add(key);
        later.push(waiting);
      }
    }
    this.#queue = later;
    return group;
  }
}

function isUnavailable(error: unknown): boolean {
  return error instanceof AsyncOpsError && error.code === 'store_unavailable';
}
