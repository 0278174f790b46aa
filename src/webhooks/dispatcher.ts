// Owns: claiming due webhook deliveries, making one signed attempt each with bounded concurrency, in all and per
// destination, and recording it. Not here: the wake / sleep / poll / grace mechanics (scheduling/claim-loop.ts),
// signing (signing/webhook-signature.ts), egress policy (ssrf.ts), the HTTP exchange (http-attempt.ts), what an outcome
// means and what a destination is (domain/delivery.ts), the span helpers (telemetry/tracing.ts). Each attempt is an HTTP
// client span whose context the receiver gets as `traceparent`. Invariant: every
// attempt that ran is recorded under its lease, except one cut short by stop(), whose lease then expires and the
// delivery comes due again; a claim takes no delivery to a destination that has its cap of attempts in flight here.

import { TenantSecrets } from './tenant-secrets.ts';
import type { Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import packageJson from '../../package.json' with { type: 'json' };
import { signWebhook, webhookSecretKey } from '../signing/webhook-signature.ts';
import type { Random } from '../domain/backoff.ts';
import { systemClock, withDeadline, withTimers, type Clock, type TimerClock } from '../domain/clock.ts';
import { decideAfterDeliveryAttempt, type DeliveryDecision } from '../domain/delivery.ts';
import { coerceError } from '../domain/errors.ts';
import { DEFAULTS } from '../config/settings.ts';
import { defaultWebhookLeaseMs, webhookLeaseRefusal } from '../config/webhook-lease.ts';
import { ClaimLoop } from '../scheduling/claim-loop.ts';
import { isRefusedValue } from '../store/storable.ts';
import { endWebhookSpan, startWebhookSpan, traceHeaders, traceLogFields } from '../telemetry/tracing.ts';
import type { Delivery, DeliveryAttemptParams, Store } from '../store/store.ts';
import { parseRetryAfter, postWebhook, WebhookConnections, type WebhookPostResult } from './http-attempt.ts';
import { type AddressCheck, checkWebhookUrl, resolveAndCheck, type EgressPolicy, type ResolveAll } from './ssrf.ts';

export const WEBHOOK_USER_AGENT = `asyncops-webhooks/${packageJson.version}`;

/**
 * How many unanswered destinations are remembered (WebhookDispatcher.#unanswered), and for how long after their last
 * try. Every claim passes them over by name, so they are few: past this many, the one noted longest ago gets its share
 * again, which holds slots only if it hangs (one that fails at once holds none).
 */
const UNANSWERED_KEPT = 64;
const UNANSWERED_FORGOTTEN_MS = 10 * 60_000;

/** The per-destination cap when none is given: a quarter of the slots, so it takes four stuck receivers to fill them. */
export function defaultConcurrencyPerDestination(concurrency: number): number {
  return Math.max(1, Math.floor(concurrency / 4));
}

export interface WebhookDispatcherOptions {
  readonly store: Store;
  /** Every secret signs each attempt (rotation); at least one. A tenant's webhooks are signed with its own, derived from these (tenant-secrets.ts). */
  readonly secrets: readonly string[];
  readonly logger: Logger;
  /** Time, and the timers of every wait (sleeps, polls, grace, resolution deadline); one without timers gets the system's. */
  readonly clock?: Clock;
  /** Attempts in flight at once. Default: `--webhook-concurrency`'s. */
  readonly concurrency?: number;
  /**
   * Attempts in flight at once to one destination (a URL's origin), so a receiver that hangs holds only these slots
   * and the rest serve everyone else. Default a quarter of `concurrency` (at least 1); at most `concurrency`.
   */
  readonly concurrencyPerDestination?: number;
  /** Deadline of one attempt, resolution and response included. Default: `--webhook-timeout`'s. */
  readonly attemptTimeoutMs?: number;
  /** Nominal delays between attempts (length + 1 attempts in all). Default: `--webhook-schedule`'s. */
  readonly schedule?: readonly number[];
  /** Open private, loopback and metadata destinations (local development and tests). Default false. */
  readonly allowPrivate?: boolean;
  /** How long a claim holds a delivery; at least 1 s more than attemptTimeoutMs. Default attemptTimeoutMs + 30 s. */
  readonly leaseMs?: number;
  readonly random?: Random;
  readonly workerId?: string;
  /** Fallback poll, for due times nobody announced (e.g. another node's). Default 5 s. */
  readonly pollMs?: number;
  /** How often expired delivery leases are returned to due. Default 30 s, or leaseMs if shorter. */
  readonly recoverEveryMs?: number;
  /** How long stop() lets attempts in flight finish before aborting them. Default attemptTimeoutMs + 1 s. */
  readonly stopGraceMs?: number;
  /** Host name resolution; the system resolver by default. */
  readonly resolveAll?: ResolveAll;
  /** Called after each recorded attempt (metrics, tests). */
  readonly onAttempt?: (event: DeliveryAttemptEvent) => void;
}

export interface DeliveryAttemptEvent {
  /** The delivery as the attempt left it. */
  readonly delivery: Delivery;
  /** The attempt was a replay's first (someone asked for it), not one the schedule made. */
  readonly manual: boolean;
  readonly outcome: DeliveryDecision['outcome'];
  readonly statusCode: number | null;
  readonly durationMs: number;
  readonly error: string | null;
}

function positive(name: string, value: number, integer = false): number {
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new TypeError(`webhook dispatcher: ${name} must be a positive ${integer ? 'integer' : 'number'}, got ${value}`);
  }
  return value;
}

