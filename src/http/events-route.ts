// Owns: GET /operations/{id}/events, the Server-Sent Events stream of one operation's changes.
// Not here: what counts as a change (the store's change feed via runtime/operations.ts).
// Invariant: the stream opens with the current state, sends one event per stored change and closes
// right after the terminal event, or when the app begins to close (a client reconnects to another node);
// a principal holds at most maxStreamsPerPrincipal streams at once.

import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { isTerminal, type OperationStatus } from '../domain/status.ts';
import type { OperationView, OperationsService } from '../runtime/operations.ts';
import { AsyncOpsError } from '../domain/errors.ts';
import { OperationIdParams, problemResponses } from './schemas.ts';
import { principalOf, tenantOf } from './tenant.ts';
import { closingSignal } from './closing.ts';

const KEEPALIVE_MS = 15_000;
export const DEFAULT_MAX_STREAMS_PER_PRINCIPAL = 20;

export function registerEventsRoute(app: FastifyInstance, service: OperationsService, options: { maxStreamsPerPrincipal?: number } = {}): void {
  const maxStreams = options.maxStreamsPerPrincipal ?? DEFAULT_MAX_STREAMS_PER_PRINCIPAL;
  const open = new Map<string, number>();
  const closing = closingSignal(app);
  app.get<{ Params: Static<typeof OperationIdParams> }>('/operations/:id/events', {
    schema: {
      tags: ['operations'],
      summary: 'Stream changes of an operation (Server-Sent Events)',
      description: 'Events `status` (the status changed) and `progress` (only progress changed); `data` is the operation resource, `id` its version. The stream closes after the terminal event, or with a `: shutting down` comment when the server stops (reconnect, to this or another node, for the current state).',
      params: OperationIdParams,
      response: { 200: Type.String({ description: 'text/event-stream' }), ...problemResponses(404, 429) },
    },
    handler: async (request, reply) => {
      const tenant = tenantOf(request);
      const first = await service.get(tenant, request.params.id);
      const id = first.operation.id;
      const principal = principalOf(request);
      const streams = open.get(principal) ?? 0;
      if (streams >= maxStreams) {
        throw new AsyncOpsError('rate_limited', `at most ${maxStreams} event streams may be open at once for one API key or client; close one first`, { extra: { retry_after: 5 } });
      }
      open.set(principal, streams + 1);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      let lastStatus: OperationStatus | null = null;
      let lastVersion = -1;
      let closed = false;
      let sending = Promise.resolve();
      const send = (view: OperationView) => {
        if (closed || view.operation.version <= lastVersion) return;
        lastVersion = view.operation.version;
        const event = view.operation.status !== lastStatus ? 'status' : 'progress';
        lastStatus = view.operation.status;
        res.write(`id: ${view.operation.version}\nevent: ${event}\ndata: ${JSON.stringify(view.resource)}\n\n`);
        if (isTerminal(view.operation.status)) finish();
      };
      const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
      // The server waits for every connection on close; an open stream would hold it until the client gave up.
      const onClosing = () => {
        if (closed) return;
        res.write(': shutting down\n\n');
        finish();
      };
      closing.addEventListener('abort', onClosing, { once: true });
      const unwatch = service.watch(id, () => {
        // Reads are chained so events go out in order even when the store answers out of order.
        sending = sending.then(async () => {
          if (closed) return;
          try {
            send(await service.get(tenant, id));
          } catch (error) {
            request.log.warn({ err: error, operationId: id }, 'events stream: operation no longer readable');
            finish();
          }
        });
      });
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
      res.on('close', finish);
      res.write('retry: 2000\n\n');
      // Re-read after subscribing so a change between the first read and the subscription is not lost.
      send(first);
      // The app may have begun to close while the first read was answered.
      if (closing.aborted) onClosing();
      if (!closed) send(await service.get(tenant, id));
    },
  });
}
