// Owns: whether the SQLite store's files are still the ones its connection opened (the database file and its
// write-ahead log, by device and inode), and whether its last write met a full disk: what a write and /readyz refuse
// on. Not here: the errors SQLite itself reports (database.ts: unavailableIfFileFailed).
// Invariant: a store whose file was removed or replaced under it takes no write: SQLite goes on writing to the unlinked
// file, and every write it acknowledged would be gone at the next start. Bytes copied into the same file (`cp` over
// it) keep its device and inode and are not seen here: no cheap signal tells them from the store's own checkpoints
// (docs/reliability.md says to restore into a stopped server).

import { realpathSync, statSync, type Stats } from 'node:fs';
import { AsyncOpsError } from '../../domain/errors.ts';

type FileId = Pick<Stats, 'dev' | 'ino'>;

const same = (a: FileId | undefined, b: FileId): boolean => a !== undefined && a.dev === b.dev && a.ino === b.ino;

export class StoreFiles {
  readonly #path: string;
  readonly #database: FileId | null;
  /** Known once it exists: SQLite makes it at the first write, and keeps it while a connection is open. */
  #wal: FileId | null = null;
  #full = false;
  /** A write of the transaction under way met a full disk (one of a group, the rest committed). */
  #fullNow = false;

  /**
   * Call once the connection has opened `path` (':memory:' has no file). The path is resolved now, as SQLite did: a
   * relative one stays the file it named after the process changes directory, and through a symbolic link SQLite keeps
   * its log beside the file the link points to, not beside the link.
   */
  constructor(path: string) {
    this.#path = path === ':memory:' ? path : realpathSync(path);
    this.#database = path === ':memory:' ? null : (statSync(this.#path, { throwIfNoEntry: false }) ?? null);
  }

  /** Before a transaction: throws store_unavailable when the database file or its log is no longer the one opened. */
  check(): void {
    this.#fullNow = false;
    if (this.#database === null) return;
    if (!same(statSync(this.#path, { throwIfNoEntry: false }), this.#database)) throw this.#moved('the store file', this.#path);
    if (this.#wal === null) return;
    const wal = `${this.#path}-wal`;
    if (!same(statSync(wal, { throwIfNoEntry: false }), this.#wal)) throw this.#moved('its write-ahead log', wal);
  }

  /** After a commit: the log is there now, and the disk took the writes (unless one of them met it full). */
  committed(): void {
    if (!this.#fullNow) this.#full = false;
    if (this.#database !== null && this.#wal === null) this.#wal = statSync(`${this.#path}-wal`, { throwIfNoEntry: false }) ?? null;
  }

  /** After a write that failed: `full` whether the disk was full (SQLITE_FULL). */
  failed(full: boolean): void {
    if (!full) return;
    this.#full = true;
    this.#fullNow = true;
  }

  /** /readyz: the files are the ones opened, and the last write did not meet a full disk (a later one that did clears it). */
  checkReady(): void {
    this.check();
    if (this.#full) throw new AsyncOpsError('store_unavailable', 'SQLite: the disk is full: the last write was refused');
  }

  #moved(what: string, file: string): AsyncOpsError {
    return new AsyncOpsError(
      'store_unavailable',
      `SQLite: ${what} (${file}) was removed or replaced while the server had it open: writes are refused, since they would be lost; restart the server on the file it should use`,
    );
  }
}
