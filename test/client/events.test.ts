// The SDK's event streams on their own: the SSE parser against the standard's line and field rules, and events()
// against a scripted node:http server (a stream that goes silent, one that ends early, a page that is not a stream,
// an abort, a break). The real server's streams are followed in test/e2e/sdk-events.test.ts.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { waitFor } from '../support/wait.ts';
import { EventStreamParser } from '../../src/client/events.ts';
import { AsyncOpsApiError, AsyncOpsClient, AsyncOpsUnexpectedResponseError, type OperationEvent } from '../../src/client/index.ts';

const bytes = (text: string) => new TextEncoder().encode(text);

describe('EventStreamParser', () => {
  it('reads CR, LF and CRLF line ends, split anywhere between chunks', () => {
    const stream = 'retry: 1500\r\n\r\nid: 3\revent: status\r\ndata: {"a":1}\n\n: comment\n\nid: 4\r\nevent: progress\r\ndata: x\r\n\r\n';
    for (let cut = 0; cut <= stream.length; cut++) {
      const parser = new EventStreamParser();
      const events = [...parser.push(bytes(stream.slice(0, cut))), ...parser.push(bytes(stream.slice(cut))), ...parser.push(undefined)];
      assert.deepEqual(
        events,
        [
          { event: 'status', data: '{"a":1}', lastEventId: '3' },
          { event: 'progress', data: 'x', lastEventId: '4' },
        ],
        `cut at ${cut}`,
      );
      assert.equal(parser.retryMs, 1500);
    }
  });

  it('joins data lines, keeps the id across events, drops a leading BOM, an unended event and an id with NUL', () => {
    const parser = new EventStreamParser();
    const events = parser.push(bytes('\uFEFFid: 7\ndata: one\ndata:two\ndata\n\ndata: next\n\nid: 8\u0000\ndata: same id\n\nretry: 5s\ndata: cut off'));
    assert.deepEqual(events, [
      { event: 'message', data: 'one\ntwo\n', lastEventId: '7' },
      { event: 'message', data: 'next', lastEventId: '7' },
      { event: 'message', data: 'same id', lastEventId: '7' },
    ]);
    assert.equal(parser.retryMs, null, 'retry takes digits only');
    assert.deepEqual(parser.push(undefined), []);
  });

  it('keeps a CR at the end of one chunk and the LF after it one line end, with empty chunks between', () => {
    const parser = new EventStreamParser();
    const events = [
      ...parser.push(bytes('id: 1\r\ndata: a\r')),
      ...parser.push(bytes('')),
      ...parser.push(new Uint8Array(0)),
      ...parser.push(bytes('\ndata: b\r\n\r\n')),
    ];
    assert.deepEqual(events, [{ event: 'message', data: 'a\nb', lastEventId: '1' }]);
  });

  it('reads an event of megabytes sent in small chunks', () => {
    const parser = new EventStreamParser();
    const big = 'x'.repeat(4 * 1024 * 1024);
    const all = bytes(`id: 2\nevent: status\ndata: ${big}\n\n`);
    const events: ReturnType<EventStreamParser['push']> = [];
    for (let at = 0; at < all.length; at += 1024) events.push(...parser.push(all.subarray(at, at + 1024)));
    assert.equal(events.length, 1);
    assert.equal(events[0]!.data.length, big.length);
  });

  it('decodes a UTF-8 character split between chunks', () => {
    const parser = new EventStreamParser();
    const all = bytes('data: é€😀\n\n');
    const events = [...parser.push(all.subarray(0, 8)), ...parser.push(all.subarray(8))];
    assert.deepEqual(events, [{ event: 'message', data: 'é€😀', lastEventId: '' }]);
  });
});

/** What the scripted server answers each connection (the nth, from 0), and what it saw. */
type Script = (n: number, req: IncomingMessage, res: ServerResponse) => void;

let server: Server;
let base: string;
let script: Script = () => {};
const connections: Array<{ lastEventId: string | undefined; accept: string | undefined; closed: boolean }> = [];

