// Owns: the connection pool (schema on the search_path, int8 as number), statements, transactions and publishing events.
// Not here: what any query says (the query modules beside it), LISTEN (change-listener.ts).
// Invariant: events reach the change feed only after their transaction committed; NOTIFYs go in transactions that do
// not wait for the disk, many events in each, and a node's reach the others in no fixed order (each event says what
// changed, and its readers read the store again).

import { createHash } from 'node:crypto';
import pg from 'pg';
import { AsyncOpsError } from '../../domain/errors.ts';
import type { ChangeFeed } from '../change-feed.ts';
import type { StoreEvent } from '../store.ts';
import { compactEvents, encodeNotifications } from './change-listener.ts';

/** Runs one statement (a constant of the query modules: each is prepared once per connection) and returns its rows. */
export interface Queryable {
  query<R>(sql: string, params?: readonly unknown[]): Promise<R[]>;
}

/** A transaction: statements, plus the events to publish once it commits. */
export interface Transaction extends Queryable {
  readonly events: StoreEvent[];
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const INT8_OID = 20;

// Times are bigint ms and counts are int8: both fit a double, so callers get numbers, as from SQLite.
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

/**
 * The LISTEN/NOTIFY channel of a schema's nodes: `asyncops_<schema>`, or for a schema name too long for that to be an
 * identifier (63 bytes), its start and a hash of it; LISTEN would cut the name short where pg_notify refuses it.
 */
export function channelOf(schema: string): string {
  const channel = `asyncops_${schema}`;
  if (channel.length <= IDENTIFIER_MAX) return channel;
  const hash = createHash('sha1').update(schema).digest('hex').slice(0, 8);
  return `${channel.slice(0, IDENTIFIER_MAX - hash.length - 1)}_${hash}`;
}

/** PostgreSQL's longest identifier, in bytes (NAMEDATALEN - 1); a schema name is ASCII here. */
const IDENTIFIER_MAX = 63;

/**
 * `value` as a SQL string literal, written as pg.escapeLiteral writes it (quotes doubled; with a backslash, doubled
 * too in an E'' literal), by two native replaces instead of its loop over characters, which for a NOTIFY payload of a
 * kilobyte took 7 to 9 µs and allocated a string per character (bench/README.md, "Beside the peers": why the collections
 * come so often).
 */
export function sqlLiteral(value: string): string {
  const quoted = value.replaceAll("'", "''");
  return value.includes('\\') ? ` E'${quoted.replaceAll('\\', '\\\\')}'` : `'${quoted}'`;
}

export function checkSchemaName(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) {
    throw new AsyncOpsError('validation_failed', `PostgreSQL schema name "${schema}" must match ${SCHEMA_NAME}`);
  }
  return schema;
}

/** Connection settings shared by the pool and the LISTEN connection. */
export function clientConfig(url: string, schema: string): pg.ClientConfig {
  // node-postgres lets a URL's own `options=` replace this config's, search_path and all (the tables were made in
  // `public`, and two installations shared them): the URL's settings go first, ours after them, which win. And a
  // role's default isolation (`serializable`, say) would fail ends and claims under load: read committed, as written.
  const { connectionString, options } = withoutUrlOptions(url);
  // TCP keepalive: a connection a NAT or firewall dropped without a word (the LISTEN one above all, which may sit idle)
  // is found dead and re-established, instead of waiting forever for notifications that no longer come.
  return {
    connectionString,
    types: TYPES,
    options: `${options} -c search_path=${schema} -c default_transaction_isolation=read\\ committed`.trim(),
    application_name: 'asyncops',
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    // A server that takes connections and never answers (a partition, a hung host) fails a new one in this time, as
    // store_unavailable, instead of holding the request until TCP gives up minutes later.
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  };
}

/** A URL without its `options=` parameter, and that parameter's value ('' when none, or when it is no URL). */
function withoutUrlOptions(url: string): { connectionString: string; options: string } {
  const parsed = URL.parse(url);
  const options = parsed?.searchParams.get('options');
  if (parsed === null || options === null || options === undefined) return { connectionString: url, options: '' };
  parsed.searchParams.delete('options');
  return { connectionString: parsed.toString(), options };
}

const CONNECT_TIMEOUT_MS = 5_000;

