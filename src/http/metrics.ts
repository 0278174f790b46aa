// Owns: the Prometheus metrics (prom-client registry) and GET /metrics: queue depth by type and status and undelivered
// webhooks by state (read from the store at scrape time), queue wait, attempt durations and outcomes, operations created
// and ended, schedule ticks fired and skipped, worker slots, webhook outcomes, latency and lag, ETA error, HTTP requests by route and status, and the
// process defaults under their standard names. Not here: producing the events (the worker pool, the dispatcher and the
// operations service report to `record*` and the observer methods). Invariant: a scrape never fails or waits on the
// store: a gauge the store does not answer for within STORE_READ_WITHIN_MS is left out. Otherwise the depth gauge has a
// sample for every registered type and every status, zeros included. No label carries a tenant. The exposition passes
// `promtool check metrics`.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { etaError } from '../domain/eta.ts';
import type { Operation } from '../domain/operation.ts';
import { OPERATION_STATUSES, type OperationStatus } from '../domain/status.ts';
import type { OperationsObserver } from '../runtime/observer.ts';
import type { ScheduleObserver } from '../runtime/schedules.ts';
import type { Schedule } from '../domain/schedule.ts';
import { statusWrittenOnSocket } from './problem.ts';
import { sharedStoreReads } from './shared-store-read.ts';

const DURATION_BUCKETS_S = [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800];
/** Queue waits run from a millisecond (an idle worker) to hours (a backlog). */
const WAIT_BUCKETS_S = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600];
/** Webhook lag: milliseconds when the receiver answers, up to the day the retry schedule spans. */
const LAG_BUCKETS_S = [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300, 1800, 7200, 21600, 86400];
/** |estimated − actual| / (actual − when estimated): 0.1 is an estimate 10 % off. */
const ETA_ERROR_BUCKETS = [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5];
/** Estimates awaiting their operation's end; past this the oldest are dropped (their operations may never end here). */
const ESTIMATES_KEPT = 10_000;

/**
 * prom-client's gauges named like counters, which `promtool check metrics` rejects ("non-counter metrics should not
 * have _total suffix"). Each is the sum of the standard per-type gauge of the same name without `_total`
 * (`sum(nodejs_active_handles)`), so leaving them out loses nothing.
 */
const GAUGES_NAMED_LIKE_COUNTERS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/**
 * How long a scrape waits for each of the store's reads (as /readyz waits for its ping): a store that holds them (a
 * table locked by a migration or VACUUM FULL) would otherwise hold the whole scrape past Prometheus's timeout (10 s by
 * default), which then loses this node's own counters too.
 */
export const STORE_READ_WITHIN_MS = 2_000;

/** The status a request is counted under when its client went away before any answer (nginx's "client closed request"). */
const CLIENT_CLOSED_REQUEST = 499;

/** Where the queue depth and undelivered webhooks are read at scrape time (main.ts passes the store). */
export interface OperationCounts {
  operationCounts(): Promise<ReadonlyArray<{ readonly type: string; readonly status: OperationStatus; readonly count: number }>>;
  deliveryCounts(): Promise<ReadonlyArray<{ readonly state: 'pending' | 'retrying' | 'dead'; readonly count: number }>>;
  /** Rate limits: the stored buckets by type, whose holds the held gauge shows (absent: no such gauge samples). */
  rateLimitBuckets?(): Promise<ReadonlyMap<string, { readonly heldUntil: number }>>;
}

/** This node's handler slots (`--concurrency`): taken, and free; null on a node that runs no workers. */
export type WorkerSlots = () => { readonly used: number; readonly available: number } | null;

/** How operations end, by the counter each end is counted in. */
type Ended = 'completed' | 'failed' | 'retried' | 'cancelled';
const ENDED: readonly Ended[] = ['completed', 'failed', 'retried', 'cancelled'];

type HttpRequestCounter = ReturnType<Counter<'method' | 'route' | 'status'>['labels']>;

export class Metrics implements OperationsObserver, ScheduleObserver {
  readonly registry = new Registry();
  readonly #queueWait: Histogram<'type'>;
  readonly #created: Counter<'type'>;
  readonly #ticksFired: Counter<'type'>;
  readonly #ticksSkipped: Counter<'type'>;
  readonly #ended: Record<Ended, Counter<'type'>>;
  readonly #webhookLag: Histogram;
  readonly #etaError: Histogram<'type'>;
  /** The estimate each operation created here was given, by id, until it ends (insertion order: oldest first). */
  readonly #estimates = new Map<string, { readonly type: string; readonly at: number; readonly givenAt: number }>();
  readonly #attemptDuration: Histogram<'type' | 'outcome'>;
  readonly #attempts: Counter<'type' | 'outcome'>;
  readonly #webhooks: Counter<'outcome'>;
  readonly #webhookLatency: Histogram<'outcome'>;
  readonly #http: Counter<'method' | 'route' | 'status'>;
  readonly #rateLimited: Counter<'type'>;

