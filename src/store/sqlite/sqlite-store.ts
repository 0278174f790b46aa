// Owns: the SQLite Store: opening the database, wiring the query modules, the change feed.
// Not here: the queries themselves (operations.ts, transitions.ts, standing.ts, deliveries.ts, maintenance.ts),
// migrations (migrate.ts).
// Invariant: node:sqlite is synchronous, so each method's transaction runs to COMMIT before its promise settles.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { Store, StoreListener } from '../store.ts';
import { ChangeFeed } from '../change-feed.ts';
import { StoreFiles } from './store-files.ts';
import { Checkpointer } from './checkpointer.ts';
import { storableAttempt, storableFinish, storableProgress, storableRecover, storableRetry } from '../storable.ts';
import { GroupCommit, openDatabase, storeOpenError, Transactor, unavailableIfFileFailed, WAL_AUTOCHECKPOINT_PAGES } from './database.ts';
import { SqliteDeliveries } from './deliveries.ts';
import { PRUNE_START, SqliteMaintenance, type PruneCursor } from './maintenance.ts';
import { migrate } from './migrate.ts';
import { SqliteOperations } from './operations.ts';
import { SqliteOperatorReads } from './operator-reads.ts';
import { SqliteSchedules } from './schedules.ts';
import { SqliteStanding } from './standing.ts';
import { SqliteTransitions } from './transitions.ts';
import { SqliteHistory } from './history.ts';
import { SqliteRateLimits } from './rate-limits.ts';
import { SqliteBulkActions } from './bulk-actions.ts';

// Readiness reads the store's own table: `SELECT 1` answered while a dropped schema failed every request.
const PING = 'SELECT 1 FROM operations LIMIT 1';

export interface SqliteStoreOptions {
  /** A file path, or ':memory:' for a private in-memory database. */
  readonly path: string;
  /** Told about errors that have no caller (a throwing change-feed listener, a failed checkpoint); default: a warning. */
  readonly onError?: ((err: unknown) => void) | undefined;
  /** `refuse`: an existing store an earlier version migrated is refused, not migrated (StoreOpenOptions). */
  readonly existing?: 'migrate' | 'refuse' | undefined;
}

interface Open {
  readonly db: DatabaseSync;
  readonly ping: StatementSync;
  /** Moves when another connection (another process) commits: the writes this store's feed does not announce. */
  readonly dataVersion: StatementSync;
  readonly files: StoreFiles;
  /** Inserts and attempt ends (finish, retry) of one turn of the event loop share a transaction. */
  readonly group: GroupCommit;
  readonly operations: SqliteOperations;
  readonly operatorReads: SqliteOperatorReads;
  readonly transitions: SqliteTransitions;
  readonly deliveries: SqliteDeliveries;
  readonly maintenance: SqliteMaintenance;
  readonly rateLimits: SqliteRateLimits;
  readonly schedules: SqliteSchedules;
  readonly history: SqliteHistory;
  readonly bulk: SqliteBulkActions;
}

