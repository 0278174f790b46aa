// Owns: the three ETA workloads, drawn from a seeded source so a run repeats: the built-in report over random ranges
// (durations follow the range), lognormal durations without a declared cost, and bursts deeper than a global concurrency
// two types share. Not here: running and scoring them (eta-scenario.ts), the task types (tasks.ts).
// Invariant: the server learns a duration only as a deployment would (history, a declared cost, progress), never from here.

import { seededRandom } from '../test/support/seeded-random.ts';

export interface EtaSubmission {
  /** When to submit, ms after the load starts. */
  readonly at: number;
  readonly type: string;
  readonly input: unknown;
}

export interface EtaWorkload {
  /** The server's global --concurrency. */
  readonly concurrency: number;
  /** Load the built-in report task. */
  readonly builtinTasks: boolean;
  /** Submitted at once and run to the end before the load, unscored: the history an estimate starts from. */
  readonly warmup: readonly EtaSubmission[];
  readonly load: readonly EtaSubmission[];
}

export type EtaWorkloadName = 'report' | 'lognormal' | 'backlog';

const DAY_MS = 24 * 3600 * 1000;
const REPORT_TYPES = ['sales_summary', 'sales_by_region', 'top_products'] as const;
const FIRST_DAY = Date.UTC(2025, 0, 1) / DAY_MS;

/**
 * Reports come in batches of 1 to 4 (someone asks for a few ranges at once), one batch every 10 to 14 s. A report takes
 * about 15 ms a day of its range on one of this VM's cores (2.7 s for the mean of 183 days) and the two that run at once
 * share the server's event loop, so the server is a little over half busy; the third and fourth of a batch wait.
 */
const REPORT_BATCHES = { everyMs: 10_000, jitterMs: 4_000, largest: 4 } as const;
/** Lognormal: median 500 ms, σ 0.5 (mean about 570 ms); 2 slots at 2.5 a second are about 70 % busy. */
const LOGNORMAL = { medianMs: 500, sigma: 0.5, rate: 2.5 } as const;
/** Bursts of this many operations, this often, on a global concurrency of 3 shared by two types limited to 2 each. */
const BURST = { size: 30, everyMs: 8_000, concurrency: 3 } as const;
/** eta_batch: 2..20 units of about 40 ms each (σ 0.15 per operation); eta_fetch: lognormal, median 400 ms, σ 0.3. */
const BATCH = { minUnits: 2, maxUnits: 20, msPerUnit: 40, sigma: 0.15 } as const;
const FETCH = { medianMs: 400, sigma: 0.3 } as const;

export const ETA_WORKLOADS: Record<EtaWorkloadName, (seconds: number) => EtaWorkload> = {
  report(seconds) {
    const random = seededRandom(12);
    const report = (at: number): EtaSubmission => {
      const days = 1 + Math.floor(random() * 366);
      const first = FIRST_DAY + Math.floor(random() * 365);
      const type = REPORT_TYPES[Math.floor(random() * REPORT_TYPES.length)]!;
      return { at, type: 'report', input: { type, date_range: `${isoDay(first)}..${isoDay(first + days - 1)}` } };
    };
    return {
      concurrency: 10,
      builtinTasks: true,
      warmup: Array.from({ length: 4 }, () => report(0)),
      // Longer than the other loads: at seconds each, reports are few.
      load: batches(2.5 * seconds * 1000, REPORT_BATCHES.everyMs, REPORT_BATCHES.jitterMs, random).flatMap((at) =>
        Array.from({ length: 1 + Math.floor(random() * REPORT_BATCHES.largest) }, () => report(at)),
      ),
    };
  },
  lognormal(seconds) {
    const random = seededRandom(23);
    const op = (at: number): EtaSubmission => ({ at, type: 'eta_lognormal', input: { ms: lognormal(random, LOGNORMAL.medianMs, LOGNORMAL.sigma) } });
    return {
      concurrency: 10,
      builtinTasks: false,
      warmup: Array.from({ length: 10 }, () => op(0)),
      load: poisson(random, LOGNORMAL.rate, seconds).map(op),
    };
  },
  backlog(seconds) {
    const random = seededRandom(34);
    const op = (at: number): EtaSubmission => {
      if (random() < 0.5) return { at, type: 'eta_fetch', input: { ms: lognormal(random, FETCH.medianMs, FETCH.sigma) } };
      const units = BATCH.minUnits + Math.floor(random() * (BATCH.maxUnits - BATCH.minUnits + 1));
      return { at, type: 'eta_batch', input: { units, ms: lognormal(random, units * BATCH.msPerUnit, BATCH.sigma) } };
    };
    const load: EtaSubmission[] = [];
    for (let at = 0; at < seconds * 1000; at += BURST.everyMs) for (let i = 0; i < BURST.size; i++) load.push(op(at));
    return {
      concurrency: BURST.concurrency,
      builtinTasks: false,
      warmup: Array.from({ length: 12 }, () => op(0)),
      load,
    };
  },
};

/** Batch times (ms) over `spanMs`: one every `everyMs`, plus up to `jitterMs` at random. */
function batches(spanMs: number, everyMs: number, jitterMs: number, random: () => number): number[] {
  const times: number[] = [];
  for (let at = 0; at < spanMs; at += everyMs + random() * jitterMs) times.push(Math.round(at));
  return times;
}

/** Arrival times (ms) of a Poisson process of `rate` a second over `seconds`. */
function poisson(random: () => number, rate: number, seconds: number): number[] {
  const times: number[] = [];
  for (let t = -Math.log(1 - random()) / rate; t < seconds; t += -Math.log(1 - random()) / rate) times.push(Math.round(t * 1000));
  return times;
}

/** A lognormal draw (Box–Muller for the normal). */
function lognormal(random: () => number, median: number, sigma: number): number {
  const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return Math.round(median * Math.exp(sigma * z));
}

function isoDay(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}
