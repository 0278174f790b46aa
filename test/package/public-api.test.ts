// The package's public entry points load and expose what the README documents, and an embedded
// instance (createAsyncOps) serves a request through its own Fastify app.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as asyncops from '../../src/index.ts';
import * as client from '../../src/client/index.ts';
import { pino } from 'pino';

describe('public API', () => {
  it('asyncops exports the server, task API and stores', () => {
    for (const name of [
      'createAsyncOps',
      'defineTask',
      'PermanentError',
      'inWorkerThread',
      'createSqliteStore',
      'createPostgresStore',
      'openStoreFromSpec',
      'verifyWebhook',
    ]) {
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
      assert.deepEqual(
        types.json().items.map((t: { type: string }) => t.type),
        ['square'],
      );
    } finally {
      await ops.close();
    }
  });

  it('a store opened from a specification reports errors no request saw to the logger, not to stderr', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const ops = await asyncops.createAsyncOps({
      store: ':memory:',
      builtInTasks: false,
      tasks: [asyncops.defineTask({ type: 'noop', run: () => null })],
      logger,
      workers: false,
    });
    try {
      await ops.start();
      ops.store.subscribe(() => {
        throw new Error('a listener bug');
      });
      const created = await ops.app!.inject({ method: 'POST', url: '/operations', payload: { type: 'noop', input: {} } });
      assert.equal(created.statusCode, 202, 'the store carries on');
      const reported = lines.find((l) => String(l['msg']).startsWith('store:'));
      assert.equal((reported?.['err'] as { message?: string } | undefined)?.message, 'a listener bug');
    } finally {
      await ops.close();
    }
  });
});
