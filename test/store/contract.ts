// Owns: the one Store contract suite every adapter runs (CONTRIBUTING "Tests"): runStoreContract, and the checks made
// after every case (each change a store announced is a transition the domain allows: announced-changes.ts).
// Not here: adapter specifics (test/store/<adapter>.test.ts); the cases themselves (contract-*.ts, by area).
// Invariant: adapter-neutral: only the Store interface is used (and the adapter's probes), each test gets an empty,
// opened store, time passes via `now`.

import { afterEach, beforeEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { Store } from '../../src/store/store.ts';
import { AnnouncedChanges } from './announced-changes.ts';
import { operationQueueContract } from './contract-queue.ts';
import { queueStandingContract } from './contract-standing.ts';
import { operationLifecycleContract } from './contract-lifecycle.ts';
import { deliveryContract } from './contract-deliveries.ts';
import { maintenanceContract } from './contract-maintenance.ts';
import { outsideValuesContract } from './contract-outside-values.ts';
import { scheduleContract } from './contract-schedules.ts';
import { rateLimitContract } from './contract-rate-limits.ts';
import { fairnessContract } from './contract-fairness.ts';
import { operatorReadsContract } from './contract-operator-reads.ts';
import { bulkActionContract } from './contract-bulk-actions.ts';
import { historyContract } from './contract-history.ts';

/** The store under test; valid inside an `it`. */
export type CurrentStore = () => Store;

/** What the contract needs of an adapter beyond the Store interface. */
export interface Adapter {
  /** Makes a store over an empty database, not yet opened. */
  readonly makeStore: () => Promise<Store>;
  /** Runs after the store is closed (drop a schema, remove files). */
  readonly cleanup?: ((store: Store) => Promise<void>) | undefined;
  /** The pending counts per type as the adapter keeps them (its queue_depth), types with none left out. */
  readonly pendingCounts: (store: Store) => Promise<Map<string, number>>;
  /** The concurrency keys whose turn the adapter keeps (its fair_keys rows), sorted. */
  readonly fairKeys: (store: Store) => Promise<string[]>;
}

/** The contract's parts, by area; each adds its cases to the suite it is called in. */
const PARTS = {
  queue: (store: CurrentStore) => operationQueueContract(store),
  standing: (store: CurrentStore, adapter: Adapter) => queueStandingContract(store, (s) => adapter.pendingCounts(s)),
  lifecycle: (store: CurrentStore) => operationLifecycleContract(store),
  deliveries: (store: CurrentStore) => deliveryContract(store),
  maintenance: (store: CurrentStore, adapter: Adapter) => maintenanceContract(store, (s) => adapter.fairKeys(s)),
  outsideValues: (store: CurrentStore) => outsideValuesContract(store),
  fairness: (store: CurrentStore) => fairnessContract(store),
  operatorReads: (store: CurrentStore) => operatorReadsContract(store),
  schedules: (store: CurrentStore, adapter: Adapter) => scheduleContract(store, (s) => adapter.pendingCounts(s)),
  rateLimits: (store: CurrentStore) => rateLimitContract(store),
  history: (store: CurrentStore) => historyContract(store),
  bulkActions: (store: CurrentStore, adapter: Adapter) => bulkActionContract(store, (s) => adapter.pendingCounts(s)),
} satisfies Record<string, (store: CurrentStore, adapter: Adapter) => void>;

export type ContractPart = keyof typeof PARTS;

/**
 * Runs the contract (or only the parts named) against stores the adapter makes. The suite opens each, watches what it
 * announces, closes it after the test, then calls `cleanup`.
 */
export function runStoreContract(name: string, adapter: Adapter, parts: readonly ContractPart[] = Object.keys(PARTS) as ContractPart[]): void {
  describe(`Store contract: ${name}`, () => {
    let current: Store | null = null;
    let announced: AnnouncedChanges | null = null;
    const store: CurrentStore = () => {
      if (current === null) throw new Error('no store: used outside a test');
      return current;
    };
    beforeEach(async () => {
      current = await adapter.makeStore();
      await current.open();
      announced = new AnnouncedChanges(current);
    });
    afterEach(async () => {
      const done = current;
      current = null;
      const broken = announced?.stop() ?? [];
      announced = null;
      if (done === null) return;
      await done.close();
      await adapter.cleanup?.(done);
      assert.deepEqual(broken, [], 'every change a store announces is a transition of the lifecycle table (domain/status.ts)');
    });
    for (const part of parts) PARTS[part](store, adapter);
  });
}
