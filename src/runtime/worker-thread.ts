// Owns: running a task's handler on a worker thread (opt-in), so CPU-bound work cannot stall this event loop.
// Not here: the thread's side (worker-thread-entry.ts), retries and timeouts (the pool treats it as any run).
// Invariant: an abort terminates the thread at once and the run rejects with the signal's reason.

import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { PermanentError, RateLimitedError } from '../domain/errors.ts';
import { RefusedResult, type OperationResult } from '../domain/operation.ts';
import type { TraceCarrier } from '../domain/trace-context.ts';
import { carrierOf } from '../telemetry/tracing.ts';
import type { TaskContext, TaskResult } from './task.ts';

/** What a handler running on a worker thread gets: the TaskContext, its log forwarded to the pool's. */
export type IsolatedTaskContext = TaskContext;

/** The module a thread loads exports this, by default as `default`. */
// biome-ignore lint/suspicious/noExplicitAny: as TaskDefinition: the default for a handler whose input is not typed.
export type IsolatedHandler<Input = any> = (input: Input, ctx: IsolatedTaskContext) => Promise<TaskResult> | TaskResult;

export interface ThreadStart {
  readonly moduleUrl: string;
  readonly exportName: string;
  readonly input: unknown;
  readonly attempt: number;
  readonly operationId: string;
  /** The attempt's span context: the thread's ctx.span carries it (not recording: the SDK, if any, is on the main thread). */
  readonly trace: TraceCarrier | null;
  /**
   * Specifiers the main thread resolves to URLs of its own (`asyncops` to this checkout's sources, as bin/asyncops.js
   * sets them): module hooks are a thread's own, so the thread registers these too. Null: none.
   */
  readonly sources: Readonly<Record<string, string>> | null;
}

/** Where bin/asyncops.js leaves the specifiers it resolves in a checkout. */
const SOURCES = Symbol.for('asyncops.sources');

export type ThreadMessage =
  | { readonly kind: 'progress'; readonly fraction: number; readonly message: string | undefined }
  | { readonly kind: 'log'; readonly line: string }
  /** What the handler's value is stored as (toOperationResult, in the thread): structured clone keeps none of its toJSON. */
  | { readonly kind: 'result'; readonly value: OperationResult }
  /** Its value refused there (RefusedResult). */
  | { readonly kind: 'refused'; readonly why: RefusedResult['why']; readonly message: string }
  | {
      readonly kind: 'error';
      readonly name: string;
      readonly message: string;
      readonly permanentCode: string | null;
      /** A RateLimitedError, with its retryAfterS (null: none named). */
      readonly rateLimited: { readonly retryAfterS: number | null } | null;
    };

// Beside this file: .ts when run from source, .js in the built package.
const ENTRY = new URL(`./worker-thread-entry${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/**
 * A task's `run` that runs `exportName` of the module at `moduleUrl` on a fresh worker thread per attempt:
 * `run: inWorkerThread(new URL('./heavy.ts', import.meta.url))`. The input crosses by structured clone, the result as
 * what it is stored as (made on the thread: a structured clone keeps no toJSON, URL or class);
 * progress and log lines are forwarded; a PermanentError keeps its code, a RateLimitedError its retryAfterS.
 */
// biome-ignore lint/suspicious/noExplicitAny: as TaskDefinition: the default for a handler whose input is not typed.
export function inWorkerThread<Input = any>(moduleUrl: URL | string, exportName = 'default'): (input: Input, ctx: TaskContext) => Promise<TaskResult> {
  const href = moduleUrl instanceof URL ? moduleUrl.href : moduleUrl;
  return (input, ctx) =>
    runInThread(
      {
        moduleUrl: href,
        exportName,
        input,
        attempt: ctx.attempt,
        operationId: ctx.operationId,
        trace: carrierOf(ctx.span),
        sources: ((globalThis as Record<symbol, unknown>)[SOURCES] as Record<string, string> | undefined) ?? null,
      },
      ctx,
    );
}

function runInThread(start: ThreadStart, ctx: TaskContext): Promise<TaskResult> {
  ctx.signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const worker = new Worker(ENTRY, { workerData: start });
    let settled = false;
    const settle = (finish: () => void): void => {
      if (settled) return;
      settled = true;
      ctx.signal.removeEventListener('abort', onAbort);
      finish();
      void worker.terminate();
    };
    const onAbort = (): void => settle(() => reject(ctx.signal.reason));
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (message: ThreadMessage) => {
      if (message.kind === 'progress') ctx.progress(message.fraction, message.message);
      else if (message.kind === 'log') forwardLog(ctx, message.line);
      else if (message.kind === 'result') settle(() => resolve(message.value));
      else if (message.kind === 'refused') settle(() => resolve(new RefusedResult(message.why, message.message)));
      else settle(() => reject(rebuildError(message)));
    });
    worker.on('error', (err) => settle(() => reject(err)));
    worker.on('exit', (code) => settle(() => reject(new Error(exitMessage(code)))));
  });
}

/** Node's exit code for a top-level await that can never settle: nothing is left on the thread for it to wait on. */
const UNSETTLED_AWAIT = 13;

function exitMessage(code: number): string {
  if (code === UNSETTLED_AWAIT) {
    return "the handler's promise (or its module's loading) never settled: its worker thread had nothing left to wait on (a promise nothing resolves)";
  }
  return `worker thread exited with code ${code} before returning`;
}

function rebuildError(message: Extract<ThreadMessage, { kind: 'error' }>): Error {
  if (message.permanentCode !== null) return new PermanentError(message.message, message.permanentCode);
  if (message.rateLimited !== null) return new RateLimitedError({ message: message.message, retryAfterS: message.rateLimited.retryAfterS ?? undefined });
  const error = new Error(message.message);
  error.name = message.name;
  return error;
}

function forwardLog(ctx: TaskContext, line: string): void {
  try {
    const { level, msg, time: _time, pid: _pid, hostname: _hostname, ...fields } = JSON.parse(line) as Record<string, unknown>;
    const label = typeof level === 'number' ? pino.levels.labels[level] : undefined;
    const log = label !== undefined && label in ctx.log ? (ctx.log[label as pino.Level] as pino.LogFn).bind(ctx.log) : ctx.log.info.bind(ctx.log);
    log({ ...fields, thread: true }, typeof msg === 'string' ? msg : '');
  } catch {
    ctx.log.info({ thread: true }, line.trimEnd());
  }
}
