// Owns: GET /operations/{id}/events, the Server-Sent Events stream of one operation's changes.
// Not here: what counts as a change (the store's change feed via runtime/operations.ts).
// Invariant: an event's id is the version it carries, so ids increase; the stream opens with the current state
// unless Last-Event-ID says the client has it, sends one event per stored change (to a client reading slower than
// the changes come, the newest when it has read the last: at most one event waits in memory) and closes right after the
// terminal event, or when the app begins to close (a client reconnects to another node); a reconnect that already
// has the terminal event is 204, which tells an EventSource to stop, though its webhook's state moved the version since; a principal holds at most
// maxStreamsPerPrincipal streams at once.

import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { isTerminal } from '../domain/status.ts';
import type { Operation } from '../domain/operation.ts';
import type { OperationsService } from '../runtime/operations.ts';
import type { OperationView } from '../runtime/operation-view.ts';
import { AsyncOpsError } from '../domain/errors.ts';
import { OperationIdParams, ResponseHeaders, TenantQuery, emptyResponse, problemResponse, problemResponses } from './schemas.ts';
import { principalOf, readScope } from './tenant.ts';
import { closingSignal } from './closing.ts';
import { CACHE_CONTROL } from './caching.ts';
import { StallWatch } from './stall-watch.ts';
import { DEFAULTS } from '../config/settings.ts';

/** The `retry:` field: how long an EventSource waits before it reconnects (after a close, or a node shutting down). */
const RECONNECT_MS = 2_000;
const STREAM_CONTENT_TYPE = 'text/event-stream; charset=utf-8';
const STREAM_CACHE_CONTROL = `${CACHE_CONTROL.none}, no-transform`;

const EventsQuery = Type.Object(
  {
    token: Type.Optional(
      Type.String({
        maxLength: 2048,
        description:
          'A stream token from POST /operations/{id}/stream-token, in place of Authorization (which an EventSource cannot send); only on a server with API keys',
      }),
    ),
    tenant: Type.Optional(TenantQuery),
    lastEventId: Type.Optional(
      Type.String({
        maxLength: 64,
        description: 'The id of the last event received, for a client that cannot send Last-Event-ID (an EventSource polyfill sends it so); the header wins',
      }),
    ),
  },
  { additionalProperties: false },
);

/**
 * `stalledMs`: how long a stream's client may read nothing of what waits to be sent (the connection's buffers full)
 * before the stream is closed; it reconnects with Last-Event-ID for what it missed. `keepaliveMs`: how often a stream sends
 * a keepalive comment and re-reads its operation.
 */
