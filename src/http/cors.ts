// Owns: CORS (@fastify/cors): preflights answered before authentication and rate limits (a browser sends no key on
// one), and the headers a page on an allowed origin may send and read. Not here: parsing origins (config/cors-origins.ts).
// Invariant: off unless origins are given; a disallowed origin gets no CORS header; never Allow-Credentials.

import type { FastifyInstance } from 'fastify';
import cors from '@fastify/cors';
import type { CorsOrigins } from '../config/cors-origins.ts';

/** The request headers a page may send: the ones the API reads, and the SDK's User-Agent (Firefox sends it, asking first). */
const CORS_ALLOWED_HEADERS = [
  'Authorization',
  'Content-Type',
  'Idempotency-Key',
  'Prefer',
  'If-Match',
  'If-None-Match',
  'Last-Event-ID',
  'traceparent',
  'tracestate',
  'User-Agent',
];

/** The response headers a page may read, beyond the CORS-safelisted ones: those the API's clients act on. */
const CORS_EXPOSED_HEADERS = [
  'Location',
  'Retry-After',
  'ETag',
  'Preference-Applied',
  'Idempotent-Replayed',
  'RateLimit-Limit',
  'RateLimit-Remaining',
  'RateLimit-Reset',
  'WWW-Authenticate',
];

const CORS_METHODS = ['GET', 'HEAD', 'POST', 'DELETE'];

/** How long a browser may reuse a preflight's answer, seconds (Chromium caps it at 2 h). */
const CORS_MAX_AGE_S = 600;

/** Whether a request from `origin` may read the reply (`origins` not `*`). */
const isAllowed = (origins: readonly string[], origin: string | undefined): boolean => origin !== undefined && origins.includes(origin);

/**
 * The CORS headers of a reply sent where no hook runs (a path Fastify cannot decode: problem.ts, sendFrameworkProblem),
 * as installCors's hooks would have set them on any other reply to `origin`.
 */
export function corsReplyHeaders(origins: CorsOrigins | null, origin: string | undefined): Record<string, string> {
  if (origins === null) return {};
  if (origins === '*') return { 'access-control-allow-origin': '*' };
  return isAllowed(origins, origin) ? { 'access-control-allow-origin': origin!, vary: 'Origin' } : { vary: 'Origin' };
}

/** Register before any other onRequest hook: a preflight is answered (204) in this one, and goes no further. */
export async function installCors(app: FastifyInstance, origins: CorsOrigins | null): Promise<void> {
  if (origins === null) return;
  await app.register(cors, {
    // A function, so a disallowed origin gets no CORS header at all (its preflight then goes on as any request: a 401
    // where keys are required, else the 404 problem),
    // and every reply says it varies by Origin. `*` is sent as `*`.
    origin: origins === '*' ? '*' : (origin, callback) => callback(null, isAllowed(origins, origin)),
    // The API authenticates with the Authorization header, which a page sends without credentials mode; it sets no
    // cookies. So no Access-Control-Allow-Credentials, which is also what makes `*` safe to send.
    credentials: false,
    methods: CORS_METHODS,
    allowedHeaders: CORS_ALLOWED_HEADERS,
    exposedHeaders: CORS_EXPOSED_HEADERS,
    maxAge: CORS_MAX_AGE_S,
    // Every error is a problem+json; the strict check would answer an OPTIONS without Access-Control-Request-Method
    // with a text/plain 400. Such an OPTIONS from an allowed origin is answered as a preflight instead.
    strictPreflight: false,
  });
}
