// Owns: the estimated completion of one operation, as a time and a range (p10..p90): a running attempt from its progress
// rate and what is left of runs as long as it (duration-model.ts), a pending one from when its turn comes (eta-queue.ts:
// among its type's and the global slots, and among its concurrency key's) plus its own duration, learnt per unit of its
// declared cost when it has one.
// Not here: collecting samples and standings (store/), the limits of the worker nodes (capacity.ts), rendering (http/).
// Invariant: with no basis for an estimate the answer is null, never a made-up number; no estimate lies in the past.

import type { Capacity } from './capacity.ts';
import type { ProgressPoint } from './operation.ts';
import {
  durationMoments,
  durationQuantiles,
  logSpread,
  OVERDUE_SHARE,
  remainingQuantiles,
  Z90,
  type DurationEstimate,
  type DurationQuantiles,
} from './duration-model.ts';
import { MAX_PLAYED, notBefore, startOf, startOfUniform, type Occupant, type QueueBulk, type QueueItem, type Start } from './eta-queue.ts';
import { rateLimitedStart, tokenIntervalMs, type Bucket, type RateLimit } from './rate-limit.ts';

export { DURATION_SAMPLE_LIMIT, estimateDuration, median, type DurationEstimate, type DurationSample } from './duration-model.ts';

export interface RunningAttempt {
  readonly startedAt: number;
  readonly progress: number | null;
  /** When `progress` was reported (the operation's updated_at while processing: it is stored with that time); default now. */
  readonly progressAt?: number | undefined;
  /** Its task type; default the type of the operation whose standing lists it. */
  readonly type?: string | undefined;
  /** The cost its operation declared (null: none). */
  readonly cost?: number | null | undefined;
  /** An earlier progress point of the attempt, for its recent rate (one from before startedAt is ignored). */
  readonly anchor?: ProgressPoint | null | undefined;
}

export interface EtaInput {
  readonly now: number;
  readonly status: 'pending' | 'processing';
  readonly runAt: number;
  readonly startedAt: number | null;
  readonly progress: number | null;
  /** When `progress` was reported (the operation's updated_at while processing: it is stored with that time); default now. */
  readonly progressAt?: number | undefined;
  /** Processing: an earlier progress point, for the recent rate. */
  readonly progressAnchor?: ProgressPoint | null | undefined;
  /** Runnable pending operations of this type ahead of this one (0 = next). Pending only. */
  readonly queuePosition: number | null;
  /** How many operations of this type run at once, when `capacity` does not say. */
  readonly concurrency: number;
  /** Attempts running now (pending only): of this type, and of the types it shares a global limit with. */
  readonly running?: readonly RunningAttempt[] | undefined;
  readonly estimate: DurationEstimate | null;
  /** Its task type (names it in `capacity`, `running` and `estimates`). */
  readonly type?: string | undefined;
  /** The cost it declared (null: none). */
  readonly cost?: number | null | undefined;
  /** Costs of the operations of its type ahead of it, nearest first, as many as were read (pending only). */
  readonly aheadCosts?: readonly (number | null)[] | undefined;
  /** Runnable pending operations of other types ahead of it in claim order, by type, when they share a global limit. */
  readonly aheadOfOtherTypes?: Readonly<Record<string, number>> | undefined;
  /** The limits its queue drains under (every live worker node); default `concurrency` slots of its own. */
  readonly capacity?: Capacity | undefined;
  /** Duration estimates of the other types (their operations ahead and running). */
  readonly estimates?: ReadonlyMap<string, DurationEstimate | null> | undefined;
  /** Rate limits: its type's execution rate limit and stored bucket (with a hold), when it has either. Pending only. */
  readonly rateLimit?: { readonly rate: RateLimit | null; readonly bucket: Bucket | null } | undefined;
  /** Its concurrency key's own queue, when it has a key (pending only). */
  readonly key?: KeyQueue | undefined;
  /**
   * Processing, its worker gone (no longer announcing itself): the attempt ends when its lease lapses, and then runs
   * again from the head of the queue, or, its last attempt, fails then.
   */
  readonly orphaned?: { readonly leaseExpiresAt: number; readonly lastAttempt: boolean } | undefined;
}