export function registerEventsRoute(
  app: FastifyInstance,
  service: OperationsService,
  options: { maxStreamsPerPrincipal?: number; stalledMs?: number; keepaliveMs?: number | undefined } = {},
): void {
  const maxStreams = options.maxStreamsPerPrincipal ?? DEFAULTS.maxSsePerKey;
  const stalledMs = options.stalledMs ?? DEFAULTS.requestTimeout;
  const keepaliveMs = options.keepaliveMs ?? DEFAULTS.sseKeepalive;
  const open = new Map<string, number>();
  const closing = closingSignal(app);
  app.get<{ Params: Static<typeof OperationIdParams>; Querystring: Static<typeof EventsQuery> }>('/operations/:id/events', {
    schema: {
      tags: ['operations'],
      operationId: 'streamOperationEvents',
      summary: 'Stream changes of an operation (Server-Sent Events)',
      description:
        'Events `status` (the status changed, or a new run of it began: a retry, or a claim after a release; also the first event of a stream that does not resume at the current version) and `progress` (only progress changed); `data` is the operation resource, `id` its version (increasing; on PostgreSQL, changes another node made in quick succession may arrive as one event of the latest version, the history holds each). The stream closes after the terminal event, or with a `: shutting down` comment when the server stops (reconnect, to this or another node, for the current state). A reconnect sends `Last-Event-ID`: the stream then starts after that version, and one to a finished operation whose end the client has seen (the version of the terminal event, or a later one: after the end only the webhook moves the version) is answered 204, which tells an EventSource to stop.',
      params: OperationIdParams,
      headers: Type.Object({
        'last-event-id': Type.Optional(
          Type.String({ description: 'The id of the last event received (a version of this operation); any other value is ignored' }),
        ),
      }),
      querystring: EventsQuery,
      response: {
        200: {
          description: 'The event stream: `id: <version>`, `event: status|progress`, `data: <the operation resource as JSON>`, and `: keepalive` comments',
          content: { 'text/event-stream': { schema: Type.String() } },
        },
        204: emptyResponse('No Content: the operation has ended and the client has its last version; stop reconnecting'),
        ...problemResponses(400, 403, 404),
        // Also the rate limit's 429 (openapi.ts), whose description this one takes over.
        429: problemResponse(429, 'Too many requests, or too many event streams open at once for this key or address: honour Retry-After', {
          'Retry-After': ResponseHeaders.tryAgainAfter,
        }),
      },
    },
    handler: async (request, reply) => {
      // An admin key streams any tenant's operation (a stream token is for one tenant's).
      const resumeAfter = lastEventId(request.headers['last-event-id'] ?? request.query.lastEventId);
      let first = await service.get(readScope(request), request.params.id);
      // A client resuming from a version this read does not have yet got it from another node, whose change this node
      // has not heard of yet: the store's own state, not a cached one from before it.
      if (resumeAfter !== null && resumeAfter > first.operation.version) first = await service.get(readScope(request), request.params.id, { fresh: true });
      const tenant = first.operation.tenant;
      const id = first.operation.id;
      const seen = resumeAfter !== null && resumeAfter <= first.operation.version ? resumeAfter : null;
      if (hasSeenEnd(seen, first.operation)) return reply.code(204).header('cache-control', CACHE_CONTROL.none).send();
      // A HEAD (a probe, `curl -I`) gets the stream's headers and no stream: Node sends a HEAD reply's headers only at
      // its end, which a stream reaches at the terminal event, and it must not hold one of the principal's streams. An
      // empty stream, not an empty body: that would be sent as `Content-Length: 0`, where the GET's length is none
      // (RFC 9110 §8.6).
      if (request.method === 'HEAD') {
        return reply.code(200).header('content-type', STREAM_CONTENT_TYPE).header('cache-control', STREAM_CACHE_CONTROL).send(Readable.from([]));
      }
      const principal = principalOf(request);
      const streams = open.get(principal) ?? 0;
      if (streams >= maxStreams) {
        // The read limit's RateLimit-* (requests left, reset in a second) are not this limit's: a client that trusted
        // them came back too soon. Retry-After says when.
        for (const name of ['ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset']) reply.removeHeader(name);
        throw new AsyncOpsError(
          'rate_limited',
          `at most ${maxStreams} event stream${maxStreams === 1 ? '' : 's'} may be open at once for one API key or client; close one first`,
          {
            extra: { retry_after: 5 },
          },
        );
      }
      open.set(principal, streams + 1);
      reply.hijack();
      const res = reply.raw;
      // A hijacked reply sends only the raw response's headers: carry over what the hooks set (CORS, Vary, RateLimit-*).
      for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) res.setHeader(name, value);
      res.writeHead(200, {
        'content-type': STREAM_CONTENT_TYPE,
        'cache-control': STREAM_CACHE_CONTROL,
        'x-accel-buffering': 'no',
      });
      // What the client has: nothing, or (resuming) `first` itself or an earlier version, whose state is unknown.
      let last: Operation | null = seen === first.operation.version ? first.operation : null;
      let lastVersion = seen ?? -1;
      let closed = false;
      let sending = Promise.resolve();
      // The newest state not written yet, while the client reads slower than the operation changes: each event is the
      // whole resource, so what it has not read is replaced, not queued (a stream nobody reads held every version,
      // input and all, in memory: gigabytes within a minute).
      let behind: OperationView | null = null;
      // A client that stopped reading would hold its stream (one of its key's) and the newest event for good, the
      // terminal one included: once stalledMs pass with nothing of what waits read, the stream is cut, and the client
      // reconnects for it. One that reads slowly keeps it.
      const stall = new StallWatch(
        () => unsentBytes(res),
        stalledMs,
        () => res.destroy(),
      );
      const writeChunk = (chunk: string) => {
        if (!res.write(chunk)) stall.backedUp();
      };
      const write = (view: OperationView) => {
        const event = eventKind(last, view.operation);
        last = view.operation;
        writeChunk(`id: ${view.operation.version}\nevent: ${event}\ndata: ${JSON.stringify(view.resource)}\n\n`);
        if (isTerminal(view.operation.status)) finish();
      };
      const send = (view: OperationView) => {
        if (closed || view.operation.version <= lastVersion) return;
        lastVersion = view.operation.version;
        if (res.writableNeedDrain) behind = view;
        else write(view);
      };
      res.on('drain', () => {
        stall.clear();
        const next = behind;
        behind = null;
        if (next !== null && !closed) write(next);
      });
      // Each keepalive re-reads the operation too: a change this node never heard of (a notification lost with the
      // connection that carried it, on PostgreSQL) reaches the stream within keepaliveMs instead of never.
      const keepalive = setInterval(() => {
        if (!res.writableNeedDrain) writeChunk(': keepalive\n\n');
        refresh();
      }, keepaliveMs);
      // The server waits for every connection on close; an open stream would hold it until the client gave up.
      const onClosing = () => {
        if (closed) return;
        writeChunk(': shutting down\n\n');
        finish();
      };
      closing.addEventListener('abort', onClosing, { once: true });
      // Reads are chained so events go out in order even when the store answers out of order.
      const refresh = () => {
        sending = sending.then(async () => {
          if (closed) return;
          try {
            send(await service.get(tenant, id));
          } catch (error) {
            request.log.warn({ err: error, operation_id: id }, 'events stream: operation no longer readable');
            finish();
          }
        });
      };
      const unwatch = service.watch(id, refresh);
      function finish() {
        if (closed) return;
        closed = true;
        const left = (open.get(principal) ?? 1) - 1;
        if (left > 0) open.set(principal, left);
        else open.delete(principal);
        clearInterval(keepalive);
        closing.removeEventListener('abort', onClosing);
        unwatch();
        res.end();
      }
      res.on('close', () => {
        stall.clear();
        finish();
      });
      writeChunk(`retry: ${RECONNECT_MS}\n\n`);
      // Re-read after subscribing so a change between the first read and the subscription is not lost.
      send(first);
      // The app may have begun to close while the first read was answered.
      if (closing.aborted) onClosing();
      if (!closed) send(await service.get(tenant, id));
    },
  });
}

