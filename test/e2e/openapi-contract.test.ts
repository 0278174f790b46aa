// End to end on real server processes: /openapi.json is a true description. Every operation it lists is called, for
// each response it declares (success and error), and each reply is checked against the document: status, content
// type, body schema and headers (test/support/openapi-contract.ts); so is a real webhook request. An operation or a
// declared response that no call here produces fails the test, so a new route needs its cases here.
// Three servers: A (API keys, generous rate limits, one worker slot, a task that declares schedules) for the routes; B (a rate limit of one request
// an hour) for 429; C (results kept 1 s) for 410, then shut down with requests on the wire for the 503 of every route.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { freshStore, REPO_ROOT, startServer, type ServerProcess } from '../support/server.ts';
import { OpenApiContract, type Reply } from '../support/openapi-contract.ts';
import { WebhookReceiver } from '../support/webhook-receiver.ts';
import { startRequest, refused } from '../support/raw-http.ts';
import { waitFor } from '../support/wait.ts';

const SCHEDULED_TASKS = join(REPO_ROOT, 'test/fixtures/scheduled-tasks.ts');

const KEY = 'contract-key-0123456789abcdef';
/** Server A's key for the default tenant, where the schedules its tasks declare are (a declared one cannot be deleted: 409). */
const DEFAULT_TENANT_KEY = 'contract-default-0123456789abcdef';
const KEYS = ['--api-keys', `alpha:${KEY}`];
const LONG_ID = 'x'.repeat(300);
/** The task types with a collection route on the test servers (the fixtures' echo, the built-in report). */
const COLLECTIONS = [
  { name: 'Echo', input: { hello: 'world' }, invalid: [] as unknown, otherTypeResult: 'csv' },
  { name: 'Report', input: { type: 'sales_summary', date_range: '2026-01-01..2026-01-02' }, invalid: { type: 'nope' }, otherTypeResult: 'echo' },
];

let a: ServerProcess;
let b: ServerProcess;
let c: ServerProcess;
let receiver: WebhookReceiver;
let contract: OpenApiContract;

interface Call {
  readonly params?: Readonly<Record<string, string>>;
  readonly query?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: unknown;
  readonly rawBody?: string;
  /** null: send no Authorization. */
  readonly key?: string | null;
  readonly signal?: AbortSignal;
}

