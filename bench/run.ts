// Owns: `npm run bench` (`--quick` or full; `--store sqlite|postgres|both`; `--only` some scenarios; `--otel`: every server exports traces to a
// local OTLP sink, for the figures with tracing on; `--peers`: BullMQ, graphile-worker and pg-boss on the same
// workloads, side by side): runs every scenario on each store,
// prints the table and writes bench/results/<timestamp>.json. Not here: the scenarios themselves.
// Invariant: every process and store a scenario started is stopped and removed before the harness exits.

import { loadavg } from 'node:os';
import { measureEta } from './eta-scenario.ts';
import { measureFairness } from './fairness-scenario.ts';
import { measureBulk } from './bulk-scenario.ts';
import { measureOperatorReads } from './operator-scenario.ts';
import { measureBare, measureCreates, measureHttp, type HttpSettings } from './http-scenarios.ts';
import { stopAll } from './processes.ts';
import { measureDrain, measureGrowthPoint, measurePickup, measureWebhooks } from './queue-scenarios.ts';
import { newReport, renderTable, writeReport, type StoreFigures } from './report.ts';
import { postgresReachable, PG_URL, vacuumCatalogsIfNeeded, type StoreKind } from './stores.ts';
import { round } from './load.ts';
import { startOtlpSink, type OtlpSink } from './otlp-sink.ts';
import { addPeerFigures, ensurePeersInstalled, measureEnqueue, measurePeer, REDIS_URL, redisReachable, stopPeerChildren } from './peer-scenarios.ts';
import { cleanUpOnInterrupt, wasInterrupted } from './interrupt.ts';
import { comparePeers, renderPeersTable } from './peers-report.ts';
import { PEERS, type Workload } from './peers/figures.ts';
import { BenchUsageError, parseBenchArgs, USAGE, type Scenario } from './options.ts';

// Quick is a smoke run of every figure in about a minute and a half on both stores (short loads, one run per growth
// figure); full is what bench/README.md's figures come from. growthRuns: one short run on these shared cores moved by ±25 %
// from run to run, so full takes the median of three.
const MODES = {
  quick: {
    http: { durationS: 2, warmupS: 0.5, connections: 10 },
    drain: 10_000,
    pickupS: 3,
    webhookBurst: 500,
    webhookPacedS: 2,
    growth: [1_000, 10_000],
    growthDrain: 2_000,
    growthRuns: 1,
    etaS: 8,
    fairnessBacklog: 2_000,
    bulkFailed: 10_000,
    operatorReads: { operations: 100_000, requests: 50 },
    peers: { enqueueS: 2, drain: 10_000, latencyPerS: 200, latencyS: 3, concurrency: 10 },
  },
  full: {
    http: { durationS: 15, warmupS: 3, connections: 10 },
    drain: 10_000,
    pickupS: 10,
    webhookBurst: 5_000,
    webhookPacedS: 10,
    growth: [1_000, 1_000_000],
    growthDrain: 10_000,
    growthRuns: 3,
    etaS: 40,
    fairnessBacklog: 10_000,
    bulkFailed: 100_000,
    operatorReads: { operations: 1_000_000, requests: 300 },
    peers: { enqueueS: 10, drain: 10_000, latencyPerS: 200, latencyS: 10, concurrency: 10 },
  },
} as const;

let parsed: ReturnType<typeof parseBenchArgs>;
try {
  parsed = parseBenchArgs(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof BenchUsageError)) throw error;
  process.stderr.write(`bench: ${error.message}\n${USAGE}\n`);
  process.exit(2);
}
if ('help' in parsed) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const values = parsed;
const mode = values.mode;
const settings = MODES[mode];
const only = values.only;
// --peers adds `enqueue` (asyncops's side of the peers' one-at-a-time workload); the peers run the workloads whose
// asyncops scenario runs: enqueue, drain, and pickup (their `latency`).
const PEER_WORKLOADS: Record<Workload, string> = { enqueue: 'enqueue', drain: 'drain', latency: 'pickup' };
const runEnqueue = values.peers && (!values.onlyGiven || only.has('enqueue'));
const peerWorkloads = (Object.keys(PEER_WORKLOADS) as Workload[]).filter((w) => (w === 'enqueue' ? runEnqueue : only.has(PEER_WORKLOADS[w] as Scenario)));
const command = `npm run bench --${process.argv.slice(2).length > 0 ? ` ${process.argv.slice(2).join(' ')}` : ''}`;
const report = newReport(mode, command, settings, values.otel === true);
const log = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
// Interrupted, the run stops its children and removes its stores, whose `finally` blocks would never run.
cleanUpOnInterrupt(() => Promise.all([stopAll(), stopPeerChildren()]).then(() => undefined), log);

const kinds: StoreKind[] = values.stores;
if (kinds.includes('postgres')) {
  const reason = await postgresReachable();
  if (reason !== null) {
    kinds.splice(kinds.indexOf('postgres'), 1);
    report.skipped.push(`postgres: not reachable at ${PG_URL} (${reason})`);
    log(`skipping PostgreSQL: ${reason}`);
  } else {
    const vacuumed = await vacuumCatalogsIfNeeded();
    if (vacuumed !== null) log(vacuumed);
  }
}

/** Scenarios that failed (not those skipped for want of a database): the run then exits 1, its figures incomplete. */
let failed = 0;

