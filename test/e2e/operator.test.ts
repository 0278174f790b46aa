// End to end on the real server process with API keys: the operator's reads. List filters (error code, created range,
// q by id or idempotency key), GET /operations/counts, GET /stats/overview with completed and failed operations, and the
// admin role: an admin key reads every tenant and narrows with ?tenant=; a tenant key gets 404 for another tenant's
// operation and 403 for ?tenant= naming another; GET /whoami says which. The SDK's methods and the CLI's commands for each, on the same server.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { startServer, tempDir, type ServerProcess } from '../support/server.ts';
import { isOperationStatus, isTerminal } from '../../src/domain/status.ts';
import { request } from '../support/http.ts';
import { writeTenantsAndAdminKeys } from '../support/keys-file.ts';
import { waitFor } from '../support/wait.ts';
import { AsyncOpsClient } from '../../src/client/index.ts';
import { runCli } from '../cli/run-cli.ts';

const KEY_A = 'alpha-key-7Hc2vN9qLm4xW8rT';
const KEY_B = 'beta-key-Y6uJ0aS5dF2gH9kL';
const KEY_ADMIN = 'admin-key-Q4wE7rT1yU3iO9pZ';
const dir = tempDir();
let server: ServerProcess;
/** Takes every webhook (204), so each operation submitted with it has a delivered delivery. */
let receiver: Server;
let receiverUrl: string;

const call = (key: string, path: string, options: { method?: string; body?: unknown; headers?: Record<string, string> } = {}) =>
  request(server.url, options.method ?? 'GET', path, { body: options.body, headers: { authorization: `Bearer ${key}`, ...options.headers } });

async function submit(key: string, type: string, input: unknown, headers: Record<string, string> = {}): Promise<string> {
  const response = await call(key, '/operations', { method: 'POST', body: { type, input }, headers });
  assert.equal(response.status, 202, response.text);
  return response.body.id as string;
}

function settled(key: string, id: string): Promise<Record<string, unknown>> {
  return waitFor(
    async () => {
      const body = (await call(key, `/operations/${id}`)).body;
      return isOperationStatus(body.status) && isTerminal(body.status) ? body : null;
    },
    { timeoutMs: 15_000, what: `operation ${id} to end` },
  );
}

const ids = (body: { items: Array<{ id: string }> }) => body.items.map((o) => o.id);

let a1: string;
let a2: string;
let aFailed: string;
let b1: string;
let startedAt: number;

