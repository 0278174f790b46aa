// End to end: the built-in report task through its collection route, as the README's server quick start does it,
// with the server answering status polls while the report computes (how fast is for `npm run bench`).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type ServerProcess } from '../support/server.ts';
import { request } from '../support/http.ts';
import { waitFor } from '../support/wait.ts';

let server: ServerProcess;

before(async () => {
  server = await startServer({ fixtureTasks: false });
});
after(async () => {
  await server?.stop();
});

describe('report', () => {
  it('POST /reports → 202 with Location and Retry-After; progress and an ETA while running; the result at /reports/{id}', async () => {
    const created = await request(server.url, 'POST', '/reports', { body: { type: 'sales_summary', date_range: '2026-01-01..2026-06-28' } });
    assert.equal(created.status, 202);
    assert.match(created.headers.get('location') ?? '', /^\/operations\/op_/);
    assert.ok(Number(created.headers.get('retry-after')) >= 1);
    const id = created.body.id as string;
    const seen = new Set<string>();
    let sawRunningWithEta = false;
    const done = await waitFor(
      async () => {
        const { body } = await request(server.url, 'GET', `/operations/${id}`);
        seen.add(body.status);
        if (body.status === 'processing' && body.progress !== null && body.estimated_completion_at !== null) sawRunningWithEta = true;
        return body.status === 'completed' ? body : null;
      },
      { timeoutMs: 60_000, intervalMs: 50, what: 'report completed' },
    );
    assert.ok(seen.has('processing'));
    assert.ok(sawRunningWithEta, 'progress and a non-null ETA while running');
    assert.equal(done.result_url, `/reports/${id}`);
    const report = await request(server.url, 'GET', done.result_url);
    assert.equal(report.status, 200);
    assert.equal(report.body.report_type, 'sales_summary');
    assert.ok(report.body.totals.orders > 0);
    assert.equal(report.body.by_day.length, 179);
  });

  it('409 while not completed, with the status in the problem', async () => {
    // Scheduled an hour out, so it is certainly still pending when its result is asked for.
    const input = { type: 'sales_summary', date_range: '2026-03-01..2026-03-10' };
    const created = await request(server.url, 'POST', '/operations', {
      body: { type: 'report', input, run_at: new Date(Date.now() + 3_600_000).toISOString() },
    });
    assert.equal(created.status, 202);
    const early = await request(server.url, 'GET', `/reports/${created.body.id}`);
    assert.equal(early.status, 409);
    assert.match(early.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.equal(early.body.operation_status, 'pending');
    assert.equal((await request(server.url, 'POST', `/operations/${created.body.id}/cancel`)).status, 200);
    const cancelled = await request(server.url, 'GET', `/reports/${created.body.id}`);
    assert.equal(cancelled.status, 409);
    assert.equal(cancelled.body.operation_status, 'cancelled');
  });

  it('CSV format, served with its content type', async () => {
    const created = await request(server.url, 'POST', '/reports/async', {
      body: { type: 'sales_summary', date_range: '2026-03-01..2026-03-10', format: 'csv' },
    });
    assert.equal(created.status, 202);
    await waitFor(async () => (await request(server.url, 'GET', `/operations/${created.body.id}`)).body.status === 'completed', {
      timeoutMs: 30_000,
      what: 'csv report',
    });
    const csv = await request(server.url, 'GET', `/reports/${created.body.id}`);
    assert.equal(csv.status, 200);
    assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
    assert.ok(csv.text.split('\n').length > 10);
  });

  it('GET /task-types lists report with its schema; /openapi.json and /docs are served', async () => {
    const types = await request(server.url, 'GET', '/task-types');
    const report = types.body.items.find((t: any) => t.type === 'report');
    assert.equal(report.route, '/reports');
    assert.equal(report.input_schema.type, 'object');
    const openapi = await request(server.url, 'GET', '/openapi.json');
    assert.equal(openapi.body.openapi, '3.1.0');
    for (const path of [
      '/operations',
      '/operations/{id}',
      '/operations/{id}/events',
      '/operations/{id}/result',
      '/operations/{id}/cancel',
      '/reports',
      '/reports/{id}',
      '/task-types',
      '/webhook-deliveries',
      '/healthz',
      '/readyz',
    ]) {
      assert.ok(openapi.body.paths[path], `openapi documents ${path}`);
    }
    const timeout = openapi.body.paths['/operations'].post.requestBody.content['application/json'].schema.properties.timeout_s;
    assert.deepEqual([timeout.type, timeout.minimum], ['integer', 1], 'timeout_s is whole seconds');
    assert.equal(report.timeout_s, 300);
    const docs = await fetch(`${server.url}/docs`, { signal: AbortSignal.timeout(5000) });
    assert.equal(docs.status, 200);
    assert.match(await docs.text(), /swagger/i);
  });
});