// Connection-level failures (refused, reset, admin shutdown, too many clients) mean the store is unavailable,
// not that a query is wrong; so do its schema, a table or a function of it gone under a running server (dropped, or a
// restore under way), where /readyz says the same.
const UNAVAILABLE_SQLSTATE = /^(08|57P|53300|3F000|42P01|42883)/;
// A statement the server gave up on by a timeout a DBA set (statement_timeout: 57014, lock_timeout: 55P03, in the
// URL's options= or the role's settings): the store not answering in time, its session still usable.
const TIMED_OUT_SQLSTATE = /^(57014|55P03)$/;
const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE', 'EHOSTUNREACH']);

function translateError(err: unknown): unknown {
  if (err instanceof AsyncOpsError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  // pg-pool's own, with no code: every connection was in use past connectionTimeoutMillis.
  const connectionLost =
    message.includes('Connection terminated') || message.includes('not queryable') || message.includes('timeout exceeded when trying to connect');
  if ((typeof code === 'string' && (UNAVAILABLE_SQLSTATE.test(code) || TIMED_OUT_SQLSTATE.test(code) || UNAVAILABLE_ERRNO.has(code))) || connectionLost) {
    // The message is a 503's detail, read by any API client: it names what kind of failure this is, not the database's
    // own words (a host and port, a schema's or table's name), which are the cause, written to the server's log.
    return new AsyncOpsError('store_unavailable', `PostgreSQL unavailable: ${unavailableReason(typeof code === 'string' ? code : '', message)}`, {
      cause: err,
    });
  }
  return err;
}

function unavailableReason(code: string, message: string): string {
  if (TIMED_OUT_SQLSTATE.test(code)) return 'a statement was cancelled by a timeout set on the database (statement_timeout or lock_timeout)';
  if (message.includes('timeout exceeded when trying to connect')) return 'no connection of the pool came free in time';
  if (code === '53300') return 'the database takes no more connections';
  if (code === '3F000' || code === '42P01' || code === '42883')
    return "the store's schema or one of its tables or functions is missing (dropped, or a restore under way)";
  if (code === '57P04') return 'the database was dropped';
  if (code.startsWith('57P')) return 'the database is shutting down, starting, or ended the session';
  return 'the connection to the database failed or was lost';
}

const statementNames = new Map<string, string>();
/** Part of every statement name: a new generation prepares every statement afresh on every connection. */
let generation = 0;

/**
 * A named statement: each connection parses (and plans) it once, then gets only its parameters. Unnamed, the text
 * would go over the wire and through the parser on every call (the queue-standing statement alone is several kB), a
 * large share of an API node's CPU under creates (bench/README.md). Every statement passed to `query` is a
 * constant of the query modules, or one of a few variants (list filters), so the names are few.
 */
function prepared(sql: string, params?: readonly unknown[], kept = false): pg.QueryConfig {
  // A statement that keeps its plan is prepared under a name of its own: a plan PostgreSQL made for the same text in the
  // default mode (sequential scans on) would otherwise be the one kept.
  const key = kept ? `kept:${sql}` : sql;
  let name = statementNames.get(key);
  if (name === undefined) {
    name = `asyncops_${generation}_${createHash('sha1').update(key).digest('base64url').slice(0, 16)}`;
    statementNames.set(key, name);
  }
  return { name, text: sql, values: params as unknown[] | undefined };
}

/**
 * A prepared statement whose tables changed shape under it (another node's migration added a column to `SELECT *`)
 * fails with "cached plan must not change result type", on that connection, for good. It did nothing, so it can run
 * again: under new names, prepared anew. Says whether that is what happened.
 */
function renamedAfterStalePlan(err: unknown): boolean {
  const stale = isStalePlan(err);
  if (stale) {
    generation += 1;
    statementNames.clear();
  }
  return stale;
}

/** Whether a statement failed only because its prepared plan went stale (it did nothing; it can run again). */
export function isStalePlan(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === '0A000' && String((err as Error).message).includes('cached plan must not change result type');
}

/**
 * `genericPlans`: the statement runs on the plan each connection keeps for it, never one made for the call. Left to
 * choose, PostgreSQL plans a statement over arrays anew at every call when the plan it would keep looks dearer than the
 * ones made for the calls: the claim, a dozen CTEs, was planned at every call, a fifth of PostgreSQL's CPU in a drain
 * (bench/README.md, "Claims and standings keep their plans"); and on a table analysed with a backlog, the status read
 * was planned at every call too, which made it 2.5 times as dear (bench/README.md, "A plan kept from an analysed
 * table"). The plan kept is made at the first call, maybe on empty tables, maybe from statistics that favour reading a
 * whole table; it is made with sequential scans off, so only for a statement every part of which an index can answer
 * whatever the estimates: with sequential scans off a plan may still walk the wrong index (a key's count, filtering a
 * type's queue on the key, is why a status read reads a key's standing apart).
 */
export interface StatementOptions {
  readonly genericPlans?: boolean | undefined;
  /** In sequence(): in a transaction of its own whose commit does not wait for the disk (as queryUnflushed). */
  readonly unflushed?: boolean | undefined;
}

/** A statement of a sequence: its SQL, its parameters, and how it runs. */
export type SequencedStatement = readonly [sql: string, params: readonly unknown[], options?: StatementOptions];

const GENERIC_PLANS = 'SET LOCAL plan_cache_mode TO force_generic_plan; SET LOCAL enable_seqscan TO off';

/** A transaction whose commit does not wait for the disk. */
const UNFLUSHED = ['SET LOCAL synchronous_commit TO OFF'];

/**
 * Runs `send`, whose queries go out in one write to the socket: node-postgres writes each query as it is queued (a
 * pipelined connection sends it at once), a BEGIN or COMMIT in a write of its own, and a write to PostgreSQL's socket
 * was a quarter of a worker's CPU in a drain (bench/README.md, "One write per transaction"). Whatever is queued before
 * the next tick goes with it.
 */
function inOneWrite<T>(client: pg.PoolClient, send: () => T): T {
  const socket = (client as unknown as pg.Client).connection.stream;
  socket.cork();
  process.nextTick(() => socket.uncork());
  return send();
}

/**
 * A statement's outcome; what the server refused, if anything: BEGIN's message (nothing of it ran, or it ran and
 * aborted the transaction, which then failed the statement) or the COMMIT (the transaction was rolled back); and the
 * error of a BEGIN or COMMIT that failed otherwise (its connection is not to be reused).
 */
interface Sent {
  readonly statement: PromiseSettledResult<pg.QueryResult>;
  readonly refused?: { readonly at: 'begin' | 'commit'; readonly error: unknown } | undefined;
  readonly broken: Error | undefined;
}

/** Why a statement sent with `sent` failed: its BEGIN's refusal first, which is what made the statement fail. */
function failureOf(sent: Sent): unknown {
  return sent.refused?.error ?? (sent.statement.status === 'rejected' ? sent.statement.reason : sent.broken);
}

/**
 * Queues `sql` on `client` in a transaction of its own, `first` (SET LOCAL statements, and those of `options`, and the
 * NOTIFYs it carries) in the message of its BEGIN; after a failed statement, its COMMIT ends the transaction as a
 * ROLLBACK. Everything is queued before the first await, so what the caller queues next goes after it (and, in
 * `inOneWrite`, in the same write).
 */
async function inTransactionOfItsOwn(
  client: pg.PoolClient,
  first: readonly string[],
  sql: string,
  params: readonly unknown[] | undefined,
  options: StatementOptions,
): Promise<Sent> {
  const kept = options.genericPlans === true;
  const [begun, statement, committed] = await Promise.allSettled([
    client.query(['BEGIN', ...first, ...(kept ? [GENERIC_PLANS] : [])].join('; ')),
    client.query(prepared(sql, params, kept)),
    client.query('COMMIT'),
  ]);
  // The server refused BEGIN's message (a NOTIFY of it; the transaction aborted and COMMIT rolled it back) or the COMMIT
  // (a full notification queue is refused there): the transaction did nothing, and the connection is idle and fine.
  if (begun.status === 'rejected' && committed.status === 'fulfilled' && refusedByServer(begun.reason)) {
    return { statement, refused: { at: 'begin', error: begun.reason }, broken: undefined };
  }
  if (begun.status === 'fulfilled' && committed.status === 'rejected' && refusedByServer(committed.reason)) {
    return { statement, refused: { at: 'commit', error: committed.reason }, broken: undefined };
  }
  const failed = [begun, committed].find((step) => step.status === 'rejected');
  return { statement, broken: failed === undefined ? undefined : (failed.reason as Error) };
}

/** An error the server answered with, its session still usable (not one of a connection that failed). */
function refusedByServer(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && !UNAVAILABLE_SQLSTATE.test(code);
}

export class PostgresDatabase implements Queryable {
  readonly pool: pg.Pool;
  readonly channel: string;
  /** Marks this store's notifications so its own LISTEN connection can skip what was already emitted locally. */
  readonly sourceId: string;
  #feed: ChangeFeed;
  #onError: (err: unknown) => void;
  #outgoing: StoreEvent[] = [];
  #flushing: Promise<void> | null = null;
  /** A flush of changes alone is set to go after a turn of the event loop (#flushAfterATurn). */
  #waitingATurn = false;
  /** Statements under way that took queued events to carry (queryUnflushed). */
  readonly #carrying = new Set<Promise<unknown>>();

  constructor(options: { url: string; schema: string; poolSize: number; feed: ChangeFeed; sourceId: string; onError: (err: unknown) => void }) {
    // Pipelined connections let a transaction's BEGIN travel with its first statement: one round trip fewer per write.
    this.pool = new pg.Pool({ ...clientConfig(options.url, options.schema), max: options.poolSize, pipeline: true });
    // An idle connection that dies (server restart, terminated backend) is dropped by the pool; say so, never crash. pg
    // hands the error over with its client attached, whose fields (every prepared statement's SQL, the backend's cancel
    // key) no log is for: a line of several kilobytes per connection, the key that cancels its queries among them.
    this.pool.on('error', (err) => {
      if (Object.hasOwn(err, 'client')) Object.defineProperty(err, 'client', { enumerable: false });
      options.onError(err);
    });
    // The pool listens for a connection's errors only while it is idle: one that dies checked out (in a transaction, a
    // migration) emits 'error' with no listener, which ends the process. Its statement fails with the error, which says so.
    this.pool.on('connect', (client) => client.on('error', () => {}));
    this.channel = channelOf(options.schema);
    this.sourceId = options.sourceId;
    this.#feed = options.feed;
    this.#onError = options.onError;
  }

  /** `options.genericPlans`: in a transaction of its own, sent with its BEGIN and COMMIT (one round trip). */
  async query<R>(sql: string, params?: readonly unknown[], options: StatementOptions = {}): Promise<R[]> {
    if (options.genericPlans === true) return this.#inTransactionOfItsOwn([], [], sql, params, options);
    try {
      return (await this.pool.query(prepared(sql, params))).rows as R[];
    } catch (err) {
      if (!renamedAfterStalePlan(err)) throw translateError(err);
    }
    try {
      return (await this.pool.query(prepared(sql, params))).rows as R[];
    } catch (err) {
      throw translateError(err);
    }
  }

  /**
   * One statement whose parameters are made once a connection is held (`params` is called then): for parameters that
   * read the clock, which a wait for a connection (the pool busy with a burst of creates) would leave behind.
   */
  async queryWhenConnected<R>(sql: string, params: () => readonly unknown[]): Promise<R[]> {
    for (let tries = 1; ; tries++) {
      const client = await this.#connect();
      try {
        const rows = (await client.query(prepared(sql, params()))).rows as R[];
        client.release();
        return rows;
      } catch (err) {
        // As pool.query does: a connection a statement failed on is not given to anything else.
        client.release(err instanceof Error ? err : new Error(String(err)));
        if (tries > 1 || !renamedAfterStalePlan(err)) throw translateError(err);
      }
    }
  }

  /**
   * One statement in a transaction of its own whose commit does not wait for the disk (`synchronous_commit` off), sent
   * with its BEGIN and COMMIT: one round trip, no flush. Only for writes whose loss in a crash of PostgreSQL is
   * harmless: a claim, whose operations are then pending again as if never claimed (the attempt runs again, uncounted, as
   * at-least-once allows), or the ETA noted on a `created` event after the reply. Any later write that waits for the disk
   * (a finish, a create) flushes it with its own.
   *
   * It carries the notifications queued for the other nodes (see publish): they go out when it commits, in its
   * transaction rather than one of their own. Should it fail, they go in one of their own; should its transaction be
   * refused whole (a NOTIFY the server refuses, a notification queue full at COMMIT), the statement runs again without them.
   */
  async queryUnflushed<R>(sql: string, params?: readonly unknown[], options: StatementOptions = {}): Promise<R[]> {
    const carried = this.#outgoing.splice(0);
    if (carried.length === 0) return this.#inTransactionOfItsOwn(UNFLUSHED, [], sql, params, options);
    // Held by end() until it settles: the events it took are sent by it, or handed back to a flush.
    const carrying = this.#inTransactionOfItsOwn<R>(UNFLUSHED, carried, sql, params, options);
    this.#carrying.add(carrying);
    try {
      return await carrying;
    } finally {
      this.#carrying.delete(carrying);
    }
  }

  /**
   * `sql` in a transaction of its own with `settings` (SET LOCAL statements) and the NOTIFYs of `carried` in its BEGIN's
   * message, all in one write; tried again once after a stale plan, and without the NOTIFYs should they be refused.
   */
  async #inTransactionOfItsOwn<R>(
    settings: readonly string[],
    carried: readonly StoreEvent[],
    sql: string,
    params: readonly unknown[] | undefined,
    options: StatementOptions,
  ): Promise<R[]> {
    let carrying = carried;
    let renamed = false;
    try {
      for (;;) {
        const client = await this.#connect();
        let broken: Error | undefined;
        try {
          const sent = await inOneWrite(client, () => inTransactionOfItsOwn(client, [...settings, ...this.#notifies(carrying)], sql, params, options));
          broken = sent.broken;
          // Done, unless the COMMIT was refused. BEGIN's message refused with the statement done: none of that message ran
          // (it would have aborted the transaction), so the statement ran and committed on its own, and the NOTIFYs did not.
          if (sent.statement.status === 'fulfilled' && broken === undefined && sent.refused?.at !== 'commit') {
            if (sent.refused !== undefined) this.#handBack(carrying);
            return sent.statement.value.rows as R[];
          }
          // Refused whole (the NOTIFYs it carried, maybe): once more without them, which a flush of their own sends.
          if (sent.refused !== undefined && carrying.length > 0) {
            this.#handBack(carrying);
            carrying = [];
            continue;
          }
          const err = failureOf(sent);
          if (!renamed && renamedAfterStalePlan(err)) {
            renamed = true;
            continue;
          }
          throw translateError(err);
        } finally {
          client.release(broken);
        }
      }
    } catch (err) {
      // Whatever it still carried goes as it would have without it.
      this.#handBack(carrying);
      throw err;
    }
  }

  /** Events a statement was to carry and did not: a flush of their own sends them (and reports what it cannot). */
  #handBack(events: readonly StoreEvent[]): void {
    if (events.length === 0) return;
    this.#outgoing.unshift(...events);
    this.#startFlush();
  }

  /**
   * Runs statements one after another on one connection, each in a transaction of its own, sent together: one round
   * trip for all. A later one sees what an earlier one committed. Each settles on its own, in order, and never rejects:
   * the caller may act on one (announce what it committed) before the next has settled. One asked to keep its plan runs
   * in an explicit transaction, so that the setting holds for it alone; it fails if its BEGIN or COMMIT does.
   */
  async sequence(statements: readonly SequencedStatement[]): Promise<Array<Promise<PromiseSettledResult<unknown[]>>>> {
    const client = await this.#connect();
    let broken: Error | undefined;
    const settled = inOneWrite(client, () =>
      statements.map(async ([sql, params, options]): Promise<PromiseSettledResult<unknown[]>> => {
        const sent: Sent =
          options?.genericPlans === true || options?.unflushed === true
            ? await inTransactionOfItsOwn(client, options.unflushed === true ? UNFLUSHED : [], sql, params, options)
            : { statement: (await Promise.allSettled([client.query(prepared(sql, params))]))[0]!, broken: undefined };
        broken ??= sent.broken;
        if (sent.statement.status === 'fulfilled' && sent.broken === undefined && sent.refused?.at !== 'commit') {
          return { status: 'fulfilled', value: sent.statement.value.rows as unknown[] };
        }
        const err = failureOf(sent);
        // A statement a stale plan stopped did nothing; the caller tries it again (under new names).
        renamedAfterStalePlan(err);
        return { status: 'rejected', reason: translateError(err) };
      }),
    );
    void Promise.all(settled).then(() => client.release(broken));
    return settled;
  }

  /** Runs `work` in one transaction; after COMMIT the events it collected are published. */
  async transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    const client = await this.#connect();
    const events: StoreEvent[] = [];
    const tx: Transaction = {
      events,
      query: async <R>(sql: string, params?: readonly unknown[]) => (await client.query(prepared(sql, params))).rows as R[],
    };
    let broken: Error | undefined;
    try {
      // Not awaited before the work: the pipeline sends it ahead of the first statement. BEGIN fails only with its
      // connection, which fails the statements behind it too; its error is still raised here, before COMMIT.
      // The first statement, queued in the same tick, goes in the same write.
      const begun = inOneWrite(client, () => client.query('BEGIN'));
      begun.catch(() => {});
      const value = await work(tx);
      await begun;
      await client.query('COMMIT');
      this.publish(events);
      return value;
    } catch (err) {
      await client.query('ROLLBACK').catch((rollbackErr: Error) => {
        broken = rollbackErr;
      });
      // Rolled back whole; the next try of any transaction prepares its statements anew.
      renamedAfterStalePlan(err);
      throw translateError(err);
    } finally {
      client.release(broken);
    }
  }

  /** A connection of the pool; not getting one is the store being unavailable. */
  async #connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (err) {
      throw translateError(err);
    }
  }

  /**
   * For committed changes: emit here at once, and queue them for the other nodes. The change is already committed,
   * so a failed NOTIFY is reported, not thrown (the slow fallback poll covers the lost wake-up).
   *
   * What wakes a worker or a dispatcher elsewhere (due work, a cancel, a delivery, a schedule) goes at once. A change of
   * an operation, which other nodes' read caches and watchers hear of, waits a turn of the event loop for a statement
   * that does not wait for the disk (a claim, an ETA note) to carry it (queryUnflushed): a worker's claims and ends each
   * announce their changes, and with a transaction of their own for those a drain on PostgreSQL sent as many NOTIFY
   * transactions as claims; carried, it ran about an eighth faster (bench/README.md, "Changes ride on the next claim").
   */
  publish(events: readonly StoreEvent[]): void {
    if (events.length === 0) return;
    const compacted = compactEvents(events);
    this.#feed.emit(compacted);
    this.#queueForOthers(compacted);
  }

  /** publish() without emitting here: for committed changes emitted here already (announced). */
  announceToOthers(events: readonly StoreEvent[]): void {
    if (events.length > 0) this.#queueForOthers(compactEvents(events));
  }

  #queueForOthers(compacted: readonly StoreEvent[]): void {
    this.#outgoing.push(...compacted);
    if (compacted.some((event) => event.kind !== 'operation:changed')) this.#startFlush();
    else this.#flushAfterATurn();
  }

  // Two immediates: a pool whose claim just came back starts its handlers, and the claim for the slots they free is
  // sent from an immediate queued after this one's first.
  #flushAfterATurn(): void {
    if (this.#waitingATurn) return;
    this.#waitingATurn = true;
    setImmediate(() =>
      setImmediate(() => {
        this.#waitingATurn = false;
        if (this.#outgoing.length > 0) this.#startFlush();
      }),
    );
  }

  /** The NOTIFY statements that announce `events` to the other nodes (none for none). */
  #notifies(events: readonly StoreEvent[]): string[] {
    const channel = sqlLiteral(this.channel);
    return this.notificationPayloads(events).map((payload) => `SELECT pg_notify(${channel}, ${sqlLiteral(payload)})`);
  }

  /** The payloads that announce `events` on `channel`, for a statement of the caller's that sends them itself. */
  notificationPayloads(events: readonly StoreEvent[]): string[] {
    return events.length === 0 ? [] : encodeNotifications(this.sourceId, compactEvents(events));
  }

  /** Emits committed changes here; the other nodes hear of them from publish(), or from a statement of the caller's. */
  announced(events: readonly StoreEvent[]): void {
    if (events.length > 0) this.#feed.emit(compactEvents(events));
  }

  #startFlush(): void {
    this.#flushing ??= this.#flush().finally(() => {
      this.#flushing = null;
      // Events queued between the loop's last look and now.
      if (this.#outgoing.length > 0) this.#startFlush();
    });
  }

  // PostgreSQL serialises the commits of notifying transactions on one global lock, flush to disk included: a
  // NOTIFY per write would cap throughput at one disk flush per write. So NOTIFYs go in transactions that do not wait
  // for the disk (a lost wake-up is covered by the fallback poll): this one carries whatever committed meanwhile, a
  // claim what is queued when it goes (queryUnflushed), and a group of creates announces itself (insert-group.ts).
  async #flush(): Promise<void> {
    while (this.#outgoing.length > 0) {
      const notifies = this.#notifies(this.#outgoing.splice(0));
      try {
        await this.pool.query(['BEGIN', ...UNFLUSHED, ...notifies, 'COMMIT'].join('; '));
      } catch (err) {
        this.#onError(translateError(err));
      }
    }
  }

  /** An error no caller sees, of a step after others committed (a claim's), to the store's onError as a failed flush's. */
  reportError(err: unknown): void {
    this.#onError(translateError(err));
  }

  /** Sends what is still queued for the other nodes, then closes the pool. */
  async end(): Promise<void> {
    // A statement carrying events sends them, or hands them back, before the pool is gone.
    while (this.#carrying.size > 0) await Promise.allSettled([...this.#carrying]);
    if (this.#outgoing.length > 0) this.#startFlush();
    while (this.#flushing !== null) await this.#flushing;
    await this.pool.end();
  }
}