export class WebhookDispatcher {
  readonly #store: Store;
  readonly #secrets: TenantSecrets;
  readonly #logger: Logger;
  readonly #clock: TimerClock;
  readonly #concurrency: number;
  readonly #perDestination: number;
  readonly #attemptTimeoutMs: number;
  readonly #schedule: readonly number[];
  readonly #policy: EgressPolicy;
  readonly #leaseMs: number;
  readonly #random: Random;
  readonly #workerId: string;
  readonly #pollMs: number;
  readonly #recoverEveryMs: number;
  readonly #stopGraceMs: number;
  readonly #resolveAll: ResolveAll | undefined;
  readonly #onAttempt: ((event: DeliveryAttemptEvent) => void) | undefined;

  #loop: ClaimLoop | null = null;
  #unsubscribe: (() => void) | null = null;
  #abort = new AbortController();
  #connections = new WebhookConnections();
  #inflight = new Set<Promise<void>>();
  /** Attempts in flight by destination; a destination leaves when its last attempt ends. */
  #busy = new Map<string, number>();
  /**
   * Destinations whose last attempt here got no answer (it timed out, or no connection was made), oldest first: each
   * is sent one attempt at a time until one is answered. At its full share, a receiver that hangs got its share of
   * slots back at every timeout, refilled from its own backlog, so several of them (one tenant's four ports) held every
   * slot for as long as their backlogs lasted, not for one timeout. By when each was last not heard from.
   */
  #unanswered = new Map<string, number>();

