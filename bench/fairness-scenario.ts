// Owns: the fairness figures: how long a second tenant's operations wait (created → started, p50/p99) while another
// tenant's backlog drains, and the drain rate with turns between tenants and with concurrency keys, beside a plain drain
// of the same size (one tenant, no key: the loopback default, where fairness must cost next to nothing).
// Not here: the turns themselves (src/domain/fairness.ts), the other queue figures (queue-scenarios.ts).
// Invariant: each measurement starts on a fresh store and stops every process it started.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { percentile, round } from './load.ts';
import { startAsyncops, type BenchProcess } from './processes.ts';
import { freshStore, type StoreKind } from './stores.ts';

const CONCURRENCY = 10;
const WIDTH = 32;
const KEYS = { a: 'bench-tenant-a-0123456789', b: 'bench-tenant-b-0123456789' } as const;
type Tenant = keyof typeof KEYS | null;

export interface FairDrain {
  readonly operations: number;
  /** Operations completed per second, from the first started_at to the last finished_at. */
  readonly perS: number;
}

export interface FairnessFigures {
  /** Tenant A's backlog when the workers start. */
  readonly backlog: number;
  /**
   * Tenant B's operations (20 ms each, as A's), one every `everyMs` for a few seconds while A's backlog waits:
   * created_at → started_at (stored, whole ms), and how many of A's had not started at the end (with one queue first
   * come first served, B would have waited for all of those).
   */
  readonly lone: {
    readonly operations: number;
    readonly everyMs: number;
    readonly p50Ms: number;
    readonly p99Ms: number;
    readonly maxMs: number;
    readonly backlogLeft: number;
  };
  /** The same backlog, one tenant, no key. */
  readonly plain: FairDrain;
  /** Half of it from each of two tenants (turns between tenants on every claim). */
  readonly twoTenants: FairDrain;
  /** Two tenants, each operation with one of 50 concurrency keys (limit 2; turns between tenants and keys). */
  readonly keyed: FairDrain;
  /** twoTenants.perS / plain.perS and keyed.perS / plain.perS. */
  readonly twoTenantsRatio: number;
  readonly keyedRatio: number;
}

