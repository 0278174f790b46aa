// End to end on the real server process: every status transition, timeouts, retries, cancellation,
// results and deletion, observed over HTTP.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type ServerProcess } from '../support/server.ts';
import { request } from '../support/http.ts';
import { waitFor } from '../support/wait.ts';

let server: ServerProcess;
let base: string;
/** Servers a test starts for itself (another configuration), stopped with the shared one. */
const servers: ServerProcess[] = [];

const submit = (body: Record<string, unknown>, headers: Record<string, string> = {}) => request(base, 'POST', '/operations', { body, headers });
const get = (id: string) => request(base, 'GET', `/operations/${id}`);
const until = async (id: string, predicate: (op: any) => boolean, what: string, timeoutMs = 10_000) =>
  waitFor(
    async () => {
      const { body } = await get(id);
      return predicate(body) ? body : null;
    },
    { timeoutMs, intervalMs: 20, what },
  );

before(async () => {
  // Debug: the log says when a handler given up on returns at last (the timeout test waits for that).
  server = await startServer({ args: ['--retry-base', '300ms', '--retry-max', '600ms', '--concurrency', '4', '--log-level', 'debug'] });
  base = server.url;
});
after(async () => {
  await Promise.all([server, ...servers].map((s) => s?.stop()));
});

describe('lifecycle', () => {
  it('pending → processing (with progress and an ETA) → completed, with Location, Retry-After and a result', async () => {
    const runAt = new Date(Date.now() + 400).toISOString();
    const created = await submit({ type: 'sleep', input: { ms: 1500, steps: 10 }, run_at: runAt });
    assert.equal(created.status, 202);
    assert.match(created.headers.get('location') ?? '', /^\/operations\/op_[0-9A-Z]{26}$/);
    assert.ok(Number(created.headers.get('retry-after')) >= 1);
    assert.equal(created.body.status, 'pending');
    assert.equal(created.body.operation_id, created.body.id);
    assert.equal(created.body.links.self, `/operations/${created.body.id}`);
    const id = created.body.id as string;

    const processing = await until(id, (op) => op.status === 'processing' && op.progress !== null, 'processing with progress');
    assert.ok(processing.progress > 0 && processing.progress <= 1);
    assert.match(processing.progress_message, /^step \d+ of 10$/);
    assert.ok(processing.estimated_completion_at !== null, 'a running op with progress has an ETA');
    assert.ok(processing.estimated_seconds_remaining >= 0);
    assert.equal(processing.queue_position, null);

    const done = await until(id, (op) => op.status === 'completed', 'completed');
    assert.equal(done.result_url, `/operations/${id}/result`);
    assert.equal(done.progress, 1);
    assert.equal(done.estimated_completion_at, null);
    assert.ok(Date.parse(done.finished_at) >= Date.parse(done.started_at));
    const terminalRead = await get(id);
    assert.equal(terminalRead.headers.get('retry-after'), null, 'no Retry-After once terminal');
    assert.ok(terminalRead.headers.get('etag'));

    const result = await request(base, 'GET', done.result_url);
    assert.equal(result.status, 200);
    assert.match(result.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(result.body.slept_ms, 1500);
  });

  it('pending operations behind a busy slot report queue positions 0, 1, 2 in order and ETAs from the type prior', async () => {
    // One slot, and a type with no history on this server: sleep declares a 1 s prior.
    const single = await startServer({ args: ['--concurrency', '1'] });
    servers.push(single);
    const on = (path: string, body?: unknown) => request(single.url, body === undefined ? 'GET' : 'POST', path, { body });
    const busy = await on('/operations', { type: 'sleep', input: { ms: 30_000 } });
    await waitFor(async () => (await on(`/operations/${busy.body.id}`)).body.status === 'processing', { what: 'the slot is busy' });
    const queued: any[] = [];
    for (let i = 0; i < 3; i++) queued.push((await on('/operations', { type: 'sleep', input: { ms: 10 } })).body);
    const readsFrom = Date.now();
    const pending = await Promise.all(queued.map(async (op) => (await on(`/operations/${op.id}`)).body));
    const readsSpanMs = Date.now() - readsFrom;
    assert.deepEqual(
      pending.map((op) => [op.status, op.queue_position]),
      [
        ['pending', 0],
        ['pending', 1],
        ['pending', 2],
      ],
    );
    // The busy slot frees at its start + 1 s (or now, if that has passed); each one ahead then takes 1 s more.
    pending.forEach((op, k) => {
      assert.ok(
        op.estimated_seconds_remaining >= k + 1 - 0.1 && op.estimated_seconds_remaining <= k + 2 + 0.1,
        `position ${k}: ${k + 1}..${k + 2} s away (${op.estimated_seconds_remaining} s)`,
      );
    });
    // Each read counts from its own now: once the busy slot is overdue, the gap also holds the time between two reads.
    const etas = pending.map((op) => Date.parse(op.estimated_completion_at));
    for (let k = 1; k < etas.length; k++) {
      const gap = etas[k]! - etas[k - 1]!;
      assert.ok(
        Math.abs(gap - 1000) <= readsSpanMs + 1,
        `one typical duration (the 1 s prior) between positions ${k - 1} and ${k}, give or take the ${readsSpanMs} ms the reads took (${gap} ms)`,
      );
    }

    // Scheduled for later: no ETA before its run_at.
    const scheduled = await on('/operations', { type: 'sleep', input: { ms: 10 }, run_at: new Date(Date.now() + 60_000).toISOString() });
    assert.equal(scheduled.body.status, 'pending');
    assert.ok(
      Date.parse(scheduled.body.estimated_completion_at) >= Date.parse(scheduled.body.run_at),
      `not before run_at (${scheduled.body.estimated_completion_at})`,
    );
    // Not left running: stop() would wait out the grace period for it.
    await on(`/operations/${busy.body.id}/cancel`, {});
  });

  it('a throwing handler is retried (processing → pending, attempt + 1) and then fails with handler_error', async () => {
    const created = await submit({ type: 'fail', input: { message: 'kaput' } });
    const id = created.body.id as string;
    const retrying = await until(id, (op) => op.status === 'pending' && op.attempt === 2, 'pending again on attempt 2');
    assert.equal(retrying.last_attempt_error.code, 'handler_error', 'the last attempt error is visible while retrying');
    assert.equal(retrying.error, null, 'not the operation’s: it has not failed');
    const failed = await until(id, (op) => op.status === 'failed', 'failed', 15_000);
    assert.equal(failed.attempt, 3);
    assert.equal(failed.max_attempts, 3);
    assert.deepEqual(failed.error, { code: 'handler_error', message: 'kaput' });
    assert.equal(failed.result_url, null);
    const result = await request(base, 'GET', `/operations/${id}/result`);
    assert.equal(result.status, 409);
    assert.equal(result.body.operation_status, 'failed');
  });

  it('a PermanentError fails at once, without retries', async () => {
    const created = await submit({ type: 'fail', input: { permanent: true, message: 'no retry' } });
    const failed = await until(created.body.id, (op) => op.status === 'failed', 'failed');
    assert.equal(failed.attempt, 1);
    assert.equal(failed.error.message, 'no retry');
  });

  it('a flaky handler succeeds on a later attempt', async () => {
    const created = await submit({ type: 'flaky', input: { failures: 1 } });
    const done = await until(created.body.id, (op) => op.status === 'completed', 'completed');
    assert.equal(done.attempt, 2);
    const result = await request(base, 'GET', `/operations/${created.body.id}/result`);
    assert.deepEqual(result.body, { succeeded_on_attempt: 2 });
  });

  it('a timeout fails the operation at its deadline even when the handler ignores its signal, and the server stays responsive', async () => {
    const created = await submit({ type: 'hang', input: { ms: 3000 } });
    const id = created.body.id as string;
    await until(id, (op) => op.status === 'processing', 'processing');
    const failed = await waitFor(
      async () => {
        assert.equal((await request(base, 'GET', '/healthz')).status, 200);
        const { body } = await get(id);
        return body.status === 'failed' ? body : null;
      },
      { timeoutMs: 5000, intervalMs: 20, what: 'failed by timeout' },
    );
    assert.deepEqual(failed.error.code, 'timeout');
    assert.equal(failed.attempt, 1, 'a timeout is not retried by default');
    // The deadline is set on the clock both stamps come from.
    const ranMs = Date.parse(failed.finished_at) - Date.parse(failed.started_at);
    assert.ok(ranMs >= 1000, `not before its 1 s deadline (${ranMs} ms)`);
    // The handler returns at 3 s, after the operation failed, and that changes nothing.
    const late = await waitFor(() => server.logs.find((entry) => entry.msg === 'late handler outcome discarded' && entry.operation_id === id), {
      timeoutMs: 10_000,
      what: "the handler's late return",
    });
    assert.ok(Number(late.time) > Date.parse(failed.finished_at), 'it failed at its deadline, not when the handler returned');
    const later = await get(id);
    assert.equal(later.body.status, 'failed');
    assert.equal(later.body.error.code, 'timeout');
  });

  it('cancel while pending: cancelled at once; cancelling again is 409', async () => {
    const created = await submit({ type: 'sleep', input: { ms: 10 }, run_at: new Date(Date.now() + 3_600_000).toISOString() });
    const cancelled = await request(base, 'POST', `/operations/${created.body.id}/cancel`);
    assert.equal(cancelled.status, 200);
    assert.equal(cancelled.body.status, 'cancelled');
    assert.equal(cancelled.body.error.code, 'cancelled');
    const again = await request(base, 'POST', `/operations/${created.body.id}/cancel`);
    assert.equal(again.status, 409);
    assert.equal(again.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  });

  it('cancel while processing: the handler is aborted and the operation ends cancelled', async () => {
    const created = await submit({ type: 'sleep', input: { ms: 20_000, steps: 100 } });
    const id = created.body.id as string;
    await until(id, (op) => op.status === 'processing', 'processing');
    const accepted = await request(base, 'POST', `/operations/${id}/cancel`);
    assert.ok(accepted.status === 202 || accepted.status === 200);
    // Cancelled, not completed: it ended before the handler's 20 s were up.
    const cancelled = await until(id, (op) => op.status === 'cancelled', 'cancelled', 5000);
    assert.equal(cancelled.error.code, 'cancelled');
  });

  it('DELETE removes a finished operation (then 404) and refuses an unfinished one (409)', async () => {
    const running = await submit({ type: 'sleep', input: { ms: 10 }, run_at: new Date(Date.now() + 3_600_000).toISOString() });
    assert.equal((await request(base, 'DELETE', `/operations/${running.body.id}`)).status, 409);
    await request(base, 'POST', `/operations/${running.body.id}/cancel`);
    assert.equal((await request(base, 'DELETE', `/operations/${running.body.id}`)).status, 204);
    assert.equal((await get(running.body.id)).status, 404);
    assert.equal((await request(base, 'GET', `/operations/${running.body.id}/result`)).status, 404);
  });

  it('a result with its own content type is served as stored', async () => {
    const created = await submit({ type: 'csv', input: {} });
    await until(created.body.id, (op) => op.status === 'completed', 'completed');
    const result = await request(base, 'GET', `/operations/${created.body.id}/result`);
    assert.equal(result.headers.get('content-type'), 'text/csv; charset=utf-8');
    assert.equal(result.text, 'a,b\n1,2\n');
  });

  it('Prefer: wait on submit answers 200 with the finished operation when it completes in time', async () => {
    const fast = await submit({ type: 'echo', input: { a: 1 } }, { prefer: 'wait=5' });
    assert.equal(fast.status, 200);
    assert.equal(fast.body.status, 'completed');
    assert.equal(fast.headers.get('preference-applied'), 'wait=5');
    // A wait of any count of digits (RFC 7240's delta-seconds) is capped at 30 s, never ignored.
    const long = await submit({ type: 'echo', input: { a: 2 } }, { prefer: 'wait=99999999999' });
    assert.equal(long.status, 200);
    assert.equal(long.headers.get('preference-applied'), 'wait=30');
    const slow = await submit({ type: 'sleep', input: { ms: 3000 } }, { prefer: 'wait=1' });
    assert.equal(slow.status, 202);
    assert.notEqual(slow.body.status, 'completed');
  });

  it('task collection routes: POST /echoes and /echoes/async take the body as input and serve the result at /echoes/{id}', async () => {
    for (const path of ['/echoes', '/echoes/async']) {
      const created = await request(base, 'POST', path, { body: { hello: 'world', webhook_url: 'http://127.0.0.1:9/hook' } });
      assert.equal(created.status, 422, 'a private webhook_url is refused without --allow-private-webhooks');
      const ok = await request(base, 'POST', path, { body: { hello: 'world' } });
      assert.equal(ok.status, 202);
      assert.equal(ok.body.type, 'echo');
      const done = await until(ok.body.id, (op) => op.status === 'completed', 'completed');
      assert.equal(done.result_url, `/echoes/${ok.body.id}`);
      const result = await request(base, 'GET', done.result_url);
      assert.deepEqual(result.body, { echo: { hello: 'world' } });
    }
  });
});
