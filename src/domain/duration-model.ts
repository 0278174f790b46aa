// Owns: what a task type's recent successful attempts say about the next one's duration: a robust time per unit of
// declared cost (Theil–Sen), the spread around that prediction (log residuals), and the distribution of what is left of
// an attempt that has already run a while. Not here: estimating one operation's completion (eta.ts), reading samples (store/).
// Invariant: no sample, no prior: no estimate (null); every duration this returns is finite and ≥ 0.

/** How many recent successful-attempt durations per type feed the estimate. */
export const DURATION_SAMPLE_LIMIT = 100;

/** One successful attempt: how long it ran, and the cost its operation declared (null: none). */
export interface DurationSample {
  readonly durationMs: number;
  readonly cost: number | null;
}

export interface DurationEstimate {
  /** Typical duration of one successful attempt, ms (the median of recent samples, or the declared prior). */
  readonly typicalMs: number;
  readonly samples: number;
  /** Duration = fixedMs + perUnitMs × cost, fitted when the type declares a cost and enough samples carry one. */
  readonly perUnit?: { readonly fixedMs: number; readonly perUnitMs: number } | undefined;
  /** ln(duration / predicted duration) of recent samples, sorted: the spread around a prediction. */
  readonly logResiduals?: readonly number[] | undefined;
  /** ln of how far the newest runs moved from what the whole window predicts (a new level): every prediction moves by it. */
  readonly level?: number | undefined;
}

/** Quantiles of a duration, ms. */
export interface DurationQuantiles {
  readonly p10: number;
  readonly p50: number;
  readonly p90: number;
}

/** z of the 90th percentile of a standard normal: p10..p90 is ±Z90 standard deviations. */
export const Z90 = 1.2815515655446004;
/** The spread (σ of ln duration) assumed until enough samples show the real one. */
export const DEFAULT_LOG_SPREAD = 0.4;
/** Fewer residuals than this and the spread is the default: a p10 or p90 of three samples says little. */
const MIN_SPREAD_SAMPLES = 6;
/** Past every run observed, the tail is extrapolated with at least this spread, so "overdue" never means "done now". */
const MIN_TAIL_SPREAD = 0.3;
/**
 * Past every run seen (and past its median by far), what is left is at least this share of how long it is overdue:
 * the lognormal tail alone shrinks to nothing there, which read as "now" for as long as the attempt ran on.
 */
export const OVERDUE_SHARE = 0.5;
/** Conditional quantiles are read from the samples themselves while at least this many ran longer than the attempt. */
const MIN_SURVIVORS = 5;
/**
 * The newest runs that say the durations moved to a new level: at least this many, every one beyond the older runs'
 * p10..p90 on the same side. By chance about once in 1,300 estimates where runs are independent, more often where each
 * run's duration follows the one before (load), where following the newest runs is what predicts the next best.
 */
const SHIFT_MIN_RUNS = 4;
/** A move of more than this factor takes SHIFT_MIN_RUNS more runs for each such factor: a few quick successes of a long type are not its new level. */
const SHIFT_FACTOR_PER_STEP = 4;

/**
 * A robust estimate from recent samples (newest first; plain numbers are samples without a cost). With fewer than
 * three, the declared prior (if any) joins them as one more sample. Costs are fitted only when the type declares one.
 * When the newest runs all land beyond what the older ones spread over (the work, or the machines, got slower or faster),
 * every prediction moves to their level and takes their spread (`level`), the fit of the whole window (a time per unit
 * of cost learnt from every size) kept: a median over the window would stay on the old level until half of it had
 * changed.
 */
export function estimateDuration(samples: readonly (number | DurationSample)[], priorMs: number | null, costDeclared = false): DurationEstimate | null {
  const all = samples.map((s) => (typeof s === 'number' ? { durationMs: s, cost: null } : s)).filter((s) => Number.isFinite(s.durationMs) && s.durationMs >= 0);
  if (all.length === 0) return priorMs === null ? null : { typicalMs: priorMs, samples: 0 };
  const durations = all.map((s) => s.durationMs);
  const pool = durations.length < 3 && priorMs !== null ? [...durations, priorMs] : durations;
  const typicalMs = median(pool);
  const costed = costDeclared ? all.filter((s): s is { durationMs: number; cost: number } => s.cost !== null && Number.isFinite(s.cost) && s.cost > 0) : [];
  const perUnit = costed.length >= 2 ? fitPerUnit(costed) : undefined;
  const predict = (s: { durationMs: number; cost: number | null }) =>
    perUnit !== undefined && s.cost !== null && s.cost > 0 ? linear(perUnit, s.cost) : typicalMs;
  const fitted = perUnit === undefined ? all : costed;
  const newestFirst = fitted.map((s) => Math.log(Math.max(1, s.durationMs) / Math.max(1, predict(s))));
  const shifted = shiftedRuns(newestFirst);
  const kept = (shifted > 0 ? newestFirst.slice(0, shifted) : newestFirst).filter(Number.isFinite).sort((a, b) => a - b);
  const logResiduals = kept.length >= MIN_SPREAD_SAMPLES ? kept : undefined;
  return { typicalMs, samples: all.length, perUnit, logResiduals, ...(shifted > 0 ? { level: quantileOfSorted(kept, 0.5) } : {}) };
}

