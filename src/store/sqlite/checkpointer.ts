// Owns: checkpointing a SQLite file's WAL on a thread of its own, so no commit of the store's connection pays for it.
// Not here: the thread's loop (checkpoint-thread.ts), the store's connection and pragmas (database.ts).
// Invariant: while it runs, the store's connection does not checkpoint (wal_autocheckpoint = 0); stop() ends the thread.

import { Worker } from 'node:worker_threads';
import { once } from 'node:events';

// Beside this file: .ts when run from source, .js in the built package.
const ENTRY = new URL(`./checkpoint-thread${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/**
 * SQLite checkpoints inside whichever COMMIT crosses wal_autocheckpoint: that commit copies thousands of pages and
 * waits for fsync, stalling the event loop for tens of milliseconds, which shows in the pickup latency's tail
 * (bench/README.md). A passive checkpoint on another connection runs beside the writer instead.
 */
export class Checkpointer {
  readonly #worker: Worker;
  #stopping = false;

  /** `onGone`: the thread ended without stop() (it crashed): checkpoints must go back to the store's connection. */
  constructor(path: string, onError: (error: Error) => void, onGone: () => void) {
    this.#worker = new Worker(ENTRY, { workerData: { path } });
    // Housekeeping must not keep the process alive.
    this.#worker.unref();
    this.#worker.on('message', (message: { kind: string; message?: string }) => {
      if (message.kind === 'error') onError(new Error(`WAL checkpoint failed: ${message.message}`));
    });
    this.#worker.on('error', onError);
    this.#worker.on('exit', () => {
      if (!this.#stopping) onGone();
    });
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    // Unreferenced, the thread would not keep the process alive long enough to see it exit.
    this.#worker.ref();
    const exited = once(this.#worker, 'exit');
    this.#worker.postMessage({ kind: 'stop' });
    await exited;
  }
}