async function step<T>(name: string, work: () => Promise<T>): Promise<T | undefined> {
  // Interrupted, the run makes nothing more (its cleanup is under way) and ends when that cleanup exits.
  if (wasInterrupted()) return undefined;
  log(`${name} …`);
  try {
    const value = await work();
    log(`${name}: ${JSON.stringify(value)}`);
    return value;
  } catch (err) {
    if (wasInterrupted()) return undefined;
    failed += 1;
    report.skipped.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
    log(`${name} FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    await stopAll();
    return undefined;
  }
}

// With --otel every server process (they inherit this environment) starts the SDK and exports each span over OTLP.
let sink: OtlpSink | null = null;
if (values.otel) {
  sink = await startOtlpSink();
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = sink.endpoint;
  log(`tracing on: exporting to ${sink.endpoint}`);
}

try {
  const http: HttpSettings = settings.http;
  if (only.has('http') || only.has('create')) report.bare = await step('bare Fastify', () => measureBare(http, only.has('http')));
  for (const kind of kinds) {
    const figures: StoreFigures = {};
    report.stores[kind] = figures;
    const bare = report.bare;
    if (only.has('http') && bare?.status)
      figures.http = await step(`${kind} http`, () => measureHttp(kind, http, { create: bare.create, status: bare.status! }));
    if (only.has('create') && bare) figures.create = await step(`${kind} create`, () => measureCreates(kind, http, bare.create));
    if (runEnqueue) figures.enqueue = await step(`${kind} enqueue`, () => measureEnqueue(kind, settings.peers.enqueueS));
    if (only.has('drain')) figures.drain = await step(`${kind} drain`, () => measureDrain(kind, settings.drain));
    if (only.has('pickup')) figures.pickup = await step(`${kind} pickup`, () => measurePickup(kind, 200, settings.pickupS));
    if (only.has('webhooks')) figures.webhooks = await step(`${kind} webhooks`, () => measureWebhooks(kind, settings.webhookBurst, settings.webhookPacedS));
    if (only.has('growth')) {
      const growthSettings = { ...http, drainCount: settings.growthDrain, runs: settings.growthRuns };
      const [smallCount, largeCount] = settings.growth;
      const small = await step(`${kind} growth ${smallCount}`, () => measureGrowthPoint(kind, smallCount, growthSettings));
      const large = await step(`${kind} growth ${largeCount}`, () => measureGrowthPoint(kind, largeCount, growthSettings));
      if (small && large) {
        figures.growth = {
          small,
          large,
          statusP50Change: round(large.status.p50Ms / small.status.p50Ms - 1, 3),
          statusRpsChange: round(large.status.requestsPerS / small.status.requestsPerS - 1, 3),
          drainChange: round(large.drain.perS / small.drain.perS - 1, 3),
        };
      }
    }
    if (only.has('eta')) figures.eta = await step(`${kind} eta`, () => measureEta(kind, settings.etaS));
    if (only.has('fairness')) figures.fairness = await step(`${kind} fairness`, () => measureFairness(kind, settings.fairnessBacklog));
    if (only.has('bulk')) figures.bulk = await step(`${kind} bulk`, () => measureBulk(kind, settings.bulkFailed));
    if (only.has('operator-reads'))
      figures.operatorReads = await step(`${kind} operator reads`, () =>
        measureOperatorReads(kind, settings.operatorReads.operations, settings.operatorReads.requests),
      );
  }
  if (values.peers) await measurePeers();
} finally {
  await stopAll();
  if (sink !== null) {
    const { requests, bytes } = sink.received();
    log(`tracing on: the sink received ${requests} OTLP exports, ${Math.round(bytes / 1024)} KiB`);
    await sink.close();
  }
}

/** Each peer on each workload, after the asyncops scenarios; a peer whose database is not reachable is skipped. */
async function measurePeers(): Promise<void> {
  await step('install bench/peers', async () => ensurePeersInstalled(log));
  const redis = await redisReachable();
  const postgres = await postgresReachable();
  report.peers = { settings: settings.peers, peers: {} };
  const peers = report.peers;
  const reachable = PEERS.filter((peer) => {
    const reason =
      peer === 'bullmq' ? redis && `Redis not reachable at ${REDIS_URL} (${redis})` : postgres && `PostgreSQL not reachable at ${PG_URL} (${postgres})`;
    if (reason) report.skipped.push(`${peer}: ${reason}`);
    return !reason;
  });
  // Workload by workload, so the peers compared on one figure were measured within a minute or two of each other.
  for (const workload of peerWorkloads) {
    for (const peer of reachable) {
      const result = await step(`${peer} ${workload}`, () => measurePeer(peer, workload, settings.peers));
      if (result) addPeerFigures(peers.peers, peer, workload, result);
    }
  }
  Object.assign(report.peers, comparePeers(report));
}

// Interrupted, nothing is written: the figures would be of a run cut short. The cleanup exits the process.
if (wasInterrupted()) await new Promise<never>(() => {});
const path = writeReport(report);
process.stdout.write(`\nasyncops bench (${mode}) — ${report.machine.cpus} × ${report.machine.model}, ${report.machine.memoryGb} GB, Node ${report.node}\n`);
process.stdout.write(
  `${report.machine.note}; load average at the start ${report.machine.loadAverage?.join(' / ')}, at the end ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ')}\n\n${renderTable(report)}\n\n`,
);
if (report.peers) process.stdout.write(`peers (same run, same machine; each in a child process of its own):\n\n${renderPeersTable(report)}\n\n`);
if (report.skipped.length > 0) process.stdout.write(`not measured:\n${report.skipped.map((s) => `- ${s}`).join('\n')}\n\n`);
process.stdout.write(`figures: ${path}\n`);
// A scenario that failed, or no store to measure (the one asked for not reachable): the run did not measure what it was
// asked, which a job that runs it should see.
if (failed > 0 || kinds.length === 0) {
  process.stdout.write(`${failed > 0 ? `${failed} scenario(s) failed` : 'no store could be measured'}: exit status 1\n`);
  process.exitCode = 1;
}
