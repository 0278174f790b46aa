// End to end on the real server process: Prometheus metrics, graceful shutdown (finish within the grace
// period, release leases past it), and the start-up configuration errors an operator meets.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI_ENTRY, freshStore, REPO_ROOT, startServer, tempDir, type ServerProcess, type TestStore, STORE_INDEPENDENT } from '../support/server.ts';
import { request } from '../support/http.ts';
import { closed } from '../support/raw-http.ts';
import { waitFor } from '../support/wait.ts';
import { systemTool } from '../support/system-tool.ts';
import { WebhookReceiver } from '../support/webhook-receiver.ts';

const servers: ServerProcess[] = [];
const stores: TestStore[] = [];
after(async () => {
  for (const s of servers) await s.kill();
  for (const s of stores) await s.cleanup();
});

/** A store that outlives one server process (a SQLite file, or a PostgreSQL schema). */
function sharedStore(): string {
  const store = freshStore();
  stores.push(store);
  return store.spec;
}

async function start(...args: Parameters<typeof startServer>): Promise<ServerProcess> {
  const server = await startServer(...args);
  servers.push(server);
  return server;
}

/**
 * Writes `files` (one of them `tasks.ts`, the module --tasks loads) into a directory of their own, anywhere but the
 * checkout, and runs `body` against a server of those tasks alone; both go away after.
 */
async function withTaskModules(files: Readonly<Record<string, string>>, body: (server: ServerProcess) => Promise<void>): Promise<void> {
  const dir = tempDir();
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir.path, name), text);
    const server = await start({ args: ['--tasks', join(dir.path, 'tasks.ts')], fixtureTasks: false });
    try {
      await body(server);
    } finally {
      await server.stop();
    }
  } finally {
    dir.cleanup();
  }
}

