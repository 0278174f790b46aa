// Owns: the side-by-side view of asyncops and its peers: each asyncops figure beside the best peer's with the ratio,
// every peer's raw figure, the targets met or not, as data for the JSON (comparePeers) and as Markdown
// (renderPeersTable). Not here: measuring (peer-scenarios.ts, bench/peers/). Invariant: pure functions of the report.

import type { PeerFigures, PeerName } from './peers/figures.ts';
import { PEERS } from './peers/figures.ts';
import { createsOf, type RunReport, type StoreFigures } from './report.ts';
import type { StoreKind } from './stores.ts';

export interface PeersReport {
  readonly settings: {
    readonly enqueueS: number;
    readonly drain: number;
    readonly latencyPerS: number;
    readonly latencyS: number;
    readonly concurrency: number;
  };
  readonly peers: Partial<Record<PeerName, PeerFigures>>;
  /** Filled in by comparePeers once every figure is in. */
  comparison?: readonly ComparedFigure[];
  targets?: readonly TargetResult[];
}

export interface ComparedFigure {
  readonly figure: string;
  readonly better: 'higher' | 'lower';
  readonly asyncops: Partial<Record<StoreKind, number>>;
  readonly peers: Partial<Record<PeerName, number>>;
  readonly best: { readonly peer: PeerName; readonly value: number } | null;
  /** asyncops ÷ the best peer: above 1 is better where higher is, below 1 where lower is. */
  readonly ratio: Partial<Record<StoreKind, number>>;
}

export interface TargetResult {
  readonly target: string;
  /** The figure the target is on (a ratio or a share, to three decimals), null when one side was not measured. */
  readonly value: number | null;
  /** Judged on the exact figure, not the rounded one. */
  readonly met: boolean | null;
  /** Set when the target is on the best of all peers and some were not measured: the peers it was judged against. */
  readonly onlyAgainst?: readonly PeerName[];
}

interface FigureSpec {
  readonly figure: string;
  readonly better: 'higher' | 'lower';
  readonly ours: (s: StoreFigures) => number | undefined;
  readonly theirs: (p: PeerFigures) => number | undefined;
}

const FIGURES: readonly FigureSpec[] = [
  { figure: 'Enqueue one at a time, jobs/s (asyncops: POST over HTTP)', better: 'higher', ours: (s) => s.enqueue?.perS, theirs: (p) => p.enqueue?.perS },
  { figure: 'Drain 10,000 no-ops at concurrency 10, jobs/s', better: 'higher', ours: (s) => s.drain?.perS, theirs: (p) => p.drain?.perS },
  {
    figure: 'add→start p50 at 200/s, ms (asyncops: incl. HTTP)',
    better: 'lower',
    ours: (s) => s.pickup?.createdToStarted.p50Ms,
    theirs: (p) => p.latency?.addToStart.p50Ms,
  },
  { figure: 'add→start p99, ms', better: 'lower', ours: (s) => s.pickup?.createdToStarted.p99Ms, theirs: (p) => p.latency?.addToStart.p99Ms },
  { figure: 'add→done p50, ms', better: 'lower', ours: (s) => s.pickup?.createdToCompleted.p50Ms, theirs: (p) => p.latency?.addToDone.p50Ms },
  { figure: 'add→done p99, ms', better: 'lower', ours: (s) => s.pickup?.createdToCompleted.p99Ms, theirs: (p) => p.latency?.addToDone.p99Ms },
];

const KINDS: readonly StoreKind[] = ['sqlite', 'postgres'];
const exactRatioOf = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || b === 0 ? undefined : a / b);
/** Shown and written to three decimals; a target is judged on the exact ratio (0.9996 is not ≥ 1). */
const rounded = (v: number) => Math.round(v * 1000) / 1000;
const ratioOf = (a: number | undefined, b: number | undefined) => {
  const exact = exactRatioOf(a, b);
  return exact === undefined ? undefined : rounded(exact);
};