/** A concurrency key's own queue (same tenant, type and key): its slots, who holds them and who waits ahead. */
export interface KeyQueue {
  /** How many operations of the key run at once (its type's keyConcurrency). */
  readonly limit: number;
  /** Runnable pending operations of the key ahead of it in claim order (0 = next). */
  readonly ahead: number;
  /** The key's running attempts (of its type). */
  readonly running: readonly RunningAttempt[];
}

/** When an operation is expected to end (ms since the epoch): the median, and a range that holds it 8 times in 10. */
export interface CompletionEstimate {
  readonly at: number;
  readonly p10: number;
  readonly p90: number;
}

/** Below this much progress, extrapolating from it is noise: what runs as long took decides alone. */
const MIN_PROGRESS_FOR_EXTRAPOLATION = 0.02;
/** From this much progress on, the observed rate decides alone; between the two it takes over linearly. */
const PROGRESS_RATE_TAKES_OVER = 0.1;
/**
 * The stretch the recent rate is read over: the store keeps, beside the latest progress, an earlier point about this far
 * behind it (its anchor), so a rate that changes (a neighbour sharing the CPU ends, the next items are larger) shows in
 * about this long.
 */
export const PROGRESS_ANCHOR_MS = 1000;
/** How much the recent rate counts against the average since the start (in ln remaining), once it spans some progress. */
const RECENT_RATE_WEIGHT = 0.7;
/** Progress the recent rate must span to count: over less, the steps of the progress reports are all it measures. */
const MIN_RECENT_PROGRESS = 0.01;
/**
 * Spread (σ of ln remaining) of a rate extrapolated at full progress; it widens as 1/√progress below that. Rates drift
 * (a neighbour starts and shares the CPU, the next items are larger), so it never narrows to nothing.
 */
const RATE_LOG_SPREAD = 0.2;
/**
 * The queue model's own error, as a share of the wait it predicts (σ): which other types' operations were submitted
 * between the ones ahead is not read but spread evenly, a deep queue drains as a fluid, slots free as estimated.
 */
const QUEUE_MODEL_SPREAD = 0.1;

/** Estimated completion time (ms since the epoch), or null without a basis. */
export function estimateCompletion(input: EtaInput): number | null {
  return estimateCompletionRange(input)?.at ?? null;
}

/** The last instant RFC 3339 can write (9999-12-31T23:59:59.999Z): an estimate past it has no time to give. */
const LATEST_WRITABLE_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** Estimated completion with its p10..p90 range, or null without a basis (or one past what a date-time can say). */
export function estimateCompletionRange(input: EtaInput): CompletionEstimate | null {
  const { now } = input;
  let estimate: CompletionEstimate | null;
  const orphaned = input.status === 'processing' ? input.orphaned : undefined;
  if (orphaned !== undefined) {
    const lapse = Math.max(now, orphaned.leaseExpiresAt);
    estimate = orphaned.lastAttempt
      ? { at: lapse, p10: lapse, p90: lapse }
      : pendingCompletion({ ...input, status: 'pending', runAt: lapse, startedAt: null, progress: null, queuePosition: 0, running: [], key: undefined });
  } else if (input.status === 'processing') {
    const left = remaining(
      now,
      { startedAt: input.startedAt ?? now, progress: input.progress, progressAt: input.progressAt, cost: input.cost, anchor: input.progressAnchor },
      input.estimate,
    );
    estimate = left === null ? null : { at: now + left.p50, p10: now + left.p10, p90: now + left.p90 };
  } else estimate = pendingCompletion(input);
  return estimate !== null && estimate.p90 <= LATEST_WRITABLE_MS ? estimate : null;
}

/**
 * What is left of a running attempt, ms from now. The progress rate (the fraction over the time it took to report it,
 * which is stored with it) takes over from the type's history as progress grows; the history is read for runs that
 * lasted at least as long as this one has (so it never pulls the estimate into the past). Null without either.
 */