/** Commits before checkpoints move to their own thread. */
const CHECKPOINTER_AFTER_COMMITS = 500;

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  #path: string;
  readonly #existing: 'migrate' | 'refuse';
  #feed: ChangeFeed;
  #open: Open | null = null;
  #onError: (err: unknown) => void;
  #commits = 0;
  #checkpointer: Checkpointer | null = null;

  constructor(options: SqliteStoreOptions) {
    this.#path = options.path;
    this.#existing = options.existing ?? 'migrate';
    this.#onError = options.onError ?? ((err) => process.emitWarning(err instanceof Error ? err : new Error(String(err)), { code: 'ASYNCOPS_SQLITE' }));
    this.#feed = new ChangeFeed(this.#onError);
  }

  get #ready(): Open {
    if (this.#open === null) throw new Error('SqliteStore: call open() first');
    return this.#open;
  }

  /** The underlying handle, for the adapter's own tests and tools (schema checks); nothing above store/ uses it. */
  get database(): DatabaseSync {
    return this.#ready.db;
  }

  async open(): Promise<void> {
    if (this.#open !== null) return;
    const db = openDatabase(this.#path);
    try {
      try {
        migrate(db, Date.now(), this.#existing);
      } catch (error) {
        throw storeOpenError(this.#path, error);
      }
      const files = new StoreFiles(this.#path);
      const tx = new Transactor(
        db,
        (events) => this.#feed.emit(events),
        () => this.#onCommit(db),
        files,
      );
      const group = new GroupCommit(db, tx);
      const deliveries = new SqliteDeliveries(db, tx);
      const operations = new SqliteOperations(db, group, new SqliteStanding(db));
      const transitions = new SqliteTransitions(db, tx, group, operations, deliveries);
      this.#open = {
        db,
        files,
        ping: db.prepare(PING),
        dataVersion: db.prepare('PRAGMA data_version'),
        group,
        operations,
        operatorReads: new SqliteOperatorReads(db),
        deliveries,
        transitions,
        bulk: new SqliteBulkActions(db, tx, operations, transitions, deliveries),
        maintenance: new SqliteMaintenance(db, tx),
        rateLimits: new SqliteRateLimits(db),
        schedules: new SqliteSchedules(db, group, operations),
        history: new SqliteHistory(db, group),
      };
    } catch (err) {
      db.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    const open = this.#open;
    this.#open = null;
    const checkpointer = this.#checkpointer;
    this.#checkpointer = null;
    this.#commits = 0;
    await checkpointer?.stop();
    open?.group.flush();
    open?.db.close();
  }

  // A store that writes for a while gets a checkpointer thread; a short-lived one (a test, a tool) never pays for one.
  #onCommit(db: DatabaseSync): void {
    if (++this.#commits !== CHECKPOINTER_AFTER_COMMITS || this.#path === ':memory:') return;
    // This runs after a COMMIT: a failure here must not report the committed writes as failed, so it is only logged and
    // the connection keeps checkpointing by itself.
    try {
      this.#checkpointer = new Checkpointer(this.#path, this.#onError, () => {
        // Without its thread the WAL would grow without end: the store's connection checkpoints again.
        if (this.#open?.db === db) db.exec(`PRAGMA wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
        this.#checkpointer = null;
      });
      db.exec('PRAGMA wal_autocheckpoint = 0');
    } catch (error) {
      this.#onError(error);
    }
  }

  async ping(): Promise<void> {
    this.#ready.files.checkReady();
    this.#ready.ping.get();
  }

  subscribe(listener: StoreListener): () => void {
    return this.#feed.subscribe(listener);
  }

  unannouncedWrites(): number {
    return Number(this.#ready.dataVersion.get()?.['data_version']);
  }

  async operationInsert(...args: Parameters<Store['operationInsert']>) {
    return this.#ready.operations.insert(...args);
  }
  async operationGet(...args: Parameters<Store['operationGet']>) {
    return this.#ready.operations.get(...args);
  }
  async operationGetById(...args: Parameters<Store['operationGetById']>) {
    return this.#ready.operations.getById(...args);
  }
  async operationList(...args: Parameters<Store['operationList']>) {
    return this.#ready.operatorReads.list(...args);
  }
  async operationQueueStanding(...args: Parameters<Store['operationQueueStanding']>) {
    return this.#ready.operations.queueStanding(...args);
  }
  async operationGetWithStanding(...args: Parameters<Store['operationGetWithStanding']>) {
    return this.#ready.operations.getWithStanding(...args);
  }
  async operationCounts(...[params]: Parameters<Store['operationCounts']>) {
    return this.#ready.operatorReads.counts(params?.tenant ?? null);
  }
  async operationStats(...args: Parameters<Store['operationStats']>) {
    return this.#ready.operatorReads.stats(...args);
  }
  async operationClaimDue(...args: Parameters<Store['operationClaimDue']>) {
    return this.#ready.transitions.claimDue(...args);
  }
  async operationHeartbeat(...args: Parameters<Store['operationHeartbeat']>) {
    return this.#ready.transitions.heartbeat(...args);
  }
  async operationProgress(...args: Parameters<Store['operationProgress']>) {
    return this.#ready.transitions.progress(storableProgress(...args));
  }
  async operationFinish(...args: Parameters<Store['operationFinish']>) {
    return this.#ready.transitions.finish(storableFinish(...args));
  }
  async operationRetry(...args: Parameters<Store['operationRetry']>) {
    return this.#ready.transitions.retry(storableRetry(...args));
  }
  async operationRelease(...args: Parameters<Store['operationRelease']>) {
    return this.#ready.transitions.release(...args);
  }
  async operationCancel(...args: Parameters<Store['operationCancel']>) {
    return this.#ready.transitions.cancel(...args);
  }
  async operationDelete(...args: Parameters<Store['operationDelete']>) {
    return this.#ready.transitions.delete(...args);
  }
  async operationRecoverExpired(...args: Parameters<Store['operationRecoverExpired']>) {
    return this.#ready.transitions.recoverExpired(storableRecover(...args));
  }
  async rateLimitHold(params: Parameters<Store['rateLimitHold']>[0]) {
    // Its one statement is a write of its own, outside the Transactor: the same check of the files first.
    this.#ready.files.check();
    this.#ready.rateLimits.hold(params);
  }
  async rateLimitBuckets() {
    return this.#ready.rateLimits.buckets();
  }
  async operationNextRunAt(params: { readonly types: readonly string[] }) {
    return this.#ready.operations.nextRunAt(params.types);
  }
  async resultGet(...args: Parameters<Store['resultGet']>) {
    return this.#ready.operations.resultGet(...args);
  }
  async durationSamples(params: { readonly limit: number }) {
    return this.#ready.operations.durationSamples(params.limit);
  }
  async workerNodeBeat(params: Parameters<Store['workerNodeBeat']>[0]) {
    this.#ready.maintenance.workerNodeBeat(params.node, params.forgetBefore);
  }
  async workerNodeLeave(params: { readonly id: string }) {
    this.#ready.maintenance.workerNodeLeave(params.id);
  }
  async workerNodes(params: { readonly since: number }) {
    return this.#ready.maintenance.workerNodes(params.since);
  }
  async prune(...[params]: Parameters<Store['prune']>) {
    const pruned = { results: 0, operations: 0, idempotencyKeys: 0 };
    // Batch by batch, the event loop free between them (maintenance.ts says why); a store closed meanwhile leaves the
    // rest for the next pruning.
    let open: Open | null = this.#ready;
    let at: PruneCursor | null = PRUNE_START;
    while (open !== null && at !== null && params.signal?.aborted !== true) {
      const batch = open.maintenance.pruneBatch(params, at);
      pruned.results += batch.results;
      pruned.operations += batch.operations;
      pruned.idempotencyKeys += batch.idempotencyKeys;
      at = batch.next;
      if (at !== null) await new Promise<void>((resolve) => setImmediate(resolve));
      open = this.#open;
    }
    return pruned;
  }

  async scheduleCreate(...args: Parameters<Store['scheduleCreate']>) {
    return this.#ready.schedules.create(...args);
  }
  async scheduleGet(...args: Parameters<Store['scheduleGet']>) {
    return this.#ready.schedules.get(...args);
  }
  async scheduleList(...args: Parameters<Store['scheduleList']>) {
    return this.#ready.schedules.list(...args);
  }
  async scheduleSetPaused(...args: Parameters<Store['scheduleSetPaused']>) {
    return this.#ready.schedules.setPaused(...args);
  }
  async scheduleDelete(...args: Parameters<Store['scheduleDelete']>) {
    return this.#ready.schedules.delete(...args);
  }
  async scheduleTicks(...args: Parameters<Store['scheduleTicks']>) {
    return this.#ready.schedules.ticks(...args);
  }
  async scheduleSyncDeclared(...args: Parameters<Store['scheduleSyncDeclared']>) {
    return this.#ready.schedules.syncDeclared(...args);
  }
  async scheduleDue(...args: Parameters<Store['scheduleDue']>) {
    return this.#ready.schedules.due(...args);
  }
  async scheduleNextRunAt() {
    return this.#ready.schedules.nextRunAt();
  }
  async scheduleFire(...args: Parameters<Store['scheduleFire']>) {
    return this.#ready.schedules.fire(...args);
  }

  async deliveryClaimDue(...args: Parameters<Store['deliveryClaimDue']>) {
    return this.#ready.deliveries.claimDue(...args);
  }
  async deliveryRecordAttempt(...args: Parameters<Store['deliveryRecordAttempt']>) {
    return this.#ready.deliveries.recordAttempt(storableAttempt(...args));
  }
  async deliveryGet(...args: Parameters<Store['deliveryGet']>) {
    return this.#ready.deliveries.get(...args);
  }
  async deliveryList(...args: Parameters<Store['deliveryList']>) {
    return this.#ready.deliveries.list(...args);
  }
  async deliveryListForOperation(...args: Parameters<Store['deliveryListForOperation']>) {
    return this.#ready.deliveries.listForOperation(...args);
  }
  async deliveryAttempts(params: { readonly deliveryId: string }) {
    return this.#ready.deliveries.attempts(params.deliveryId);
  }
  async deliveryRetry(...args: Parameters<Store['deliveryRetry']>) {
    return this.#ready.deliveries.retry(...args);
  }
  async deliveryRecoverExpired(params: { readonly now: number }) {
    return this.#ready.deliveries.recoverExpired(params.now);
  }
  async deliveryNextAttemptAt(params: { readonly after: number }) {
    return this.#ready.deliveries.nextAttemptAt(params.after);
  }
  async deliveryCounts() {
    return this.#ready.deliveries.counts();
  }

  async operationRedrive(...args: Parameters<Store['operationRedrive']>) {
    return this.#ready.bulk.redrive(...args);
  }
  async bulkActionCount(...args: Parameters<Store['bulkActionCount']>) {
    return this.#ready.bulk.count(...args);
  }
  async bulkActionCreate(...args: Parameters<Store['bulkActionCreate']>) {
    return this.#ready.bulk.create(...args);
  }
  async bulkActionGet(...args: Parameters<Store['bulkActionGet']>) {
    return this.#ready.bulk.get(...args);
  }
  async bulkActionList(...args: Parameters<Store['bulkActionList']>) {
    return this.#ready.bulk.list(...args);
  }
  async bulkActionClaim(...args: Parameters<Store['bulkActionClaim']>) {
    return this.#ready.bulk.claim(...args);
  }
  async bulkActionStep(...args: Parameters<Store['bulkActionStep']>) {
    return this.#ready.bulk.step(...args);
  }
  async bulkActionRelease(...args: Parameters<Store['bulkActionRelease']>) {
    return this.#ready.bulk.release(...args);
  }
  async bulkActionFail(...args: Parameters<Store['bulkActionFail']>) {
    return this.#ready.bulk.fail(...args);
  }

  async historyList(...args: Parameters<Store['historyList']>) {
    return this.#ready.history.list(...args);
  }
  historyNoteEstimate(params: Parameters<Store['historyNoteEstimate']>[0]): void {
    // No caller waits for it, so even a store already closed only reports it.
    try {
      this.#ready.history.noteEstimate(params, this.#onError);
    } catch (error) {
      this.#onError(error);
    }
  }

  async settingGetOrInit(key: string, initial: string): Promise<string> {
    return this.#ready.maintenance.settingGetOrInit(key, initial);
  }
}

// What a method meets on the file itself (a damaged page, an I/O error, a lock held past the busy timeout) is the store
// not answering, a read's as much as a write's (whose transactions map it where they commit): every async method's
// failure passes through the same mapping, so a read of a damaged page is a 503 saying so, not a 500. open() has its
// own (storeOpenError), and close() reports nothing to a request.
for (const name of Object.getOwnPropertyNames(SqliteStore.prototype)) {
  const method: unknown = Object.getOwnPropertyDescriptor(SqliteStore.prototype, name)?.value;
  if (typeof method !== 'function' || method.constructor.name !== 'AsyncFunction' || name === 'open' || name === 'close') continue;
  Object.defineProperty(SqliteStore.prototype, name, {
    value: async function (this: SqliteStore, ...args: unknown[]): Promise<unknown> {
      try {
        return await method.apply(this, args);
      } catch (error) {
        throw unavailableIfFileFailed(error);
      }
    },
    writable: true,
    configurable: true,
  });
}

export function createSqliteStore(options: SqliteStoreOptions): Store {
  return new SqliteStore(options);
}
