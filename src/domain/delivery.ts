// Owns: the rule that turns one webhook attempt's result into the delivery's next state, the default schedule, and what
// a delivery's destination is (the unit its share of the delivery slots is counted in).
// Not here: making the attempt (webhooks/), storing the outcome (store/).
// Invariant: only 2xx delivers; 410 and refused addresses end the delivery at once; otherwise the schedule decides.

import { retryAfterWithinSchedule, scheduleDelay, type Random } from './backoff.ts';

/** Nominal delays between attempts: 8 attempts spread over about a day once jittered (in the spirit of Svix's schedule). */
export const DEFAULT_WEBHOOK_SCHEDULE_MS: readonly number[] = [
  5_000,
  5 * 60_000,
  30 * 60_000,
  2 * 3_600_000,
  5 * 3_600_000,
  10 * 3_600_000,
  10 * 3_600_000,
];

export interface DeliveryAttemptResult {
  /** The receiver's status code; null when no response came (timeout, connection error, refused address). */
  readonly statusCode: number | null;
  /** The egress policy refused the destination; waiting will not make it acceptable. */
  readonly refused: boolean;
  /** The receiver's Retry-After, in ms from now, when it sent one. */
  readonly retryAfterMs: number | null;
}

export type DeliveryDecision =
  | { readonly outcome: 'delivered'; readonly nextAttemptAt: null }
  | { readonly outcome: 'retrying'; readonly nextAttemptAt: number }
  | { readonly outcome: 'dead'; readonly nextAttemptAt: null; readonly reason: string };

export interface DeliveryDecisionContext {
  /** Attempts already made since the delivery was created or replayed, not counting this one. */
  readonly scheduleAttempt: number;
  readonly scheduleMs: readonly number[];
  readonly now: number;
  readonly random?: Random;
}

const honoursRetryAfter = (status: number | null): boolean => status === 429 || status === 503;

export function decideAfterDeliveryAttempt(result: DeliveryAttemptResult, ctx: DeliveryDecisionContext): DeliveryDecision {
  const status = result.statusCode;
  if (status !== null && status >= 200 && status < 300) return { outcome: 'delivered', nextAttemptAt: null };
  if (result.refused) return { outcome: 'dead', nextAttemptAt: null, reason: 'destination refused by the egress policy' };
  if (status === 410) return { outcome: 'dead', nextAttemptAt: null, reason: 'receiver answered 410 Gone' };
  const scheduled = scheduleDelay(ctx.scheduleMs, ctx.scheduleAttempt + 1, ctx.random);
  if (scheduled === null) return { outcome: 'dead', nextAttemptAt: null, reason: 'retry schedule exhausted' };
  const delay = honoursRetryAfter(status) ? retryAfterWithinSchedule(scheduled, result.retryAfterMs, ctx.scheduleMs) : scheduled;
  return { outcome: 'retrying', nextAttemptAt: ctx.now + delay };
}

/**
 * The receiver a webhook URL names, as slots are shared out: its origin (scheme, host, port), so every path of one
 * server counts together however the URL was spelled (case, a default port written out). A URL that does not parse
 * as one with an origin is its own destination.
 */
export function webhookDestination(url: string): string {
  const origin = URL.parse(url)?.origin;
  return origin === undefined || origin === 'null' ? url : origin;
}
