import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, createServer, type AddressInfo } from 'node:net';
import { pino } from 'pino';
import { AsyncOpsError, PermanentError } from '../../src/domain/errors.ts';
import { systemClock, type Clock, type TimerClock } from '../../src/domain/clock.ts';
import { AttemptAbortedError, PROGRESS_INTERVAL_MS, type AttemptEnd } from '../../src/runtime/attempt.ts';
import { TaskRegistry } from '../../src/runtime/registry.ts';
import { defineTask, type TaskContext } from '../../src/runtime/task.ts';
import { WorkerPool } from '../../src/runtime/worker-pool.ts';
import { DEFAULT_TENANT, PROGRESS_MESSAGE_MAX } from '../../src/domain/operation.ts';
import type { Store } from '../../src/store/store.ts';
import type { Operation } from '../../src/domain/operation.ts';
import { mockTime } from '../support/mock-time.ts';
import { withStoreMethod } from '../support/store-method.ts';
import { waitFor } from '../support/wait.ts';
import { noDelivery, openStore, settled, startPool, submit } from '../support/worker-pool.ts';

const silent = pino({ level: 'silent' });

function finishedEvents(pool: WorkerPool): AttemptEnd[] {
  const ends: AttemptEnd[] = [];
  pool.on('operation:finished', (end) => ends.push(end));
  return ends;
}

/** A promise the test resolves by hand, for handlers (and store calls) that must wait on the test. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => {};
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** One turn of the event loop: a handler's work, long enough for the others claimed with it to start. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

/**
 * Counts the claims a pool makes of the real store (the types each asked for), and can hold the next one after it has
 * read the store, until a gate opens: a claim in flight, for the test to act during.
 */
function countClaims(store: Store): { returned: number; types: string[][]; held: boolean; holdNext: (until: Promise<void>) => void } {
  const claim = store.operationClaimDue.bind(store);
  let hold: Promise<void> | null = null;
  const counts = {
    returned: 0,
    types: [] as string[][],
    held: false,
    holdNext: (until: Promise<void>) => (hold = until),
  };
  store.operationClaimDue = async (params) => {
    const claimed = await claim(params);
    const until = hold;
    hold = null;
    if (until !== null) {
      counts.held = true;
      await until;
    }
    counts.returned += 1;
    counts.types.push(params.types.map((t) => t.type));
    return claimed;
  };
  return counts;
}

