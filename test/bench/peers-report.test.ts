import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { comparePeers, renderPeersTable } from '../../bench/peers-report.ts';
import type { PeerFigures } from '../../bench/peers/figures.ts';
import type { RunReport } from '../../bench/report.ts';

const latency = (p50Ms: number, p99Ms: number) => ({ p50Ms, p95Ms: p99Ms, p99Ms, maxMs: p99Ms });
const peer = (enqueue: number, drain: number, startP99: number): PeerFigures => ({
  version: 'x 1.0.0',
  config: 'defaults',
  enqueue: { jobs: enqueue, perS: enqueue },
  drain: { jobs: 10_000, perS: drain, seconds: 10_000 / drain },
  latency: { offeredPerS: 200, jobs: 600, addToStart: latency(1, startP99), addToDone: latency(2, startP99 + 1) },
});

function report(): RunReport {
  const load = { requestsPerS: 1, p50Ms: 1, p99Ms: 1, requests: 1, failures: 0 };
  return {
    startedAt: '2026-12-02T00:00:00.000Z',
    mode: 'quick',
    command: 'npm run bench -- --peers',
    machine: { cpus: 2, model: 'test', memoryGb: 1, note: '' },
    node: 'v24',
    commit: null,
    settings: {},
    otel: false,
    stores: {
      sqlite: {
        enqueue: { jobs: 9000, perS: 9000, p50Ms: 0, p99Ms: 1 },
        drain: { operations: 10_000, perS: 30_000, seconds: 0.33, workerCpuUsPerOp: 90, databaseCpuUsPerOp: null },
        pickup: { offeredPerS: 200, seconds: 3, operations: 600, createdToStarted: latency(1.5, 3), createdToCompleted: latency(2, 4) },
        http: {
          create: { ...load, ratioToBare: 0.6 },
          createMinimal: { ...load, ratioToBare: 0.7 },
          status: { ...load, ratioToBare: 0.9 },
          statusUncached: { ...load, ratioToBare: 0.2 },
        },
      },
      postgres: { drain: { operations: 10_000, perS: 5_000, seconds: 2, workerCpuUsPerOp: 120, databaseCpuUsPerOp: 250 } },
    },
    peers: {
      settings: { enqueueS: 2, drain: 10_000, latencyPerS: 200, latencyS: 3, concurrency: 10 },
      peers: { bullmq: peer(8000, 12_000, 2.5), 'graphile-worker-batched': peer(900, 40_000, 4), 'pg-boss': peer(1000, 4000, 5) },
    },
    skipped: [],
  };
}

describe('bench peers table', () => {
  it('compares each asyncops figure with the best peer in the direction that is better', () => {
    const { comparison } = comparePeers(report());
    const enqueue = comparison[0]!;
    assert.deepEqual(enqueue.best, { peer: 'bullmq', value: 8000 });
    assert.equal(enqueue.ratio.sqlite, 1.125);
    assert.equal(enqueue.ratio.postgres, undefined);
    const drain = comparison[1]!;
    assert.deepEqual(drain.best, { peer: 'graphile-worker-batched', value: 40_000 });
    assert.equal(drain.ratio.postgres, 0.125);
    const startP99 = comparison[3]!;
    assert.equal(startP99.better, 'lower');
    assert.deepEqual(startP99.best, { peer: 'bullmq', value: 2.5 });
    assert.equal(startP99.ratio.sqlite, 1.2);
  });

  it('states each target as met, missed or not measured', () => {
    const { targets } = comparePeers(report());
    const byName = Object.fromEntries(targets.map((t) => [t.target.split(' (')[0], t]));
    assert.deepEqual(byName['PostgreSQL drain ≥ graphile-worker batched'], {
      target: 'PostgreSQL drain ≥ graphile-worker batched (ratio ≥ 1)',
      value: 0.125,
      met: false,
    });
    assert.equal(byName['SQLite drain ≥ 2 × BullMQ']!.met, true);
    assert.equal(byName["SQLite created→started p99 incl. HTTP ≤ best peer's add→start p99"]!.met, false);
    assert.equal(byName["PostgreSQL created→started p99 incl. HTTP ≤ best peer's add→start p99"]!.met, null);
    assert.equal(byName['SQLite create ≥ 50 % of bare Fastify']!.met, true);
  });

  it('judges a target on the exact ratio, not the one shown (0.9996 is not 1), and reads the creates of --only create', () => {
    const near = report();
    const stores = { ...near.stores, postgres: { drain: { ...near.stores.postgres!.drain!, perS: 39_984 } } };
    const { targets } = comparePeers({ ...near, stores });
    const drain = targets.find((t) => t.target.startsWith('PostgreSQL drain'))!;
    assert.deepEqual([drain.value, drain.met], [1, false]);
    const { http, ...rest } = near.stores.sqlite!;
    const onlyCreate = comparePeers({ ...near, stores: { ...near.stores, sqlite: { ...rest, create: http! } } });
    assert.equal(onlyCreate.targets.find((t) => t.target.startsWith('SQLite create ≥'))!.met, true);
  });

  it('says when a target on the best peer was judged against only the peers measured', () => {
    const partial = report();
    const peers = { ...partial.peers!, peers: { bullmq: partial.peers!.peers.bullmq! } };
    const { targets } = comparePeers({ ...partial, peers });
    const p99 = targets.find((t) => t.target.startsWith('SQLite created→started p99'))!;
    assert.deepEqual(p99.onlyAgainst, ['bullmq']);
    assert.equal(targets.find((t) => t.target.startsWith('PostgreSQL drain'))!.met, null, 'its peer was not measured');
    const all = report();
    const everyPeer = { ...all.peers!, peers: { ...all.peers!.peers, 'graphile-worker': peer(800, 3000, 6) } };
    assert.equal(comparePeers({ ...all, peers: everyPeer }).targets.find((t) => t.target.startsWith('SQLite created→started p99'))!.onlyAgainst, undefined);
    assert.ok(
      renderPeersTable({ ...partial, peers })
        .split('\n')
        .includes(
          "| SQLite created→started p99 incl. HTTP ≤ best peer's add→start p99 (ratio ≤ 1) | 1.20× | missed (against BullMQ only: the others were not measured) |",
        ),
    );
  });

  it('renders the figures, the ratios with their good direction, every peer present and the targets', () => {
    const table = renderPeersTable(report());
    const lines = table.split('\n');
    assert.match(lines[0]!, /SQLite ÷ best \(good: > 1 if higher is better, < 1 if lower\)/);
    assert.match(lines[0]!, /\| BullMQ \| graphile-worker batched \| pg-boss tuned \|$/);
    assert.ok(
      lines.includes(
        '| Drain 10,000 no-ops at concurrency 10, jobs/s | higher | 30,000 | 5,000 | 40,000 (graphile-worker batched) | 0.75× | 0.13× | 12,000 | 40,000 | 4,000 |',
      ),
    );
    assert.ok(lines.includes('| add→start p99, ms | lower | 3.00 | — | 2.50 (BullMQ) | 1.20× | — | 2.50 | 4.00 | 5.00 |'));
    assert.ok(lines.includes('| PostgreSQL drain ≥ graphile-worker batched (ratio ≥ 1) | 0.13× | missed |'));
    assert.ok(lines.includes('| SQLite create ≥ 50 % of bare Fastify (share) | 60.0 % | met |'));
    assert.ok(lines.some((l) => l.startsWith('| BullMQ | x 1.0.0 | defaults |')));
    assert.equal(renderPeersTable({ ...report(), peers: undefined }), '');
  });
});
