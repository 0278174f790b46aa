// Owns: the in-process listener set behind Store.subscribe, shared by the adapters.
// Not here: carrying events between processes (the PostgreSQL adapter's LISTEN/NOTIFY).
// Invariant: a listener that throws never reaches the emitter and never stops the others.

import type { StoreEvent, StoreListener } from './store.ts';

export class ChangeFeed {
  #listeners = new Set<StoreListener>();
  #onListenerError: (err: unknown) => void;

  constructor(onListenerError: (err: unknown) => void = () => {}) {
    this.#onListenerError = onListenerError;
  }

  subscribe(listener: StoreListener): () => void {
    // A wrapper per subscription, so subscribing one function twice yields two independent subscriptions.
    const entry: StoreListener = (event) => listener(event);
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  emit(events: readonly StoreEvent[]): void {
    for (const event of events) {
      for (const listener of this.#listeners) {
        try {
          listener(event);
        } catch (err) {
          this.#onListenerError(err);
        }
      }
    }
  }
}
