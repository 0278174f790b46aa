// Owns: opening a SQLite database (pragmas), applying the numbered migrations, and the one transaction helper.
// Not here: any query of the store's own tables (operations.ts, deliveries.ts).
// Invariant: a transaction is BEGIN IMMEDIATE … COMMIT with no await inside; on throw it rolls back; events are emitted only after COMMIT.

import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { StoreEvent } from '../store.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
const MIGRATION_FILE = /^(\d{4})_[a-z0-9_]+\.sql$/;

export function openDatabase(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  // WAL lets readers run beside the writer; NORMAL is durable across process crashes in WAL mode.
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA busy_timeout = 5000');
  db.exec('PRAGMA synchronous = NORMAL');
  // Checkpoints (with their fsyncs) run inside some unlucky COMMIT; fewer, larger ones cost the queue less (~25% CPU
  // per claim+finish measured). The size limit trims the WAL file back after a checkpoint.
  db.exec('PRAGMA wal_autocheckpoint = 10000');
  db.exec('PRAGMA journal_size_limit = 67108864');
  db.exec('PRAGMA foreign_keys = ON');
  return db;
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

/** Apply the migrations not yet recorded in schema_migrations, each in its own transaction, in number order. */
export function migrate(db: DatabaseSync, now: number): string[] {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT');
  const files = readdirSync(MIGRATIONS_DIR).filter((f) => MIGRATION_FILE.test(f)).sort();
  const applied: string[] = [];
  for (const file of files) {
    const version = Number(file.slice(0, 4));
    db.exec('BEGIN IMMEDIATE');
    try {
      // Checked inside the write lock so two processes opening one file at once apply each migration once.
      const done = db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(version);
      if (done === undefined) {
        db.exec(readFileSync(MIGRATIONS_DIR + file, 'utf8'));
        db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(version, file, now);
        applied.push(file);
      }
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
  }
  return applied;
}

/** Runs synchronous work as one write transaction and hands the events it collected to `emit` after COMMIT. */
export class Transactor {
  #begin: StatementSync;
  #commit: StatementSync;
  #rollback: StatementSync;
  #db: DatabaseSync;
  #emit: (events: readonly StoreEvent[]) => void;

  constructor(db: DatabaseSync, emit: (events: readonly StoreEvent[]) => void) {
    this.#begin = db.prepare('BEGIN IMMEDIATE');
    this.#commit = db.prepare('COMMIT');
    this.#rollback = db.prepare('ROLLBACK');
    this.#db = db;
    this.#emit = emit;
  }

  run<T>(work: (events: StoreEvent[]) => T): T {
    const events: StoreEvent[] = [];
    this.#begin.run();
    let value: T;
    try {
      value = work(events);
      this.#commit.run();
    } catch (err) {
      // Some errors (SQLITE_FULL, interrupts) end the transaction themselves; a second ROLLBACK would hide them.
      if (this.#db.isTransaction) this.#rollback.run();
      throw err;
    }
    if (events.length > 0) this.#emit(events);
    return value;
  }
}
