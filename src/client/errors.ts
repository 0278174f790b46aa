// Owns: the errors the SDK throws — an API refusal (with its problem details), an unreachable server, a server that is
// not an asyncops API, a wait that ran out.
// Not here: deciding when to retry (transport.ts) or how an error becomes an exit code (src/cli/).
// Invariant: every message is one line a person can act on; the problem details are kept whole.

import type { ProblemDetails } from './types.ts';

/** The server answered with an error status; `problem` holds its RFC 9457 details. */
export class AsyncOpsApiError extends Error {
  readonly status: number;
  readonly problem: ProblemDetails;
  /** The reply's `Retry-After`, in seconds, when it carried one (a 429 or 503 says when to come back). */
  readonly retryAfterS: number | undefined;

  constructor(status: number, problem: ProblemDetails, options?: { cause?: unknown; retryAfterS?: number | undefined }) {
    super(describeProblem(status, problem), options);
    this.name = 'AsyncOpsApiError';
    this.status = status;
    this.problem = problem;
    this.retryAfterS = options?.retryAfterS;
  }

  /** The problem's stable `code` (e.g. `not_found`, `validation_failed`), when the server sent one. */
  get code(): string | undefined {
    return this.problem.code;
  }
}

/** The server could not be reached (connection refused, DNS, reset, request timeout), after any retries. */
export class AsyncOpsNetworkError extends Error {
  readonly url: string;

  constructor(message: string, url: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AsyncOpsNetworkError';
    this.url = url;
  }
}

/**
 * Something answered, but not as the asyncops API does (an HTML page, say, whatever its status): most likely the base
 * URL is wrong. The message names the status and content type, never the body.
 */
export class AsyncOpsUnexpectedResponseError extends Error {
  readonly url: string;
  readonly status: number;
  readonly contentType: string | null;
  /** The reply's `Retry-After`, in seconds, when it carried one (a proxy's 503 page may say when to come back). */
  readonly retryAfterS: number | undefined;

  constructor(baseUrl: string, url: string, status: number, contentType: string | null, options?: { cause?: unknown; retryAfterS?: number | undefined }) {
    super(`the server at ${baseUrl} did not answer as an asyncops API: HTTP ${status}, content-type ${contentType ?? '(none)'}`, options);
    this.name = 'AsyncOpsUnexpectedResponseError';
    this.url = url;
    this.status = status;
    this.contentType = contentType;
    this.retryAfterS = options?.retryAfterS;
  }
}

/** `wait()` gave up because its own `timeoutMs` elapsed; the operation itself goes on. */
export class AsyncOpsWaitTimeoutError extends Error {
  readonly operationId: string;
  readonly timeoutMs: number;

  constructor(operationId: string, timeoutMs: number) {
    super(`operation ${operationId} did not finish within ${timeoutMs / 1000} s`);
    this.name = 'AsyncOpsWaitTimeoutError';
    this.operationId = operationId;
    this.timeoutMs = timeoutMs;
  }
}

function describeProblem(status: number, problem: ProblemDetails): string {
  const head = problem.title || `HTTP ${status}`;
  const detail = problem.detail && problem.detail !== problem.title ? `: ${problem.detail}` : '';
  // The server's detail often says the fields already ("/input/n must be integer"; "webhook_url refused: host …"): each
  // is added only where it does not.
  const detailText = problem.detail ?? '';
  const told = (e: { path: string; message: string }) =>
    detailText.includes(`${e.path} ${e.message}`) || (detailText.includes(e.message) && detailText.includes(e.path.replace(/^\//, '')));
  const fields = (problem.errors ?? [])
    .filter((e) => !told(e))
    .map((e) => `${e.path} ${e.message}`)
    .join('; ');
  return `${head}${detail}${fields ? ` (${fields})` : ''} [${status}]`;
}
