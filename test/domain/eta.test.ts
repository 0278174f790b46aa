import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { estimateCompletion, estimateDuration, median } from '../../src/domain/eta.ts';

const estimate = (typicalMs: number) => ({ typicalMs, samples: 10 });

describe('duration estimate', () => {
  it('is null with neither history nor a prior, and the prior alone before history exists', () => {
    assert.equal(estimateDuration([], null), null);
    assert.deepEqual(estimateDuration([], 5000), { typicalMs: 5000, samples: 0 });
  });

  it('is the median of recent samples, robust to an outlier', () => {
    assert.equal(estimateDuration([100, 110, 90, 100, 10_000], null)!.typicalMs, 100);
    assert.equal(median([1, 2, 3, 4]), 2.5);
  });

  it('blends the prior in while history is thin', () => {
    assert.equal(estimateDuration([100], 300)!.typicalMs, 200);
  });
});

describe('estimated completion', () => {
  const now = 100_000;

  it('processing with progress: extrapolates from elapsed time', () => {
    const eta = estimateCompletion({
      now,
      status: 'processing',
      runAt: 0,
      startedAt: now - 1000,
      progress: 0.25,
      queuePosition: null,
      concurrency: 1,
      estimate: null,
    });
    assert.equal(eta, now + 3000);
  });

  it('processing with progress extrapolates from when the progress was stored, blended with the typical duration', () => {
    // 25 % reported 1 s after start, read 1.5 s after start: 4 s in all by extrapolation, not 6 s.
    const stale = estimateCompletion({
      now,
      status: 'processing',
      runAt: 0,
      startedAt: now - 1500,
      progress: 0.25,
      progressAt: now - 500,
      queuePosition: null,
      concurrency: 1,
      estimate: null,
    });
    assert.equal(stale, now - 1500 + 4000);
    // With a typical duration of 8 s: 25 % of the way, so a quarter extrapolation, three quarters typical.
    const blended = estimateCompletion({
      now,
      status: 'processing',
      runAt: 0,
      startedAt: now - 1000,
      progress: 0.25,
      progressAt: now,
      queuePosition: null,
      concurrency: 1,
      estimate: estimate(8000),
    });
    assert.equal(blended, now - 1000 + 0.25 * 4000 + 0.75 * 8000);
  });

  it('processing without progress: start + typical duration; null without any basis', () => {
    assert.equal(
      estimateCompletion({
        now,
        status: 'processing',
        runAt: 0,
        startedAt: now - 1000,
        progress: null,
        queuePosition: null,
        concurrency: 1,
        estimate: estimate(4000),
      }),
      now + 3000,
    );
    assert.equal(
      estimateCompletion({ now, status: 'processing', runAt: 0, startedAt: now - 1000, progress: null, queuePosition: null, concurrency: 1, estimate: null }),
      null,
    );
  });

  it('processing past its typical end without progress: about now, never in the past', () => {
    assert.equal(
      estimateCompletion({
        now,
        status: 'processing',
        runAt: 0,
        startedAt: now - 9000,
        progress: null,
        queuePosition: null,
        concurrency: 1,
        estimate: estimate(4000),
      }),
      now,
    );
  });

  it('pending, next in line, free slot: starts now', () => {
    assert.equal(
      estimateCompletion({
        now,
        status: 'pending',
        runAt: now,
        startedAt: null,
        progress: null,
        queuePosition: 0,
        concurrency: 2,
        running: [],
        estimate: estimate(1000),
      }),
      now + 1000,
    );
  });

  it('pending behind busy slots: waits for the earliest slot, then the ones ahead', () => {
    const running = [
      { startedAt: now - 500, progress: null },
      { startedAt: now - 900, progress: null },
    ];
    // Slots free at +500 and +100; two ops ahead take +100 (→ +1100) and +500 (→ +1500); this one starts at +1100.
    const eta = estimateCompletion({
      now,
      status: 'pending',
      runAt: now,
      startedAt: null,
      progress: null,
      queuePosition: 2,
      concurrency: 2,
      running,
      estimate: estimate(1000),
    });
    assert.equal(eta, now + 2100);
  });

  it('pending with a future run_at starts no earlier than run_at', () => {
    const eta = estimateCompletion({
      now,
      status: 'pending',
      runAt: now + 60_000,
      startedAt: null,
      progress: null,
      queuePosition: 0,
      concurrency: 1,
      estimate: estimate(1000),
    });
    assert.equal(eta, now + 61_000);
  });

  it('a deep queue uses the closed form past the walked positions', () => {
    const eta = estimateCompletion({
      now,
      status: 'pending',
      runAt: now,
      startedAt: null,
      progress: null,
      queuePosition: 10_000,
      concurrency: 10,
      running: [],
      estimate: estimate(100),
    });
    assert.equal(eta, now + (10_000 * 100) / 10 + 100);
  });

  it('pending with no duration basis: null', () => {
    assert.equal(
      estimateCompletion({ now, status: 'pending', runAt: now, startedAt: null, progress: null, queuePosition: 3, concurrency: 1, estimate: null }),
      null,
    );
  });
});
