// Owns: running the real CLI (`node bin/asyncops.js …`, the executable users run) as a subprocess for tests, with a bound on how long it may run.
// Not here: assertions. Invariant: every child started here is tracked and killed by killAll() (tests call it in after()).

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = 'bin/asyncops.js';

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const children = new Set<ChildProcess>();

export function startCli(args: readonly string[], env: Record<string, string | undefined> = {}): ChildProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ASYNCOPS_URL: undefined, ASYNCOPS_API_KEY: undefined, ASYNCOPS_WEBHOOK_SECRET: undefined, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export interface RunCliOptions {
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  stdin?: string;
  /** Close our end of this pipe at once, as `| head -1` does once it has its line: the CLI's writes then fail with EPIPE. */
  closeEarly?: 'stdout' | 'stderr';
}

/** Runs to completion; killed (and the test fails on the null code) after `timeoutMs`. */
export async function runCli(args: readonly string[], options: RunCliOptions = {}): Promise<CliRun> {
  const child = startCli(args, options.env);
  if (options.closeEarly !== undefined) child[options.closeEarly]!.destroy();
  return collect(child, options.timeoutMs ?? 20_000, options.stdin);
}

/** Runs a shell command line (for `script`, which needs one) in its own process group, bounded like runCli. */
export async function runShell(commandLine: string, timeoutMs = 20_000): Promise<CliRun> {
  const child = spawn('sh', ['-c', commandLine], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return collect(child, timeoutMs);
}

async function collect(child: ChildProcess, timeoutMs: number, stdin?: string): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin!.end(stdin);
  const timer = setTimeout(() => kill(child), timeoutMs);
  try {
    const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
    return { code, signal, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves with the first match of `pattern` in the child's stderr; rejects after `timeoutMs` or if it exits first. */
export async function waitForStderr(child: ChildProcess, pattern: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
  let seen = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`no ${pattern} on stderr within ${timeoutMs} ms; saw ${JSON.stringify(seen)}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString('utf8');
      const match = seen.match(pattern);
      if (match) finish(null, match);
    };
    const onExit = () => finish(new Error(`exited before ${pattern} appeared on stderr; saw ${JSON.stringify(seen)}`));
    function finish(error: Error | null, match?: RegExpMatchArray) {
      clearTimeout(timer);
      child.stderr!.off('data', onData);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(match!);
    }
    child.stderr!.on('data', onData);
    child.once('exit', onExit);
  });
}

export async function killAll(): Promise<void> {
  await Promise.all(
    [...children].map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      kill(child);
      await exited;
    }),
  );
}

/** SIGKILL the child, and its whole process group when it leads one (runShell's `script` and what it runs). */
function kill(child: ChildProcess): void {
  try {
    if (child.spawnargs[0] === 'sh' && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    else child.kill('SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

/** Any control character but the newline: what plain (non-TTY) output must not contain. */
export const CONTROL_CHARS = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
