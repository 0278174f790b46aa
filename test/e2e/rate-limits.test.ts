// End to end on the real server process: a handler that throws RateLimitedError gives its operation back without using
// up an attempt, holds its type back (another operation of it waits out the hold too), and then completes; the operation
// shows why it waits, its ETA counts the hold, and /metrics counts the throw and shows the hold.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, startServer, tempDir, type ServerProcess } from '../support/server.ts';
import { request } from '../support/http.ts';
import { waitFor } from '../support/wait.ts';

const TASKS = join(REPO_ROOT, 'test/fixtures/rate-limited-tasks.ts');
const dir = tempDir();
let server: ServerProcess;

const get = (id: string) => request(server.url, 'GET', `/operations/${id}`);
const until = (id: string, predicate: (op: any) => boolean, what: string) =>
  waitFor(
    async () => {
      const { body } = await get(id);
      return predicate(body) ? body : null;
    },
    { timeoutMs: 15_000, intervalMs: 20, what },
  );
/** The start times the handlers logged for an operation. */
const startsOf = (log: string, id: string) =>
  (existsSync(log) ? readFileSync(log, 'utf8').split('\n') : []).filter((l) => l.endsWith(` ${id}`)).map((l) => Number(l.split(' ')[0]));

before(async () => {
  server = await startServer({ fixtureTasks: false, args: ['--tasks', TASKS] });
});
after(async () => {
  await server?.stop();
  dir.cleanup();
});

describe('a declared rate limit in the create reply', () => {
  it('an operation that starts on the token in the bucket is promised its run, not a wait for the next token', async () => {
    // The models are read again at most once a second: let them age, so the read falls on this create.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const created = await request(server.url, 'POST', '/operations', { body: { type: 'trickle', input: {} } });
    assert.equal(created.status, 202);
    assert.equal(created.body.queue_position, 0);
    const promised = Date.parse(created.body.estimated_completion_at) - Date.parse(created.body.created_at);
    assert.ok(promised < 1_500, `promised ${promised} ms for a 100 ms run with its token in the bucket (one start per 3 s)`);
    await until(created.body.id, (op) => op.status === 'completed', 'completed');
  });

  it('a retry that starts on the token in the bucket is promised its run too', async () => {
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const created = await request(server.url, 'POST', '/operations', { body: { type: 'trickle', input: {}, run_at: later } });
    assert.equal((await request(server.url, 'POST', `/operations/${created.body.id}/cancel`)).status, 200);
    // The bucket full again after the test before (one token per 3 s), and the models aged past their second.
    await new Promise((resolve) => setTimeout(resolve, 3_200));
    const retried = await request(server.url, 'POST', `/operations/${created.body.id}/retry`);
    assert.equal(retried.status, 202);
    const promised = Date.parse(retried.body.estimated_completion_at) - Date.parse(retried.body.updated_at);
    assert.ok(promised < 1_500, `promised ${promised} ms for a 100 ms run with its token in the bucket`);
    await until(created.body.id, (op) => op.status === 'completed', 'completed');
  });
});

describe('RateLimitedError', () => {
  it('gives the operation back without using an attempt, holds its type for retryAfterS, then it completes', async () => {
    const log = join(dir.path, 'callout.log');
    const first = await request(server.url, 'POST', '/operations', { body: { type: 'callout', input: { log, refusals: 1, retryAfterS: 1.5 } } });
    assert.equal(first.status, 202);
    const id = first.body.id as string;
    const waiting = await until(id, (op) => op.status === 'pending' && op.last_attempt_error !== null, 'given back rate-limited');
    assert.equal(waiting.attempt, 1, 'no attempt used up');
    assert.equal(waiting.last_attempt_error.code, 'rate_limited');
    const [refusedAt] = startsOf(log, id);
    assert.ok(refusedAt !== undefined);
    const heldUntil = Date.parse(waiting.run_at);
    assert.ok(heldUntil >= refusedAt + 1400, 'it runs again after retryAfterS');
    // Its ETA waits out the hold.
    if (waiting.estimated_completion_at) assert.ok(Date.parse(waiting.estimated_completion_at) >= heldUntil - 50);

    // Another operation of the type, submitted during the hold, waits it out too.
    const second = await request(server.url, 'POST', '/operations', { body: { type: 'callout', input: { log } } });
    assert.equal(second.status, 202);
    // GET /task-types shows the declared rate limits and the hold at once: it is stored before the operation is given
    // back, and the route reads it then (a hold of a second would otherwise be over before it showed).
    const types = (await request(server.url, 'GET', '/task-types')).body.items;
    assert.ok(Date.parse(types.find((t: any) => t.type === 'callout').held_until) >= refusedAt + 1400);
    assert.deepEqual(types.find((t: any) => t.type === 'throttled').rate_limit, { limit: 20, interval_s: 1 });
    assert.equal(types.find((t: any) => t.type === 'callout').rate_limit, null);
    const metrics = await request(server.url, 'GET', '/metrics');
    assert.match(metrics.text, /asyncops_rate_limit_held\{type="callout"\} 1/);

    const done = await until(id, (op) => op.status === 'completed', 'the rate-limited operation completes');
    assert.equal(done.attempt, 1, 'still its first attempt');
    const other = await until(second.body.id, (op) => op.status === 'completed', 'the other operation completes');
    assert.equal(other.attempt, 1);
    const [secondStart] = startsOf(log, second.body.id);
    const starts = startsOf(log, id);
    assert.equal(starts.length, 2);
    assert.ok(starts[1]! >= refusedAt + 1500 - 5, `started again ${starts[1]! - refusedAt} ms after the refusal`);
    assert.ok(secondStart! >= refusedAt + 1500 - 5, `the other operation started ${secondStart! - refusedAt} ms after the refusal`);

    const after = (await request(server.url, 'GET', '/metrics')).text;
    assert.match(after, /asyncops_rate_limited_total\{type="callout"\} 1/);
    assert.match(after, /asyncops_rate_limit_held\{type="callout"\} 0/);
  });
});
