// Owns: liveness (/healthz) and readiness (/readyz: the store answers, and the node is not stopping).
// Invariant: /healthz does no I/O, so it answers even while the store is slow; /readyz answers within READY_WITHIN_MS.

import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { AsyncOpsError } from '../domain/errors.ts';
import { jsonResponse, problemResponses } from './schemas.ts';
import { sharedStoreReads } from './shared-store-read.ts';

/** What readiness asks of the store (main.ts passes the store itself): whether it answers, and which kind it is. */
export interface StoreProbe {
  readonly kind: string;
  ping(): Promise<void>;
}

/**
 * How long readiness waits for the store: a database that takes connections and never answers (a partition) would
 * otherwise hold the probe until the orchestrator's own timeout, which reads as a hung node rather than an unready one.
 */
const READY_WITHIN_MS = 2_000;

/** `stopping`: whether the node has begun to stop (it then reads as not ready, so a balancer sends it nothing new). */
export function registerHealthRoutes(app: FastifyInstance, store: StoreProbe, stopping: () => boolean = () => false): void {
  // Probes while a ping is held (a locked table) share it rather than each holding a connection of the pool until the
  // lock goes: a probe every ten seconds took the whole pool within a few minutes, and every request with it.
  const ping = sharedStoreReads(READY_WITHIN_MS);
  app.get('/healthz', {
    schema: {
      tags: ['health'],
      operationId: 'getLiveness',
      summary: 'Liveness',
      response: { 200: jsonResponse(Type.Object({ status: Type.Literal('ok') }), 'The process is up') },
    },
    handler: async () => ({ status: 'ok' as const }),
  });
  app.get('/readyz', {
    schema: {
      tags: ['health'],
      operationId: 'getReadiness',
      summary: 'Readiness: the store is reachable',
      response: {
        200: jsonResponse(Type.Object({ status: Type.Literal('ready'), store: Type.String({ description: 'sqlite or postgres' }) }), 'Ready to serve'),
        ...problemResponses([503, 'The store does not answer, or the server is shutting down']),
      },
    },
    handler: async () => {
      // From the first moment of a stop, while running attempts finish within --grace: not only once HTTP closes.
      if (stopping()) throw new AsyncOpsError('shutting_down', 'this node is stopping: send requests to another node, or again once it is back');
      try {
        await ping('ping', () => store.ping());
        return { status: 'ready' as const, store: store.kind };
      } catch (error) {
        // This route is open without a key: the store's own words (a host, a user name) go only to the log, as the
        // cause of the one error line the problem handler writes for every store_unavailable.
        const timedOut = error instanceof Error && error.message.startsWith('the store did not answer');
        throw new AsyncOpsError(
          'store_unavailable',
          timedOut ? `the store did not answer within ${READY_WITHIN_MS} ms` : "the store cannot be reached or refused the check (the server's log says why)",
          // The deadline's own words say all of it: as a cause they would be logged twice.
          timedOut ? {} : { cause: error },
        );
      }
    },
  });
}
