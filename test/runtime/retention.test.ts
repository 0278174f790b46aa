// Owns: the retention timer's own rules: one pruning at a time, however often it is asked for.
// Not here: what a pruning removes (the store contract, test/store/contract-maintenance.ts).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Retention } from '../../src/runtime/retention.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { withStoreMethod } from '../support/store-method.ts';
import { systemClock } from '../../src/domain/clock.ts';
import { createAsyncOps } from '../../src/index.ts';

describe('Retention', () => {
  it('runs one pruning at a time: asked again while one is under way, it waits for that one', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    await store.open();
    try {
      let calls = 0;
      let inFlight = 0;
      let mostInFlight = 0;
      const counted = withStoreMethod(store, 'prune', (prune) => async (...args) => {
        calls++;
        mostInFlight = Math.max(mostInFlight, ++inFlight);
        try {
          // A store that prunes in batches gives the event loop back between them.
          await new Promise((resolve) => setTimeout(resolve, 50));
          return await prune(...args);
        } finally {
          inFlight--;
        }
      });
      const retention = new Retention({ store: counted, clock: systemClock, logger: pino({ level: 'silent' }), retentionMs: 1_000, resultRetentionMs: 1_000 });
      await Promise.all([retention.pruneNow(), retention.pruneNow(), retention.pruneNow()]);
      assert.deepEqual([calls, mostInFlight], [1, 1]);
      await retention.pruneNow();
      assert.equal(calls, 2, 'once one has ended, the next goes');
    } finally {
      await store.close();
    }
  });

  it('stop() tells the pruning under way to end between batches, and resolves once it has', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    await store.open();
    try {
      let told: AbortSignal | undefined;
      let ended = false;
      const slow = withStoreMethod(store, 'prune', (prune) => async (params) => {
        told = params.signal;
        await new Promise((resolve) => setTimeout(resolve, 50));
        const pruned = await prune(params);
        ended = true;
        return pruned;
      });
      const retention = new Retention({ store: slow, clock: systemClock, logger: pino({ level: 'silent' }), retentionMs: 1_000, resultRetentionMs: 1_000 });
      const pruning = retention.pruneNow();
      await retention.stop();
      assert.equal(told?.aborted, true);
      assert.equal(ended, true, 'the store is not closed under it');
      await pruning;
    } finally {
      await store.close();
    }
  });
});

describe('retention beside the webhook retry schedule', () => {
  it('warns at start-up when --retention is no longer than the retry schedule: dead letters would go as they die', async () => {
    const warned = async (options: { retentionMs?: number; webhookScheduleMs?: number[] }) => {
      const lines: string[] = [];
      const ops = await createAsyncOps({
        store: ':memory:',
        builtInTasks: false,
        workers: false,
        http: false,
        logger: pino({ level: 'warn' }, { write: (line: string) => lines.push(line) }),
        ...options,
      });
      await ops.close();
      return lines
        .map((line) => JSON.parse(line) as { msg: string; retention_ms?: number })
        .filter((line) => line.msg.startsWith('retention: --retention is no longer'));
    };
    // The default schedule's steps add up to about 27.6 hours, but a receiver's Retry-After may stretch each retry to
    // the longest step: 7 × 10 hours.
    assert.equal((await warned({ retentionMs: 24 * 3_600_000 })).length, 1);
    assert.equal((await warned({ retentionMs: 48 * 3_600_000 })).length, 1);
    assert.equal((await warned({ retentionMs: 60_000, webhookScheduleMs: [1_000, 2_000] })).length, 0);
    assert.equal((await warned({ retentionMs: 8_000, webhookScheduleMs: [1_000, 1_000, 4_000] })).length, 1, '3 × 4 s, and the timeouts');
    assert.equal((await warned({})).length, 0, 'the defaults: 7 days against 70 hours');
  });
});
