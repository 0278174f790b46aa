// Owns: starting the processes the benchmark measures (the asyncops server, a worker, the bare Fastify server),
// waiting for their ready line, reading their memory and stopping them. Not here: load generation or figures.
// Invariant: every process started here is stopped by stop() (run.ts stops them all, even on failure).

import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { refuseIfInterrupted } from './interrupt.ts';

export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
const CLI = fileURLToPath(new URL('../bin/asyncops.js', import.meta.url));
const BENCH_TASKS = fileURLToPath(new URL('./tasks.ts', import.meta.url));
const BARE_SERVER = fileURLToPath(new URL('./bare-server.ts', import.meta.url));
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;

export interface BenchProcess {
  readonly url: string;
  readonly pid: number;
  /** When the ready line arrived (performance.timeOrigin + performance.now() of this process). */
  readonly readyAt: number;
  /** Resident set size now, bytes (Linux /proc). */
  rss(): number | null;
  /** CPU time it has used so far (user + system, all threads), ms (Linux /proc); null where unreadable. */
  cpuMs(): number | null;
  stop(): Promise<void>;
}

/** How to stop each process started and not yet stopped, from its spawn on: one still starting is stopped too. */
const running = new Set<() => Promise<void>>();

/** Stops whatever is still running (a scenario that threw, a run interrupted). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((stop) => stop()));
}

/**
 * The environment a process starts with: this one's, less every ASYNCOPS_ setting a user may have exported (a read
 * cache off, a log level that hides the ready line, API keys that refuse the load), which would change what is measured
 * without a word in the figures; the run's own settings then.
 */
function childEnv(own: Readonly<Record<string, string>>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('ASYNCOPS_') || name.startsWith('ASYNCOPS_BENCH_')));
  return { ...env, ...own };
}

export interface AsyncopsArgs {
  readonly store: string;
  readonly concurrency?: number;
  readonly workers?: boolean;
  /** Load the built-in `report` task too (default: only the bench tasks). */
  readonly builtinTasks?: boolean;
  readonly extra?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

/** `serve --port 0` (or `worker` with role 'worker') with the bench tasks, logging at info for the ready line only. */
export function startAsyncops(role: 'serve' | 'worker', args: AsyncopsArgs): Promise<BenchProcess> {
  const argv = [CLI, role, '--store', args.store, '--tasks', BENCH_TASKS, '--concurrency', String(args.concurrency ?? 10)];
  if (args.builtinTasks !== true) argv.push('--no-builtin-tasks');
  if (role === 'serve') argv.push('--port', '0', '--host', '127.0.0.1');
  if (role === 'serve' && args.workers === false) argv.push('--no-workers');
  argv.push(...(args.extra ?? []));
  // The ready line is an info line, whatever level a user's environment would set (childEnv drops it anyway).
  argv.push('--log-level', 'info');
  const ready = role === 'serve' ? 'asyncops listening' : 'worker pool started';
  // The per-client rate limits would cap a load generator at a few dozen requests a second.
  return startProcess(argv, ready, { ASYNCOPS_RATE_LIMIT_CREATE: 'off', ASYNCOPS_RATE_LIMIT_READ: 'off', ...args.env });
}

export function startBareServer(): Promise<BenchProcess> {
  return startProcess([BARE_SERVER], 'bare listening', {});
}

// ASYNCOPS_BENCH_CPU_PROF=<dir>: every asyncops process (server and worker) writes a V8 CPU profile there when it
// stops (bench/README.md, "profile-top.ts" summarises one), for the "why" behind a figure: `--only drain` for a
// worker's, `--only create` for a server's creates.
const CPU_PROF_DIR = process.env.ASYNCOPS_BENCH_CPU_PROF;

function startProcess(argv: readonly string[], readyMsg: string, env: Readonly<Record<string, string>>): Promise<BenchProcess> {
  refuseIfInterrupted();
  const profiled = CPU_PROF_DIR !== undefined && (argv[1] === 'worker' || argv[1] === 'serve');
  const nodeArgv = profiled ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`, ...argv] : argv;
  const child: ChildProcess = spawn(process.execPath, nodeArgv, { cwd: REPO_ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    running.delete(stop);
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(killer);
  };
  // Owed from its spawn: an interrupt while it starts stops it too (it would run on, and remake its store's schema).
  running.add(stop);
  return new Promise<BenchProcess>((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => fail(new Error(`${readyMsg}: not ready within ${START_TIMEOUT_MS} ms; stderr: ${stderr}`)), START_TIMEOUT_MS);
    const fail = (error: Error) => {
      clearTimeout(timer);
      running.delete(stop);
      child.kill('SIGKILL');
      reject(error);
    };
    const early = (code: number | null) => fail(new Error(`${argv.slice(0, 2).join(' ')} exited (${code}) before "${readyMsg}"; stderr: ${stderr}`));
    child.once('exit', early);
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (!line.includes(readyMsg)) continue;
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg !== readyMsg) continue;
        clearTimeout(timer);
        child.off('exit', early);
        const proc: BenchProcess = {
          url: entry.url ?? '',
          pid: child.pid ?? -1,
          readyAt: performance.timeOrigin + performance.now(),
          rss: () => rssOf(child.pid),
          cpuMs: () => cpuMsOf(child.pid),
          stop,
        };
        resolve(proc);
      }
    });
  });
}

function rssOf(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Clock ticks a second of /proc/<pid>/stat's times: USER_HZ, 100 on Linux wherever it is not configured otherwise. */
const CLOCK_TICKS_PER_S = 100;

function cpuMsOf(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  return procCpuMs(pid)?.ms ?? null;
}

/** A process's CPU time (user + system) and command name from /proc/<pid>/stat; null once it is gone. */
function procCpuMs(pid: number | string): { ms: number; command: string } | null {
  try {
    // Fields after the command (which may hold spaces, so split after its closing parenthesis): utime is the 14th field
    // of the line, stime the 15th, i.e. the 12th and 13th after the command.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    return { ms: ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_S, command: stat.slice(stat.indexOf('(') + 1, close) };
  } catch {
    return null;
  }
}

/**
 * The CPU time of every PostgreSQL process on this machine (its server runs here, beside the bench), or null where
 * there is no /proc. Backends come and go: one that ended between two readings takes its time with it, so read it
 * across a span in which the connections of interest stay open.
 */
export function postgresCpuMs(): number | null {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return null;
  }
  let total = 0;
  for (const pid of pids) {
    const proc = procCpuMs(pid);
    if (proc?.command === 'postgres') total += proc.ms;
  }
  return total;
}
