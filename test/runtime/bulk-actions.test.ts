// The bulk action runner and service on a real (in-memory SQLite) store: a dry run counts, a created action is run in
// batches to completed, and a runner that stops between batches gives its lease back, so another resumes it from its
// cursor at once and every match is processed once.

import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { systemClock } from '../../src/domain/clock.ts';
import { BulkActionRunner, BulkActionsService } from '../../src/runtime/bulk-actions.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../../src/store/store.ts';
import { insertInState } from '../store/fixtures.ts';
import { waitFor } from '../support/wait.ts';

const silent = pino({ level: 'silent' });
const SCOPE = { tenant: 'acme', admin: false };
let store: Store;

beforeEach(async () => {
  store = new SqliteStore({ path: ':memory:' });
  await store.open();
});
afterEach(async () => {
  await store.close();
});

const runner = (batchSize: number, pauseMs: number) =>
  new BulkActionRunner({ store, clock: systemClock, logger: silent, delivery: () => null, batchSize, pauseMs, pollMs: 20, leaseMs: 60_000 });

describe('bulk actions at run time', () => {
  it('counts on a dry run, runs in batches to completed, and resumes from the cursor after a runner stops', async () => {
    const type = 'bulk-runtime';
    const now = Date.now() - 60_000;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await insertInState(store, 'failed', { type, tenant: 'acme', now, runAt: now })).op.id);
    const service = new BulkActionsService({ store, clock: systemClock });
    const dry = await service.request({ scope: SCOPE, principal: 'key:0', action: 'retry', filter: { type }, dryRun: true });
    assert.deepEqual(dry, { dryRun: true, count: 3 });

    const first = runner(1, 60_000);
    const answer = await service.request({ scope: SCOPE, principal: 'key:0', action: 'retry', filter: { type }, dryRun: false });
    assert.equal(answer.dryRun, false);
    const id = answer.dryRun ? '' : answer.action.id;
    first.start();
    await waitFor(async () => (await service.get('acme', id)).processed === 1, { timeoutMs: 5_000, what: 'the first batch' });
    await first.stop();
    const stopped = await service.get('acme', id);
    assert.deepEqual([stopped.status, stopped.processed, stopped.leaseToken], ['processing', 1, null], 'its lease given back');

    const second = runner(10, 1);
    second.start();
    try {
      const done = await waitFor(
        async () => {
          const action = await service.get('acme', id);
          return action.status === 'completed' ? action : null;
        },
        { timeoutMs: 5_000, what: 'completed' },
      );
      assert.deepEqual([done.processed, done.succeeded, done.skipped], [3, 3, 0], 'each match once');
    } finally {
      await second.stop();
    }
    for (const opId of ids) assert.equal((await store.operationGetById(opId))?.status, 'pending');
    await assert.rejects(service.get('other', id), /no bulk action/);
    assert.deepEqual(
      (await service.list('acme', { limit: 10 })).items.map((a) => a.id),
      [id],
    );
  });
});
