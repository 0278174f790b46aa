// The submit fields: one compiled schema, with the server's ceilings, for every edge and embedder; a type's defaults
// filled in (held to the ceiling), and every field that breaks a rule named at once.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncOpsError } from '../../src/domain/errors.ts';
import { TaskRegistry } from '../../src/runtime/registry.ts';
import { defineTask } from '../../src/runtime/task.ts';
import { SubmitFields } from '../../src/runtime/submission.ts';

const registry = new TaskRegistry([defineTask({ type: 'slow', timeoutS: 600, maxAttempts: 5, run: () => null })]);
const task = registry.get('slow')!;
const fields = new SubmitFields({ maxTimeoutS: 60, maxAttempts: 10 });

function refusedPaths(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof AsyncOpsError && error.code === 'validation_failed', String(error));
    return error.errors.map((e) => e.path);
  }
  assert.fail('accepted');
}

describe('SubmitFields', () => {
  it("fills in the type's defaults, its timeout held to the server's ceiling", () => {
    assert.deepEqual(fields.check({}, task), { webhookUrl: null, timeoutS: 60, maxAttempts: 5, priority: 0, runAt: undefined, concurrencyKey: null });
  });

  it('takes what was sent, run_at read as an instant', () => {
    const sent = {
      webhookUrl: 'https://example.com/hook',
      timeoutS: 60,
      maxAttempts: 10,
      priority: -1000,
      runAt: '2026-03-01T09:00:00+01:00',
      concurrencyKey: 'acct:42/eu',
    };
    assert.deepEqual(fields.check(sent, task), { ...sent, runAt: Date.parse('2026-03-01T08:00:00Z') });
  });

  it('names every field that breaks a rule, the ceilings included', () => {
    const paths = refusedPaths(() => fields.check({ webhookUrl: '', timeoutS: 61, priority: 1.5, runAt: '2026-02-30T00:00:00Z', maxAttempts: 11 }, task));
    assert.deepEqual(paths, ['/webhook_url', '/timeout_s', '/priority', '/run_at', '/max_attempts']);
    assert.deepEqual(
      refusedPaths(() => fields.check({ webhookUrl: `https://example.com/${'x'.repeat(2048)}` }, task)),
      ['/webhook_url'],
    );
    assert.deepEqual(
      refusedPaths(() => fields.check({ timeoutS: 0 }, task)),
      ['/timeout_s'],
    );
  });

  it('says a run_at of the right form past the instants a date-time can name is out of range, not of the wrong form', () => {
    const messageOf = (runAt: string) => {
      try {
        fields.check({ runAt }, task);
      } catch (error) {
        return (error as AsyncOpsError).errors.find((e) => e.path === '/run_at')?.message;
      }
      assert.fail('accepted');
    };
    assert.match(messageOf('9999-12-31T23:59:59.9999Z') ?? '', /^is outside the instants a date-time can name/);
    assert.equal(messageOf('2026-02-30T00:00:00Z'), 'must be an RFC 3339 date-time');
  });

  it("refuses a priority above the tenant's ceiling, and a malformed concurrency key", () => {
    assert.deepEqual(
      refusedPaths(() => fields.check({ priority: 11 }, task, 10)),
      ['/priority'],
    );
    assert.equal(fields.check({ priority: 10 }, task, 10).priority, 10);
    for (const key of ['', 'has space', '-leading', 'x'.repeat(129), 'ünï']) {
      assert.deepEqual(
        refusedPaths(() => fields.check({ concurrencyKey: key }, task)),
        ['/concurrency_key'],
        JSON.stringify(key),
      );
    }
    assert.equal(fields.check({ concurrencyKey: 'x'.repeat(128) }, task).concurrencyKey, 'x'.repeat(128));
  });

  it("a type's own attempts above the ceiling are its own: the ceiling is on what a client sends", () => {
    const ceiling = new SubmitFields({ maxTimeoutS: 60, maxAttempts: 3 });
    assert.ok(task.maxAttempts > 3, String(task.maxAttempts));
    assert.equal(ceiling.check({}, task).maxAttempts, task.maxAttempts);
    assert.deepEqual(
      refusedPaths(() => ceiling.check({ maxAttempts: 4 }, task)),
      ['/max_attempts'],
    );
  });
});