function remaining(now: number, attempt: RunningAttempt, estimate: DurationEstimate | null): DurationQuantiles | null {
  const elapsed = Math.max(0, now - attempt.startedAt);
  const history = estimate === null ? null : remainingQuantiles(estimate, attempt.cost ?? null, elapsed);
  const progress = attempt.progress;
  const progressAt = attempt.progressAt ?? now;
  // All its work reported done, the handler has still to return (a last write, an upload): what is left grows with the
  // wait since, as an overdue rate's does, rather than reading "now" for as long as it takes.
  if (progress !== null && progress >= 1) return spreadAround(untilEnd(now, progressAt), RATE_LOG_SPREAD);
  const reportedAfter = progressAt - attempt.startedAt;
  if (progress === null || progress < MIN_PROGRESS_FOR_EXTRAPOLATION || reportedAfter <= 0) return history;
  const byRate = blendRecent(now, attempt, progress, progressAt, untilEnd(now, attempt.startedAt + reportedAfter / progress));
  const rateSpread = RATE_LOG_SPREAD / Math.sqrt(progress);
  const weight = history === null ? 1 : Math.min(1, (progress - MIN_PROGRESS_FOR_EXTRAPOLATION) / (PROGRESS_RATE_TAKES_OVER - MIN_PROGRESS_FOR_EXTRAPOLATION));
  if (history === null || weight >= 1) return spreadAround(byRate, rateSpread);
  const historyMedian = Math.max(1, history.p50);
  const historySpread = history.p10 > 0 ? Math.log(history.p90 / history.p10) / (2 * Z90) : logSpread(estimate!);
  return spreadAround(Math.exp(weight * Math.log(byRate) + (1 - weight) * Math.log(historyMedian)), weight * rateSpread + (1 - weight) * historySpread);
}

/**
 * What is left until a rate's end: at least a share (OVERDUE_SHARE) of how long it is overdue, and never nothing. An
 * attempt whose rate says it should have ended has not stored progress since: it is slower than its rate, and the
 * estimate grows with the silence and never lapses into the past.
 */
function untilEnd(now: number, end: number): number {
  return Math.max(end - now, OVERDUE_SHARE * (now - end), 1);
}

/** The remaining time by the average rate, drawn towards the recent rate (from the anchor to the latest progress). */
function blendRecent(now: number, attempt: RunningAttempt, progress: number, progressAt: number, byAverage: number): number {
  const anchor = attempt.anchor;
  if (anchor === null || anchor === undefined || anchor.at < attempt.startedAt || anchor.at >= progressAt) return byAverage;
  if (progress - anchor.progress < MIN_RECENT_PROGRESS) return byAverage;
  const recentRate = (progress - anchor.progress) / (progressAt - anchor.at);
  const byRecent = untilEnd(now, progressAt + (1 - progress) / recentRate);
  return Math.exp(RECENT_RATE_WEIGHT * Math.log(byRecent) + (1 - RECENT_RATE_WEIGHT) * Math.log(byAverage));
}

function spreadAround(median: number, logSpread: number): DurationQuantiles {
  return { p10: median * Math.exp(-Z90 * logSpread), p50: median, p90: median * Math.exp(Z90 * logSpread) };
}

/**
 * A pending operation: when its turn comes (its queue played forward under the limits of its type and the global one,
 * with the running attempts' ends and the operations ahead, by their costs where known; no sooner than its turn among
 * its concurrency key's slots, nor than its rate limit's token), plus its own duration. The range adds the spread of the
 * two as independent errors add.
 */
