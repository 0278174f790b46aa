// Owns: liveness (/healthz) and readiness (/readyz: the store answers).
// Invariant: /healthz does no I/O, so it answers even while the store is slow.

import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { Store } from '../store/store.ts';
import { sendProblem, PROBLEM_TYPE_BASE } from './problem.ts';
import { problemResponses } from './schemas.ts';

export function registerHealthRoutes(app: FastifyInstance, store: Store): void {
  app.get('/healthz', {
    schema: { tags: ['health'], summary: 'Liveness', response: { 200: Type.Object({ status: Type.Literal('ok') }) } },
    handler: async () => ({ status: 'ok' as const }),
  });
  app.get('/readyz', {
    schema: { tags: ['health'], summary: 'Readiness: the store is reachable', response: { 200: Type.Object({ status: Type.Literal('ready'), store: Type.String() }), ...problemResponses(503) } },
    handler: async (request, reply) => {
      try {
        await store.ping();
        return { status: 'ready' as const, store: store.kind };
      } catch (error) {
        request.log.warn({ err: error }, 'readiness: store unreachable');
        return sendProblem(reply, { type: PROBLEM_TYPE_BASE + 'store_unavailable', title: 'Store unavailable', status: 503, detail: 'the store did not answer', code: 'store_unavailable' });
      }
    },
  });
}
