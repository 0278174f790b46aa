// Owns: the short-lived cache of operation reads behind status GETs, long-poll wake-ups and event streams: a read
// stands for at most `ttlMs`, and a change this node makes or hears of (the store's change feed) drops it at once.
// Not here: rendering a read (operation-view.ts), the change feed itself (store/).
// Invariant: a read that was in flight when its operation changed is never kept (it may predate the change).

import type { Operation } from '../domain/operation.ts';
import type { OperationResource } from '../domain/resource.ts';
import type { QueueStanding } from '../store/store.ts';

export interface CachedRead {
  readonly operation: Operation;
  readonly standing: QueueStanding | null;
  /** The operation's resource without its queue position and ETA, rendered once for every read served from here. */
  readonly base: OperationResource;
}

interface Entry extends CachedRead {
  readonly storedAt: number;
}

/** Stands for every operation in the ring of recent changes; no operation id looks like it. */
const ANY = '*';

/** How many recent changes are remembered to tell whether one hit a read in flight; older reads are not kept. */
const RECENT_CHANGES = 4096;

export class ReadCache {
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #entries = new Map<string, Entry>();
  /** Ids of the last RECENT_CHANGES changes, a ring indexed by change number. */
  readonly #recent: string[] = [];
  #changes = 0;

  constructor(options: { readonly ttlMs: number; readonly maxEntries: number }) {
    this.#ttlMs = options.ttlMs;
    this.#maxEntries = options.maxEntries;
  }

  get enabled(): boolean {
    return this.#ttlMs > 0;
  }

  /** A fresh read of `id`, or undefined. */
  lookup(id: string, now: number): CachedRead | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined) return undefined;
    // A clock stepped back makes the age negative: such an entry is not trusted to be fresh.
    const age = now - entry.storedAt;
    if (age >= 0 && age < this.#ttlMs) return entry;
    this.#entries.delete(id);
    return undefined;
  }

  /** Call before reading the store; pass the ticket to keep(). */
  ticket(): number {
    return this.#changes;
  }

  /** Keeps a read made after `ticket`, unless its operation changed since. */
  keep(id: string, read: CachedRead, ticket: number, now: number): void {
    if (!this.enabled || this.#changedSince(id, ticket)) return;
    // Of two overlapping reads the older can come back last (another node's change not yet announced here).
    const kept = this.#entries.get(id);
    if (kept !== undefined && kept.operation.version > read.operation.version) return;
    this.#entries.delete(id);
    this.#entries.set(id, { ...read, storedAt: now });
    // Map order is insertion order, so the first entries are the oldest: those past their time go (a read served
    // once would otherwise hold its operation, input and all, until maxEntries newer ones pushed it out), and any
    // over the bound.
    for (const [key, entry] of this.#entries) {
      if (this.#entries.size <= this.#maxEntries && now - entry.storedAt < this.#ttlMs) break;
      this.#entries.delete(key);
    }
  }

  /** How many reads are held. */
  get size(): number {
    return this.#entries.size;
  }

  /** The operation changed (or went away): drop its read. */
  changed(id: string): void {
    this.#entries.delete(id);
    this.#recent[this.#changes % RECENT_CHANGES] = id;
    this.#changes += 1;
  }

  /** Any operation may have changed unheard of (the change feed missed events): drop every read. */
  changedAll(): void {
    this.#entries.clear();
    this.changed(ANY);
  }

  #changedSince(id: string, ticket: number): boolean {
    if (this.#changes - ticket > RECENT_CHANGES) return true;
    for (let n = ticket; n < this.#changes; n++) {
      const changed = this.#recent[n % RECENT_CHANGES];
      if (changed === id || changed === ANY) return true;
    }
    return false;
  }
}
