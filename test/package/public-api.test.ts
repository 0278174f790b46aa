// The package's public entry points export exactly what docs/embedding.md and docs/sdk.md document — no store, service
// or domain record — and an embedded instance (createAsyncOps) serves what a task defined in code computes.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import { pino } from 'pino';
import * as asyncops from '../../src/index.ts';
import * as client from '../../src/client/index.ts';
import { assembleAsyncOps } from '../../src/main.ts';

describe('public API', () => {
  it('asyncops exports the embedding API, the task API and the error a submit throws, and nothing else', () => {
    assert.deepEqual(Object.keys(asyncops).sort(), [
      'AsyncOpsError',
      'PermanentError',
      'RateLimitedError',
      'VERSION',
      'asyncopsPlugin',
      'createAsyncOps',
      'defineTask',
      'inWorkerThread',
    ]);
  });

  it('asyncops/client exports the SDK, its errors, the status lists and webhook signing, and nothing else', () => {
    assert.deepEqual(Object.keys(client).sort(), [
      'AsyncOpsApiError',
      'AsyncOpsClient',
      'AsyncOpsNetworkError',
      'AsyncOpsUnexpectedResponseError',
      'AsyncOpsWaitTimeoutError',
      'OPERATION_STATUSES',
      'TERMINAL_STATUSES',
      'WebhookVerificationError',
      'generateWebhookSecret',
      'isTerminalStatus',
      'signWebhook',
      'tenantWebhookSecret',
      'verifyWebhook',
    ]);
  });

  it('createAsyncOps embeds: a task defined in code (its input typed by its TypeBox schema) runs behind the API, and close() releases everything', async () => {
    const square = asyncops.defineTask({
      type: 'square',
      input: Type.Object({ n: Type.Number() }),
      run: (input) => ({ square: input.n * input.n }),
    });
    const ops = await asyncops.createAsyncOps({ store: ':memory:', tasks: [square], builtInTasks: false, logger: { level: 'silent' } });
    try {
      const url = await ops.listen({ port: 0 });
      const sdk = new client.AsyncOpsClient({ baseUrl: url });
      const op = await sdk.submit('square', { n: 7 }, { waitS: 5 });
      assert.equal(op.status, 'completed');
      assert.deepEqual((await sdk.result(op.id)).json(), { square: 49 });
      const types = (await (await fetch(`${url}/task-types`)).json()) as any;
      assert.deepEqual(
        types.items.map((t: { type: string }) => t.type),
        ['square'],
      );
    } finally {
      await ops.close();
    }
  });

  it('a store opened from a specification reports errors no request saw to the logger, not to stderr', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const ops = await assembleAsyncOps({
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
