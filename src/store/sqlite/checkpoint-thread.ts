// Owns: the thread side of the background checkpointer: its own connection to the database file, copying the WAL
// back into it every CHECKPOINT_EVERY_MS. Not here: starting and stopping it (checkpointer.ts).
// Invariant: it blocks the writer only to finish a checkpoint a PASSIVE one nearly did, once the WAL is past
// RESTART_AFTER_PAGES, for a tenth of a second at most, and not again for a second after a RESTART that came back busy.

import { parentPort, workerData } from 'node:worker_threads';
import { DatabaseSync } from 'node:sqlite';

const CHECKPOINT_EVERY_MS = 100;
/**
 * The WAL starts over only when a write begins with every frame copied back, which a passive checkpoint under steady
 * writes never achieves: its `log` and `checkpointed` are the frames there when it began, so it reports everything
 * copied while the writer has appended more. Past 16 MiB (of 4 KiB pages), whatever the passive one reported, a RESTART
 * checkpoint copies what it left (the frames written meanwhile) and holds the writer until the next write starts the
 * WAL afresh (and `journal_size_limit` trims the file). Until 2026-12-04 the RESTART ran only when the passive one
 * reported frames left, which under steady writes it never did: the WAL grew by 30 MB a second at 200 operations a
 * second, and the writes extending it stalled the event loop behind each checkpoint's fsync (bench/README.md, "A WAL
 * that never started over").
 */
const RESTART_AFTER_PAGES = 4_096;

const { path } = workerData as { path: string };
const db = new DatabaseSync(path);
// A RESTART first waits for the writer (holding nothing up meanwhile), then holds new writes off until the readers are
// done with the old frames. The store's transactions and reads are each one synchronous call, so both waits are short;
// a tenth of a second bounds them, where five seconds could hold the store's writes off for as long behind a reader of
// another process, and a busy one is not tried again for a second.
db.exec('PRAGMA busy_timeout = 100');
const passive = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const restart = db.prepare('PRAGMA wal_checkpoint(RESTART)');

/** Ticks without a RESTART after one came back busy, so a reader that holds on cannot keep the writer off in turns. */
const BUSY_BACKOFF_TICKS = 10;
let backoff = 0;
/** The WAL's length a RESTART left: it starts over at the next write, and until then there is nothing more to do. */
let restartedAt = -1;

const timer = setInterval(() => {
  try {
    const row = passive.get();
    const log = Number(row?.['log'] ?? 0);
    if (backoff > 0) {
      backoff -= 1;
      return;
    }
    // A passive checkpoint that copied fewer frames than it saw was held back by a reader: a RESTART would hold the
    // writer off while it waited for that reader, so the WAL waits for the reader instead.
    if (log <= RESTART_AFTER_PAGES || log === restartedAt || Number(row?.['checkpointed'] ?? 0) < log) return;
    const restarted = restart.get();
    if (Number(restarted?.['busy'] ?? 0) !== 0) backoff = BUSY_BACKOFF_TICKS;
    else restartedAt = Number(restarted?.['log'] ?? -1);
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
