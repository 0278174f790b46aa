// examples/express-app.ts, run as a user runs it: an Express app's own endpoint hands work to asyncops (202 with a
// Location), asyncops.handler serves the operations API under /async beside the app's routes, and SIGTERM stops both.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { AsyncOpsClient } from '../../src/client/index.ts';
import { startExample, type ExampleProcess } from '../support/example-process.ts';
import { tempDir } from '../support/server.ts';

const dir = tempDir('asyncops-example-express-');
let app: ExampleProcess;

before(async () => {
  app = await startExample('express-app.ts', { PORT: '0', STORE: join(dir.path, 'example.db') });
});
after(async () => {
  await app?.stop();
  dir.cleanup();
});

describe('examples/express-app.ts', () => {
  it("accepts on the app's own route, and the operation is followed through the API asyncops serves under /async", async () => {
    const accepted = await fetch(`${app.url}/thumbnails`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'cat.png', width: 256 }),
    });
    assert.equal(accepted.status, 202, await accepted.clone().text());
    const location = accepted.headers.get('location')!;
    assert.match(location, /^\/async\/operations\/op_/);

    const id = location.split('/').at(-1)!;
    const client = new AsyncOpsClient({ baseUrl: `${app.url}/async` });
    const done = await client.wait(id, { timeoutMs: 20_000 });
    assert.equal(done.status, 'completed');
    assert.match((await client.result(id)).text(), /width="256"/);

    // A conditional read through Express: 304 while the ETag is current.
    const read = await fetch(`${app.url}${location}`);
    assert.equal(read.status, 200);
    const unchanged = await fetch(`${app.url}${location}`, { headers: { 'if-none-match': read.headers.get('etag')! } });
    assert.equal(unchanged.status, 304);
    const list = (await (await fetch(`${app.url}/async/operations?limit=5`)).json()) as any;
    assert.deepEqual(
      list.items.map((op: { id: string }) => op.id),
      [id],
    );
  });

  it("refuses an input the task's schema refuses, through the app's own error handler, and stores nothing", async () => {
    const refused = await fetch(`${app.url}/thumbnails`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"x","width":3}' });
    assert.equal(refused.status, 400);
    assert.deepEqual(((await refused.json()) as any).errors, [{ path: '/input/width', message: 'must be >= 16' }]);
  });

  it("leaves paths outside /async to Express, and answers asyncops's own routes with problems", async () => {
    assert.equal((await fetch(`${app.url}/not-a-route`)).status, 404);
    const problem = await fetch(`${app.url}/async/operations/op_missing`);
    assert.equal(problem.status, 404);
    assert.equal(((await problem.json()) as any).type, '/async/docs/problems#not_found');
  });

  it('stops on SIGTERM with exit code 0', async () => {
    assert.equal(await app.stop(), 0, app.output());
  });
});
