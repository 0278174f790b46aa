// Owns: the queue figures: drain rate of a backlog, pickup latency at a steady offered rate, webhook
// deliveries, and growth (status reads and drain with a small and a large history stored).
// Not here: HTTP throughput (http-scenarios.ts), ETA accuracy (eta-scenario.ts).
// Invariant: each measurement starts on a fresh store and stops every process it started.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STAMP_FILE_ENV } from './tasks.ts';
import { realtimeOffsetMs } from './clock.ts';
import { listAll, type StoredOperation, percentile, round, submitMany, submitPaced, waitIdle, wallNow, type LoadFigures } from './load.ts';
import { statusLoad, type HttpSettings } from './http-scenarios.ts';
import { postgresCpuMs, startAsyncops, type BenchProcess } from './processes.ts';
import { analysed, freshStore, seedCompleted, type StoreKind } from './stores.ts';

const CONCURRENCY = 10;
const IDLE_TIMEOUT_MS = 300_000;

export interface DrainFigures {
  readonly operations: number;
  /** Operations completed per second, from the first started_at to the last finished_at. */
  readonly perS: number;
  readonly seconds: number;
  /**
   * CPU time per operation (µs) of the worker process, and of every PostgreSQL process (null on SQLite), from when the
   * worker said it had started until the queue was empty: on these shared cores a firmer figure than the rate, which
   * moves with whatever else the machine does (bench/README.md).
   */
  readonly workerCpuUsPerOp: number | null;
  readonly databaseCpuUsPerOp: number | null;
}

