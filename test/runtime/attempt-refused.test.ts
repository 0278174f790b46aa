// A store that refuses what an attempt ended with (a result too large for it) fails the operation at once, with a
// clear code, instead of leaving it to lease recovery to run again and again; a store that is away is left to recovery.
// The store is a real SQLite store whose finish is made to throw what a driver throws, once per case.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { defineTask } from '../../src/runtime/task.ts';
import { DEFAULT_TENANT } from '../../src/domain/operation.ts';
import type { Store } from '../../src/store/store.ts';
import type { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { openStore, settled, startPool, submit } from '../support/worker-pool.ts';
import { waitFor } from '../support/wait.ts';

/** `store`, with the first completing finish throwing `error` (as a driver does) before anything is written. */
function refusingFirstCompletion(store: Store, error: Error): Store & { readonly refused: number } {
  let refused = 0;
  const operationFinish: Store['operationFinish'] = async (params) => {
    if (params.status === 'completed' && refused === 0) {
      refused += 1;
      throw error;
    }
    return store.operationFinish(params);
  };
  // The adapter keeps its state in #private fields, so every other method is called on the adapter itself.
  return new Proxy(store, {
    get(target, key) {
      if (key === 'refused') return refused;
      if (key === 'operationFinish') return operationFinish;
      const value = Reflect.get(target, key) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as Store & { readonly refused: number };
}

describe('an attempt whose end the store refuses', () => {
  for (const [name, error] of [
    ['SQLite: string or blob too big', Object.assign(new Error('string or blob too big'), { code: 'ERR_SQLITE_ERROR', errcode: 18 })],
    ['Node: a string longer than the engine allows', new RangeError('Cannot create a string longer than 0x1fffffe8 characters')],
    ['PostgreSQL: a data exception', Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: '22021' })],
  ] as const) {
    it(`${name}: fails the operation at once with result_not_stored, and does not run it again`, async (t) => {
      const store = refusingFirstCompletion(await openStore(t), error);
      let runs = 0;
      const task = defineTask({
        type: 'refused',
        maxAttempts: 3,
        input: { type: 'object' },
        run: () => {
          runs += 1;
          return { ok: true };
        },
      });
      startPool(t, store, [task], { leaseMs: 60_000 });
      const op = await submit(store, 'refused');
      const ended = await settled(store, op.id);
      assert.equal(ended.status, 'failed');
      assert.equal(ended.error?.code, 'result_not_stored');
      assert.ok(ended.error?.message.includes(error.message));
      assert.deepEqual([ended.attempt, runs, store.refused], [1, 1, 1]);
    });
  }

  it('a store with no room for the result (a full disk) fails it with result_not_stored once its tries are spent, not run again', async (t) => {
    const store = (await openStore(t)) as SqliteStore;
    let runs = 0;
    const task = defineTask({
      type: 'large',
      maxAttempts: 3,
      input: { type: 'object' },
      run: () => {
        runs += 1;
        return { contentType: 'application/octet-stream', body: Buffer.alloc(2_000_000) };
      },
    });
    const op = await submit(store, 'large');
    // Room for the small writes of a failure, none for two megabytes: SQLite then refuses with SQLITE_FULL.
    const pages = Number(store.database.prepare('PRAGMA page_count').get()!['page_count']);
    store.database.exec(`PRAGMA max_page_count = ${pages + 64}`);
    startPool(t, store, [task], { leaseMs: 60_000 });
    // The end is tried for about 3 s first (a disk that frees up meanwhile takes it).
    const ended = await settled(store, op.id, 15_000);
    assert.equal(ended.status, 'failed');
    assert.equal(ended.error?.code, 'result_not_stored');
    assert.match(ended.error?.message ?? '', /the disk is full/);
    assert.deepEqual([ended.attempt, runs], [1, 1]);
  });

  it('a store that is away is not taken for a refused value: the lease stays for recovery', async (t) => {
    const away = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const store = refusingFirstCompletion(await openStore(t), away);
    const task = defineTask({ type: 'away', input: { type: 'object' }, run: () => ({ ok: true }) });
    startPool(t, store, [task], { leaseMs: 60_000 });
    const op = await submit(store, 'away');
    await waitFor(() => store.refused === 1, { timeoutMs: 5_000, what: 'the refused finish' });
    const after = await store.operationGetById(op.id);
    assert.equal(after?.status, 'processing', 'left to lease recovery, not failed');
  });
});

describe('a result that is not JSON', () => {
  it('fails at once with invalid_result (a cycle, a BigInt), as another attempt would return the same', async (t) => {
    const store = await openStore(t);
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    let runs = 0;
    const task = defineTask<{ kind: string }>({
      type: 'unserialisable',
      maxAttempts: 3,
      input: { type: 'object' },
      run: (input) => {
        runs += 1;
        return input.kind === 'cycle' ? cyclic : { n: 1n };
      },
    });
    startPool(t, store, [task], { leaseMs: 60_000 });
    for (const [kind, message] of [
      ['cycle', /cannot be serialised as JSON/],
      ['bigint', /^the result at \/n is a BigInt, which JSON cannot carry/],
    ] as const) {
      const ended = await settled(store, (await submit(store, 'unserialisable', { kind })).id);
      assert.deepEqual([ended.status, ended.error?.code, ended.attempt], ['failed', 'invalid_result', 1], kind);
      assert.match(ended.error?.message ?? '', message);
    }
    assert.equal(runs, 2);
  });

  it('fails invalid_result for what JSON would change (NaN, Infinity, a Map, a Set) or nest too deeply to write, naming where', async (t) => {
    const store = await openStore(t);
    let deep: unknown = [];
    for (let i = 0; i < 20_000; i++) deep = [deep];
    const results: Record<string, unknown> = {
      nan: { ratio: Number.NaN },
      infinity: [1, Number.POSITIVE_INFINITY],
      map: { m: new Map([['a', 1]]) },
      set: new Set([1]),
      deep,
      throws_object: {
        toJSON() {
          throw { reason: 'quota' };
        },
      },
      throws_empty: {
        toJSON() {
          throw new Error();
        },
      },
    };
    const task = defineTask<{ kind: string }>({ type: 'lossy', input: { type: 'object' }, run: (input) => results[input.kind] });
    startPool(t, store, [task], { leaseMs: 60_000 });
    for (const [kind, message] of [
      ['nan', /^the result at \/ratio is a number JSON cannot carry/],
      ['infinity', /^the result at \/1 is a number JSON cannot carry/],
      ['map', /^the result at \/m is a Map, which JSON would keep as \{\}/],
      ['set', /^the result is a Set/],
      ['deep', /^the result cannot be serialised as JSON: it is nested too deeply to write \(more than 1000 levels\)$/],
      // What a toJSON throws reads as a handler's throw is stored.
      ['throws_object', /^the result cannot be serialised as JSON: non-error thrown: \{"reason":"quota"\}$/],
      ['throws_empty', /^the result cannot be serialised as JSON: Error \(without a message\)$/],
    ] as const) {
      const ended = await settled(store, (await submit(store, 'lossy', { kind })).id);
      assert.deepEqual([ended.status, ended.error?.code, ended.attempt], ['failed', 'invalid_result', 1], kind);
      assert.match(ended.error?.message ?? '', message, kind);
    }
  });

  it('fails invalid_result for a contentType no header carries as it is, and keeps any media type as given', async (t) => {
    const store = await openStore(t);
    const task = defineTask<{ contentType: string }>({
      type: 'typed',
      input: { type: 'object' },
      run: (input) => ({ contentType: input.contentType, body: 'hello' }),
    });
    startPool(t, store, [task], { leaseMs: 60_000 });
    for (const contentType of ['text/plain; name="résumé"', 'text/plain\r\nx-evil: 1', 'text', '', `text/${'x'.repeat(1_000)}`, 'text /plain']) {
      const ended = await settled(store, (await submit(store, 'typed', { contentType })).id);
      assert.deepEqual([ended.status, ended.error?.code], ['failed', 'invalid_result'], contentType);
      assert.match(ended.error?.message ?? '', /^a result's contentType must be a media type/);
    }
    for (const contentType of [
      'text/csv; charset=utf-8',
      'application/vnd.api+json',
      'text/plain; name="a b\\"c"',
      'multipart/mixed; boundary=x;',
      // Parameters as clients write them, unquoted where RFC 9110 would quote: kept as given.
      'application/json; profile=https://example.com/s',
      'text/csv; header=present; filename=a b.csv',
      'text/plain; charset',
    ]) {
      const ended = await settled(store, (await submit(store, 'typed', { contentType })).id);
      assert.equal(ended.status, 'completed', contentType);
      assert.equal((await store.resultGet({ id: ended.id, tenant: DEFAULT_TENANT }))?.contentType, contentType);
    }
  });

  it('stores the bytes of an ArrayBuffer body, and fails invalid_result for a body that is neither text nor bytes', async (t) => {
    const store = await openStore(t);
    const task = defineTask<{ kind: string }>({
      type: 'binary',
      input: { type: 'object' },
      run: (input) => ({ contentType: 'application/octet-stream', body: input.kind === 'buffer' ? new Uint8Array([1, 2, 255]).buffer : { bytes: [1] } }),
    });
    startPool(t, store, [task], { leaseMs: 60_000 });
    const stored = await settled(store, (await submit(store, 'binary', { kind: 'buffer' })).id);
    assert.equal(stored.status, 'completed');
    const result = await store.resultGet({ id: stored.id, tenant: DEFAULT_TENANT });
    assert.deepEqual([result?.contentType, [...(result?.body ?? [])]], ['application/octet-stream', [1, 2, 255]]);
    const refused = await settled(store, (await submit(store, 'binary', { kind: 'object' })).id);
    assert.deepEqual([refused.status, refused.error?.code], ['failed', 'invalid_result']);
    assert.match(refused.error?.message ?? '', /^a result with a contentType needs a body of text or bytes .*, got Object$/);
  });
});