describe('WorkerPool', () => {
  it('runs a claimed operation and stores its result as completed', async (t) => {
    const store = await openStore(t);
    const pool = startPool(t, store, [defineTask({ type: 'echo', run: (input: { n: number }, ctx) => ({ n: input.n, attempt: ctx.attempt }) })]);
    const claimed: string[] = [];
    pool.on('operation:claimed', (op) => claimed.push(op.id));
    const op = await submit(store, 'echo', { n: 7 });
    const done = await settled(store, op.id);
    assert.equal(done.status, 'completed');
    assert.equal(done.attempt, 1);
    assert.deepEqual(claimed, [op.id]);
    const result = await store.resultGet({ id: op.id, tenant: DEFAULT_TENANT });
    assert.equal(result?.contentType, 'application/json');
    assert.deepEqual(JSON.parse(String(result?.body)), { n: 7, attempt: 1 });
    await waitFor(() => pool.runningCount() === 0, { what: 'the slot to free' });
    assert.equal(pool.stats().ended.completed, 1);
  });

  /**
   * `real`, whose first `resets` writes of an attempt's end meet a connection reset, as a PostgreSQL pool's connection
   * terminated under it: before the write (`stored: false`) or after it committed, its answer lost (`stored: true`).
   */
  function resettingFinishes(real: Store, resets: number, stored: boolean): { store: Store; finishes: () => number } {
    let finishes = 0;
    const store = withStoreMethod(real, 'operationFinish', (finish) => async (...args) => {
      finishes++;
      const reset = finishes <= resets;
      if (reset && !stored) throw new AsyncOpsError('store_unavailable', 'PostgreSQL unavailable: terminating connection due to administrator command');
      const operation = await finish(...args);
      if (reset) throw new AsyncOpsError('store_unavailable', 'PostgreSQL unavailable: Connection terminated unexpectedly');
      return operation;
    });
    return { store, finishes: () => finishes };
  }

  it('stores an end the store could not be reached for at first (a connection reset): tried again, not lost to lease recovery', async (t) => {
    const real = await openStore(t);
    const { store, finishes } = resettingFinishes(real, 2, false);
    const pool = startPool(t, store, [defineTask({ type: 'echo', maxAttempts: 1, run: () => ({ ok: true }) })]);
    const op = await submit(real, 'echo');
    const done = await settled(real, op.id);
    assert.equal(done.status, 'completed', 'its one attempt is not lost, nor failed as lease_expired');
    assert.equal(done.attempt, 1);
    assert.equal(finishes(), 3);
    await waitFor(() => pool.stats().ended.completed === 1, { what: 'the end counted as completed' });
    assert.equal(pool.stats().ended.lost ?? 0, 0);
  });

  it('a stop after its grace waits for an end still being tried again, so the result is stored, not left to lease recovery', async (t) => {
    const real = await openStore(t);
    const { store, finishes } = resettingFinishes(real, 2, false);
    const pool = startPool(t, store, [defineTask({ type: 'echo', maxAttempts: 1, run: () => ({ ok: true }) })]);
    const op = await submit(real, 'echo');
    await waitFor(() => finishes() >= 1, { what: 'the first try of the end' });
    await pool.stop({ graceMs: 10 });
    assert.equal((await real.operationGetById(op.id))?.status, 'completed', 'stored before the stop returned');
  });

  it('an end whose first try was stored, only its answer lost, counts as the end it is, not as lost', async (t) => {
    const real = await openStore(t);
    const { store, finishes } = resettingFinishes(real, 1, true);
    const pool = startPool(t, store, [defineTask({ type: 'echo', run: () => ({ ok: true }) })]);
    const op = await submit(real, 'echo');
    assert.equal((await settled(real, op.id)).status, 'completed');
    await waitFor(() => (pool.stats().ended.completed ?? 0) + (pool.stats().ended.lost ?? 0) === 1, { what: 'the end counted' });
    assert.deepEqual([pool.stats().ended.completed, pool.stats().ended.lost ?? 0], [1, 0]);
    assert.equal(finishes(), 2);
  });

  it('retries a throwing handler with backoff, then fails it with handler_error after max_attempts', async (t) => {
    const store = await openStore(t);
    const attempts: number[] = [];
    const pool = startPool(t, store, [
      defineTask({
        type: 'flaky',
        run(_input, ctx) {
          attempts.push(ctx.attempt);
          throw new Error(`boom ${ctx.attempt}`);
        },
      }),
    ]);
    const ends = finishedEvents(pool);
    const op = await submit(store, 'flaky', {}, { maxAttempts: 3 });
    const done = await settled(store, op.id);
    assert.equal(done.status, 'failed');
    assert.equal(done.attempt, 3);
    assert.deepEqual(done.error, { code: 'handler_error', message: 'boom 3' });
    assert.deepEqual(attempts, [1, 2, 3]);
    assert.deepEqual(
      ends.map((e) => e.outcome),
      ['retried', 'retried', 'failed'],
    );
  });

  it('fails at once, with its code, when the handler throws a PermanentError', async (t) => {
    const store = await openStore(t);
    let calls = 0;
    startPool(t, store, [
      defineTask({
        type: 'strict',
        run() {
          calls += 1;
          throw new PermanentError('input makes no sense', 'bad_input');
        },
      }),
    ]);
    const op = await submit(store, 'strict', {}, { maxAttempts: 5 });
    const done = await settled(store, op.id);
    assert.equal(done.status, 'failed');
    assert.equal(done.attempt, 1);
    assert.deepEqual(done.error, { code: 'bad_input', message: 'input makes no sense' });
    assert.equal(calls, 1);
  });

  it('stores what a handler in JavaScript gives that is not text as text: a code, a message, a progress message', async (t) => {
    const store = await openStore(t);
    startPool(t, store, [
      defineTask<{ code: unknown }>({
        type: 'odd_code',
        run(input) {
          throw new PermanentError('nope', input.code as string);
        },
      }),
      defineTask({
        type: 'odd_message',
        run() {
          const error = new Error('x');
          (error as unknown as { message: unknown }).message = 42;
          throw error;
        },
      }),
      defineTask({
        type: 'odd_progress',
        async run(_input, ctx) {
          ctx.progress(0.5, { step: 1 } as unknown as string);
          await nextTurn();
          return { done: true };
        },
      }),
      defineTask({
        type: 'long_progress',
        async run(_input, ctx) {
          ctx.progress(0.5, 'm'.repeat(5_000_000));
          await nextTurn();
        },
      }),
    ]);
    const numeric = await settled(store, (await submit(store, 'odd_code', { code: 5 }, { maxAttempts: 3 })).id);
    assert.deepEqual([numeric.status, numeric.attempt, numeric.error], ['failed', 1, { code: '5', message: 'nope' }]);
    const empty = await settled(store, (await submit(store, 'odd_code', { code: '' }, { maxAttempts: 3 })).id);
    assert.deepEqual([empty.status, empty.attempt, empty.error?.code], ['failed', 1, 'handler_error']);
    const message = await settled(store, (await submit(store, 'odd_message', {}, { maxAttempts: 1 })).id);
    assert.deepEqual(message.error, { code: 'handler_error', message: '42' });
    const progress = await settled(store, (await submit(store, 'odd_progress', {})).id);
    assert.deepEqual([progress.status, progress.progressMessage], ['completed', '[object Object]']);
    // Every read, list page, event and milestone carries it: kept to a line of status.
    const long = await settled(store, (await submit(store, 'long_progress', {})).id);
    assert.equal(long.progressMessage?.length, PROGRESS_MESSAGE_MAX);
    assert.ok(long.progressMessage?.endsWith('m…'));
  });

  it('ends an attempt whatever its handler threw, even a value whose message or code cannot be read, and its slot is free again', async (t) => {
    const store = await openStore(t);
    const cyclic = Object.create(null) as Record<string, unknown>;
    cyclic['self'] = cyclic;
    const thrown: Record<string, () => unknown> = {
      message_getter: () => {
        const error = new Error('x');
        Object.defineProperty(error, 'message', {
          get() {
            throw new Error('no message for you');
          },
        });
        return error;
      },
      code_getter: () => {
        const error = new PermanentError('stop', 'first');
        Object.defineProperty(error, 'code', {
          get() {
            throw new Error('no code for you');
          },
        });
        return error;
      },
      cyclic_no_prototype: () => cyclic,
      symbol: () => Symbol('odd'),
    };
    // One slot: an attempt that never ended would hold it, and the next would never start.
    startPool(t, store, [defineTask<{ kind: string }>({ type: 'odd_throw', run: (input) => Promise.reject(thrown[input.kind]!()) })], { concurrency: 1 });
    const expected: Record<string, [string, RegExp]> = {
      message_getter: ['handler_error', /^the handler threw an error whose message could not be read$/],
      code_getter: ['handler_error', /^stop$/],
      cyclic_no_prototype: ['handler_error', /^non-error thrown: \[object Object\]$/],
      symbol: ['handler_error', /^non-error thrown: Symbol\(odd\)$/],
    };
    for (const [kind, [code, message]] of Object.entries(expected)) {
      const ended = await settled(store, (await submit(store, 'odd_throw', { kind }, { maxAttempts: 1 })).id);
      assert.deepEqual([ended.status, ended.error?.code], ['failed', code], kind);
      assert.match(ended.error?.message ?? '', message, kind);
    }
  });

  it('times an attempt out by how long it ran, whatever a step of the wall clock says (NTP, a VM resumed)', async (t) => {
    const store = await openStore(t);
    // The wall clock as the test steps it; the monotonic line and the timers stay the system's.
    let step = 0;
    const clock: TimerClock = { ...systemClock, now: () => Date.now() + step, monotonicNow: () => performance.now() };
    let stepped = () => {};
    startPool(
      t,
      store,
      [
        defineTask<{ ms: number }>({
          type: 'nap',
          run: async (input, ctx) => {
            stepped();
            await sleep(input.ms, undefined, { signal: ctx.signal }).catch(() => {});
            return { napped: input.ms };
          },
        }),
      ],
      { clock },
    );
    // Ahead by two hours while a 300 ms run with a 1 s timeout runs: it completes (it failed timeout, its result lost).
    stepped = () => {
      step = 2 * 3_600_000;
    };
    const ahead = await settled(store, (await submit(store, 'nap', { ms: 300 }, { timeoutS: 1, maxAttempts: 1 })).id);
    assert.deepEqual([ahead.status, ahead.error?.code], ['completed', undefined]);
    // Back by half an hour while a 6 s run with a 1 s timeout runs: it times out after about 1 s (no timeout fired).
    stepped = () => {
      step = -30 * 60_000;
    };
    const asked = performance.now();
    const behind = await settled(store, (await submit(store, 'nap', { ms: 6_000 }, { timeoutS: 1, maxAttempts: 1 }, Date.now() - 30 * 60_000)).id, 10_000);
    assert.deepEqual([behind.status, behind.error?.code], ['failed', 'timeout']);
    assert.ok(performance.now() - asked < 4_000, `ended ${Math.round(performance.now() - asked)} ms after it was submitted`);
  });

  it('a handler that holds the event loop past its deadline times out all the same, and what it returns is discarded', async (t) => {
    const store = await openStore(t);
    startPool(t, store, [
      defineTask({
        type: 'spin',
        run() {
          const end = Date.now() + 1_300;
          while (Date.now() < end) {
            // A synchronous loop: no timer can fire until it returns.
          }
          return { spun: true };
        },
      }),
    ]);
    const done = await settled(store, (await submit(store, 'spin', {}, { timeoutS: 1, maxAttempts: 1 })).id);
    assert.equal(done.status, 'failed');
    assert.equal(done.error?.code, 'timeout');
    assert.equal(await store.resultGet({ id: done.id, tenant: done.tenant }), null, 'no result stored');
  });

  it('recognises a PermanentError from another copy of the package (a task importing dist/ while the server runs src/)', async (t) => {
    // A second instance of the module, as a task module's `import { PermanentError } from 'asyncops'` loads from dist/.
    const other = (await import(`../../src/domain/errors.ts?copy=${Date.now()}`)) as typeof import('../../src/domain/errors.ts');
    assert.notEqual(other.PermanentError, PermanentError, 'another class');
    const store = await openStore(t);
    startPool(t, store, [
      defineTask({
        type: 'strict-copy',
        run() {
          throw new other.PermanentError('no such image', 'not_found');
        },
      }),
    ]);
    const op = await submit(store, 'strict-copy', {}, { maxAttempts: 5 });
    const done = await settled(store, op.id);
    assert.deepEqual([done.status, done.attempt, done.error], ['failed', 1, { code: 'not_found', message: 'no such image' }]);
  });

  it('fails a timed-out attempt at its deadline though the handler ignores its signal, and discards its late result', async (t) => {
    const time = mockTime(t);
    const store = await openStore(t);
    const release = gate();
    let signal: AbortSignal | null = null;
    let returned = false;
    const pool = startPool(
      t,
      store,
      [
        defineTask({
          type: 'stubborn',
          async run(_input, ctx) {
            signal = ctx.signal;
            await release.promise;
            returned = true;
            return 'late';
          },
        }),
      ],
      { clock: time.clock },
    );
    t.after(() => release.open());
    const op = await submit(store, 'stubborn', {}, { timeoutS: 1, maxAttempts: 3 });
    // The deadline is set as the handler starts.
    await waitFor(() => signal !== null, { what: 'the handler to start' });
    time.tick(999);
    assert.equal((await store.operationGetById(op.id))?.status, 'processing', 'not before its deadline');
    time.tick(1);
    const done = await settled(store, op.id);
    assert.equal(done.status, 'failed');
    assert.equal(done.error?.code, 'timeout');
    assert.equal(done.attempt, 1, 'a timeout is not retried unless the type says so');
    assert.equal((done.finishedAt ?? 0) - (done.startedAt ?? 0), 1_000, 'ended at its deadline, with no more time passing');
    assert.ok(signal !== null && (signal as AbortSignal).aborted);
    const reason: unknown = (signal as AbortSignal | null)?.reason;
    assert.ok(reason instanceof AttemptAbortedError && reason.code === 'timeout');
    assert.equal(pool.stats().running, 1, 'the slot stays taken while the handler still runs');
    assert.equal(pool.stats().abandoned, 1);

    release.open();
    await waitFor(() => returned && pool.stats().abandoned === 0, { what: 'the late handler to return' });
    assert.equal(pool.stats().running, 0, 'and frees when it returns');
    const after = await store.operationGetById(op.id);
    assert.equal(after?.status, 'failed');
    assert.equal(after?.version, done.version, 'the late return changed nothing');
    assert.equal(await store.resultGet({ id: op.id, tenant: DEFAULT_TENANT }), null);
  });

  it("a handler given up on that ignores its signal keeps its type's slot until it returns: the limit counts what runs", async (t) => {
    const store = await openStore(t);
    const release = gate();
    let running = 0;
    let mostAtOnce = 0;
    startPool(t, store, [
      defineTask({
        type: 'stubborn',
        concurrency: 1,
        async run() {
          running += 1;
          mostAtOnce = Math.max(mostAtOnce, running);
          try {
            await release.promise;
          } finally {
            running -= 1;
          }
        },
      }),
    ]);
    t.after(() => release.open());
    const first = await submit(store, 'stubborn', {}, { maxAttempts: 1 });
    await waitFor(async () => (await store.operationGetById(first.id))?.status === 'processing', { what: 'the first to start' });
    const second = await submit(store, 'stubborn', {}, { maxAttempts: 1 });
    assert.equal((await store.operationCancel({ id: first.id, tenant: DEFAULT_TENANT, now: Date.now(), delivery: noDelivery })).kind, 'requested');
    assert.equal((await settled(store, first.id)).status, 'cancelled');
    // Time for a claim the freed slot would have made.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal((await store.operationGetById(second.id))?.status, 'pending', 'the cancelled handler still runs: no slot for the next');
    release.open();
    assert.equal((await settled(store, second.id)).status, 'completed');
    assert.equal(mostAtOnce, 1);
  });

  it('retries a timed-out attempt when the type has retryOnTimeout', async (t) => {
    const time = mockTime(t);
    const store = await openStore(t);
    let started = 0;
    startPool(
      t,
      store,
      [
        defineTask({
          type: 'slow-once',
          retryOnTimeout: true,
          async run(_input, ctx) {
            started += 1;
            if (ctx.attempt === 1) await untilAborted(ctx.signal);
            return 'second time lucky';
          },
        }),
      ],
      { clock: time.clock, retryBackoff: { baseMs: 0, maxMs: 0, factor: 2 } },
    );
    const op = await submit(store, 'slow-once', {}, { timeoutS: 1, maxAttempts: 2 });
    await waitFor(() => started === 1, { what: 'the first attempt to start' });
    time.tick(1_000);
    const done = await settled(store, op.id);
    assert.equal(done.status, 'completed');
    assert.equal(done.attempt, 2);
  });

  it('cancels a processing operation: the signal fires and it ends cancelled at once', async (t) => {
    const store = await openStore(t);
    let reason: unknown = null;
    const pool = startPool(t, store, [
      defineTask({
        type: 'long',
        async run(_input, ctx) {
          ctx.signal.addEventListener('abort', () => (reason = ctx.signal.reason));
          await untilAborted(ctx.signal);
        },
      }),
    ]);
    const ends = finishedEvents(pool);
    const op = await submit(store, 'long');
    await waitFor(() => pool.runningCount() === 1, { what: 'the claim' });
    const outcome = await store.operationCancel({ id: op.id, tenant: DEFAULT_TENANT, now: Date.now(), delivery: noDelivery });
    assert.equal(outcome.kind, 'requested');
    const done = await settled(store, op.id);
    assert.equal(done.status, 'cancelled');
    assert.equal(done.error?.code, 'cancelled');
    assert.ok(reason instanceof AttemptAbortedError && reason.code === 'cancelled');
    assert.deepEqual(
      ends.map((e) => e.outcome),
      ['cancelled'],
    );
  });

  it('notices a cancel requested on another node through its heartbeat', async (t) => {
    // Two stores on one file share no change feed, as two nodes would not.
    const dir = await mkdtemp(join(tmpdir(), 'asyncops-pool-'));
    const workerStore = await openStore(t, join(dir, 'db.sqlite'));
    const apiStore = await openStore(t, join(dir, 'db.sqlite'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const pool = startPool(t, workerStore, [defineTask({ type: 'long', run: (_input, ctx) => untilAborted(ctx.signal) })], { heartbeatMs: 20 });
    const op = await submit(apiStore, 'long');
    await waitFor(() => pool.runningCount() === 1, { what: 'the claim (by the fallback poll)', timeoutMs: 3_000 });
    const outcome = await apiStore.operationCancel({ id: op.id, tenant: DEFAULT_TENANT, now: Date.now(), delivery: noDelivery });
    assert.equal(outcome.kind, 'requested');
    const done = await settled(apiStore, op.id);
    assert.equal(done.status, 'cancelled');
  });

  for (const [how, heartbeat] of [
    ['fail', () => Promise.reject(new Error('connect ECONNREFUSED'))],
    // A database that takes the statement and never answers: the heartbeat never settles.
    ['never answer', () => new Promise<never>(() => {})],
  ] as const) {
    it(`gives an attempt up before its lease ends when heartbeats ${how}: no handler runs beside a takeover`, async (t) => {
      const store = await openStore(t);
      const cutOff = new Proxy(store, {
        get(target, key) {
          if (key === 'operationHeartbeat') return heartbeat;
          const value: unknown = Reflect.get(target, key);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      let reason: unknown = null;
      let abortedAt = 0;
      startPool(
        t,
        cutOff,
        [
          defineTask({
            type: 'long',
            async run(_input, ctx) {
              ctx.signal.addEventListener('abort', () => {
                reason = ctx.signal.reason;
                abortedAt = Date.now();
              });
              await untilAborted(ctx.signal);
            },
          }),
        ],
        // A heartbeat every third of the lease, as by default: the attempt is given up at the second that renews nothing.
        { leaseMs: 900, heartbeatMs: 300 },
      );
      const op = await submit(store, 'long');
      await waitFor(async () => (await store.operationGetById(op.id))?.status === 'processing', { what: 'the claim' });
      const claimed = (await store.operationGetById(op.id))!;
      await waitFor(() => reason !== null, { what: 'the handler to be given up', timeoutMs: 5_000 });
      assert.ok(reason instanceof AttemptAbortedError && reason.code === 'lease_lost');
      assert.ok(abortedAt < claimed.leaseExpiresAt!, `given up at ${abortedAt}, before the lease ended at ${claimed.leaseExpiresAt}`);
      assert.equal((await store.operationGetById(op.id))?.status, 'processing', 'nothing written: another node recovers it once the lease ends');
    });
  }

  it('keeps an attempt whose heartbeat came late behind a busy event loop: the store answers, the lease is renewed', async (t) => {
    const store = await openStore(t);
    startPool(
      t,
      store,
      [
        defineTask({
          type: 'burst',
          async run() {
            // Holds the event loop for more than half a heartbeat period: the tick after it comes late.
            const until = Date.now() + 500;
            while (Date.now() < until);
            await nextTurn();
            return 'done';
          },
        }),
      ],
      { leaseMs: 900 },
    );
    const done = await settled(store, (await submit(store, 'burst', {}, { maxAttempts: 1 })).id);
    assert.deepEqual([done.status, done.attempt], ['completed', 1]);
  });

  it('does not requeue its own attempt under way whose lease lapsed while its handler held the event loop: it runs once', async (t) => {
    const store = await openStore(t);
    let runs = 0;
    startPool(
      t,
      store,
      [
        defineTask({
          type: 'hog',
          run() {
            runs++;
            // Past the whole lease: no heartbeat can renew it meanwhile, and the recovery timer is due when it returns.
            const until = Date.now() + 1_500;
            while (Date.now() < until);
            return 'done';
          },
        }),
      ],
      { leaseMs: 600, heartbeatMs: 200, recoverEveryMs: 100 },
    );
    const done = await settled(store, (await submit(store, 'hog', {}, { maxAttempts: 3 })).id, 10_000);
    assert.deepEqual([done.status, done.attempt, runs], ['completed', 1, 1]);
    const kinds = ((await store.historyList({ operationId: done.id, tenant: DEFAULT_TENANT, limit: 50 })) ?? []).map((e) => e.kind);
    assert.ok(!kinds.includes('lease_expired'), kinds.join(', '));
  });

  it('keeps an attempt whose heartbeat was answered while a handler held the event loop past the next tick', async (t) => {
    const store = await openStore(t);
    // The store's answer comes back over a socket, as PostgreSQL's does: read in the poll phase, after the timers that
    // came due while the event loop was held, as the next heartbeat tick.
    const echo = createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    const wire = connect((echo.address() as AddressInfo).port, '127.0.0.1');
    await once(wire, 'connect');
    t.after(() => {
      wire.destroy();
      return new Promise<void>((resolve) => echo.close(() => resolve()));
    });
    const waiting: Array<() => void> = [];
    wire.on('data', (chunk: Buffer) => {
      for (let i = 0; i < chunk.length; i++) waiting.shift()?.();
    });
    const overTheWire = new Proxy(store, {
      get(target, key) {
        const value: unknown = Reflect.get(target, key);
        if (key !== 'operationHeartbeat') return typeof value === 'function' ? value.bind(target) : value;
        return async (...args: Parameters<typeof store.operationHeartbeat>) => {
          const answer = await target.operationHeartbeat(...args);
          await new Promise<void>((resolve) => {
            waiting.push(resolve);
            wire.write('.');
          });
          return answer;
        };
      },
    });
    let heartbeats = 0;
    const counted = new Proxy(overTheWire, {
      get(target, key) {
        if (key === 'operationHeartbeat') heartbeats++;
        return Reflect.get(target, key);
      },
    });
    startPool(
      t,
      counted,
      [
        defineTask({
          type: 'chunks',
          async run() {
            // Computes in chunks longer than a heartbeat period, yielding between them, as a CPU-bound handler should.
            for (let chunk = 0; chunk < 8; chunk++) {
              const until = Date.now() + 150;
              while (Date.now() < until);
              await nextTurn();
            }
            return 'done';
          },
        }),
      ],
      { leaseMs: 400, heartbeatMs: 100 },
    );
    const done = await settled(store, (await submit(store, 'chunks', {}, { maxAttempts: 1 })).id, 10_000);
    assert.deepEqual([done.status, done.attempt, done.error?.code ?? null], ['completed', 1, null]);
    assert.ok(heartbeats >= 3, `heartbeats were sent (${heartbeats})`);
  });

  it('an operation retried at once and claimed again before its last end was acknowledged keeps its new attempt', async (t) => {
    const store = await openStore(t);
    // The retry is stored at once, but its promise settles only when the test says, as a slow commit acknowledgement
    // would: meanwhile the operation is pending again and this pool claims it into the slot the failed attempt freed.
    const acknowledge = gate();
    t.after(() => acknowledge.open());
    const slowRetries = new Proxy(store, {
      get(target, key) {
        const value: unknown = Reflect.get(target, key);
        if (key !== 'operationRetry') return typeof value === 'function' ? value.bind(target) : value;
        return async (...args: Parameters<typeof store.operationRetry>) => {
          const stored = await target.operationRetry(...args);
          await acknowledge.promise;
          return stored;
        };
      },
    });
    let runs = 0;
    const pool = startPool(
      t,
      slowRetries,
      [
        defineTask({
          type: 'twice',
          async run(_input, ctx) {
            runs += 1;
            if (runs === 1) throw new Error('first attempt fails');
            await untilAborted(ctx.signal);
          },
        }),
      ],
      { retryBackoff: { baseMs: 0, maxMs: 0, factor: 2 } },
    );
    const ends = finishedEvents(pool);
    const op = await submit(store, 'twice');
    await waitFor(() => runs === 2, { what: 'the second attempt' });
    assert.deepEqual([pool.stats().running, pool.stats().held], [1, 2], 'the first attempt is held until its end is acknowledged; its slot is not');
    acknowledge.open();
    await waitFor(() => ends.length === 1, { what: "the first attempt's end to be acknowledged" });
    assert.deepEqual([pool.stats().running, pool.stats().held], [1, 1], 'the second attempt runs, the first is let go');
    // The cancel reaches the running attempt through the change feed only if the pool still knows it by its operation.
    await store.operationCancel({ id: op.id, tenant: DEFAULT_TENANT, now: Date.now(), delivery: noDelivery });
    const done = await settled(store, op.id);
    assert.equal(done.status, 'cancelled');
  });

  it('a cancel requested while a failed attempt is being requeued ends the operation cancelled, not run again', async (t) => {
    const store = await openStore(t);
    let runs = 0;
    const failed = gate();
    const requeue = gate();
    t.after(() => requeue.open());
    // The retry reaches the store only when the test says, after the attempt failed; the cancel comes in between.
    const lateRetries = new Proxy(store, {
      get(target, key) {
        const value: unknown = Reflect.get(target, key);
        if (key !== 'operationRetry') return typeof value === 'function' ? value.bind(target) : value;
        return async (...args: Parameters<typeof store.operationRetry>) => {
          failed.open();
          await requeue.promise;
          return target.operationRetry(...args);
        };
      },
    });
    const pool = startPool(
      t,
      lateRetries,
      [
        defineTask({
          type: 'failing',
          run: () => {
            runs += 1;
            throw new Error('boom');
          },
        }),
      ],
      { retryBackoff: { baseMs: 0, maxMs: 0, factor: 2 } },
    );
    const ends = finishedEvents(pool);
    const op = await submit(store, 'failing');
    await failed.promise;
    assert.equal((await store.operationCancel({ id: op.id, tenant: DEFAULT_TENANT, now: Date.now(), delivery: noDelivery })).kind, 'requested');
    requeue.open();
    const done = await settled(store, op.id);
    assert.equal(done.status, 'cancelled');
    assert.equal(runs, 1, 'never run again');
    await waitFor(() => ends.length === 1, { what: 'the attempt end' });
    assert.equal(ends[0]!.outcome, 'cancelled');
  });

  it('never runs more than `concurrency` handlers at once', async (t) => {
    const store = await openStore(t);
    let active = 0;
    let most = 0;
    const ops = [];
    for (let i = 0; i < 20; i++) ops.push(await submit(store, 'busy', { i }));
    const pool = startPool(t, store, [defineTask({ type: 'busy', concurrency: 10, run: () => work() })], { concurrency: 4 });
    async function work(): Promise<void> {
      active += 1;
      most = Math.max(most, active);
      await nextTurn();
      active -= 1;
    }
    for (const op of ops) assert.equal((await settled(store, op.id)).status, 'completed');
    assert.equal(most, 4);
    assert.equal(pool.stats().claimed, 20);
  });

  it('fills a slot as soon as it frees, while the other slots stay busy', async (t) => {
    // Time stands still: only a slot freeing, not a poll or any other timer, can start the 5th and 6th.
    const time = mockTime(t);
    const store = await openStore(t);
    const started = new Set<number>();
    const longOnes = gate();
    t.after(() => longOnes.open());
    // Two long and two short first: when the short ones end, two more must start beside the long ones.
    const long = [true, false, true, false, false, false];
    const ops = [];
    // Due in this order, all of them already: time does not move on to make one due.
    for (const [i, isLong] of long.entries()) ops.push(await submit(store, 'mixed', { i, long: isLong }, {}, Date.now() - long.length + i));
    const pool = startPool(
      t,
      store,
      [
        defineTask({
          type: 'mixed',
          async run(input: { i: number; long: boolean }) {
            started.add(input.i);
            if (input.long) await longOnes.promise;
          },
        }),
      ],
      { clock: time.clock, concurrency: 4 },
    );
    await waitFor(() => started.has(4) && started.has(5), { what: 'the 5th and 6th to start' });
    assert.equal(pool.stats().running, 2, 'the long ones still run beside them');
    longOnes.open();
    for (const op of ops) assert.equal((await settled(store, op.id)).status, 'completed');
  });

  it('honours per-type limits under the global one', async (t) => {
    const store = await openStore(t);
    const active = new Map<string, number>();
    const most = new Map<string, number>();
    let mostTotal = 0;
    async function work(type: string): Promise<void> {
      active.set(type, (active.get(type) ?? 0) + 1);
      most.set(type, Math.max(most.get(type) ?? 0, active.get(type) ?? 0));
      mostTotal = Math.max(
        mostTotal,
        [...active.values()].reduce((a, b) => a + b, 0),
      );
      await nextTurn();
      active.set(type, (active.get(type) ?? 1) - 1);
    }
    const ops = [];
    for (let i = 0; i < 8; i++) ops.push(await submit(store, 'narrow', { i }), await submit(store, 'wide', { i }));
    startPool(
      t,
      store,
      [defineTask({ type: 'narrow', concurrency: 2, run: () => work('narrow') }), defineTask({ type: 'wide', concurrency: 50, run: () => work('wide') })],
      { concurrency: 5 },
    );
    for (const op of ops) assert.equal((await settled(store, op.id)).status, 'completed');
    assert.equal(most.get('narrow'), 2);
    assert.ok((most.get('wide') ?? 0) >= 3, 'the free slots go to the other type');
    assert.ok(mostTotal <= 5);
  });

  it('writes progress through the store, coalesced, ending with the last value', async (t) => {
    const time = mockTime(t);
    const store = await openStore(t);
    let writes = 0;
    const write = store.operationProgress.bind(store);
    store.operationProgress = (params) => {
      writes += 1;
      return write(params);
    };
    const finish = gate();
    t.after(() => finish.open());
    startPool(
      t,
      store,
      [
        defineTask({
          type: 'chatty',
          async run(_input, ctx: TaskContext) {
            for (let i = 1; i <= 100; i++) ctx.progress(i / 100, `step ${i}`);
            await finish.promise;
          },
        }),
      ],
      { clock: time.clock },
    );
    const op = await submit(store, 'chatty');
    await waitFor(async () => (await store.operationGetById(op.id))?.progress === 0.01, { what: 'the first progress value' });
    // The last value is written one interval after the first.
    await time.timerSet(PROGRESS_INTERVAL_MS, 'the next progress write');
    time.tick(PROGRESS_INTERVAL_MS - 1);
    assert.equal(writes, 1, 'nothing more within the interval');
    time.tick(1);
    const seen = await waitFor(
      async () => {
        const current = await store.operationGetById(op.id);
        return current?.progress === 1 ? current : null;
      },
      { what: 'the last progress value' },
    );
    assert.equal(seen.progressMessage, 'step 100');
    assert.equal(writes, 2, 'the first value at once, the last after the interval');
    finish.open();
    assert.equal((await settled(store, op.id)).status, 'completed');
  });

  it("marks a progress write a history milestone when it is the attempt's first or reaches a later 10 % step", async (t) => {
    const time = mockTime(t);
    const store = await openStore(t);
    const flags: Array<boolean | undefined> = [];
    const write = store.operationProgress.bind(store);
    store.operationProgress = (params) => {
      flags.push(params.milestone);
      return write(params);
    };
    const steps = [gate(), gate(), gate()] as const;
    t.after(() => {
      for (const step of steps) step.open();
    });
    startPool(
      t,
      store,
      [
        defineTask({
          type: 'stepping',
          async run(_input, ctx: TaskContext) {
            ctx.progress(0.05, 'first');
            await steps[0].promise;
            ctx.progress(0.08, 'same step');
            await steps[1].promise;
            ctx.progress(0.25, 'a later step');
            await steps[2].promise;
          },
        }),
      ],
      { clock: time.clock },
    );
    const op = await submit(store, 'stepping');
    await waitFor(() => flags.length === 1, { what: 'the first progress write' });
    for (const [i, step] of [steps[0], steps[1]].entries()) {
      step.open();
      await time.timerSet(PROGRESS_INTERVAL_MS, 'the next progress write');
      time.tick(PROGRESS_INTERVAL_MS);
      await waitFor(() => flags.length === i + 2, { what: `progress write ${i + 2}` });
    }
    assert.deepEqual(flags, [true, false, true]);
    steps[2].open();
    assert.equal((await settled(store, op.id)).status, 'completed');
    const events = await store.historyList({ operationId: op.id, tenant: null, limit: 20 });
    assert.deepEqual(
      events?.filter((e) => e.kind === 'progress').map((e) => e.data),
      [
        { progress: 0.05, message: 'first' },
        { progress: 0.25, message: 'a later step' },
      ],
    );
  });

  it('stores the last progress report with the end, though coalescing had not written it yet', async (t) => {
    const store = await openStore(t);
    startPool(t, store, [
      defineTask({
        type: 'quick-steps',
        run(_input, ctx: TaskContext) {
          // Faster than the write interval: only the first is written before the handler returns.
          ctx.progress(0.2, 'fetching');
          ctx.progress(0.9, 'writing the report');
          return null;
        },
      }),
      defineTask({
        type: 'fails-midway',
        run(_input, ctx: TaskContext) {
          ctx.progress(0.1, 'started');
          ctx.progress(0.4, 'parsing');
          throw new PermanentError('bad row 17');
        },
      }),
    ]);
    const done = await settled(store, (await submit(store, 'quick-steps')).id);
    assert.deepEqual([done.status, done.progress, done.progressMessage], ['completed', 0.9, 'writing the report']);
    const failed = await settled(store, (await submit(store, 'fails-midway')).id);
    assert.deepEqual([failed.status, failed.progress, failed.progressMessage], ['failed', 0.4, 'parsing'], 'where it stopped');
  });

  it('recovers an operation whose lease expired on a node that stopped heartbeating', async (t) => {
    const store = await openStore(t);
    let now = Date.now();
    const clock: Clock = { now: () => now };
    const task = defineTask({
      type: 'fragile',
      // The first attempt hangs on the node that "crashes"; the retake succeeds.
      run: async (_input, ctx) => (ctx.attempt === 1 ? untilAborted(ctx.signal) : 'recovered'),
    });
    // Concurrency 1: the hung attempt keeps the crashed node from claiming anything else.
    const crashed = startPool(t, store, [task], {
      workerId: 'crashed',
      concurrency: 1,
      clock,
      leaseMs: 1_000,
      heartbeatMs: 3_600_000,
      recoverEveryMs: 3_600_000,
    });
    const op = await submit(store, 'fragile', {}, {}, now);
    await waitFor(() => crashed.runningCount() === 1, { what: 'the first claim' });

    now += 1_001;
    const survivor = startPool(t, store, [task], { workerId: 'survivor', clock, leaseMs: 1_000, heartbeatMs: 3_600_000, recoverEveryMs: 3_600_000 });
    const done = await settled(store, op.id);
    assert.equal(done.status, 'completed');
    assert.equal(done.attempt, 2);
    assert.equal(survivor.stats().recovered.requeued, 1);
    await waitFor(() => survivor.stats().ended.completed === 1, { what: 'the survivor to have completed it' });
    assert.equal(crashed.stats().ended.completed, 0);
  });

  it("recovers another node's lapsed lease within a third of a lease of its lapse, by default", async (t) => {
    const time = mockTime(t);
    const store = await openStore(t);
    const task = defineTask({ type: 'cut-off', run: async (_input, ctx) => (ctx.attempt === 1 ? untilAborted(ctx.signal) : 'again') });
    // A node that hangs with the first attempt: no heartbeat, no recovery of its own.
    const crashed = startPool(t, store, [task], {
      workerId: 'crashed',
      concurrency: 1,
      clock: time.clock,
      leaseMs: 900,
      heartbeatMs: 3_600_000,
      recoverEveryMs: 3_600_000,
    });
    const op = await submit(store, 'cut-off');
    await waitFor(() => crashed.runningCount() === 1, { what: 'the first claim' });
    const survivor = startPool(t, store, [task], { workerId: 'survivor', clock: time.clock, leaseMs: 900, heartbeatMs: 3_600_000 });
    await time.timerSet(300, "the survivor's recovery");
    // The lease lapses at 900 ms; the survivor's recoveries come every 300 ms after its start.
    for (let step = 0; step < 4; step++) {
      time.tick(300);
      await nextTurn();
    }
    await waitFor(() => survivor.stats().recovered.requeued === 1, { what: 'recovered by 1,200 ms' });
    assert.equal((await settled(store, op.id)).attempt, 2);
  });

  it('stops gracefully: a running attempt that ends within the grace period completes', async (t) => {
    const store = await openStore(t);
    const finish = gate();
    const pool = startPool(t, store, [defineTask({ type: 'short', run: () => finish.promise.then(() => 'done') })]);
    const op = await submit(store, 'short');
    await waitFor(() => pool.runningCount() === 1, { what: 'the claim' });
    const stopping = pool.stop({ graceMs: 5_000 });
    assert.equal(pool.stop(), stopping, 'stop() is idempotent');
    finish.open();
    await stopping;
    assert.equal((await store.operationGetById(op.id))?.status, 'completed');
  });

  it('stops gracefully: past the grace period it aborts and releases leases so another node retakes them at once', async (t) => {
    const store = await openStore(t);
    let reason: unknown = null;
    const first = startPool(t, store, [
      defineTask({
        type: 'endless',
        run: async (_input, ctx) => {
          ctx.signal.addEventListener('abort', () => (reason = ctx.signal.reason));
          await untilAborted(ctx.signal);
        },
      }),
    ]);
    const ops = [await submit(store, 'endless'), await submit(store, 'endless')];
    await waitFor(() => first.runningCount() === 2, { what: 'both claims' });
    await first.stop({ graceMs: 20 });
    assert.ok(reason instanceof AttemptAbortedError && reason.code === 'shutdown');
    for (const op of ops) {
      const released = await store.operationGetById(op.id);
      assert.equal(released?.status, 'pending');
      assert.equal(released?.attempt, 1, 'a release does not count the attempt');
      assert.equal(released?.leaseToken, null);
    }
    assert.equal(first.stats().ended.released, 2);

    startPool(t, store, [defineTask({ type: 'endless', run: () => 'finished elsewhere' })], { workerId: 'w2' });
    for (const op of ops) assert.equal((await settled(store, op.id)).status, 'completed');
  });

  it('starts operations scheduled close after one another on time, without waiting for the fallback poll', async (t) => {
    const time = mockTime(t);
    const store = await openStore(t);
    const now = Date.now();
    // Stored before the pool started, so no event tells it of them: only asking the store for the next run_at does.
    const first = await submit(store, 'scheduled', {}, { runAt: now + 200 }, now);
    const second = await submit(store, 'scheduled', {}, { runAt: now + 400 }, now);
    startPool(t, store, [defineTask({ type: 'scheduled', run: () => null })], { clock: time.clock, pollMs: 60_000 });
    // Each is claimed at its run_at, with no more time passing: the fallback poll is a minute away.
    for (const op of [first, second]) {
      time.tick(200);
      const done = await settled(store, op.id);
      assert.deepEqual([done.status, done.startedAt], ['completed', op.runAt]);
    }
  });

  it('lets the event loop turn between claims while a backlog drains: ends are stored as it goes, not after the last claim', async (t) => {
    const store = await openStore(t);
    const ops: Operation[] = [];
    for (let i = 0; i < 200; i++) ops.push(await submit(store, 'instant', { i }));
    // Every change in the order it committed: a claim moves operations to processing, an end to completed.
    const statuses: string[] = [];
    store.subscribe((event) => {
      if (event.kind === 'operation:changed') statuses.push(event.status);
    });
    // Handlers that end without awaiting anything, on a store that answers without I/O: nothing but the loop yields.
    startPool(t, store, [defineTask({ type: 'instant', run: () => null })], { concurrency: 10 });
    for (const op of ops) assert.equal((await settled(store, op.id)).status, 'completed');
    const firstEnd = statuses.indexOf('completed');
    const lastClaim = statuses.lastIndexOf('processing');
    assert.ok(firstEnd >= 0 && firstEnd < lastClaim, `the first end was stored at change ${firstEnd}, the last claim at ${lastClaim}`);
  });

  it('claims work announced as due before the event loop turns: its handler has started when the insert returns', async (t) => {
    const store = await openStore(t);
    const started: string[] = [];
    const pool = startPool(t, store, [
      defineTask({
        type: 'at-once',
        run: async (_input, ctx) => {
          started.push(ctx.operationId);
        },
      }),
    ]);
    await pool.start();
    // The first claim, which found nothing, is over.
    await nextTurn();
    await nextTurn();
    // The insert settles after its commit announced it; the claim that announcement woke has run before this line,
    // not after the callbacks already queued (a reply to the request that created it, in a server).
    const op = await submit(store, 'at-once');
    assert.deepEqual(started, [op.id]);
    assert.equal((await settled(store, op.id)).status, 'completed');
  });

  it('a slot that frees asks the store nothing once a claim found the queue empty and no work was announced since', async (t) => {
    const store = await openStore(t);
    const claims = countClaims(store);
    // The pool's time stands still (a minute ahead, so every operation is due): a type found empty is left out for a
    // while only (DRAINED_FOR_MS), and this test is about what comes before that.
    const frozen = Date.now() + 60_000;
    const pool = startPool(t, store, [defineTask({ type: 'quick', run: () => null }), defineTask({ type: 'idle', run: () => null })], {
      pollMs: 60_000,
      clock: { now: () => frozen },
    });
    await waitFor(() => claims.returned === 1, { what: 'the claim at start' });
    for (let i = 0; i < 3; i++) {
      const op = await submit(store, 'quick');
      await settled(store, op.id);
      await waitFor(() => pool.stats().held === 0, { what: 'the end to be stored' });
      await nextTurn();
    }
    // One claim at start, one per announced operation; none for the slots that freed, none for the type never announced.
    assert.equal(claims.returned, 4);
    assert.deepEqual(claims.types.slice(1), [['quick'], ['quick'], ['quick']]);
  });

  it('an operation announced while a claim that found nothing was in flight is claimed at once, not at the fallback poll', async (t) => {
    const store = await openStore(t);
    const claims = countClaims(store);
    // The claim at start reads the empty queue, then waits for the test before it returns.
    const held = gate();
    claims.holdNext(held.promise);
    const frozen = Date.now() + 60_000;
    const pool = startPool(t, store, [defineTask({ type: 'quick', run: () => null })], { pollMs: 60_000, clock: { now: () => frozen } });
    await waitFor(() => claims.held, { what: 'the claim at start to be held' });
    const op = await submit(store, 'quick');
    held.open();
    assert.equal((await settled(store, op.id)).status, 'completed');
    assert.equal(pool.stats().claimed, 1);
  });

  it("claims another process's operation as soon as a slot frees: its writes are not announced here", async (t) => {
    // Two stores on one file share no change feed, as two processes would not.
    const dir = await mkdtemp(join(tmpdir(), 'asyncops-pool-'));
    const workerStore = await openStore(t, join(dir, 'db.sqlite'));
    const apiStore = await openStore(t, join(dir, 'db.sqlite'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const running = gate();
    const pool = startPool(t, workerStore, [defineTask({ type: 'gated', run: () => running.promise })], { pollMs: 60_000 });
    const first = await submit(workerStore, 'gated');
    // The claim that took it came up short: the queue of its type was empty then.
    await waitFor(() => pool.runningCount() === 1, { what: 'the first claim' });
    // Unannounced here: only a freed slot's claim (or the poll, a minute away) can find it.
    const second = await submit(apiStore, 'gated');
    running.open();
    for (const op of [first, second]) assert.equal((await settled(apiStore, op.id)).status, 'completed');
  });

  it('start() and stop() are idempotent; start() after stop() is refused', async (t) => {
    const store = await openStore(t);
    const pool = new WorkerPool({ store, registry: new TaskRegistry([]), logger: silent, workerId: 'w1', deliveryFactory: noDelivery });
    assert.equal(pool.start(), pool.start());
    await pool.start();
    await Promise.all([pool.stop(), pool.stop()]);
    await assert.rejects(pool.start(), /after stop/);
  });
});
