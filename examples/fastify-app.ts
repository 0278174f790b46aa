// An existing Fastify app that adds async operations: asyncops is mounted under /async (its operations API, the
// thumbnail task's own route, /async/openapi.json), shares the app's logger, starts with it and drains when it closes;
// one of the app's own routes hands slow work to it with `app.asyncops.submit`.
//
//   npm run build                             (once, in a checkout: it imports 'asyncops' as an app does, from dist/)
//   npx node examples/fastify-app.ts          (PORT, STORE and LOG_LEVEL may be set)
//   curl -si -X POST localhost:3000/images/cat.png/thumbnail
//   curl -s localhost:3000/async/operations/op_…      (the Location of the 202)

import Fastify, { type FastifyInstance } from 'fastify';
import { asyncopsPlugin } from 'asyncops';
import { thumbnail } from './thumbnail-task.ts';

export async function buildApp(store: string): Promise<FastifyInstance> {
  const app = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'info' } });
  app.get('/', async () => ({ service: 'my existing API', async_operations: '/async/openapi.json' }));

  await app.register(asyncopsPlugin, { prefix: '/async', store, tasks: [thumbnail], builtInTasks: false });

  // A route of the app's own: it decides what to run, asyncops runs it and answers the polling.
  app.post<{ Params: { name: string } }>('/images/:name/thumbnail', async (request, reply) => {
    const operation = await app.asyncops.submit('thumbnail', { name: request.params.name, width: 128 });
    return reply.code(202).header('location', operation.links.self).send(operation);
  });
  return app;
}

if (import.meta.main) {
  const app = await buildApp(process.env.STORE ?? './fastify-example.db');
  const url = await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' });
  console.log(`fastify example listening on ${url}`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.close());
}