  constructor(options: WebhookDispatcherOptions) {
    if (options.secrets.length === 0) throw new TypeError('webhook dispatcher: at least one secret is needed');
    // Checked now so a malformed secret fails start-up, not the first delivery.
    for (const secret of options.secrets) webhookSecretKey(secret);
    const schedule = options.schedule ?? DEFAULTS.webhookSchedule;
    if (schedule.some((ms) => !Number.isFinite(ms) || ms < 0)) throw new TypeError('webhook dispatcher: schedule delays must be non-negative');
    this.#store = options.store;
    this.#secrets = new TenantSecrets(options.secrets);
    this.#logger = options.logger;
    this.#clock = withTimers(options.clock ?? systemClock);
    this.#concurrency = positive('concurrency', options.concurrency ?? DEFAULTS.webhookConcurrency, true);
    const perDestination = options.concurrencyPerDestination ?? defaultConcurrencyPerDestination(this.#concurrency);
    this.#perDestination = Math.min(positive('concurrencyPerDestination', perDestination, true), this.#concurrency);
    this.#attemptTimeoutMs = positive('attemptTimeoutMs', options.attemptTimeoutMs ?? DEFAULTS.webhookTimeout);
    this.#schedule = [...schedule];
    this.#policy = { allowPrivate: options.allowPrivate ?? false };
    this.#leaseMs = positive('leaseMs', options.leaseMs ?? defaultWebhookLeaseMs(this.#attemptTimeoutMs));
    const leaseRefusal = webhookLeaseRefusal(this.#leaseMs, this.#attemptTimeoutMs, 'attemptTimeoutMs');
    if (leaseRefusal !== null) throw new TypeError(`webhook dispatcher: leaseMs ${leaseRefusal}`);
    this.#random = options.random ?? Math.random;
    this.#workerId = options.workerId ?? `webhooks-${process.pid}`;
    this.#pollMs = positive('pollMs', options.pollMs ?? 5_000);
    // A lease shorter than the period would otherwise wait out the period as well.
    this.#recoverEveryMs = positive('recoverEveryMs', options.recoverEveryMs ?? Math.min(30_000, this.#leaseMs));
    this.#stopGraceMs = positive('stopGraceMs', options.stopGraceMs ?? this.#attemptTimeoutMs + 1_000);
    this.#resolveAll = options.resolveAll;
    this.#onAttempt = options.onAttempt;
  }

  /** Start claiming: on every `delivery:due` event, at the next known due time, and on a slow fallback poll. */
  start(): void {
    if (this.#loop?.running) return;
    const loop = new ClaimLoop({
      clock: this.#clock,
      claim: () => this.#claimOnce(loop),
      recover: () => this.#recover(loop),
      pollMs: this.#pollMs,
      recoverEveryMs: this.#recoverEveryMs,
      // Stopping the dispatcher is what ends it; its timers alone do not keep the process up.
      keepAlive: false,
      onError: (err) => this.#logger.error({ err: coerceError(err) }, 'webhook dispatcher could not claim deliveries'),
    });
    this.#loop = loop;
    this.#abort = new AbortController();
    this.#unsubscribe = this.#store.subscribe((event) => {
      if (event.kind === 'delivery:due') loop.wakeAt(event.nextAttemptAt);
      // Deliveries may have come due while the feed was away.
      else if (event.kind === 'feed:resumed') loop.wake();
    });
    void loop.start();
  }

  /** Stop claiming and let attempts in flight finish, up to the grace period (or `graceMs`, when shorter); abort what remains. */
  async stop(options: { readonly graceMs?: number | undefined } = {}): Promise<void> {
    const loop = this.#loop;
    if (loop === null || !loop.running) return;
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    const graceMs = Math.min(this.#stopGraceMs, options.graceMs ?? Number.POSITIVE_INFINITY);
    const finished = await loop.stop(graceMs, () => (this.#inflight.size === 0 ? null : Promise.allSettled([...this.#inflight])));
    if (!finished) {
      this.#logger.warn({ inflight: this.#inflight.size }, 'webhook attempts still running at the end of the grace period; aborting them');
      this.#abort.abort();
      await Promise.allSettled([...this.#inflight]);
    }
    this.#connections.close();
  }

  /** One claim for the free slots; true when it filled them (more may be due). */
  async #claimOnce(loop: ClaimLoop): Promise<boolean> {
    const free = this.#concurrency - this.#inflight.size;
    // Full: a finishing attempt wakes the next pass.
    if (free <= 0) return false;
    // Destinations at their cap are passed over, and no claim takes more than any other destination has room for:
    // a batch may be all one destination's. Each claim then fills the slots or brings another destination to its
    // cap, so a destination with many deliveries due cannot keep the rest from the free slots.
    const full: string[] = [];
    let room = this.#perDestination;
    for (const [destination, count] of this.#busy) {
      const share = this.#unanswered.has(destination) ? 1 : this.#perDestination;
      if (count >= share) full.push(destination);
      else room = Math.min(room, share - count);
    }
    // An unanswered destination with nothing in flight here gets one attempt, in a claim of one after the others'. One
    // not tried for a while is forgotten: it gets its share again, and is noted again if it still does not answer.
    const forgetBefore = this.#clock.now() - UNANSWERED_FORGOTTEN_MS;
    for (const [destination, at] of this.#unanswered) if (at < forgetBefore && !this.#busy.has(destination)) this.#unanswered.delete(destination);
    const waiting = [...this.#unanswered.keys()].filter((destination) => !this.#busy.has(destination));
    const limit = Math.min(free, room);
    const claimedAt = this.#clock.now();
    const claimed = await this.#claim(claimedAt, limit, [...full, ...waiting], loop);
    if (claimed >= limit) return true;
    if (!loop.running) return false;
    if (waiting.length > 0 && free - claimed > 0 && (await this.#claim(claimedAt, 1, full, loop)) > 0) return true;
    // The earliest delivery not in flight (those in flight here or on another node wake us as they end, or their lease
    // runs out) due after the claim. One due by then yet not claimed waits on its destination's cap here, and an
    // attempt's end there wakes us; asking past it keeps a capped destination's backlog from hiding others' times.
    const next = await this.#store.deliveryNextAttemptAt({ after: claimedAt });
    if (next !== null) loop.wakeAt(next);
    return false;
  }

  /** Claims up to `limit` due deliveries but to `exceptDestinations`, and starts them; how many. */
  async #claim(now: number, limit: number, exceptDestinations: readonly string[], loop: ClaimLoop): Promise<number> {
    const claimed = await this.#store.deliveryClaimDue({ now, workerId: this.#workerId, leaseMs: this.#leaseMs, limit, exceptDestinations });
    // Run what was claimed even if stop() came meanwhile: stop() waits for this pass, then for these attempts.
    for (const delivery of claimed) this.#launch(delivery, loop);
    return claimed.length;
  }

  #launch(delivery: Delivery, loop: ClaimLoop): void {
    const span = startWebhookSpan(delivery, delivery.url);
    const log = this.#logger.child({ delivery_id: delivery.id, operation_id: delivery.operationId, ...traceLogFields(span) });
    const { destination } = delivery;
    this.#busy.set(destination, (this.#busy.get(destination) ?? 0) + 1);
    const run: Promise<void> = this.#attempt(delivery, log, span)
      .catch((err: unknown) => log.error({ err: coerceError(err) }, 'webhook attempt could not be recorded'))
      .finally(() => {
        this.#inflight.delete(run);
        const left = (this.#busy.get(destination) ?? 1) - 1;
        if (left > 0) this.#busy.set(destination, left);
        else this.#busy.delete(destination);
        loop.wake();
      });
    this.#inflight.add(run);
  }

  /** One attempt and its record, within its span, which ends once with what became of it. */
  async #attempt(delivery: Delivery, log: Logger, span: Span): Promise<void> {
    let ended: { statusCode: number | null; error: string | null; outcome: string } = { statusCode: null, error: 'not recorded', outcome: 'unrecorded' };
    try {
      ended = await this.#attemptAndRecord(delivery, log, span);
    } finally {
      endWebhookSpan(span, ended);
      this.#heardFrom(delivery.destination, ended);
    }
  }

  /** Notes whether a destination answered its attempt (any status), or not; an attempt shutdown aborted says nothing. */
  #heardFrom(destination: string, ended: { statusCode: number | null; outcome: string }): void {
    if (ended.outcome === 'aborted') return;
    if (ended.statusCode !== null) {
      this.#unanswered.delete(destination);
      return;
    }
    this.#unanswered.delete(destination);
    this.#unanswered.set(destination, this.#clock.now());
    // Bounded: the one noted longest ago goes first (at worst it gets its share again).
    if (this.#unanswered.size > UNANSWERED_KEPT) this.#unanswered.delete(this.#unanswered.keys().next().value!);
  }

  async #attemptAndRecord(delivery: Delivery, log: Logger, span: Span): Promise<{ statusCode: number | null; error: string | null; outcome: string }> {
    if (delivery.leaseToken === null) return { statusCode: null, error: 'no lease', outcome: 'unrecorded' };
    const startedAt = this.#clock.now();
    // The duration is measured, not waited for: on the monotonic clock, as the metrics want it.
    const started = performance.now();
    const { result, refused } = await this.#send(delivery, span);
    const durationMs = Math.round(performance.now() - started);
    if (this.#abort.signal.aborted && result.statusCode === null) {
      log.warn('webhook attempt aborted by shutdown; the delivery comes due again when its lease expires');
      return { statusCode: null, error: result.error, outcome: 'aborted' };
    }

    const now = this.#clock.now();
    const decision = decideAfterDeliveryAttempt(
      { statusCode: result.statusCode, refused, retryAfterMs: parseRetryAfter(result.retryAfter, now) },
      { scheduleAttempt: delivery.scheduleAttempt, scheduleMs: this.#schedule, now, random: this.#random },
    );
    const record: DeliveryAttemptParams = {
      id: delivery.id,
      leaseToken: delivery.leaseToken,
      attempt: {
        trigger: delivery.manual ? 'manual' : 'scheduled',
        startedAt,
        durationMs,
        statusCode: result.statusCode,
        error: result.error,
        responseSnippet: result.snippet,
      },
      outcome: decision.outcome,
      nextAttemptAt: decision.nextAttemptAt,
      now,
    };
    let recorded: Delivery | null;
    try {
      recorded = await this.#store.deliveryRecordAttempt(record);
    } catch (err) {
      if (!isRefusedValue(err)) throw err;
      // What the receiver said cannot be stored; unrecorded, the attempt would be made again at every lease expiry,
      // for ever. Its outcome is recorded without the receiver's words.
      log.warn({ err }, "the store refused the receiver's reply; recording the attempt without it");
      recorded = await this.#store.deliveryRecordAttempt({
        ...record,
        attempt: { ...record.attempt, error: result.error === null ? null : 'the error text could not be stored', responseSnippet: null },
      });
    }
    if (recorded === null) {
      log.warn('webhook attempt not recorded: the delivery lease was lost');
      return { statusCode: result.statusCode, error: result.error, outcome: 'unrecorded' };
    }

    const fields = { statusCode: result.statusCode, durationMs, error: result.error, attempt: recorded.attemptCount };
    // Its operation was retried while this attempt was in flight: the store ended it (superseded), not the schedule.
    const superseded = decision.outcome === 'retrying' && recorded.state === 'dead';
    const outcome = superseded ? 'dead' : decision.outcome;
    if (decision.outcome === 'delivered') log.info(fields, 'webhook delivered');
    else if (superseded) log.warn({ ...fields, reason: recorded.lastError }, 'webhook delivery is dead');
    else if (decision.outcome === 'retrying') log.info({ ...fields, nextAttemptAt: decision.nextAttemptAt }, 'webhook attempt failed; will retry');
    else log.warn({ ...fields, reason: decision.reason }, 'webhook delivery is dead');
    this.#onAttempt?.({
      delivery: recorded,
      manual: delivery.manual,
      outcome,
      statusCode: result.statusCode,
      durationMs,
      error: result.error,
    });
    return { statusCode: result.statusCode, error: result.error, outcome };
  }

  /**
   * One attempt: vet the destination (again: the policy or DNS may have changed since submit), then POST to the
   * vetted address with a fresh timestamp and signature. A refused destination is reported as such and not sent.
   */
  async #send(delivery: Delivery, span: Span): Promise<{ result: WebhookPostResult; refused: boolean }> {
    const failed = (error: string): WebhookPostResult => ({ statusCode: null, error, snippet: null, retryAfter: null });
    const url = checkWebhookUrl(delivery.url, this.#policy);
    if (!url.ok) return { result: failed(`refused: ${url.reason}`), refused: true };
    const started = this.#clock.now();
    let target: AddressCheck;
    try {
      target = await withDeadline(
        this.#clock,
        resolveAndCheck(url.url.hostname, this.#policy, this.#resolveAll),
        this.#attemptTimeoutMs,
        `timed out resolving ${url.url.hostname} after ${this.#attemptTimeoutMs} ms`,
      );
    } catch (err) {
      return { result: failed(coerceError(err).message), refused: false };
    }
    if (!target.ok) return { result: failed(`refused: ${target.reason}`), refused: true };

    const headers = {
      'content-type': 'application/json',
      'user-agent': WEBHOOK_USER_AGENT,
      // The attempt's span context, so the receiver's own spans join the operation's trace (the signature covers only the body).
      ...traceHeaders(span),
      ...(await signWebhook({
        secrets: await this.#secrets.of(delivery.tenant),
        msgId: delivery.messageId,
        timestamp: Math.floor(this.#clock.now() / 1000),
        body: delivery.payload,
      })),
    };
    // Within [1, the whole timeout], should the clock have stepped back meanwhile.
    const remainingMs = Math.min(this.#attemptTimeoutMs, Math.max(1, this.#attemptTimeoutMs - (this.#clock.now() - started)));
    const result = await postWebhook({
      url: url.url,
      address: target,
      headers,
      body: delivery.payload,
      timeoutMs: remainingMs,
      attemptTimeoutMs: this.#attemptTimeoutMs,
      signal: this.#abort.signal,
      connections: this.#connections,
    });
    return { result, refused: false };
  }

  async #recover(loop: ClaimLoop): Promise<void> {
    try {
      const count = await this.#store.deliveryRecoverExpired({ now: this.#clock.now() });
      if (count > 0) this.#logger.info({ count }, 'expired webhook delivery leases returned to due');
    } catch (err) {
      this.#logger.error({ err: coerceError(err) }, 'webhook dispatcher could not recover expired leases');
    }
    loop.wake();
  }
}
