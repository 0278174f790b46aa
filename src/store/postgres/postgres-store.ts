// Owns: the PostgreSQL Store: its options, open/close (migrations, pool, LISTEN), the groups calls are gathered into
// (inserts, attempt ends, standings), and routing each method to its queries.
// Not here: the SQL (operations.ts, insert-group.ts, transitions.ts, finish-group.ts, standing.ts, deliveries.ts,
// maintenance.ts), the payload format (change-listener.ts).
// Invariant: after open() every change this store commits reaches its own subscribers once and every other node's by NOTIFY.

import { randomUUID } from 'node:crypto';
import { ChangeFeed } from '../change-feed.ts';
import type {
  CancelOutcome,
  ClaimedOperations,
  ClaimParams,
  DeleteOutcome,
  Delivery,
  DeliveryAttempt,
  DeliveryAttemptParams,
  DeliveryClaimParams,
  DeliveryListQuery,
  DeliveryRetryOutcome,
  DurationSample,
  FinishParams,
  HistoryListQuery,
  IdempotencyClaim,
  InsertOptions,
  LeaseRef,
  ProgressParams,
  OperationDraft,
  OperationInsertResult,
  OperationCount,
  OperationListQuery,
  OperationStats,
  OperationStatsQuery,
  PruneParams,
  QueueStanding,
  QueueStandingParams,
  RateLimitHoldParams,
  RecoverParams,
  ReleaseParams,
  RecoverResult,
  RetryParams,
  StandingReadParams,
  Store,
  StoreListener,
  WorkerNode,
} from '../store.ts';
import { AsyncOpsError } from '../../domain/errors.ts';
import type { Operation, OperationResult } from '../../domain/operation.ts';
import { storableAttempt, storableFinish, storableProgress, storableRecover, storableRetry } from '../storable.ts';
import { ChangeListener, decodeNotification } from './change-listener.ts';
import { checkSchemaName, clientConfig, PostgresDatabase } from './database.ts';
import * as deliveries from './deliveries.ts';
import * as rateLimits from './rate-limits.ts';
import type { Bucket } from '../../domain/rate-limit.ts';
import { Batcher } from './batcher.ts';
import { finishGroup, MAX_FINISH_GROUP, type Ending } from './finish-group.ts';
import { insertOperations, type InsertRequest } from './insert-group.ts';
import * as maintenance from './maintenance.ts';
import { migrate } from './migrate.ts';
import { StoreRefusedError } from '../migrations.ts';
import * as operations from './operations.ts';
import * as operatorReads from './operator-reads.ts';
import * as schedules from './schedules.ts';
import * as standing from './standing.ts';
import * as transitions from './transitions.ts';
import { listHistory, noteEstimates, type EstimateNote } from './history.ts';
import type { HistoryEvent } from '../../domain/history.ts';
import * as bulkActions from './bulk-actions.ts';

// Readiness reads the store's own table: `SELECT 1` answered while a dropped schema failed every request.
const PING = 'SELECT 1 FROM operations LIMIT 1';

export interface PostgresStoreOptions {
  readonly url: string;
  /** Schema holding the tables (created when missing). Default `asyncops`. */
  readonly schema?: string | undefined;
  /** Pool connections, besides the one LISTEN connection. Default 10. */
  readonly poolSize?: number | undefined;
  /** Told about errors that have no caller to throw to: a lost LISTEN connection, a failed NOTIFY, a throwing listener. */
  readonly onError?: ((err: unknown) => void) | undefined;
  /** `refuse`: an existing schema an earlier version migrated is refused, not migrated. */
  readonly existing?: 'migrate' | 'refuse' | undefined;
}

const DEFAULT_SCHEMA = 'asyncops';
/** Inserts and standing reads that arrive together share a statement, up to these many. */
const MAX_INSERT_GROUP = 200;
const MAX_STANDING_GROUP = 200;
const DEFAULT_POOL_SIZE = 10;

export function createPostgresStore(options: PostgresStoreOptions): Store {
  return new PostgresStore(options);
}

function warn(err: unknown): void {
  process.emitWarning(err instanceof Error ? err : new Error(String(err)), { code: 'ASYNCOPS_POSTGRES' });
}

/** How long an ETA note waits for others before their group is written. */
const NOTE_GATHER_MS = 10;

