// Owns: what a peer run reports back to the harness (one JSON line on stdout) and the names of the peers.
// Not here: running a peer (main.ts, workloads.ts), rendering (../peers-report.ts).
// Invariant: this file imports nothing, so the harness can read these types without bench/peers/node_modules.

export const PEERS = ['bullmq', 'graphile-worker', 'graphile-worker-batched', 'pg-boss'] as const;
export type PeerName = (typeof PEERS)[number];

export const WORKLOADS = ['enqueue', 'drain', 'latency'] as const;
export type Workload = (typeof WORKLOADS)[number];

export interface PeerSettings {
  /** Enqueue: sequential adds for this long (after a warm-up of 200 adds). */
  readonly enqueueS: number;
  /** Drain: jobs queued before the workers start. */
  readonly drain: number;
  /** Latency: adds a second, for this long (after a second of warm-up). */
  readonly latencyPerS: number;
  readonly latencyS: number;
  readonly concurrency: number;
  /** Redis key prefix (BullMQ) or PostgreSQL schema (the others): the harness names it and removes it afterwards. */
  readonly namespace: string;
  readonly redisUrl: string;
  readonly pgUrl: string;
}

export interface EnqueueFigures {
  readonly jobs: number;
  /** Jobs added per second, each add awaited before the next. */
  readonly perS: number;
}

export interface DrainFigures {
  readonly jobs: number;
  /** Jobs per second from the first handler start to the last completion. */
  readonly perS: number;
  readonly seconds: number;
}

export interface Latency {
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface LatencyFigures {
  readonly offeredPerS: number;
  readonly jobs: number;
  /** From just before add() was called to the handler's first line, one process, one clock. */
  readonly addToStart: Latency;
  /** From just before add() to the peer's completion signal (see bench/README.md for which signal). */
  readonly addToDone: Latency;
}

export type WorkloadFigures = EnqueueFigures | DrainFigures | LatencyFigures;

export interface PeerFigures {
  /** Package versions, as installed. */
  readonly version: string;
  /** What was configured beyond concurrency 10, in words. */
  readonly config: string;
  enqueue?: EnqueueFigures;
  drain?: DrainFigures;
  latency?: LatencyFigures;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function latency(values: readonly number[]): Latency {
  return {
    p50Ms: round(percentile(values, 50), 2),
    p95Ms: round(percentile(values, 95), 2),
    p99Ms: round(percentile(values, 99), 2),
    maxMs: round(Math.max(...values), 2),
  };
}