before(async () => {
  const keysFile = writeTenantsAndAdminKeys(dir.path, { alpha: KEY_A, beta: KEY_B, admin: KEY_ADMIN });
  receiver = createServer((req, res) => req.resume().on('end', () => res.writeHead(204).end()));
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const address = receiver.address();
  receiverUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`;
  server = await startServer({ args: ['--api-keys-file', keysFile, '--allow-private-webhooks', '--webhook-schedule', '50ms'] });
  startedAt = Date.now();
  a1 = await submit(KEY_A, 'echo', { n: 1 }, { 'idempotency-key': 'order-17' });
  a2 = await submit(KEY_A, 'echo', { n: 2 });
  aFailed = await submit(KEY_A, 'fail', { permanent: true, message: 'no such file' });
  const submitted = await call(KEY_B, '/operations', {
    method: 'POST',
    body: { type: 'echo', input: { n: 3 }, webhook_url: receiverUrl },
    headers: { 'idempotency-key': 'order-17' },
  });
  assert.equal(submitted.status, 202, submitted.text);
  b1 = submitted.body.id;
  for (const [key, id] of [
    [KEY_A, a1],
    [KEY_A, a2],
    [KEY_A, aFailed],
    [KEY_B, b1],
  ] as const)
    await settled(key, id);
});

after(async () => {
  await server?.stop();
  await new Promise((resolve) => receiver?.close(resolve));
  dir.cleanup();
});

describe('operator reads', () => {
  it('GET /whoami says the tenant and whether the key is an admin key', async () => {
    assert.deepEqual((await call(KEY_A, '/whoami')).body, { tenant: 'alpha', admin: false });
    assert.deepEqual((await call(KEY_ADMIN, '/whoami')).body, { tenant: 'ops', admin: true });
  });

  it('lists filter by status, type, error code, created range and q (an id or an idempotency key), within the tenant', async () => {
    assert.deepEqual(ids((await call(KEY_A, '/operations')).body), [aFailed, a2, a1]);
    assert.deepEqual(ids((await call(KEY_A, '/operations?status=failed&error_code=handler_error')).body), [aFailed]);
    assert.deepEqual(ids((await call(KEY_A, '/operations?error_code=timeout')).body), []);
    assert.deepEqual(ids((await call(KEY_A, '/operations?type=echo&limit=1')).body), [a2]);
    assert.deepEqual(ids((await call(KEY_A, '/operations?q=order-17')).body), [a1]);
    assert.deepEqual(ids((await call(KEY_B, '/operations?q=order-17')).body), [b1]);
    assert.deepEqual(ids((await call(KEY_A, `/operations?q=${b1}`)).body), [], "another tenant's id finds nothing");
    const after = new Date(startedAt - 60_000).toISOString();
    const before = new Date(Date.now() + 60_000).toISOString();
    assert.deepEqual(ids((await call(KEY_A, `/operations?created_after=${after}&created_before=${before}`)).body), [aFailed, a2, a1]);
    assert.deepEqual(ids((await call(KEY_A, `/operations?created_before=${after}`)).body), []);
  });

  it('bad time filters are 400 problems naming the field', async () => {
    const reversed = await call(KEY_A, '/operations?created_after=2026-02-02T00:00:00Z&created_before=2026-02-01T00:00:00Z');
    assert.equal(reversed.status, 400);
    assert.equal(reversed.body.errors[0].path, '/query/created_after');
    const impossible = await call(KEY_A, '/operations?created_after=2026-02-30T00:00:00Z');
    assert.equal(impossible.status, 400);
    assert.equal((await call(KEY_A, '/operations?created_before=yesterday')).status, 400);
  });

  it('GET /operations/counts counts per type and status, of the tenant', async () => {
    assert.deepEqual((await call(KEY_A, '/operations/counts')).body, {
      items: [
        { type: 'echo', status: 'completed', count: 2 },
        { type: 'fail', status: 'failed', count: 1 },
      ],
    });
    assert.deepEqual((await call(KEY_B, '/operations/counts')).body, { items: [{ type: 'echo', status: 'completed', count: 1 }] });
  });

  it('GET /stats/overview: per type, what finished in the window, its rate, pickup and series', async () => {
    const response = await call(KEY_A, '/stats/overview?window_s=600');
    assert.equal(response.status, 200, response.text);
    const overview = response.body;
    assert.equal(overview.window_s, 600);
    const echo = overview.types.find((t: { type: string }) => t.type === 'echo');
    const fail = overview.types.find((t: { type: string }) => t.type === 'fail');
    assert.equal(echo.completed_in_window, 2);
    assert.equal(echo.failed_in_window, 0);
    assert.equal(echo.failure_rate, 0);
    // Two over the ten minutes the series spans, less what is left of the current one.
    assert.ok(echo.throughput_per_min >= 0.2 && echo.throughput_per_min <= 2 / 9, String(echo.throughput_per_min));
    assert.equal(fail.failed, 1);
    assert.equal(fail.failed_in_window, 1);
    assert.equal(fail.failure_rate, 1);
    assert.ok(echo.pickup_ms.p50 >= 0 && echo.pickup_ms.p95 >= echo.pickup_ms.p50);
    assert.equal(echo.series.length, 10);
    assert.equal(
      echo.series.reduce((sum: number, p: { completed: number }) => sum + p.completed, 0),
      2,
    );
    // Registered types with nothing stored are shown too, at zero.
    const sleep = overview.types.find((t: { type: string }) => t.type === 'sleep');
    assert.equal(sleep.completed_in_window, 0);
    assert.equal(sleep.pickup_ms, null);
    assert.equal((await call(KEY_A, '/stats/overview?window_s=10')).status, 400, 'a window under a minute');
    assert.equal((await call(KEY_A, '/stats/overview?window_s=90000')).status, 400, 'a window over a day');
  });

  it('an admin key reads every tenant, and narrows with ?tenant=', async () => {
    const everyTenant = (await call(KEY_ADMIN, '/operations')).body;
    assert.deepEqual(ids(everyTenant), [b1, aFailed, a2, a1]);
    // Each item says whose it is: a list spanning tenants is no use to an operator otherwise.
    assert.deepEqual(
      everyTenant.items.map((o: { tenant: string }) => o.tenant),
      ['beta', 'alpha', 'alpha', 'alpha'],
    );
    assert.deepEqual(ids((await call(KEY_ADMIN, '/operations?tenant=beta')).body), [b1]);
    assert.deepEqual(ids((await call(KEY_ADMIN, '/operations?q=order-17')).body), [b1, a1]);
    assert.equal((await call(KEY_ADMIN, `/operations/${b1}`)).body.id, b1);
    assert.equal((await call(KEY_ADMIN, `/operations/${b1}?tenant=alpha`)).status, 404);
    assert.equal((await call(KEY_ADMIN, `/operations/${a1}/result`)).status, 200);
    // The resource's own result_url (the task's collection route) reads the same for an admin, and narrows alike.
    const resultUrl = (await call(KEY_ADMIN, `/operations/${a1}`)).body.result_url;
    assert.equal(resultUrl, `/echoes/${a1}`);
    assert.deepEqual((await call(KEY_ADMIN, resultUrl)).body, (await call(KEY_A, resultUrl)).body);
    assert.equal((await call(KEY_ADMIN, resultUrl)).status, 200);
    assert.equal((await call(KEY_ADMIN, `${resultUrl}?tenant=beta`)).status, 404);
    assert.deepEqual((await call(KEY_ADMIN, '/operations/counts')).body, {
      items: [
        { type: 'echo', status: 'completed', count: 3 },
        { type: 'fail', status: 'failed', count: 1 },
      ],
    });
    assert.deepEqual((await call(KEY_ADMIN, '/operations/counts?tenant=beta')).body, { items: [{ type: 'echo', status: 'completed', count: 1 }] });
    const overview = (await call(KEY_ADMIN, '/stats/overview?tenant=alpha')).body;
    assert.equal(overview.types.find((t: { type: string }) => t.type === 'echo').completed_in_window, 2);
  });

  it("an admin key reads every tenant's deliveries; a tenant key only its own", async () => {
    await waitFor(async () => (await call(KEY_B, '/webhook-deliveries?state=delivered')).body.items.length === 1, {
      timeoutMs: 10_000,
      what: "beta's webhook delivered",
    });
    assert.deepEqual(
      (await call(KEY_ADMIN, '/webhook-deliveries')).body.items.map((d: { tenant: string }) => d.tenant),
      ['beta'],
      'each delivery says whose it is',
    );
    assert.equal((await call(KEY_ADMIN, '/webhook-deliveries?tenant=alpha')).body.items.length, 0);
    assert.equal((await call(KEY_A, '/webhook-deliveries')).body.items.length, 0);
    assert.equal((await call(KEY_ADMIN, `/operations/${b1}/deliveries`)).body.items.length, 1);
    assert.equal((await call(KEY_A, `/operations/${b1}/deliveries`)).status, 404);
    assert.equal((await call(KEY_A, '/webhook-deliveries?tenant=beta')).status, 403);
  });

  it("a tenant key gets 404 for another tenant's operation and 403 for ?tenant= naming another", async () => {
    assert.equal((await call(KEY_A, `/operations/${b1}`)).status, 404);
    assert.equal((await call(KEY_A, `/operations/${b1}/result`)).status, 404);
    assert.equal((await call(KEY_A, `/echoes/${b1}`)).status, 404);
    assert.equal((await call(KEY_A, `/echoes/${b1}?tenant=beta`)).status, 403);
    for (const path of ['/operations?tenant=beta', '/operations/counts?tenant=beta', '/stats/overview?tenant=beta', `/operations/${b1}?tenant=beta`]) {
      const refused = await call(KEY_A, path);
      assert.equal(refused.status, 403, path);
      assert.equal(refused.body.code, 'forbidden');
    }
    assert.equal((await call(KEY_A, `/operations/${a1}`)).body.tenant, 'alpha');
    // Its own name is allowed (and changes nothing).
    assert.deepEqual(ids((await call(KEY_A, '/operations?tenant=alpha')).body), [aFailed, a2, a1]);
  });

  it('a ?tenant= (or filter.tenant) no tenant can be named is a 400 naming the field, not an empty list', async () => {
    for (const path of [
      '/operations?tenant=no%20such',
      '/operations/counts?tenant=a/b',
      '/stats/overview?tenant=.hidden',
      '/webhook-deliveries?tenant=caf%C3%A9',
      '/schedules?tenant=a%2Cb',
      `/operations/${b1}?tenant=-beta`,
      `/operations/${b1}/history?tenant=%20beta`,
    ]) {
      const refused = await call(KEY_ADMIN, path);
      assert.equal(refused.status, 400, `${path}: ${refused.text}`);
      assert.equal(refused.body.code, 'validation_failed');
      assert.equal(refused.body.errors[0].path, '/query/tenant', path);
    }
    const inFilter = await call(KEY_ADMIN, '/bulk-actions', { method: 'POST', body: { action: 'retry', filter: { tenant: 'al pha' }, dry_run: true } });
    assert.equal(inFilter.status, 400, inFilter.text);
    assert.equal(inFilter.body.errors[0].path, '/filter/tenant');
    const onCreate = await call(KEY_A, '/operations?tenant=al*pha', { method: 'POST', body: { type: 'echo', input: {} } });
    assert.equal(onCreate.status, 400, onCreate.text);
    assert.equal(onCreate.body.errors[0].path, '/query/tenant');
    // A name a tenant can have and that none has is no error: an empty list.
    assert.deepEqual((await call(KEY_ADMIN, '/operations?tenant=gamma.2')).body.items, []);
  });

  it('a NUL character in a query parameter is a 400 problem naming it, on every store', async () => {
    for (const path of ['/operations?q=%00', '/operations?error_code=a%00b', '/operations?type=%00', '/webhook-deliveries?state=dead&tenant=%00']) {
      const refused = await call(KEY_ADMIN, path);
      assert.equal(refused.status, 400, `${path}: ${refused.text}`);
      assert.equal(refused.body.code, 'validation_failed');
    }
    const inBulk = await call(KEY_A, '/bulk-actions', { method: 'POST', body: { action: 'retry', filter: { type: 'x\u0000' }, dry_run: true } });
    assert.equal(inBulk.status, 400, inBulk.text);
    assert.equal(inBulk.body.errors[0].path, '/filter/type');
  });

  it("an admin key cancels, deletes, retries and replays another tenant's operations and deliveries by id", async () => {
    const running = await submit(KEY_B, 'sleep', { ms: 20_000 });
    assert.equal((await call(KEY_A, `/operations/${running}/cancel`, { method: 'POST' })).status, 404);
    // The admin's DELETE finds it (another tenant's), and refuses it as not terminal yet.
    assert.equal((await call(KEY_ADMIN, `/operations/${running}`, { method: 'DELETE' })).status, 409);
    const cancel = await call(KEY_ADMIN, `/operations/${running}/cancel`, { method: 'POST' });
    assert.ok([200, 202].includes(cancel.status), cancel.text);
    assert.equal((await settled(KEY_B, running)).status, 'cancelled');
    assert.equal((await call(KEY_A, `/operations/${running}/retry`, { method: 'POST' })).status, 404);
    const retried = await call(KEY_ADMIN, `/operations/${running}/retry`, { method: 'POST' });
    assert.equal(retried.status, 202, retried.text);
    await call(KEY_ADMIN, `/operations/${running}/cancel`, { method: 'POST' });
    assert.equal((await settled(KEY_B, running)).status, 'cancelled');
    assert.equal((await call(KEY_A, `/operations/${running}`, { method: 'DELETE' })).status, 404);
    assert.equal((await call(KEY_ADMIN, `/operations/${running}`, { method: 'DELETE' })).status, 204);
    assert.equal((await call(KEY_B, `/operations/${running}`)).status, 404);
    // A delivered delivery is not dead: the admin's replay reaches it (409), a tenant key's does not (404).
    const [delivery] = (await call(KEY_B, '/webhook-deliveries')).body.items;
    assert.equal((await call(KEY_A, `/webhook-deliveries/${delivery.id}/retry`, { method: 'POST' })).status, 404);
    assert.equal((await call(KEY_ADMIN, `/webhook-deliveries/${delivery.id}/retry`, { method: 'POST' })).status, 409);
  });

  it('the SDK: list filters, counts, overview and whoami', async () => {
    const admin = new AsyncOpsClient({ baseUrl: server.url, apiKey: KEY_ADMIN });
    const alpha = new AsyncOpsClient({ baseUrl: server.url, apiKey: KEY_A });
    assert.deepEqual(await admin.whoami(), { tenant: 'ops', admin: true });
    const page = await alpha.list({ createdAfter: new Date(startedAt - 60_000), errorCode: 'handler_error', status: 'failed' });
    assert.deepEqual(ids(page), [aFailed]);
    assert.deepEqual(ids(await admin.list({ q: 'order-17', tenant: 'alpha' })), [a1]);
    assert.deepEqual(await admin.counts({ tenant: 'beta' }), [{ type: 'echo', status: 'completed', count: 1 }]);
    const overview = await alpha.overview({ windowS: 120 });
    assert.equal(overview.window_s, 120);
    assert.equal(overview.types.find((t) => t.type === 'fail')?.failed_in_window, 1);
  });

  it('the CLI: list filters, counts and overview', async () => {
    const env = { ASYNCOPS_URL: server.url, ASYNCOPS_API_KEY: KEY_ADMIN };
    const found = await runCli(['list', '--find', 'order-17', '--tenant', 'beta', '--json'], { env });
    assert.equal(found.code, 0, found.stderr);
    assert.deepEqual(ids(JSON.parse(found.stdout)), [b1]);
    const failed = await runCli(['list', '--error-code', 'handler_error', '--created-after', new Date(startedAt - 60_000).toISOString()], { env });
    assert.equal(failed.code, 0, failed.stderr);
    assert.match(failed.stdout, new RegExp(aFailed));
    assert.doesNotMatch(failed.stdout, new RegExp(a1));
    // A list spanning tenants says whose each operation is; one tenant's does not repeat it.
    const spanning = await runCli(['list'], { env });
    assert.equal(spanning.code, 0, spanning.stderr);
    assert.match(spanning.stdout, /^ID\s+TENANT\s+TYPE\s+STATUS/m);
    assert.match(spanning.stdout, new RegExp(`^${b1}\\s+beta\\s+echo\\s`, 'm'));
    const narrowed = await runCli(['list', '--tenant', 'alpha'], { env });
    assert.match(narrowed.stdout, /^ID\s+TYPE\s+STATUS/m);
    const counts = await runCli(['counts'], { env });
    assert.equal(counts.code, 0, counts.stderr);
    assert.match(counts.stdout, /^TYPE\s+PENDING\s+PROCESSING\s+COMPLETED\s+FAILED\s+CANCELLED$/m);
    assert.match(counts.stdout, /^echo\s+0\s+0\s+3\s+0\s+0$/m);
    const overview = await runCli(['overview', '--window', '600', '--tenant', 'alpha', '--json'], { env });
    assert.equal(overview.code, 0, overview.stderr);
    assert.equal(JSON.parse(overview.stdout).types.find((t: { type: string }) => t.type === 'echo').completed_in_window, 2);
    assert.equal((await runCli(['overview', '--window', '5'], { env })).code, 2, 'a window under a minute is a usage error');
  });
});
