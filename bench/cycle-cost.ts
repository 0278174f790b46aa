// Owns: `node bench/cycle-cost.ts [--store sqlite|postgres] [--sizes 1,10,20] [--per 3000]`: what one claim-and-end
// cycle costs a store, split into what every cycle pays whatever its size and what each operation in it adds, for the
// process (its CPU, the store's included on SQLite) and for PostgreSQL (all its processes, from /proc).
// Not here: the drain as a worker runs it (queue-scenarios.ts): this loop claims k, ends them and claims again, with no
// pool, HTTP or other process between, so that only the store's statements are measured.
// Invariant: each size runs on the same fresh store, on operations queued and analysed before any is timed.

import { parseArgs } from 'node:util';
import { openStoreFromSpec } from '../src/store/open.ts';
import { postgresCpuMs } from './processes.ts';
import { analysed, freshStore, queuedDraft, type StoreKind } from './stores.ts';

export interface CycleFigures {
  /** Operations claimed (and ended) per cycle. */
  readonly size: number;
  readonly cycles: number;
  readonly wallUsPerCycle: number;
  readonly processCpuUsPerCycle: number;
  /** null on SQLite, whose statements run in the process. */
  readonly databaseCpuUsPerCycle: number | null;
}

/** A least-squares line through (size, cost per cycle): what a cycle pays at any size, and what each operation adds. */
export interface CostLine {
  readonly fixedUs: number;
  readonly perOperationUs: number;
}

const TYPE = 'noop';
const INSERT_BATCH = 500;

/** Runs `per` operations (rounded up to whole cycles) through cycles of each size in turn, on one fresh store. */
export async function measureCycles(kind: StoreKind, sizes: readonly number[], per: number): Promise<CycleFigures[]> {
  const bench = await freshStore(kind);
  const store = openStoreFromSpec(bench.spec);
  await store.open();
  try {
    const needed = sizes.reduce((sum, size) => sum + Math.ceil(per / size) * size, 0);
    for (let queued = 0; queued < needed; queued += INSERT_BATCH) {
      const now = Date.now();
      await Promise.all(Array.from({ length: Math.min(INSERT_BATCH, needed - queued) }, () => store.operationInsert(queuedDraft(TYPE, now))));
    }
    await analysed(bench.spec);
    const figures: CycleFigures[] = [];
    for (const size of sizes) {
      const database = kind === 'postgres' ? postgresCpuMs() : null;
      const cpu = process.cpuUsage();
      const started = performance.now();
      let cycles = 0;
      for (let ended = 0; ended < per; cycles += 1) {
        const now = Date.now();
        const claimed = await store.operationClaimDue({ now, workerId: 'cycle-cost', leaseMs: 60_000, types: [{ type: TYPE, limit: size }], limit: size });
        if (claimed.length !== size) throw new Error(`a cycle of ${size} claimed ${claimed.length}: the queue ran short`);
        const stored = await Promise.all(
          claimed.map((op) =>
            store.operationFinish({
              id: op.id,
              leaseToken: op.leaseToken ?? '',
              now: now + 1,
              status: 'completed',
              result: { contentType: 'application/json', body: Buffer.from('null') },
              delivery: () => null,
            }),
          ),
        );
        if (stored.some((op) => op?.status !== 'completed')) throw new Error(`a cycle of ${size} did not end every operation it claimed`);
        ended += size;
      }
      const used = process.cpuUsage(cpu);
      const databaseAfter = database === null ? null : postgresCpuMs();
      const databaseMs = database === null || databaseAfter === null ? null : databaseAfter - database;
      figures.push({
        size,
        cycles,
        wallUsPerCycle: ((performance.now() - started) * 1000) / cycles,
        processCpuUsPerCycle: (used.user + used.system) / cycles,
        databaseCpuUsPerCycle: databaseMs === null ? null : (databaseMs * 1000) / cycles,
      });
    }
    return figures;
  } finally {
    await store.close();
    await bench.dispose();
  }
}

/** The least-squares line through `points` (x: cycle size, y: cost of a cycle); needs two sizes or more. */
export function fitCost(points: ReadonlyArray<readonly [size: number, us: number]>): CostLine {
  const n = points.length;
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / n;
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / n;
  const sxx = points.reduce((sum, [x]) => sum + (x - meanX) ** 2, 0);
  if (n < 2 || sxx === 0) throw new Error('fitCost needs cycles of two sizes or more');
  const slope = points.reduce((sum, [x, y]) => sum + (x - meanX) * (y - meanY), 0) / sxx;
  return { fixedUs: meanY - slope * meanX, perOperationUs: slope };
}

export function renderCycles(kind: StoreKind, figures: readonly CycleFigures[]): string {
  const us = (value: number | null) => (value === null ? '—' : String(Math.round(value)));
  const lines = [
    `| ${kind}: operations a cycle | cycles | wall µs a cycle | process CPU µs a cycle (an operation) | database CPU µs a cycle (an operation) |`,
    '| --- | --- | --- | --- | --- |',
    ...figures.map(
      (f) =>
        `| ${f.size} | ${f.cycles} | ${us(f.wallUsPerCycle)} | ${us(f.processCpuUsPerCycle)} (${us(f.processCpuUsPerCycle / f.size)}) | ` +
        `${us(f.databaseCpuUsPerCycle)} (${us(f.databaseCpuUsPerCycle === null ? null : f.databaseCpuUsPerCycle / f.size)}) |`,
    ),
  ];
  if (new Set(figures.map((f) => f.size)).size >= 2) {
    const line = (pick: (f: CycleFigures) => number | null): string => {
      const points = figures.flatMap((f) => {
        const y = pick(f);
        return y === null ? [] : [[f.size, y] as const];
      });
      if (new Set(points.map(([size]) => size)).size < 2) return '—';
      const fit = fitCost(points);
      return `${us(fit.fixedUs)} + ${us(fit.perOperationUs)} an operation`;
    };
    lines.push(
      `| fit: a cycle costs | | ${line((f) => f.wallUsPerCycle)} | ${line((f) => f.processCpuUsPerCycle)} | ${line((f) => f.databaseCpuUsPerCycle)} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { store: { type: 'string', default: 'postgres' }, sizes: { type: 'string', default: '1,5,10,20' }, per: { type: 'string', default: '3000' } },
  });
  const kind = values.store;
  if (kind !== 'sqlite' && kind !== 'postgres') throw new Error(`--store must be sqlite or postgres, got ${kind}`);
  const sizes = values.sizes.split(',').map(Number);
  const per = Number(values.per);
  if (sizes.some((s) => !Number.isInteger(s) || s < 1) || !Number.isInteger(per) || per < 1) {
    throw new Error('--sizes takes whole numbers of 1 or more, separated by commas; --per a whole number of 1 or more');
  }
  process.stdout.write(renderCycles(kind, await measureCycles(kind, sizes, per)));
}
