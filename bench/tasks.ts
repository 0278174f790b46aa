// Owns: the task types the benchmark loads into the real server with --tasks: a no-op, a no-op that stamps its
// start time, and two known-duration types for ETA accuracy. Not here: test fixtures (test/fixtures/tasks.ts).
// Invariant: each task does only what its name says, so the figures measure asyncops and not the task.

import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { defineTask } from '../src/runtime/task.ts';

/** Where `stamp` appends `<operation id> <start time in ms since the epoch, µs precision>` lines. */
export const STAMP_FILE_ENV = 'ASYNCOPS_BENCH_STAMPS';

const anyObject = { type: 'object' } as const;

export const noop = defineTask({
  type: 'noop',
  input: anyObject,
  estimatedDurationS: 0.001,
  async run() {
    return null;
  },
});

/**
 * A no-op that records when its handler started on the wall clock at sub-millisecond resolution
 * (performance.timeOrigin + performance.now() is comparable across processes on one machine),
 * because started_at in the resource has only millisecond resolution.
 */
export const stamp = defineTask({
  type: 'stamp',
  input: anyObject,
  estimatedDurationS: 0.001,
  async run(_input, ctx) {
    const at = performance.timeOrigin + performance.now();
    const file = process.env[STAMP_FILE_ENV];
    if (file !== undefined) appendFileSync(file, `${ctx.operationId} ${at.toFixed(3)}\n`);
    return null;
  },
});

function fixedDuration(type: string, ms: number) {
  return defineTask({
    type,
    input: anyObject,
    concurrency: 2,
    // A deliberately rough prior: history replaces it after three runs.
    estimatedDurationS: 0.6,
    async run(_input, ctx) {
      await sleep(ms, undefined, { signal: ctx.signal });
      return null;
    },
  });
}

export const ETA_TYPES = { eta_short: 300, eta_long: 900 } as const;

export default [noop, stamp, fixedDuration('eta_short', ETA_TYPES.eta_short), fixedDuration('eta_long', ETA_TYPES.eta_long)];
