// Owns: what PostgreSQL tests share: the server URL, whether it answers, a schema of their own, dropping it after.
// Not here: any store behaviour (test/store/postgres.test.ts, the contract).
// Invariant: without a server, tests skip with a message, except under CI=true, where that is a failure.

import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const PG_URL = process.env.ASYNCOPS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Null when a server answers at PG_URL; otherwise the reason to skip. Under CI=true a missing server throws,
 * so CI cannot pass by skipping every PostgreSQL test.
 */
export async function postgresSkipReason(): Promise<string | null> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (err) {
    const reason = `PostgreSQL not reachable at ${PG_URL} (${err instanceof Error ? err.message : String(err)}); set ASYNCOPS_TEST_PG_URL`;
    if (process.env.CI === 'true') throw new Error(`${reason}; CI=true requires it`);
    return reason;
  } finally {
    await client.end().catch(() => {});
  }
}

/** A fresh schema name for one test: `t_<pid>_<random>`. */
export function uniqueSchema(): string {
  return `t_${process.pid}_${randomBytes(5).toString('hex')}`;
}

/** Runs `work` with a short-lived client on PG_URL (for inspecting or disturbing the server from a test). */
export async function withClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_URL });
  client.on('error', () => {});
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => {});
  }
}

export async function dropSchema(schema: string): Promise<void> {
  await withClient((client) => client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`));
}

export interface TestDatabase {
  readonly url: string;
  /** Drops it, closing whatever connections are left. */
  drop(): Promise<void>;
}

/**
 * A database of its own whose default collation is ICU's en-US, as on many managed servers: punctuation sorts before
 * letters and digits, and lower case before upper. A string (the reason) when this server cannot make one.
 */
export async function icuDatabase(): Promise<TestDatabase | string> {
  const name = `t_icu_${process.pid}_${randomBytes(4).toString('hex')}`;
  try {
    await withClient((c) => c.query(`CREATE DATABASE ${name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'`));
  } catch (err) {
    const reason = `this PostgreSQL cannot make a database with ICU's en-US collation (${err instanceof Error ? err.message : String(err)})`;
    if (process.env.CI === 'true') throw new Error(`${reason}; CI=true requires it`);
    return reason;
  }
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => withClient((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined) };
}
