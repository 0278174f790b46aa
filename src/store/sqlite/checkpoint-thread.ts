// Owns: the thread side of the background checkpointer: its own connection to the database file, copying the WAL
// back into it every CHECKPOINT_EVERY_MS. Not here: starting and stopping it (checkpointer.ts).
// Invariant: it blocks the writer only to finish a checkpoint a PASSIVE one nearly did, once the WAL is past
// RESTART_AFTER_PAGES.

import { parentPort, workerData } from 'node:worker_threads';
import { DatabaseSync } from 'node:sqlite';

const CHECKPOINT_EVERY_MS = 100;
/**
 * The WAL starts over only when a write begins with every frame copied back, which a passive checkpoint under steady
 * writes never quite achieves, so the file would grow without end. Past 16 MiB (of 4 KiB pages), a RESTART checkpoint
 * copies what the passive one left (a few frames) and holds the writer until the next write can start the WAL afresh.
 */
const RESTART_AFTER_PAGES = 4_096;

const { path } = workerData as { path: string };
const db = new DatabaseSync(path);
db.exec('PRAGMA busy_timeout = 5000');
const passive = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const restart = db.prepare('PRAGMA wal_checkpoint(RESTART)');

const timer = setInterval(() => {
  try {
    const row = passive.get();
    const log = Number(row?.['log'] ?? 0);
    if (log > RESTART_AFTER_PAGES && Number(row?.['checkpointed'] ?? 0) < log) restart.get();
  } catch (error) {
    parentPort?.postMessage({ kind: 'error', message: (error as Error).message });
  }
}, CHECKPOINT_EVERY_MS);

parentPort?.on('message', (message: { kind: string }) => {
  if (message.kind !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort?.close();
});
