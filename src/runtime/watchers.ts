// Owns: who hears of each operation's stored changes (long-polls, event streams) and the long-poll's wait: until the
// version read differs from the one the caller has, or the time is up, or the caller left.
// Not here: the change feed (store/), reading an operation (operations.ts). Invariant: a waiter watches before it
// reads, so no change slips between its read and its wait; every wait ends by its timeout at the latest.

import type { TimerClock } from '../domain/clock.ts';

/** Told each stored change's version, or null when changes may have been missed (the feed resumed) and it is worth reading again. */
export type ChangeListener = (version: number | null) => void;

export class ChangeWatchers {
  readonly #byId = new Map<string, Set<ChangeListener>>();

  /** Calls `listener` for every stored change of one operation until the returned function is called. */
  watch(id: string, listener: ChangeListener): () => void {
    let set = this.#byId.get(id);
    if (set === undefined) {
      set = new Set();
      this.#byId.set(id, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#byId.delete(id);
    };
  }

  changed(id: string, version: number): void {
    const listeners = this.#byId.get(id);
    if (listeners) for (const listener of [...listeners]) listener(version);
  }

  /** One operation changed with no version to tell (it was deleted): its watchers look again. */
  lookAgain(id: string): void {
    const listeners = this.#byId.get(id);
    if (listeners) for (const listener of [...listeners]) listener(null);
  }

  /** Any operation may have changed unheard of: every watcher looks again. */
  mayHaveMissed(): void {
    for (const listeners of [...this.#byId.values()]) for (const listener of [...listeners]) listener(null);
  }
}

export interface ChangeWait<V> {
  readonly id: string;
  /** The version the caller has. */
  readonly version: number;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
  /** A read of the store itself, and its version: a change a cache has not heard of yet must end the wait at once. */
  readonly read: () => Promise<V>;
  readonly versionOf: (view: V) => number;
  /** The answer once the time is up or the caller left (a read that may be served from a cache). */
  readonly current: () => Promise<V>;
}

/** A long-poll: resolves with the first read whose version differs from `version`, or with `current()` when it ends unchanged. */
export async function waitForChange<V>(watchers: ChangeWatchers, clock: TimerClock, wait: ChangeWait<V>): Promise<V> {
  let wake: () => void = () => {};
  let woken = new Promise<void>((resolve) => (wake = resolve));
  let over = false;
  const unwatch = watchers.watch(wait.id, (changed) => {
    // null: changes may have been missed, so look again.
    if (changed === null || changed !== wait.version) wake();
  });
  const end = () => {
    over = true;
    wake();
  };
  const timer = clock.setTimeout(end, wait.timeoutMs);
  const { signal } = wait;
  signal?.addEventListener('abort', end, { once: true });
  try {
    let latest = await wait.read();
    while (wait.versionOf(latest) === wait.version && !over && !signal?.aborted) {
      await woken;
      woken = new Promise<void>((resolve) => (wake = resolve));
      if (!over) latest = await wait.read();
    }
    return over ? await wait.current() : latest;
  } finally {
    clock.clearTimeout(timer);
    signal?.removeEventListener('abort', end);
    unwatch();
  }
}
