// The package's public entry points load and expose what the README documents, and an embedded
// instance (createAsyncOps) serves a request through its own Fastify app.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as asyncops from '../../src/index.ts';
import * as client from '../../src/client/index.ts';

describe('public API', () => {
  it('asyncops exports the server, task API and stores', () => {
    for (const name of ['createAsyncOps', 'defineTask', 'PermanentError', 'inWorkerThread', 'createSqliteStore', 'createPostgresStore', 'openStoreFromSpec', 'verifyWebhook']) {
      assert.equal(typeof (asyncops as Record<string, unknown>)[name], 'function', name);
    }
  });

  it('asyncops/client exports the SDK and the webhook verifier', () => {
    for (const name of ['AsyncOpsClient', 'verifyWebhook', 'signWebhook', 'AsyncOpsApiError', 'AsyncOpsNetworkError']) {
      assert.equal(typeof (client as Record<string, unknown>)[name], 'function', name);
    }
  });

  it('createAsyncOps embeds: a task defined in code runs behind the app, and close() releases everything', async () => {
    const square = asyncops.defineTask<{ n: number }>({
      type: 'square',
      input: { type: 'object', properties: { n: { type: 'number' } }, required: ['n'] },
      run: (input) => ({ square: input.n * input.n }),
    });
    const ops = await asyncops.createAsyncOps({ store: ':memory:', tasks: [square], builtInTasks: false, logger: { level: 'silent' } });
    try {
      await ops.start();
      const app = ops.app!;
      const created = await app.inject({ method: 'POST', url: '/operations', payload: { type: 'square', input: { n: 7 } }, headers: { prefer: 'wait=5' } });
      assert.equal(created.statusCode, 200);
      const op = created.json();
      assert.equal(op.status, 'completed');
      const result = await app.inject({ method: 'GET', url: op.result_url });
      assert.deepEqual(result.json(), { square: 49 });
      const types = await app.inject({ method: 'GET', url: '/task-types' });
      assert.deepEqual(types.json().items.map((t: { type: string }) => t.type), ['square']);
    } finally {
      await ops.close();
    }
  });
});
