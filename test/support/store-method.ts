// Owns: a store with one of its methods replaced, for unit tests that make a store fail, wait or count at one call.
// Not here: the stores themselves (src/store), which end-to-end tests use as they are.
// Invariant: every other member is the store's own, its methods called on the store (adapters keep #private state).

import type { Store } from '../../src/store/store.ts';

/** `store` with `key` answered by `replace(the store's own method, bound)`; everything else is the store's. */
export function withStoreMethod<S extends Store, K extends keyof Store>(store: S, key: K, replace: (own: Store[K]) => Store[K]): S {
  const replaced = replace((store[key] as (...args: unknown[]) => unknown).bind(store) as Store[K]);
  return new Proxy(store, {
    get(target, name) {
      if (name === key) return replaced;
      const value: unknown = Reflect.get(target, name);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
