// Owns: opening a SQLite database (pragmas), prepared statements, and the transaction helpers (one write, a group commit).
// Not here: migrations (migrate.ts), any query of the store's own tables (operations.ts, transitions.ts, ...).
// Invariant: a transaction is BEGIN IMMEDIATE … COMMIT with no await inside; on throw it rolls back; events are emitted
// only after COMMIT; a grouped write is all or nothing on its own (a savepoint) and settles only after the COMMIT.

import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { StoreEvent } from '../store.ts';
import { AsyncOpsError } from '../../domain/errors.ts';
import type { StoreFiles } from './store-files.ts';
import { isOutOfRoom } from '../storable.ts';

export function openDatabase(path: string): DatabaseSync {
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(path);
    configure(db);
    return db;
  } catch (error) {
    db?.close();
    // SQLite's own words name no file ("unable to open database file", "attempt to write a readonly database", "file
    // is not a database"): a mistyped path, a missing directory, a file that cannot be written or is not a store.
    throw storeOpenError(path, error);
  }
}

/** 16 MB of 4 KiB pages: where the store's own connection checkpoints while no thread does it. */
export const WAL_AUTOCHECKPOINT_PAGES = 4096;

/** An error opening the store at `path`, naming it: `store_unavailable`, as an embedder's submit or a request sees it. */
export function storeOpenError(path: string, error: unknown): AsyncOpsError {
  return new AsyncOpsError('store_unavailable', `cannot open the SQLite store at ${path}: ${(error as Error).message}`, { cause: error });
}

