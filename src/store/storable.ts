// Owns: the store boundary's cleaning of text that comes from outside (handler progress and error messages, webhook
// receivers' replies and errors) and the test of whether a store error was a refused value rather than a store away.
// Not here: length caps of what is shown (domain/operation.ts), deciding what happens to an attempt (runtime/).
// Invariant: both adapters store the same text for the same input, so a value SQLite keeps PostgreSQL keeps too.

import { AsyncOpsError } from '../domain/errors.ts';
import type { OperationError } from '../domain/operation.ts';
import type { DeliveryAttemptParams, FinishParams, RecoverParams, RetryParams } from './store.ts';

/**
 * Text as every store can hold it: PostgreSQL's text refuses NUL (`22021 invalid byte sequence`), and a lone surrogate
 * would be stored as bytes that are not UTF-8. Both become U+FFFD, as a UTF-8 decoder shows them.
 */
export function storableText(text: string): string {
  return text.replaceAll('\u0000', '\uFFFD').toWellFormed();
}

function storableOrNull(text: string | null): string | null {
  return text === null ? null : storableText(text);
}

function storableErrorOf(error: OperationError): OperationError {
  return { code: storableText(error.code), message: storableText(error.message) };
}

export function storableProgress<P extends { readonly message: string | null }>(params: P): P {
  return { ...params, message: storableOrNull(params.message) };
}

export function storableFinish(params: FinishParams): FinishParams {
  return {
    ...params,
    error: params.error === undefined ? undefined : storableErrorOf(params.error),
    progress: params.progress === undefined ? undefined : storableProgress(params.progress),
    result: params.result === undefined ? undefined : { ...params.result, contentType: storableText(params.result.contentType) },
  };
}

export function storableRetry(params: RetryParams): RetryParams {
  return { ...params, error: storableErrorOf(params.error) };
}

export function storableRecover(params: RecoverParams): RecoverParams {
  return { ...params, error: storableErrorOf(params.error) };
}

export function storableAttempt(params: DeliveryAttemptParams): DeliveryAttemptParams {
  const { attempt } = params;
  return { ...params, attempt: { ...attempt, error: storableOrNull(attempt.error), responseSnippet: storableOrNull(attempt.responseSnippet) } };
}

/**
 * Whether a store call failed because of the value it was given (too large, not representable), so trying the same
 * write again can never succeed; a lost connection or a busy database is not such an error.
 * - Node: a string or buffer over the engine's limits (`RangeError: Cannot create a string longer than …`).
 * - SQLite: SQLITE_TOOBIG ("string or blob too big").
 * - PostgreSQL: SQLSTATE class 22 (data exception) and 54 (program limit exceeded).
 */
export function isRefusedValue(err: unknown): boolean {
  if (err instanceof RangeError) return true;
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; errcode?: unknown; message?: unknown };
  if (e.code === 'ERR_SQLITE_ERROR') return e.errcode === SQLITE_TOOBIG || (typeof e.message === 'string' && e.message.includes('too big'));
  return typeof e.code === 'string' && /^(22|54)[0-9A-Z]{3}$/.test(e.code);
}

const SQLITE_TOOBIG = 18;

/**
 * Whether a store call failed because the store has no room for it (SQLite: SQLITE_FULL, a full disk; PostgreSQL:
 * SQLSTATE 53100 disk_full), reported as store_unavailable or as the driver's own error. Unlike a store that is away,
 * the same write can fail this way for as long as the disk stays full, however often it is tried.
 */
export function isOutOfRoom(err: unknown): boolean {
  const inner = err instanceof AsyncOpsError && err.code === 'store_unavailable' ? err.cause : err;
  if (typeof inner !== 'object' || inner === null) return false;
  const e = inner as { code?: unknown; errcode?: unknown };
  return (typeof e.errcode === 'number' && (e.errcode & 0xff) === SQLITE_FULL) || e.code === '53100';
}

const SQLITE_FULL = 13;
