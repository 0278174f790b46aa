// Owns: the overview's arithmetic (runtime/overview.ts) on stats a fake store gives: per-minute series on whole
// minutes, throughput and failure rate over the window, pickup and ETA error percentiles, registered types at zero.
// Not here: the reads (test/store/contract-operator-reads.ts), HTTP (test/e2e/operator.test.ts).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { etaError } from '../../src/domain/eta.ts';
import { OperatorStats } from '../../src/runtime/overview.ts';
import type { OperationCount, OperationStats, OperationStatsQuery, Store } from '../../src/store/store.ts';

const NOW = Date.UTC(2026, 11, 3, 8, 0, 30); // 30 s into a minute

function statsStore(counts: OperationCount[], stats: OperationStats, asked: OperationStatsQuery[]): Store {
  const fake: Pick<Store, 'operationCounts' | 'operationStats'> = {
    operationCounts: async () => counts,
    operationStats: async (query) => {
      asked.push(query);
      return stats;
    },
  };
  return fake as Store;
}

describe('overview', () => {
  it('puts what finished into minute buckets ending with the current minute, and derives the rates from them', async () => {
    const asked: OperationStatsQuery[] = [];
    const store = statsStore(
      [
        { type: 'report', status: 'pending', count: 4 },
        { type: 'report', status: 'failed', count: 9 },
      ],
      {
        finished: [
          { type: 'report', status: 'completed', bucket: 0, count: 6 },
          { type: 'report', status: 'completed', bucket: 2, count: 3 },
          { type: 'report', status: 'failed', bucket: 2, count: 1 },
        ],
        pickups: [10, 20, 30, 40, 1000].map((waitMs) => ({ type: 'report', waitMs })),
        etas: [
          { type: 'report', createdAt: 0, finishedAt: 1_000, estimatedAt: 1_100 },
          { type: 'report', createdAt: 0, finishedAt: 1_000, estimatedAt: 500 },
        ],
      },
      asked,
    );
    const overview = await new OperatorStats(store, { now: () => NOW }, () => ['report', 'thumbnail']).overview('acme', 180);
    assert.equal(asked[0]!.tenant, 'acme');
    assert.equal(asked[0]!.since, Date.UTC(2026, 11, 3, 7, 58, 0), 'three whole minutes, the current one last');
    assert.equal(overview.window_s, 180);
    assert.equal(overview.generated_at, new Date(NOW).toISOString());
    const [report, thumbnail] = overview.types;
    assert.deepEqual(
      report!.series.map((p) => [p.at.slice(11, 16), p.completed, p.failed]),
      [
        ['07:58', 6, 0],
        ['07:59', 0, 0],
        ['08:00', 3, 1],
      ],
    );
    assert.equal(report!.pending, 4);
    assert.equal(report!.processing, 0);
    assert.equal(report!.failed, 9);
    assert.equal(report!.completed_in_window, 9);
    assert.equal(report!.failed_in_window, 1);
    assert.equal(report!.throughput_per_min, 3.6, 'nine over the two and a half minutes from 07:58 to now');
    assert.equal(report!.failure_rate, 0.1);
    assert.deepEqual(report!.pickup_ms, { p50: 30, p95: 808 });
    assert.deepEqual(report!.eta_error, { median: 0.3, p90: 0.46, samples: 2 });
    assert.equal(thumbnail!.type, 'thumbnail', 'a registered type with nothing stored');
    assert.equal(thumbnail!.failure_rate, 0);
    assert.equal(thumbnail!.pickup_ms, null);
    assert.equal(thumbnail!.eta_error, null);
    assert.equal(thumbnail!.series.length, 3);
  });

  it('etaError: relative to the time taken, early and late alike', () => {
    assert.equal(etaError({ createdAt: 1_000, finishedAt: 3_000, estimatedAt: 2_000 }), 0.5);
    assert.equal(etaError({ createdAt: 1_000, finishedAt: 3_000, estimatedAt: 4_000 }), 0.5);
    // A run shorter than a second: its error is a share of a second, the time a client asks again in.
    assert.equal(etaError({ createdAt: 1_000, finishedAt: 1_000, estimatedAt: 1_010 }), 0.01, 'an instant run, 10 ms off');
    assert.equal(etaError({ createdAt: 1_000, finishedAt: 1_300, estimatedAt: 1_800 }), 0.5, 'a 300 ms run, 500 ms off');
  });
});