  /**
   * `taskTypes`: the registered types, each reported with every status (a zero queue depth is a 0, not no data);
   * `slots`: this node's worker slots.
   */
  constructor(store: OperationCounts, taskTypes: () => readonly string[] = () => [], slots: WorkerSlots = () => null) {
    // No prefix: process_* and nodejs_* keep the names off-the-shelf dashboards and alerts look for.
    collectDefaultMetrics({ register: this.registry });
    // A read the store holds goes on holding a connection after its scrape gave up: the scrapes meanwhile share it
    // (one more each took the whole pool within ten scrapes, and the node with it).
    const storeRead = sharedStoreReads(STORE_READ_WITHIN_MS);
    for (const name of GAUGES_NAMED_LIKE_COUNTERS) this.registry.removeSingleMetric(name);
    new Gauge({
      name: 'asyncops_operations',
      help: 'Stored operations by type and status (queue depth: status="pending")',
      labelNames: ['type', 'status'] as const,
      registers: [this.registry],
      async collect() {
        let counts: Awaited<ReturnType<OperationCounts['operationCounts']>>;
        try {
          counts = (await storeRead('operations', () => store.operationCounts())) ?? [];
        } catch {
          // The store is unreachable or slow: the other metrics still scrape, without a depth that would lie.
          this.reset();
          return;
        }
        this.reset();
        for (const type of taskTypes()) for (const status of OPERATION_STATUSES) this.set({ type, status }, 0);
        // A type stored but not registered here (another node's task module) still shows what it has.
        for (const row of counts) this.set({ type: row.type, status: row.status }, row.count);
      },
    });
    this.#attemptDuration = new Histogram({
      name: 'asyncops_attempt_duration_seconds',
      help: 'Duration of handler attempts by type and outcome',
      labelNames: ['type', 'outcome'] as const,
      buckets: DURATION_BUCKETS_S,
      registers: [this.registry],
    });
    this.#attempts = new Counter({
      name: 'asyncops_attempts_total',
      help: 'Ended attempts by type and outcome',
      labelNames: ['type', 'outcome'] as const,
      registers: [this.registry],
    });
    this.#webhooks = new Counter({
      name: 'asyncops_webhook_attempts_total',
      help: 'Webhook delivery attempts by outcome (delivered, retrying, dead)',
      labelNames: ['outcome'] as const,
      registers: [this.registry],
    });
    this.#webhookLatency = new Histogram({
      name: 'asyncops_webhook_attempt_duration_seconds',
      help: 'Latency of webhook delivery attempts',
      labelNames: ['outcome'] as const,
      buckets: DURATION_BUCKETS_S,
      registers: [this.registry],
    });
    this.#http = new Counter({
      name: 'asyncops_http_requests_total',
      help: 'HTTP requests by method, route and status',
      labelNames: ['method', 'route', 'status'] as const,
      registers: [this.registry],
    });
    new Gauge({
      name: 'asyncops_webhook_deliveries',
      help: 'Webhook deliveries not yet delivered, by state (state="dead" is the dead-letter list)',
      labelNames: ['state'] as const,
      registers: [this.registry],
      async collect() {
        let counts: Awaited<ReturnType<OperationCounts['deliveryCounts']>>;
        try {
          counts = (await storeRead('deliveries', () => store.deliveryCounts())) ?? [];
        } catch {
          this.reset();
          return;
        }
        for (const state of ['pending', 'retrying', 'dead'] as const) this.set({ state }, counts.find((c) => c.state === state)?.count ?? 0);
      },
    });
    this.#rateLimited = new Counter({
      name: 'asyncops_rate_limited_total',
      help: 'Attempts whose handler threw RateLimitedError (given back uncounted, their type held back), by type',
      labelNames: ['type'] as const,
      registers: [this.registry],
    });
    new Gauge({
      name: 'asyncops_rate_limit_held',
      help: 'Whether a type is held back now by a RateLimitedError (1) or not (0), by type',
      labelNames: ['type'] as const,
      registers: [this.registry],
      async collect() {
        let buckets: ReadonlyMap<string, { readonly heldUntil: number }>;
        try {
          buckets = (await storeRead('rate limits', () => store.rateLimitBuckets?.())) ?? new Map();
        } catch {
          this.reset();
          return;
        }
        this.reset();
        // Scrape time is wall time, as the holds are stored.
        const now = Date.now();
        for (const type of taskTypes()) this.set({ type }, 0);
        for (const [type, bucket] of buckets) this.set({ type }, bucket.heldUntil > now ? 1 : 0);
      },
    });
    this.#queueWait = new Histogram({
      name: 'asyncops_queue_wait_seconds',
      help: 'Time from when an attempt was due (created, or its run_at or retry time) to when a worker started it, by type',
      labelNames: ['type'] as const,
      buckets: WAIT_BUCKETS_S,
      registers: [this.registry],
    });
    this.#created = new Counter({
      name: 'asyncops_operations_created_total',
      help: 'Operations created on this node, by type (idempotent replays not counted)',
      labelNames: ['type'] as const,
      registers: [this.registry],
    });
    this.#ticksFired = new Counter({
      name: 'asyncops_schedule_ticks_fired_total',
      help: 'Schedule ticks fired on this node (each tick is fired by one node), by type',
      labelNames: ['type'] as const,
      registers: [this.registry],
    });
    this.#ticksSkipped = new Counter({
      name: 'asyncops_schedule_ticks_skipped_total',
      help: 'Schedule ticks passed over on this node: missed after downtime (docs/schedules.md), or fired without an operation, by type',
      labelNames: ['type'] as const,
      registers: [this.registry],
    });
    const endedHelp: Record<Ended, string> = {
      completed: 'Operations completed by attempts on this node, by type',
      failed: 'Operations failed for good on this node (attempts spent, a permanent error, a lease expired on the last attempt), by type',
      retried: 'Attempts on this node that failed and queued the operation for another (expired leases included), by type',
      cancelled: 'Operations cancelled on this node (a pending one by request, a running one where its attempt ended), by type',
    };
    this.#ended = Object.fromEntries(
      ENDED.map((end) => [
        end,
        new Counter({ name: `asyncops_operations_${end}_total`, help: endedHelp[end], labelNames: ['type'] as const, registers: [this.registry] }),
      ]),
    ) as Record<Ended, Counter<'type'>>;
    new Gauge({
      name: 'asyncops_worker_slots',
      help: "This node's handler slots (--concurrency) by state: used (a handler runs) or available",
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        const now = slots();
        if (now === null) return;
        this.set({ state: 'used' }, now.used);
        this.set({ state: 'available' }, now.available);
      },
    });
    this.#webhookLag = new Histogram({
      name: 'asyncops_webhook_delivery_lag_seconds',
      help: 'Time from when an operation ended to when its webhook was delivered (retries included; replays left out)',
      buckets: LAG_BUCKETS_S,
      registers: [this.registry],
    });
    this.#etaError = new Histogram({
      name: 'asyncops_eta_relative_error_ratio',
      help: 'Relative error of the completion time estimated when an operation was created, once it completed: |estimated - actual| / (actual - created)',
      labelNames: ['type'] as const,
      buckets: ETA_ERROR_BUCKETS,
      registers: [this.registry],
    });
  }

  /** A worker claimed an operation: how long its attempt waited in the queue. */
  recordClaim(operation: Pick<Operation, 'type' | 'runAt' | 'startedAt'>): void {
    if (operation.startedAt === null) return;
    // Another node's clock may run a little behind the one that set run_at.
    this.#queueWait.observe({ type: operation.type }, Math.max(0, operation.startedAt - operation.runAt) / 1000);
  }

  /** Expired leases this node recovered: requeued ones are retries; ended ones failed or were cancelled. */
  recordRecovered(result: { readonly requeued: readonly Pick<Operation, 'type'>[]; readonly ended: readonly Pick<Operation, 'type' | 'status'>[] }): void {
    for (const op of result.requeued) this.#ended.retried.inc({ type: op.type });
    for (const op of result.ended) if (op.status === 'failed' || op.status === 'cancelled') this.#ended[op.status].inc({ type: op.type });
  }

  tickFired(schedule: Schedule, operation: Operation | null, skipped: number): void {
    this.#ticksFired.inc({ type: schedule.type });
    // A tick that could make no operation is passed over too.
    const passed = skipped + (operation === null ? 1 : 0);
    if (passed > 0) this.#ticksSkipped.inc({ type: schedule.type }, passed);
    if (operation !== null) this.created(operation, { at: null, givenAt: schedule.updatedAt });
  }

  created(operation: Operation, estimate: { readonly at: number | null; readonly givenAt: number }): void {
    this.#created.inc({ type: operation.type });
    if (estimate.at === null) return;
    if (this.#estimates.size >= ESTIMATES_KEPT) this.#estimates.delete(this.#estimates.keys().next().value!);
    this.#estimates.set(operation.id, { type: operation.type, at: estimate.at, givenAt: estimate.givenAt });
  }

  cancelled(operation: Operation): void {
    this.#ended.cancelled.inc({ type: operation.type });
  }

  ended(id: string, status: OperationStatus, now: number): void {
    const estimate = this.#estimates.get(id);
    if (estimate === undefined) return;
    this.#estimates.delete(id);
    // Only a completion says how long the work took; a failure or a cancel ends it early.
    if (status !== 'completed') return;
    this.#etaError.observe({ type: estimate.type }, etaError({ createdAt: estimate.givenAt, finishedAt: now, estimatedAt: estimate.at }));
  }

  recordAttempt(end: { readonly type: string; readonly outcome: string; readonly durationMs: number }): void {
    this.#attempts.inc({ type: end.type, outcome: end.outcome });
    this.#attemptDuration.observe({ type: end.type, outcome: end.outcome }, end.durationMs / 1000);
    if ((ENDED as readonly string[]).includes(end.outcome)) this.#ended[end.outcome as Ended].inc({ type: end.type });
    if (end.outcome === 'rate_limited') this.#rateLimited.inc({ type: end.type });
  }

  /** A recorded webhook attempt; a delivered one the schedule made (not a replay) adds its lag since the operation ended. */
  recordWebhookAttempt(event: {
    readonly outcome: string;
    readonly durationMs: number;
    readonly manual?: boolean;
    /** As the attempt left it: written when the operation ended (createdAt), updated when this attempt was recorded. */
    readonly delivery?: { readonly createdAt: number; readonly updatedAt: number; readonly attemptCount: number; readonly scheduleAttempt: number };
  }): void {
    this.#webhooks.inc({ outcome: event.outcome });
    this.#webhookLatency.observe({ outcome: event.outcome }, event.durationMs / 1000);
    // A delivery is written when its operation ends; a replayed one (its schedule started over) would count the days it lay dead.
    const d = event.delivery;
    if (event.outcome === 'delivered' && event.manual !== true && d !== undefined && d.attemptCount === d.scheduleAttempt) {
      this.#webhookLag.observe(Math.max(0, d.updatedAt - d.createdAt) / 1000);
    }
  }

  /** A child counter per label set: counting runs on every request. */
  readonly #requestCounters = new Map<string, HttpRequestCounter>();

  /**
   * Counts a request (by route pattern, never the raw URL, so ids do not explode the label set; `unmatched` for one no
   * route took) when its response closes. Not in onResponse, which Fastify runs only for a response that finished: a
   * long-poll or an event stream the client left is a request too.
   */
  countRequest(request: FastifyRequest, reply: FastifyReply): void {
    const res = reply.raw;
    const socket = request.raw.socket;
    res.once('close', () => {
      // A body that stopped coming is answered 408 on the socket, past the reply (problem.ts). Only this request's
      // own body: a problem written for other bytes on its connection (a bad request sent behind it) answered
      // something else, and this request was left unanswered.
      const cutShort = !request.raw.complete ? statusWrittenOnSocket(socket) : undefined;
      const status = res.headersSent ? res.statusCode : (cutShort ?? CLIENT_CLOSED_REQUEST);
      const route = request.routeOptions?.url ?? 'unmatched';
      const key = `${request.method} ${status} ${route}`;
      let child = this.#requestCounters.get(key);
      if (child === undefined) {
        child = this.#http.labels({ method: request.method, route, status: String(status) });
        this.#requestCounters.set(key, child);
      }
      child.inc();
    });
  }

  /** Serves /metrics. */
  register(app: FastifyInstance): void {
    const schema = {
      tags: ['health'],
      operationId: 'getMetrics',
      summary: 'Prometheus metrics (text exposition format)',
      response: {
        200: { description: 'The metrics of this process, and queue depth from the store', content: { 'text/plain': { schema: { type: 'string' } } } },
      },
    };
    app.get('/metrics', { schema }, async (_request, reply) => {
      const text = await this.registry.metrics();
      return reply.type(this.registry.contentType).send(text);
    });
  }
}
