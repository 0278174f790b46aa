// Owns: the bulk action figures: how long a bulk retry of 100,000 failed operations takes (created → completed, and its
// rate), and the created → started latency (p50/p99) of new operations submitted at a steady rate meanwhile, beside the
// same latency with no bulk action running: what a bulk action costs the service's own traffic. Three times: with the
// redriven operations of a type no node here runs (the bulk action's own cost), of a type the same workers run (a real
// retry: the redriven operations then run too, ahead of the newer ones, as their run_at says), and the same retry at
// priority -10 (the redriven then run after the newer ones, which claims order by priority first).
// Not here: the batches themselves (src/runtime/bulk-actions.ts, the store's bulkActionStep), the other figures.
// Invariant: each measurement starts on a fresh store and stops every process it started.

import { percentile, round } from './load.ts';
import { startAsyncops } from './processes.ts';
import { freshStore, seedCompleted, type StoreKind } from './stores.ts';

export interface LatencyFigures {
  readonly operations: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface BulkFigures {
  /** The redriven operations of a type no worker here runs: the bulk action alone. */
  readonly parked: BulkRun;
  /** The redriven operations run by the same workers as the new ones. */
  readonly run: BulkRun;
  /** The same, the retry asking for priority -10: the new operations (priority 0) go first. */
  readonly low: BulkRun;
}

export interface BulkRun {
  /** Failed operations stored, and retried by one bulk action. */
  readonly failed: number;
  /** The priority the retry gave them (null: each kept its own, 0). */
  readonly priority: number | null;
  /** The bulk action from created_at to finished_at, as stored; and matches processed per second over that. */
  readonly retryS: number;
  readonly perS: number;
  /** New operations (another type) one every `everyMs`: created → started with no bulk action, then during one. */
  readonly everyMs: number;
  readonly idle: LatencyFigures;
  readonly during: LatencyFigures;
}

interface Stored {
  id: string;
  created_at: string;
  started_at: string | null;
}

async function call<T>(base: string, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await response.json()) as T;
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

/** Submits a `stamp` (a no-op of its own type) every `everyMs` until `until` resolves; their ids. */
async function steady(base: string, everyMs: number, until: Promise<unknown>): Promise<string[]> {
  let done = false;
  void until.finally(() => {
    done = true;
  });
  const ids: string[] = [];
  const sends: Promise<void>[] = [];
  while (!done) {
    sends.push(call<{ id: string }>(base, 'POST', '/operations', { type: 'stamp', input: {} }).then((op) => void ids.push(op.id)));
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  await Promise.all(sends);
  return ids;
}

/** created → started of `ids` (stamps), once every one has started (bounded): read a page of 200 at a time. */
async function latencies(base: string, ids: readonly string[]): Promise<LatencyFigures> {
  const wanted = new Set(ids);
  const deadline = performance.now() + 900_000;
  for (;;) {
    const seen: Stored[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: Stored[]; next_cursor: string | null } = await call(
        base,
        'GET',
        `/operations?type=stamp&limit=200${cursor === null ? '' : `&cursor=${cursor}`}`,
      );
      seen.push(...page.items.filter((op) => wanted.has(op.id)));
      cursor = page.next_cursor;
    } while (cursor !== null);
    if (seen.length === wanted.size && seen.every((op) => op.started_at !== null)) {
      const waits = seen.map((op) => Date.parse(op.started_at!) - Date.parse(op.created_at));
      return { operations: waits.length, p50Ms: round(percentile(waits, 50), 1), p99Ms: round(percentile(waits, 99), 1) };
    }
    if (performance.now() > deadline) throw new Error('new operations never started');
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

export async function measureBulk(kind: StoreKind, failed: number): Promise<BulkFigures> {
  return {
    parked: await measureRun(kind, failed, 'parked', null),
    low: await measureRun(kind, failed, 'noop', LOW_PRIORITY),
    run: await measureRun(kind, failed, 'noop', null),
  };
}

/** What the docs advise for a large retry while live traffic runs: below the default 0 that new operations take. */
const LOW_PRIORITY = -10;

/**
 * `type`: of the failed operations; `parked` is registered on no node, so the redriven ones wait. `priority`: the
 * retry's (null: none asked, each keeps its own).
 */
async function measureRun(kind: StoreKind, failed: number, type: 'parked' | 'noop', priority: number | null, everyMs = 20): Promise<BulkRun> {
  const store = await freshStore(kind);
  try {
    await seedCompleted(store.spec, failed, 'failed', type);
    const node = await startAsyncops('serve', { store: store.spec, concurrency: 10 });
    try {
      const idle = await latencies(node.url, await steady(node.url, everyMs, new Promise((resolve) => setTimeout(resolve, 3_000))));
      const created = await call<{ id: string }>(node.url, 'POST', '/bulk-actions', {
        action: 'retry',
        filter: { type, status: 'failed' },
        ...(priority === null ? {} : { priority }),
      });
      const finished = (async () => {
        for (;;) {
          const action = await call<{ status: string; created_at: string; finished_at: string | null; processed: number }>(
            node.url,
            'GET',
            `/bulk-actions/${created.id}`,
          );
          if (action.status === 'failed') throw new Error(`bulk action failed: ${JSON.stringify(action)}`);
          if (action.status === 'completed') return action;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      })();
      const during = await latencies(node.url, await steady(node.url, everyMs, finished));
      const action = await finished;
      const retryS = (Date.parse(action.finished_at!) - Date.parse(action.created_at)) / 1000;
      return { failed: action.processed, priority, retryS: round(retryS, 2), perS: round(action.processed / retryS), everyMs, idle, during };
    } finally {
      await node.stop();
    }
  } finally {
    await store.dispose();
  }
}