export interface LatencyFigures {
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

function latencies(values: readonly number[]): LatencyFigures {
  return {
    p50Ms: round(percentile(values, 50), 2),
    p95Ms: round(percentile(values, 95), 2),
    p99Ms: round(percentile(values, 99), 2),
    maxMs: round(Math.max(...values), 2),
  };
}

/** Queues `count` no-ops on an API-only server, then starts a worker process and times the drain. */
async function drain(api: BenchProcess, spec: string, count: number): Promise<DrainFigures> {
  const ids = new Set((await submitMany(api.url, count, 32, () => ({ type: 'noop', input: {} }))).map((s) => s.id));
  await analysed(spec);
  const onPostgres = spec.startsWith('postgres');
  const worker = await startAsyncops('worker', { store: spec, concurrency: CONCURRENCY });
  const cpuAtStart = { worker: worker.cpuMs(), database: onPostgres ? postgresCpuMs() : null };
  let cpu: { worker: number | null; database: number | null };
  try {
    await waitIdle(api.url, IDLE_TIMEOUT_MS);
    cpu = { worker: since(cpuAtStart.worker, worker.cpuMs()), database: since(cpuAtStart.database, onPostgres ? postgresCpuMs() : null) };
  } finally {
    await worker.stop();
  }
  // Newest first, so the pages end once every queued operation was seen, before any seeded history.
  const ours = (ops: readonly StoredOperation[]) => ops.filter((op) => ids.has(op.id));
  const done = ours(await listAll(api.url, 'completed', (sofar) => ours(sofar).length >= ids.size));
  const started = Math.min(...done.map((op) => Date.parse(op.started_at!)));
  const finished = Math.max(...done.map((op) => Date.parse(op.finished_at!)));
  const seconds = (finished - started) / 1000;
  const perOp = (ms: number | null) => (ms === null || done.length === 0 ? null : round((ms * 1000) / done.length));
  return {
    operations: done.length,
    perS: round(done.length / seconds),
    seconds: round(seconds, 3),
    workerCpuUsPerOp: perOp(cpu.worker),
    databaseCpuUsPerOp: perOp(cpu.database),
  };
}

function since(before: number | null, after: number | null): number | null {
  return before === null || after === null ? null : after - before;
}

export async function measureDrain(kind: StoreKind, count: number): Promise<DrainFigures> {
  const store = await freshStore(kind);
  try {
    const api = await startAsyncops('serve', { store: store.spec, workers: false });
    try {
      return await drain(api, store.spec, count);
    } finally {
      await api.stop();
    }
  } finally {
    await store.dispose();
  }
}

export interface PickupFigures {
  readonly offeredPerS: number;
  readonly seconds: number;
  readonly operations: number;
  /** From the moment the harness sent the POST to the handler's own start stamp, both on CLOCK_MONOTONIC (clock.ts). */
  readonly createdToStarted: LatencyFigures;
  /**
   * From the POST to the stored finished_at (the server's Date.now(), whole ms, taken at the middle of its millisecond),
   * the send converted to CLOCK_REALTIME with an offset measured at the end of the run, in the harness.
   */
  readonly createdToCompleted: LatencyFigures;
}

export async function measurePickup(kind: StoreKind, perS: number, seconds: number): Promise<PickupFigures> {
  const store = await freshStore(kind);
  const dir = mkdtempSync(join(tmpdir(), 'asyncops-bench-stamps-'));
  const stampFile = join(dir, 'stamps.txt');
  try {
    const server = await startAsyncops('serve', { store: store.spec, concurrency: CONCURRENCY, env: { [STAMP_FILE_ENV]: stampFile } });
    try {
      // A short warm-up so the first measured operations do not pay for JIT and connection set-up.
      await submitPaced(server.url, perS, 1, () => ({ type: 'noop', input: {} }));
      const sent = await submitPaced(server.url, perS, seconds, () => ({ type: 'stamp', input: {} }));
      await waitIdle(server.url, IDLE_TIMEOUT_MS);
      const stamps = new Map(
        readFileSync(stampFile, 'utf8')
          .trim()
          .split('\n')
          .map((line) => {
            const [id, at] = line.split(' ');
            return [id!, Number(at)] as const;
          }),
      );
      const finished = new Map((await listAll(server.url, 'completed')).map((op) => [op.id, Date.parse(op.finished_at!)]));
      const toStart = sent.map((s) => stamps.get(s.id)! - s.sentMono);
      // finished_at is whole milliseconds, floored: its middle is the unbiased guess.
      const offset = realtimeOffsetMs();
      const toDone = sent.map((s) => finished.get(s.id)! + 0.5 - (s.sentMono + offset));
      return { offeredPerS: perS, seconds, operations: sent.length, createdToStarted: latencies(toStart), createdToCompleted: latencies(toDone) };
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await store.dispose();
  }
}

export interface WebhookFigures {
  readonly operations: number;
  /** Deliveries received per second in a burst (first to last receipt). */
  readonly burstPerS: number;
  /** At a steady 100 operations/s: stored finished_at (ms) to receipt. */
  readonly completionToDelivery: { readonly p50Ms: number; readonly p99Ms: number; readonly maxMs: number };
}

export async function measureWebhooks(kind: StoreKind, burst: number, pacedS: number): Promise<WebhookFigures> {
  const received = new Map<string, { at: number; finishedAt: number }>();
  const receiver = createServer((request, response) => {
    let body = '';
    request
      .setEncoding('utf8')
      .on('data', (chunk: string) => (body += chunk))
      .on('end', () => {
        const at = wallNow();
        const payload = JSON.parse(body) as { operation_id: string; data: { finished_at: string } };
        received.set(payload.operation_id, { at, finishedAt: Date.parse(payload.data.finished_at) });
        response.writeHead(204).end();
      });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  const store = await freshStore(kind);
  try {
    const server = await startAsyncops('serve', { store: store.spec, concurrency: CONCURRENCY, extra: ['--allow-private-webhooks'] });
    try {
      const until = async (ids: readonly string[]) => {
        const deadline = performance.now() + IDLE_TIMEOUT_MS;
        while (!ids.every((id) => received.has(id))) {
          if (performance.now() > deadline) throw new Error('webhooks: not every delivery arrived');
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      };
      const body = () => ({ type: 'noop', input: {}, webhook_url: hook });
      const burstIds = (await submitMany(server.url, burst, 32, body)).map((s) => s.id);
      await until(burstIds);
      const times = burstIds.map((id) => received.get(id)!.at);
      const burstPerS = round(burst / ((Math.max(...times) - Math.min(...times)) / 1000));
      const paced = (await submitPaced(server.url, 100, pacedS, body)).map((s) => s.id);
      await until(paced);
      const lags = paced.map((id) => received.get(id)!).map((r) => r.at - r.finishedAt);
      const lag = latencies(lags);
      return { operations: burst + paced.length, burstPerS, completionToDelivery: { p50Ms: lag.p50Ms, p99Ms: lag.p99Ms, maxMs: lag.maxMs } };
    } finally {
      await server.stop();
    }
  } finally {
    receiver.close();
    await store.dispose();
  }
}

export interface GrowthPoint {
  readonly stored: number;
  /** Status reads with the read cache off, so each reads the store: the median of the runs by requests/s. */
  readonly status: LoadFigures;
  /** The median of the drains by rate. */
  readonly drain: DrainFigures;
  /** Of the API server after the drains. */
  readonly serverRssMb: number | null;
}

function medianBy<T>(items: readonly T[], key: (item: T) => number): T {
  return [...items].sort((a, b) => key(a) - key(b))[Math.floor(items.length / 2)]!;
}

export async function measureGrowthPoint(kind: StoreKind, stored: number, settings: HttpSettings & { drainCount: number; runs: number }): Promise<GrowthPoint> {
  const store = await freshStore(kind);
  try {
    await seedCompleted(store.spec, stored);
    const api = await startAsyncops('serve', { store: store.spec, workers: false, extra: ['--read-cache', '0'] });
    try {
      const probes = await submitMany(api.url, 100, 8, () => ({ type: 'noop', input: {} }));
      const paths = probes.map((p) => `/operations/${p.id}`);
      const statuses: LoadFigures[] = [];
      for (let run = 0; run < settings.runs; run++) statuses.push(await statusLoad(api.url, paths, settings));
      const drains: DrainFigures[] = [];
      for (let run = 0; run < settings.runs; run++) drains.push(await drain(api, store.spec, settings.drainCount));
      const rss = api.rss();
      return {
        stored,
        status: medianBy(statuses, (s) => s.requestsPerS),
        drain: medianBy(drains, (d) => d.perS),
        serverRssMb: rss === null ? null : round(rss / 2 ** 20),
      };
    } finally {
      await api.stop();
    }
  } finally {
    await store.dispose();
  }
}
