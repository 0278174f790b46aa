import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { capacityOf, typesCompete, WORKER_NODE_LIVE_MS } from '../../src/domain/capacity.ts';
import { durationQuantiles, predictedMs, remainingQuantiles } from '../../src/domain/duration-model.ts';
import { startOf, startOfUniform } from '../../src/domain/eta-queue.ts';
import { estimateCompletion, estimateCompletionRange, estimateDuration, median, type DurationSample, type EtaInput } from '../../src/domain/eta.ts';
import { seededRandom } from '../support/seeded-random.ts';

const estimate = (typicalMs: number) => ({ typicalMs, samples: 10 });
const now = 100_000;
const near = (actual: number, expected: number, tolerance: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} is not within ${tolerance} of ${expected}`);

/** A standard normal draw (Box–Muller) from a seeded source. */
const normal = (random: () => number) => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());

const processing = (input: Partial<EtaInput>): EtaInput => ({
  now,
  status: 'processing',
  runAt: 0,
  startedAt: now,
  progress: null,
  queuePosition: null,
  concurrency: 1,
  estimate: null,
  ...input,
});

/** `--concurrency 1` shared by types a and b, a slot each. */
const ONE_SHARED_SLOT = {
  global: 1,
  perType: new Map([
    ['a', 1],
    ['b', 1],
  ]),
};

const pending = (input: Partial<EtaInput>): EtaInput => ({
  now,
  status: 'pending',
  runAt: now,
  startedAt: null,
  progress: null,
  queuePosition: 0,
  concurrency: 1,
  running: [],
  estimate: null,
  ...input,
});

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

  // Runs newest first: `slower` runs of a new level (×2.5) after 50 of about a second (σ 0.05).
  const shifted = (slower: number, factor = 2.5): number[] => {
    const random = seededRandom(3);
    return Array.from({ length: 50 + slower }, (_, i) => (i < slower ? factor : 1) * 1000 * Math.exp(0.05 * normal(random)));
  };

  it("moves to a new level as soon as four runs in a row land beyond the older runs' p10..p90, slower or faster", () => {
    // The 50 older ones keep the median at a second; what the four newest say is the next run's level.
    assert.ok(Math.abs(estimateDuration(shifted(3), null)!.typicalMs - 1000) < 100, 'three runs are not yet a level');
    for (const [slower, factor] of [
      [4, 2.5],
      [30, 2.5],
      [4, 0.4],
    ] as const) {
      const moved = estimateDuration(shifted(slower, factor), null)!;
      const q = durationQuantiles(moved, null);
      near(q.p50, factor * 1000, factor * 100, `${slower} runs ×${factor}: the median`);
      assert.ok(q.p10 < factor * 1000 && factor * 1000 < q.p90, `${slower} runs ×${factor}: the range holds the new level`);
    }
  });

  it('keeps the whole window where runs vary without moving: lognormal, and two kinds taking turns', () => {
    const random = seededRandom(8);
    const steady = Array.from({ length: 100 }, () => 1000 * Math.exp(0.5 * normal(random)));
    assert.equal(estimateDuration(steady, null)!.samples, 100);
    assert.equal(estimateDuration(steady, null)!.typicalMs, median(steady));
    const turns = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 1000 : 5000));
    assert.equal(estimateDuration(turns, null)!.samples, 40);
  });

  it('with a declared cost, a new time per unit is taken from the runs that show it', () => {
    const random = seededRandom(6);
    // Newest first: 8 runs at 25 ms a unit, then 60 at 10 ms a unit, costs 1..100.
    const runs: DurationSample[] = Array.from({ length: 68 }, (_, i) => {
      const cost = 1 + Math.floor(random() * 100);
      return { durationMs: (i < 8 ? 25 : 10) * cost * Math.exp(0.05 * normal(random)), cost };
    });
    const moved = estimateDuration(runs, null, true)!;
    near(predictedMs(moved, 50), 1250, 150, 'fifty units at the new rate');
  });

  it('with a declared cost, newest runs all of one size move every size by their factor: the time per unit stays learnt', () => {
    const random = seededRandom(9);
    // Newest first: 4 one-day runs twice as slow, then 24 of 1, 7, 30 and 365 days (200 ms + 2 ms a day) in turn.
    const days = [1, 7, 30, 365];
    const runs: DurationSample[] = [
      ...Array.from({ length: 4 }, () => ({ durationMs: 2 * 202 * Math.exp(0.03 * normal(random)), cost: 1 })),
      ...Array.from({ length: 24 }, (_, i) => ({ durationMs: (200 + 2 * days[i % 4]!) * Math.exp(0.03 * normal(random)), cost: days[i % 4]! })),
    ];
    const moved = estimateDuration(runs, null, true)!;
    for (const cost of days) {
      const q = durationQuantiles(moved, cost);
      const real = 2 * (200 + 2 * cost);
      near(q.p50, real, 0.15 * real, `${cost} days`);
      assert.ok(q.p10 < real && real < q.p90, `${cost} days: the range holds ${real} ms`);
    }
    assert.equal(moved.samples, 28, 'every run still counts as history');
  });

  it('a few quick successes of a long type are not its new level: a move of many times takes more runs', () => {
    const random = seededRandom(4);
    const hour = 3_600_000;
    const longRuns = Array.from({ length: 96 }, () => hour * Math.exp(0.2 * normal(random)));
    const quick = estimateDuration([200, 210, 190, 205, ...longRuns], null)!;
    near(durationQuantiles(quick, null).p50, hour, 0.1 * hour, 'four 200 ms runs');
    // Moved for real, as many times: enough runs of the new level say so.
    const many = Array.from({ length: 32 }, () => 200 * Math.exp(0.05 * normal(random)));
    near(durationQuantiles(estimateDuration([...many, ...longRuns.slice(0, 60)], null)!, null).p50, 200, 30, 'thirty-two 200 ms runs');
  });
});

describe('cost model', () => {
  // 60 runs of 40 ms fixed + 15 ms per unit, ±10 % noise, costs 1..300; with `slow`, 3 of them ran on a machine five times slower.
  const runs = (slow: boolean): DurationSample[] => {
    const random = seededRandom(5);
    return Array.from({ length: 60 }, (_, i) => {
      const cost = 1 + Math.floor(random() * 300);
      return { durationMs: (40 + 15 * cost) * (0.9 + 0.2 * random()) * (slow && i % 20 === 7 ? 5 : 1), cost };
    });
  };
  const samples = runs(true);

  it('learns the time per unit robustly: outliers and a few slow machines do not drag it', () => {
    const model = estimateDuration(samples, 3000, true)!;
    near(model.perUnit!.perUnitMs, 15, 0.75, 'ms per unit');
    near(predictedMs(model, 200), 40 + 15 * 200, 90, 'a 200-unit run');
    near(predictedMs(model, 10), 40 + 15 * 10, 60, 'a 10-unit run');
    const clean = estimateDuration(runs(false), 3000, true)!;
    near(predictedMs(model, 200), predictedMs(clean, 200), 0.02 * predictedMs(clean, 200), 'with and without the slow machines');
  });

  it('gives a pending operation the duration of its own size, not the typical one', () => {
    const model = estimateDuration(samples, 3000, true)!;
    const small = estimateCompletion(pending({ estimate: model, cost: 5 }))! - now;
    const large = estimateCompletion(pending({ estimate: model, cost: 300 }))! - now;
    near(small, 40 + 15 * 5, 60, 'a 5-unit operation');
    near(large, 40 + 15 * 300, 230, 'a 300-unit operation');
  });

  it('counts the declared costs of the operations ahead, and the mean for those it does not know', () => {
    const model = estimateDuration(samples, 3000, true)!;
    // One slot: the 100 and 10 unit operations ahead, then its own 20 units.
    const known = estimateCompletion(pending({ estimate: model, cost: 20, queuePosition: 2, aheadCosts: [100, 10] }))! - now;
    near(known, 40 * 3 + 15 * 130, 150, 'after the two ahead');
    const unknown = estimateCompletion(pending({ estimate: model, cost: 20, queuePosition: 2 }))! - now;
    assert.ok(unknown > known, 'unknown costs count as the typical operation, larger than these two');
  });

  it('is fitted only for a type that declares a cost, and falls back to the time per unit when the costs hardly differ', () => {
    assert.equal(estimateDuration(samples, null, false)!.perUnit, undefined);
    const same = estimateDuration(
      [100, 110, 90].map((durationMs) => ({ durationMs, cost: 10 })),
      null,
      true,
    )!;
    assert.deepEqual(same.perUnit, { fixedMs: 0, perUnitMs: 10 });
  });
});

describe('estimated completion of a running attempt', () => {
  it('extrapolates from progress when there is no history', () => {
    assert.equal(estimateCompletion(processing({ startedAt: now - 1000, progress: 0.25, progressAt: now })), now + 3000);
  });

  it('extrapolates from when the progress was stored, not from now', () => {
    // 25 % reported 1 s after start, read 1.5 s after start: 4 s in all by extrapolation, not 6 s.
    assert.equal(estimateCompletion(processing({ startedAt: now - 1500, progress: 0.25, progressAt: now - 500 })), now - 1500 + 4000);
  });

  it('follows the observed rate once progress can be extrapolated, however short the history says runs are', () => {
    // Issue 12: a 16 s job with linear progress; history says 3 s. At 25 % it has 12 s left, at 50 % 8 s.
    const history = estimateDuration([2900, 3000, 3100, 3050, 2950, 3000, 2980, 3020], null)!;
    for (const fraction of [0.25, 0.5, 0.75]) {
      const eta = estimateCompletion(processing({ startedAt: now - 16_000 * fraction, progress: fraction, progressAt: now, estimate: history }))!;
      near(eta - now, 16_000 * (1 - fraction), 1, `at ${fraction * 100} %`);
    }
  });

  it('follows a rate that changes: the recent rate, from the earlier progress point the store keeps, weighs most', () => {
    // Half done in 8 s, then faster (a neighbour sharing the CPU ended): 60 % at 9 s; 4 s left at the recent pace, 6 s at the average.
    const input = processing({ startedAt: now - 9000, progress: 0.6, progressAt: now, progressAnchor: { progress: 0.5, at: now - 1000 } });
    const eta = estimateCompletion(input)! - now;
    const byAverage = 9000 / 0.6 - 9000;
    assert.ok(eta > 4000 && eta < 5000, `${eta} ms: between the recent rate's 4 s and the average's ${byAverage}, nearer the recent`);
    // An anchor from an earlier attempt (before startedAt) is no evidence.
    const stale = { ...input, progressAnchor: { progress: 0.5, at: now - 20_000 } };
    near(estimateCompletion(stale)! - now, byAverage, 1, 'the average rate alone');
  });

  it('leans on history only while progress is too small to extrapolate, and never in the past', () => {
    const history = estimateDuration([2900, 3000, 3100, 3050, 2950, 3000, 2980, 3020], null)!;
    const early = estimateCompletion(processing({ startedAt: now - 100, progress: 0.02, progressAt: now, estimate: history }))!;
    near(early - now, 2900, 150, 'at 2 %: what is left of a typical run');
    const mid = estimateCompletion(processing({ startedAt: now - 800, progress: 0.05, progressAt: now, estimate: history }))!;
    assert.ok(mid > now + 2500 && mid < now + 14_000, 'at 5 %: between history (2.2 s left) and the rate (15.2 s)');
    // Its rate said it would end 2 s ago; no progress since: later than now, and later the longer it stays silent.
    const overdue = (silentMs: number) =>
      estimateCompletion(processing({ startedAt: now - 4000 - silentMs, progress: 0.5, progressAt: now - 2000 - silentMs, estimate: history }))!;
    assert.ok(overdue(0) > now, 'overdue: still ahead of now');
    assert.ok(overdue(3000) > overdue(0), 'the longer the silence, the later');
  });

  it('without progress, past its typical duration: from runs that lasted at least as long, never "now"', () => {
    // Issue 12: before, anything past started_at + typical duration was estimated to end now.
    assert.ok(estimateCompletion(processing({ startedAt: now - 9000, estimate: estimate(4000) }))! > now + 200);
    // Half the runs took 1 s, half 5 s, in turn: one that has run 2 s is one of the long ones, with 3 s left.
    const bimodal = estimateDuration(
      Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 1000 : 5000)),
      null,
    )!;
    near(estimateCompletion(processing({ startedAt: now - 2000, estimate: bimodal }))! - now, 3000, 1, 'left of the long runs');
    // Past every run ever seen, still a while to go.
    assert.ok(estimateCompletion(processing({ startedAt: now - 8000, estimate: bimodal }))! > now + 200);
  });

  it('far past every run seen, or with all its work reported and the handler yet to return: what is left grows, with a range, never "now"', () => {
    // Six runs of 300 ms, then one that has run 5 s without progress: the tail alone read 0 left, p10 = p90.
    const quick = estimateDuration(Array(6).fill(300), null)!;
    const tail = estimateCompletionRange(processing({ startedAt: now - 5000, estimate: quick }))!;
    assert.ok(tail.at - now >= 0.5 * (5000 - 300) - 1, `at least half its overrun left: ${tail.at - now} ms`);
    assert.ok(tail.p10 < tail.at && tail.at < tail.p90, 'a range');
    const longer = estimateCompletionRange(processing({ startedAt: now - 9000, estimate: quick }))!;
    assert.ok(longer.at > tail.at, 'the longer it runs on, the later');
    // Progress 1 reported 3 s ago: the handler has still to return.
    const done = (silentMs: number) =>
      estimateCompletionRange(processing({ startedAt: now - 6000, progress: 1, progressAt: now - silentMs, estimate: quick }))!;
    assert.ok(done(3000).at - now >= 1000, `${done(3000).at - now} ms left`);
    assert.ok(done(3000).p10 < done(3000).p90, 'a range');
    assert.ok(done(6000).at > done(3000).at, 'the longer the wait, the later');
  });

  it('whose worker is gone: it ends when its lease lapses, then runs again from the head of the queue (or fails, its last)', () => {
    // Half done at a steady rate, so the attempt alone would say 2 s left; its worker stopped announcing itself.
    const running = processing({ startedAt: now - 2000, progress: 0.5, progressAt: now, estimate: estimate(3000) });
    near(estimateCompletion(running)! - now, 2000, 50, 'while its worker lives');
    const lapse = now + 20_000;
    const gone = estimateCompletionRange({ ...running, orphaned: { leaseExpiresAt: lapse, lastAttempt: false } })!;
    near(gone.at, lapse + 3000, 1, 'the lapse, then a run of its type');
    assert.ok(gone.p10 > lapse && gone.p90 > gone.at);
    const last = estimateCompletionRange({ ...running, orphaned: { leaseExpiresAt: lapse, lastAttempt: true } })!;
    assert.deepEqual(last, { at: lapse, p10: lapse, p90: lapse }, 'its last attempt: it fails at the lapse');
    const lapsed = estimateCompletionRange({ ...running, orphaned: { leaseExpiresAt: now - 5000, lastAttempt: false } })!;
    near(lapsed.at, now + 3000, 1, 'a lease already lapsed: runs again from now');
  });

  it('without progress or history: null, never a made-up number', () => {
    assert.equal(estimateCompletion(processing({ startedAt: now - 1000 })), null);
    assert.equal(estimateCompletionRange(processing({ startedAt: now - 1000 })), null);
  });
});

describe('estimated completion of a pending operation', () => {
  it('next in line with a free slot: starts now, or at its run_at', () => {
    assert.equal(estimateCompletion(pending({ concurrency: 2, estimate: estimate(1000) })), now + 1000);
    assert.equal(estimateCompletion(pending({ runAt: now + 60_000, estimate: estimate(1000) })), now + 61_000);
  });

  it('behind busy slots: waits for the earliest slot, then for those ahead', () => {
    const tight = estimateDuration(Array(30).fill(1000), null)!;
    // Slots free at +500 and +100; the two ahead take +100 (→ +1100) and +500 (→ +1500); this one starts at +1100.
    const running = [
      { startedAt: now - 500, progress: 0.5, progressAt: now },
      { startedAt: now - 900, progress: 0.9, progressAt: now },
    ];
    near(estimateCompletion(pending({ queuePosition: 2, concurrency: 2, running, estimate: tight }))! - now, 2100, 5, 'completion');
  });

  it('waits behind the other types that share the global --concurrency (issue 12)', () => {
    // --concurrency 1, two types: one of the other type runs (1 s of 3 s done), two more of it were submitted first.
    const tight = estimateDuration(Array(30).fill(3000), null)!;
    const input = pending({
      type: 'a',
      estimate: tight,
      capacity: ONE_SHARED_SLOT,
      running: [{ type: 'b', startedAt: now - 1000, progress: null }],
      aheadOfOtherTypes: { b: 2 },
      estimates: new Map([['b', tight]]),
    });
    near(estimateCompletion(input)! - now, 2000 + 3000 + 3000 + 3000, 50, 'after the b ahead of it');
    // With room for both types the other type does not hold it up.
    const roomy = {
      ...input,
      capacity: {
        global: 2,
        perType: new Map([
          ['a', 1],
          ['b', 1],
        ]),
      },
    };
    near(estimateCompletion(roomy)! - now, 3000, 5, 'its own slot is free');
  });

  it('a queue of alike operations of its own type: the closed form starts each where playing the queue does', () => {
    const item = { type: 'a', mean: 1000, variance: 100 };
    const running = [
      { type: 'a', remaining: 300, variance: 10 },
      { type: 'a', remaining: 900, variance: 10 },
    ];
    const capacity = { global: 3, perType: new Map([['a', 3]]) };
    for (let position = 0; position < 12; position++) {
      const played = startOf({ now, ready: now, type: 'a', capacity, running, ahead: Array(position).fill(item) })!;
      const closed = startOfUniform({ now, ready: now, slots: 3, running, position, item })!;
      assert.equal(closed.at, played.at, `position ${position}`);
    }
  });

  it("past the played operations, another type's backlog held by its own limit does not delay it; its own type's and a saturating one's do", () => {
    const backlog = { type: 'slow', mean: 120_000, variance: 1e6 };
    const quick = { type: 'quick', mean: 20, variance: 1 };
    const running = Array.from({ length: 3 }, () => ({ type: 'slow', remaining: 60_000, variance: 1e6 }));
    const limited = {
      global: 900,
      perType: new Map([
        ['slow', 3],
        ['quick', 100],
      ]),
    };
    const ahead = Array(256).fill(backlog);
    // 2,738 more of the slow type past the played 256: with their 3 slots they never take the quick type's.
    const behindABacklog = startOf({ now, ready: now, type: 'quick', capacity: limited, running, ahead, beyond: [{ ...backlog, count: 2_738 }] })!;
    assert.equal(behindABacklog.at, now, 'a free slot of its own type, now');
    // Its own type's operations past the played ones go first, in the slots its limit and the others leave it.
    const ownAhead = startOf({
      now,
      ready: now,
      type: 'quick',
      capacity: limited,
      running,
      ahead,
      beyond: [
        { ...backlog, count: 2_738 },
        { ...quick, count: 1_000 },
      ],
    })!;
    near(ownAhead.at - now, (1_000 * 20) / 100, 1, '1,000 of 20 ms through its 100 slots');
    // A type without a limit of its own can hold every global slot: all the work drains through the global limit.
    const unlimited = {
      global: 10,
      perType: new Map([
        ['slow', Infinity],
        ['quick', 100],
      ]),
    };
    const saturated = startOf({
      now,
      ready: now,
      type: 'quick',
      capacity: unlimited,
      running: [],
      ahead: Array(256).fill(quick),
      beyond: [{ ...backlog, count: 100 }],
    })!;
    assert.ok(saturated.at - now >= (100 * 120_000) / 10, `all of it through 10 slots: ${saturated.at - now} ms`);
    // Another type of a high limit but little work holds its slots for a moment only, not for the whole drain.
    const a = { type: 'a', mean: 200, variance: 1 };
    const highLimit = {
      global: 10,
      perType: new Map([
        ['a', 10],
        ['b', 9],
      ]),
    };
    const alone = startOf({ now, ready: now, type: 'a', capacity: highLimit, running: [], ahead: Array(256).fill(a), beyond: [{ ...a, count: 200 }] })!;
    const besideOneQuick = startOf({
      now,
      ready: now,
      type: 'a',
      capacity: highLimit,
      running: [],
      ahead: Array(256).fill(a),
      beyond: [
        { ...a, count: 200 },
        { type: 'b', mean: 10, variance: 1, count: 1 },
      ],
    })!;
    near(besideOneQuick.at - now, alone.at - now, 5, 'one 10 ms operation of the other type');
    // Another type with fewer operations left than its limit holds no more slots than it has operations: two of 900 s
    // under a limit of 9 leave eight of ten slots to the 1 s ones (256 played at ten, 342 more at eight: 68 s).
    const long = { type: 'long', mean: 900_000, variance: 1 };
    const short = { type: 'short', mean: 1_000, variance: 1 };
    const fewLong = {
      global: 10,
      perType: new Map([
        ['long', 9],
        ['short', 10],
      ]),
    };
    const longBeyond = startOf({
      now,
      ready: now,
      type: 'short',
      capacity: fewLong,
      running: [],
      ahead: Array(256).fill(short),
      beyond: [
        { ...short, count: 342 },
        { ...long, count: 2 },
      ],
    })!;
    near(longBeyond.at - now, 25_600 + 342_000 / 8, 1_000, 'two long ones past the played part hold two slots, not nine');
  });

  it("waits for its turn among its concurrency key's slots, not only for a slot of its type (issue 12)", () => {
    const d = 1000;
    const tight = estimateDuration(Array(30).fill(d), null)!;
    // Concurrency 4, keyConcurrency 1: three of its key ahead of it, four type slots free.
    const plain = pending({ queuePosition: 3, concurrency: 4, estimate: tight });
    near(estimateCompletion(plain)! - now, d, 5, 'the type alone: a free slot');
    const keyed = estimateCompletionRange({ ...plain, key: { limit: 1, ahead: 3, running: [] } })!;
    near(keyed.at - now, 4 * d, 0.1 * d, 'after the three of its key, one at a time');
    assert.ok(keyed.p90 - keyed.at > estimateCompletionRange(plain)!.p90 - (now + d), 'the longer wait widens the range');
    // As when four of one key are submitted at once: the first runs (just started), two wait ahead of this one.
    const justStarted = { startedAt: now, progress: null, progressAt: now };
    const submitted = pending({
      queuePosition: 2,
      concurrency: 4,
      running: [justStarted],
      estimate: tight,
      key: { limit: 1, ahead: 2, running: [justStarted] },
    });
    near(estimateCompletion(submitted)! - now, 4 * d, 0.1 * d, 'the fourth of its key');
  });

  it('other keys ahead, or a key with free slots, do not hold it up', () => {
    const tight = estimateDuration(Array(30).fill(1000), null)!;
    const plain = pending({ queuePosition: 3, concurrency: 4, estimate: tight });
    const alone = estimateCompletionRange(plain)!;
    assert.deepEqual(estimateCompletionRange({ ...plain, key: { limit: 1, ahead: 0, running: [] } }), alone, 'the three ahead are of other keys');
    const running = [{ startedAt: now - 200, progress: null, progressAt: now }];
    assert.deepEqual(
      estimateCompletionRange({ ...plain, running, key: { limit: 4, ahead: 2, running } }),
      estimateCompletionRange({ ...plain, running }),
      'its key has a slot free',
    );
  });

  it('a deep queue drains at the rate of its slots', () => {
    const eta = estimateCompletion(pending({ queuePosition: 10_000, concurrency: 10, estimate: estimateDuration(Array(30).fill(100), null)! }))!;
    near(eta - now, (10_000 * 100) / 10 + 100, 500, 'completion');
  });

  it('with no duration basis, or no worker that runs its type: null', () => {
    assert.equal(estimateCompletion(pending({ queuePosition: 3 })), null);
    const elsewhere = pending({ type: 'a', estimate: estimate(1000), capacity: { global: 4, perType: new Map([['b', 4]]) } });
    assert.equal(estimateCompletion(elsewhere), null);
  });
});

describe('capacity of the worker nodes', () => {
  it('sums the live nodes; a silent node counts for nothing; none live: no capacity', () => {
    const node = (id: string, seenAt: number, concurrency: number, typeLimits: Record<string, number>) => ({ id, seenAt, concurrency, typeLimits });
    const capacity = capacityOf(
      [node('n1', now - 1000, 4, { a: 2, b: 4 }), node('n2', now, 2, { a: 2 }), node('old', now - WORKER_NODE_LIVE_MS - 1, 50, { a: 50 })],
      now,
    );
    assert.deepEqual(capacity, {
      global: 6,
      perType: new Map([
        ['a', 4],
        ['b', 4],
      ]),
    });
    assert.equal(typesCompete(capacity!), true);
    assert.equal(capacityOf([node('old', 0, 5, { a: 5 })], now), null);
  });

  it('two nodes drain a queue twice as fast as one', () => {
    const tight = estimateDuration(Array(30).fill(1000), null)!;
    const one = capacityOf([{ id: 'n1', seenAt: now, concurrency: 2, typeLimits: { a: 2 } }], now)!;
    const two = capacityOf(
      [
        { id: 'n1', seenAt: now, concurrency: 2, typeLimits: { a: 2 } },
        { id: 'n2', seenAt: now, concurrency: 2, typeLimits: { a: 2 } },
      ],
      now,
    )!;
    const wait = (capacity: typeof one) => estimateCompletion(pending({ type: 'a', queuePosition: 40, estimate: tight, capacity }))! - now;
    near(wait(one), 21_000, 50, 'one node');
    near(wait(two), 11_000, 50, 'two nodes');
  });
});

describe('the range', () => {
  // History: 100 lognormal durations, median 1 s, σ 0.5.
  const random = seededRandom(11);
  const draw = () => 1000 * Math.exp(0.5 * normal(random));
  const history = estimateDuration(Array.from({ length: 100 }, draw), null)!;

  it('holds the median, and is null when the estimate is', () => {
    const range = estimateCompletionRange(pending({ estimate: history }))!;
    assert.ok(range.p10 < range.at && range.at < range.p90);
    assert.ok(range.p10 >= now, 'never in the past');
    assert.equal(estimateCompletionRange(pending({})), null);
  });

  it('starts no sooner than run_at: p10 is at least run_at plus the run’s own p10, whatever the queue ahead', () => {
    for (const [runAt, queuePosition] of [
      [now + 3_600_000, 0],
      [now + 60_000, 5],
      [now + 1000, 40],
    ] as const) {
      const own = durationQuantiles(history, null);
      const range = estimateCompletionRange(pending({ runAt, queuePosition, estimate: history }))!;
      assert.ok(range.p10 >= runAt + own.p10, `run_at +${runAt - now} ms, ${queuePosition} ahead: p10 ${range.p10 - now} ms from now`);
      assert.ok(range.p10 <= range.at && range.at < range.p90);
    }
    // Nothing ahead or running: it starts at run_at, so the range is its own run's, however far off run_at is.
    const own = durationQuantiles(history, null);
    const alone = estimateCompletionRange(pending({ runAt: now + 3_600_000, estimate: history }))!;
    near(alone.p10, now + 3_600_000 + own.p10, 1, 'p10');
    near(alone.p90, now + 3_600_000 + own.p90, 1, 'p90');
  });

  it('a backlog due now drains before a later run_at: it ends about run_at plus its own run, not after the backlog from then', () => {
    // Ten due ahead of it, a second each, one slot; it is due in 30 s, when they are long done.
    const runAt = now + 30_000;
    const range = estimateCompletionRange(pending({ runAt, queuePosition: 10, estimate: estimate(1000) }))!;
    near(range.at, runAt + 1000, 1, 'the estimate');
    // Its run_at is known, so the queue adds no spread to it: the range is its own run's.
    const own = durationQuantiles(estimate(1000), null);
    near(range.p10, runAt + own.p10, 1, 'p10');
    near(range.p90, runAt + own.p90, 1, 'p90');
    // A backlog longer than the wait for run_at still decides it: forty seconds of work ahead, due in 30 s.
    const behind = estimateCompletionRange(pending({ runAt, queuePosition: 40, estimate: estimate(1000) }))!;
    // (the median of a wait of forty skewed runs, a little under their mean sum)
    near(behind.at, now + 41_000, 500, 'the estimate behind a longer backlog');
    assert.ok(behind.p10 < behind.at && behind.at < behind.p90);
  });

  it("a rate limit's hold is a time it knows: nothing of the range comes before the hold ends", () => {
    const heldUntil = now + 17_000;
    const input = pending({ estimate: history, rateLimit: { rate: null, bucket: { tokens: 0, updatedAt: now, heldUntil } } });
    const range = estimateCompletionRange(input)!;
    const own = durationQuantiles(history, null);
    assert.ok(range.p10 >= heldUntil + own.p10, `p10 ${range.p10 - now} ms from now, the hold ends at ${heldUntil - now}`);
    near(range.p10, heldUntil + own.p10, 1, 'p10: the run’s own, from the hold’s end');
    near(range.at, heldUntil + own.p50, 1, 'the estimate');
  });

  it('behind a hold, the queue drains from the hold’s end: each position a turn later, not all at the hold’s end', () => {
    // Two slots, a second a run, an 8 s hold; positions 0 to 6 (the repro of a walk: all read the same ETA).
    const heldUntil = now + 8_000;
    const at = (queuePosition: number) =>
      estimateCompletionRange(
        pending({ queuePosition, concurrency: 2, estimate: estimate(1000), rateLimit: { rate: null, bucket: { tokens: 0, updatedAt: now, heldUntil } } }),
      )!.at;
    const times = [0, 1, 2, 3, 4, 5, 6].map((p) => at(p));
    for (const [p, t] of times.entries()) assert.ok(t >= heldUntil + 1000 - 1, `position ${p}: ${t - now} ms`);
    near(times[0]!, heldUntil + 1000, 1, 'the first two start when the hold ends');
    near(times[1]!, times[0]!, 1, 'and the second');
    assert.ok(times[2]! > times[0]! + 500 && times[4]! > times[2]! + 500 && times[6]! > times[4]! + 500, `a turn apart: ${times.map((t) => t - now)}`);
  });

  it('a hold on its type lets the other types ahead of it drain meanwhile: it starts when the hold ends', () => {
    // One global slot shared by a and b; eight b runs of a second ahead of it; a held for 8 s.
    const tight = estimate(1000);
    const input = pending({
      type: 'a',
      estimate: tight,
      capacity: ONE_SHARED_SLOT,
      aheadOfOtherTypes: { b: 8 },
      estimates: new Map([['b', tight]]),
      rateLimit: { rate: null, bucket: { tokens: 0, updatedAt: now, heldUntil: now + 8_000 } },
    });
    near(estimateCompletion(input)! - now, 9_000, 600, 'the b ahead run during the hold; it starts as it ends');
  });

  it('a rate-limited queue that waits for slots keeps no tokens past its bucket: from its first slot, limit at once, then one a token', () => {
    // Five a 2 s (a token every 400 ms), a full bucket; two slots held 5 s more (a sixth done in 1 s), 30 ms runs: the
    // slots would take the queue in a fraction of a second, so from 5 s the tokens decide.
    const rateLimit = { rate: { limit: 5, intervalS: 2 }, bucket: null };
    const queued = (queuePosition: number, ms: number) => {
      const holding = { type: 'rl', startedAt: now - 1_000, progress: 1 / 6, progressAt: now };
      return pending({ type: 'rl', queuePosition, concurrency: 2, estimate: estimate(ms), running: [holding, holding], rateLimit });
    };
    const fromNow = (queuePosition: number, ms: number) => estimateCompletion(queued(queuePosition, ms))! - now;
    const range = estimateCompletionRange(queued(14, 30))!;
    assert.ok(range.p10 - now < 9_030 && 9_030 < range.p90 - now, `${range.p10 - now}..${range.p90 - now} ms holds 9,030`);
    // (a wait of skewed runs is read at its median, a little under the mean the queue plays)
    near(fromNow(14, 30), 5_000 + 10 * 400 + 30, 500, 'position 14: the slots free at 5 s, then ten tokens');
    near(fromNow(4, 30), 5_000 + 2 * 30 + 30, 500, 'the first five start as the slots take them, on the tokens kept');
    near(fromNow(19, 30) - fromNow(14, 30), 5 * 400, 50, 'one a token apart from there');
    // One due later than the queue ahead of it takes to drain starts at its run_at: the bucket is full again by then.
    const later = pending({
      type: 'rl',
      queuePosition: 19,
      concurrency: 4,
      estimate: estimate(50),
      runAt: now + 15_000,
      rateLimit: { rate: { limit: 1, intervalS: 0.5 }, bucket: null },
    });
    near(estimateCompletion(later)! - now, 15_050, 100, 'a later run_at: from it');
    // Others' work ahead is spread among its type's, as the queue is played: ten 1 s runs of b among ten of a (a token
    // a second, 10 ms runs) on two slots let a start on its tokens, about a second apart, not after half of b's.
    const a = estimate(10);
    const b = estimate(1000);
    const interleaved = pending({
      type: 'a',
      queuePosition: 10,
      estimate: a,
      capacity: {
        global: 2,
        perType: new Map([
          ['a', 2],
          ['b', 2],
        ]),
      },
      aheadOfOtherTypes: { b: 10 },
      estimates: new Map([['b', b]]),
      rateLimit: { rate: { limit: 1, intervalS: 1 }, bucket: null },
    });
    near(estimateCompletion(interleaved)! - now, 10_010, 600, 'on its tokens, among the others');
    // Where the slots are slower than the tokens, the slots decide, as before: 14 ahead of 6 s runs on two slots.
    near(fromNow(14, 6_000), 5_000 + 7 * 6_000 + 6_000, 6_000, 'the slots decide');
  });

  it('is null, time and range alike, when it would end past year 9999 (no RFC 3339 date-time says when)', () => {
    const lastWritable = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
    assert.equal(estimateCompletionRange(pending({ runAt: lastWritable - 500, estimate: history })), null);
    assert.equal(estimateCompletion(pending({ runAt: lastWritable - 500, estimate: history })), null);
    assert.equal(estimateCompletionRange(processing({ now: lastWritable - 10, startedAt: lastWritable - 10, estimate: history })), null);
    assert.notEqual(estimateCompletionRange(pending({ runAt: lastWritable - 365 * 86_400_000, estimate: history })), null);
  });

  it('covers about 80 % of real finishes: pending, and running without progress', () => {
    const within = (lo: number, hi: number, actual: number) => (lo <= actual && actual <= hi ? 1 : 0);
    let pendingHits = 0;
    let runningHits = 0;
    let running = 0;
    const trials = 2000;
    const queued = estimateCompletionRange(pending({ estimate: history }))!;
    for (let i = 0; i < trials; i++) {
      pendingHits += within(queued.p10, queued.p90, now + draw());
      // A run that has lasted 800 ms so far: scored only if it did (as a poller would see it).
      const d = draw();
      if (d < 800) continue;
      running += 1;
      const r = estimateCompletionRange(processing({ startedAt: now - 800, estimate: history }))!;
      runningHits += within(r.p10, r.p90, now - 800 + d);
    }
    near(pendingHits / trials, 0.8, 0.06, 'pending coverage');
    near(runningHits / running, 0.8, 0.06, 'running coverage');
  });

  it('narrows as the work is known: a declared cost, more progress', () => {
    const width = (r: { p10: number; p90: number }) => r.p90 - r.p10;
    const early = estimateCompletionRange(processing({ startedAt: now - 500, progress: 0.25, progressAt: now, estimate: history }))!;
    const late = estimateCompletionRange(processing({ startedAt: now - 1500, progress: 0.75, progressAt: now, estimate: history }))!;
    assert.ok(width(late) < width(early));
    const q = durationQuantiles(history, null);
    assert.ok(q.p10 < q.p50 && q.p50 < q.p90);
    const left = remainingQuantiles(history, null, 3000);
    assert.ok(left.p10 > 0, 'what is left of a long run is more than nothing');
  });
});
