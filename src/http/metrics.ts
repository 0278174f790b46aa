// Owns: the Prometheus metrics (prom-client registry) and GET /metrics: queue depth by type and status
// (read from the store at scrape time), attempt durations and outcomes, webhook delivery outcomes and
// latency, HTTP requests by route and status, and the process defaults under their standard names.
// Not here: producing the events (the worker pool and the dispatcher report to `record*`).
// Invariant: a scrape never fails because the store is down; the depth gauge is then left out. Otherwise it has a
// sample for every registered type and every status, zeros included. The exposition passes `promtool check metrics`.

import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { OPERATION_STATUSES, type OperationStatus } from '../domain/status.ts';

const DURATION_BUCKETS_S = [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800];

/**
 * prom-client's gauges named like counters, which `promtool check metrics` rejects ("non-counter metrics should not
 * have _total suffix"). Each is the sum of the standard per-type gauge of the same name without `_total`
 * (`sum(nodejs_active_handles)`), so leaving them out loses nothing.
 */
const GAUGES_NAMED_LIKE_COUNTERS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** Where the queue depth is read at scrape time (main.ts passes the store). */
export interface OperationCounts {
  operationCounts(): Promise<ReadonlyArray<{ readonly type: string; readonly status: OperationStatus; readonly count: number }>>;
}

type HttpRequestCounter = ReturnType<Counter<'method' | 'route' | 'status'>['labels']>;

export class Metrics {
  readonly registry = new Registry();
  readonly #attemptDuration: Histogram<'type' | 'outcome'>;
  readonly #attempts: Counter<'type' | 'outcome'>;
  readonly #webhooks: Counter<'outcome'>;
  readonly #webhookLatency: Histogram<'outcome'>;
  readonly #http: Counter<'method' | 'route' | 'status'>;

  /** `taskTypes`: the registered types, each reported with every status (a zero queue depth is a 0, not no data). */
  constructor(store: OperationCounts, taskTypes: () => readonly string[] = () => []) {
    // No prefix: process_* and nodejs_* keep the names off-the-shelf dashboards and alerts look for.
    collectDefaultMetrics({ register: this.registry });
    for (const name of GAUGES_NAMED_LIKE_COUNTERS) this.registry.removeSingleMetric(name);
    new Gauge({
      name: 'asyncops_operations',
      help: 'Stored operations by type and status (queue depth: status="pending")',
      labelNames: ['type', 'status'] as const,
      registers: [this.registry],
      async collect() {
        let counts: Awaited<ReturnType<OperationCounts['operationCounts']>>;
        try {
          counts = await store.operationCounts();
        } catch {
          // The store is unreachable: /readyz says so; the other metrics still scrape, without a depth that would lie.
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
  }

  recordAttempt(end: { readonly type: string; readonly outcome: string; readonly durationMs: number }): void {
    this.#attempts.inc({ type: end.type, outcome: end.outcome });
    this.#attemptDuration.observe({ type: end.type, outcome: end.outcome }, end.durationMs / 1000);
  }

  recordWebhookAttempt(event: { readonly outcome: string; readonly durationMs: number }): void {
    this.#webhooks.inc({ outcome: event.outcome });
    this.#webhookLatency.observe({ outcome: event.outcome }, event.durationMs / 1000);
  }

  /** Counts requests (by route pattern, never the raw URL, so ids do not explode the label set) and serves /metrics. */
  register(app: FastifyInstance): void {
    // A callback hook with a child counter per label set: this runs on every request.
    const children = new Map<string, HttpRequestCounter>();
    app.addHook('onResponse', (request, reply, done) => {
      const route = request.routeOptions.url ?? 'unmatched';
      const key = `${request.method} ${reply.statusCode} ${route}`;
      let child = children.get(key);
      if (child === undefined) {
        child = this.#http.labels({ method: request.method, route, status: String(reply.statusCode) });
        children.set(key, child);
      }
      child.inc();
      done();
    });
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
