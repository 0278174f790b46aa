// The task registry's refusals at start-up: a route on one of the API's own paths, and a definition without a type.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { API_PATH_SEGMENTS, TaskRegistry } from '../../src/runtime/registry.ts';
import { defineTask, type TaskDefinition } from '../../src/runtime/task.ts';
import { assembleAsyncOps, firstPathSegments } from '../../src/main.ts';

describe('TaskRegistry', () => {
  it("names the API's own first path segments: those an app without tasks answers", async () => {
    const assembly = await assembleAsyncOps({ store: ':memory:', workers: false, builtInTasks: false, logger: { level: 'silent' } });
    try {
      assert.deepEqual([...API_PATH_SEGMENTS].sort(), firstPathSegments(assembly.app!));
    } finally {
      await assembly.close();
    }
  });

  it("refuses a task route on one of the API's paths: under /docs or /dashboard it would answer without a key", () => {
    for (const route of ['/docs/exports', '/dashboard', '/operations', '/schedules', '/task-types', '/healthz/deep', '/metrics']) {
      assert.throws(() => new TaskRegistry([defineTask({ type: 'exp', route, run: () => null })]), /route .* is taken \(the API's own paths: /, route);
    }
    assert.equal(new TaskRegistry([defineTask({ type: 'exp', route: '/exports', run: () => null })]).get('exp')?.route, '/exports');
    assert.equal(new TaskRegistry([defineTask({ type: 'exp', route: '/docsets', run: () => null })]).get('exp')?.route, '/docsets');
  });

  it("refuses counts a store cannot keep: slots and keys past the flags' own caps, attempts and timeouts past theirs", () => {
    // Past a 32-bit integer, PostgreSQL refused a keyed submit with a 500 (stored all the same) and every claim after it.
    for (const [name, max] of [
      ['concurrency', 1000],
      ['keyConcurrency', 100_000],
      ['maxAttempts', 1000],
      ['timeoutS', 315_360_000],
    ] as const) {
      defineTask({ type: 'capped', run: () => null, [name]: max });
      assert.throws(() => defineTask({ type: 'capped', run: () => null, [name]: 3e9 }), new RegExp(`${name} must be a positive integer up to ${max}`));
    }
  });

  it('refuses a retryOnTimeout that is not a boolean (a string from the environment), which would have meant no retries', () => {
    defineTask({ type: 'flagged', run: () => null, retryOnTimeout: false });
    for (const given of ['true', 1, null]) {
      assert.throws(
        () => defineTask({ type: 'flagged', run: () => null, retryOnTimeout: given as never }),
        new RegExp(`retryOnTimeout must be true or false, not ${JSON.stringify(given)}`),
      );
    }
  });

  it('names the types it has for an unknown one, and says when it has none (not "one of:" and nothing)', () => {
    const errorOf = (registry: TaskRegistry) => {
      try {
        registry.require('report');
      } catch (error) {
        return (error as { code: string; errors: unknown[] }).errors;
      }
      assert.fail('not refused');
    };
    const echo = defineTask({ type: 'echo', run: (input: unknown) => input });
    assert.deepEqual(errorOf(new TaskRegistry([echo])), [{ path: '/type', message: 'must be one of: echo' }]);
    assert.deepEqual(errorOf(new TaskRegistry([])), [{ path: '/type', message: 'names no type: this server has none registered' }]);
  });

  it('refuses a definition without a type, which the pattern would have read as "undefined"', () => {
    for (const type of [undefined, null, 5]) {
      assert.throws(() => defineTask({ type, run: () => null } as unknown as TaskDefinition), /defineTask: type .* must match/);
      assert.throws(() => new TaskRegistry([{ type, run: () => null } as unknown as TaskDefinition]), /type .* must match/);
    }
    for (const definition of [5, null, 'report']) {
      assert.throws(
        () => defineTask(definition as unknown as TaskDefinition),
        /^TypeError: a task is an object as defineTask makes one, not /,
        String(definition),
      );
    }
  });

  it("reads a validate's problems whatever their shape: one without a path is the input's, a message not text is made text", () => {
    const registry = new TaskRegistry([
      defineTask({
        type: 'loose',
        validate: () => [{ message: 42 } as unknown as { path: string; message: string }, { path: 'n', message: 'too big' }],
        run: () => null,
      }),
    ]);
    assert.deepEqual(registry.validateInput('loose', {}), [
      { path: '/input', message: '42' },
      { path: '/input/n', message: 'too big' },
    ]);
  });
});
