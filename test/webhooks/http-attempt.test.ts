import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { parseRetryAfter, postWebhook, RESPONSE_SNIPPET_BYTES, WebhookConnections } from '../../src/webhooks/http-attempt.ts';
import { waitFor } from '../support/wait.ts';

describe('postWebhook', () => {
  let server: Server;
  let port = 0;
  const seen: Array<{ path: string; headers: IncomingHttpHeaders; body: string }> = [];
  let stalledSent = false;

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
        const path = new URL(req.url ?? '/', 'http://x').pathname;
        if (path === '/big') res.writeHead(200).end('x'.repeat(64 * 1024));
        else if (path === '/redirect') res.writeHead(302, { location: '/elsewhere' }).end();
        else if (path === '/busy') res.writeHead(503, { 'retry-after': '7' }).end('busy');
        else if (path === '/slow') setTimeout(() => res.writeHead(200).end('slow'), 200);
        else if (path === '/stalled') {
          // A status line and part of the body, then nothing more.
          res.writeHead(200, { 'content-length': '100' });
          res.write('partial', () => (stalledSent = true));
        } else if (path === '/cut') {
          // A status line and part of the body, then the connection reset.
          res.writeHead(200, { 'content-length': '100' });
          res.write('partial', () => setTimeout(() => res.destroy(), 20));
        } else res.writeHead(200).end('fine');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const post = (path: string, host = 'hooks.invalid') =>
    postWebhook({
      url: new URL(`http://${host}:${port}${path}?q=1`),
      address: { address: '127.0.0.1', family: 4 },
      headers: { 'x-test': 'yes' },
      body: '{"a":1}',
      timeoutMs: 2_000,
    });

  it('connects to the pinned address whatever the host name resolves to, keeping the name in Host', async () => {
    const result = await post('/ok');
    assert.deepEqual(result, { statusCode: 200, error: null, snippet: 'fine', retryAfter: null });
    const last = seen.at(-1)!;
    assert.equal(last.path, '/ok?q=1');
    assert.equal(last.headers.host, `hooks.invalid:${port}`);
    assert.equal(last.headers['x-test'], 'yes');
    assert.equal(last.headers['content-length'], '7');
    assert.equal(last.body, '{"a":1}');
  });

  it('tries each vetted address until one connects: a name resolving to ::1 first reaches a receiver on 127.0.0.1 alone', async () => {
    const result = await postWebhook({
      url: new URL(`http://localhost:${port}/dual`),
      address: {
        address: '::1',
        family: 6,
        all: [
          { address: '::1', family: 6 },
          { address: '127.0.0.1', family: 4 },
        ],
      },
      headers: {},
      body: '{}',
      timeoutMs: 2_000,
    });
    assert.deepEqual([result.statusCode, result.error], [200, null]);
    assert.equal(seen.at(-1)!.path, '/dual');
  });

  it('keeps at most 1 KiB of the response body', async () => {
    const result = await post('/big');
    assert.equal(result.statusCode, 200);
    assert.equal(result.snippet?.length, RESPONSE_SNIPPET_BYTES);
  });

  it('does not follow redirects', async () => {
    const before = seen.length;
    const result = await post('/redirect');
    assert.equal(result.statusCode, 302);
    assert.equal(seen.length, before + 1);
  });

  it('reports Retry-After', async () => {
    assert.equal((await post('/busy')).retryAfter, '7');
  });

  it('with a connection pool, attempts to one receiver and address share a kept-alive connection; another address gets its own', async () => {
    const connections = new WebhookConnections();
    const ports = new Set<number>();
    const seeConnection = (socket: Socket) => ports.add(socket.remotePort ?? 0);
    server.on('connection', seeConnection);
    // The same port on another loopback address: the same URL, vetted to another address.
    const twin = createServer((_req, res) => res.writeHead(200).end('twin'));
    twin.on('connection', (socket) => ports.add(socket.remotePort ?? 0));
    await new Promise<void>((resolve) => twin.listen(port, '127.0.0.2', resolve));
    try {
      const to = (address: string) =>
        postWebhook({
          url: new URL(`http://hooks.invalid:${port}/ok`),
          address: { address, family: 4 },
          headers: {},
          body: '{}',
          timeoutMs: 2_000,
          connections,
        });
      for (let i = 0; i < 3; i++) assert.equal((await to('127.0.0.1')).statusCode, 200);
      assert.equal(ports.size, 1, 'three attempts, one connection');
      assert.equal((await to('127.0.0.2')).statusCode, 200);
      assert.equal(ports.size, 2, 'another vetted address is another connection');
      assert.equal((await post('/big')).statusCode, 200, 'a capped read closes its own connection and the pool carries on');
    } finally {
      connections.close();
      // Only ours: the server's own 'connection' listener is what serves requests.
      server.off('connection', seeConnection);
      await new Promise<void>((resolve) => twin.close(() => resolve()));
    }
  });

  it('lets an attempt in flight finish when its receiver is let go of (more receivers than are kept) or the pool closes', async () => {
    const connections = new WebhookConnections();
    const address = { address: '127.0.0.1', family: 4 } as const;
    try {
      const slow = postWebhook({ url: new URL(`http://hooks.invalid:${port}/slow`), address, headers: {}, body: '{}', timeoutMs: 2_000, connections });
      for (let i = 0; i < 64; i++) connections.agentFor(new URL(`http://other-${i}.invalid/`), address);
      const closing = postWebhook({ url: new URL(`http://closing.invalid:${port}/slow`), address, headers: {}, body: '{}', timeoutMs: 2_000, connections });
      connections.close();
      assert.deepEqual(await Promise.all([slow, closing]).then((results) => results.map((r) => [r.statusCode, r.error])), [
        [200, null],
        [200, null],
      ]);
    } finally {
      connections.close();
    }
  });

  it('names a timeout in whole milliseconds, though the budget left after name resolution is a fraction', async () => {
    // '/slow' answers after 200 ms, long after this budget.
    const result = await postWebhook({
      url: new URL(`http://hooks.invalid:${port}/slow`),
      address: { address: '127.0.0.1', family: 4 },
      headers: {},
      body: '{}',
      timeoutMs: 49.9118609999996,
    });
    assert.deepEqual([result.statusCode, result.error], [null, 'timed out after 50 ms']);
  });

  it('reports a 101 Switching Protocols at once, as the answer it is (not a delivery), not as a timeout', async () => {
    const switching = createServer();
    switching.on('upgrade', (_req, socket: Socket) => socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n'));
    // Answers 101 whatever was asked, upgrade or not, as a misbehaving receiver would.
    switching.prependListener('request', (req) => req.socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n'));
    await new Promise<void>((resolve) => switching.listen(0, '127.0.0.1', resolve));
    try {
      const started = performance.now();
      const result = await postWebhook({
        url: new URL(`http://hooks.invalid:${(switching.address() as AddressInfo).port}/`),
        address: { address: '127.0.0.1', family: 4 },
        headers: {},
        body: '{}',
        timeoutMs: 5_000,
      });
      assert.deepEqual([result.statusCode, result.error], [101, null]);
      assert.ok(performance.now() - started < 2_500, 'answered, not timed out');
    } finally {
      switching.closeAllConnections();
      await new Promise<void>((resolve) => switching.close(() => resolve()));
    }
  });

  it('reports an answer whose body was cut short by a reset as the answer it is: its status, and no error', async () => {
    const result = await post('/cut');
    assert.equal(result.statusCode, 200);
    assert.equal(result.error, null);
    assert.equal(result.snippet, 'partial');
  });

  it('reports an answer whose body a stop cut short as its status, with no error', async () => {
    const stop = new AbortController();
    const pending = postWebhook({
      url: new URL(`http://hooks.invalid:${port}/stalled`),
      address: { address: '127.0.0.1', family: 4 },
      headers: {},
      body: '{}',
      timeoutMs: 5_000,
      signal: stop.signal,
    });
    await waitFor(() => stalledSent, { what: 'the status and part of the body to be sent' });
    // Sent on loopback in this process: the next turns of the event loop read it.
    await new Promise((resolve) => setTimeout(resolve, 20));
    stop.abort();
    assert.deepEqual(await pending, { statusCode: 200, error: null, snippet: 'partial', retryAfter: null });
  });

  it('reports a refused connection as an error without a status', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const freePort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const result = await postWebhook({
      url: new URL(`http://hooks.invalid:${freePort}/`),
      address: { address: '127.0.0.1', family: 4 },
      headers: {},
      body: '',
      timeoutMs: 2_000,
    });
    assert.equal(result.statusCode, null);
    assert.match(result.error ?? '', /ECONNREFUSED/);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-06-28T12:00:00Z');
  it('reads delay-seconds and HTTP dates', () => {
    assert.equal(parseRetryAfter('120', now), 120_000);
    assert.equal(parseRetryAfter(' 0 ', now), 0);
    assert.equal(parseRetryAfter('Sun, 28 Jun 2026 12:00:30 GMT', now), 30_000);
    assert.equal(parseRetryAfter('Sun, 28 Jun 2026 11:00:00 GMT', now), 0);
  });
  it('ignores what it cannot read', () => {
    assert.equal(parseRetryAfter(null, now), null);
    assert.equal(parseRetryAfter('soon', now), null);
    assert.equal(parseRetryAfter('-5', now), null);
  });
});
