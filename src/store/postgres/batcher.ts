// Owns: gathering calls into groups for one statement each: what is asked in one turn of the event loop, or while the
// last group is being written, goes together in the next. Not here: what a group's statement says (its caller's write).
// Invariant: each call settles with its own result once its group settled, or with its own error (a failed group's items
// are tried again one by one); groups run one at a time, in order.

interface Waiting<In, Out> {
  readonly item: In;
  readonly resolve: (out: Out) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * On PostgreSQL every statement is a round trip and every commit a disk flush: calls that arrive together (the attempts
 * a pool ends at once, the creates of concurrent requests) share both.
 */
export class Batcher<In, Out> {
  readonly #write: (items: readonly In[]) => Promise<readonly Out[]>;
  readonly #maxGroup: number;
  #queue: Array<Waiting<In, Out>> = [];
  #writing: Promise<void> | null = null;

  /** `write` answers a group with one result per item, in order. */
  constructor(write: (items: readonly In[]) => Promise<readonly Out[]>, maxGroup: number) {
    this.#write = write;
    this.#maxGroup = maxGroup;
  }

  submit(item: In): Promise<Out> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#writing ??= new Promise<void>((done) => setImmediate(done)).then(() => this.#drain());
    });
  }

  /** Settles once everything asked for so far is written (a store waits for it before closing). */
  async idle(): Promise<void> {
    while (this.#writing !== null) await this.#writing;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const group = this.#queue.splice(0, this.#maxGroup);
        try {
          const outs = await this.#write(group.map((w) => w.item));
          group.forEach((w, i) => w.resolve(outs[i]!));
        } catch (error) {
          // A group fails whole (one statement, one transaction); one bad item (a NUL in an error message) must not
          // fail the others with it, so each goes again on its own.
          if (group.length === 1) group[0]!.reject(error);
          else for (const w of group) await this.#write([w.item]).then((outs) => w.resolve(outs[0]!), w.reject);
        }
      }
    } finally {
      this.#writing = null;
    }
  }
}
