// Owns: the delivery record and its attempts, the rule that turns one webhook attempt's result into the delivery's next
// state, and what a delivery's destination is (the unit its share of the delivery slots is counted in).
// Not here: making the attempt (webhooks/), storing the outcome (store/), the default schedule (config/settings.ts).
// Invariant: only 2xx delivers; 410 and refused addresses end the delivery at once; otherwise the schedule decides.

import { retryAfterWithinSchedule, scheduleDelay, type Random } from './backoff.ts';
import type { DeliveryState } from './operation.ts';
import type { TraceCarrier } from './trace-context.ts';

export interface Delivery {
  readonly id: string;
  readonly messageId: string;
  readonly operationId: string;
  readonly tenant: string;
  readonly url: string;
  /** The URL's origin (webhookDestination, below), written with the delivery: what a claim can pass over. */
  readonly destination: string;
  readonly eventType: string;
  readonly payload: string;
  readonly state: DeliveryState;
  /** Attempts made so far (including those of replays). */
  readonly attemptCount: number;
  /** Attempts made since the delivery was created or last replayed; the schedule counts these. */
  readonly scheduleAttempt: number;
  readonly nextAttemptAt: number | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly lastStatusCode: number | null;
  readonly lastError: string | null;
  readonly leaseToken: string | null;
  /** Set by a replay (deliveryRetry) and cleared by the next recorded attempt, which is then a 'manual' one. */
  readonly manual: boolean;
  /** Of an end its operation was retried past (SUPERSEDED_BY_RETRY): never sent again nor replayed. Absent: false. */
  readonly superseded?: boolean | undefined;
  /** The trace its attempts' spans join (the attempt that ended the operation, or its creation); null or absent: none. */
  readonly trace?: TraceCarrier | null | undefined;
}

export interface DeliveryAttempt {
  readonly deliveryId: string;
  /** 1-based, counted over the whole life of the delivery. */
  readonly attempt: number;
  readonly trigger: 'scheduled' | 'manual';
  readonly startedAt: number;
  readonly durationMs: number;
  readonly statusCode: number | null;
  readonly error: string | null;
  /** The start of the receiver's response body, capped. */
  readonly responseSnippet: string | null;
}

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
 * The last error of a delivery of an operation's earlier end that had not got through when the operation was retried:
 * it goes to the dead letters rather than reach its receiver after the rerun's own event.
 */
export const SUPERSEDED_BY_RETRY = 'superseded: the operation was retried before this event was delivered';

/**
 * The receiver a webhook URL names, as slots are shared out: its origin (scheme, host, port), so every path of one
 * server counts together however the URL was spelled (case, a default port written out). A URL that does not parse
 * as one with an origin is its own destination.
 */
export function webhookDestination(url: string): string {
  const origin = URL.parse(url)?.origin;
  return origin === undefined || origin === 'null' ? url : origin;
}
