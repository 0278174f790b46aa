// End to end on the real server process: an event stream a real EventSource client can finish with. Event ids are
// versions, Last-Event-ID skips what the client has seen, and a reconnect after the terminal event is 204.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';
import { DatabaseSync } from 'node:sqlite';
import { connect } from 'node:net';
import { once } from 'node:events';
import { freshStore, startServer, type ServerProcess, STORE_INDEPENDENT } from '../support/server.ts';
import { request } from '../support/http.ts';
import { waitFor } from '../support/wait.ts';
import { WebhookReceiver } from '../support/webhook-receiver.ts';

let server: ServerProcess;
let base: string;

before(async () => {
  server = await startServer();
  base = server.url;
});
after(async () => {
  await server?.stop();
});

interface SseEvent {
  readonly id: string | undefined;
  readonly event: string | undefined;
  readonly data: any;
}

function parseEvents(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((block) => block.includes('data: '))
    .map((block) => ({ id: /^id: (.*)$/m.exec(block)?.[1], event: /^event: (.*)$/m.exec(block)?.[1], data: JSON.parse(/^data: (.*)$/m.exec(block)![1]!) }));
}

/** The whole stream (it ends when the server closes it), read with optional request headers. */
async function readStream(
  id: string,
  headers: Record<string, string> = {},
  query = '',
): Promise<{ status: number; headers: Headers; events: SseEvent[]; text: string }> {
  const response = await fetch(`${base}/operations/${id}/events${query}`, { headers, signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, events: parseEvents(text), text };
}

/** A finished operation and the version its terminal event carries. */
async function finished(): Promise<{ id: string; version: number }> {
  const done = await request(base, 'POST', '/operations', { body: { type: 'echo', input: {} }, headers: { prefer: 'wait=10' } });
  assert.equal(done.body.status, 'completed');
  const stream = await readStream(done.body.id);
  return { id: done.body.id, version: Number(stream.events.at(-1)!.id) };
}

describe('event stream reconnects', () => {
  it('an EventSource receives each event once, the terminal one once, and stops when told 204', async () => {
    const created = await request(base, 'POST', '/operations', { body: { type: 'sleep', input: { ms: 1_200, steps: 4 } } });
    const connections: Array<{ lastEventId: string | null; status: number }> = [];
    const source = new EventSource(`${base}/operations/${created.body.id}/events`, {
      fetch: async (url, init) => {
        const response = await fetch(url, init);
        connections.push({ lastEventId: new Headers(init?.headers).get('last-event-id'), status: response.status });
        return response;
      },
    });
    const received: Array<{ id: string; type: string; status: string }> = [];
    const record = (event: MessageEvent) => received.push({ id: event.lastEventId, type: event.type, status: JSON.parse(event.data).status });
    source.addEventListener('status', record);
    source.addEventListener('progress', record);
    try {
      // Without the 204 the client reconnects every 2 s for ever, and this wait times out.
      await waitFor(() => source.readyState === EventSource.CLOSED, { timeoutMs: 15_000, intervalMs: 20, what: 'the EventSource stops' });
    } finally {
      source.close();
    }
    const ids = received.map((e) => Number(e.id));
    assert.ok(
      ids.every((id, i) => Number.isInteger(id) && (i === 0 || id > ids[i - 1]!)),
      `ids increase, each once: ${ids.join(', ')}`,
    );
    const terminal = received.filter((e) => e.status === 'completed');
    assert.equal(terminal.length, 1, 'the terminal event once');
    assert.equal(received.at(-1)!.status, 'completed');
    assert.equal(received.at(-1)!.type, 'status');
    assert.ok(
      received.some((e) => e.type === 'progress'),
      'progress events too',
    );
    assert.deepEqual(connections, [
      { lastEventId: null, status: 200 },
      { lastEventId: received.at(-1)!.id, status: 204 },
    ]);
  });

  it('answers 204 No Content to a reconnect that has the terminal event, declared in /openapi.json', async () => {
    const { id, version } = await finished();
    const again = await readStream(id, { 'last-event-id': String(version) });
    assert.equal(again.status, 204);
    assert.equal(again.text, '');
    assert.equal(again.headers.get('cache-control'), 'no-store');
    const openapi = await request(base, 'GET', '/openapi.json');
    const responses = openapi.body.paths['/operations/{id}/events'].get.responses;
    assert.ok(responses['204'], 'the 204 is documented');
    assert.equal(responses['204'].content, undefined, 'with no content');
  });

  it("takes ?lastEventId= (an EventSource polyfill's reconnect) as Last-Event-ID where no header is sent; the header wins", async () => {
    const { id, version } = await finished();
    assert.equal((await readStream(id, {}, `?lastEventId=${version}`)).status, 204);
    const headerFirst = await readStream(id, { 'last-event-id': '0' }, `?lastEventId=${version}`);
    assert.equal(headerFirst.status, 200);
    assert.equal(headerFirst.events.at(-1)!.data.status, 'completed');
    const junk = await readStream(id, {}, '?lastEventId=nope');
    assert.equal(junk.status, 200, 'an id that is not one of ours is ignored, as in the header');
  });

  it('answers 204 to a reconnect that has the terminal event however often the webhook moved the version since', async () => {
    const receiver = await WebhookReceiver.start();
    // The first attempt fails and the retry gets through: pending, retrying, delivered, each a new version.
    receiver.replyWith((n) => (n === 1 ? { status: 500 } : { status: 204 }));
    // The retry 2 s after the failed first attempt: the stream below is read before the delivery is done, so the version
    // moves after the terminal event it reads (which, on PostgreSQL, may already carry the first attempt's retrying).
    const hooked = await startServer({ args: ['--allow-private-webhooks', '--webhook-schedule', '2s'] });
    try {
      const read = (id: string, headers: Record<string, string>) =>
        fetch(`${hooked.url}/operations/${id}/events`, { headers, signal: AbortSignal.timeout(10_000) }).then(async (r) => ({
          status: r.status,
          events: parseEvents(await r.text()),
        }));
      const done = await request(hooked.url, 'POST', '/operations', {
        body: { type: 'echo', input: {}, webhook_url: `${receiver.url}/hook` },
        headers: { prefer: 'wait=10' },
      });
      assert.equal(done.body.status, 'completed');
      const ended = await read(done.body.id, {});
      const terminal = ended.events.at(-1)!;
      assert.equal(terminal.data.status, 'completed');
      const delivered = await waitFor(
        async () => {
          const op = (await request(hooked.url, 'GET', `/operations/${done.body.id}`)).body;
          return op.webhook?.state === 'delivered' ? op : null;
        },
        { timeoutMs: 10_000, what: 'the webhook delivered on its second attempt' },
      );
      const current = Number(/\.(\d+)"$/.exec((await request(hooked.url, 'GET', `/operations/${done.body.id}`)).headers.get('etag') ?? '')?.[1]);
      assert.ok(current > Number(terminal.id), `the webhook moved the version past the terminal event's (${terminal.id} → ${current})`);
      assert.equal(delivered.status, 'completed');
      for (const seen of [terminal.id!, String(current)])
        assert.equal((await read(done.body.id, { 'last-event-id': seen })).status, 204, `Last-Event-ID ${seen}`);
      // One that had not seen the end (version 1: as created) still gets it, once, at the current version.
      const before = await read(done.body.id, { 'last-event-id': '1' });
      assert.equal(before.status, 200);
      assert.deepEqual(
        before.events.map((e) => [e.id, e.data.status]),
        [[String(current), 'completed']],
      );
    } finally {
      await hooked.stop();
      await receiver.close();
    }
  });

  it('after an older id sends the current state once; an id that is not one of ours is ignored, never a 500', async () => {
    const { id, version } = await finished();
    for (const lastEventId of [String(version - 1), 'abc', '-1', '1e3', String(version + 1), '99999999999999999999999', ' ']) {
      const stream = await readStream(id, { 'last-event-id': lastEventId });
      assert.equal(stream.status, 200, `Last-Event-ID ${JSON.stringify(lastEventId)}`);
      assert.deepEqual(
        stream.events.map((e) => [e.id, e.data.status]),
        [[String(version), 'completed']],
        `Last-Event-ID ${JSON.stringify(lastEventId)}`,
      );
    }
  });

  it('a stream resumed at the current version sends nothing until the next change', async () => {
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const created = await request(base, 'POST', '/operations', { body: { type: 'sleep', input: { ms: 10 }, run_at: later } });
    const id = created.body.id as string;
    const version = Number(/\.(\d+)"$/.exec(created.headers.get('etag') ?? '')?.[1]);
    assert.ok(Number.isInteger(version), 'the ETag ends with the version');
    const stream = readStream(id, { 'last-event-id': String(version) });
    // Cancelled whenever the stream opened: either way its only event is the one after `version`.
    assert.equal((await request(base, 'POST', `/operations/${id}/cancel`)).status, 200);
    const { status, events } = await stream;
    assert.equal(status, 200);
    assert.deepEqual(
      events.map((e) => [e.event, e.data.status]),
      [['status', 'cancelled']],
    );
    assert.ok(Number(events[0]!.id) > version);
  });
});

describe('HEAD on an event stream', STORE_INDEPENDENT, () => {
  it("answers at once with the stream headers and no body, and holds none of the key's streams", async () => {
    const own = await startServer({ args: ['--no-workers', '--max-sse-per-key', '1'] });
    try {
      const later = new Date(Date.now() + 3_600_000).toISOString();
      const created = await request(own.url, 'POST', '/operations', { body: { type: 'sleep', input: { ms: 10 }, run_at: later } });
      const url = `${own.url}/operations/${created.body.id}/events`;
      for (let i = 0; i < 3; i++) {
        const head = await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(5_000) });
        assert.equal(head.status, 200);
        assert.match(head.headers.get('content-type') ?? '', /^text\/event-stream/);
        assert.match(head.headers.get('cache-control') ?? '', /no-store/);
        // RFC 9110 §8.6: a HEAD's Content-Length is the GET's, and a stream's is none (not 0).
        assert.equal(head.headers.get('content-length'), null);
        assert.equal(await head.text(), '');
      }
      const stream = new AbortController();
      const response = await fetch(url, { signal: AbortSignal.any([stream.signal, AbortSignal.timeout(5_000)]) });
      try {
        assert.equal(response.status, 200, 'the one stream the key may hold is still free');
        const again = await fetch(url, { signal: AbortSignal.timeout(5_000) });
        assert.equal(again.status, 429, 'and a second one is refused: HEADs were not counted, streams are');
        await again.body?.cancel();
      } finally {
        stream.abort();
        await response.body?.cancel().catch(() => {});
      }
      // Ended, and the client has the end: the 204 a GET gets, with no Content-Length (RFC 9110 §8.6), not `0`.
      const cancelled = await request(own.url, 'POST', `/operations/${created.body.id}/cancel`);
      const version = /\.(\d+)"$/.exec(cancelled.headers.get('etag')!)![1]!;
      const ended = await fetch(url, { method: 'HEAD', headers: { 'last-event-id': version }, signal: AbortSignal.timeout(5_000) });
      assert.equal(ended.status, 204);
      assert.equal(ended.headers.get('content-length'), null);
    } finally {
      await own.stop();
    }
  });
});

describe('a change the node never heard of', () => {
  it('reaches an open stream within a keepalive (--sse-keepalive): each keepalive comment re-reads the operation', async () => {
    // A SQLite file changed behind the server's back stands in for a notification lost on PostgreSQL.
    const store = freshStore('sqlite');
    const own = await startServer({ store: store.spec, args: ['--no-workers', '--sse-keepalive', '1s'] });
    try {
      const created = await request(own.url, 'POST', '/operations', { body: { type: 'echo', input: {} } });
      const response = await fetch(`${own.url}/operations/${created.body.id}/events`, { signal: AbortSignal.timeout(40_000) });
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = '';
      while (!text.includes('event: status')) text += (await reader.read()).value ?? '';
      const file = new DatabaseSync(store.spec);
      try {
        file
          .prepare("UPDATE operations SET status = 'cancelled', finished_at = ?, updated_at = ?, version = version + 1 WHERE id = ?")
          .run(Date.now(), Date.now(), created.body.id);
      } finally {
        file.close();
      }
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += chunk.value;
      const events = parseEvents(text);
      assert.deepEqual(
        events.map((e) => [e.event, e.data.status]),
        [
          ['status', 'pending'],
          ['status', 'cancelled'],
        ],
        'the terminal state, sent and the stream closed',
      );
      assert.match(text, /\n: keepalive\n\nid: /, 'the change went out with a keepalive');
    } finally {
      await own.stop();
      await store.cleanup();
    }
  });
});

describe('a client that stops reading', () => {
  it("loses its stream after --request-timeout without reading, even with the terminal event waiting, freeing its key's stream", async () => {
    const own = await startServer({ args: ['--request-timeout', '2s', '--max-sse-per-key', '1'] });
    const socket = connect(Number(new URL(own.url).port), '127.0.0.1');
    try {
      await once(socket, 'connect', { signal: AbortSignal.timeout(5_000) });
      // Each event is the resource, input and all (about 700 kB), so a few fill the connection's buffers.
      const created = await request(own.url, 'POST', '/operations', { body: { type: 'chatty', input: { ms: 1500, steps: 15, pad: 'x'.repeat(700_000) } } });
      assert.equal(created.status, 202);
      const id = created.body.id as string;
      // Never read: a socket flows only once something reads it.
      socket.write(`GET /operations/${id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      await waitFor(async () => ((await request(own.url, 'GET', `/operations/${id}`)).body.status === 'completed' ? true : null), {
        timeoutMs: 20_000,
        intervalMs: 200,
        what: 'completed',
      });
      const stream = () => fetch(`${own.url}/operations/${id}/events`, { signal: AbortSignal.timeout(10_000) });
      const held = await stream();
      await held.body?.cancel();
      assert.equal(held.status, 429, 'the unread stream holds the one stream its address may have');
      const freed = await waitFor(
        async () => {
          const next = await stream();
          if (next.status === 200) return next;
          await next.body?.cancel();
          return null;
        },
        { timeoutMs: 15_000, intervalMs: 250, what: 'a stream once the stalled one is cut' },
      );
      assert.match(await freed.text(), /"status":"completed"/);
    } finally {
      socket.destroy();
      await own.stop();
    }
  });
});
