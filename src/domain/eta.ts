// Owns: estimated completion times: per-type duration statistics and the ETA of one operation.
// Not here: collecting samples (store/) or rendering them (http/).
// Invariant: with no basis for an estimate the answer is null, never a made-up number.

/** How many recent successful-attempt durations per type feed the estimate. */
export const DURATION_SAMPLE_LIMIT = 50;

export interface DurationEstimate {
  /** Typical duration of one successful attempt, ms (the median of recent samples, or the declared prior). */
  readonly typicalMs: number;
  readonly samples: number;
}

/**
 * A robust typical duration: the median of recent samples, so one outlier cannot drag it.
 * With fewer than three samples the declared prior (if any) is blended in as one extra sample.
 */
export function estimateDuration(samplesMs: readonly number[], priorMs: number | null): DurationEstimate | null {
  const values = samplesMs.filter((v) => Number.isFinite(v) && v >= 0);
  if (values.length === 0) return priorMs === null ? null : { typicalMs: priorMs, samples: 0 };
  const pool = values.length < 3 && priorMs !== null ? [...values, priorMs] : values;
  return { typicalMs: median(pool), samples: values.length };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  if (sorted.length === 0) return NaN;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface EtaInput {
  readonly now: number;
  readonly status: 'pending' | 'processing';
  readonly runAt: number;
  readonly startedAt: number | null;
  readonly progress: number | null;
  /** Runnable pending operations of this type ahead of this one (0 = next). Pending only. */
  readonly queuePosition: number | null;
  /** How many operations of this type run at once. */
  readonly concurrency: number;
  readonly estimate: DurationEstimate | null;
}

/** Below this much progress, extrapolating from it is noise; fall back to the typical duration. */
const MIN_PROGRESS_FOR_EXTRAPOLATION = 0.05;

/** Estimated completion time (ms epoch), or null without a basis. */
export function estimateCompletion(input: EtaInput): number | null {
  const { now, estimate } = input;
  if (input.status === 'processing') {
    const started = input.startedAt ?? now;
    const elapsed = Math.max(0, now - started);
    if (input.progress !== null && input.progress >= MIN_PROGRESS_FOR_EXTRAPOLATION && elapsed > 0) {
      const total = elapsed / Math.min(1, input.progress);
      return started + total;
    }
    if (estimate === null) return null;
    // Past the typical end and no progress to go on: the best honest guess is "about now".
    return Math.max(now, started + estimate.typicalMs);
  }
  if (estimate === null || input.queuePosition === null) return null;
  const concurrency = Math.max(1, input.concurrency);
  // Ops ahead drain in waves of `concurrency`; this one starts after its wave's predecessors.
  const waitWaves = Math.floor(input.queuePosition / concurrency);
  const startAt = Math.max(now, input.runAt) + waitWaves * estimate.typicalMs;
  return startAt + estimate.typicalMs;
}
