// Owns: the operations service's use of the change feed: status reads served again until a change drops them, and
// long-polls that look again (rather than answer) when the feed says it may have missed changes.
// Invariant: a real SQLite file store; a second store on the same file makes changes this service's feed never hears.

import { describe, it, type TestContext } from 'node:test';
import type { Clock } from '../../src/domain/clock.ts';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OperationsService, DEFAULT_SERVICE_LIMITS } from '../../src/runtime/operations.ts';
import { TaskRegistry } from '../../src/runtime/registry.ts';
import { defineTask } from '../../src/runtime/task.ts';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { DEFAULT_TENANT } from '../../src/domain/operation.ts';
import { AsyncOpsError } from '../../src/domain/errors.ts';
import type { Store, StoreListener } from '../../src/store/store.ts';
import { mockTime } from '../support/mock-time.ts';
import { noDelivery, openStore } from '../support/worker-pool.ts';

/** One turn of the event loop: the SQLite store answers reads at once, so whatever a wake-up leads to has happened by then. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The store, with a way to say on its change feed what a PostgreSQL store says after a lost LISTEN connection. */
function withFeedControl(store: Store): { store: Store; resume: () => void } {
  const listeners: StoreListener[] = [];
  const wrapped = new Proxy(store, {
    get(target, key) {
      if (key === 'subscribe') {
        return (listener: StoreListener) => {
          listeners.push(listener);
          return target.subscribe(listener);
        };
      }
      const value: unknown = Reflect.get(target, key);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return {
    store: wrapped,
    resume: () => {
      for (const listener of listeners) listener({ kind: 'feed:resumed' });
    },
  };
}

/** A started service of one task type, `job`, on `store`; stopped after the test. */
function startService(t: TestContext, store: Store, clock: Clock, readCacheMs: number): OperationsService {
  const service = new OperationsService({
    store,
    registry: new TaskRegistry([defineTask({ type: 'job', run: () => null })]),
    clock,
    checkWebhookUrl: () => null,
    deliveryFactory: noDelivery,
    workerConcurrency: 4,
    limits: DEFAULT_SERVICE_LIMITS,
    readCacheMs,
  });
  service.start();
  t.after(() => service.stop());
  return service;
}

describe('OperationsService and the change feed', () => {
  it('serves a read again until the feed resumes, then reads changes it never heard of; a long-poll woken by the resume waits on', async (t) => {
    const time = mockTime(t);
    const dir = await mkdtemp(join(tmpdir(), 'asyncops-service-'));
    const mine = createSqliteStore({ path: join(dir, 'db.sqlite') });
    const other = createSqliteStore({ path: join(dir, 'db.sqlite') });
    await mine.open();
    await other.open();
    t.after(async () => {
      await mine.close();
      await other.close();
      await rm(dir, { recursive: true, force: true });
    });
    const feed = withFeedControl(mine);
    const service = startService(t, feed.store, time.clock, 60_000);
    const { view } = await service.submit({ tenant: DEFAULT_TENANT, type: 'job', input: {} });
    const id = view.operation.id;
    assert.equal((await service.get(DEFAULT_TENANT, id)).operation.status, 'pending');

    const waiting = service.waitForChange(DEFAULT_TENANT, id, view.operation.version, 5_000);
    let answered = false;
    void waiting.then(() => (answered = true));
    // Another node cancels it; this service's feed never hears of it.
    await other.operationCancel({ id, tenant: DEFAULT_TENANT, now: Date.now(), delivery: noDelivery });
    assert.equal((await service.get(DEFAULT_TENANT, id)).operation.status, 'pending', 'the cached read, as nothing said otherwise');
    // A fresh read (an event stream resumed from a later version) goes to the store past the cache.
    assert.equal((await service.get(DEFAULT_TENANT, id, { fresh: true })).operation.status, 'cancelled');
    // Time passes, to just short of the long-poll's end, and nothing this service heard of changed.
    time.tick(4_999);
    await nextTurn();
    assert.equal(answered, false);

    feed.resume();
    const woken = await waiting;
    assert.equal(woken.operation.status, 'cancelled', 'the long-poll looked again and found the change');
    assert.equal((await service.get(DEFAULT_TENANT, id)).operation.status, 'cancelled', 'the cache let go of every read');

    // Woken by a resume with nothing changed, a long-poll keeps waiting.
    const current = (await service.get(DEFAULT_TENANT, id)).operation.version;
    const askedAt = Date.now();
    let answeredAt = NaN;
    const quiet = service.waitForChange(DEFAULT_TENANT, id, current, 300).then((view) => {
      answeredAt = Date.now();
      return view;
    });
    feed.resume();
    await nextTurn();
    time.tick(300);
    const after = await quiet;
    assert.equal(after.operation.version, current);
    assert.equal(answeredAt - askedAt, 300, 'it answered at its timeout, not at the resume');
  });

  it('a long-poll held on an operation deleted through this service answers not_found then, with no time passing', async (t) => {
    const time = mockTime(t);
    const store = await openStore(t);
    const service = startService(t, store, time.clock, 60_000);
    const { view } = await service.submit({ tenant: DEFAULT_TENANT, type: 'job', input: {} });
    const ended = await service.cancel(DEFAULT_TENANT, view.operation.id);
    const waiting = service.waitForChange(DEFAULT_TENANT, view.operation.id, ended.operation.version, 20_000);
    await service.delete(DEFAULT_TENANT, view.operation.id);
    // The mock clock never moves: only the delete can have ended the wait.
    await assert.rejects(waiting, (error: Error & { code?: string }) => error.code === 'not_found');
  });

  it('long-polls one change wakes read the store once between them, with the read cache off too', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'asyncops-service-'));
    const store = createSqliteStore({ path: join(dir, 'db.sqlite') });
    await store.open();
    t.after(async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    });
    let reads = 0;
    const counting = new Proxy(store, {
      get(target, name) {
        if (name === 'operationGetWithStanding') {
          return (params: Parameters<Store['operationGetWithStanding']>[0]) => {
            reads++;
            return target.operationGetWithStanding(params);
          };
        }
        const value: unknown = Reflect.get(target, name, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const service = startService(t, counting, { now: () => Date.now() }, 0);
    const { view } = await service.submit({ tenant: DEFAULT_TENANT, type: 'job', input: {} });
    const id = view.operation.id;
    const polls = Array.from({ length: 50 }, () => service.waitForChange(DEFAULT_TENANT, id, view.operation.version, 10_000));
    await nextTurn();
    reads = 0;
    await service.cancel(DEFAULT_TENANT, id);
    const woken = await Promise.all(polls);
    assert.ok(woken.every((v) => v.operation.status === 'cancelled'));
    assert.ok(reads <= 2, `50 long-polls woken by one change read the store ${reads} times`);
  });
});

describe('OperationsService: the ETA of an attempt whose worker is gone', () => {
  it('ends at its lease lapse and a run after it, where a live worker’s attempt ends as its run does', async (t) => {
    const time = mockTime(t);
    const store = await openStore(t);
    const service = new OperationsService({
      store,
      registry: new TaskRegistry([defineTask({ type: 'job', estimatedDurationS: 2, run: () => null })]),
      clock: time.clock,
      checkWebhookUrl: () => null,
      deliveryFactory: noDelivery,
      workerConcurrency: 4,
      limits: DEFAULT_SERVICE_LIMITS,
      readCacheMs: 0,
    });
    service.start();
    t.after(() => service.stop());
    const leaseMs = 30_000;
    const claimBy = async (workerId: string) => {
      const { view } = await service.submit({ tenant: DEFAULT_TENANT, type: 'job', input: {} });
      const [claimed] = await store.operationClaimDue({ now: Date.now(), workerId, leaseMs, types: [{ type: 'job', limit: 1 }], limit: 1 });
      assert.equal(claimed?.id, view.operation.id);
      return claimed!;
    };
    // One node announces itself; the other ('gone') claimed and then went silent (killed).
    await store.workerNodeBeat({ node: { id: 'alive', concurrency: 4, typeLimits: { job: 4 }, seenAt: Date.now() }, forgetBefore: 0 });
    const live = await claimBy('alive');
    const orphan = await claimBy('gone');
    // The nodes are read again (at most once a second): after both claims.
    time.tick(1_500);
    await store.workerNodeBeat({ node: { id: 'alive', concurrency: 4, typeLimits: { job: 4 }, seenAt: Date.now() }, forgetBefore: 0 });
    const ofLive = (await service.get(DEFAULT_TENANT, live.id)).estimatedCompletionAt!;
    assert.ok(ofLive - live.startedAt! <= 2_500, `the live worker's: ${ofLive - live.startedAt!} ms after its start`);
    const ofOrphan = (await service.get(DEFAULT_TENANT, orphan.id)).estimatedCompletionAt!;
    assert.ok(ofOrphan >= orphan.leaseExpiresAt! + 1_000, `the orphan's: ${ofOrphan - orphan.leaseExpiresAt!} ms after its lease lapses`);
  });
});

describe('OperationsService: a store that stops answering once a submit is stored', () => {
  it('answers the submit with the operation stored, without a position or an ETA, not the store failure', async (t) => {
    const time = mockTime(t);
    const real = await openStore(t);
    // The standing read that follows an insert with a key fails, as a PostgreSQL connection cut just then does.
    const store = new Proxy(real, {
      get(target, key) {
        if (key === 'operationQueueStanding') return () => Promise.reject(new AsyncOpsError('store_unavailable', 'PostgreSQL unavailable: read ECONNRESET'));
        const value: unknown = Reflect.get(target, key);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const service = startService(t, store, time.clock, 0);
    const { view, created } = await service.submit({ tenant: DEFAULT_TENANT, type: 'job', input: {}, idempotencyKey: 'once' });
    assert.equal(created, true);
    assert.equal(view.resource.queue_position, null);
    assert.equal(view.resource.estimated_completion_at, null);
    assert.equal((await real.operationGetById(view.operation.id))?.status, 'pending', 'stored, as the reply says');
  });
});

describe('OperationsService: the ETA of a rate-limited type', () => {
  it('counts the tokens taken since its bucket was last read: a start does not move the others a token interval early', async (t) => {
    const store = await openStore(t);
    let time = Date.now();
    const clock = { now: () => time };
    const rateLimit = { limit: 2, intervalS: 1 };
    const service = new OperationsService({
      store,
      registry: new TaskRegistry([defineTask({ type: 'paced', rateLimit, estimatedDurationS: 0.1, run: () => null })]),
      clock,
      checkWebhookUrl: () => null,
      deliveryFactory: noDelivery,
      workerConcurrency: 8,
      limits: DEFAULT_SERVICE_LIMITS,
      readCacheMs: 0,
    });
    service.start();
    t.after(() => service.stop());
    const ids: string[] = [];
    // A millisecond apart: ids of one millisecond are in no set order, and the claim takes them by id.
    for (let i = 0; i < 10; i++, time++) ids.push((await service.submit({ tenant: DEFAULT_TENANT, type: 'paced', input: {} })).view.operation.id);
    const last = ids.at(-1)!;
    const claim = () => store.operationClaimDue({ now: time, workerId: 'w', leaseMs: 60_000, types: [{ type: 'paced', limit: 10, rateLimit }], limit: 10 });
    // The bucket's two tokens, then one every 500 ms: the tenth starts 4 s on.
    assert.equal((await claim()).length, 2);
    // (the buckets as the submits read them are kept for up to 100 ms)
    time += 100;
    const promised = (await service.get(DEFAULT_TENANT, last)).estimatedCompletionAt!;
    for (const step of [600, 500, 500]) {
      time += step;
      assert.equal((await claim()).length, 1, 'a token came, and a start took it');
      const now = (await service.get(DEFAULT_TENANT, last)).estimatedCompletionAt!;
      assert.ok(Math.abs(now - promised) < 150, `${step} ms on, it ends ${now - promised} ms from what it was promised`);
    }
  });
});

describe('OperationsService: reads past the cache', () => {
  it('share the read that begins once the one under way ends: a storm of them costs a read at a time', async (t) => {
    const base = await openStore(t);
    let reads = 0;
    const store = new Proxy(base, {
      get(target, key) {
        const value: unknown = Reflect.get(target, key);
        if (key !== 'operationGetWithStanding' || typeof value !== 'function') return typeof value === 'function' ? value.bind(target) : value;
        return async (...args: unknown[]) => {
          reads++;
          // A slow store: the reads asked for meanwhile find one under way.
          await new Promise((resolve) => setTimeout(resolve, 50));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const service = startService(t, store, { now: () => Date.now() }, 60_000);
    const { view } = await service.submit({ tenant: DEFAULT_TENANT, type: 'job', input: {} });
    reads = 0;
    const views = await Promise.all(Array.from({ length: 30 }, () => service.get(DEFAULT_TENANT, view.operation.id, { fresh: true })));
    assert.ok(views.every((v) => v.operation.id === view.operation.id));
    assert.ok(reads <= 2, `${reads} reads of the store for 30 asked for at once`);
    // One asked for while a read is under way does not take that read: it waits for the next.
    reads = 0;
    const first = service.get(DEFAULT_TENANT, view.operation.id, { fresh: true });
    await new Promise((resolve) => setTimeout(resolve, 10));
    const second = service.get(DEFAULT_TENANT, view.operation.id, { fresh: true });
    await Promise.all([first, second]);
    assert.equal(reads, 2, 'the second read began after the second was asked for');
  });
});
