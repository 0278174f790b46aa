// Owns: the operation record as the domain sees it, and the rules that decide an attempt's outcome.
// Not here: storage (store/), rendering to JSON (resource.ts), running handlers (runtime/).
// Invariant: times are integer milliseconds since the epoch; `version` grows by one on every stored change.

import type { OperationStatus } from './status.ts';
import { equalJitterDelay, type BackoffPolicy, type Random } from './backoff.ts';
import type { TraceCarrier } from './trace-context.ts';
import { jsonTextOf } from './json-values.ts';
import { thrownText } from './errors.ts';
import { isMediaType, MEDIA_TYPE_MAX } from './media-type.ts';

export interface OperationError {
  readonly code: string;
  readonly message: string;
}

/** The tenant of every operation on a server without API keys. */
export const DEFAULT_TENANT = 'default';
/** A tenant's name: 1 to 64 letters, digits, `_`, `.` or `-`, from a letter or digit (as keys files name them). */
export const TENANT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export const IDEMPOTENCY_KEY_MAX = 255;
/** An idempotency key, from a header or from code: 1 to IDEMPOTENCY_KEY_MAX visible ASCII characters. */
export const isIdempotencyKey = (key: string): boolean => key.length > 0 && key.length <= IDEMPOTENCY_KEY_MAX && /^[\x21-\x7e]+$/.test(key);

