// Owns: `--peers`: installing bench/peers when it is missing or unfinished, running each peer (BullMQ, graphile-worker twice,
// pg-boss) on each workload in a child process of its own on a namespace of its own, and the asyncops side of the one
// workload the other scenarios do not measure (enqueue one at a time, over HTTP).
// Not here: the peers' code (bench/peers/), the table (peers-report.ts). Invariant: every child is stopped and every
// schema or Redis key prefix made here is removed, whether the peer succeeded or not.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { PeerFigures, PeerName, PeerSettings, Workload } from './peers/figures.ts';
import { owe } from './interrupt.ts';
import { load } from './load.ts';
import { REPO_ROOT, startAsyncops } from './processes.ts';
import { freshStore, PG_URL, type StoreKind } from './stores.ts';

const PEERS_DIR = fileURLToPath(new URL('./peers/', import.meta.url));
const PEER_MAIN = fileURLToPath(new URL('./peers/main.ts', import.meta.url));
export const REDIS_URL = process.env.ASYNCOPS_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const CHILD_TIMEOUT_MS = 600_000;

export type PeerSettingsBase = Omit<PeerSettings, 'namespace' | 'redisUrl' | 'pgUrl'>;

/**
 * Whether `dir`'s node_modules holds what its lockfile asks for: npm writes node_modules/.package-lock.json last, when
 * an install has finished, so an install cut short (or a lockfile changed since) reads as not installed. Optional
 * packages (other platforms' binaries) may be absent.
 */
export function installMatchesLockfile(dir: string): boolean {
  const packagesOf = (path: string): Record<string, { version?: string; optional?: boolean }> | null => {
    try {
      return (JSON.parse(readFileSync(path, 'utf8')) as { packages?: Record<string, { version?: string; optional?: boolean }> }).packages ?? null;
    } catch {
      return null;
    }
  };
  const wanted = packagesOf(join(dir, 'package-lock.json'));
  const installed = packagesOf(join(dir, 'node_modules', '.package-lock.json'));
  if (wanted === null || installed === null) return false;
  return Object.entries(wanted).every(([path, entry]) => path === '' || entry.optional === true || installed[path]?.version === entry.version);
}

/** `npm ci` in bench/peers unless its install is whole and current; the peers are never the project's dependencies. */
export function ensurePeersInstalled(log: (line: string) => void): 'present' | 'installed' {
  if (installMatchesLockfile(PEERS_DIR)) return 'present';
  const why = existsSync(join(PEERS_DIR, 'node_modules')) ? 'its node_modules is unfinished or older than its lockfile' : 'not installed yet';
  log(`installing bench/peers (${why}: npm ci --prefix bench/peers) …`);
  const result = spawnSync('npm', ['ci', '--prefix', PEERS_DIR, '--no-audit', '--no-fund'], { cwd: REPO_ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) throw new Error(`npm ci --prefix bench/peers exited with ${result.status}`);
  return 'installed';
}

/** null when Redis answers PING, else why not. */
export function redisReachable(url = REDIS_URL): Promise<string | null> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port || 6379) });
    const done = (reason: string | null) => {
      socket.destroy();
      resolve(reason);
    };
    socket.setTimeout(3_000, () => done('timed out'));
    socket.on('error', (err) => done(err.message));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => done(data.toString().startsWith('+PONG') ? null : `answered ${data.toString().trim()}`));
  });
}

let counter = 0;

async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  client.on('error', () => {});
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
  } finally {
    await client.end();
  }
}

interface ChildResult {
  readonly version: string;
  readonly config: string;
  readonly figures: unknown;
}

/** The peers' children running now: an interrupted run stops them (interrupt.ts) before it removes their schemas. */
const children = new Set<ChildProcess>();

export async function stopPeerChildren(): Promise<void> {
  await Promise.all(
    [...children].map((child) => {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      return exited;
    }),
  );
}

function runChild(args: readonly string[]): Promise<ChildResult> {
  const child = spawn(process.execPath, [PEER_MAIN, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      const last = stdout.trim().split('\n').at(-1) ?? '';
      if (code === 0 && last.startsWith('{')) resolve(JSON.parse(last) as ChildResult);
      else reject(new Error(`${args.slice(0, 2).join(' ')} exited (${code ?? signal}); stderr: ${stderr.trim().slice(-1000)}`));
    });
  });
}

/** One peer on one workload, in a child process, on a fresh schema (or Redis key prefix) that is removed afterwards. */
export async function measurePeer(peer: PeerName, workload: Workload, base: PeerSettingsBase): Promise<ChildResult> {
  counter += 1;
  const namespace = `peers_${process.pid}_${counter}`;
  const settings: PeerSettings = { ...base, namespace, redisUrl: REDIS_URL, pgUrl: PG_URL };
  const json = JSON.stringify(settings);
  const cleanup = () => (peer === 'bullmq' ? runChild([peer, 'cleanup', json]).catch(() => {}) : dropSchema(namespace));
  const settle = owe(cleanup);
  try {
    return await runChild([peer, workload, json]);
  } finally {
    // Settled once done: an interrupt meanwhile (which stops this child, so this runs) waits for it by doing it too.
    await cleanup();
    settle();
  }
}

/** Folds one workload's result into the peer's figures. */
export function addPeerFigures(into: Partial<Record<PeerName, PeerFigures>>, peer: PeerName, workload: Workload, result: ChildResult): void {
  into[peer] ??= { version: result.version, config: result.config };
  (into[peer] as Record<Workload, unknown>)[workload] = result.figures;
}

export interface EnqueueFigures {
  readonly jobs: number;
  /** POST /operations per second over one connection, each sent once the previous reply arrived. */
  readonly perS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/**
 * asyncops's "enqueue one at a time": autocannon on one connection (no pipelining), so each POST waits for the previous
 * 202, against an API-only server, after a warm-up. autocannon rather than fetch: fetch's own cost per request on these
 * cores is about that of the bare server's whole request, and the peers add through their own lean clients.
 */
export async function measureEnqueue(kind: StoreKind, seconds: number): Promise<EnqueueFigures> {
  const store = await freshStore(kind);
  try {
    const server = await startAsyncops('serve', { store: store.spec, workers: false });
    try {
      const post = {
        url: `${server.url}/operations`,
        method: 'POST',
        connections: 1,
        expectStatus: 202,
        body: JSON.stringify({ type: 'noop', input: {} }),
      } as const;
      await load({ ...post, durationS: 1 });
      const figures = await load({ ...post, durationS: seconds });
      if (figures.failures > 0) throw new Error(`enqueue: ${figures.failures} requests failed`);
      return { jobs: figures.requests, perS: figures.requestsPerS, p50Ms: figures.p50Ms, p99Ms: figures.p99Ms };
    } finally {
      await server.stop();
    }
  } finally {
    await store.dispose();
  }
}
