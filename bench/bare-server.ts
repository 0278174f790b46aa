// Owns: the bare Fastify server the HTTP figures are compared with: POST /operations answers 202 from an
// in-memory Map, GET /operations/:id answers 200 from it. Not here: anything durable. Run as its own process.
// Invariant: the same routes and response shape as asyncops, and nothing else (no schemas, logs or storage).

import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';

const operations = new Map<string, Record<string, unknown>>();
const app = Fastify({ logger: false });

app.post('/operations', async (request, reply) => {
  const body = request.body as { type?: string; input?: unknown };
  const id = `op_${randomUUID()}`;
  const operation = { id, type: body.type, status: 'pending', input: body.input ?? {}, created_at: new Date().toISOString() };
  operations.set(id, operation);
  return reply.code(202).header('location', `/operations/${id}`).send(operation);
});

app.get<{ Params: { id: string } }>('/operations/:id', async (request, reply) => {
  const operation = operations.get(request.params.id);
  return operation === undefined ? reply.code(404).send({ status: 404 }) : operation;
});

if (import.meta.main) {
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  process.stdout.write(`${JSON.stringify({ msg: 'bare listening', url })}\n`);
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
}