class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  #schema: string;
  /** Where the store is, as an error opening it names it: without the user and password. */
  readonly #location: string;
  readonly #existing: 'migrate' | 'refuse';
  #db: PostgresDatabase;
  #feed: ChangeFeed;
  #listener: ChangeListener;
  #finishes: Batcher<Ending, Operation | null>;
  #inserts: Batcher<InsertRequest, OperationInsertResult>;
  #standings: Batcher<QueueStandingParams, QueueStanding | null>;
  /** History: the ETAs of creates, noted off their path, many in one statement. */
  #estimates: Batcher<EstimateNote, undefined>;
  #opening: Promise<void> | null = null;
  /** Aborted by close(): an open still waiting to migrate gives up. */
  readonly #closing = new AbortController();
  #onError: (err: unknown) => void;
  /** Rate limits: follows the holds announced on the feed, from open() to close(). */
  #holds: { stop(): Promise<void> } | null = null;

  constructor(options: PostgresStoreOptions) {
    this.#schema = checkSchemaName(options.schema ?? DEFAULT_SCHEMA);
    this.#location = locationOf(options.url, this.#schema);
    this.#existing = options.existing ?? 'migrate';
    const onError = options.onError ?? warn;
    this.#onError = onError;
    this.#feed = new ChangeFeed(onError);
    this.#db = new PostgresDatabase({
      url: options.url,
      schema: this.#schema,
      poolSize: options.poolSize ?? DEFAULT_POOL_SIZE,
      feed: this.#feed,
      sourceId: randomUUID(),
      onError,
    });
    this.#finishes = new Batcher({ write: (group) => finishGroup(this.#db, group), maxGroup: MAX_FINISH_GROUP, keyOf: (finish) => finish.id });
    this.#inserts = new Batcher({ write: (group) => insertOperations(this.#db, group), maxGroup: MAX_INSERT_GROUP });
    this.#standings = new Batcher({ write: (group) => standing.queueStandings(this.#db, group), maxGroup: MAX_STANDING_GROUP });
    // Nobody waits on a note: a busy store writes them in fewer transactions (bench/README.md, "ETA notes gather").
    this.#estimates = new Batcher({ write: (group) => noteEstimates(this.#db, group), maxGroup: MAX_INSERT_GROUP, gatherMs: NOTE_GATHER_MS });
    this.#listener = new ChangeListener({
      config: clientConfig(options.url, this.#schema),
      channel: this.#db.channel,
      onPayload: (payload) => this.#feed.emit(decodeNotification(payload, this.#db.sourceId)),
      onResumed: () => this.#feed.emit([{ kind: 'feed:resumed' }]),
      onError,
    });
  }

  open(): Promise<void> {
    this.#opening ??= (async () => {
      await migrate(this.#db.pool, this.#schema, Date.now(), this.#closing.signal, this.#existing);
      await this.#listener.start();
      this.#holds ??= rateLimits.trackHolds(this.#db, (listener) => this.#feed.subscribe(listener), this.#onError);
    })().catch((err: unknown) => {
      this.#opening = null;
      // The driver's words ("connect ECONNREFUSED …", 'database "x" does not exist') name no store; ours do, and a
      // stop while it waited is no failure to explain.
      if (err instanceof StoreRefusedError || this.#closing.signal.aborted || !(err instanceof Error)) throw err;
      throw new AsyncOpsError('store_unavailable', `cannot open the PostgreSQL store at ${this.#location}: ${err.message}`, { cause: err });
    });
    return this.#opening;
  }

  async close(): Promise<void> {
    // A node told to stop while it waits for another node's migration stops now, without migrating.
    this.#closing.abort();
    await this.#opening?.catch(() => {});
    await Promise.all([this.#inserts.idle(), this.#finishes.idle(), this.#standings.idle(), this.#estimates.idle()]);
    await this.#holds?.stop();
    this.#holds = null;
    await this.#listener.close();
    await this.#db.end();
  }

  async ping(): Promise<void> {
    await this.#db.query(PING);
  }

  // Every node's writes come through LISTEN/NOTIFY (a lost one is what the fallback poll is for).
  unannouncedWrites(): number {
    return 0;
  }

  operationInsert(draft: OperationDraft, idempotency?: IdempotencyClaim, options: InsertOptions = {}): Promise<OperationInsertResult> {
    // With a key, its own statement (it may find the key taken); without, with whatever else arrives at once.
    return idempotency === undefined ? this.#inserts.submit({ draft, options }) : operations.insertOperation(this.#db, draft, idempotency);
  }

  operationGet(params: { id: string; tenant: string }): Promise<Operation | null> {
    return operations.getOperation(this.#db, params.id, params.tenant);
  }

  operationGetById(id: string): Promise<Operation | null> {
    return operations.getOperationById(this.#db, id);
  }

  operationList(query: OperationListQuery): Promise<Operation[]> {
    return operatorReads.listOperations(this.#db, query);
  }

  operationQueueStanding(params: QueueStandingParams): Promise<QueueStanding | null> {
    return this.#standings.submit(params);
  }

  operationGetWithStanding(params: StandingReadParams): Promise<{ operation: Operation; standing: QueueStanding | null } | null> {
    return standing.getWithStanding(this.#db, params);
  }

  operationCounts(params?: { readonly tenant?: string | null | undefined }): Promise<OperationCount[]> {
    return operatorReads.countOperations(this.#db, params?.tenant ?? null);
  }

  operationStats(query: OperationStatsQuery): Promise<OperationStats> {
    return operatorReads.operationStats(this.#db, query);
  }

  operationClaimDue(params: ClaimParams): Promise<ClaimedOperations> {
    return transitions.claimOperations(this.#db, params);
  }

  operationHeartbeat(params: LeaseRef & { now: number; leaseMs: number }): Promise<{ cancelRequested: boolean } | null> {
    return transitions.heartbeat(this.#db, params);
  }

  operationProgress(params: ProgressParams): Promise<boolean> {
    return transitions.progress(this.#db, storableProgress(params));
  }

  operationFinish(params: FinishParams): Promise<Operation | null> {
    return this.#finishes.submit(storableFinish(params));
  }

  operationRetry(params: RetryParams): Promise<Operation | null> {
    const retry = storableRetry(params);
    return transitions.giveBack(this.#db, this.#end, retry, { event: 'retry', runAt: retry.runAt, error: retry.error });
  }

  operationRelease(params: ReleaseParams): Promise<Operation | null> {
    return transitions.giveBack(this.#db, this.#end, params, { event: 'release', runAt: params.runAt, error: params.error });
  }

  /** A retry or release that ends the operation (a cancel was requested) joins the attempts ending beside it. */
  #end = (ending: Ending): Promise<Operation | null> => this.#finishes.submit(ending);

  operationCancel(params: Parameters<Store['operationCancel']>[0]): Promise<CancelOutcome> {
    return transitions.cancel(this.#db, params);
  }

  operationDelete(params: Parameters<Store['operationDelete']>[0]): Promise<DeleteOutcome> {
    return transitions.deleteOperation(this.#db, params);
  }

  operationRedrive(params: Parameters<Store['operationRedrive']>[0]) {
    return bulkActions.redrive(this.#db, params);
  }

  bulkActionCount(query: Parameters<Store['bulkActionCount']>[0]) {
    return bulkActions.countMatches(this.#db, query);
  }

  bulkActionCreate(draft: Parameters<Store['bulkActionCreate']>[0]) {
    return bulkActions.createBulkAction(this.#db, draft);
  }

  bulkActionGet(params: Parameters<Store['bulkActionGet']>[0]) {
    return bulkActions.getBulkAction(this.#db, params.id, params.tenant);
  }

  bulkActionList(query: Parameters<Store['bulkActionList']>[0]) {
    return bulkActions.listBulkActions(this.#db, query);
  }

  bulkActionClaim(params: Parameters<Store['bulkActionClaim']>[0]) {
    return bulkActions.claimBulkAction(this.#db, params.now, params.leaseMs);
  }

  bulkActionStep(params: Parameters<Store['bulkActionStep']>[0]) {
    return bulkActions.stepBulkAction(this.#db, params);
  }

  bulkActionRelease(params: Parameters<Store['bulkActionRelease']>[0]) {
    return bulkActions.releaseBulkAction(this.#db, params);
  }

  bulkActionFail(params: Parameters<Store['bulkActionFail']>[0]) {
    return bulkActions.failBulkAction(this.#db, params);
  }

  operationRecoverExpired(params: RecoverParams): Promise<RecoverResult> {
    return transitions.recoverExpired(this.#db, storableRecover(params));
  }

  rateLimitHold(params: RateLimitHoldParams): Promise<void> {
    return rateLimits.hold(this.#db, params);
  }

  rateLimitBuckets(): Promise<Map<string, Bucket>> {
    return rateLimits.buckets(this.#db);
  }

  operationNextRunAt(params: { types: readonly string[] }): Promise<number | null> {
    return operations.nextRunAt(this.#db, params.types);
  }

  resultGet(params: { id: string; tenant: string }): Promise<OperationResult | null> {
    return operations.getResult(this.#db, params.id, params.tenant);
  }

  durationSamples(params: { limit: number }): Promise<Map<string, DurationSample[]>> {
    return operations.durationSamples(this.#db, params.limit);
  }

  workerNodeBeat(params: { node: WorkerNode; forgetBefore: number }): Promise<void> {
    return maintenance.workerNodeBeat(this.#db, params.node, params.forgetBefore);
  }

  workerNodeLeave(params: { id: string }): Promise<void> {
    return maintenance.workerNodeLeave(this.#db, params.id);
  }

  workerNodes(params: { since: number }): Promise<WorkerNode[]> {
    return maintenance.workerNodes(this.#db, params.since);
  }

  async prune(params: PruneParams): Promise<{ results: number; operations: number; idempotencyKeys: number }> {
    // Retention's timer also folds the counters' appended changes (operator-reads.ts), so they stay few between reads.
    const pruned = await maintenance.prune(this.#db, params);
    if (params.signal?.aborted !== true) await operatorReads.foldCounts(this.#db);
    return pruned;
  }

  scheduleCreate(...args: Parameters<Store['scheduleCreate']>) {
    return schedules.createSchedule(this.#db, ...args);
  }
  scheduleGet(...args: Parameters<Store['scheduleGet']>) {
    return schedules.getSchedule(this.#db, ...args);
  }
  scheduleList(...args: Parameters<Store['scheduleList']>) {
    return schedules.listSchedules(this.#db, ...args);
  }
  scheduleSetPaused(...args: Parameters<Store['scheduleSetPaused']>) {
    return schedules.setSchedulePaused(this.#db, ...args);
  }
  scheduleDelete(...args: Parameters<Store['scheduleDelete']>) {
    return schedules.deleteSchedule(this.#db, ...args);
  }
  scheduleTicks(...args: Parameters<Store['scheduleTicks']>) {
    return schedules.scheduleTicks(this.#db, ...args);
  }
  scheduleSyncDeclared(...args: Parameters<Store['scheduleSyncDeclared']>) {
    return schedules.syncDeclaredSchedules(this.#db, ...args);
  }
  scheduleDue(...args: Parameters<Store['scheduleDue']>) {
    return schedules.dueSchedules(this.#db, ...args);
  }
  scheduleNextRunAt() {
    return schedules.nextScheduleRunAt(this.#db);
  }
  scheduleFire(...args: Parameters<Store['scheduleFire']>) {
    return schedules.fireSchedule(this.#db, ...args);
  }

  deliveryClaimDue(params: DeliveryClaimParams): Promise<Delivery[]> {
    return deliveries.claimDeliveries(this.#db, params);
  }

  deliveryRecordAttempt(params: DeliveryAttemptParams): Promise<Delivery | null> {
    return deliveries.recordAttempt(this.#db, storableAttempt(params));
  }

  deliveryGet(params: { id: string; tenant: string | null }): Promise<Delivery | null> {
    return deliveries.getDelivery(this.#db, params.id, params.tenant);
  }

  deliveryList(query: DeliveryListQuery): Promise<Delivery[]> {
    return deliveries.listDeliveries(this.#db, query);
  }

  deliveryListForOperation(params: { operationId: string; tenant: string }): Promise<Array<{ delivery: Delivery; attempts: DeliveryAttempt[] }>> {
    return deliveries.listOperationDeliveries(this.#db, params.operationId, params.tenant);
  }

  deliveryAttempts(params: { deliveryId: string }): Promise<DeliveryAttempt[]> {
    return deliveries.attemptsOf(this.#db, [params.deliveryId]);
  }

  deliveryRetry(params: { id: string; tenant: string; now: number }): Promise<DeliveryRetryOutcome> {
    return deliveries.replayDelivery(this.#db, params.id, params.tenant, params.now);
  }

  deliveryRecoverExpired(params: { now: number }): Promise<number> {
    return deliveries.recoverDeliveries(this.#db, params.now);
  }

  deliveryNextAttemptAt(params: { readonly after: number }): Promise<number | null> {
    return deliveries.nextAttemptAt(this.#db, params.after);
  }

  deliveryCounts(): Promise<Array<{ state: 'pending' | 'retrying' | 'dead'; count: number }>> {
    return deliveries.counts(this.#db);
  }

  historyList(query: HistoryListQuery): Promise<HistoryEvent[] | null> {
    return listHistory(this.#db, query);
  }

  historyNoteEstimate(params: EstimateNote): void {
    this.#estimates.submit(params).catch(this.#onError);
  }

  settingGetOrInit(key: string, initial: string): Promise<string> {
    return maintenance.settingGetOrInit(this.#db, key, initial);
  }

  subscribe(listener: StoreListener): () => void {
    return this.#feed.subscribe(listener);
  }
}

/** A store's URL and schema as a message may show them: scheme, host, port and database, no user or password. */
function locationOf(url: string, schema: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}?schema=${schema}`;
  } catch {
    return `schema ${schema}`;
  }
}
