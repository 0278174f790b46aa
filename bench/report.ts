// Owns: what a run reports: the machine, the table printed at the end and the JSON file in bench/results/.
// Not here: taking measurements. Invariant: every figure measured is in the JSON; the table is a view of it.

import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { EtaFigures, EtaStatusFigures } from './eta-scenario.ts';
import type { EtaWorkloadName } from './eta-workloads.ts';
import type { CreateFigures, HttpFigures, ServerCpu } from './http-scenarios.ts';
import type { LoadFigures } from './load.ts';
import type { DrainFigures, GrowthPoint, PickupFigures, WebhookFigures } from './queue-scenarios.ts';
import type { EnqueueFigures } from './peer-scenarios.ts';
import type { FairnessFigures } from './fairness-scenario.ts';
import type { BulkFigures } from './bulk-scenario.ts';
import { OPERATOR_READS, type OperatorReadsFigures } from './operator-scenario.ts';
import type { PeersReport } from './peers-report.ts';
import type { StoreKind } from './stores.ts';

export interface StoreFigures {
  http?: HttpFigures;
  /** `--only create`: the creates of `http` alone. */
  create?: CreateFigures;
  drain?: DrainFigures;
  pickup?: PickupFigures;
  webhooks?: WebhookFigures;
  growth?: { small: GrowthPoint; large: GrowthPoint; statusP50Change: number; statusRpsChange: number; drainChange: number };
  eta?: EtaFigures;
  /** With --peers: POST /operations one at a time, each awaited (the peers' enqueue workload). */
  enqueue?: EnqueueFigures;
  /** Turns between tenants and keys: a lone tenant's wait behind another's backlog, and drains with them in play. */
  fairness?: FairnessFigures;
  bulk?: BulkFigures;
  /** `--only operator-reads`: the lists, counts and overview over a million stored operations, p50/p99 per request. */
  operatorReads?: OperatorReadsFigures;
}

export interface RunReport {
  readonly startedAt: string;
  readonly mode: 'quick' | 'full';
  readonly command: string;
  readonly machine: {
    readonly cpus: number;
    readonly model: string;
    readonly memoryGb: number;
    readonly note: string;
    /** 1, 5 and 15 minute load averages when the run started: what else was using the shared cores. */
    readonly loadAverage?: readonly number[];
  };
  readonly node: string;
  /** The checkout measured: its commit, and whether it had changes not committed (null outside a git checkout). */
  readonly commit: { readonly sha: string; readonly dirty: boolean } | null;
  /** The mode's settings (durations, counts, concurrency) and whether spans were exported (--otel): what a figure is of. */
  readonly settings: unknown;
  readonly otel: boolean;
  /** `status`: absent with `--only create`. */
  bare?: { create: LoadFigures & ServerCpu; status?: LoadFigures };
  readonly stores: Partial<Record<StoreKind, StoreFigures>>;
  /** With --peers: BullMQ, graphile-worker and pg-boss on the same workloads, and the comparison (peers-report.ts). */
  peers?: PeersReport;
  readonly skipped: string[];
}

export function newReport(mode: 'quick' | 'full', command: string, settings: unknown, otel: boolean): RunReport {
  const cpu = cpus();
  return {
    startedAt: new Date().toISOString(),
    mode,
    command,
    commit: commitOf(),
    settings,
    otel,
    machine: {
      cpus: cpu.length,
      model: cpu[0]?.model ?? 'unknown',
      memoryGb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      note: 'the server processes and the load generator (this harness, autocannon) share these cores',
      loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
    },
    node: process.version,
    stores: {},
    skipped: [],
  };
}

/** HEAD of the checkout the harness runs in, and whether its work tree differs from it; null without git. */
function commitOf(): RunReport['commit'] {
  const cwd = fileURLToPath(new URL('../', import.meta.url));
  const git = (...args: string[]) => spawnSync('git', args, { cwd, encoding: 'utf8', timeout: 5_000 });
  const head = git('rev-parse', 'HEAD');
  if (head.status !== 0) return null;
  const status = git('status', '--porcelain', '--untracked-files=no');
  return { sha: head.stdout.trim(), dirty: status.status !== 0 || status.stdout.trim() !== '' };
}

export function writeReport(report: RunReport): string {
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const path = `${dir}${report.startedAt.replace(/[:.]/g, '-')}.json`;
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
  return path;
}

type Row = readonly [string, (s: StoreFigures) => string | undefined, string];

const n = (v: number | undefined | null, digits = 0) =>
  v === undefined || v === null || Number.isNaN(v) ? undefined : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const ms = (v: number | undefined) => (v === undefined ? undefined : `${n(v, v < 10 ? 2 : 1)} ms`);
const pct = (v: number | undefined | null) => (v === undefined || v === null || Number.isNaN(v) ? undefined : `${n(v * 100, 1)} %`);
const signed = (v: number | undefined) => (v === undefined ? undefined : `${v >= 0 ? '+' : ''}${n(v * 100, 1)} %`);

