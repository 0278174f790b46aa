// Owns: graphile-worker as a PeerQueue, twice: its defaults, and batched as its performance page advises (a local
// queue of 500, completions batched, prepared statements, as it does by default). Not here: the workloads.
// Invariant: everything lives in the harness's schema, which the harness drops afterwards.

import { EventEmitter } from 'node:events';
import { Logger, makeWorkerUtils, type Runner, run, type WorkerUtils } from 'graphile-worker';
import type { PeerSettings } from './figures.ts';
import type { Hooks, PeerQueue } from './workloads.ts';

export const config = {
  default: 'defaults (concurrentJobs 10, pool of 10, LISTEN/NOTIFY, poll 2 s); per-job success logs off',
  batched: 'localQueue.size 500, completeJobBatchDelay 0, failJobBatchDelay 0, preparedStatements on, pool 12; logs off',
};

// The console logger writes a line per completed job; a user running a backlog turns that off, and so do we.
const quiet = new Logger(() => (level, message) => {
  if (level === 'error' || level === 'warning') process.stderr.write(`graphile-worker ${level}: ${message}\n`);
});

export async function open(settings: PeerSettings, batched: boolean): Promise<PeerQueue> {
  const shared = { connectionString: settings.pgUrl, schema: settings.namespace, logger: quiet };
  const utils: WorkerUtils = await makeWorkerUtils(shared);
  await utils.migrate();
  let runner: Runner | null = null;
  return {
    async add(i) {
      await utils.addJob('noop', { i });
    },
    async addMany(count) {
      for (let from = 0; from < count; from += 1_000) {
        const n = Math.min(1_000, count - from);
        await utils.addJobs(Array.from({ length: n }, (_, k) => ({ identifier: 'noop', payload: { i: from + k } })));
      }
    },
    async work(hooks: Hooks) {
      const events = new EventEmitter();
      // Emitted once the job's completion is handed to the pool (written at once, or in the next batch when batched).
      events.on('job:complete', ({ job, error }) => {
        if (!error) hooks.done((job.payload as { i: number }).i);
      });
      runner = await run({
        ...shared,
        concurrency: settings.concurrency,
        noHandleSignals: true,
        events: events as never,
        taskList: {
          noop: async (payload) => {
            hooks.started((payload as { i: number }).i);
          },
        },
        preset: batched
          ? {
              worker: {
                concurrentJobs: settings.concurrency,
                maxPoolSize: settings.concurrency + 2,
                preparedStatements: true,
                localQueue: { size: 500 },
                completeJobBatchDelay: 0,
                failJobBatchDelay: 0,
              },
            }
          : { worker: { concurrentJobs: settings.concurrency } },
      });
    },
    async close() {
      await runner?.stop();
      await utils.release();
    },
  };
}
