// Owns: starting the real asyncops server as a child process for end-to-end tests (port 0, temp store),
// and stopping it. Not here: assertions.
// Invariant: every process started here is killed by stop() (tests call it in after()), and start-up is bounded.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI_ENTRY = join(REPO_ROOT, 'src/cli/main.ts');
export const FIXTURE_TASKS = join(REPO_ROOT, 'test/fixtures/tasks.ts');

export interface ServerProcess {
  readonly url: string;
  readonly port: number;
  readonly process: ChildProcess;
  /** Parsed JSON log lines seen so far. */
  readonly logs: Array<Record<string, unknown>>;
  /** SIGTERM, then SIGKILL if it has not exited within the bound. */
  stop(): Promise<void>;
  /** SIGKILL, no grace. */
  kill(): Promise<void>;
}

export interface StartServerOptions {
  /** Store spec; default a fresh SQLite file in a temp dir removed by `cleanup`. */
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
  const args = [CLI_ENTRY, command];
  if (command === 'serve') args.push('--port', '0', '--host', '127.0.0.1');
  args.push('--store', options.store ?? ':memory:', '--log-level', 'info');
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
    const timer = setTimeout(() => reject(new Error(`server did not start within ${options.startTimeoutMs ?? 20_000} ms; stderr: ${stderr.slice(-2000)}`)), options.startTimeoutMs ?? 20_000);
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
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
