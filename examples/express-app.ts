// An existing Express app that hands a slow endpoint to asyncops: `asyncops.handler` serves the operations API under
// /async (status, long-poll, events, results, /async/openapi.json), and the app's own POST /thumbnails submits the
// work and answers 202 with the operation's Location. The same handler serves a plain node:http server.
//
//   npm run build                             (once, in a checkout: it imports 'asyncops' as an app does, from dist/)
//   npx node examples/express-app.ts          (PORT and STORE may be set)
//   curl -si -X POST localhost:3000/thumbnails -H 'content-type: application/json' -d '{"name":"cat.png","width":256}'

import type { Server } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { AsyncOpsError, createAsyncOps } from 'asyncops';
import { thumbnail } from './thumbnail-task.ts';

export async function startApp(store: string, port: number): Promise<{ url: string; close: () => Promise<void> }> {
  const asyncops = await createAsyncOps({ prefix: '/async', store, tasks: [thumbnail], builtInTasks: false, logger: { level: 'warn' } });
  await asyncops.start();

  const app = express();
  // Before any body parser: asyncops reads the bodies of its own routes.
  app.use(asyncops.handler);
  app.use(express.json());

  app.post('/thumbnails', async (req: Request, res: Response, next: NextFunction) => {
    try {
      const operation = await asyncops.submit('thumbnail', req.body);
      res.status(202).location(operation.links.self).json(operation);
    } catch (error) {
      next(error);
    }
  });
  // An input the task's schema or validate() refuses is an AsyncOpsError with the fields that failed.
  app.use((error: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (!(error instanceof AsyncOpsError) || error.code !== 'validation_failed') return next(error);
    res.status(400).json({ error: error.message, errors: error.errors });
  });

  const server = await new Promise<Server>((resolve, reject) => {
    const listening = app.listen(port, '127.0.0.1', (error?: Error) => (error ? reject(error) : resolve(listening)));
  });
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : port}`;
  return {
    url,
    async close() {
      // asyncops first: it drains its handlers and ends the long-polls and event streams it holds open.
      await asyncops.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
    },
  };
}

if (import.meta.main) {
  const { url, close } = await startApp(process.env.STORE ?? './express-example.db', Number(process.env.PORT ?? 3000));
  console.log(`express example listening on ${url}`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void close());
}
