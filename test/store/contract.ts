// Owns: the one Store contract suite every adapter runs (CONTRIBUTING "Tests"): runStoreContract.
// Not here: adapter specifics (test/store/<adapter>.test.ts); the cases themselves (contract-*.ts, by area).
// Invariant: adapter-neutral: only the Store interface is used, each test gets an empty, opened store, time passes via `now`.

import { afterEach, beforeEach, describe } from 'node:test';
import type { Store } from '../../src/store/store.ts';
import { operationQueueContract } from './contract-queue.ts';
import { queueStandingContract } from './contract-standing.ts';
import { operationLifecycleContract } from './contract-lifecycle.ts';
import { deliveryContract } from './contract-deliveries.ts';
import { maintenanceContract } from './contract-maintenance.ts';
import { outsideValuesContract } from './contract-outside-values.ts';

/** The store under test; valid inside an `it`. */
export type CurrentStore = () => Store;

/**
 * Runs the contract against stores made by `makeStore`: each call returns a store over an empty database,
 * not yet opened. The suite opens it, closes it after the test, then calls `cleanup` (drop a schema, remove files).
 */
export function runStoreContract(name: string, makeStore: () => Promise<Store>, cleanup?: (store: Store) => Promise<void>): void {
  describe(`Store contract: ${name}`, () => {
    let current: Store | null = null;
    const store: CurrentStore = () => {
      if (current === null) throw new Error('no store: used outside a test');
      return current;
    };
    beforeEach(async () => {
      current = await makeStore();
      await current.open();
    });
    afterEach(async () => {
      const done = current;
      current = null;
      if (done === null) return;
      await done.close();
      await cleanup?.(done);
    });
    operationQueueContract(store);
    queueStandingContract(store);
    operationLifecycleContract(store);
    deliveryContract(store);
    maintenanceContract(store);
    outsideValuesContract(store);
  });
}
