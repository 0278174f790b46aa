// Owns: the three workloads every peer runs, written once against a small adapter (PeerQueue): enqueue one at a
// time, drain a backlog at concurrency 10, add→start and add→done latency at a paced rate.
// Not here: the peers themselves (bullmq.ts, graphile-worker.ts, pg-boss.ts), the asyncops side (../peer-scenarios.ts).
// Invariant: every time is read with performance.now() in this one process, so both ends of a latency are on one clock.

import { setTimeout as sleep } from 'node:timers/promises';
import { type DrainFigures, type EnqueueFigures, type LatencyFigures, latency, round } from './figures.ts';

/** Called by the adapter with the job's index: at the handler's first line, and at the peer's completion signal. */
export interface Hooks {
  started(i: number): void;
  done(i: number): void;
}

export interface PeerQueue {
  /** One job `{ i }` of the no-op type, resolved when the peer has stored it. */
  add(i: number): Promise<void>;
  /** `count` jobs `{ i: 0.. }` stored as fast as the peer allows (bulk), before any worker runs. */
  addMany(count: number): Promise<void>;
  /** Starts the workers (concurrency from the settings); the no-op handler calls hooks.started. */
  work(hooks: Hooks): Promise<void>;
  close(): Promise<void>;
}

const WAIT_MS = 300_000;

export async function enqueue(queue: PeerQueue, seconds: number): Promise<EnqueueFigures> {
  for (let i = 0; i < 200; i++) await queue.add(-1);
  let jobs = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) await queue.add(jobs++);
  return { jobs, perS: round(jobs / ((performance.now() - start) / 1000)) };
}

/** Resolves once `count` distinct jobs reported done (bounded). */
function tracker(count: number) {
  const startedAt = new Float64Array(count).fill(Number.NaN);
  const doneAt = new Float64Array(count).fill(Number.NaN);
  let done = 0;
  let resolve: () => void = () => {};
  const all = new Promise<void>((r) => (resolve = r));
  const hooks: Hooks = {
    started(i) {
      if (i >= 0 && Number.isNaN(startedAt[i]!)) startedAt[i] = performance.now();
    },
    done(i) {
      if (i < 0 || !Number.isNaN(doneAt[i]!)) return;
      doneAt[i] = performance.now();
      if (++done === count) resolve();
    },
  };
  const wait = async () => {
    const timeout = sleep(WAIT_MS, 'timeout' as const);
    if ((await Promise.race([all, timeout])) === 'timeout') throw new Error(`only ${done} of ${count} jobs done after ${WAIT_MS} ms`);
  };
  return { hooks, startedAt, doneAt, wait };
}

export async function drain(queue: PeerQueue, count: number): Promise<DrainFigures> {
  await queue.addMany(count);
  const t = tracker(count);
  await queue.work(t.hooks);
  await t.wait();
  const seconds = (Math.max(...t.doneAt) - Math.min(...t.startedAt)) / 1000;
  return { jobs: count, perS: round(count / seconds), seconds: round(seconds, 3) };
}

/** Adds on a fixed schedule that does not wait for the previous add, as the asyncops pickup scenario submits. */
async function paced(perS: number, seconds: number, add: (i: number) => Promise<void>): Promise<void> {
  const total = Math.round(perS * seconds);
  const start = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const wait = start + (i * 1000) / perS - performance.now();
    if (wait > 1) await sleep(wait);
    pending.push(add(i));
  }
  await Promise.all(pending);
}

export async function measureLatency(queue: PeerQueue, perS: number, seconds: number): Promise<LatencyFigures> {
  const total = Math.round(perS * seconds);
  const t = tracker(total);
  const addedAt = new Float64Array(total);
  await queue.work(t.hooks);
  // A second of warm-up (JIT, connections, the workers' first fetches), not counted: index -1 is ignored.
  await paced(perS, 1, () => queue.add(-1));
  await paced(perS, seconds, (i) => {
    addedAt[i] = performance.now();
    return queue.add(i);
  });
  await t.wait();
  const toStart = Array.from(addedAt, (at, i) => t.startedAt[i]! - at);
  const toDone = Array.from(addedAt, (at, i) => t.doneAt[i]! - at);
  return { offeredPerS: perS, jobs: total, addToStart: latency(toStart), addToDone: latency(toDone) };
}
