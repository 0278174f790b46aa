// Owns: a store read that the requests wanting it while it is under way share, each waiting for it at most a deadline.
// Not here: what is read (metrics.ts's gauges, health-routes.ts's ping).
// Invariant: however many requests come while a read is held (a table locked by a migration), one read per key is under
// way, holding one connection of the store's pool: each request gives up at its deadline, the read goes on.

import { systemClock, withDeadline } from '../domain/clock.ts';

/** `read(key, work)`: the read of `key` under way, or `work()` started as it; rejects once `withinMs` pass without it. */
export function sharedStoreReads(withinMs: number): <T>(key: string, work: () => Promise<T> | undefined) => Promise<T | undefined> {
  const underWay = new Map<string, Promise<unknown>>();
  return <T>(key: string, work: () => Promise<T> | undefined) => {
    let read = underWay.get(key) as Promise<T | undefined> | undefined;
    if (read === undefined) {
      read = Promise.resolve(work()).finally(() => underWay.delete(key));
      underWay.set(key, read);
    }
    return withDeadline(systemClock, read, withinMs, `the store did not answer within ${withinMs} ms`);
  };
}