describe('metrics', () => {
  it('after a known workload, GET /metrics has each metric at the value it should: queue depth, attempts, operations created and ended, queue wait, slots, webhooks, ETA error, HTTP requests', async (t) => {
    const delivered = await WebhookReceiver.start();
    const gone = await WebhookReceiver.start();
    t.after(() => Promise.all([delivered.close(), gone.close()]));
    delivered.replyWith({ status: 204 });
    gone.replyWith({ status: 410 });
    const server = await start({ args: ['--allow-private-webhooks', '--retry-base', '20ms', '--retry-max', '40ms'] });
    const submit = async (body: Record<string, unknown>) => (await request(server.url, 'POST', '/operations', { body })).body.id as string;
    const ended = [
      await submit({ type: 'echo', input: {}, webhook_url: delivered.url }),
      await submit({ type: 'flaky', input: { failures: 1 } }),
      await submit({ type: 'fail', input: { permanent: true }, webhook_url: gone.url }),
      // sleep declares a prior (1 s), so its submit is given an estimate; it takes 30 ms.
      await submit({ type: 'sleep', input: { ms: 30 } }),
    ];
    const inAnHour = new Date(Date.now() + 3_600_000).toISOString();
    const later = await submit({ type: 'sleep', input: {}, run_at: inAnHour });
    assert.equal((await request(server.url, 'POST', `/operations/${later}/cancel`)).status, 200);
    await submit({ type: 'sleep', input: {}, run_at: inAnHour });
    await waitFor(
      async () => {
        for (const id of ended) if (!['completed', 'failed'].includes((await request(server.url, 'GET', `/operations/${id}`)).body.status)) return false;
        return true;
      },
      { timeoutMs: 10_000, what: 'every operation ended' },
    );
    const sample = (text: string, series: string) => Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
    // The dispatcher records each webhook attempt after the receiver answered: scrape until both are recorded.
    const text = await waitFor(
      async () => {
        const response = await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(5000) });
        assert.equal(response.status, 200);
        assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
        const scraped = await response.text();
        return sample(scraped, 'asyncops_webhook_deliveries{state="dead"}') === 1 && sample(scraped, 'asyncops_webhook_delivery_lag_seconds_count') === 1
          ? scraped
          : null;
      },
      { timeoutMs: 10_000, what: 'both webhooks recorded' },
    );
    const expected: Array<[string, number]> = [
      ['asyncops_operations{type="echo",status="completed"}', 1],
      ['asyncops_operations{type="sleep",status="pending"}', 1],
      ['asyncops_attempts_total{type="echo",outcome="completed"}', 1],
      ['asyncops_http_requests_total{method="POST",route="/operations",status="202"}', 6],
      ['asyncops_operations_created_total{type="echo"}', 1],
      ['asyncops_operations_created_total{type="flaky"}', 1],
      ['asyncops_operations_created_total{type="fail"}', 1],
      ['asyncops_operations_created_total{type="sleep"}', 3],
      ['asyncops_operations_completed_total{type="echo"}', 1],
      ['asyncops_operations_completed_total{type="flaky"}', 1],
      ['asyncops_operations_completed_total{type="sleep"}', 1],
      ['asyncops_operations_retried_total{type="flaky"}', 1],
      ['asyncops_operations_failed_total{type="fail"}', 1],
      ['asyncops_operations_cancelled_total{type="sleep"}', 1],
      // One claim per attempt: flaky ran twice.
      ['asyncops_queue_wait_seconds_count{type="echo"}', 1],
      ['asyncops_queue_wait_seconds_count{type="flaky"}', 2],
      ['asyncops_worker_slots{state="used"}', 0],
      ['asyncops_worker_slots{state="available"}', 8],
      ['asyncops_webhook_deliveries{state="pending"}', 0],
      ['asyncops_webhook_deliveries{state="retrying"}', 0],
      ['asyncops_webhook_deliveries{state="dead"}', 1],
      ['asyncops_webhook_delivery_lag_seconds_count', 1],
      // Only the completed sleep was estimated and ended completed; the cancelled one is not scored.
      ['asyncops_eta_relative_error_ratio_count{type="sleep"}', 1],
    ];
    for (const [series, value] of expected) assert.equal(sample(text, series), value, series);
    assert.ok(sample(text, 'asyncops_eta_relative_error_ratio_sum{type="sleep"}') > 0, 'a 1 s prior for 30 ms of work is off');
    assert.ok(sample(text, 'asyncops_queue_wait_seconds_sum{type="echo"}') >= 0);
    assert.doesNotMatch(text, /tenant=/, 'no tenant in any label');
    assert.match(text, /^process_resident_memory_bytes \d+/m);
  });

  it('a scrape after a workload passes `promtool check metrics`, keeps the standard names, and reports an empty queue as 0', async (t) => {
    const promtool = systemTool(t, 'promtool', 'prometheus');
    if (promtool === null) return;
    const hooks = await WebhookReceiver.start();
    t.after(() => hooks.close());
    hooks.replyWith({ status: 204 });
    const server = await start({ args: ['--allow-private-webhooks'] });
    // Every kind of end, a webhook, a refused submit and an unknown route, so each metric family has samples.
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push((await request(server.url, 'POST', '/operations', { body: { type: 'echo', input: { i }, webhook_url: hooks.url } })).body.id);
    ids.push((await request(server.url, 'POST', '/operations', { body: { type: 'fail', input: { permanent: true } } })).body.id);
    const later = (
      await request(server.url, 'POST', '/operations', { body: { type: 'sleep', input: {}, run_at: new Date(Date.now() + 3_600_000).toISOString() } })
    ).body.id;
    assert.equal((await request(server.url, 'POST', `/operations/${later}/cancel`)).status, 200);
    assert.equal((await request(server.url, 'POST', '/operations', { body: { type: 'echo', input: {}, webhook_url: 'ftp://example.com/' } })).status, 422);
    assert.equal((await request(server.url, 'GET', '/nope')).status, 404);
    await waitFor(
      async () => {
        for (const id of ids) if (!['completed', 'failed'].includes((await request(server.url, 'GET', `/operations/${id}`)).body.status)) return false;
        return hooks.received.length === 3;
      },
      { timeoutMs: 10_000, what: 'every operation ended and every webhook delivered' },
    );

    const text = await (await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    const check = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 10_000 });
    assert.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`);

    // Nothing is pending, and that is a 0 for every registered type, not a missing series.
    for (const type of ['echo', 'fail', 'sleep', 'report'])
      assert.match(text, new RegExp(`^asyncops_operations\\{type="${type}",status="pending"\\} 0$`, 'm'), type);
    assert.match(text, /^asyncops_operations\{type="echo",status="completed"\} 3$/m);
    assert.match(text, /^asyncops_operations\{type="fail",status="failed"\} 1$/m);
    assert.match(text, /^asyncops_operations\{type="sleep",status="cancelled"\} 1$/m);
    assert.match(text, /^asyncops_operations\{type="echo",status="processing"\} 0$/m);
    assert.match(text, /^asyncops_webhook_attempts_total\{outcome="delivered"\} 3$/m);
    // The standard names dashboards look for, unprefixed; no gauge named like a counter.
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_seconds',
      'nodejs_version_info',
      'nodejs_active_handles',
    ]) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
    assert.doesNotMatch(text, /^asyncops_(process|nodejs)_/m);
    assert.doesNotMatch(text, /^# TYPE \S+_total (gauge|histogram|summary)$/m);
  });
  it('counts the requests a hook answers before any route: a CSRF refusal, a CORS preflight, a host it does not serve', async () => {
    const server = await start({ args: ['--no-workers', '--cors-origin', 'https://app.example', '--api-keys', `acme:${'k'.repeat(24)}`] });
    const scrape = async () =>
      (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${'k'.repeat(24)}` }, signal: AbortSignal.timeout(5000) })).text();
    // Summed over routes: a hook's answer may carry its route, or none ('unmatched').
    const count = (text: string, method: string, status: string) =>
      [...text.matchAll(new RegExp(`^asyncops_http_requests_total\\{method="${method}",route="[^"]*",status="${status}"\\} (\\S+)$`, 'gm'))].reduce(
        (sum, match) => sum + Number(match[1]),
        0,
      );
    const refused = await fetch(`${server.url}/operations`, {
      method: 'POST',
      headers: { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example', 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(refused.status, 403);
    const preflight = await fetch(`${server.url}/operations`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(preflight.status, 204);
    await waitFor(
      async () => {
        const text = await scrape();
        return count(text, 'POST', '403') === 1 && count(text, 'OPTIONS', '204') === 1;
      },
      { timeoutMs: 10_000, what: 'the refusal and the preflight counted' },
    );
  });

  it('counts the requests a client left: a long-poll as 499 (no answer yet), an event stream it closed as its 200', async () => {
    const server = await start({ args: ['--no-workers'] });
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const created = await request(server.url, 'POST', '/operations', { body: { type: 'sleep', input: {}, run_at: later } });
    const id = created.body.id as string;
    const etag = created.headers.get('etag')!;
    const scrape = async () => (await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    const count = (text: string, status: string, route: string) =>
      Number(new RegExp(`^asyncops_http_requests_total\\{method="GET",route="${route}",status="${status}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    const before = await scrape();
    for (let i = 0; i < 2; i++) {
      const poll = fetch(`${server.url}/operations/${id}`, { headers: { 'if-none-match': etag, prefer: 'wait=20' }, signal: AbortSignal.timeout(300) });
      await assert.rejects(poll);
      const stream = new AbortController();
      const response = await fetch(`${server.url}/operations/${id}/events`, { signal: stream.signal });
      assert.equal(response.status, 200);
      stream.abort();
      await response.body?.cancel().catch(() => {});
    }
    await waitFor(
      async () => {
        const after = await scrape();
        return (
          count(after, '499', '/operations/:id') - count(before, '499', '/operations/:id') === 2 &&
          count(after, '200', '/operations/:id/events') - count(before, '200', '/operations/:id/events') === 2
        );
      },
      { timeoutMs: 10_000, what: 'two abandoned long-polls (499) and two closed streams (200) counted' },
    );
  });
});

describe('counting requests a problem on their connection cut short', STORE_INDEPENDENT, () => {
  it('a long-poll left unanswered when bad bytes behind it on its connection are refused is a 499, not that 400', async () => {
    const server = await start({ args: ['--no-workers'] });
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const created = await request(server.url, 'POST', '/operations', { body: { type: 'sleep', input: {}, run_at: later } });
    const { port, hostname } = new URL(server.url);
    const socket = connect(Number(port), hostname);
    await once(socket, 'connect');
    let received = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
    // Expect: 100-continue, so the server says when it has the long-poll's headers; the bad bytes come after.
    socket.write(
      `GET /operations/${created.body.id} HTTP/1.1\r\nHost: ${hostname}\r\nIf-None-Match: ${created.headers.get('etag')}\r\nPrefer: wait=20\r\nExpect: 100-continue\r\n\r\n`,
    );
    await waitFor(() => received.startsWith('HTTP/1.1 100 Continue'), { what: 'the long-poll received' });
    socket.write('BOGUS \u0001 nonsense\r\n\r\n');
    await closed(socket);
    const count = (text: string, status: string) =>
      Number(new RegExp(`^asyncops_http_requests_total\\{method="GET",route="/operations/:id",status="${status}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    await waitFor(
      async () => {
        const text = await (await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
        return count(text, '499') === 1 && count(text, '400') === 0;
      },
      { timeoutMs: 10_000, intervalMs: 100, what: 'the long-poll counted as 499' },
    );
  });
});

describe('graceful shutdown', () => {
  it('SIGTERM lets a running attempt finish within the grace period', async () => {
    const store = sharedStore();
    const first = await start({ store, args: ['--grace', '5s'] });
    const created = await request(first.url, 'POST', '/operations', { body: { type: 'sleep', input: { ms: 800 } } });
    await waitFor(async () => (await request(first.url, 'GET', `/operations/${created.body.id}`)).body.status === 'processing', { what: 'processing' });
    await first.stop();
    assert.equal(first.process.exitCode, 0, 'exits 0 after a clean shutdown');
    const second = await start({ store, args: ['--no-workers'] });
    const op = (await request(second.url, 'GET', `/operations/${created.body.id}`)).body;
    assert.equal(op.status, 'completed', 'finished before the process exited');
  });

  it('past the grace period the lease is released, and the next start runs it at once (same attempt)', async () => {
    const store = sharedStore();
    const first = await start({ store, args: ['--grace', '200ms', '--lease', '60s'] });
    const created = await request(first.url, 'POST', '/operations', { body: { type: 'sleep', input: { ms: 60_000, steps: 600 } } });
    await waitFor(async () => (await request(first.url, 'GET', `/operations/${created.body.id}`)).body.status === 'processing', { what: 'processing' });
    // stop() kills what has not exited 15 s after SIGTERM, long before the handler's 60 s are up.
    await first.stop();
    assert.equal(first.process.signalCode, null, 'shutdown does not wait for the 60 s handler: it exited on its own');
    const api = await start({ store, args: ['--no-workers'] });
    const released = (await request(api.url, 'GET', `/operations/${created.body.id}`)).body;
    assert.equal(released.status, 'pending', 'released, not left leased for 60 s');
    assert.equal(released.attempt, 1, 'a release does not use up an attempt');
    await api.stop();
    const worker = await start({ store });
    await waitFor(async () => (await request(worker.url, 'GET', `/operations/${created.body.id}`)).body.status === 'processing', {
      timeoutMs: 5000,
      what: 'taken again at once',
    });
    await request(worker.url, 'POST', `/operations/${created.body.id}/cancel`);
  });
});

describe('a second signal during the graceful stop', () => {
  it('a second Ctrl-C (SIGINT) exits at once with 130, leaving the attempt leased; a second SIGTERM waits for the grace', async () => {
    const store = sharedStore();
    const processing = async (server: ServerProcess) => {
      const created = await request(server.url, 'POST', '/operations', { body: { type: 'sleep', input: { ms: 60_000, steps: 600 } } });
      await waitFor(async () => (await request(server.url, 'GET', `/operations/${created.body.id}`)).body.status === 'processing', {
        what: 'processing',
      });
      return created.body.id as string;
    };
    const interrupted = await start({ store, args: ['--grace', '30s', '--lease', '60s'] });
    const id = await processing(interrupted);
    interrupted.process.kill('SIGINT');
    await waitFor(() => interrupted.logs.some((l) => l.msg === 'asyncops: shutting down'), { what: 'the graceful stop begun' });
    interrupted.process.kill('SIGINT');
    await waitFor(() => interrupted.process.exitCode !== null || interrupted.process.signalCode !== null, { timeoutMs: 10_000, what: 'exited' });
    assert.equal(interrupted.process.exitCode, 130, interrupted.stderr());
    assert.ok(
      interrupted.logs.some((l) => /second SIGINT, exiting now/.test(String(l.msg))),
      'says why it did not wait',
    );
    const api = await start({ store, args: ['--no-workers'] });
    const left = (await request(api.url, 'GET', `/operations/${id}`)).body;
    assert.equal(left.status, 'processing', 'not released: its lease lapses as a crash would');
    await request(api.url, 'POST', `/operations/${id}/cancel`);

    const terminated = await start({ store, args: ['--grace', '1500ms'] });
    const other = await processing(terminated);
    const sent = Date.now();
    terminated.process.kill('SIGTERM');
    await waitFor(() => terminated.logs.some((l) => l.msg === 'asyncops: shutting down'), { what: 'the graceful stop begun' });
    terminated.process.kill('SIGTERM');
    await waitFor(() => terminated.process.exitCode !== null || terminated.process.signalCode !== null, { timeoutMs: 15_000, what: 'exited' });
    assert.equal(terminated.process.exitCode, 0, terminated.stderr());
    assert.ok(Date.now() - sent >= 1_400, 'the second SIGTERM did not cut the grace short');
    const released = (await request(api.url, 'GET', `/operations/${other}`)).body;
    assert.equal(released.status, 'pending', 'released at the end of the grace');
    await request(api.url, 'POST', `/operations/${other}/cancel`);
  });
});

describe('roles', () => {
  it('a worker node (asyncops worker) runs what an API node (serve --no-workers) accepted on the same store, and stops cleanly', async () => {
    const store = sharedStore();
    const api = await start({ store, args: ['--no-workers'] });
    // No worker node is live yet: an ETA would be a guess (sleep declares a duration, so it is no lack of history).
    const unrunnable = await request(api.url, 'POST', '/operations', { body: { type: 'sleep', input: { ms: 10 } } });
    assert.equal(unrunnable.body.estimated_completion_at, null, JSON.stringify(unrunnable.body));
    assert.equal(unrunnable.body.estimated_seconds_remaining, null);
    const worker = await start({ store, command: 'worker' });
    const created = await request(api.url, 'POST', '/operations', { body: { type: 'echo', input: { via: 'worker' } } });
    // SQLite nodes in separate processes meet only through the file: the worker's fallback poll (2 s) finds it.
    await waitFor(async () => (await request(api.url, 'GET', `/operations/${created.body.id}`)).body.status === 'completed', {
      timeoutMs: 10_000,
      what: 'completed by the worker node',
    });
    await worker.stop();
    assert.equal(worker.process.exitCode, 0);
  });
});

describe('start-up configuration', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI_ENTRY, ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 20_000 });

  for (const [what, args] of [
    ['an unknown store scheme', ['serve', '--store', 'ftp://x']],
    ['a bad port', ['serve', '--port', '70000']],
    ['a bad duration', ['serve', '--lease', 'soon']],
    ['a malformed webhook secret', ['serve', '--store', ':memory:', '--webhook-secret', 'nope']],
    ['a missing task module', ['serve', '--store', ':memory:', '--tasks', './does-not-exist.ts']],
    ['a task whose timeout is not whole seconds', ['serve', '--store', ':memory:', '--tasks', 'test/fixtures/bad-timeout-task.ts']],
    [
      'a webhook lease less than 1s longer than the webhook timeout',
      ['serve', '--store', ':memory:', '--webhook-timeout', '10s', '--webhook-lease', '10500ms'],
    ],
    ['a worker whose webhook lease is shorter than its webhook timeout', ['worker', '--store', ':memory:', '--webhook-lease', '5s']],
    // These started a server that took work it never ran, or stopped with the worker pool's own message and status 1.
    ['a webhook timeout of 0', ['serve', '--store', ':memory:', '--port', '0', '--webhook-timeout', '0']],
    ['a worker with a webhook timeout of 0', ['worker', '--store', ':memory:', '--webhook-timeout', '0']],
    ['a lease of 0', ['serve', '--store', ':memory:', '--port', '0', '--lease', '0']],
    // Read as "no retention" by some: every finished operation (or result) would be deleted at once.
    ['a retention of 0', ['serve', '--store', ':memory:', '--port', '0', '--retention', '0']],
    ['a result retention of 0', ['worker', '--store', ':memory:', '--result-retention', '0']],
    ['a lease too short for a heartbeat every third of it', ['serve', '--store', ':memory:', '--port', '0', '--lease', '1ms']],
    ['a PostgreSQL schema name that is not one', ['serve', '--store', 'postgres://postgres@127.0.0.1:5432/test?schema=Bad-Name']],
  ] as const) {
    it(`${what} stops start-up with one line and exit status 2`, STORE_INDEPENDENT, () => {
      const result = run(...args);
      assert.equal(result.status, 2, result.stderr);
      const lines = result.stderr
        .trim()
        .split('\n')
        .filter((l) => !l.startsWith('npm warn'));
      assert.equal(lines.length, 1, `one line: ${result.stderr}`);
      assert.match(lines[0]!, /^asyncops: /);
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    });
  }

  it('takes every retry delay its flags take: a base over the longest delay, and 0', STORE_INDEPENDENT, async () => {
    // What createAsyncOps checks must not refuse what the flags build (a base of 10m over the default longest, 5m).
    for (const args of [
      ['--retry-base', '10m'],
      ['--retry-base', '0', '--retry-max', '0'],
    ]) {
      const server = await start({ args });
      assert.equal((await request(server.url, 'GET', '/healthz')).status, 200, args.join(' '));
      await server.stop();
    }
  });

  it('a SQLite store that cannot be opened is named in one line, exit status 1, by serve, worker and webhook-secret', STORE_INDEPENDENT, () => {
    const missing = '/nonexistent-asyncops-dir/asyncops.db';
    for (const args of [['serve', '--port', '0'], ['worker'], ['webhook-secret']]) {
      const result = run(...args, '--store', missing);
      assert.equal(result.status, 1, result.stderr);
      assert.equal(result.stderr.trim(), `asyncops: cannot open the SQLite store at ${missing}: unable to open database file`, args[0]);
    }
    // A file that is there but is no store (or cannot be written): SQLite's words name no file either.
    const dir = tempDir();
    try {
      const notAStore = join(dir.path, 'not-a-store.db');
      writeFileSync(notAStore, 'x'.repeat(8192));
      const result = run('serve', '--port', '0', '--store', notAStore);
      assert.equal(result.status, 1, result.stderr);
      assert.equal(result.stderr.trim(), `asyncops: cannot open the SQLite store at ${notAStore}: file is not a database`);
    } finally {
      dir.cleanup();
    }
  });

  it('a PostgreSQL store that cannot be reached is named in one line without its user or password, exit status 1', STORE_INDEPENDENT, () => {
    const store = 'postgres://someone:s3cret-pw@127.0.0.1:1/test?schema=somewhere';
    for (const args of [['serve', '--port', '0'], ['worker'], ['webhook-secret']]) {
      const result = run(...args, '--store', store);
      assert.equal(result.status, 1, result.stderr);
      assert.equal(
        result.stderr.trim(),
        'asyncops: cannot open the PostgreSQL store at postgres://127.0.0.1:1/test?schema=somewhere: connect ECONNREFUSED 127.0.0.1:1',
        args[0],
      );
    }
  });

  it("an address that is not this machine's stops serve with one line naming it and why, exit status 1", STORE_INDEPENDENT, () => {
    // TEST-NET-1 (RFC 5737): an address no machine has as its own.
    const foreign = run('serve', '--store', ':memory:', '--host', '192.0.2.1', '--insecure', '--port', '0');
    assert.equal(foreign.status, 1, foreign.stderr);
    assert.equal(foreign.stderr.trim(), "asyncops: cannot listen on 192.0.2.1:0: the address is not one of this machine's");
  });

  it('an OTEL_* variable the server cannot follow stops serve and worker with one line and exit status 2, as a bad flag does', STORE_INDEPENDENT, () => {
    for (const [command, env] of [
      ['serve', { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }],
      ['worker', { OTEL_TRACES_EXPORTER: 'zipkin' }],
      // The exporter would have read these leniently: no URL fell back to localhost:4318, the others were ignored.
      ['serve', { OTEL_EXPORTER_OTLP_ENDPOINT: 'notaurl' }],
      ['worker', { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'ftp://collector:4318' }],
      ['serve', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_EXPORTER_OTLP_TIMEOUT: 'abc' }],
      ['serve', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_EXPORTER_OTLP_COMPRESSION: 'brotli' }],
      ['serve', { OTEL_TRACES_EXPORTER: 'console', OTEL_TRACES_SAMPLER: 'sometimes' }],
    ] as const) {
      const result = spawnSync(process.execPath, [CLI_ENTRY, command, '--store', ':memory:', ...(command === 'serve' ? ['--port', '0'] : [])], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        timeout: 20_000,
        env: { ...process.env, ...env },
      });
      assert.equal(result.status, 2, result.stderr);
      const lines = result.stderr
        .trim()
        .split('\n')
        .filter((l) => !l.startsWith('npm warn'));
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0]!, /^asyncops: OTEL_/);
    }
  });

  it(
    'a task module the registry would refuse is named in one line, exit status 2: a schema that does not compile, the built-in type',
    STORE_INDEPENDENT,
    () => {
      const schema = run('serve', '--store', ':memory:', '--tasks', 'test/fixtures/bad-schema-task.ts');
      assert.equal(schema.status, 2, schema.stderr);
      assert.match(schema.stderr, /^asyncops: --tasks test\/fixtures\/bad-schema-task\.ts: .*regular expression/);
      assert.equal(schema.stderr.trim().split('\n').length, 1, schema.stderr);
      const clash = run('serve', '--store', ':memory:', '--tasks', 'test/fixtures/report-clash-task.ts');
      assert.equal(clash.status, 2, clash.stderr);
      assert.match(
        clash.stderr,
        /^asyncops: --tasks: task type "report" is registered twice \(one is the built-in report task: --no-builtin-tasks leaves it out\)/,
      );
    },
  );

  it('a port already in use stops serve with one line and a non-zero exit, without running workers', async () => {
    const holder = await start();
    const result = run('serve', '--store', ':memory:', '--port', String(holder.port));
    assert.notEqual(result.status, 0);
    assert.equal(result.status !== null, true, 'it exited by itself');
    assert.match(
      result.stderr
        .trim()
        .split('\n')
        .filter((l) => !l.startsWith('npm warn'))
        .join('\n'),
      /^asyncops: cannot listen on 127\.0\.0\.1:\d+: the port is already in use$/,
    );
  });

  it('a webhook lease from the environment is refused by its variable when too short beside the timeout, and taken otherwise', STORE_INDEPENDENT, async () => {
    const serveWith = (env: Record<string, string>) =>
      spawnSync(process.execPath, [CLI_ENTRY, 'serve', '--store', ':memory:', '--port', '0'], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        timeout: 20_000,
        env: { ...process.env, ...env },
      });
    const refused = serveWith({ ASYNCOPS_WEBHOOK_LEASE: '3s', ASYNCOPS_WEBHOOK_TIMEOUT: '3s' });
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(refused.stderr, /^asyncops: ASYNCOPS_WEBHOOK_LEASE: must be at least 1s longer than ASYNCOPS_WEBHOOK_TIMEOUT \(3000 ms against 3000 ms\)/m);
    const server = await start({ env: { ASYNCOPS_WEBHOOK_LEASE: '2s', ASYNCOPS_WEBHOOK_TIMEOUT: '1s' } });
    assert.equal((await request(server.url, 'GET', '/healthz')).status, 200);
  });

  it('boolean environment switches are read strictly: false means false, anything else odd is refused', STORE_INDEPENDENT, () => {
    const env = (extra: Record<string, string>) =>
      spawnSync(process.execPath, [CLI_ENTRY, 'serve', '--store', ':memory:', '--host', '0.0.0.0', '--port', '0'], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        timeout: 20_000,
        env: { ...process.env, ...extra },
      });
    const off = env({ ASYNCOPS_INSECURE: 'false' });
    assert.equal(off.status, 2, 'ASYNCOPS_INSECURE=false still refuses a public bind without keys');
    assert.match(off.stderr, /refusing to serve on 0\.0\.0\.0/);
    const odd = env({ ASYNCOPS_INSECURE: 'maybe' });
    assert.equal(odd.status, 2);
    assert.match(odd.stderr, /ASYNCOPS_INSECURE: expected true or false/);
  });

  it('a promise a task leaves rejected, neither awaited nor caught, is logged and the server carries on', async () => {
    const careless = `import { defineTask } from 'asyncops';
export default [defineTask({ type: 'careless', run: () => {
  void Promise.reject(new Error('left behind'));
  return { fine: true };
} })];
`;
    await withTaskModules({ 'tasks.ts': careless }, async (server) => {
      const done = await request(server.url, 'POST', '/operations', { body: { type: 'careless', input: {} }, headers: { prefer: 'wait=10' } });
      assert.equal(done.body.status, 'completed', done.text);
      await waitFor(() => server.logs.find((line) => /unhandled promise rejection/.test(String(line.msg))), {
        timeoutMs: 5_000,
        what: 'the rejection logged',
      });
      assert.equal((await request(server.url, 'GET', '/healthz')).status, 200, 'still serving');
      assert.equal(
        (await request(server.url, 'POST', '/operations', { body: { type: 'careless', input: {} }, headers: { prefer: 'wait=10' } })).body.status,
        'completed',
      );
    });
  });

  it('a task that throws from a timer ends the process with a fatal log line; on a worker thread it fails its attempt alone', STORE_INDEPENDENT, async () => {
    const thrower = `export default async function () {
  setTimeout(() => { throw new Error('thrown from a timer'); }, 20);
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  return { fine: true };
}
`;
    const tasks = `import { defineTask, inWorkerThread } from 'asyncops';
import thrower from './thrower.ts';
export default [
  defineTask({ type: 'on_thread', maxAttempts: 1, run: inWorkerThread(new URL('./thrower.ts', import.meta.url)) }),
  defineTask({ type: 'on_loop', maxAttempts: 1, run: thrower }),
];
`;
    await withTaskModules({ 'tasks.ts': tasks, 'thrower.ts': thrower }, async (server) => {
      const contained = await request(server.url, 'POST', '/operations', { body: { type: 'on_thread', input: {} }, headers: { prefer: 'wait=10' } });
      assert.equal(contained.body.status, 'failed', contained.text);
      assert.equal(contained.body.error.message, 'thrown from a timer');
      assert.equal((await request(server.url, 'GET', '/healthz')).status, 200, 'still serving');
      // The process may end before its 202 is written (a worker claims the operation at once): that reply is not the point.
      await request(server.url, 'POST', '/operations', { body: { type: 'on_loop', input: {} } }).catch(() => undefined);
      await waitFor(() => server.process.exitCode ?? undefined, { timeoutMs: 10_000, what: 'the process exits' });
      assert.notEqual(server.process.exitCode, 0);
      const fatal = server.logs.find((line) => line.level === 60);
      assert.match(String(fatal?.msg), /^an uncaught exception .*taken again once their leases lapse/);
      assert.equal((fatal?.err as { message?: string } | undefined)?.message, 'thrown from a timer');
    });
  });

  it("a worker-thread module that imports 'asyncops' gets this checkout's sources too: its PermanentError keeps its code", async () => {
    const heavy = `import { PermanentError } from 'asyncops';
export default function build(input: { fail?: boolean }) {
  if (input.fail) throw new PermanentError('no', 'bad_build');
  return { built: true };
}
`;
    const tasks = `import { defineTask, inWorkerThread } from 'asyncops';
export default [defineTask({ type: 'threaded', run: inWorkerThread(new URL('./heavy.ts', import.meta.url)) })];
`;
    await withTaskModules({ 'heavy.ts': heavy, 'tasks.ts': tasks }, async (server) => {
      const submitWait = (input: object) =>
        request(server.url, 'POST', '/operations', { body: { type: 'threaded', input, max_attempts: 3 }, headers: { prefer: 'wait=15' } });
      const done = await submitWait({});
      assert.equal(done.body.status, 'completed', done.text);
      const refused = await submitWait({ fail: true });
      assert.deepEqual([refused.body.status, refused.body.attempt, refused.body.error?.code], ['failed', 1, 'bad_build'], refused.text);
    });
  });

  it("a task module anywhere that imports 'asyncops' gets this checkout's sources, built or not (README, docs/tasks.md)", async () => {
    const tasks = `import { defineTask, PermanentError } from 'asyncops';
import type { Operation } from 'asyncops/client';
const seen: Operation | null = null;
export default [defineTask({ type: 'hello', input: { type: 'object' }, run: (input: { name?: string }) => {
  if (input.name === undefined) throw new PermanentError('name it', 'no_name');
  return { hi: input.name, seen };
} })];
`;
    await withTaskModules({ 'tasks.ts': tasks }, async (server) => {
      const done = await request(server.url, 'POST', '/operations', { body: { type: 'hello', input: { name: 'x' } }, headers: { prefer: 'wait=10' } });
      assert.equal(done.body.status, 'completed', done.text);
      // The PermanentError class the module imported is the server's own: not retried, its code kept.
      const refused = await request(server.url, 'POST', '/operations', { body: { type: 'hello', input: {} }, headers: { prefer: 'wait=10' } });
      assert.deepEqual([refused.body.status, refused.body.attempt, refused.body.error?.code], ['failed', 1, 'no_name']);
    });
  });

  it('serve --help lists every flag with its default', STORE_INDEPENDENT, () => {
    const result = run('serve', '--help');
    assert.equal(result.status, 0);
    for (const flag of [
      '--port',
      '--host',
      '--store',
      '--tasks',
      '--concurrency',
      '--no-workers',
      '--allow-private-webhooks',
      '--webhook-secret',
      '--grace',
      '--retention',
    ]) {
      assert.ok(result.stdout.includes(flag), `${flag} in help`);
    }
    assert.match(result.stdout, /default:\s+8080/);
    assert.match(result.stdout, /default:\s+"127\.0\.0\.1"/);
  });
});