function configure(db: DatabaseSync): void {
  // WAL lets readers run beside the writer; NORMAL is durable across process crashes in WAL mode.
  // The timeout first: switching a new file to WAL while another process opens it is otherwise refused at once (BUSY).
  db.exec('PRAGMA busy_timeout = 5000');
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = NORMAL');
  // Until a busy store hands checkpoints to a thread of their own (checkpointer.ts, after 500 commits), they run inside
  // some unlucky COMMIT, once the WAL is past 16 MB: at 10,000 pages (fewer, larger checkpoints, bench/README.md) a
  // store's first commits of large inputs grew it to 40 MB, and filled a small disk. The size limit trims the WAL file
  // back after a checkpoint.
  db.exec(`PRAGMA wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
  db.exec('PRAGMA journal_size_limit = 16777216');
  db.exec('PRAGMA foreign_keys = ON');
  // Statement journals in memory: the savepoint under each write of a group commit, and a multi-row UPDATE, journal
  // the pages they change, and on disk each transaction past 64 KiB of them opened, wrote page by page and unlinked a
  // temporary file (bench/README.md, "Statement journals in memory"). Temporary b-trees live in memory too.
  db.exec('PRAGMA temp_store = MEMORY');
}

/** Prepares each named statement once, for the life of the store. */
export function prepareAll<K extends string>(db: DatabaseSync, sql: Readonly<Record<K, string>>): Record<K, StatementSync> {
  const entries = Object.entries<string>(sql).map(([name, text]) => [name, db.prepare(text)]);
  return Object.fromEntries(entries) as Record<K, StatementSync>;
}

/** Statements whose text depends on a query's filters, prepared on first use and kept by their text. */
export class StatementCache {
  #db: DatabaseSync;
  #statements = new Map<string, StatementSync>();

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  get(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }
}

/** Primary result codes (an extended code's low byte) of a write the file could not take, whatever was written. */
const FILE_FAILURES: ReadonlyMap<number, string> = new Map([
  [5, 'another connection held the database file locked for longer than the busy timeout'], // SQLITE_BUSY
  [8, 'the database file is read-only'], // SQLITE_READONLY
  [10, 'a disk I/O error'], // SQLITE_IOERR
  [13, 'the disk is full'], // SQLITE_FULL
  [11, 'the database file is damaged (restore it from a backup: docs/reliability.md)'], // SQLITE_CORRUPT
  [14, 'the database file cannot be opened'], // SQLITE_CANTOPEN
  [26, 'the database file is not a store (restore it from a backup: docs/reliability.md)'], // SQLITE_NOTADB
]);

/**
 * What the file itself refused (locked by another process past busy_timeout, a full disk, a file made read-only, a
 * damaged page), to a write or a read, is the store not answering, a 503 store_unavailable, not a 500: the request
 * was fine.
 */
export function unavailableIfFileFailed(err: unknown): unknown {
  const code = (err as { errcode?: unknown } | null)?.errcode;
  const why = typeof code === 'number' ? FILE_FAILURES.get(code & 0xff) : undefined;
  return why === undefined ? err : new AsyncOpsError('store_unavailable', `SQLite: ${why}`, { cause: err });
}

/** Runs synchronous work as one write transaction and hands the events it collected to `emit` after COMMIT. */
export class Transactor {
  #begin: StatementSync;
  #commit: StatementSync;
  #rollback: StatementSync;
  #db: DatabaseSync;
  #emit: (events: readonly StoreEvent[]) => void;

  #onCommit: () => void;
  #files: StoreFiles | null;

  /**
   * `onCommit` runs after each COMMIT, before the events go out. `files`: each transaction first checks that the store's
   * files are the ones opened, and tells it how each write went.
   */
  constructor(db: DatabaseSync, emit: (events: readonly StoreEvent[]) => void, onCommit: () => void = () => {}, files: StoreFiles | null = null) {
    this.#begin = db.prepare('BEGIN IMMEDIATE');
    this.#commit = db.prepare('COMMIT');
    this.#rollback = db.prepare('ROLLBACK');
    this.#db = db;
    this.#emit = emit;
    this.#onCommit = onCommit;
    this.#files = files;
  }

  /** A write inside the transaction under way failed on its own (one of a group): a full disk is noted for /readyz. */
  failedWithin(err: unknown): void {
    this.#files?.failed(isOutOfRoom(err));
  }

  run<T>(work: (events: StoreEvent[]) => T): T {
    const events: StoreEvent[] = [];
    this.#files?.check();
    try {
      this.#begin.run();
    } catch (err) {
      this.#files?.failed(isOutOfRoom(err));
      throw unavailableIfFileFailed(err);
    }
    let value: T;
    try {
      value = work(events);
      this.#commit.run();
    } catch (err) {
      // Some errors (SQLITE_FULL, interrupts) end the transaction themselves; a second ROLLBACK would hide them.
      if (this.#db.isTransaction) this.#rollback.run();
      this.#files?.failed(isOutOfRoom(err));
      throw unavailableIfFileFailed(err);
    }
    this.#files?.committed();
    this.#onCommit();
    if (events.length > 0) this.#emit(events);
    return value;
  }
}

interface Grouped {
  readonly work: (events: StoreEvent[]) => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Group commit: writes asked for in the same turn of the event loop run in one transaction, each under a
 * savepoint, so one that throws is undone alone. The per-transaction cost (BEGIN, the WAL append and lock
 * handling at COMMIT) is a large part of ending a short attempt (bench/README.md), and the attempts of a busy
 * pool end in bursts.
 */
export class GroupCommit {
  #db: DatabaseSync;
  #tx: Transactor;
  #savepoint: StatementSync;
  #release: StatementSync;
  #rollbackTo: StatementSync;
  #queue: Grouped[] = [];
  #scheduled: NodeJS.Immediate | null = null;

  constructor(db: DatabaseSync, tx: Transactor) {
    this.#db = db;
    this.#tx = tx;
    this.#savepoint = db.prepare('SAVEPOINT grouped');
    this.#release = db.prepare('RELEASE grouped');
    this.#rollbackTo = db.prepare('ROLLBACK TO grouped');
  }

  run<T>(work: (events: StoreEvent[]) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      this.#scheduled ??= setImmediate(() => this.flush());
    });
  }

  /** Commits what is queued now (the store calls it before closing the database). */
  flush(): void {
    if (this.#scheduled !== null) clearImmediate(this.#scheduled);
    this.#scheduled = null;
    const batch = this.#queue;
    this.#queue = [];
    if (batch.length === 0) return;
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      this.#tx.run((events) => {
        for (const item of batch) {
          const mark = events.length;
          this.#savepoint.run();
          try {
            const value = item.work(events);
            this.#release.run();
            outcomes.push({ ok: true, value });
          } catch (error) {
            // An error that ended the whole transaction (SQLITE_FULL, an interrupt) fails the group with its own message.
            if (!this.#db.isTransaction) throw error;
            this.#rollbackTo.run();
            this.#release.run();
            events.length = mark;
            // A full disk may fail one statement and leave the transaction open: still the store, not the request.
            this.#tx.failedWithin(error);
            outcomes.push({ ok: false, error: unavailableIfFileFailed(error) });
          }
        }
      });
    } catch (error) {
      for (const item of batch) item.reject(error);
      return;
    }
    batch.forEach((item, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) item.resolve(outcome.value);
      else item.reject(outcome.error);
    });
  }
}
