// Owns: helpers for tests that run a WorkerPool on a real SQLite store: open, start, submit, wait for the end.
// Invariant: every store and pool a helper starts is stopped after the test, pools before stores.

import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { newId, ID_PREFIXES } from '../../src/domain/ids.ts';
import { DEFAULT_TENANT, type Operation } from '../../src/domain/operation.ts';
import { TaskRegistry } from '../../src/runtime/registry.ts';
import type { TaskDefinition } from '../../src/runtime/task.ts';
import { WorkerPool, type WorkerPoolOptions } from '../../src/runtime/worker-pool.ts';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { OperationDraft, Store } from '../../src/store/store.ts';
import { waitFor } from './wait.ts';

export const noDelivery = (): null => null;

const started = new WeakMap<TestContext, { pools: WorkerPool[]; stores: Store[] }>();

// One after hook per test: hooks run in the order they were added, and pools must stop before stores close.
function resources(t: TestContext): { pools: WorkerPool[]; stores: Store[] } {
  let mine = started.get(t);
  if (mine === undefined) {
    const fresh = { pools: [] as WorkerPool[], stores: [] as Store[] };
    started.set(t, fresh);
    t.after(async () => {
      await Promise.all(fresh.pools.map((pool) => pool.stop({ graceMs: 0 })));
      await Promise.all(fresh.stores.map((store) => store.close()));
    });
    mine = fresh;
  }
  return mine;
}

export async function openStore(t: TestContext, path = ':memory:'): Promise<Store> {
  const store = createSqliteStore({ path });
  await store.open();
  resources(t).stores.push(store);
  return store;
}

export function startPool(t: TestContext, store: Store, tasks: readonly TaskDefinition[], options: Partial<WorkerPoolOptions> = {}): WorkerPool {
  const pool = new WorkerPool({
    store,
    registry: new TaskRegistry(tasks),
    logger: pino({ level: 'silent' }),
    workerId: 'w1',
    deliveryFactory: noDelivery,
    retryBackoff: { baseMs: 5, maxMs: 20, factor: 2 },
    pollMs: 1_000,
    ...options,
  });
  resources(t).pools.push(pool);
  void pool.start();
  return pool;
}

export async function submit(store: Store, type: string, input: unknown = {}, overrides: Partial<OperationDraft> = {}, now = Date.now()): Promise<Operation> {
  const inserted = await store.operationInsert({
    id: newId(ID_PREFIXES.operation, now),
    tenant: DEFAULT_TENANT,
    type,
    input,
    maxAttempts: 3,
    priority: 0,
    timeoutS: 60,
    runAt: now,
    webhookUrl: null,
    now,
    ...overrides,
  });
  assert.equal(inserted.kind, 'created');
  return inserted.operation;
}

export async function settled(store: Store, id: string, timeoutMs = 5_000): Promise<Operation> {
  return waitFor(
    async () => {
      const op = await store.operationGetById(id);
      return op !== null && ['completed', 'failed', 'cancelled'].includes(op.status) ? op : null;
    },
    { timeoutMs, what: `operation ${id} to end` },
  );
}