async function call(server: ServerProcess, id: string, options: Call = {}): Promise<Reply> {
  const operation = contract.operation(id);
  const headers: Record<string, string> = { ...options.headers };
  const key = options.key === undefined ? KEY : options.key;
  if (key !== null) headers.authorization = `Bearer ${key}`;
  let body = options.rawBody;
  if (body === undefined && options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const url = server.url + contract.path(id, options.params ?? {}, options.query);
  const response = await fetch(url, { method: operation.method, headers, body, signal: options.signal ?? AbortSignal.timeout(30_000) });
  contract.checkRequest(id, { headers, query: options.query ?? '', json: options.body, accepted: response.status < 300 });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** Calls operation `id`, asserts the status, checks the reply against the document; the parsed body. */
async function expect(status: number, id: string, options: Call = {}, server: ServerProcess = a): Promise<any> {
  const reply = await call(server, id, options);
  assert.equal(reply.status, status, `${id}: expected ${status}, got ${reply.status}: ${reply.text.slice(0, 300)}`);
  return contract.check(id, reply);
}

/** Fills every path parameter with a placeholder (for calls that never reach the route's handler). */
const placeholders = (path: string) => Object.fromEntries([...path.matchAll(/\{([^}]+)\}/g)].map(([, name]) => [name!, 'op_placeholder']));
const submit = (body: unknown, headers: Record<string, string> = {}) => expect(headers.prefer ? 200 : 202, 'submitOperation', { body, headers });
const finished = (type: string, input: unknown = {}, extra: Record<string, unknown> = {}) => submit({ type, input, ...extra }, { prefer: 'wait=20' });

before(async () => {
  receiver = await WebhookReceiver.start();
  const started = await Promise.allSettled([
    // A small body limit: a body over it is small enough to be written whole before the 413 closes the connection
    // (one over the default 1 MB could still be being sent then, and the client see EPIPE instead of the reply).
    startServer({
      fixtureTasks: false,
      args: [
        '--api-keys',
        `alpha:${KEY},default:${DEFAULT_TENANT_KEY}`,
        // The fixture tasks, and one that declares schedules.
        '--tasks',
        SCHEDULED_TASKS,
        '--rate-limit-read',
        '1000000/s',
        '--rate-limit-create',
        '1000000/s',
        '--allow-private-webhooks',
        '--webhook-schedule',
        '50ms',
        '--concurrency',
        '1',
        '--body-limit',
        '16kb',
      ],
    }),
    startServer({ args: [...KEYS, '--rate-limit-read', '1/h', '--rate-limit-create', '1/h'] }),
    startServer({ args: [...KEYS, '--rate-limit-read', 'off', '--rate-limit-create', 'off', '--result-retention', '1s', '--max-schedules', '1'] }),
  ]);
  // Those that started are stopped in after() even when another did not.
  [a, b, c] = started.map((s) => (s.status === 'fulfilled' ? s.value : undefined)) as [ServerProcess, ServerProcess, ServerProcess];
  for (const s of started) if (s.status === 'rejected') throw s.reason;
  const response = await fetch(`${a.url}/openapi.json`, { signal: AbortSignal.timeout(10_000) });
  contract = new OpenApiContract(JSON.parse(await response.clone().text()));
  contract.check('getOpenApiDocument', { status: response.status, headers: response.headers, text: await response.text() });
});
after(async () => {
  await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
  await receiver?.close();
});

describe('/openapi.json describes what the server does', () => {
  it('operations that finish, and submissions refused', async () => {
    const done = await finished('echo', { hello: 'world' });
    assert.equal(done.status, 'completed');
    await expect(400, 'submitOperation', { body: { type: 'echo', input: {}, max_attempts: 26 } });
    const submitBody = contract.operation('submitOperation').definition.requestBody.content['application/json'].schema;
    assert.deepEqual([submitBody.properties.max_attempts.minimum, submitBody.properties.max_attempts.maximum], [1, 25], 'the document says so');
    await expect(400, 'submitOperation', { body: { type: 'echo' }, headers: { 'idempotency-key': 'not a key' } });
    await expect(413, 'submitOperation', { body: { type: 'echo', input: 'x'.repeat(20_000) } });
    await expect(415, 'submitOperation', { rawBody: 'hello', headers: { 'content-type': 'text/plain' } });
    await expect(422, 'submitOperation', { body: { type: 'no_such_type', input: {} } });
    // Prefer: return=minimal: the declared headers (Location, ETag, Preference-Applied) and no body.
    assert.equal(await expect(202, 'submitOperation', { body: { type: 'echo', input: {} }, headers: { prefer: 'return=minimal' } }), undefined);
    for (const route of COLLECTIONS) {
      for (const id of [`submit${route.name}`, `submit${route.name}Async`]) {
        assert.equal((await expect(200, id, { body: route.input, headers: { prefer: 'wait=20' } })).status, 'completed');
      }
      await expect(202, `submit${route.name}Async`, { body: route.input });
      await expect(202, `submit${route.name}`, { body: route.input, headers: { prefer: 'return=minimal' } });
      for (const id of [`submit${route.name}`, `submit${route.name}Async`]) {
        await expect(400, id, { body: route.invalid });
        await expect(413, id, { body: { ...route.input, pad: 'x'.repeat(20_000) } });
        await expect(415, id, { rawBody: 'hello', headers: { 'content-type': 'text/plain' } });
        await expect(422, id, { body: { ...route.input, webhook_url: 'https://user:password@example.com/hook' } });
      }
    }
  });

  it('held submissions, pending and processing operations: 409, 304, cancel', async (t) => {
    // One worker slot, taken by this, so what follows stays pending.
    const blocker = await submit({ type: 'sleep', input: { ms: 60_000 } });
    // Freed whatever happens here, or every later test would wait behind it.
    t.after(() => call(a, 'cancelOperation', { params: { id: blocker.id } }).then(() => {}));
    await waitFor(async () => (await expect(200, 'getOperation', { params: { id: blocker.id } })).status === 'processing', {
      timeoutMs: 10_000,
      what: 'the blocker runs',
    });
    const pending = await heldConflict('submitOperation', { type: 'echo', input: { held: true } });
    for (const route of COLLECTIONS) {
      for (const id of [`submit${route.name}`, `submit${route.name}Async`]) {
        await expect(409, `get${route.name}Result`, { params: { id: await heldConflict(id, route.input) } });
      }
    }
    const read = await call(a, 'getOperation', { params: { id: pending } });
    contract.check('getOperation', read);
    await expect(304, 'getOperation', { params: { id: pending }, headers: { 'if-none-match': read.headers.get('etag')! } });
    await expect(409, 'getOperationResult', { params: { id: pending } });
    await expect(409, 'deleteOperation', { params: { id: pending } });
    assert.equal((await expect(200, 'cancelOperation', { params: { id: pending } })).status, 'cancelled');
    await expect(202, 'cancelOperation', { params: { id: blocker.id } });
    await waitFor(async () => (await expect(200, 'getOperation', { params: { id: blocker.id } })).status === 'cancelled', {
      timeoutMs: 10_000,
      what: 'the blocker ends',
    });
  });

  it('results, reads, lists, deletes and event streams', async () => {
    const echo = await finished('echo', { n: 1 });
    const csv = await finished('csv');
    const bytes = await finished('big_result', { bytes: 16 });
    await expect(200, 'getOperationResult', { params: { id: echo.id } });
    await expect(304, 'getOperationResult', { params: { id: echo.id }, headers: { 'if-none-match': '*' } });
    await expect(412, 'getOperationResult', { params: { id: echo.id }, headers: { 'if-match': `W/"${echo.id}.1"` } });
    await expect(200, 'listOperationHistory', { params: { id: echo.id }, query: 'limit=2' });
    await expect(400, 'listOperationHistory', { params: { id: echo.id }, query: 'cursor=bm90LWEtY3Vyc29y' });
    for (const op of [csv, bytes]) {
      const reply = await call(a, 'getOperationResult', { params: { id: op.id } });
      contract.check('getOperationResult', reply);
      assert.match(reply.headers.get('content-type')!, op === csv ? /^text\/csv/ : /^application\/octet-stream/);
    }
    for (const id of [
      'getOperationResult',
      'getOperation',
      'cancelOperation',
      'deleteOperation',
      'streamOperationEvents',
      'listOperationDeliveries',
      'listOperationHistory',
      'createStreamToken',
    ]) {
      await expect(400, id, { params: { id: LONG_ID } });
      await expect(404, id, { params: { id: 'op_01NOSUCHOPERATION0000000000' } });
    }
    for (const route of COLLECTIONS) {
      const own = await expect(200, `submit${route.name}`, { body: route.input, headers: { prefer: 'wait=20' } });
      await expect(200, `get${route.name}Result`, { params: { id: own.id } });
      await expect(304, `get${route.name}Result`, { params: { id: own.id }, headers: { 'if-none-match': '*' } });
      await expect(412, `get${route.name}Result`, { params: { id: own.id }, headers: { 'if-match': `W/"${own.id}.1"` } });
      await expect(404, `get${route.name}Result`, { params: { id: (await finished(route.otherTypeResult)).id } });
      await expect(400, `get${route.name}Result`, { params: { id: LONG_ID } });
    }
    await expect(409, 'cancelOperation', { params: { id: echo.id } });
    await expect(204, 'deleteOperation', { params: { id: (await finished('echo')).id } });
    // Conditional changes whose condition is false: a version the operation is no longer at.
    const held = await submit({ type: 'sleep', input: { ms: 10 }, run_at: new Date(Date.now() + 3_600_000).toISOString() });
    await expect(412, 'cancelOperation', { params: { id: held.id }, headers: { 'if-match': `W/"${held.id}.0"` } });
    await expect(412, 'getOperation', { params: { id: held.id }, headers: { 'if-match': `W/"${held.id}.0"` } });
    const ended = await finished('fail', { permanent: true });
    await expect(412, 'retryOperation', { params: { id: ended.id }, headers: { 'if-none-match': '*' } });
    await expect(412, 'deleteOperation', { params: { id: ended.id }, headers: { 'if-match': `W/"${ended.id}.0"` } });
    await expect(200, 'listOperations', { query: 'limit=2' });
    await expect(400, 'listOperations', { query: 'status=done' });
    await expect(200, 'listTaskTypes');

    const stream = await call(a, 'streamOperationEvents', { params: { id: echo.id } });
    assert.equal(contract.check('streamOperationEvents', stream), stream.text);
    const events = stream.text.split('\n\n').filter((block) => block.includes('\ndata: '));
    assert.ok(events.length > 0, stream.text);
    for (const event of events) contract.checkComponent('Operation', JSON.parse(/^data: (.*)$/m.exec(event)![1]!));
    // A browser's way in: a stream token in the query instead of Authorization.
    const { token } = await expect(200, 'createStreamToken', { params: { id: echo.id } });
    await expect(200, 'streamOperationEvents', { params: { id: echo.id }, query: `token=${encodeURIComponent(token)}`, key: null });
    if (contract.declared('streamOperationEvents').includes('204')) {
      const last = /^id: (.*)$/m.exec(events.at(-1)!)![1]!;
      await expect(204, 'streamOperationEvents', { params: { id: echo.id }, headers: { 'last-event-id': last } });
    }
  });

  it('operator reads: counts, the overview, whoami, and a tenant key naming another tenant (403)', async () => {
    const echo = await finished('echo', { n: 2 });
    await expect(200, 'countOperations');
    await expect(400, 'countOperations', { query: 'tenant=' });
    await expect(200, 'getOverview', { query: 'window_s=120' });
    await expect(400, 'getOverview', { query: 'window_s=1' });
    await expect(200, 'whoami');
    const other = 'tenant=default';
    for (const id of ['countOperations', 'getOverview', 'listOperations', 'listWebhookDeliveries']) await expect(403, id, { query: other });
    for (const id of [
      'getOperation',
      'getOperationResult',
      'getEchoResult',
      'getReportResult',
      'streamOperationEvents',
      'createStreamToken',
      'listOperationHistory',
      'listOperationDeliveries',
      'cancelOperation',
      'retryOperation',
      'deleteOperation',
    ])
      await expect(403, id, { params: { id: echo.id }, query: other });
    for (const id of ['getBulkAction', 'retryWebhookDelivery']) await expect(403, id, { params: { id: 'op_placeholder' }, query: other });
    await expect(403, 'listSchedules', { query: other });
    for (const id of ['getSchedule', 'pauseSchedule', 'resumeSchedule', 'deleteSchedule'])
      await expect(403, id, { params: { id: 'sch_01M955NPBS82236E1Q2KX76G95' }, query: other });
    // Creates are the key's tenant's: one naming another is refused, not made in the key's own under the other's name.
    await expect(403, 'submitOperation', { body: { type: 'echo', input: {} }, query: other });
    await expect(403, 'submitEcho', { body: {}, query: other });
    await expect(403, 'createSchedule', { body: { type: 'echo', input: {}, cron: '0 0 1 1 *' }, query: other });
    await expect(403, 'createBulkAction', { body: { action: 'cancel', filter: { type: 'sleep' } }, query: other });
  });

  it('webhooks: the request a receiver gets, deliveries and replays', async () => {
    receiver.replyWith({ status: 410 });
    const dead = await finished('echo', { hook: 'dead' }, { webhook_url: receiver.url });
    const deadDelivery = await waitFor(
      async () => (await expect(200, 'listOperationDeliveries', { params: { id: dead.id } })).items.find((d: any) => d.state === 'dead'),
      { what: 'a dead delivery' },
    );
    receiver.replyWith({ status: 204 });
    const delivered = await finished('echo', { hook: 'delivered' }, { webhook_url: receiver.url });
    const deliveredDelivery = await waitFor(
      async () => (await expect(200, 'listOperationDeliveries', { params: { id: delivered.id } })).items.find((d: any) => d.state === 'delivered'),
      { what: 'a delivery' },
    );
    for (const request of receiver.received)
      contract.checkWebhook('operationFinished', new Map(Object.entries(request.headers).map(([k, v]) => [k, String(v)])), request.body);
    await expect(200, 'listWebhookDeliveries', { query: 'state=dead' });
    await expect(400, 'listWebhookDeliveries', { query: 'state=lost' });
    await expect(202, 'retryWebhookDelivery', { params: { id: deadDelivery.id } });
    await expect(409, 'retryWebhookDelivery', { params: { id: deliveredDelivery.id } });
    await expect(404, 'retryWebhookDelivery', { params: { id: 'dlv_01NOSUCHDELIVERY00000000000' } });
    await expect(400, 'retryWebhookDelivery', { params: { id: LONG_ID } });
  });

  it('retries and bulk actions', async () => {
    const failed = await finished('fail', { permanent: true });
    assert.equal(failed.status, 'failed');
    const retried = await expect(202, 'retryOperation', { params: { id: failed.id } });
    assert.equal(retried.status, 'pending');
    const done = await finished('echo', { retried: false });
    await expect(409, 'retryOperation', { params: { id: done.id } });
    await expect(404, 'retryOperation', { params: { id: 'op_01NOSUCHOPERATION0000000000' } });
    await expect(400, 'retryOperation', { params: { id: LONG_ID } });
    // A failed operation of a type the server no longer runs: its store served again without the fixture tasks.
    const store = freshStore();
    try {
      const before = await startServer({ store: store.spec, args: KEYS });
      let id: string;
      try {
        id = (await expect(200, 'submitOperation', { body: { type: 'fail', input: { permanent: true } }, headers: { prefer: 'wait=20' } }, before)).id;
      } finally {
        await before.stop();
      }
      const without = await startServer({ store: store.spec, fixtureTasks: false, args: KEYS });
      try {
        await expect(422, 'retryOperation', { params: { id } }, without);
      } finally {
        await without.stop();
      }
    } finally {
      await store.cleanup();
    }
    const dry = await expect(200, 'createBulkAction', { body: { action: 'delete', filter: { type: 'echo', status: 'completed' }, dry_run: true } });
    assert.ok(dry.count >= 1);
    const bulk = await expect(202, 'createBulkAction', { body: { action: 'cancel', filter: { type: 'sleep', status: 'pending' } } });
    await expect(400, 'createBulkAction', { body: { action: 'retry', filter: { status: 'completed' } } });
    await expect(200, 'getBulkAction', { params: { id: bulk.id } });
    await expect(404, 'getBulkAction', { params: { id: 'bulk_01NOSUCHBULKACTION00000000' } });
    await expect(400, 'getBulkAction', { params: { id: LONG_ID } });
    await expect(200, 'listBulkActions', { query: 'limit=1' });
    await expect(400, 'listBulkActions', { query: 'cursor=nope' });
    await expect(403, 'listBulkActions', { query: 'tenant=default' });
  });

  it('schedules: create, list, read, pause, resume, delete, and their refusals', async () => {
    const body = { type: 'echo', input: { scheduled: true }, cron: '0 0 1 1 *', timezone: 'Europe/Berlin' };
    const schedule = await expect(201, 'createSchedule', { body });
    await expect(400, 'createSchedule', { body: { ...body, cron: 'every day' } });
    await expect(413, 'createSchedule', { body: { ...body, input: { pad: 'x'.repeat(20_000) } } });
    await expect(415, 'createSchedule', { rawBody: 'hello', headers: { 'content-type': 'text/plain' } });
    await expect(422, 'createSchedule', { body: { ...body, type: 'no_such_type' } });
    // Server C holds a tenant to one schedule (--max-schedules 1).
    const held = await expect(201, 'createSchedule', { body }, c);
    await expect(409, 'createSchedule', { body }, c);
    await expect(204, 'deleteSchedule', { params: { id: held.id } }, c);
    await expect(200, 'listSchedules', { query: 'limit=1' });
    await expect(400, 'listSchedules', { query: 'cursor=nope' });
    const missing = 'sch_01NOSUCHSCHEDULE000000000';
    for (const id of ['getSchedule', 'pauseSchedule', 'resumeSchedule']) {
      await expect(200, id, { params: { id: schedule.id } });
      await expect(404, id, { params: { id: missing } });
      await expect(400, id, { params: { id: LONG_ID } });
    }
    const declared = (await expect(200, 'listSchedules', { key: DEFAULT_TENANT_KEY })).items.find((s: { origin: string }) => s.origin === 'task');
    await expect(409, 'deleteSchedule', { params: { id: declared.id }, key: DEFAULT_TENANT_KEY });
    await expect(404, 'deleteSchedule', { params: { id: declared.id } }, a);
    await expect(400, 'deleteSchedule', { params: { id: LONG_ID } });
    await expect(204, 'deleteSchedule', { params: { id: schedule.id } });
  });

  it('health, metrics and documentation', async () => {
    await expect(200, 'getLiveness', { key: null });
    await expect(200, 'getReadiness', { key: null });
    await expect(200, 'getMetrics');
    await expect(200, 'getOpenApiDocument', { key: null });
    for (const operation of contract.operations()) {
      const documentation = operation.definition.tags?.includes('documentation') && !operation.path.includes('{');
      if (documentation && operation.method === 'GET') await expect(200, operation.id, { key: null });
    }
  });

  it('every operation that needs a key: 401 without one', async () => {
    for (const operation of contract.operations()) {
      if (contract.declared(operation.id).includes('401')) await expect(401, operation.id, { key: null, params: placeholders(operation.path) });
    }
  });

  it('every path that declares 405: 405 for a method it does not answer', async () => {
    const paths = new Map<string, string[]>();
    for (const operation of contract.operations())
      if (contract.declared(operation.id).includes('405')) paths.set(operation.path, [...(paths.get(operation.path) ?? []), operation.id]);
    for (const [path, ids] of paths) {
      const item = contract.document.paths[path];
      const method = ['PATCH', 'PUT', 'DELETE', 'POST', 'GET'].find((m) => item[m.toLowerCase()] === undefined)!;
      const response = await fetch(a.url + path.replace(/\{[^}]+\}/g, 'op_placeholder'), {
        method,
        headers: { authorization: `Bearer ${KEY}` },
        signal: AbortSignal.timeout(10_000),
      });
      const reply = { status: response.status, headers: response.headers, text: await response.text() };
      assert.equal(reply.status, 405, `${method} ${path}: ${reply.text}`);
      for (const id of ids) contract.check(id, reply);
    }
  });

  it('every state-changing operation: 403 from another site, 413 for a body over the limit, 415 for one not JSON', async () => {
    for (const operation of contract.operations()) {
      if (['GET', 'HEAD', 'OPTIONS'].includes(operation.method)) continue;
      const params = placeholders(operation.path);
      await expect(403, operation.id, { params, headers: { 'sec-fetch-site': 'cross-site', origin: 'https://elsewhere.example' } });
      await expect(413, operation.id, { params, rawBody: JSON.stringify({ pad: 'x'.repeat(20_000) }), headers: { 'content-type': 'application/json' } });
      await expect(415, operation.id, { params, rawBody: 'hello', headers: { 'content-type': 'text/plain' } });
    }
  });

  it('every operation that is rate limited: 429 over the limit', async () => {
    for (const operation of contract.operations()) {
      if (!contract.declared(operation.id).includes('429')) continue;
      const options = { params: placeholders(operation.path) };
      // The first request of each class may still be within the limit of one an hour; its reply is checked as well.
      let reply = await call(b, operation.id, options);
      if (reply.status !== 429) {
        contract.check(operation.id, reply);
        reply = await call(b, operation.id, options);
      }
      assert.equal(reply.status, 429, `${operation.id}: ${reply.text}`);
      contract.check(operation.id, reply);
    }
  });

  it('results removed by retention: 410', async () => {
    const results = [
      { id: 'getOperationResult', op: await expect(200, 'submitOperation', { body: { type: 'echo', input: {} }, headers: { prefer: 'wait=20' } }, c) },
    ];
    for (const route of COLLECTIONS)
      results.push({ id: `get${route.name}Result`, op: await expect(200, `submit${route.name}`, { body: route.input, headers: { prefer: 'wait=20' } }, c) });
    for (const { id, op } of results) {
      await waitFor(
        async () => {
          const reply = await call(c, id, { params: { id: op.id } });
          contract.check(id, reply);
          return reply.status === 410;
        },
        { timeoutMs: 15_000, intervalMs: 100, what: `${id}: 410 once retention removed the result` },
      );
    }
  });

  it('every operation while the server shuts down: 503 (runs last: it stops server C)', async () => {
    const operations = contract.operations();
    const requests = await Promise.all(operations.map((op) => startRequest(c.port, op.method, contract.path(op.id, placeholders(op.path)))));
    // A barrier: once the server answers a request on a connection opened after those (a new one: fetch would reuse
    // one kept alive), it has accepted them and read what they sent, so none counts as idle (and is dropped) when the
    // server begins to close.
    const barrier = await startRequest(c.port, 'GET', '/healthz');
    assert.equal((await barrier.finish({})).status, 200);
    c.process.kill('SIGTERM');
    await waitFor(() => refused(c.port), { timeoutMs: 15_000, intervalMs: 20, what: 'server C stops listening' });
    const replies = await Promise.all(
      requests.map((request) => request.finish({ authorization: `Bearer ${KEY}`, 'content-length': '0' }).catch((error: Error) => error)),
    );
    operations.forEach((operation, i) => {
      const reply = replies[i]!;
      if (reply instanceof Error) assert.fail(`${operation.id}: ${reply.message}; server C's stderr: ${c.stderr().slice(-1000)}`);
      assert.equal(reply.status, 503, `${operation.id}: ${reply.text}`);
      contract.check(operation.id, reply);
    });
  });

  it('covers every operation, every response it declares and every webhook (runs last)', () => {
    assert.deepEqual(contract.unseen(), [], 'declared in /openapi.json but never produced here: add a case for each');
  });
});

