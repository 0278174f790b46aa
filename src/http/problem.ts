// Owns: RFC 9457 problem details: the one table from error code to HTTP status and title, and rendering.
// Not here: raising errors (domain/, runtime/); route schemas (schemas.ts).
// Invariant: every error reaching a client is application/problem+json; bad input never becomes a 5xx.

import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AsyncOpsError, validationFailed, type ErrorCode, type FieldError } from '../domain/errors.ts';
import { fieldErrorsOf } from '../runtime/schema-errors.ts';
import { trackAllowedMethods, type RouteMethods } from './method-not-allowed.ts';
import { CACHE_CONTROL } from './caching.ts';

/** Where each problem type is documented: the server's own page, one anchor per code (problem-docs.ts). */
export const PROBLEM_DOCS_PATH = '/docs/problems';
/** A relative reference (RFC 9457 allows one), so a type leads to the server that sent it, whatever its address. */
export const PROBLEM_TYPE_BASE = `${PROBLEM_DOCS_PATH}#`;

/** The `type` of a code's problem from an API mounted at `basePath` (its documentation page is there too). */
export const problemType = (code: string, basePath = ''): string => `${basePath}${PROBLEM_TYPE_BASE}${code}`;

export const PROBLEMS: Readonly<Record<ErrorCode, { readonly status: number; readonly title: string }>> = {
  validation_failed: { status: 400, title: 'Request is not valid' },
  unknown_task_type: { status: 422, title: 'Unknown task type' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  conflict: { status: 409, title: 'Conflict with the current state' },
  not_completed: { status: 409, title: 'Operation has not completed' },
  not_redrivable: { status: 409, title: 'Operation is not failed or cancelled' },
  precondition_failed: { status: 412, title: 'Precondition failed' },
  result_gone: { status: 410, title: 'Result is gone' },
  idempotency_key_mismatch: { status: 422, title: 'Idempotency-Key reused with another request' },
  idempotency_key_in_use: { status: 409, title: 'Idempotency-Key is in use by a request still being processed' },
  webhook_url_refused: { status: 422, title: 'Webhook URL refused' },
  payload_too_large: { status: 413, title: 'Request body too large' },
  headers_too_large: { status: 431, title: 'Request header fields too large' },
  expectation_failed: { status: 417, title: 'Expectation failed' },
  misdirected_request: { status: 421, title: 'Misdirected request' },
  request_timeout: { status: 408, title: 'Request timeout' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  unauthorized: { status: 401, title: 'Unauthorized' },
  forbidden: { status: 403, title: 'Forbidden' },
  rate_limited: { status: 429, title: 'Too many requests' },
  store_unavailable: { status: 503, title: 'Store unavailable' },
  shutting_down: { status: 503, title: 'Server is shutting down' },
};

/** The problem of a failure that is the server's own, not an AsyncOpsError. */
export const INTERNAL_PROBLEM = { code: 'internal', status: 500, title: 'Internal server error' } as const;

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  errors?: readonly FieldError[];
  [extension: string]: unknown;
}

/**
 * The most field errors a problem lists. A body of a megabyte can hold some 100,000 fields a schema refuses, each an
 * error of its own: listed, a reply several times the request's size (a 650 KB body drew 6.7 MB).
 */
const LISTED_ERRORS = 100;

export function problemFor(error: AsyncOpsError, instance?: string, basePath = ''): Problem {
  const { status, title } = PROBLEMS[error.code];
  const unlisted = error.errors.length - LISTED_ERRORS;
  const detail = unlisted > 0 ? `${error.message} (the first ${LISTED_ERRORS} of ${error.errors.length} errors are listed)` : error.message;
  const problem: Problem = { type: problemType(error.code, basePath), title, status, detail, code: error.code, ...error.extra };
  // A path that starts `//` is, as a URI reference, a host and a path (`//operations` names the host `operations`).
  if (instance !== undefined) problem.instance = instance.replace(/^\/{2,}/, '/');
  if (error.errors.length > 0) problem.errors = unlisted > 0 ? error.errors.slice(0, LISTED_ERRORS) : error.errors;
  return problem;
}

export function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  return reply.code(problem.status).headers(statusHeaders(problem.status)).type('application/problem+json').send(problem);
}

/**
 * The headers a problem's status brings, wherever it is written: a 503 says when to ask again (RFC 9110 §10.2.3, in
 * seconds), so a store that did not answer within its timeout, or a node that is stopping, is not asked again at once
 * by a client that honours it; the SDK does.
 */
export function statusHeaders(status: number): Readonly<Record<string, string>> {
  return status === 503 ? { 'retry-after': '1' } : {};
}

