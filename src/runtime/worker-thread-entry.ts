// Owns: the worker thread's side of inWorkerThread: load the handler module, run it once, post back
// progress, log lines and the outcome. Not here: aborting (the parent terminates the thread).
// Invariant: exactly one 'result' or 'error' message is posted.

import { registerHooks } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import { INVALID_SPAN_CONTEXT, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { pino } from 'pino';
import { failureOf, isRateLimitedError, PermanentError, readSafely } from '../domain/errors.ts';
import { RefusedResult, toOperationResult } from '../domain/operation.ts';
import { spanContextOf } from '../telemetry/tracing.ts';
import { redactChildBindings, redactingOptions } from '../telemetry/log-redaction.ts';
import type { IsolatedHandler, IsolatedTaskContext, ThreadMessage, ThreadStart } from './worker-thread.ts';

const port = parentPort;
if (port === null) throw new Error('worker-thread-entry.ts runs only as a worker thread');
const post = (message: ThreadMessage): void => port.postMessage(message);
const start = workerData as ThreadStart;

if (start.sources !== null) {
  const sources = start.sources;
  registerHooks({
    resolve: (specifier, context, nextResolve) =>
      Object.hasOwn(sources, specifier) ? { url: sources[specifier]!, shortCircuit: true } : nextResolve(specifier, context),
  });
}

try {
  const module = (await import(start.moduleUrl)) as Record<string, unknown>;
  const handler = module[start.exportName];
  if (typeof handler !== 'function') throw new PermanentError(`${start.moduleUrl} exports no function "${start.exportName}"`);
  const span = trace.wrapSpanContext(start.trace === null ? INVALID_SPAN_CONTEXT : spanContextOf(start.trace));
  const ctx: IsolatedTaskContext = {
    // The parent terminates the thread on abort, so this signal never needs to fire.
    signal: new AbortController().signal,
    attempt: start.attempt,
    operationId: start.operationId,
    // Made what the event loop's attempt makes of them (a fraction not a number is ignored, a message not text is its
    // text) before they cross: a symbol, a function or an object with methods cannot be cloned, and the attempt failed.
    progress: (fraction, message) =>
      post({
        kind: 'progress',
        fraction: typeof fraction === 'number' ? fraction : Number.NaN,
        message: message === undefined || message === null ? undefined : String(message),
      }),
    // Redacted here as the server's own logger redacts (telemetry/log-redaction.ts): a message's interpolated values
    // cross as text, which the parent cannot redact.
    log: redactChildBindings(pino(redactingOptions({ level: 'trace' }), { write: (line: string) => post({ kind: 'log', line }) })),
    span,
    traceContext: trace.setSpan(ROOT_CONTEXT, span),
  };
  post(storedAs(await (handler as IsolatedHandler)(start.input, ctx)));
} catch (thrown) {
  // As the event loop's attempt would store it (a thrown object's JSON, never String()'s "[object Object]").
  // Its code as text (failureOf's, as the event loop stores it): a code that is no string cannot be cloned, and the
  // thread died with the error lost, its permanence with it.
  const { error, code, message, permanent } = failureOf(thrown);
  post({
    kind: 'error',
    name: readSafely(() => String(error.name), 'Error'),
    message,
    permanentCode: permanent ? code : null,
    rateLimited: isRateLimitedError(error) ? { retryAfterS: typeof error.retryAfterS === 'number' ? error.retryAfterS : null } : null,
  });
}

/**
 * The handler's value as it is stored, made here, where the value is: a Date, a class's toJSON, a URL, a Map or a
 * function do not cross a structured clone as JSON would write them (they were refused as errors, or stored changed).
 */
function storedAs(value: unknown): ThreadMessage {
  try {
    return { kind: 'result', value: toOperationResult(value) };
  } catch (error) {
    const refused = RefusedResult.of(error);
    return { kind: 'refused', why: refused.why, message: refused.message };
  }
}