export const DELIVERY_STATES = ['pending', 'delivered', 'retrying', 'dead'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/** A progress fraction and when it was reported. */
export interface ProgressPoint {
  readonly progress: number;
  readonly at: number;
}

export interface Operation {
  readonly id: string;
  readonly tenant: string;
  readonly type: string;
  readonly status: OperationStatus;
  readonly input: unknown;
  readonly progress: number | null;
  readonly progressMessage: string | null;
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly priority: number;
  readonly timeoutS: number;
  readonly runAt: number;
  readonly createdAt: number;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
  readonly updatedAt: number;
  readonly error: OperationError | null;
  readonly webhookUrl: string | null;
  /** State of the latest webhook delivery; null when there is no webhook or none has been written yet. */
  readonly webhookState: DeliveryState | null;
  readonly cancelRequested: boolean;
  /** Set while processing: who holds the lease and until when. */
  readonly leaseToken: string | null;
  readonly leaseExpiresAt: number | null;
  readonly workerId: string | null;
  /** True once the result body was removed by retention (GET result → 410). */
  readonly resultExpired: boolean;
  /** The size of its work, as its task's cost(input) declared it on submit (null: none declared). */
  readonly cost: number | null;
  /** What its type's per-key limit of running operations counts it under (a customer, an account; null: none). */
  readonly concurrencyKey?: string | null | undefined;
  /** The schedule whose tick created it (null or absent: a submit, or stored before stores kept it). */
  readonly scheduleId?: string | null | undefined;
  /**
   * An earlier progress point of the attempt (kept about PROGRESS_ANCHOR_MS behind the latest, domain/eta.ts): the ETA
   * reads the recent rate from it. One from before the attempt started (started_at) belongs to an earlier attempt.
   */
  readonly progressAnchor: ProgressPoint | null;
  /** The trace context it was created in (W3C), which its first attempt continues; null or absent: none. */
  readonly trace?: TraceCarrier | null | undefined;
  readonly version: number;
  /**
   * The version its end made (null or absent: not ended, or ended before stores kept it). The versions after it are new
   * states of its webhook, which its resource shows: an event stream that has this one has seen the end.
   */
  readonly finishedVersion?: number | null | undefined;
  /** When an operator last redrove it (null or absent: never): the first attempt of a redriven run starts a trace of its own. */
  readonly redrivenAt?: number | null | undefined;
}

/** What a handler returns, normalised: a content type and the bytes. */
export interface OperationResult {
  readonly contentType: string;
  readonly body: Buffer;
}

export interface AttemptFailure {
  readonly code: string;
  readonly message: string;
  /** A PermanentError, or a timeout on a type that does not retry timeouts. */
  readonly permanent: boolean;
}

export type AttemptDecision =
  | { readonly kind: 'retry'; readonly runAt: number; readonly error: OperationError }
  | { readonly kind: 'fail'; readonly error: OperationError };

/** The longest error message kept; every read of the operation carries it. */
export const ERROR_MESSAGE_MAX = 4_096;

/**
 * The longest progress message kept: a line of status, which every status read, list page, event and history
 * milestone carries (a handler's 5 MB message made a list page of eleven operations 52 MB).
 */
export const PROGRESS_MESSAGE_MAX = 1_000;

function bounded(text: string, max: number): string {
  if (text.length <= max) return text;
  // Not between the halves of a surrogate pair: a lone half is stored as U+FFFD.
  const end = isHighSurrogate(text.charCodeAt(max - 2)) ? max - 2 : max - 1;
  return `${text.slice(0, end)}…`;
}

const isHighSurrogate = (unit: number): boolean => unit >= 0xd800 && unit <= 0xdbff;

/** A handler's error as it is kept and shown: no longer than ERROR_MESSAGE_MAX characters (the store cleans its text). */
export function boundedError(code: string, message: string): OperationError {
  return { code: bounded(code, 64), message: bounded(message, ERROR_MESSAGE_MAX) };
}

/** A progress message as it is kept and shown: no longer than PROGRESS_MESSAGE_MAX characters. */
export function boundedProgressMessage(message: string): string {
  return bounded(message, PROGRESS_MESSAGE_MAX);
}

/** After a failed attempt: retry later (exponential backoff, equal jitter) while attempts remain, else fail for good. */
export function decideAfterFailure(
  op: Pick<Operation, 'attempt' | 'maxAttempts'>,
  failure: AttemptFailure,
  now: number,
  backoff: BackoffPolicy,
  random: Random = Math.random,
): AttemptDecision {
  const error = boundedError(failure.code, failure.message);
  if (failure.permanent || op.attempt >= op.maxAttempts) return { kind: 'fail', error };
  return { kind: 'retry', runAt: now + equalJitterDelay(backoff, op.attempt, random), error };
}

/**
 * Normalise a handler's return value into a stored result: `{ contentType, body }` with a media type and a body of
 * text or bytes is stored as it is. Any other value is stored as JSON. What cannot be kept as given is an
 * InvalidResultError (the attempt fails `invalid_result`): such an object with a body of anything else (as JSON, an
 * ArrayBuffer would have become `{}`) or a type no header carries, a value JSON cannot write, or one it would write
 * as something else (NaN as null, a Map as {}). A value too large to write at all throws V8's RangeError.
 */
export function toOperationResult(value: unknown): OperationResult {
  if (value instanceof RefusedResult) {
    if (value.why === 'too_large') throw new RangeError(`Invalid string length: ${value.message}`);
    throw value.why === 'invalid' ? new InvalidResultError(value.message) : new Error(value.message);
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const { contentType, body } = value as Record<string, unknown>;
    if (typeof contentType === 'string' && 'body' in value) {
      const bytes = bytesOf(body);
      if (bytes !== null) {
        if (!isMediaType(contentType)) {
          throw new InvalidResultError(
            `a result's contentType must be a media type such as "text/csv; charset=utf-8" (type/subtype and parameters in visible ASCII, at most ${MEDIA_TYPE_MAX} characters), got ${JSON.stringify(contentType.slice(0, 100))}`,
          );
        }
        return { contentType, body: bytes };
      }
      throw new InvalidResultError(
        `a result with a contentType needs a body of text or bytes (a string, Buffer, Uint8Array, ArrayBuffer or typed array), got ${describeBody(body)}`,
      );
    }
  }
  const text = jsonTextOf(value === undefined ? null : value);
  if ('notJson' in text) throw new InvalidResultError(`the result cannot be serialised as JSON: ${text.notJson}`);
  if ('unkept' in text) {
    const { path, message } = text.unkept;
    throw new InvalidResultError(`the result ${path === '/' ? '' : `at ${path} `}${message}`);
  }
  const { json } = text;
  return { contentType: 'application/json', body: Buffer.from(json, 'utf8') };
}

/**
 * A result refused where it was made (a worker thread, where the handler's value is; only what it stores as can cross
 * to the attempt): toOperationResult throws what it threw there, so the attempt ends as it would have on the event loop.
 */
export class RefusedResult {
  readonly why: 'invalid' | 'too_large' | 'other';
  readonly message: string;

  constructor(why: 'invalid' | 'too_large' | 'other', message: string) {
    this.why = why;
    this.message = message;
  }

  /** How `error`, thrown by toOperationResult, is carried across. */
  static of(error: unknown): RefusedResult {
    const message = thrownText(error);
    if (error instanceof InvalidResultError) return new RefusedResult('invalid', message);
    return new RefusedResult(error instanceof RangeError ? 'too_large' : 'other', message);
  }
}

/** A handler's result that cannot be kept as it was given. */
export class InvalidResultError extends TypeError {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidResultError';
  }
}

/** Text as UTF-8, or bytes however they are held; null for anything else. */
function bytesOf(body: unknown): Buffer | null {
  if (typeof body === 'string') {
    // UTF-8 has no bytes for half a surrogate pair: Buffer would write U+FFFD in its place, a result not as returned.
    if (!body.isWellFormed())
      throw new InvalidResultError('a result body of text holds a lone surrogate, which UTF-8 cannot carry (it would be kept as U+FFFD)');
    return Buffer.from(body, 'utf8');
  }
  if (body instanceof ArrayBuffer || body instanceof SharedArrayBuffer) return Buffer.from(new Uint8Array(body));
  if (ArrayBuffer.isView(body)) return Buffer.from(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
  return null;
}

function describeBody(body: unknown): string {
  if (body === null) return 'null';
  if (typeof body !== 'object') return typeof body;
  return body.constructor?.name ?? 'an object';
}
