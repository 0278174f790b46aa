// End to end on the real server process: bad input gets a 4xx problem+json, never a 5xx, and stored
// data is unchanged by every rejected request.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type ServerProcess } from '../support/server.ts';
import { connect } from 'node:net';
import { request } from '../support/http.ts';

let server: ServerProcess;
let base: string;
let seedId: string;

before(async () => {
  server = await startServer({ args: ['--body-limit', '16kb', '--request-timeout', '2s'] });
  base = server.url;
  // Finished before the first snapshot, so no worker changes it while a test compares.
  const seed = await request(base, 'POST', '/operations', { body: { type: 'echo', input: { seed: true } }, headers: { prefer: 'wait=10' } });
  assert.equal(seed.body.status, 'completed');
  seedId = seed.body.id;
});
after(async () => {
  await server?.stop();
});

/** Writes `raw` on a new connection to `base` and reads until the server closes it (within 10 s). */
function rawExchange(base: string, raw: string): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => socket.write(raw));
    let answer = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no close within 10 s; read: ${answer.slice(0, 200)}`)));
    socket.on('error', (error) => (answer.length > 0 ? resolve(answer) : reject(error)));
    socket.on('close', () => resolve(answer));
  });
}

/** A list cursor as the server writes one, for `id`. */
const cursorOf = (id: string) => Buffer.from(id, 'utf8').toString('base64url');

async function snapshot(): Promise<string> {
  const list = await request(base, 'GET', '/operations?limit=200');
  return JSON.stringify(list.body.items.map((op: any) => [op.id, op.status, op.updated_at]));
}

function assertProblem(reply: { status: number; headers: Headers; body: any }, status: number, what: string): void {
  assert.equal(reply.status, status, `${what}: status`);
  assert.match(reply.headers.get('content-type') ?? '', /^application\/problem\+json/, `${what}: problem+json`);
  assert.equal(reply.body.status, status, `${what}: body.status`);
  assert.equal(typeof reply.body.title, 'string');
  assert.equal(typeof reply.body.type, 'string');
  assert.equal(typeof reply.body.detail, 'string');
}

describe('bad input', () => {
  const cases: Array<{
    what: string;
    method: string;
    path: string;
    rawBody?: string;
    body?: unknown;
    headers?: Record<string, string>;
    status: number;
    field?: string;
    /** What the error naming `field` says. */
    message?: RegExp;
  }> = [
    { what: 'malformed JSON', method: 'POST', path: '/operations', rawBody: '{"type": "echo", ', status: 400 },
    { what: 'empty JSON body', method: 'POST', path: '/operations', rawBody: '', status: 400 },
    { what: 'a JSON array body', method: 'POST', path: '/operations', body: [1, 2], status: 400 },
    { what: 'type of the wrong type', method: 'POST', path: '/operations', body: { type: 5, input: {} }, status: 400, field: '/type' },
    { what: 'missing type', method: 'POST', path: '/operations', body: { input: {} }, status: 400, field: '/type' },
    { what: 'unknown field', method: 'POST', path: '/operations', body: { type: 'echo', input: {}, bogus: 1 }, status: 400, field: '/bogus' },
    { what: 'input against its schema', method: 'POST', path: '/operations', body: { type: 'sleep', input: { ms: 'long' } }, status: 400, field: '/input/ms' },
    {
      what: 'report input against its schema',
      method: 'POST',
      path: '/reports',
      body: { type: 'sales_summary', date_range: 'yesterday' },
      status: 400,
      field: '/date_range',
    },
    {
      what: 'a day that does not exist in a report date_range',
      method: 'POST',
      path: '/reports',
      body: { type: 'sales_summary', date_range: '2026-02-30..2026-03-01' },
      status: 400,
      field: '/date_range',
    },
    {
      what: 'an inverted report date_range',
      method: 'POST',
      path: '/reports',
      body: { type: 'sales_summary', date_range: '2026-03-10..2026-03-01' },
      status: 400,
      field: '/date_range',
    },
    {
      what: 'a report date_range of over a year',
      method: 'POST',
      path: '/reports',
      body: { type: 'sales_summary', date_range: '2025-01-01..2026-12-31' },
      status: 400,
      field: '/date_range',
    },
    {
      what: 'an impossible report date_range on /operations',
      method: 'POST',
      path: '/operations',
      body: { type: 'report', input: { type: 'sales_summary', date_range: '2026-02-30..2026-03-01' } },
      status: 400,
      field: '/input/date_range',
    },
    { what: 'unknown task type', method: 'POST', path: '/operations', body: { type: 'nope', input: {} }, status: 422, field: '/type' },
    { what: 'negative timeout_s', method: 'POST', path: '/operations', body: { type: 'echo', input: {}, timeout_s: -1 }, status: 400 },
    { what: 'fractional timeout_s', method: 'POST', path: '/operations', body: { type: 'echo', input: {}, timeout_s: 1.5 }, status: 400, field: '/timeout_s' },
    { what: 'zero timeout_s', method: 'POST', path: '/operations', body: { type: 'echo', input: {}, timeout_s: 0 }, status: 400, field: '/timeout_s' },
    { what: 'enormous timeout_s', method: 'POST', path: '/operations', body: { type: 'echo', input: {}, timeout_s: 1e12 }, status: 400 },
    { what: 'bad run_at', method: 'POST', path: '/operations', body: { type: 'echo', input: {}, run_at: 'tomorrow' }, status: 400 },
    {
      what: 'run_at past year 9999 in UTC (which the reply could not write as a date-time)',
      method: 'POST',
      path: '/operations',
      body: { type: 'echo', input: {}, run_at: '9999-12-31T23:59:59-23:59' },
      status: 400,
      field: '/run_at',
    },
    {
      // What a Date past year 9999 writes itself as (an SDK's runAt): out of range, not of the wrong form.
      what: 'run_at of a Date past year 9999',
      method: 'POST',
      path: '/operations',
      body: { type: 'echo', input: {}, run_at: '+010000-01-01T00:00:00.000Z' },
      status: 400,
      field: '/run_at',
      message: /^is outside the instants a date-time can name/,
    },
    {
      what: 'bad run_at, said so',
      method: 'POST',
      path: '/operations',
      body: { type: 'echo', input: {}, run_at: '2026-02-30T00:00:00Z' },
      status: 400,
      field: '/run_at',
      message: /^must be an RFC 3339 date-time$/,
    },
    {
      what: 'created_before past year 9999 in UTC',
      method: 'GET',
      path: '/operations?created_before=9999-12-31T23:59:59-01:00',
      status: 400,
      field: '/query/created_before',
      message: /^is outside the instants a date-time can name/,
    },
    {
      what: 'relative webhook_url',
      method: 'POST',
      path: '/operations',
      body: { type: 'echo', input: {}, webhook_url: '/hook' },
      status: 422,
      field: '/webhook_url',
    },
    ...['https://example.com/hook\u0000x', 'https://example.com/\u0007', 'https://example.com/\ud800'].map((webhook_url) => ({
      what: `a webhook_url holding ${JSON.stringify(webhook_url.slice(20))}`,
      method: 'POST',
      path: '/operations',
      body: { type: 'echo', input: {}, webhook_url },
      status: 422,
      field: '/webhook_url',
    })),
    {
      what: 'a schedule webhook_url holding NUL',
      method: 'POST',
      path: '/schedules',
      body: { type: 'echo', input: {}, cron: '0 0 1 1 *', webhook_url: 'https://example.com/hook\u0000x' },
      status: 422,
      field: '/webhook_url',
    },
    {
      what: 'non-http webhook_url',
      method: 'POST',
      path: '/operations',
      body: { type: 'echo', input: {}, webhook_url: 'ftp://example.com/x' },
      status: 422,
      field: '/webhook_url',
    },
    {
      what: 'private webhook_url',
      method: 'POST',
      path: '/operations',
      body: { type: 'echo', input: {}, webhook_url: 'http://10.0.0.1/x' },
      status: 422,
      field: '/webhook_url',
    },
    { what: 'body over the limit', method: 'POST', path: '/operations', body: { type: 'echo', input: { big: 'x'.repeat(20_000) } }, status: 413 },
    {
      what: 'wrong content type',
      method: 'POST',
      path: '/operations',
      rawBody: 'type=echo',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      status: 415,
    },
    { what: 'a text/plain body', method: 'POST', path: '/operations', rawBody: '{"type":"echo"}', headers: { 'content-type': 'text/plain' }, status: 415 },
    { what: 'a text/plain body on a task route', method: 'POST', path: '/reports', rawBody: 'hello', headers: { 'content-type': 'text/plain' }, status: 415 },
    {
      what: 'JSON declared as UTF-16',
      method: 'POST',
      path: '/operations',
      rawBody: '{"type":"echo"}',
      headers: { 'content-type': 'application/json; charset=utf-16' },
      status: 415,
    },
    {
      what: 'JSON declared as Latin-1 on a task route',
      method: 'POST',
      path: '/reports',
      rawBody: '{"type":"sales_summary","date_range":"2026-01-01..2026-01-02"}',
      headers: { 'content-type': 'application/json; charset=latin1' },
      status: 415,
    },
    {
      what: 'bad Idempotency-Key',
      method: 'POST',
      path: '/operations',
      body: { type: 'echo', input: {} },
      headers: { 'idempotency-key': 'x'.repeat(300) },
      status: 400,
    },
    { what: 'malformed id', method: 'GET', path: '/operations/not-an-id', status: 404 },
    { what: 'id with NUL', method: 'GET', path: '/operations/op_%00', status: 404 },
    { what: 'unknown well-formed id', method: 'GET', path: '/operations/op_01JD0000000000000000000000', status: 404 },
    { what: 'path traversal', method: 'GET', path: '/operations/..%2F..%2Fetc%2Fpasswd', status: 404 },
    { what: 'overlong id', method: 'GET', path: `/operations/op_${'A'.repeat(500)}`, status: 400 },
    { what: 'cancel of a bad id', method: 'POST', path: '/operations/nope/cancel', status: 404 },
    { what: 'result of a bad id', method: 'GET', path: '/operations/nope/result', status: 404 },
    { what: 'delete of a bad id', method: 'DELETE', path: '/operations/nope', status: 404 },
    { what: 'bad cursor', method: 'GET', path: '/operations?cursor=garbage!!', status: 400, field: '/query/cursor' },
    {
      what: 'an operations cursor on another list',
      method: 'GET',
      path: `/bulk-actions?cursor=${cursorOf('op_01JD0000000000000000000000')}`,
      status: 400,
      field: '/query/cursor',
    },
    {
      what: 'a schedules cursor on the operations list',
      method: 'GET',
      path: `/operations?cursor=${cursorOf('sch_01JD0000000000000000000000')}`,
      status: 400,
      field: '/query/cursor',
    },
    { what: 'bad status filter', method: 'GET', path: '/operations?status=done', status: 400 },
    { what: 'limit out of range', method: 'GET', path: '/operations?limit=100000', status: 400 },
    { what: 'negative limit', method: 'GET', path: '/operations?limit=-1', status: 400 },
    // Ajv's coercion alone read each of these as a number (0x10 as 16).
    ...['0x10', '0b11', '1e1', '+5', '%205', '5.0', ''].map((limit) => ({
      what: `a limit of ${JSON.stringify(decodeURIComponent(limit))}, not decimal digits`,
      method: 'GET',
      path: `/operations?limit=${limit}`,
      status: 400,
      field: '/query/limit',
    })),
    { what: 'a window in hexadecimal', method: 'GET', path: '/stats/overview?window_s=0x100', status: 400, field: '/query/window_s' },
    { what: 'unknown route', method: 'GET', path: '/nope', status: 404 },
    { what: 'bad delivery id', method: 'POST', path: '/webhook-deliveries/nope/retry', status: 404 },
    { what: 'bad delivery state', method: 'GET', path: '/webhook-deliveries?state=lost', status: 400 },
    { what: 'a filter given twice', method: 'GET', path: '/operations?status=pending&status=failed', status: 400, field: '/query/status' },
    { what: 'a limit given twice', method: 'GET', path: '/webhook-deliveries?limit=5&limit=6', status: 400, field: '/query/limit' },
    { what: 'a path that is not percent-encoded UTF-8', method: 'GET', path: '/operations/%FF', status: 400, field: '/path' },
    { what: 'an encoded surrogate in a path', method: 'POST', path: '/operations/%ED%A0%80/cancel', status: 400, field: '/path' },
    { what: 'a cut-off percent escape', method: 'DELETE', path: '/operations/op_%', status: 400, field: '/path' },
    // Past the router's longest path parameter (1,000 characters), which it refuses before any route or schema.
    ...['GET /operations/ID', 'DELETE /operations/ID', 'POST /operations/ID/cancel', 'GET /schedules/ID', 'POST /webhook-deliveries/ID/retry'].map((route) => {
      const [method, path] = route.split(' ') as [string, string];
      return { what: `an id of 1,200 characters (${route})`, method, path: path.replace('ID', `op_${'A'.repeat(1_200)}`), status: 400, field: '/path' };
    }),
    {
      what: 'a number too large for a double in an input',
      method: 'POST',
      path: '/operations',
      rawBody: '{"type":"echo","input":{"n":1e400}}',
      status: 400,
      field: '/input/n',
    },
    { what: 'a cron no date matches', method: 'POST', path: '/schedules', body: { type: 'echo', input: {}, cron: '0 0 30 2 *' }, status: 400, field: '/cron' },
    {
      what: 'a number too large for a double in a schedule',
      method: 'POST',
      path: '/schedules',
      rawBody: '{"type":"echo","input":{"n":-1e999},"cron":"*/2 * * * * *"}',
      status: 400,
      field: '/input/n',
    },
  ];

  for (const c of cases) {
    it(`${c.what} → ${c.status} problem, stored data unchanged`, async () => {
      const before = await snapshot();
      const reply = await request(base, c.method, c.path, { body: c.body, rawBody: c.rawBody, headers: c.headers });
      assertProblem(reply, c.status, c.what);
      if (c.field !== undefined) {
        assert.ok(Array.isArray(reply.body.errors), `${c.what}: errors listed`);
        assert.ok(
          reply.body.errors.some((e: any) => e.path === c.field && (c.message === undefined || c.message.test(e.message))),
          `${c.what}: names ${c.field}${c.message === undefined ? '' : ` saying ${c.message}`} in ${JSON.stringify(reply.body.errors)}`,
        );
      }
      assert.equal(await snapshot(), before, `${c.what}: nothing stored or changed`);
    });
  }

  it('a number not in decimal digits is listed beside the other refused parameters, not instead of them', async () => {
    const reply = await request(base, 'GET', '/operations?limit=0x10&status=done');
    assertProblem(reply, 400, 'two refused parameters');
    assert.deepEqual(reply.body.errors.map((e: { path: string }) => e.path).sort(), ['/query/limit', '/query/status']);
    assert.match(reply.body.errors.find((e: { path: string }) => e.path === '/query/limit').message, /decimal digits/);
  });

  it('a query parameter a route does not take is a 400 naming it on every route, and the request does nothing', async () => {
    const report = { type: 'sales_summary', date_range: '2026-01-01..2026-01-02' };
    const requests: Array<[string, string, unknown?]> = [
      ['GET', `/operations/${seedId}`],
      ['HEAD', `/operations/${seedId}`],
      ['GET', `/operations/${seedId}/events`],
      ['GET', `/operations/${seedId}/result`],
      ['GET', `/operations/${seedId}/deliveries`],
      ['GET', `/reports/${seedId}`],
      ['GET', '/task-types'],
      ['GET', '/whoami'],
      ['POST', '/operations', { type: 'echo', input: {} }],
      ['POST', '/reports', report],
      ['POST', '/reports/async', report],
      ['POST', `/operations/${seedId}/cancel`],
      ['POST', `/operations/${seedId}/retry`],
      ['DELETE', `/operations/${seedId}`],
      ['GET', '/schedules/sch_nope'],
    ];
    for (const [method, path, body] of requests) {
      const before = await snapshot();
      // A misspelt `tenant` is the case that matters: read as no parameter, it would answer for another scope.
      const reply = await request(base, method, `${path}?tennant=acme`, { body });
      assert.equal(reply.status, 400, `${method} ${path}`);
      if (method !== 'HEAD') {
        assertProblem(reply, 400, `${method} ${path}`);
        assert.deepEqual(reply.body.errors, [{ path: '/query/tennant', message: 'must NOT have additional properties' }], `${method} ${path}`);
      }
      assert.equal(await snapshot(), before, `${method} ${path}: nothing stored or changed`);
    }
  });

  it('a refused query parameter is named by JSON pointer: a / or ~ in its name escaped', async () => {
    const reply = await request(base, 'GET', `/operations/${seedId}?a%2Fb~c=1`);
    assertProblem(reply, 400, 'a/b~c');
    assert.deepEqual(reply.body.errors, [{ path: '/query/a~1b~0c', message: 'must NOT have additional properties' }]);
  });

  it('a body refused field by field lists the first 100 errors and says how many there are, in a reply not larger than it', async () => {
    const many = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 1]));
    const report = { type: 'sales_summary', date_range: '2026-01-01..2026-01-02' };
    for (const [where, path, body, first] of [
      ['the body', '/operations', { type: 'echo', input: {}, ...many(1500) }, '/k0'],
      ['the input', '/operations', { type: 'report', input: { ...report, ...many(1500) } }, '/input/k0'],
      ["a collection route's body", '/reports', { ...report, ...many(1500) }, '/k0'],
      ["a schedule's input", '/schedules', { type: 'report', cron: '0 3 * * *', input: { ...report, ...many(1500) } }, '/input/k0'],
    ] as const) {
      const before = await snapshot();
      const rawBody = JSON.stringify(body);
      const reply = await request(base, 'POST', path, { rawBody });
      assertProblem(reply, 400, where);
      assert.equal(reply.body.errors.length, 100, where);
      assert.deepEqual(reply.body.errors[0], { path: first, message: 'must NOT have additional properties' }, where);
      assert.match(reply.body.detail, /\(the first 100 of 1500 errors are listed\)$/, where);
      assert.ok(reply.body.detail.length < 1000, `${where}: a detail of ${reply.body.detail.length} characters`);
      assert.ok(JSON.stringify(reply.body).length < rawBody.length, `${where}: the reply is smaller than the request`);
      assert.equal(await snapshot(), before, where);
    }
  });

  it('a value outside a set of constants is one error naming the allowed values, in a query and in a body', async () => {
    const cases: Array<[string, string, unknown, string, string]> = [
      ['GET', '/operations?status=bogus', undefined, '/query/status', 'must be one of pending, processing, completed, failed, cancelled'],
      ['GET', '/webhook-deliveries?state=lost', undefined, '/query/state', 'must be one of pending, delivered, retrying, dead'],
      ['POST', '/reports', { type: 'bogus', date_range: '2026-01-01..2026-01-02' }, '/type', 'must be one of sales_summary, sales_by_region, top_products'],
      [
        'POST',
        '/operations',
        { type: 'report', input: { type: 'sales_summary', date_range: '2026-01-01..2026-01-02', format: 'xml' } },
        '/input/format',
        'must be one of json, csv',
      ],
    ];
    for (const [method, path, body, field, message] of cases) {
      const reply = await request(base, method, path, { body });
      assertProblem(reply, 400, `${method} ${path}`);
      assert.deepEqual(reply.body.errors, [{ path: field, message }], `${method} ${path}`);
      assert.doesNotMatch(reply.body.detail, /equal to constant|anyOf/, `${method} ${path}`);
    }
  });

  it("another type's operation on a collection route's result path → 404 problem, as for an unknown id", async () => {
    const before = await snapshot();
    assertProblem(await request(base, 'GET', `/reports/${seedId}`), 404, 'an echo operation at /reports/{id}');
    assert.equal((await request(base, 'GET', `/echoes/${seedId}`)).status, 200, 'served at its own route');
    assert.equal(await snapshot(), before);
  });

  it('a CONNECT its client resets, or leaves half open, neither stops the server nor holds its socket', async () => {
    const { hostname, port } = new URL(base);
    // Reset at once, or once the answer is on its way: Node hands such a socket over without its own error listener.
    for (const target of ['/operations', '127.0.0.1:443', '/nothing']) {
      for (const delayMs of [0, 5]) {
        await new Promise<void>((resolve) => {
          const socket = connect({ host: hostname, port: Number(port) }, () => {
            socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
            setTimeout(() => socket.resetAndDestroy(), delayMs);
          });
          socket.on('error', () => {});
          socket.on('close', () => resolve());
        });
      }
    }
    // A client that reads the answer and never closes its side: the server closes the connection all the same, so what
    // the client sends after the answer meets a closed socket (a server that had only ended its side would read on).
    const closedByServer = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: hostname, port: Number(port), allowHalfOpen: true }, () =>
        socket.write('CONNECT /operations HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'),
      );
      let answer = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
      socket.setTimeout(10_000, () => reject(new Error(`still open after 10 s; read: ${answer.slice(0, 100)}`)));
      socket.on('end', () => {
        const more = setInterval(() => socket.write('more\r\n'), 50);
        socket.on('close', () => clearInterval(more));
      });
      socket.on('error', () => {});
      socket.on('close', () => resolve(answer));
    });
    assert.match(closedByServer, /^HTTP\/1.1 405 /);
    assert.equal((await request(base, 'GET', '/healthz')).status, 200, 'still serving');
  });

  it('bytes Node cannot read as a request are a problem too, written on the socket before it is closed', async () => {
    const before = await snapshot();
    for (const [what, raw, status, code] of [
      ['headers over the limit', `GET /operations HTTP/1.1\r\nHost: x\r\nPrefer: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'headers_too_large'],
      ['a Content-Length that is not a number', 'POST /operations HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}', 400, 'validation_failed'],
      ['a request line that is not HTTP', 'HELLO THERE\r\n\r\n', 400, 'validation_failed'],
      // Node answers this one itself, with a bare 417, unless told not to.
      [
        'an expectation other than 100-continue',
        'POST /operations HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 200-ok\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}',
        417,
        'expectation_failed',
      ],
      // Node closes these without a word unless told otherwise: a tunnel asked of a server that is no proxy.
      ['CONNECT to a path that takes other methods', 'CONNECT /operations HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 405, 'method_not_allowed'],
      ['CONNECT to an address', 'CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n', 400, 'validation_failed'],
      // Node answers this one itself, with a bare 400, unless told not to.
      ['an HTTP/1.1 request without Host', 'GET /operations HTTP/1.1\r\nConnection: close\r\n\r\n', 400, 'validation_failed'],
      [
        'a request with two Host lines',
        'GET /operations HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n',
        400,
        'validation_failed',
      ],
      // Node keeps the first line of these: which would decide depended on the order a proxy wrote them in.
      ...(['application/json', 'text/plain'] as const).map(
        (first) =>
          [
            `two Content-Type lines, ${first} first`,
            `POST /operations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${first}\r\nContent-Type: ${first === 'text/plain' ? 'application/json' : 'text/plain'}\r\nContent-Length: 26\r\nConnection: close\r\n\r\n{"type":"echo","input":{}}`,
            400,
            'validation_failed',
          ] as const,
      ),
      [
        'two Authorization lines',
        'GET /operations HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\nConnection: close\r\n\r\n',
        400,
        'validation_failed',
      ],
      // Past --request-timeout (2 s here): a body that stops coming, and headers that never end.
      [
        'a body that stops',
        'POST /operations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 36\r\n\r\n{"type":',
        408,
        'request_timeout',
      ],
      ['headers that never end', 'GET /operations HTTP/1.1\r\nHost: 127.0.0.1\r\n', 408, 'request_timeout'],
    ] as const) {
      const answer = await rawExchange(base, raw);
      const [head = '', body = ''] = answer.split('\r\n\r\n');
      assert.match(head, new RegExp(`^HTTP/1.1 ${status} `), `${what}: ${head}`);
      assert.match(head, /content-type: application\/problem\+json/i, what);
      assert.match(head, /cache-control: no-store/i, what);
      assert.match(head, /^date: \w{3}, \d{2} \w{3} \d{4} /im, what);
      const problem = JSON.parse(body);
      assert.equal(problem.status, status, what);
      assert.equal(problem.code, code, what);
      assert.equal(problem.type, `/docs/problems#${code}`, what);
      assert.equal(typeof problem.detail, 'string', what);
      if (status === 405) assert.match(head, /^allow: GET, HEAD, POST$/im, what);
      if (what === 'CONNECT to an address') assert.match(problem.detail, /no proxy/);
      if (what.startsWith('two ')) assert.match(problem.detail, /^a request carries one [\w-]+ header, not several/, what);
    }
    assert.equal(await snapshot(), before);
    // The body that stopped had reached its route: it is counted as the 408 it was answered, not as a client that left.
    const metrics = await (await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    assert.match(metrics, /^asyncops_http_requests_total\{method="POST",route="\/operations",status="408"\} 1$/m);
    assert.doesNotMatch(metrics, /status="499"/);
  });

  it('what the router refuses before any hook (a path not percent-encoded UTF-8, a segment too long) is counted too', async () => {
    const count = async () => {
      const metrics = await (await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
      return Number(/^asyncops_http_requests_total\{method="GET",route="unmatched",status="400"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
    };
    const before = await count();
    assert.equal((await request(base, 'GET', '/operations/%FF/history')).status, 400);
    assert.equal((await request(base, 'GET', `/operations/${'a'.repeat(1_200)}`)).status, 400);
    assert.equal(await count(), before + 2);
  });

  it('the server is still up and serving after all of it', async () => {
    const health = await request(base, 'GET', '/healthz');
    assert.equal(health.status, 200);
    const ready = await request(base, 'GET', '/readyz');
    assert.equal(ready.status, 200);
  });
});
