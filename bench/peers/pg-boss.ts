// Owns: pg-boss as a PeerQueue, tuned as its docs describe for throughput and latency: LISTEN/NOTIFY on, batches
// fetched and completed together with burst fetching while batches come back full, the shortest polling interval.
// Not here: the workloads. Invariant: everything lives in the harness's schema, which the harness drops afterwards.

import { PgBoss } from 'pg-boss';
import type { PeerSettings } from './figures.ts';
import type { Hooks, PeerQueue } from './workloads.ts';

const NAME = 'bench';
// One worker fetching and completing batches of 10 = 10 jobs in flight, the same concurrency as everyone. Of the splits
// that keep 10 in flight, 1 × 10 drained fastest (bench/README.md); BENCH_PGBOSS_WORKERS tries another.
const LOCAL_CONCURRENCY = Number(process.env.BENCH_PGBOSS_WORKERS ?? 1);

export const config = `useListenNotify + queue notify, ${LOCAL_CONCURRENCY} workers × batchSize ${10 / LOCAL_CONCURRENCY}, burstWhenBatchFull, pollingIntervalSeconds 0.5`;

// pg-boss tells its user nothing when a job's completion is written, so the bench wraps the method that writes it
// (the class behind the public complete(); imported by path because the package does not export it).
const managerUrl = new URL('./node_modules/pg-boss/dist/manager.js', import.meta.url).href;
let onCompleted: (ids: readonly unknown[]) => void = () => {};
const Manager = (await import(managerUrl)).default as { prototype: { complete: (...args: unknown[]) => Promise<unknown> } };
const complete = Manager.prototype.complete;
Manager.prototype.complete = async function (this: unknown, ...args: unknown[]) {
  const result = await complete.apply(this, args);
  onCompleted(Array.isArray(args[1]) ? args[1] : [args[1]]);
  return result;
};

export async function open(settings: PeerSettings): Promise<PeerQueue> {
  const boss = new PgBoss({ connectionString: settings.pgUrl, schema: settings.namespace, useListenNotify: true, max: 12 });
  boss.on('error', (err) => process.stderr.write(`pg-boss: ${err instanceof Error ? err.message : String(err)}\n`));
  await boss.start();
  await boss.createQueue(NAME, { notify: true });
  return {
    async add(i) {
      await boss.send(NAME, { i });
    },
    async addMany(count) {
      for (let from = 0; from < count; from += 1_000) {
        const n = Math.min(1_000, count - from);
        await boss.insert(
          NAME,
          Array.from({ length: n }, (_, k) => ({ data: { i: from + k } })),
        );
      }
    },
    async work(hooks: Hooks) {
      const index = new Map<string, number>();
      onCompleted = (jobs) => {
        for (const job of jobs) {
          const id = typeof job === 'string' ? job : (job as { id: string }).id;
          const i = index.get(id);
          if (i !== undefined) hooks.done(i);
        }
      };
      const batchSize = settings.concurrency / LOCAL_CONCURRENCY;
      await boss.work<{ i: number }>(
        NAME,
        { localConcurrency: LOCAL_CONCURRENCY, batchSize, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 },
        async (jobs) => {
          for (const job of jobs) {
            index.set(job.id, job.data.i);
            hooks.started(job.data.i);
          }
        },
      );
    },
    async close() {
      await boss.stop({ graceful: true, timeout: 5_000 });
    },
  };
}