/**
 * How many of the newest runs (residuals newest first) lie, every one, beyond the p10..p90 of the runs before them on
 * the same side, as many as there are (0: none, or fewer than SHIFT_MIN_RUNS); the runs before them must be enough to
 * have a spread (MIN_SPREAD_SAMPLES).
 */
function shiftedRuns(newestFirst: readonly number[]): number {
  for (let k = newestFirst.length - MIN_SPREAD_SAMPLES; k >= SHIFT_MIN_RUNS; k--) {
    const older = newestFirst.slice(k).sort((a, b) => a - b);
    const low = quantileOfSorted(older, 0.1);
    const high = quantileOfSorted(older, 0.9);
    const newest = newestFirst.slice(0, k);
    if (!(newest.every((r) => r > high) || newest.every((r) => r < low))) continue;
    const steps = Math.ceil(Math.abs(median(newest) - quantileOfSorted(older, 0.5)) / Math.log(SHIFT_FACTOR_PER_STEP));
    if (k >= SHIFT_MIN_RUNS * Math.max(1, steps)) return k;
  }
  return 0;
}

/**
 * Duration = fixed + perUnit × cost by Theil–Sen: the slope is the median of the slopes between every pair of samples,
 * so a few outliers (a slow machine, a retry after a cold start) cannot drag it; the fixed part is the median of what the
 * slope leaves. When costs hardly differ, or the fit says that more work takes less time, the time per unit alone
 * (median of duration / cost) is the more honest model.
 */
function fitPerUnit(samples: ReadonlyArray<{ durationMs: number; cost: number }>): { fixedMs: number; perUnitMs: number } {
  const ratio = { fixedMs: 0, perUnitMs: median(samples.map((s) => s.durationMs / s.cost)) };
  const costs = samples.map((s) => s.cost);
  if (samples.length < 3 || Math.max(...costs) < 1.5 * Math.min(...costs)) return ratio;
  const slopes: number[] = [];
  for (let i = 0; i < samples.length; i++) {
    for (let j = i + 1; j < samples.length; j++) {
      const a = samples[i]!;
      const b = samples[j]!;
      if (a.cost !== b.cost) slopes.push((b.durationMs - a.durationMs) / (b.cost - a.cost));
    }
  }
  const perUnitMs = median(slopes);
  if (!(perUnitMs > 0)) return ratio;
  const fixedMs = median(samples.map((s) => s.durationMs - perUnitMs * s.cost));
  return fixedMs >= 0 ? { fixedMs, perUnitMs } : ratio;
}

function linear(model: { fixedMs: number; perUnitMs: number }, cost: number): number {
  return model.fixedMs + model.perUnitMs * cost;
}

/** The median duration predicted for an operation of this cost (null: unknown, or the type declares none). */
export function predictedMs(estimate: DurationEstimate, cost: number | null | undefined): number {
  const base =
    estimate.perUnit !== undefined && cost !== null && cost !== undefined && Number.isFinite(cost) && cost > 0
      ? linear(estimate.perUnit, cost)
      : estimate.typicalMs;
  return Math.max(0, base) * Math.exp(centre(estimate));
}

/** The level the newest runs moved to, or else the median of the log residuals (about 0 by construction; not exactly, with a fitted intercept). */
function centre(estimate: DurationEstimate): number {
  if (estimate.level !== undefined) return estimate.level;
  const r = estimate.logResiduals;
  return r === undefined ? 0 : quantileOfSorted(r, 0.5);
}

/** σ of ln duration: from the residuals' 16th to 84th percentiles (robust to outliers), or the default. */
export function logSpread(estimate: DurationEstimate): number {
  const r = estimate.logResiduals;
  if (r === undefined) return DEFAULT_LOG_SPREAD;
  return Math.max(0.02, (quantileOfSorted(r, 0.8413) - quantileOfSorted(r, 0.1587)) / 2);
}

/** p10, p50 and p90 of the duration of an operation of this cost. */
export function durationQuantiles(estimate: DurationEstimate, cost: number | null | undefined): DurationQuantiles {
  const median = predictedMs(estimate, cost);
  const r = estimate.logResiduals;
  if (r === undefined) {
    const s = DEFAULT_LOG_SPREAD;
    return { p10: median * Math.exp(-Z90 * s), p50: median, p90: median * Math.exp(Z90 * s) };
  }
  const c = centre(estimate);
  const widen = smallSampleWidening(r.length);
  return {
    p10: median * Math.exp((quantileOfSorted(r, 0.1) - c) * widen),
    p50: median,
    p90: median * Math.exp((quantileOfSorted(r, 0.9) - c) * widen),
  };
}

