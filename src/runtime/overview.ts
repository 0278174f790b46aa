// Owns: the operator's overview (GET /stats/overview): per task type, what is pending, running and failed now, what
// finished in a window (throughput, failure rate, a per-minute series), how long operations waited to start, and how far
// their estimated completion times were off.
// Not here: the reads (store: operationCounts, operationStats; GET /operations/counts reads the counts straight from the
// store), how far one ETA was off (domain/eta.ts), HTTP.
// Invariant: bounded cost whatever is stored: counts come from counters, the rest from index walks over the window
// (at most a day), with at most SAMPLES starts and ends read for the percentiles.

import type { Clock } from '../domain/clock.ts';
import { quantileOfSorted } from '../domain/duration-model.ts';
import { etaError } from '../domain/eta.ts';
import { iso } from '../domain/resource.ts';
import type { Store } from '../store/store.ts';

/** The window an overview may cover: a minute to a day. */
export const OVERVIEW_WINDOW_S = { min: 60, max: 24 * 3600, default: 3600 } as const;
/** Series buckets: one a minute. */
const BUCKET_MS = 60_000;
/** The latest starts (and ends) read for the percentiles: enough for a stable p95, a bounded read at any throughput. */
const SAMPLES = 10_000;

export interface TypeOverview {
  readonly type: string;
  readonly pending: number;
  readonly processing: number;
  readonly failed: number;
  readonly completed_in_window: number;
  readonly failed_in_window: number;
  /** Completed per minute over what the series spans (from its first minute to now). */
  readonly throughput_per_min: number;
  /** Failed of those that finished (completed or failed) in the window; 0 when none did. */
  readonly failure_rate: number;
  /** From when a first attempt was due (its creation, unless scheduled later) to its start, of those started in the window. */
  readonly pickup_ms: { readonly p50: number; readonly p95: number } | null;
  /** |estimated completion at creation − finish| / (finish − creation), of those completed in the window. */
  readonly eta_error: { readonly median: number; readonly p90: number; readonly samples: number } | null;
  readonly series: ReadonlyArray<{ readonly at: string; readonly completed: number; readonly failed: number }>;
}

export interface Overview {
  readonly window_s: number;
  readonly generated_at: string;
  readonly types: readonly TypeOverview[];
}

export class OperatorStats {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #types: () => readonly string[];

  /** `types`: the registered task types, shown even before they have operations. */
  constructor(store: Store, clock: Clock, types: () => readonly string[]) {
    this.#store = store;
    this.#clock = clock;
    this.#types = types;
  }

  async overview(tenant: string | null, windowS: number): Promise<Overview> {
    const now = this.#clock.now();
    // Buckets on whole minutes, the last one the current minute, so a chart's points stay put between polls.
    const end = Math.floor(now / BUCKET_MS) * BUCKET_MS + BUCKET_MS;
    const buckets = Math.ceil((windowS * 1000) / BUCKET_MS);
    const since = end - buckets * BUCKET_MS;
    const [counts, stats] = await Promise.all([
      this.#store.operationCounts({ tenant }),
      this.#store.operationStats({ tenant, since, bucketMs: BUCKET_MS, samples: SAMPLES }),
    ]);
    const types = new Set([...this.#types(), ...counts.map((c) => c.type), ...stats.finished.map((f) => f.type)]);
    // What the series spans up to now: the whole minutes before this one, and this one so far.
    const minutes = (now - since) / BUCKET_MS;
    // Each type's rows, grouped once rather than filtered out of every row per type.
    const finishedOf = byType(stats.finished);
    const pickupsOf = byType(stats.pickups);
    const etasOf = byType(stats.etas);
    return {
      window_s: windowS,
      generated_at: iso(now),
      types: [...types].sort().map((type) => {
        const count = (status: string) => counts.find((c) => c.type === type && c.status === status)?.count ?? 0;
        const series = Array.from({ length: buckets }, (_, i) => ({ at: iso(since + i * BUCKET_MS), completed: 0, failed: 0 }));
        for (const f of finishedOf.get(type) ?? []) {
          const point = series[f.bucket];
          if (point !== undefined) point[f.status] += f.count;
        }
        const completed = series.reduce((sum, p) => sum + p.completed, 0);
        const failed = series.reduce((sum, p) => sum + p.failed, 0);
        const pickups = sorted((pickupsOf.get(type) ?? []).map((p) => p.waitMs));
        const errors = sorted((etasOf.get(type) ?? []).map(etaError));
        return {
          type,
          pending: count('pending'),
          processing: count('processing'),
          failed: count('failed'),
          completed_in_window: completed,
          failed_in_window: failed,
          throughput_per_min: round(completed / minutes),
          failure_rate: completed + failed === 0 ? 0 : round(failed / (completed + failed)),
          pickup_ms: pickups.length === 0 ? null : { p50: Math.round(quantileOfSorted(pickups, 0.5)), p95: Math.round(quantileOfSorted(pickups, 0.95)) },
          eta_error:
            errors.length === 0 ? null : { median: round(quantileOfSorted(errors, 0.5)), p90: round(quantileOfSorted(errors, 0.9)), samples: errors.length },
          series,
        };
      }),
    };
  }
}

/** The rows of each type, in their order. */
function byType<T extends { readonly type: string }>(rows: readonly T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const row of rows) {
    const group = groups.get(row.type);
    if (group === undefined) groups.set(row.type, [row]);
    else group.push(row);
  }
  return groups;
}

const sorted = (values: number[]): number[] => values.sort((a, b) => a - b);
const round = (value: number): number => Math.round(value * 10_000) / 10_000;