before(async () => {
  server = createServer((req, res) => {
    const seen = { lastEventId: req.headers['last-event-id'] as string | undefined, accept: req.headers.accept, closed: false };
    connections.push(seen);
    res.on('close', () => (seen.closed = true));
    script(connections.length - 1, req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  server.close();
});

function operation(version: number, status: string) {
  return { id: 'op_1', type: 't', status, version, progress: null };
}
function event(res: ServerResponse, version: number, status: string, type = 'status') {
  res.write(`id: ${version}\nevent: ${type}\ndata: ${JSON.stringify(operation(version, status))}\n\n`);
}
function streamHead(res: ServerResponse, retryMs = 20) {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
  res.write(`retry: ${retryMs}\n\n`);
}

async function collect(client: AsyncOpsClient, options: Parameters<AsyncOpsClient['events']>[1] = {}): Promise<OperationEvent[]> {
  const seen: OperationEvent[] = [];
  for await (const e of client.events('op_1', { signal: AbortSignal.timeout(10_000), ...options })) seen.push(e);
  return seen;
}

describe('AsyncOpsClient.events', () => {
  it('resumes with Last-Event-ID after a stream goes silent for idleTimeoutMs, and after one the server ends', async () => {
    connections.length = 0;
    script = (n, _req, res) => {
      streamHead(res);
      if (n === 0) event(res, 3, 'pending');
      else if (n === 1) {
        // Versions the client has (a server resuming from an older one) are not yielded again.
        event(res, 3, 'pending');
        event(res, 5, 'processing');
        event(res, 6, 'processing', 'progress');
        res.end();
      } else {
        event(res, 9, 'completed');
        // After the terminal event the client stops; what follows is never read.
        event(res, 10, 'completed');
      }
    };
    const seen = await collect(new AsyncOpsClient({ baseUrl: base }), { idleTimeoutMs: 300 });
    assert.deepEqual(
      seen.map((e) => [e.type, e.version, e.operation.status]),
      [
        ['status', 3, 'pending'],
        ['status', 5, 'processing'],
        ['progress', 6, 'processing'],
        ['status', 9, 'completed'],
      ],
    );
    assert.deepEqual(
      connections.map((c) => c.lastEventId),
      [undefined, '3', '6'],
    );
    assert.equal(connections[0]!.accept, 'text/event-stream');
  });

  it('ends without an event on 204, and starts after lastEventId when given one', async () => {
    connections.length = 0;
    script = (_n, _req, res) => {
      res.writeHead(204).end();
    };
    assert.deepEqual(await collect(new AsyncOpsClient({ baseUrl: base }), { lastEventId: 12 }), []);
    assert.equal(connections[0]!.lastEventId, '12');
    assert.throws(() => new AsyncOpsClient({ baseUrl: base }).events('op_1', { lastEventId: -1 }), TypeError);
    assert.throws(() => new AsyncOpsClient({ baseUrl: base }).events('op_1', { lastEventId: '1e3' }), { message: /got "1e3"$/ });
    connections.length = 0;
    assert.deepEqual(await collect(new AsyncOpsClient({ baseUrl: base }), { lastEventId: '12' }), [], 'an EventSource id: its digits');
    assert.equal(connections[0]!.lastEventId, '12');
    assert.throws(() => new AsyncOpsClient({ baseUrl: base }).events('op_1', { idleTimeoutMs: 0 }), TypeError);
  });

  it("goes on from the server's state when it no longer has the version resumed from; a version it sent again is skipped", async () => {
    connections.length = 0;
    script = (n, _req, res) => {
      streamHead(res);
      if (n === 0) {
        // A store restored from a backup: the server is at 4, behind the client's 9, and starts from its state.
        event(res, 4, 'processing');
        event(res, 5, 'processing', 'progress');
        event(res, 4, 'processing');
        res.end();
      } else {
        // Going back once more (another store behind the address) is not followed: what the client has stays.
        event(res, 3, 'pending');
        event(res, 6, 'completed');
      }
    };
    const seen = await collect(new AsyncOpsClient({ baseUrl: base }), { lastEventId: 9 });
    assert.deepEqual(
      seen.map((e) => e.version),
      [4, 5, 6],
    );
    assert.deepEqual(
      connections.map((c) => c.lastEventId),
      ['9', '5'],
    );
  });

  it("waits what a 429's Retry-After asks, at least a second whatever retry: says, and takes a proxy's 503 page as transient, its Retry-After too", async () => {
    connections.length = 0;
    const at: number[] = [];
    script = (n, _req, res) => {
      at.push(performance.now());
      if (n === 0) {
        res.writeHead(429, { 'content-type': 'application/problem+json', 'retry-after': '3' });
        res.end(JSON.stringify({ title: 'Too Many Requests', status: 429, code: 'rate_limited' }));
      } else if (n === 1) {
        // A proxy's own page, which says when to come back too.
        res.writeHead(503, { 'content-type': 'text/html', 'retry-after': '4' }).end('<html>unavailable</html>');
      } else if (n === 2) {
        streamHead(res, 0);
        event(res, 1, 'processing');
        res.end();
      } else {
        streamHead(res);
        event(res, 2, 'completed');
      }
    };
    const seen = await collect(new AsyncOpsClient({ baseUrl: base, timeoutMs: Infinity }), { idleTimeoutMs: Infinity });
    assert.deepEqual(
      seen.map((e) => e.version),
      [1, 2],
    );
    assert.ok(at[1]! - at[0]! >= 2_950, `after the 429: ${Math.round(at[1]! - at[0]!)} ms`);
    assert.ok(at[2]! - at[1]! >= 3_950, `after the proxy's 503: ${Math.round(at[2]! - at[1]!)} ms`);
    assert.ok(at[3]! - at[2]! >= 950, `after retry: 0: ${Math.round(at[3]! - at[2]!)} ms`);
  });

  it('throws what the API refused, and says a page that is not an event stream is not the API', async () => {
    script = (_n, _req, res) => {
      res.writeHead(404, { 'content-type': 'application/problem+json' });
      res.end(JSON.stringify({ type: 'https://asyncops.dev/problems/not_found', title: 'Not Found', status: 404, code: 'not_found' }));
    };
    await assert.rejects(collect(new AsyncOpsClient({ baseUrl: base })), (error) => error instanceof AsyncOpsApiError && error.code === 'not_found');
    script = (_n, _req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>a proxy</html>');
    };
    await assert.rejects(collect(new AsyncOpsClient({ baseUrl: base })), AsyncOpsUnexpectedResponseError);
    script = (_n, _req, res) => {
      streamHead(res);
      res.end('id: 1\nevent: status\ndata: <html>\n\n');
    };
    await assert.rejects(collect(new AsyncOpsClient({ baseUrl: base })), AsyncOpsUnexpectedResponseError);
  });

  it('tries a failing reconnect as the retry policy allows, then throws', async () => {
    connections.length = 0;
    script = (_n, _req, res) => {
      res.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '0' });
      res.end(JSON.stringify({ title: 'Service Unavailable', status: 503, code: 'unavailable' }));
    };
    const client = new AsyncOpsClient({ baseUrl: base, retry: { retries: 1 } });
    await assert.rejects(
      collect(client),
      (error) => error instanceof AsyncOpsApiError && error.status === 503 && /\(gave up after 2 tries\)$/.test(error.message),
    );
    assert.equal(connections.length, 2);
  });

  it('an abort rejects with its reason; a break closes the connection', async () => {
    connections.length = 0;
    script = (_n, _req, res) => {
      streamHead(res);
      event(res, 1, 'processing');
    };
    const client = new AsyncOpsClient({ baseUrl: base });
    const stop = new AbortController();
    const reason = new Error('no longer wanted');
    const iterator = client.events('op_1', { signal: stop.signal });
    assert.equal((await iterator.next()).value?.version, 1);
    const next = iterator.next();
    stop.abort(reason);
    await assert.rejects(next, (error) => error === reason);
    for await (const e of client.events('op_1')) {
      assert.equal(e.version, 1);
      break;
    }
    await waitFor(() => connections.every((c) => c.closed) || null, { what: 'the server sees both connections closed' });
    assert.deepEqual(
      connections.map((c) => c.closed),
      [true, true],
    );
  });
});
