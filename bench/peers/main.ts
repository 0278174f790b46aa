// Owns: one peer, one workload, in this process: `node bench/peers/main.ts <peer> <workload> '<settings JSON>'` prints
// one line `{"figures": …}` on stdout (or `node bench/peers/main.ts <peer> cleanup '<settings>'` after a crash).
// Not here: spawning, namespaces, dropping them (../peer-scenarios.ts). Invariant: the process exits once it reported.

import { readFileSync } from 'node:fs';
import type { PeerName, PeerSettings, Workload } from './figures.ts';
import { drain, enqueue, measureLatency, type PeerQueue } from './workloads.ts';

const [peer, workload, json] = process.argv.slice(2) as [PeerName, Workload | 'cleanup', string];
const settings = JSON.parse(json) as PeerSettings;

function version(pkg: string): string {
  const url = new URL(`./node_modules/${pkg}/package.json`, import.meta.url);
  return `${pkg} ${(JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version}`;
}

async function open(): Promise<{ queue: PeerQueue; version: string; config: string }> {
  switch (peer) {
    case 'bullmq': {
      const m = await import('./bullmq.ts');
      return { queue: m.open(settings), version: version('bullmq'), config: m.config };
    }
    case 'graphile-worker':
    case 'graphile-worker-batched': {
      const m = await import('./graphile-worker.ts');
      const batched = peer === 'graphile-worker-batched';
      return { queue: await m.open(settings, batched), version: version('graphile-worker'), config: batched ? m.config.batched : m.config.default };
    }
    case 'pg-boss': {
      const m = await import('./pg-boss.ts');
      return { queue: await m.open(settings), version: version('pg-boss'), config: m.config };
    }
    default:
      throw new Error(`unknown peer ${peer}`);
  }
}

if (workload === 'cleanup') {
  if (peer === 'bullmq') await (await import('./bullmq.ts')).cleanup(settings);
  process.exit(0);
}

const { queue, version: v, config } = await open();
let figures: unknown;
try {
  if (workload === 'enqueue') figures = await enqueue(queue, settings.enqueueS);
  else if (workload === 'drain') figures = await drain(queue, settings.drain);
  else figures = await measureLatency(queue, settings.latencyPerS, settings.latencyS);
} finally {
  await queue.close();
}
process.stdout.write(`${JSON.stringify({ version: v, config, figures })}\n`);
process.exit(0);
