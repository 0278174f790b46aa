// Owns: the typed errors of the domain, each with a stable code.
// Not here: how a code becomes an HTTP status or an exit code (http/problem.ts, cli/).
// Invariant: every code in ERROR_CODES is documented in docs/errors.md; a test checks it.

export const ERROR_CODES = [
  'validation_failed',
  'unknown_task_type',
  'not_found',
  'method_not_allowed',
  'conflict',
  'not_completed',
  'not_redrivable',
  'precondition_failed',
  'result_gone',
  'idempotency_key_mismatch',
  'idempotency_key_in_use',
  'webhook_url_refused',
  'payload_too_large',
  'headers_too_large',
  'expectation_failed',
  'request_timeout',
  'unsupported_media_type',
  'unauthorized',
  'forbidden',
  'misdirected_request',
  'rate_limited',
  'store_unavailable',
  'shutting_down',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface FieldError {
  /** JSON pointer into the request body (or `/query/...`, `/headers/...`), e.g. `/input/date_range`. */
  readonly path: string;
  readonly message: string;
}

export class AsyncOpsError extends Error {
  readonly code: ErrorCode;
  readonly errors: readonly FieldError[];
  readonly extra: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: { errors?: readonly FieldError[]; extra?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AsyncOpsError';
    this.code = code;
    this.errors = options.errors ?? [];
    this.extra = options.extra ?? {};
  }
}

/** Fields refused, as one line: the first few, and how many more the list has (a body can hold 100,000 of them). */
export function fieldErrorsSummary(errors: readonly FieldError[]): string {
  const shown = errors.slice(0, 5).map((e) => `${e.path} ${e.message}`);
  return errors.length > shown.length ? `${shown.join('; ')}; and ${errors.length - shown.length} more` : shown.join('; ');
}

/** The refusal of a request whose fields `errors` lists, every one of them; its message names the first few. */
export function validationFailed(errors: readonly FieldError[]): AsyncOpsError {
  return new AsyncOpsError('validation_failed', fieldErrorsSummary(errors), { errors });
}

/** Marks a PermanentError whichever copy of this module made it (see isPermanentError). */
const PERMANENT = Symbol.for('asyncops.PermanentError');

/** Thrown by a task handler to fail the operation at once, without further attempts. */
export class PermanentError extends Error {
  readonly code: string;
  readonly [PERMANENT] = true;
  constructor(message: string, code = 'handler_error') {
    super(message);
    this.name = 'PermanentError';
    this.code = code;
  }
}

/**
 * Whether a handler threw a PermanentError. Not `instanceof`: a task module may import the package's built copy
 * (`asyncops`, from dist/) while the server runs from src/, and its PermanentError is then another class.
 */
export function isPermanentError(error: unknown): error is PermanentError {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[PERMANENT] === true;
}

/** Marks a RateLimitedError whichever copy of this module made it (as PERMANENT does). */
const RATE_LIMITED = Symbol.for('asyncops.RateLimitedError');

/**
 * Thrown by a task handler when the service it calls is rate-limiting it: the operation goes back to the queue without
 * using up an attempt, to run again `retryAfterS` seconds later, and no operation of its type starts on any node until
 * then (domain/rate-limit.ts: the hold, at most MAX_HOLD_S).
 */
export class RateLimitedError extends Error {
  readonly retryAfterS: number | undefined;
  readonly [RATE_LIMITED] = true;
  constructor(options: { readonly retryAfterS?: number | undefined; readonly message?: string | undefined } = {}) {
    super(options.message ?? 'the service this task calls is rate-limiting it');
    this.name = 'RateLimitedError';
    this.retryAfterS = options.retryAfterS;
  }
}

/** Whether a handler threw a RateLimitedError (from any copy of this module; see isPermanentError). */
export function isRateLimitedError(error: unknown): error is RateLimitedError {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[RATE_LIMITED] === true;
}

/** Anything a handler throws becomes an Error with a message; non-Error throws are normalised. */
export function coerceError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  if (typeof thrown === 'string') return new Error(thrown);
  // JSON where it writes one; else its own text (a symbol's JSON is nothing); else, where even that throws (an object
  // with no prototype, a toString that throws), what kind of object it is.
  const text = readSafely(() => JSON.stringify(thrown), undefined) ?? readSafely(() => String(thrown), undefined) ?? Object.prototype.toString.call(thrown);
  return new Error(`non-error thrown: ${text}`);
}

/**
 * What a handler's failure is stored as: its code (a PermanentError's, else handler_error), its message, and whether
 * it is permanent. Read so that nothing the thrown value holds can throw here (a `message` or `code` getter that
 * throws): the attempt must end whatever was thrown, or it would hold its slot until its timeout.
 */
export function failureOf(thrown: unknown): { readonly error: Error; readonly code: string; readonly message: string; readonly permanent: boolean } {
  const error = coerceError(thrown);
  const permanent = readSafely(() => isPermanentError(error), false);
  // A code or message that is not text (or an empty code) is made text, so the end is stored as any other.
  const code = (permanent && readSafely(() => String((error as PermanentError).code ?? ''), '')) || 'handler_error';
  const message = readSafely(() => messageOf(error), 'the handler threw an error whose message could not be read');
  return { error, code, message, permanent };
}

/** What is stored of anything thrown: its message (messageOf), or for what is no Error, `non-error thrown: ` and its JSON. */
export function thrownText(thrown: unknown): string {
  return messageOf(coerceError(thrown));
}

/** An error's message; where it is empty, which would store a failure that says nothing, an AggregateError's inner ones or its name. */
export function messageOf(error: Error): string {
  const own = String(error.message);
  if (own !== '') return own;
  const inner = error instanceof AggregateError ? [...error.errors].map((e) => String(coerceError(e).message)).filter((m) => m !== '') : [];
  return inner.length > 0 ? `${error.name}: ${inner.join('; ')}` : `${error.name} (without a message)`;
}

/** What `read` gives, or `fallback` when reading throws (a getter of a thrown value's, say). */
export function readSafely<T, F>(read: () => T, fallback: F): T | F {
  try {
    return read();
  } catch {
    return fallback;
  }
}