/** The create figures of `http`, or of `--only create`. */
export const createsOf = (s: StoreFigures | undefined): CreateFigures | undefined => s?.http ?? s?.create;
const latencies = (f: LoadFigures | undefined) => f && `${ms(f.p50Ms)} / ${ms(f.p99Ms)}`;

const ROWS: readonly Row[] = [
  ['POST /operations, req/s (10 conn.)', (s) => n(createsOf(s)?.create.requestsPerS), ''],
  ['  p50 / p99', (s) => latencies(createsOf(s)?.create), ''],
  ['  share of bare Fastify', (s) => pct(createsOf(s)?.create.ratioToBare), 'SQLite ≥ 50 %; PostgreSQL ≥ 25 %'],
  ['  with Prefer: return=minimal, req/s', (s) => n(createsOf(s)?.createMinimal.requestsPerS), ''],
  [
    '    p50 / p99; share of bare Fastify',
    (s) => createsOf(s) && `${latencies(createsOf(s)!.createMinimal)}; ${pct(createsOf(s)!.createMinimal.ratioToBare)}`,
    '',
  ],
  [
    '  server CPU per create, µs: as is / return=minimal',
    (s) =>
      s.create?.create.serverCpuUsPerRequest === undefined
        ? undefined
        : `${n(s.create.create.serverCpuUsPerRequest)} / ${n(s.create.createMinimal.serverCpuUsPerRequest)}`,
    '',
  ],
  ['GET /operations/{id}, req/s (10 conn.)', (s) => n(s.http?.status.requestsPerS), ''],
  ['  p50 / p99', (s) => s.http && `${ms(s.http.status.p50Ms)} / ${ms(s.http.status.p99Ms)}`, ''],
  ['  share of bare Fastify', (s) => pct(s.http?.status.ratioToBare), '≥ 80 %'],
  ['  uncached (--read-cache 0), req/s', (s) => n(s.http?.statusUncached.requestsPerS), ''],
  [
    '    p50 / p99; share of bare Fastify',
    (s) => s.http && `${ms(s.http.statusUncached.p50Ms)} / ${ms(s.http.statusUncached.p99Ms)}; ${pct(s.http.statusUncached.ratioToBare)}`,
    '',
  ],
  ['POST /operations one at a time (1 connection), req/s', (s) => n(s.enqueue?.perS), ''],
  ['Drain 10,000 no-ops at concurrency 10, ops/s', (s) => n(s.drain?.perS), 'SQLite ≥ 9,000; PostgreSQL ≥ 3,200'],
  ['  CPU per operation, µs: worker / database', (s) => s.drain && `${n(s.drain.workerCpuUsPerOp) ?? '—'} / ${n(s.drain.databaseCpuUsPerOp) ?? '—'}`, ''],
  ['Pickup at 200 ops/s: created→started p50 / p95', (s) => s.pickup && `${ms(s.pickup.createdToStarted.p50Ms)} / ${ms(s.pickup.createdToStarted.p95Ms)}`, ''],
  [
    '  created→started p99 / max',
    (s) => s.pickup && `${ms(s.pickup.createdToStarted.p99Ms)} / ${ms(s.pickup.createdToStarted.maxMs)}`,
    'p99: SQLite ≤ 5 ms; PostgreSQL ≤ 10 ms',
  ],
  ['  created→completed p50 / p95', (s) => s.pickup && `${ms(s.pickup.createdToCompleted.p50Ms)} / ${ms(s.pickup.createdToCompleted.p95Ms)}`, ''],
  ['  created→completed p99 / max', (s) => s.pickup && `${ms(s.pickup.createdToCompleted.p99Ms)} / ${ms(s.pickup.createdToCompleted.maxMs)}`, ''],
  ['Webhooks: deliveries/s (burst)', (s) => n(s.webhooks?.burstPerS), ''],
  [
    '  completion→delivery p50 / p99 (100 ops/s)',
    (s) => s.webhooks && `${ms(s.webhooks.completionToDelivery.p50Ms)} / ${ms(s.webhooks.completionToDelivery.p99Ms)}`,
    '',
  ],
  ['Growth: stored history small → large', (s) => s.growth && `${n(s.growth.small.stored)} → ${n(s.growth.large.stored)}`, ''],
  ['  uncached GET req/s small → large', (s) => s.growth && `${n(s.growth.small.status.requestsPerS)} → ${n(s.growth.large.status.requestsPerS)}`, ''],
  ['  uncached GET req/s change', (s) => signed(s.growth?.statusRpsChange), 'within 10 %'],
  ['  drain ops/s small → large', (s) => s.growth && `${n(s.growth.small.drain.perS)} → ${n(s.growth.large.drain.perS)}`, ''],
  ['  drain change', (s) => signed(s.growth?.drainChange), 'within 10 %'],
  ['  API server RSS at the end', (s) => s.growth && `${n(s.growth.large.serverRssMb)} MB`, ''],
  ...etaRows('report', '1. report, 1–366 days'),
  ...etaRows('lognormal', '2. lognormal σ 0.5, no cost'),
  ...etaRows('backlog', '3. backlog, shared --concurrency'),
  ['ETA 4. range coverage, all samples', (s) => pct(s.eta?.coverage), '70–90 %'],
  [
    "Fairness: B's created→started p50 / p99, A's backlog",
    (s) =>
      s.fairness &&
      `${ms(s.fairness.lone.p50Ms)} / ${ms(s.fairness.lone.p99Ms)} (${n(s.fairness.backlog)}; ${n(s.fairness.lone.backlogLeft)} still waiting at the end)`,
    'about one turn, not the backlog',
  ],
  [
    '  drain ops/s: one tenant / two tenants / two with keys',
    (s) => s.fairness && `${n(s.fairness.plain.perS)} / ${n(s.fairness.twoTenants.perS)} / ${n(s.fairness.keyed.perS)}`,
    '',
  ],
  ['  two tenants, with keys: share of the plain drain', (s) => s.fairness && `${pct(s.fairness.twoTenantsRatio)}, ${pct(s.fairness.keyedRatio)}`, ''],
  ...(['parked', 'run', 'low'] as const).flatMap((variant): Row[] => [
    [
      `Bulk retry (${{ parked: 'redriven wait: its cost alone', run: 'redriven run here too', low: 'run here too, at priority -10' }[variant]}): time (rate)`,
      (s) => {
        const f = s.bulk?.[variant];
        return f && `${n(f.failed)} in ${f.retryS} s (${n(f.perS)}/s)`;
      },
      '',
    ],
    [
      '  new operations created→started p50 / p99: idle, during',
      (s) => {
        const f = s.bulk?.[variant];
        return f && `${ms(f.idle.p50Ms)} / ${ms(f.idle.p99Ms)}, ${ms(f.during.p50Ms)} / ${ms(f.during.p99Ms)}`;
      },
      'not starved',
    ],
  ]),
  ['Operator reads: stored operations (seeded in)', (s) => s.operatorReads && `${n(s.operatorReads.operations)} (${s.operatorReads.seedS} s)`, ''],
  ...OPERATOR_READS.map(
    (name): Row => [
      `  ${name}: p50 / p99`,
      (s) => {
        const f = s.operatorReads?.reads[name];
        return f && `${ms(f.p50Ms)} / ${ms(f.p99Ms)}`;
      },
      '',
    ],
  ),
];

