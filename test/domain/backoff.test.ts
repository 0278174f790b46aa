import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { equalJitterDelay, fullJitterDelay, scheduleDelay } from '../../src/domain/backoff.ts';
import {
  boundedError,
  boundedProgressMessage,
  decideAfterFailure,
  ERROR_MESSAGE_MAX,
  PROGRESS_MESSAGE_MAX,
  toOperationResult,
} from '../../src/domain/operation.ts';

const policy = { baseMs: 1000, maxMs: 10_000, factor: 2 };

describe('backoff', () => {
  it('full jitter stays in [0, min(max, base·factor^(n-1))]', () => {
    assert.equal(
      fullJitterDelay(policy, 1, () => 0),
      0,
    );
    assert.equal(
      fullJitterDelay(policy, 1, () => 0.999999),
      999,
    );
    assert.equal(
      fullJitterDelay(policy, 3, () => 0.5),
      2000,
    );
    assert.equal(
      fullJitterDelay(policy, 20, () => 0.999999),
      9999,
    );
  });

  it('equal jitter keeps half of the exponential delay fixed', () => {
    assert.equal(
      equalJitterDelay(policy, 1, () => 0),
      500,
    );
    assert.equal(
      equalJitterDelay(policy, 2, () => 0),
      1000,
    );
    assert.equal(
      equalJitterDelay(policy, 2, () => 0.999999),
      1999,
    );
    assert.equal(
      equalJitterDelay(policy, 30, () => 0),
      5000,
    );
  });

  it('a schedule jitters each retry inside its own step, so gaps never shrink', () => {
    const schedule = [100, 200, 400];
    assert.equal(
      scheduleDelay(schedule, 1, () => 0),
      0,
    );
    assert.equal(
      scheduleDelay(schedule, 2, () => 0),
      100,
    );
    assert.equal(
      scheduleDelay(schedule, 3, () => 0.999999),
      399,
    );
    assert.equal(
      scheduleDelay(schedule, 4, () => 0),
      null,
    );
  });
});