/** Fastify's own errors (body parsing, schema validation, limits) translated into our codes. */
function fromFastifyError(error: FastifyError): AsyncOpsError | null {
  if (error.validation) {
    const context = error.validationContext ?? 'body';
    // Pointers name the parts of a request as the docs do (FieldError): Fastify's `querystring` is `/query`.
    const errors = fieldErrorsOf(error.validation, context === 'body' ? '' : context === 'querystring' ? '/query' : `/${context}`);
    return validationFailed(errors);
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AsyncOpsError('payload_too_large', error.message);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AsyncOpsError('unsupported_media_type', 'send the body as application/json');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new AsyncOpsError('validation_failed', error.message);
    default:
      break;
  }
  // The API docs' static files refuse a path that climbs out of their directory (`..`) with a bare 403: no file there.
  if (error.statusCode === 403) return new AsyncOpsError('not_found', 'no file at that path');
  if (error instanceof SyntaxError || (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500)) {
    return new AsyncOpsError('validation_failed', error.message);
  }
  return null;
}

const pathOf = (request: FastifyRequest): string => request.url.split('?')[0] ?? '';

/** What the router refused in a request, or null for a fault of its own (a 500). */
function frameworkRefusal(error: FastifyError): AsyncOpsError | null {
  if (error.code === 'FST_ERR_BAD_URL') {
    return new AsyncOpsError('validation_failed', 'the path is not valid percent-encoded UTF-8', {
      errors: [{ path: '/path', message: 'must be valid percent-encoded UTF-8' }],
    });
  }
  // A path segment longer than the router's maxParamLength (app.ts): no id is that long.
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return new AsyncOpsError('validation_failed', 'a path segment is too long', { errors: [{ path: '/path', message: 'has a segment that is too long' }] });
  }
  // Any other request the router refuses (its status says so) is the client's: never a 500.
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    return new AsyncOpsError('validation_failed', error.message.slice(0, 200), { errors: [{ path: '/path', message: 'is refused by the router' }] });
  }
  return null;
}

/**
 * Fastify's errors from before any route or hook is reached (its `frameworkErrors`: a path that is not valid
 * percent-encoded UTF-8, a path segment too long), as problems. No hook runs for them, so `headers` carries what the hooks would have set (CORS).
 */
export function sendFrameworkProblem(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
  basePath: string,
  headers: Readonly<Record<string, string>>,
): FastifyReply {
  const known = frameworkRefusal(error);
  if (known === null) request.log.error({ err: error }, 'unhandled framework error');
  // The path as sent (it could not be decoded), cut short.
  const instance = pathOf(request).slice(0, 300);
  const problem = known === null ? internalProblem(instance, basePath) : problemFor(known, instance, basePath);
  // No hook runs here, so the cache policy of every problem (caching.ts) is set here too.
  reply.headers({ ...headers, 'cache-control': CACHE_CONTROL.none });
  return sendProblem(reply, problem);
}

/** The status writeClientErrorProblem wrote on a socket: a request it cut short (a body that stopped) was answered. */
const answeredOnSocket = new WeakMap<Duplex, number>();

/** The status of the problem written on `socket` past every route and reply (a 408), if one was. */
export function statusWrittenOnSocket(socket: Duplex): number | undefined {
  return answeredOnSocket.get(socket);
}

/**
 * What Node could not read as a request (its `clientError`: headers over its limit, a request that timed out, bytes
 * that are not HTTP/1.1), answered as a problem on the socket, which is then closed: no route, hook or reply exists yet.
 */
export function writeClientErrorProblem(error: Error & { code?: string }, socket: Duplex, basePath: string): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const known =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? new AsyncOpsError('headers_too_large', 'the request line and headers are over the server’s limit')
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new AsyncOpsError('request_timeout', 'the request did not arrive in full in time')
        : new AsyncOpsError('validation_failed', 'the request is not valid HTTP/1.1');
  const body = JSON.stringify(problemFor(known, undefined, basePath));
  const { status } = PROBLEMS[known.code];
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  answeredOnSocket.set(socket, status);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nDate: ${new Date().toUTCString()}\r\nCache-Control: ${CACHE_CONTROL.none}\r\n` +
      `Content-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * Node's answer to an `Expect` other than `100-continue` (its `checkExpectation`), as a problem: left to Node, it is a
 * bare 417 with no body. The request is not read; the connection closes after the answer.
 */
export function writeExpectationFailed(request: IncomingMessage, response: ServerResponse, basePath: string): void {
  writeRawProblem(
    request,
    response,
    basePath,
    new AsyncOpsError('expectation_failed', 'the server meets no expectation but 100-continue: send the request without Expect'),
  );
}

