// Owns: retry delays (exponential growth with full jitter, capped) for operations and webhook deliveries.
// Not here: when a retry happens or what counts as retryable.
// Invariant: a delay is never negative and never above the cap; randomness is injected.

export type Random = () => number;

export interface BackoffPolicy {
  /** Delay before the first retry, before jitter. */
  readonly baseMs: number;
  /** Upper bound for any single delay. */
  readonly maxMs: number;
  readonly factor: number;
}

/**
 * Delay before retry number `retry` (1 = the first retry), "full jitter":
 * uniform in [0, min(max, base * factor^(retry-1))].
 */
export function fullJitterDelay(policy: BackoffPolicy, retry: number, random: Random = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * policy.factor ** Math.max(0, retry - 1));
  return Math.floor(random() * ceiling);
}

/**
 * Delay before retry number `retry` of a failed operation attempt, "equal jitter": uniform in
 * [ceiling/2, ceiling]. Half the delay is fixed so a retry never lands at once on a struggling
 * dependency, half is random so retries of many operations spread out.
 */
export function equalJitterDelay(policy: BackoffPolicy, retry: number, random: Random = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * policy.factor ** Math.max(0, retry - 1));
  return Math.floor(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * A fixed schedule of nominal delays (one per retry), each jittered inside its own step so that
 * the whole schedule spans what its steps say and, for a non-decreasing schedule, successive gaps
 * never decrease (retry i lands in [step[i-1], step[i]], retry i+1 in [step[i], step[i+1]]):
 * delay = step[i-1] + random * (step[i] - step[i-1]).
 */
export function scheduleDelay(scheduleMs: readonly number[], retry: number, random: Random = Math.random): number | null {
  if (retry < 1 || retry > scheduleMs.length) return null;
  const upper = scheduleMs[retry - 1] ?? 0;
  const lower = retry >= 2 ? (scheduleMs[retry - 2] ?? 0) : 0;
  return Math.floor(Math.min(lower, upper) + random() * Math.abs(upper - lower));
}

/**
 * A receiver's Retry-After honoured within a schedule's bounds: never sooner than the delay the schedule
 * chose, never later than its longest step (a receiver cannot park a delivery for longer than that).
 */
export function retryAfterWithinSchedule(scheduledMs: number, retryAfterMs: number | null, scheduleMs: readonly number[]): number {
  // A delay of more digits than a double holds reads as Infinity: the longest step, as any delay past it is.
  if (retryAfterMs === null || Number.isNaN(retryAfterMs)) return scheduledMs;
  const longest = Math.max(scheduledMs, ...scheduleMs);
  return Math.min(Math.max(scheduledMs, Math.ceil(retryAfterMs)), longest);
}