describe('attempt outcomes', () => {
  const failure = { code: 'handler_error', message: 'boom', permanent: false };

  it('retries with backoff while attempts remain, then fails', () => {
    const retry = decideAfterFailure({ attempt: 1, maxAttempts: 3 }, failure, 10_000, policy, () => 0);
    assert.deepEqual(retry, { kind: 'retry', runAt: 10_500, error: { code: 'handler_error', message: 'boom' } });
    const last = decideAfterFailure({ attempt: 3, maxAttempts: 3 }, failure, 10_000, policy, () => 0);
    assert.equal(last.kind, 'fail');
  });

  it('bounds a handler error: the message at most 4,096 characters, the code at most 64 (the store cleans the text)', () => {
    const decision = decideAfterFailure(
      { attempt: 3, maxAttempts: 3 },
      { code: 'd'.repeat(100), message: `ab${'x'.repeat(10_000)}`, permanent: false },
      0,
      policy,
    );
    assert.equal(decision.error.message.length, ERROR_MESSAGE_MAX);
    assert.ok(decision.error.message.startsWith('abx') && decision.error.message.endsWith('…'));
    assert.equal(decision.error.code.length, 64);
  });

  it('cuts a text before a surrogate pair it would split (a lone half is stored as U+FFFD)', () => {
    for (const shift of [0, 1]) {
      const message = `${'x'.repeat(ERROR_MESSAGE_MAX - 2 - shift)}😀${'y'.repeat(100)}`;
      const cut = boundedError('c', message).message;
      assert.ok(cut.isWellFormed(), `shift ${shift}`);
      assert.ok(cut.endsWith('…') && cut.length <= ERROR_MESSAGE_MAX);
    }
    const progress = boundedProgressMessage(`${'p'.repeat(PROGRESS_MESSAGE_MAX - 2)}😀😀`);
    assert.ok(progress.isWellFormed() && progress.endsWith('p…'));
  });

  it('a permanent failure fails at once', () => {
    const decision = decideAfterFailure({ attempt: 1, maxAttempts: 3 }, { ...failure, permanent: true }, 0, policy);
    assert.equal(decision.kind, 'fail');
  });

  it('normalises handler results: JSON values, explicit bodies, undefined', () => {
    assert.deepEqual(toOperationResult({ a: 1 }), { contentType: 'application/json', body: Buffer.from('{"a":1}') });
    assert.deepEqual(toOperationResult(undefined).body.toString(), 'null');
    const csv = toOperationResult({ contentType: 'text/csv', body: 'a,b' });
    assert.equal(csv.contentType, 'text/csv');
    assert.equal(csv.body.toString(), 'a,b');
    assert.equal(toOperationResult({ contentType: 'application/octet-stream', body: Buffer.from([1, 2]) }).body.length, 2);
  });

  it('takes bytes however they are held (what fetch().arrayBuffer() returns was stored as {}), and refuses a body that is neither', () => {
    const bytes = [1, 2, 3, 255];
    const backing = new Uint8Array([9, ...bytes, 9]);
    for (const body of [
      new Uint8Array(bytes).buffer,
      new Uint16Array(new Uint8Array(bytes).buffer),
      new DataView(backing.buffer, 1, 4),
      backing.subarray(1, 5),
    ]) {
      const result = toOperationResult({ contentType: 'application/octet-stream', body });
      assert.deepEqual([...result.body], bytes, body.constructor.name);
    }
    for (const body of [{}, 42, null, [1, 2]]) {
      assert.throws(() => toOperationResult({ contentType: 'image/png', body }), /needs a body of text or bytes/, JSON.stringify(body));
    }
    // Other members do not make it a JSON value: rows not joined into CSV text, beside a file name, are refused as well.
    assert.throws(() => toOperationResult({ contentType: 'text/csv', body: [['a', 'b']], filename: 'x.csv' }), /needs a body of text or bytes/);
    assert.throws(() => toOperationResult({ contentType: 'text/plain', body: 5, other: 1 }), /needs a body of text or bytes .*, got number$/);
    assert.equal(toOperationResult({ contentType: 'text/plain', body: 'kept', filename: 'x.txt' }).body.toString(), 'kept', 'other members are not kept');
    // Text UTF-8 cannot carry (half a surrogate pair) is refused, not stored as U+FFFD.
    assert.throws(() => toOperationResult({ contentType: 'text/plain; charset=utf-8', body: 'a\ud800b' }), /^InvalidResultError: .*lone surrogate/);
    assert.equal(toOperationResult({ contentType: 'text/plain', body: 'a\ud83d\ude00b' }).body.toString('hex'), '61f09f988062', 'a whole pair is kept');
    // A Date is written as JSON writes it (its toJSON); what JSON would lose is refused.
    assert.equal(toOperationResult({ at: new Date(0) }).body.toString(), '{"at":"1970-01-01T00:00:00.000Z"}');
    assert.throws(() => toOperationResult({ a: [new Map()] }), /^InvalidResultError: the result at \/a\/0 is a Map/);
    // An invalid Date's toJSON gives null: the instant is lost, so it is refused, wherever it is (the whole result too).
    assert.throws(
      () => toOperationResult({ rows: [{ at: new Date(Number.NaN) }] }),
      /^InvalidResultError: the result at \/rows\/0\/at is an invalid Date, which JSON would keep as null/,
    );
    assert.throws(() => toOperationResult(new Date('not a date')), /^InvalidResultError: the result is an invalid Date/);
    assert.equal(toOperationResult({ at: null, when: new Date(1) }).body.toString(), '{"at":null,"when":"1970-01-01T00:00:00.001Z"}');
    // What is looked at is what JSON writes: a toJSON that gives a plain value makes its holder's other members moot.
    const registry = { items: new Map([['a', 1]]), cached: Number.NaN, toJSON: () => ({ a: 1 }) };
    assert.equal(toOperationResult({ registry }).body.toString(), '{"registry":{"a":1}}');
    assert.throws(() => toOperationResult({ later: { toJSON: () => Number.POSITIVE_INFINITY } }), /at \/later is a number JSON cannot carry/);
    assert.throws(() => toOperationResult(() => 1), /there is no JSON text for it/);
    // Inside a result a function or a symbol is left out (or null in an array): refused, not stored as {} or [null].
    assert.throws(
      () => toOperationResult({ f: () => 1 }),
      /^InvalidResultError: the result at \/f is a function, which JSON would leave out \(or write as null in an array\)$/,
    );
    assert.throws(() => toOperationResult([1, Symbol('s')]), /^InvalidResultError: the result at \/1 is a symbol, which JSON would leave out/);
    assert.throws(() => toOperationResult({ n: new Number(Number.NaN) }), /at \/n is a number JSON cannot carry/);
    assert.throws(() => toOperationResult({ rows: Promise.resolve([1]) }), /at \/rows is a Promise, which JSON would keep as \{\} \(an await forgotten\?\)/);
    assert.equal(toOperationResult([undefined, 1]).body.toString(), '[null,1]', 'as JSON writes it');
    // JSON.stringify throws on a BigInt without saying where it is.
    assert.throws(() => toOperationResult({ rows: [{ id: 12n }] }), /^InvalidResultError: the result at \/rows\/0\/id is a BigInt, which JSON cannot carry/);
    // A RangeError a toJSON throws is a value that is not JSON, not one too large to write.
    assert.throws(
      () => toOperationResult({ at: { toJSON: () => new Date(Number.NaN).toISOString() } }),
      /^InvalidResultError: the result cannot be serialised as JSON: Invalid time value/,
    );
  });
});