/**
 * How much wider a range for the next run must be than the same quantiles of n past runs: as for a normal's prediction
 * interval, Student's t over z (Cornish–Fisher's first term) times √(1 + 1/n). About 1.13 at 10 runs, 1.02 at 100.
 */
function smallSampleWidening(n: number): number {
  const dof = Math.max(1, n - 1);
  return (1 + (Z90 * Z90 + 1) / (4 * dof)) * Math.sqrt(1 + 1 / n);
}

/**
 * Mean and variance of the duration (what an operation adds to a queue's wait: waits add up, so means, not medians).
 * From the lognormal of the robust spread, so one outlier does not inflate them; while the spread is only assumed, the
 * mean is taken as the median (an assumed skew would bias every wait).
 */
export function durationMoments(estimate: DurationEstimate, cost: number | null | undefined): { readonly mean: number; readonly variance: number } {
  const median = predictedMs(estimate, cost);
  const s2 = logSpread(estimate) ** 2;
  const mean = estimate.logResiduals === undefined ? median : median * Math.exp(s2 / 2);
  return { mean, variance: mean * mean * (Math.exp(s2) - 1) };
}

/**
 * What is left of an attempt that has run `elapsedMs`: quantiles of (duration − elapsed) among runs that lasted at least
 * that long. Read from the samples while enough of them ran longer; past them, from a lognormal tail with at least
 * MIN_TAIL_SPREAD, so an attempt past every run seen is still expected to take a while, never to end "now".
 */
export function remainingQuantiles(estimate: DurationEstimate, cost: number | null | undefined, elapsedMs: number): DurationQuantiles {
  const median = predictedMs(estimate, cost);
  const elapsed = Math.max(0, elapsedMs);
  if (elapsed <= 0 || median <= 0) {
    const q = durationQuantiles(estimate, cost);
    return elapsed <= 0 ? q : { p10: 0, p50: 0, p90: 0 };
  }
  const c = centre(estimate);
  const threshold = Math.log(elapsed / median) + c;
  const r = estimate.logResiduals;
  const first = r === undefined ? -1 : firstAbove(r, threshold);
  const at = (x: number) => Math.max(0, median * Math.exp(x - c) - elapsed);
  if (r !== undefined && r.length - first >= MIN_SURVIVORS) {
    const survivors = r.slice(first);
    return { p10: at(quantileOfSorted(survivors, 0.1)), p50: at(quantileOfSorted(survivors, 0.5)), p90: at(quantileOfSorted(survivors, 0.9)) };
  }
  // A lognormal conditioned on lasting past the threshold: quantile q of it is F⁻¹(F(t) + q (1 − F(t))).
  const sigma = Math.max(logSpread(estimate), elapsed > median ? MIN_TAIL_SPREAD : 0);
  const mu = c;
  const below = normalCdf((threshold - mu) / sigma);
  const conditional = (q: number) => {
    const u = below + q * (1 - below);
    // Far in the tail the conditional quantile is the threshold itself plus a sliver; never less.
    return Math.max(threshold, mu + sigma * normalQuantile(Math.min(u, 1 - 1e-12)));
  };
  const tail = { p10: at(conditional(0.1)), p50: at(conditional(0.5)), p90: at(conditional(0.9)) };
  return atLeastOverdue(tail, elapsed - median, sigma);
}

/** `left` held up to OVERDUE_SHARE of `overdueMs` (never under 1 ms), spread by `logSpread` around that floor. */
function atLeastOverdue(left: DurationQuantiles, overdueMs: number, logSpread: number): DurationQuantiles {
  const floor = Math.max(1, OVERDUE_SHARE * Math.max(0, overdueMs));
  return {
    p10: Math.max(left.p10, floor * Math.exp(-Z90 * logSpread)),
    p50: Math.max(left.p50, floor),
    p90: Math.max(left.p90, floor * Math.exp(Z90 * logSpread)),
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  if (sorted.length === 0) return NaN;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The q-quantile of sorted values, interpolated between neighbours. */
export function quantileOfSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = Math.min(1, Math.max(0, q)) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

function firstAbove(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Φ(x), the standard normal CDF (Abramowitz and Stegun 7.1.26 for erf; error below 1e-7). */
export function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-z * z);
  return x >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/** Φ⁻¹(p), the standard normal quantile (Acklam's rational approximation; relative error below 1.2e-9). */
export function normalQuantile(p: number): number {
  if (p <= 0) return -Infinity;
  if (p >= 1) return Infinity;
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  if (p < low || p > 1 - low) {
    const q = Math.sqrt(-2 * Math.log(p < low ? p : 1 - p));
    const x = (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
    return p < low ? x : -x;
  }
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}
