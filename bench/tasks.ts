// Owns: the task types the benchmark loads into the real server with --tasks: a no-op, a no-op that stamps its
// start time, and the variable-duration types of the ETA scenarios. Not here: test fixtures (test/fixtures/tasks.ts).
// Invariant: each task does only what its name says, so the figures measure asyncops and not the task.

import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { defineTask, type TaskContext } from '../src/runtime/task.ts';
import { monoNow } from './clock.ts';

/** Where `stamp` appends `<operation id> <start time on CLOCK_MONOTONIC, ms with µs precision>` lines (clock.ts). */
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
 * A no-op that records when its handler started at sub-millisecond resolution (started_at in the resource has only
 * milliseconds), on CLOCK_MONOTONIC: the clock the harness read when it sent the POST (see clock.ts for why not
 * performance.timeOrigin, which differs between processes).
 */
export const stamp = defineTask({
  type: 'stamp',
  input: anyObject,
  estimatedDurationS: 0.001,
  async run(_input, ctx) {
    const at = monoNow();
    const file = process.env[STAMP_FILE_ENV];
    if (file !== undefined) appendFileSync(file, `${ctx.operationId} ${at.toFixed(3)}\n`);
    return null;
  },
});

// The ETA scenarios' task types (eta-scenario.ts). Each waits as long as its input says: the harness draws the durations
// (seeded), so a run repeats, and the server sees only what a real deployment would (a declared cost, progress).
const waitTask = {
  type: 'object',
  properties: { ms: { type: 'number', minimum: 0 }, units: { type: 'integer', minimum: 1 } },
  required: ['ms'],
} as const;

async function waitInSteps(ms: number, steps: number, ctx: TaskContext): Promise<null> {
  for (let step = 1; step <= steps; step++) {
    await sleep(ms / steps, undefined, { signal: ctx.signal });
    ctx.progress(step / steps);
  }
  return null;
}

/** Lognormal durations, no cost declared, progress in ten steps (scenario 2). */
export const lognormal = defineTask<{ ms: number }>({
  type: 'eta_lognormal',
  input: waitTask,
  concurrency: 2,
  estimatedDurationS: 0.5,
  run: (input, ctx) => waitInSteps(input.ms, 10, ctx),
});

/** Work whose length follows its declared cost (`units`), with progress per unit (scenario 3). */
export const batch = defineTask<{ ms: number; units: number }>({
  type: 'eta_batch',
  input: waitTask,
  concurrency: 2,
  estimatedDurationS: 0.5,
  cost: (input) => input.units,
  run: (input, ctx) => waitInSteps(input.ms, input.units, ctx),
});

/** Variable durations with neither cost nor progress (scenario 3). */
export const fetchLike = defineTask<{ ms: number }>({
  type: 'eta_fetch',
  input: waitTask,
  concurrency: 2,
  estimatedDurationS: 0.5,
  async run(input, ctx) {
    await sleep(input.ms, undefined, { signal: ctx.signal });
    return null;
  },
});

export default [noop, stamp, lognormal, batch, fetchLike];