/** `error` as a problem written on Node's own response, past Fastify (which has not answered), closing the connection. */
export function writeRawProblem(request: IncomingMessage, response: ServerResponse, basePath: string, error: AsyncOpsError): void {
  const body = JSON.stringify(problemFor(error, (request.url ?? '/').split('?')[0], basePath));
  const status = PROBLEMS[error.code].status;
  response.writeHead(status, {
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(body),
    'cache-control': CACHE_CONTROL.none,
    connection: 'close',
    ...statusHeaders(status),
  });
  response.end(body);
}

function internalProblem(instance: string, basePath: string): Problem {
  return {
    type: problemType(INTERNAL_PROBLEM.code, basePath),
    title: INTERNAL_PROBLEM.title,
    status: INTERNAL_PROBLEM.status,
    detail: 'the server failed to handle this request; it has been logged',
    code: INTERNAL_PROBLEM.code,
    instance,
  };
}

/** At most one `store unavailable` line in this long; each says how many 503s it stands for. */
const STORE_UNAVAILABLE_LOG_MS = 1_000;

/**
 * A parametric route took a path a static route answers for other methods (`GET /reports/async`, `DELETE
 * /operations/counts`): that path is the static resource, and this method is not one of its: a 405, as the not-found
 * handler answers. Installed where the not-found handler's answer comes, after the host check, CORS, authentication
 * and rate limits.
 */
export function refuseShadowedMethods(app: FastifyInstance, routeMethods: RouteMethods): void {
  // Not async: every request passes here, a status GET's too.
  app.addHook('onRequest', (request, reply, done) => {
    const url = request.routeOptions.url;
    if (url === undefined || !url.includes(':')) return done();
    const path = pathOf(request);
    const allowed = routeMethods.staticAllowed(path);
    if (allowed === null || allowed.includes(request.method)) return done();
    done(methodNotAllowed(reply, path, allowed, request.method));
  });
}

/** The 405 of a path that answers `allowed` and not `method`, its Allow header set on the reply. */
function methodNotAllowed(reply: FastifyReply, path: string, allowed: readonly string[], method: string): AsyncOpsError {
  reply.header('allow', allowed.join(', '));
  return new AsyncOpsError('method_not_allowed', `${path.slice(0, 200)} answers ${allowed.join(', ')}, not ${method}`);
}

/** Call before any route is added: the 405s learn the routes as they are added. */
export function installProblemHandlers(app: FastifyInstance): RouteMethods {
  const routeMethods = trackAllowedMethods(app);
  const allowedMethods = routeMethods.allowed;
  let storeUnavailable = { loggedAt: -Infinity, since: 0 };
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const known = error instanceof AsyncOpsError ? error : fromFastifyError(error);
    if (known !== null) {
      // The request was fine and the client is told to try again, but the operator must hear of a full disk or a
      // database that does not answer from the request path too, not only from the workers' failures: once a second
      // at most, with how many such answers the line stands for (a database down under 100 requests a second wrote
      // 6 MB of log in 30 s). The store's own error as `err` (pino would write the wrapper's message, which quotes it,
      // and then it again), and the problem's detail beside it.
      if (known.code === 'store_unavailable') {
        const now = performance.now();
        storeUnavailable.since += 1;
        if (now - storeUnavailable.loggedAt >= STORE_UNAVAILABLE_LOG_MS) {
          const err = known.cause instanceof Error ? known.cause : known;
          request.log.error({ err, detail: known.message, answers: storeUnavailable.since }, 'store unavailable');
          storeUnavailable = { loggedAt: now, since: 0 };
        }
      }
      const problem = problemFor(known, pathOf(request), app.prefix);
      if (known.code === 'rate_limited' && typeof known.extra.retry_after === 'number') reply.header('retry-after', String(known.extra.retry_after));
      return sendProblem(reply, problem);
    }
    request.log.error({ err: error }, 'unhandled error');
    return sendProblem(reply, internalProblem(pathOf(request), app.prefix));
  });
  app.setNotFoundHandler((request, reply) => {
    const path = pathOf(request);
    const allowed = allowedMethods(path);
    // The CORS plugin's OPTIONS route hands on an OPTIONS that is not a preflight: it asks what the path answers
    // (RFC 9110 §9.3.7), which Allow says.
    // A preflight it refused (an origin not allowed) stays refused.
    if (request.method === 'OPTIONS' && allowed.includes('OPTIONS') && request.headers['access-control-request-method'] === undefined) {
      return reply.code(204).header('allow', allowed.join(', ')).send();
    }
    // A route that answers this method may still find nothing there (a static file that does not exist): a 404.
    if (allowed.length > 0 && !allowed.includes(request.method)) {
      return sendProblem(reply, problemFor(methodNotAllowed(reply, path, allowed, request.method), path, app.prefix));
    }
    return sendProblem(reply, problemFor(new AsyncOpsError('not_found', `no route ${request.method} ${path.slice(0, 200)}`), path, app.prefix));
  });
  return routeMethods;
}
