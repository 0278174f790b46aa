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

export interface RunningAttempt {
  readonly startedAt: number;
  readonly progress: number | null;
  readonly progressAt?: number | undefined;
}

export interface EtaInput {
  readonly now: number;
  readonly status: 'pending' | 'processing';
  readonly runAt: number;
  readonly startedAt: number | null;
  readonly progress: number | null;
  /** When `progress` was stored (the operation's updated_at while processing); default now. */
  readonly progressAt?: number | undefined;
  /** Runnable pending operations of this type ahead of this one (0 = next). Pending only. */
  readonly queuePosition: number | null;
  /** How many operations of this type run at once. */
  readonly concurrency: number;
  /** Attempts of this type running now (pending only): when their slots free up. */
  readonly running?: readonly RunningAttempt[] | undefined;
  readonly estimate: DurationEstimate | null;
}

/** Below this much progress, extrapolating from it is noise; fall back to the typical duration. */
const MIN_PROGRESS_FOR_EXTRAPOLATION = 0.05;

/**
 * When a running attempt should end. With progress: extrapolated from when that progress was reported
 * (not from now — progress writes are coalesced, so the stored value lags), blended with the typical
 * duration in proportion to how far along it is. Without progress: start + typical duration.
 */
export function expectedEnd(
  now: number,
  startedAt: number,
  progress: number | null,
  estimate: DurationEstimate | null,
  progressAt: number = now,
): number | null {
  const typicalEnd = estimate === null ? null : startedAt + estimate.typicalMs;
  const reportedAfter = Math.max(0, progressAt - startedAt);
  if (progress !== null && progress >= MIN_PROGRESS_FOR_EXTRAPOLATION && reportedAfter > 0) {
    const fraction = Math.min(1, progress);
    const extrapolated = startedAt + reportedAfter / fraction;
    const blended = typicalEnd === null ? extrapolated : fraction * extrapolated + (1 - fraction) * typicalEnd;
    return Math.max(now, blended);
  }
  // Past the typical end and no progress to go on: the best honest guess is "about now".
  return typicalEnd === null ? null : Math.max(now, typicalEnd);
}

/** Estimated completion time (ms epoch), or null without a basis. */
export function estimateCompletion(input: EtaInput): number | null {
  const { now, estimate } = input;
  if (input.status === 'processing') return expectedEnd(now, input.startedAt ?? now, input.progress, estimate, input.progressAt ?? now);
  if (estimate === null || input.queuePosition === null) return null;
  const typical = estimate.typicalMs;
  const slots = Math.max(1, Math.floor(input.concurrency));
  const ready = Math.max(now, input.runAt);
  // Each slot is free at the end of what runs in it now (or at once); the ops ahead take the earliest
  // free slot one by one, and this one takes the slot after them.
  const freeAt = Array.from({ length: slots }, (_, i) => {
    const run = input.running?.[i];
    return run === undefined ? ready : Math.max(ready, expectedEnd(now, run.startedAt, run.progress, estimate, run.progressAt ?? now) ?? ready);
  }).sort((a, b) => a - b);
  // With every later operation taking the typical duration, and the slots' first free times within
  // one typical duration of each other, the slots come free in the same order each round: the
  // operation k places ahead starts on slot k mod n, k div n rounds later. O(n log n), not O(k).
  const ahead = input.queuePosition;
  return freeAt[ahead % slots]! + Math.floor(ahead / slots) * typical + typical;
}
