// Owns: starting the real asyncops server as a child process for end-to-end tests (port 0, temp store), and
// which store those servers get: SQLite, or with ASYNCOPS_E2E_STORE=postgres a PostgreSQL schema of their own.
// Not here: assertions. Invariant: every process started here is killed by stop() (tests call it in after()),
// start-up is bounded, and every store made here is removed once its servers are gone.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dropSchema, PG_URL, RecycledSchemas, uniqueSchema } from './postgres.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI_ENTRY = join(REPO_ROOT, 'bin/asyncops.js');
export const FIXTURE_TASKS = join(REPO_ROOT, 'test/fixtures/tasks.ts');

export interface ServerProcess {
  readonly url: string;
  readonly port: number;
  readonly process: ChildProcess;
  /** Parsed JSON log lines seen so far. */
  readonly logs: Array<Record<string, unknown>>;
  /** Everything written to stderr so far (warnings, crashes). */
  stderr(): string;
  /** SIGTERM, then SIGKILL if it has not exited within the bound. */
  stop(): Promise<void>;
  /** SIGKILL, no grace. */
  kill(): Promise<void>;
}

/** The store end-to-end servers run on: `ASYNCOPS_E2E_STORE` (`sqlite`, the default, or `postgres`). */
export const E2E_STORE: 'sqlite' | 'postgres' = e2eStoreFromEnv(process.env.ASYNCOPS_E2E_STORE);

/**
 * For a `describe` or `it` whose subject is not the store (flags and start-up refused or taken, the HTTP edge: Host,
 * CORS, an exporter): it runs once, in the SQLite pass, since the PostgreSQL pass would run the same processes again.
 * Not for one that checks what the store keeps or answers (a lifecycle, a tenant's scope, a 304 of a stored status).
 */
export const STORE_INDEPENDENT = { skip: E2E_STORE === 'postgres' ? 'store-independent: runs in the SQLite pass only' : false } as const;

function e2eStoreFromEnv(value: string | undefined): 'sqlite' | 'postgres' {
  if (value === undefined || value === '' || value === 'sqlite') return 'sqlite';
  if (value === 'postgres') return 'postgres';
  throw new Error(`ASYNCOPS_E2E_STORE must be sqlite or postgres, not "${value}"`);
}

export interface TestStore {
  /** The --store specification. */
  readonly spec: string;
  /** Removes the store; call it only once no server uses it. */
  cleanup(): Promise<void>;
}

/**
 * A new empty store that survives its servers, for tests that restart on the same data: a SQLite file in a temp
 * dir, or a PostgreSQL schema of its own (`?schema=` in the URL), which the first server to open it migrates.
 */
export function freshStore(kind: 'sqlite' | 'postgres' = E2E_STORE): TestStore {
  if (kind === 'postgres') {
    const schema = uniqueSchema();
    const url = new URL(PG_URL);
    url.searchParams.set('schema', schema);
    return { spec: url.toString(), cleanup: () => dropSchema(schema) };
  }
  const dir = tempDir();
  return { spec: join(dir.path, 'asyncops.db'), cleanup: async () => dir.cleanup() };
}

let recycled: RecycledSchemas | null = null;

/**
 * A store for a server given none, on PostgreSQL: a schema an earlier server of this process left, emptied, so the server
 * has nothing to migrate (a quarter of a second of DDL per start otherwise); the schemas go as the process ends.
 */
function recycledStore(): TestStore {
  if (recycled === null) {
    const schemas = new RecycledSchemas();
    recycled = schemas;
    process.once('beforeExit', () => void schemas.drop());
  }
  const schemas = recycled;
  const schema = schemas.take();
  const url = new URL(PG_URL);
  url.searchParams.set('schema', schema);
  // stop() and kill() may be called again (in a test, then in its finally): the schema is given back once.
  let givenBack: Promise<void> | null = null;
  return { spec: url.toString(), cleanup: () => (givenBack ??= schemas.giveBack(schema)) };
}

export interface StartServerOptions {
  /** Store spec; default a store of the E2E_STORE kind of its own: `:memory:`, or a PostgreSQL schema emptied after stop() or kill(). */
  readonly store?: string;
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** Load test/fixtures/tasks.ts (default true). */
  readonly fixtureTasks?: boolean;
  readonly command?: 'serve' | 'worker';
  readonly startTimeoutMs?: number;
}

export function tempDir(prefix = 'asyncops-test-'): { path: string; cleanup(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

export async function startServer(options: StartServerOptions = {}): Promise<ServerProcess> {
  const command = options.command ?? 'serve';
  const own = options.store === undefined && E2E_STORE === 'postgres' ? recycledStore() : null;
  try {
    const server = await spawnServer(command, options.store ?? own?.spec ?? ':memory:', options);
    if (own === null) return server;
    return {
      ...server,
      async stop() {
        await server.stop();
        await own.cleanup();
      },
      async kill() {
        await server.kill();
        await own.cleanup();
      },
    };
  } catch (error) {
    await own?.cleanup().catch(() => {});
    throw error;
  }
}

async function spawnServer(command: 'serve' | 'worker', store: string, options: StartServerOptions): Promise<ServerProcess> {
  const args = [CLI_ENTRY, command];
  if (command === 'serve') args.push('--port', '0', '--host', '127.0.0.1');
  args.push('--store', store, '--log-level', 'info');
  if (options.fixtureTasks !== false) args.push('--tasks', FIXTURE_TASKS);
  args.push(...(options.args ?? []));
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let buffered = '';
  const ready = new Promise<{ url: string }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not start within ${options.startTimeoutMs ?? 20_000} ms; stderr: ${stderr.slice(-2000)}`)),
      options.startTimeoutMs ?? 20_000,
    );
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry.msg === 'asyncops listening' && typeof entry.url === 'string') {
            clearTimeout(timer);
            resolve({ url: entry.url });
          }
          if (entry.msg === 'asyncops worker started') {
            clearTimeout(timer);
            resolve({ url: '' });
          }
        } catch {
          // Not a log line (a task printing to stdout); keep going.
        }
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited before it was ready (code ${code}, signal ${signal}); stderr: ${stderr.slice(-2000)}`));
    });
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  let url: string;
  try {
    url = (await ready).url;
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    throw error;
  }
  const waitExit = async (ms: number) => {
    let timer: NodeJS.Timeout | undefined;
    const bounded = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    const done = await Promise.race([exited.then(() => true), bounded]);
    clearTimeout(timer);
    return done;
  };
  return {
    url,
    port: url === '' ? 0 : Number(new URL(url).port),
    process: child,
    logs,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      if (!(await waitExit(15_000))) {
        child.kill('SIGKILL');
        await exited;
      }
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}
