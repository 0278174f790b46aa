// examples/fastify-app.ts, run as a user runs it: asyncops mounted under /async in an existing Fastify app answers its
// own API and the task's route there, the app's route hands work to it, the SDK follows it, and SIGTERM drains it.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { AsyncOpsClient } from '../../src/client/index.ts';
import { startExample, type ExampleProcess } from '../support/example-process.ts';
import { tempDir } from '../support/server.ts';

const dir = tempDir('asyncops-example-fastify-');
let app: ExampleProcess;

before(async () => {
  app = await startExample('fastify-app.ts', { PORT: '0', STORE: join(dir.path, 'example.db'), LOG_LEVEL: 'warn' });
});
after(async () => {
  await app?.stop();
  dir.cleanup();
});

describe('examples/fastify-app.ts', () => {
  it("keeps the app's own routes, and hands its slow route to asyncops: 202, Location under /async, the SDK waits for it", async () => {
    const home = await fetch(`${app.url}/`);
    assert.equal(home.status, 200);
    assert.equal(((await home.json()) as any).service, 'my existing API');

    const accepted = await fetch(`${app.url}/images/cat.png/thumbnail`, { method: 'POST' });
    assert.equal(accepted.status, 202);
    const location = accepted.headers.get('location')!;
    assert.match(location, /^\/async\/operations\/op_/);
    const operation = (await accepted.json()) as any;
    assert.equal(operation.links.self, location);

    const client = new AsyncOpsClient({ baseUrl: `${app.url}/async` });
    const done = await client.wait(operation.id, { timeoutMs: 20_000 });
    assert.equal(done.status, 'completed');
    assert.equal(done.result_url, `/async/thumbnails/${operation.id}`);
    const result = await client.result(operation.id);
    assert.equal(result.contentType, 'image/svg+xml');
    assert.match(result.text(), /<title>cat\.png<\/title>/);
  });

  it("serves the task's collection route and the API description under the prefix, and refuses bad input before storing it", async () => {
    const created = await fetch(`${app.url}/async/thumbnails`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', prefer: 'wait=10' },
      body: JSON.stringify({ name: 'dog.png', width: 64 }),
    });
    assert.equal(created.status, 200, await created.clone().text());
    assert.equal(((await created.json()) as any).status, 'completed');

    const odd = await fetch(`${app.url}/async/thumbnails`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"name":"x","width":65}',
    });
    assert.equal(odd.status, 400);
    const problem = (await odd.json()) as any;
    assert.equal(problem.type, '/async/docs/problems#validation_failed');
    assert.deepEqual(problem.errors, [{ path: '/width', message: 'must be even' }]);

    const document = (await (await fetch(`${app.url}/async/openapi.json`)).json()) as any;
    assert.deepEqual(document.servers, [{ url: '/async', description: 'The server that serves this document' }]);
    assert.ok(document.paths['/operations/{id}'] && document.paths['/thumbnails'], Object.keys(document.paths).join(' '));

    const missing = await fetch(`${app.url}/async/nothing-here`);
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  });

  it('stops on SIGTERM, workers drained and the store closed, with exit code 0', async () => {
    assert.equal(await app.stop(), 0, app.output());
  });
});