interface Stored {
  id: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

async function call<T>(base: string, tenant: Tenant, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (tenant !== null) headers.authorization = `Bearer ${KEYS[tenant]}`;
  const response = await fetch(base + path, {
    method: body === undefined ? 'GET' : 'POST',
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await response.json()) as T;
  if (response.status >= 300) throw new Error(`${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

async function submitAll(base: string, tenant: Tenant, count: number, body: (i: number) => Record<string, unknown>): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: WIDTH }, async () => {
      while (next < count) {
        const i = next++;
        ids.push((await call<{ id: string }>(base, tenant, '/operations', body(i))).id);
      }
    }),
  );
  return ids;
}

async function listAll(base: string, tenant: Tenant): Promise<Stored[]> {
  const all: Stored[] = [];
  let cursor: string | null = null;
  do {
    const page: { items: Stored[]; next_cursor: string | null } = await call(
      base,
      tenant,
      `/operations?limit=200${cursor === null ? '' : `&cursor=${cursor}`}`,
    );
    all.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor !== null);
  return all;
}

async function waitDone(base: string, tenants: readonly Tenant[], timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    let busy = false;
    for (const tenant of tenants) {
      for (const status of ['pending', 'processing']) {
        const page = await call<{ items: unknown[] }>(base, tenant, `/operations?status=${status}&limit=1`);
        busy ||= page.items.length > 0;
      }
    }
    if (!busy) return;
    if (performance.now() > deadline) throw new Error(`operations still running after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function rate(ops: readonly Stored[]): FairDrain {
  const started = Math.min(...ops.map((op) => Date.parse(op.started_at!)));
  const finished = Math.max(...ops.map((op) => Date.parse(op.finished_at!)));
  return { operations: ops.length, perS: round(ops.length / ((finished - started) / 1000)) };
}

/**
 * An API node (no workers) on a fresh store, `work` run against it with the nodes `start` starts: a worker, or a node
 * that serves and works.
 */
async function onFreshStore<T>(
  kind: StoreKind,
  keyed: boolean,
  work: (api: BenchProcess, start: (role?: 'worker' | 'serve') => Promise<BenchProcess>) => Promise<T>,
): Promise<T> {
  const store = await freshStore(kind);
  const dir = mkdtempSync(join(tmpdir(), 'asyncops-bench-fair-'));
  const keysFile = join(dir, 'keys.json');
  writeFileSync(
    keysFile,
    JSON.stringify([
      { tenant: 'tenant-a', key: KEYS.a },
      { tenant: 'tenant-b', key: KEYS.b },
    ]),
  );
  const extra = keyed ? ['--api-keys-file', keysFile, '--key-concurrency', '2'] : [];
  try {
    const api = await startAsyncops('serve', { store: store.spec, workers: false, extra });
    try {
      return await work(api, (role = 'worker') => startAsyncops(role, { store: store.spec, concurrency: CONCURRENCY, extra }));
    } finally {
      await api.stop();
    }
  } finally {
    await store.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Queues `count` no-ops (split as `split` says), starts a worker and times the drain. */
async function drain(kind: StoreKind, count: number, split: 'plain' | 'two' | 'keyed'): Promise<FairDrain> {
  return onFreshStore(kind, split !== 'plain', async (api, startWorker) => {
    const tenants: Tenant[] = split === 'plain' ? [null] : ['a', 'b'];
    for (const tenant of tenants) {
      await submitAll(api.url, tenant, count / tenants.length, (i) => ({
        type: 'noop',
        input: {},
        ...(split === 'keyed' ? { concurrency_key: `acct-${i % 50}` } : {}),
      }));
    }
    const worker = await startWorker();
    try {
      await waitDone(api.url, tenants, 600_000);
    } finally {
      await worker.stop();
    }
    return rate((await Promise.all(tenants.map((t) => listAll(api.url, t)))).flat());
  });
}

/**
 * A's backlog of `eta_fetch` operations (20 ms each, 2 slots a node: the backlog lasts minutes), then B's operations
 * one every `everyMs` for `sampleS` seconds: B's created → started, and how many of A's were still waiting at the end.
 * SQLite: one process that serves and works (A's backlog queued due at one instant ahead), so B's inserts wake its
 * workers and no second process contends for the file's one writer; PostgreSQL: an API node and a worker node.
 */
export async function loneWait(kind: StoreKind, backlog: number, everyMs: number, sampleS: number): Promise<FairnessFigures['lone']> {
  return onFreshStore(kind, true, async (apiOnly, start) => {
    const oneNode = kind === 'sqlite';
    const dueAt = Date.now() + 2_000 + backlog;
    const worker = oneNode ? await start('serve') : null;
    const api = worker ?? apiOnly;
    const work = { type: 'eta_fetch', input: { ms: 20 } };
    await submitAll(api.url, 'a', backlog, () => ({ ...work, ...(oneNode ? { run_at: new Date(dueAt).toISOString() } : {}) }));
    if (oneNode) await new Promise((resolve) => setTimeout(resolve, Math.max(0, dueAt - Date.now())));
    const node = worker ?? (await start());
    try {
      const lone: string[] = [];
      const until = performance.now() + sampleS * 1000;
      while (performance.now() < until) {
        lone.push((await call<{ id: string }>(api.url, 'b', '/operations', work)).id);
        await new Promise((resolve) => setTimeout(resolve, everyMs));
      }
      const ofB = await waitForStarts(api.url, lone);
      const waits = ofB.map((op) => Date.parse(op.started_at!) - Date.parse(op.created_at));
      const left = (await listAll(api.url, 'a')).filter((op) => op.started_at === null).length;
      return {
        operations: waits.length,
        everyMs,
        p50Ms: round(percentile(waits, 50), 1),
        p99Ms: round(percentile(waits, 99), 1),
        maxMs: Math.max(...waits),
        backlogLeft: left,
      };
    } finally {
      await node.stop();
    }
  });
}

/** B's operations once every one has started (bounded). */
async function waitForStarts(base: string, ids: readonly string[]): Promise<Stored[]> {
  const deadline = performance.now() + 60_000;
  for (;;) {
    const ops = (await listAll(base, 'b')).filter((op) => ids.includes(op.id));
    if (ops.every((op) => op.started_at !== null) || performance.now() > deadline) return ops.filter((op) => op.started_at !== null);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function measureFairness(kind: StoreKind, backlog: number): Promise<FairnessFigures> {
  const lone = await loneWait(kind, backlog, 20, 3);
  const plain = await drain(kind, backlog, 'plain');
  const twoTenants = await drain(kind, backlog, 'two');
  const keyed = await drain(kind, backlog, 'keyed');
  return {
    backlog,
    lone,
    plain,
    twoTenants,
    keyed,
    twoTenantsRatio: round(twoTenants.perS / plain.perS, 2),
    keyedRatio: round(keyed.perS / plain.perS, 2),
  };
}