/** An ETA workload's rows: median / p90 error and range coverage, pending and processing. */
function etaRows(name: EtaWorkloadName, label: string): Row[] {
  const cell = (f: EtaStatusFigures | undefined) => f && `${pct(f.medianAbsError) ?? '—'} / ${pct(f.p90AbsError) ?? '—'}; ${pct(f.coverage) ?? '—'}`;
  return [
    [`ETA ${label}: median / p90 error; coverage`, (s) => (s.eta ? '' : undefined), ''],
    ['  pending', (s) => cell(s.eta?.[name].pending), '≤ 15 % / ≤ 50 %; 70–90 %'],
    ['  processing', (s) => cell(s.eta?.[name].processing), '≤ 15 % / ≤ 50 %; 70–90 %'],
    [
      '    of which progress reported',
      (s) => {
        const f = s.eta?.[name].processing.withProgress;
        return f && `${pct(f.medianAbsError) ?? '—'} / ${pct(f.p90AbsError) ?? '—'} (${n(f.samples)} of ${n(s.eta?.[name].processing.samples)})`;
      },
      '',
    ],
  ];
}

/** A Markdown table: one row per figure, one column per store, then the target. */
export function renderTable(report: RunReport): string {
  const kinds = Object.keys(report.stores) as StoreKind[];
  const header = ['figure', ...kinds.map((k) => (k === 'sqlite' ? 'SQLite' : 'PostgreSQL')), 'target'];
  const lines = [header, header.map(() => '---')];
  if (report.bare) {
    const bare = report.bare;
    lines.push(['bare Fastify POST / GET req/s', ...kinds.map(() => `${n(bare.create.requestsPerS)} / ${n(bare.status?.requestsPerS) ?? '—'}`), '']);
    const cpu = bare.create.serverCpuUsPerRequest;
    if (cpu !== undefined) lines.push(['bare Fastify server CPU per POST, µs', ...kinds.map(() => n(cpu) ?? '—'), '']);
  }
  for (const [label, value, target] of ROWS) {
    const cells = kinds.map((k) => value(report.stores[k]!) ?? '—');
    if (cells.every((c) => c === '—')) continue;
    lines.push([label, ...cells, target]);
  }
  return lines.map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}