function pendingCompletion(input: EtaInput): CompletionEstimate | null {
  const { now, estimate } = input;
  if (estimate === null || input.queuePosition === null) return null;
  const type = input.type ?? '';
  const capacity = input.capacity ?? { global: Infinity, perType: new Map([[type, Math.max(1, Math.floor(input.concurrency))]]) };
  const estimateOf = (t: string): DurationEstimate | null => (t === type ? estimate : (input.estimates?.get(t) ?? null));
  const running = occupants(now, input.running ?? [], type, estimateOf);
  // When it may run (now, or its run_at); `ready` below adds its rate limit's token to it.
  const runnable = Math.max(now, input.runAt);
  let ready = runnable;
  // A hold on its type (a handler's RateLimitedError): its queue does not drain until it ends, then the slots take it
  // in turn from there. As a floor alone, every operation held would get the hold's end, whatever its position.
  const opensAt = Math.max(now, input.rateLimit?.bucket?.heldUntil ?? 0);
  const alike = uniform(input, type, running);
  /** When the slots let the operation `position` places into its type's queue, ready at `from`, start. */
  const slotTurn = (position: number, from: number, othersAhead: EtaInput['aheadOfOtherTypes']): Start | null =>
    alike
      ? startOfUniform({
          now,
          ready: from,
          opensAt,
          slots: Math.min(capacity.perType.get(type) ?? 0, capacity.global),
          running,
          position,
          item: { type, ...durationMoments(estimate, null) },
        })
      : startOf({
          now,
          ready: from,
          opensAt,
          type,
          capacity,
          running,
          ...aheadOf({ ...input, queuePosition: position, aheadOfOtherTypes: othersAhead }, type, estimateOf),
        });
  let start = slotTurn(input.queuePosition, runnable, input.aheadOfOtherTypes);
  if (start === null) return null;
  // Concurrency keys: it starts no sooner than its turn among its key's slots (the key's queue played as the type's is).
  if (input.key !== undefined) {
    const keyStart = keyTurn(now, ready, type, input.key, estimateOf);
    if (keyStart !== null && keyStart.at > start.at) start = keyStart;
  }
  // Rate limits: it starts no sooner than its token comes (after those of the operations of its type ahead) or its type's hold ends.
  if (input.rateLimit !== undefined) {
    // A time it knows, as run_at is: the hold's end and the tokens' pace are no model's guess, so they add no spread,
    // and nothing ends before it.
    ready = Math.max(ready, rateLimitedStart(input.rateLimit.bucket, input.rateLimit.rate, input.queuePosition, now));
    start = notBefore(ready, start);
    // A bucket holds `limit` tokens at most: while its type's queue waits for slots, the tokens that would come meanwhile
    // are not kept. From the first of its type a slot takes, the queue starts `limit` at once, then one per token. That
    // first is due now (those ahead of a later run_at are), with the other types' work ahead of it as aheadOf spreads
    // theirs among its type's: the first of p is at 0.5 / p of the way.
    const rate = input.rateLimit.rate;
    if (rate !== null && input.queuePosition >= rate.limit) {
      const share = 0.5 / input.queuePosition;
      const othersAheadOfFirst = Object.fromEntries(Object.entries(input.aheadOfOtherTypes ?? {}).map(([t, n]) => [t, Math.round(n * share)]));
      const first = slotTurn(0, now, othersAheadOfFirst);
      const paced = first === null ? null : { at: first.at + (input.queuePosition - rate.limit + 1) * tokenIntervalMs(rate), variance: first.variance };
      if (paced !== null && paced.at > start.at) start = paced;
    }
  }
  const own = durationQuantiles(estimate, input.cost ?? null);
  // The queue is played with mean durations, so the start is the mean of the wait; a wait of a few skewed durations is
  // most likely shorter than that (as a lognormal of that mean and variance: its median is below its mean).
  const meanWait = Math.max(0, start.at - now);
  const wait = meanWait === 0 ? 0 : meanWait / Math.sqrt(1 + start.variance / (meanWait * meanWait));
  const at = now + Math.max(0, input.runAt - now, wait) + own.p50;
  // The model's own error grows with the wait it plays out in the queue, not with the wait for run_at, which is known.
  const queueWait = Math.max(0, start.at - ready);
  const startSpread = Z90 * Math.sqrt(start.variance + (QUEUE_MODEL_SPREAD * queueWait) ** 2);
  const below = Math.hypot(own.p50 - own.p10, startSpread);
  const above = Math.hypot(own.p90 - own.p50, startSpread);
  // It starts no sooner than it is ready, so it ends before ready + its own p10 no more often than its run is that short.
  return { at, p10: Math.max(ready + own.p10, at - below), p90: at + above };
}

/**
 * When its turn among its key's slots comes: the key's running attempts free them as estimated, the key's operations
 * ahead (of its own type, their costs not read) take them in turn. Null when the key has no slot (no limit to play).
 */