/**
 * `progress` when `next` is `previous` (the last state sent; null: none) with at most its progress changed, the same
 * status in the same run of the same attempt; else `status`.
 * A node that hears of another node's changes reads the operation as it is by then, so one event may stand for several
 * versions (a release and the claim after it, both `processing` as the stream saw them): a new run is a status event.
 */
export function eventKind(previous: Operation | null, next: Operation): 'status' | 'progress' {
  const sameRun = previous !== null && previous.status === next.status && previous.attempt === next.attempt && previous.startedAt === next.startedAt;
  return sameRun ? 'progress' : 'status';
}

/**
 * Whether a client that has version `seen` (null: none) has seen `operation` end: its last version, or any since its
 * end (after which only its webhook's state moves the version; an end from before stores kept its version counts only
 * as its last version).
 */
export function hasSeenEnd(seen: number | null, operation: Operation): boolean {
  if (seen === null || !isTerminal(operation.status)) return false;
  return seen >= (operation.finishedVersion ?? operation.version);
}

/**
 * The version a reconnecting client says it has, from its Last-Event-ID, or null. Only one of the operation's versions
 * so far counts: anything else (not a decimal integer, or past the current version) is not an id a stream sent, and
 * is ignored.
 */
function lastEventId(header: string | string[] | undefined): number | null {
  const value = (Array.isArray(header) ? header[0] : header)?.trim() ?? '';
  return /^\d{1,15}$/.test(value) ? Number(value) : null;
}

/**
 * What waits to be sent on a response's connection, in parts: its stream's buffer (a chunk leaves it only once written
 * whole), and what the chunk being written has left in libuv's queue (`writeQueueSize`, which falls as the client
 * reads), so a client reading one large event slowly is seen moving.
 */
function unsentBytes(res: ServerResponse): readonly number[] {
  const socket = res.socket as (Socket & { _handle?: { writeQueueSize?: unknown } | null }) | null;
  if (socket === null) return [res.writableLength];
  const inLibuv = socket._handle?.writeQueueSize;
  return [socket.writableLength, typeof inLibuv === 'number' ? inLibuv : 0];
}
