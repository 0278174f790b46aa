// Owns: BullMQ (Redis) as a PeerQueue: its defaults, a Worker at concurrency 10, keys under the harness's prefix.
// Not here: the workloads (workloads.ts). Invariant: close() removes every key this run made under its prefix.

import { Queue, Worker } from 'bullmq';
import type { PeerSettings } from './figures.ts';
import type { Hooks, PeerQueue } from './workloads.ts';

const NAME = 'bench';

export const config = 'defaults; Worker concurrency 10';

/** All of the URL, as ioredis reads one: user and password, the database number (`/5`), TLS for `rediss:`. */
function connectionOf(settings: PeerSettings) {
  const url = new URL(settings.redisUrl);
  return {
    host: url.hostname,
    port: Number(url.port || 6379),
    ...(url.username === '' ? {} : { username: decodeURIComponent(url.username) }),
    ...(url.password === '' ? {} : { password: decodeURIComponent(url.password) }),
    db: Number(url.pathname.slice(1) || 0),
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
  };
}

export function open(settings: PeerSettings): PeerQueue {
  const connection = connectionOf(settings);
  const queue = new Queue(NAME, { connection, prefix: settings.namespace });
  let worker: Worker | null = null;
  return {
    async add(i) {
      await queue.add('noop', { i });
    },
    async addMany(count) {
      for (let from = 0; from < count; from += 1_000) {
        const n = Math.min(1_000, count - from);
        await queue.addBulk(Array.from({ length: n }, (_, k) => ({ name: 'noop', data: { i: from + k } })));
      }
    },
    async work(hooks: Hooks) {
      worker = new Worker(
        NAME,
        async (job) => {
          hooks.started(job.data.i);
        },
        { connection, prefix: settings.namespace, concurrency: settings.concurrency },
      );
      // Emitted once moveToCompleted has returned from Redis.
      worker.on('completed', (job) => hooks.done(job.data.i));
      worker.on('error', (err) => process.stderr.write(`bullmq worker: ${err.message}\n`));
      await worker.waitUntilReady();
    },
    async close() {
      await worker?.close();
      await queue.obliterate({ force: true });
      await queue.close();
    },
  };
}

/** Removes what a crashed run left under its prefix. */
export async function cleanup(settings: PeerSettings): Promise<void> {
  const queue = new Queue(NAME, { connection: connectionOf(settings), prefix: settings.namespace });
  try {
    await queue.obliterate({ force: true });
  } finally {
    await queue.close();
  }
}
