// Owns: the connection pool (schema on the search_path, int8 as number), statements, transactions and publishing events.
// Not here: what any query says (operations.ts, transitions.ts, deliveries.ts, maintenance.ts), LISTEN (change-listener.ts).
// Invariant: events reach the change feed only after their transaction committed, NOTIFY rides in the same COMMIT.

import pg from 'pg';
import { AsyncOpsError } from '../../domain/errors.ts';
import type { ChangeFeed } from '../change-feed.ts';
import type { StoreEvent } from '../store.ts';
import { compactEvents, encodeNotifications } from './change-listener.ts';

/** Runs one statement and returns its rows; the same shape inside and outside a transaction. */
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

export function checkSchemaName(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) {
    throw new AsyncOpsError('validation_failed', `PostgreSQL schema name "${schema}" must match ${SCHEMA_NAME}`);
  }
  return schema;
}

/** Connection settings shared by the pool and the LISTEN connection. */
export function clientConfig(url: string, schema: string): pg.ClientConfig {
  return { connectionString: url, types: TYPES, options: `-c search_path=${schema}`, application_name: 'asyncops' };
}

// Connection-level failures (refused, reset, admin shutdown, too many clients) mean the store is unavailable,
// not that a query is wrong.
const UNAVAILABLE_SQLSTATE = /^(08|57P|53300)/;
const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE', 'EHOSTUNREACH']);

function translateError(err: unknown): unknown {
  if (err instanceof AsyncOpsError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  const connectionLost = message.includes('Connection terminated') || message.includes('not queryable');
  if ((typeof code === 'string' && (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_ERRNO.has(code))) || connectionLost) {
    return new AsyncOpsError('store_unavailable', `PostgreSQL unavailable: ${message}`, { cause: err });
  }
  return err;
}

export class PostgresDatabase implements Queryable {
  readonly pool: pg.Pool;
  readonly channel: string;
  /** Marks this store's notifications so its own LISTEN connection can skip what was already emitted locally. */
  readonly sourceId: string;
  #feed: ChangeFeed;
  #onError: (err: unknown) => void;

  constructor(options: { url: string; schema: string; poolSize: number; feed: ChangeFeed; sourceId: string; onError: (err: unknown) => void }) {
    this.pool = new pg.Pool({ ...clientConfig(options.url, options.schema), max: options.poolSize });
    // An idle connection that dies (server restart, terminated backend) is dropped by the pool; say so, never crash.
    this.pool.on('error', (err) => options.onError(err));
    this.channel = `asyncops_${options.schema}`;
    this.sourceId = options.sourceId;
    this.#feed = options.feed;
    this.#onError = options.onError;
  }

  async query<R>(sql: string, params?: readonly unknown[]): Promise<R[]> {
    try {
      const result = await this.pool.query(sql, params as unknown[] | undefined);
      return result.rows as R[];
    } catch (err) {
      throw translateError(err);
    }
  }

  /** Runs `work` in one transaction; the events it collected are NOTIFYed in the COMMIT round trip, then emitted here. */
  async transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw translateError(err);
    }
    const events: StoreEvent[] = [];
    const tx: Transaction = {
      events,
      query: async <R>(sql: string, params?: readonly unknown[]) => (await client.query(sql, params as unknown[] | undefined)).rows as R[],
    };
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const value = await work(tx);
      const published = compactEvents(events);
      const notify = encodeNotifications(this.sourceId, published)
        .map((payload) => `SELECT pg_notify(${pg.escapeLiteral(this.channel)}, ${pg.escapeLiteral(payload)});`)
        .join('');
      // One simple-protocol round trip for the NOTIFYs and the COMMIT: they take effect together or not at all.
      await client.query(`${notify}COMMIT`);
      this.#feed.emit(published);
      return value;
    } catch (err) {
      await client.query('ROLLBACK').catch((rollbackErr: Error) => {
        broken = rollbackErr;
      });
      throw translateError(err);
    } finally {
      client.release(broken);
    }
  }

  /**
   * For changes made by one autocommit statement: emit here at once, then NOTIFY the other nodes. The change is
   * already committed, so a failed NOTIFY is reported, not thrown (the slow fallback poll covers the lost wake-up).
   */
  async publish(events: readonly StoreEvent[]): Promise<void> {
    if (events.length === 0) return;
    const published = compactEvents(events);
    this.#feed.emit(published);
    try {
      await this.pool.query('SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload', [
        this.channel,
        encodeNotifications(this.sourceId, published),
      ]);
    } catch (err) {
      this.#onError(translateError(err));
    }
  }

  /** For statements that NOTIFY inline (`pg_notify($n, payload) FROM unnest($m::text[])`): the parameters, and the local emit. */
  inlineNotification(events: readonly StoreEvent[]): { channel: string; payloads: string[]; emit: () => void } {
    const published = compactEvents(events);
    return { channel: this.channel, payloads: encodeNotifications(this.sourceId, published), emit: () => this.#feed.emit(published) };
  }

  async end(): Promise<void> {
    await this.pool.end();
  }
}
