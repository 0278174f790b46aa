// Owns: running one of examples/ as its own process, as a user runs it (with the package name resolved to src/), until
// it says where it listens; and stopping it with SIGTERM, as a user's Ctrl-C would.
// Invariant: every wait is bounded; a process that does not exit after SIGTERM in time is killed and the stop fails.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { REPO_ROOT } from './server.ts';

export interface ExampleProcess {
  readonly child: ChildProcess;
  /** The URL its "listening on" line named. */
  readonly url: string;
  /** Everything it printed so far. */
  output(): string;
  /** SIGTERM, then its exit code (bounded: SIGKILL and a thrown error after `timeoutMs`). */
  stop(timeoutMs?: number): Promise<number | null>;
}

const LOADER = join(REPO_ROOT, 'test/support/source-package.ts');

export async function startExample(file: string, env: Record<string, string>, timeoutMs = 20_000): Promise<ExampleProcess> {
  const child = spawn(process.execPath, ['--import', LOADER, join(REPO_ROOT, 'examples', file)], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  const exited = once(child, 'exit');
  const stop = async (stopTimeoutMs = 15_000) => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
    const [code, signal] = (await exited) as [number | null, string | null];
    clearTimeout(timer);
    if (signal === 'SIGKILL') throw new Error(`${file} did not exit within ${stopTimeoutMs} ms of SIGTERM:\n${text}`);
    return code;
  };
  const url = await new Promise<string | null>((resolve) => {
    const timer = setTimeout(() => resolve(null), timeoutMs);
    const check = () => {
      const match = /listening on (http:\/\/\S+)/.exec(text);
      if (match === null && child.exitCode === null) return;
      clearTimeout(timer);
      child.stdout!.off('data', check);
      resolve(match?.[1] ?? null);
    };
    child.stdout!.on('data', check);
    child.once('exit', check);
  });
  if (url === null) {
    await stop().catch(() => undefined);
    throw new Error(`${file} did not start listening within ${timeoutMs} ms:\n${text}`);
  }
  return { child, url, output: () => text, stop };
}
