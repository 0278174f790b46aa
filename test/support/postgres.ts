// Owns: what PostgreSQL tests share: the server URL, whether it answers, a schema of their own, dropping it after, and
// schemas emptied for the next test.
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

/**
 * Schemas for tests that each want an empty, migrated store: the schema a closed store leaves is emptied (every table
 * but schema_migrations, and its sequences started over) and handed to the next test, which then finds nothing to
 * migrate. Migrating a new schema is about a quarter of a second of DDL, which was most of the store contract's time.
 */
export class RecycledSchemas {
  readonly #pool: pg.Pool;
  readonly #free: string[] = [];
  readonly #made = new Set<string>();

  constructor(url: string = PG_URL) {
    // Idle, its connection does not keep a test process alive (server.ts drops the schemas as the process ends).
    this.#pool = new pg.Pool({ connectionString: url, max: 1, allowExitOnIdle: true });
  }

  /** An emptied schema a store was closed on, or a new name (the store's open migrates it). */
  take(): string {
    const schema = this.#free.pop() ?? uniqueSchema();
    this.#made.add(schema);
    return schema;
  }

  /** Empties `schema`, whose store is closed, for the next take() (one never made, a server that did not start, stays a name to make). */
  async giveBack(schema: string): Promise<void> {
    const tables = `SELECT c.relname, c.relkind FROM pg_class c
      WHERE c.relnamespace = to_regnamespace(${sqlString(schema)}) AND c.relkind IN ('r', 'S') AND c.relname <> 'schema_migrations'`;
    // As a replica applies rows no foreign key or trigger fires, so the tables empty in any order, counters too; that
    // takes a superuser. Otherwise TRUNCATE, which fires no row trigger either: some 70 ms against 6.
    const empty = (await this.#superuser())
      ? `BEGIN; SET LOCAL session_replication_role = replica;
        DO $$ DECLARE r record; BEGIN
          FOR r IN ${tables} LOOP
            IF r.relkind = 'r' THEN EXECUTE format('DELETE FROM %I.%I', ${sqlString(schema)}, r.relname);
            ELSE EXECUTE format('ALTER SEQUENCE %I.%I RESTART', ${sqlString(schema)}, r.relname);
            END IF;
          END LOOP;
        END $$; COMMIT`
      : `DO $$ DECLARE r record; names text := ''; BEGIN
          FOR r IN ${tables} AND c.relkind = 'r' LOOP
            names := names || CASE WHEN names = '' THEN '' ELSE ', ' END || format('%I.%I', ${sqlString(schema)}, r.relname);
          END LOOP;
          IF names <> '' THEN EXECUTE 'TRUNCATE ' || names || ' RESTART IDENTITY'; END IF;
        END $$`;
    await this.#pool.query(empty);
    if (!this.#free.includes(schema)) this.#free.push(schema);
  }

  #superuserAnswer: Promise<boolean> | null = null;
  #superuser(): Promise<boolean> {
    this.#superuserAnswer ??= this.#pool
      .query<{ rolsuper: boolean }>('SELECT rolsuper FROM pg_roles WHERE rolname = current_user')
      .then((r) => r.rows[0]?.rolsuper === true);
    return this.#superuserAnswer;
  }

  /** Drops every schema handed out, and ends the connection. */
  async drop(): Promise<void> {
    try {
      for (const schema of this.#made) await this.#pool.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
    } finally {
      await this.#pool.end();
    }
  }
}

function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
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
