// Owns: what a cache may keep of each answer (Cache-Control, in one policy), adding a field to Vary, and a HEAD 304's
// and 204's fields.
// Not here: ETags and conditional requests (submit.ts, operations-routes.ts); which answers vary on what (the routes
// that honour Prefer, and auth.ts for Authorization, call addVary).
// Invariant: every answer carries Cache-Control; nothing that changes is kept without revalidation, and nothing a
// tenant reads is kept by a shared cache.

import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { pathWithin } from './base-path.ts';

const ONE_YEAR_S = 365 * 24 * 3600;

export const CACHE_CONTROL = {
  /** State that changes (status, lists): a client may keep it, but revalidates on each use (If-None-Match → 304). */
  revalidate: 'private, no-cache',
  /** Errors, answers to POST and DELETE, probes, scrapes and event streams: of no use later. */
  none: 'no-store',
  /** A completed operation's result never changes; it is only removed (retention, DELETE). */
  immutable: `private, max-age=${ONE_YEAR_S}, immutable`,
} as const;

/** Probes and scrapes: each answer is the state of one moment. */
const NEVER_STORED: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * Call before any route is added. A route's own Cache-Control stands (a result, the problem docs, static files)
 * unless the answer is an error; otherwise GET and HEAD answers are `revalidate` and every other answer `none`.
 */
export function installCacheControl(app: FastifyInstance): void {
  app.addHook('onSend', (request, reply, payload, done) => {
    if (reply.statusCode >= 400 || NEVER_STORED.has(pathWithin(app.prefix, request.routeOptions.url ?? ''))) reply.header('cache-control', CACHE_CONTROL.none);
    else if (!reply.hasHeader('cache-control')) {
      reply.header('cache-control', request.method === 'GET' || request.method === 'HEAD' ? CACHE_CONTROL.revalidate : CACHE_CONTROL.none);
    }
    // Fastify's HEAD handler, which runs after every hook, gives an empty payload `Content-Length: 0`; on a 304 that
    // would claim the 200's content is empty (RFC 9110 §8.6 allows only the 200's length), and a 204 may carry none at
    // all (the event stream's to a client that has the end). A stream it leaves unmeasured.
    if (request.method === 'HEAD' && (reply.statusCode === 304 || reply.statusCode === 204)) done(null, Readable.from([]));
    else done(null, payload);
  });
}

/** Adds `field` to the reply's Vary, once, keeping what other parts (CORS, auth) put there. */
export function addVary(reply: FastifyReply, field: string): void {
  const current = reply.getHeader('vary');
  const fields = (Array.isArray(current) ? current.join(',') : String(current ?? ''))
    .split(',')
    .map((f) => f.trim())
    .filter((f) => f !== '');
  if (fields.some((f) => f === '*' || f.toLowerCase() === field.toLowerCase())) return;
  reply.header('vary', [...fields, field].join(', '));
}
