import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { failureOf, isRateLimitedError, PermanentError } from '../../src/domain/errors.ts';
import type { TaskContext } from '../../src/runtime/task.ts';
import { inWorkerThread } from '../../src/runtime/worker-thread.ts';
import { InvalidResultError, toOperationResult } from '../../src/domain/operation.ts';
import { odd, THROWN } from '../fixtures/isolated-handlers.ts';
import { waitFor } from '../support/wait.ts';
import { INVALID_SPAN_CONTEXT, ROOT_CONTEXT, trace } from '@opentelemetry/api';

const handlers = new URL('../fixtures/isolated-handlers.ts', import.meta.url);

function context(controller = new AbortController()): { ctx: TaskContext; progress: unknown[]; logs: unknown[] } {
  const progress: unknown[] = [];
  const logs: unknown[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line)) });
  const span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
  const ctx: TaskContext = {
    signal: controller.signal,
    attempt: 2,
    operationId: 'op_thread',
    progress: (f, m) => progress.push([f, m]),
    log,
    span,
    traceContext: trace.setSpan(ROOT_CONTEXT, span),
  };
  return { ctx, progress, logs };
}

describe('inWorkerThread', () => {
  it('runs the handler on another thread and forwards its result, progress and log lines', async () => {
    const { ctx, progress, logs } = context();
    // What it is stored as, made on the thread (toOperationResult).
    const result = (await inWorkerThread(handlers)({ n: 21 }, ctx)) as { contentType: string; body: Uint8Array };
    assert.equal(result.contentType, 'application/json');
    assert.deepEqual(JSON.parse(Buffer.from(result.body).toString()), { doubled: 42, onMainThread: false, attempt: 2, operationId: 'op_thread' });
    assert.deepEqual(progress, [[0.5, 'halfway']]);
    assert.ok(logs.some((l) => (l as { msg?: string; n?: number }).msg === 'doubling' && (l as { n?: number }).n === 21));
    const calling = logs.find((l) => (l as { msg?: string }).msg?.startsWith('calling with')) as { msg: string } | undefined;
    assert.ok(calling !== undefined, 'the interpolated line forwarded');
    assert.doesNotMatch(calling.msg, /thread-secret/, 'redacted on the thread, where it was made into text');
  });

  it('returns explicit bodies with their content type', async () => {
    const result = (await inWorkerThread(handlers, 'csv')({}, context().ctx)) as { contentType: string; body: Uint8Array };
    assert.equal(result.contentType, 'text/csv');
    assert.equal(Buffer.from(result.body).toString(), 'a,b\r\n1,2\r\n');
  });

  it('stores a value as JSON writes it on the event loop (toJSON, URL, Date), and refuses there what it refuses here', async () => {
    const stored = async (kind: string) => toOperationResult(await inWorkerThread(handlers, 'odd')({ kind }, context().ctx));
    const onThisThread = async (kind: string) => toOperationResult(odd({ kind }));
    for (const kind of ['url', 'to_json', 'date', 'deepest']) {
      const [there, here] = [await stored(kind), await onThisThread(kind)];
      assert.equal(Buffer.from(there.body).toString(), Buffer.from(here.body).toString(), kind);
    }
    for (const [kind, message] of [
      ['map', /^the result at \/m is a Map/],
      ['nan', /^the result at \/ratio is a number JSON cannot carry/],
      ['function', /^the result cannot be serialised as JSON: there is no JSON text for it/],
      // One depth for both, where each stack's own limit decided (about 2,000 levels here, 9,000 there).
      ['too_deep', /^the result cannot be serialised as JSON: it is nested too deeply to write \(more than 1000 levels\)$/],
    ] as const) {
      await assert.rejects(stored(kind), (error) => error instanceof InvalidResultError && message.test(error.message), kind);
      await assert.rejects(onThisThread(kind), (error) => error instanceof InvalidResultError && message.test(error.message), kind);
    }
  });

  it('fails as the event loop would with what it threw: no Error, or an Error without a message', async () => {
    const expected: Record<string, string> = {
      object: 'non-error thrown: {"a":1}',
      no_prototype: 'non-error thrown: {}',
      undefined: 'non-error thrown: undefined',
      empty_error: 'Error (without a message)',
      empty_aggregate: 'AggregateError: first; second',
    };
    for (const [kind, message] of Object.entries(expected)) {
      assert.equal(failureOf(THROWN[kind]!()).message, message, `${kind} on the event loop`);
      const thrown = await inWorkerThread(handlers, 'throws')({ kind }, context().ctx).then(
        () => assert.fail(`${kind}: the handler returned`),
        (error: unknown) => error,
      );
      assert.deepEqual([failureOf(thrown).message, failureOf(thrown).code], [message, 'handler_error'], `${kind} on a thread`);
    }
  });

  it('keeps a PermanentError permanent, with its code', async () => {
    await assert.rejects(inWorkerThread(handlers, 'refuse')({}, context().ctx), (err) => err instanceof PermanentError && err.code === 'bad_input');
  });

  it("keeps a PermanentError whose code is not text permanent, with the code's text, as the event loop stores it", async () => {
    await assert.rejects(
      inWorkerThread(handlers, 'oddCode')({}, context().ctx),
      (err) => err instanceof PermanentError && err.code === 'object_code' && err.message === 'with a code that is an object',
    );
  });

  it('keeps a PermanentError whose name is not text permanent, with its code and message', async () => {
    await assert.rejects(
      inWorkerThread(handlers, 'oddName')({}, context().ctx),
      (err) => err instanceof PermanentError && err.code === 'bad_input' && err.message === 'bad input',
    );
  });

  it('forwards progress messages that are not text as their text, and a fraction not a number as nothing, as the event loop does', async () => {
    const { ctx, progress } = context();
    const result = (await inWorkerThread(handlers, 'oddProgress')({}, ctx)) as { body: Uint8Array };
    assert.equal(Buffer.from(result.body).toString(), '"done"');
    assert.deepEqual(progress, [
      [0.25, 'Symbol(quarter)'],
      [0.5, 'halfway, as text'],
      [Number.NaN, undefined],
    ]);
  });

  it('keeps a RateLimitedError rate-limited, with its retryAfterS', async () => {
    await assert.rejects(
      inWorkerThread(handlers, 'throttled')({}, context().ctx),
      (err) => isRateLimitedError(err) && err.retryAfterS === 2.5 && err.message === 'quota spent',
    );
  });

  it('says a handler whose promise can never settle left its thread nothing to wait on, not an exit code', async () => {
    await assert.rejects(inWorkerThread(handlers, 'neverSettles')({}, context().ctx), {
      message: "the handler's promise (or its module's loading) never settled: its worker thread had nothing left to wait on (a promise nothing resolves)",
    });
  });

  it('terminates a handler that never yields when the signal fires, while this thread stays responsive', async () => {
    const controller = new AbortController();
    const { ctx, progress } = context(controller);
    const running = inWorkerThread(handlers, 'spin')({}, ctx);
    // Polling here needs this event loop to turn while the thread spins.
    await waitFor(() => progress.length > 0, { what: 'the thread to start spinning' });
    const reason = new Error('timed out');
    controller.abort(reason);
    await assert.rejects(running, (err) => err === reason);
  });
});
