// 405 with Allow from the routes an app has, whatever adds them: params, wildcards, prefixes, HEAD with GET, and a
// catch-all OPTIONS route (a CORS preflight) that makes no path exist; and the 405 each documented route declares.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { installProblemHandlers, refuseShadowedMethods } from '../../src/http/problem.ts';
import { ProblemSchema } from '../../src/http/schemas.ts';

async function appWith(routes: (app: FastifyInstance) => void | Promise<void>): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, routerOptions: { maxParamLength: 1000 } }) as unknown as FastifyInstance;
  refuseShadowedMethods(app, installProblemHandlers(app));
  app.addSchema(ProblemSchema);
  await routes(app);
  await app.ready();
  return app;
}

describe('405 Method Not Allowed', () => {
  it('lists the methods of every route matching the path, HEAD with GET, and keeps 404 for what no route matches', async () => {
    const app = await appWith(async (app) => {
      app.get('/things/:id', async () => ({}));
      app.delete('/things/:id', async () => ({}));
      app.post('/things/:id/cancel', async () => ({}));
      await app.register(async (docs) => docs.get('/files/*', async (_request, reply) => reply.callNotFound()), { prefix: '/docs' });
      // A CORS plugin's preflight route answers OPTIONS anywhere, and hands on one that is not a preflight.
      app.options('*', async (request, reply) => (request.headers['access-control-request-method'] ? reply.code(204).send() : reply.callNotFound()));
    });
    try {
      const put = await app.inject({ method: 'PUT', url: '/things/t1?x=1' });
      assert.equal(put.statusCode, 405);
      assert.equal(put.headers.allow, 'GET, HEAD, DELETE, OPTIONS');
      assert.deepEqual([put.json().code, put.json().instance], ['method_not_allowed', '/things/t1']);
      assert.equal((await app.inject({ method: 'GET', url: '/things/t1/cancel' })).headers.allow, 'POST, OPTIONS');
      assert.equal((await app.inject({ method: 'POST', url: '/docs/files/a/b.js' })).headers.allow, 'GET, HEAD, OPTIONS');
      const options = await app.inject({ method: 'OPTIONS', url: '/things/t1' });
      assert.deepEqual(
        [options.statusCode, options.headers.allow, options.body],
        [204, 'GET, HEAD, DELETE, OPTIONS', ''],
        'an OPTIONS that is not a preflight',
      );
      assert.equal((await app.inject({ method: 'OPTIONS', url: '/nowhere' })).statusCode, 404);
      const missingFile = await app.inject({ method: 'GET', url: '/docs/files/a/b.js' });
      assert.equal(missingFile.statusCode, 404, 'the route answers GET and found nothing');
      for (const url of ['/nowhere', '/things', '/things/t1/', '/things/t1/cancel/more']) {
        const response = await app.inject({ method: 'DELETE', url });
        assert.equal(response.statusCode, 404, url);
        assert.equal(response.headers.allow, undefined, url);
        assert.equal(response.json().instance, url);
      }
    } finally {
      await app.close();
    }
  });

  it("a path a static route answers is that resource: a parametric sibling's methods are neither in its Allow nor answered", async () => {
    const app = await appWith((app) => {
      app.get('/things/counts', async () => ({ counts: true }));
      app.get('/things/:id', async () => ({ id: true }));
      app.delete('/things/:id', async () => ({ deleted: true }));
      app.post('/reports/async', async () => ({ submitted: true }));
      app.get('/reports/:id', async () => ({ report: true }));
      app.options('*', async (request, reply) => (request.headers['access-control-request-method'] ? reply.code(204).send() : reply.callNotFound()));
    });
    try {
      for (const [method, url, allow] of [
        ['POST', '/things/counts', 'GET, HEAD, OPTIONS'],
        ['DELETE', '/things/counts', 'GET, HEAD, OPTIONS'],
        ['GET', '/reports/async', 'POST, OPTIONS'],
        ['HEAD', '/reports/async', 'POST, OPTIONS'],
      ] as const) {
        const response = await app.inject({ method, url });
        assert.deepEqual([response.statusCode, response.headers.allow], [405, allow], `${method} ${url}`);
      }
      assert.deepEqual((await app.inject({ method: 'GET', url: '/things/counts' })).json(), { counts: true });
      assert.deepEqual((await app.inject({ method: 'DELETE', url: '/things/t1' })).json(), { deleted: true });
      assert.deepEqual((await app.inject({ method: 'GET', url: '/reports/r1' })).json(), { report: true });
      assert.equal((await app.inject({ method: 'PUT', url: '/things/t1' })).headers.allow, 'GET, HEAD, DELETE, OPTIONS');
    } finally {
      await app.close();
    }
  });

  it('adds a 405 problem to the responses of every route that declares them, and leaves the others alone', async () => {
    const seen = new Map<string, unknown>();
    const app = await appWith((app) => {
      app.addHook('onRoute', (route) => {
        if (route.method === 'GET') seen.set(route.url, route.schema?.response);
      });
      app.get('/declared', { schema: { response: { 200: { type: 'object' } } } }, async () => ({}));
      app.get('/undeclared', { schema: { summary: 'no responses' } }, async () => ({}));
      app.get('/hidden', { schema: { hide: true, response: { 200: { type: 'object' } } } }, async () => ({}));
    });
    try {
      assert.deepEqual(Object.keys(seen.get('/declared') as object).sort(), ['200', '405']);
      assert.equal(seen.get('/undeclared'), undefined);
      assert.deepEqual(Object.keys(seen.get('/hidden') as object), ['200']);
    } finally {
      await app.close();
    }
  });
});