function keyTurn(now: number, ready: number, type: string, key: KeyQueue, estimateOf: (t: string) => DurationEstimate | null): Start | null {
  const estimate = estimateOf(type);
  if (key.limit < 1 || estimate === null) return null;
  const running = occupants(now, key.running, type, estimateOf);
  return startOfUniform({ now, ready, slots: key.limit, running, position: key.ahead, item: { type, ...durationMoments(estimate, null) } });
}

/** Running attempts as the slots they hold, each freed once what is left of it (as estimated) has run. */
function occupants(now: number, attempts: readonly RunningAttempt[], type: string, estimateOf: (t: string) => DurationEstimate | null): Occupant[] {
  const running: Occupant[] = [];
  for (const r of attempts) {
    const runType = r.type ?? type;
    // Another type with no basis at all still holds its slot; its end is guessed as one of this type would end.
    const left = remaining(now, r, estimateOf(runType) ?? estimateOf(type));
    if (left !== null) running.push({ type: runType, remaining: left.p50, variance: varianceOf(left) });
  }
  return running;
}

/** Whether all that runs and waits ahead is of its own type and alike (no costs read): the queue's closed form holds. */
function uniform(input: EtaInput, type: string, running: readonly Occupant[]): boolean {
  if ((input.aheadCosts?.length ?? 0) > 0) return false;
  if (running.some((r) => r.type !== type)) return false;
  return Object.entries(input.aheadOfOtherTypes ?? {}).every(([other, n]) => other === type || n <= 0);
}

/**
 * The operations ahead, in claim order: those of its type (with the costs read, nearest first) and those of the types it
 * shares a global limit with, spread evenly among them (which were submitted between is not read; even is the best guess).
 * Past MAX_PLAYED in all, each type's share of the rest goes in bulk.
 */
function aheadOf(input: EtaInput, type: string, estimateOf: (t: string) => DurationEstimate | null): { ahead: QueueItem[]; beyond: QueueBulk[] } {
  const counts: Array<[string, number]> = [[type, input.queuePosition ?? 0]];
  for (const [other, n] of Object.entries(input.aheadOfOtherTypes ?? {})) if (other !== type && n > 0 && estimateOf(other) !== null) counts.push([other, n]);
  const total = counts.reduce((sum, [, n]) => sum + n, 0);
  const keyed: Array<{ key: number; item: QueueItem }> = [];
  const beyond: QueueBulk[] = [];
  for (const [t, n] of counts) {
    const est = estimateOf(t)!;
    const unknownCost = durationMoments(est, null);
    const played = total <= MAX_PLAYED ? n : Math.round((n * MAX_PLAYED) / total);
    for (let j = 0; j < played; j++) {
      const cost = t === type ? input.aheadCosts?.[j] : undefined;
      const { mean, variance } = cost === undefined || cost === null ? unknownCost : durationMoments(est, cost);
      keyed.push({ key: (j + 0.5) / played, item: { type: t, mean, variance } });
    }
    if (n > played) beyond.push({ type: t, count: n - played, ...unknownCost });
  }
  return { ahead: keyed.sort((a, b) => a.key - b.key).map((k) => k.item), beyond };
}

/** Variance (ms²) of a remaining time from its p10..p90, as of a normal with that spread. */
function varianceOf(q: DurationQuantiles): number {
  return ((q.p90 - q.p10) / (2 * Z90)) ** 2;
}

/**
 * How far the estimated completion given when an operation was created was off, relative to how long it then took, or
 * to a second for one that took less: a client asks again in whole seconds (Retry-After, the SDK's pacing), and a few
 * milliseconds off an operation of a few milliseconds read as 100 % off. What the overview (eta_error) and the metrics
 * (the ETA error histogram) both report.
 */
export function etaError(op: { readonly createdAt: number; readonly finishedAt: number; readonly estimatedAt: number }): number {
  return Math.abs(op.estimatedAt - op.finishedAt) / Math.max(ETA_ERROR_FLOOR_MS, op.finishedAt - op.createdAt);
}

/** The least time an ETA error is a share of (etaError). */
export const ETA_ERROR_FLOOR_MS = 1000;