export function comparePeers(report: RunReport): { comparison: ComparedFigure[]; targets: TargetResult[] } {
  const peers = report.peers?.peers ?? {};
  const comparison = FIGURES.map((spec): ComparedFigure => {
    const asyncops: Partial<Record<StoreKind, number>> = {};
    for (const kind of KINDS) {
      const value = report.stores[kind] && spec.ours(report.stores[kind]);
      if (value !== undefined && !Number.isNaN(value)) asyncops[kind] = value;
    }
    const theirs: Partial<Record<PeerName, number>> = {};
    let best: ComparedFigure['best'] = null;
    for (const peer of PEERS) {
      const value = peers[peer] && spec.theirs(peers[peer]);
      if (value === undefined || Number.isNaN(value)) continue;
      theirs[peer] = value;
      if (best === null || (spec.better === 'higher' ? value > best.value : value < best.value)) best = { peer, value };
    }
    const ratio: Partial<Record<StoreKind, number>> = {};
    for (const kind of KINDS) {
      const r = ratioOf(asyncops[kind], best?.value);
      if (r !== undefined) ratio[kind] = r;
    }
    return { figure: spec.figure, better: spec.better, asyncops, peers: theirs, best, ratio };
  });
  const drainOf = (peer: PeerName) => peers[peer]?.drain?.perS;
  const bestStartP99 = comparison[3]!.best?.value;
  // The best of the peers measured: with some missing (their database did not answer), a target against "the best
  // peer" is judged against fewer, which the result says.
  const measuredPeers = PEERS.filter((p) => peers[p] !== undefined);
  const target = (name: string, value: number | undefined, met: (v: number) => boolean, againstBest = false): TargetResult => {
    if (value === undefined || Number.isNaN(value)) return { target: name, value: null, met: null };
    const partial = againstBest && measuredPeers.length < PEERS.length ? { onlyAgainst: measuredPeers } : {};
    return { target: name, value: rounded(value), met: met(value), ...partial };
  };
  const targets = [
    target(
      'PostgreSQL drain ≥ graphile-worker batched (ratio ≥ 1)',
      exactRatioOf(report.stores.postgres?.drain?.perS, drainOf('graphile-worker-batched')),
      (v) => v >= 1,
    ),
    target('SQLite drain ≥ 2 × BullMQ (ratio ≥ 2)', exactRatioOf(report.stores.sqlite?.drain?.perS, drainOf('bullmq')), (v) => v >= 2),
    ...KINDS.map((kind) =>
      target(
        `${label(kind)} created→started p99 incl. HTTP ≤ best peer's add→start p99 (ratio ≤ 1)`,
        exactRatioOf(report.stores[kind]?.pickup?.createdToStarted.p99Ms, bestStartP99),
        (v) => v <= 1,
        true,
      ),
    ),
    target('SQLite create ≥ 50 % of bare Fastify (share)', createsOf(report.stores.sqlite)?.create.ratioToBare, (v) => v >= 0.5),
    target('PostgreSQL create ≥ 25 % of bare Fastify (share)', createsOf(report.stores.postgres)?.create.ratioToBare, (v) => v >= 0.25),
  ];
  return { comparison, targets };
}

const label = (kind: StoreKind) => (kind === 'sqlite' ? 'SQLite' : 'PostgreSQL');
const PEER_LABELS: Record<PeerName, string> = {
  bullmq: 'BullMQ',
  'graphile-worker': 'graphile-worker',
  'graphile-worker-batched': 'graphile-worker batched',
  'pg-boss': 'pg-boss tuned',
};

function num(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return '—';
  return v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toLocaleString('en-US', { maximumFractionDigits: 2, minimumFractionDigits: 2 });
}
const ratio = (v: number | undefined) => (v === undefined ? '—' : `${v.toFixed(2)}×`);

/** Three Markdown tables: the figures side by side, the targets, what each peer ran with. */
export function renderPeersTable(report: RunReport): string {
  if (report.peers === undefined) return '';
  const { comparison, targets } =
    report.peers.comparison && report.peers.targets ? { comparison: report.peers.comparison, targets: report.peers.targets } : comparePeers(report);
  const present = PEERS.filter((p) => report.peers!.peers[p] !== undefined);
  const header = [
    'figure',
    'better',
    'asyncops SQLite',
    'asyncops PostgreSQL',
    'best peer',
    'SQLite ÷ best (good: > 1 if higher is better, < 1 if lower)',
    'PostgreSQL ÷ best',
    ...present.map((p) => PEER_LABELS[p]),
  ];
  const rows = comparison.map((c) => [
    c.figure,
    c.better,
    num(c.asyncops.sqlite),
    num(c.asyncops.postgres),
    c.best ? `${num(c.best.value)} (${PEER_LABELS[c.best.peer]})` : '—',
    ratio(c.ratio.sqlite),
    ratio(c.ratio.postgres),
    ...present.map((p) => num(c.peers[p])),
  ]);
  const table = (lines: string[][]) => [lines[0]!, lines[0]!.map(() => '---'), ...lines.slice(1)].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
  const targetRows = targets.map((t) => [
    t.target,
    t.value === null ? '—' : t.target.includes('share') ? `${(t.value * 100).toFixed(1)} %` : `${t.value.toFixed(2)}×`,
    (t.met === null ? 'not measured' : t.met ? 'met' : 'missed') +
      (t.onlyAgainst === undefined ? '' : ` (against ${t.onlyAgainst.map((p) => PEER_LABELS[p]).join(', ') || 'no peer'} only: the others were not measured)`),
  ]);
  const configRows = present.map((p) => [PEER_LABELS[p], report.peers!.peers[p]!.version, report.peers!.peers[p]!.config]);
  return [
    table([header, ...rows]),
    table([['target', 'measured', ''], ...targetRows]),
    table([['peer', 'version', 'configuration (concurrency 10 for all)'], ...configRows]),
  ].join('\n\n');
}