/**
 * A creating request held by `Prefer: wait` (its operation waits behind the blocker) makes a retry with its
 * Idempotency-Key a 409; once the held request is gone, the key replays the operation (202). Its id.
 */
async function heldConflict(id: string, body: unknown): Promise<string> {
  const key = `held-${id}`;
  const hold = () => {
    const controller = new AbortController();
    const held = { controller, settled: false, done: Promise.resolve() };
    held.done = call(a, id, { body, headers: { 'idempotency-key': key, prefer: 'wait=30' }, signal: controller.signal }).then(
      (reply) => {
        held.settled = true;
        contract.check(id, reply);
      },
      () => {},
    );
    return held;
  };
  let held = hold();
  try {
    await waitFor(
      async () => {
        // A held request that met a retry still in flight with the key was itself a 409, and holds nothing: again.
        if (held.settled) held = hold();
        // The retry goes once the held request's operation exists: sent before, on a loaded machine it could take the key
        // first, and the held request then replays it, holding nothing to conflict with.
        const listed = await call(a, 'listOperations', { query: `q=${encodeURIComponent(key)}` });
        if ((contract.check('listOperations', listed) as { items: unknown[] }).items.length === 0) return false;
        const retry = await call(a, id, { body, headers: { 'idempotency-key': key } });
        contract.check(id, retry);
        return retry.status === 409;
      },
      { timeoutMs: 10_000, what: `${id}: 409 while the first request with the key is held` },
    );
  } finally {
    held.controller.abort();
    await held.done;
  }
  const replay = await waitFor(
    async () => {
      const reply = await call(a, id, { body, headers: { 'idempotency-key': key } });
      contract.check(id, reply);
      return reply.status === 202 ? reply : null;
    },
    { what: `${id}: the key replays once the held request is gone` },
  );
  assert.equal(replay.headers.get('idempotent-replayed'), 'true');
  return (JSON.parse(replay.text) as { id: string }).id;
}
