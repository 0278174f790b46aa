// Owns: what the types of defineTask say, checked by tsc (npm test type-checks test/): with a TypeBox schema as input,
// run, validate, cost and the schedules' inputs take the schema's type, and nothing else may make it another.
// Each `@ts-expect-error` fails the type-check if its line compiles. The runtime half only shows the definitions load.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Type, type Static } from '@sinclair/typebox';
import { defineTask } from '../../src/runtime/task.ts';
import { inWorkerThread } from '../../src/runtime/worker-thread.ts';

const Numbered = Type.Object({ n: Type.Number() });
const HEAVY = new URL('../fixtures/isolated-handlers.ts', import.meta.url);

describe('defineTask types', () => {
  it('infer the input from a TypeBox schema, and refuse what would make it another type', () => {
    const typed = defineTask({
      type: 'typed',
      input: Numbered,
      validate: (input) => (input.n > 0 ? [] : [{ path: '/n', message: 'positive' }]),
      run: (input) => input.n + 1,
    });
    const named = defineTask<Static<typeof Numbered>>({ type: 'named', input: Numbered, run: (input) => input.n });
    const plain = defineTask<{ n: number }>({ type: 'plain', input: { type: 'object' }, run: (input) => input.n });
    const declared = defineTask({ type: 'declared', input: Numbered, schedule: { cron: '* * * * *', input: { n: 1 } }, run: (input) => input.n });

    // A schedule's input that does not match the schema (start-up would refuse it).
    // @ts-expect-error n must be a number
    defineTask({ type: 'a', input: Numbered, schedule: { cron: '* * * * *', input: { n: 'one' } }, run: (input) => input.n });
    // A validate typed for another input.
    // @ts-expect-error validate's parameter is not the schema's type
    defineTask({ type: 'b', input: Numbered, validate: (input: { n: string }) => (input.n === '' ? [] : []), run: (input) => input.n });
    // A worker-thread handler typed for another input.
    // @ts-expect-error the handler takes { m: string }, the schema gives { n: number }
    defineTask({ type: 'c', input: Numbered, run: inWorkerThread<{ m: string }>(HEAVY) });

    for (const definition of [typed, named, plain, declared]) assert.equal(typeof definition.run, 'function');
  });
});
