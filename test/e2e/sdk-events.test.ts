// End to end on real server processes: the SDK's events() follows an operation's event stream from its first state to
// its end, resumes it on another API node when the one it streamed from stops (through a relay the test points at
// the new node), and streamToken() opens the stream a browser's EventSource would, on a server with keys.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { AsyncOpsApiError, AsyncOpsClient, type OperationEvent } from '../../src/client/index.ts';
import { freshStore, startServer, type ServerProcess, type TestStore } from '../support/server.ts';

const KEY = `acme_${'k'.repeat(24)}`;
// An API node apart from the worker: on SQLite it does not hear the worker's changes (docs/postgresql.md), and its
// streams see them at each keepalive's re-read.
const API_NODE = ['--api-keys', `acme:${KEY}`, '--no-workers', '--sse-keepalive', '1s'];

/** A relay in front of whichever API node `target` names, recording each request's path and Last-Event-ID. */
class Relay {
  target = '';
  readonly requests: Array<{ path: string; lastEventId: string | undefined }> = [];
  readonly #server: Server = createServer((req, res) => {
    this.requests.push({ path: req.url ?? '', lastEventId: req.headers['last-event-id'] as string | undefined });
    const upstream = httpRequest(new URL(req.url ?? '/', this.target), { method: req.method, headers: req.headers }, (reply) => {
      res.writeHead(reply.statusCode ?? 502, reply.headers);
      reply.pipe(res);
      reply.on('error', () => res.destroy());
    });
    // The node is gone: a 502, as a load balancer with no node behind it answers.
    upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    req.pipe(upstream);
  });
  url = '';

  async listen(): Promise<void> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    this.#server.close();
  }
}

describe('the SDK follows event streams', () => {
  let store: TestStore;
  let worker: ServerProcess | undefined;
  const nodes: ServerProcess[] = [];
  const relay = new Relay();

  before(async () => {
    store = freshStore();
    worker = await startServer({ store: store.spec, command: 'worker' });
    nodes.push(await startServer({ store: store.spec, args: API_NODE }));
    relay.target = nodes[0]!.url;
    await relay.listen();
  });
  after(async () => {
    await relay.close();
    for (const node of nodes) await node.stop();
    await worker?.stop();
    await store?.cleanup();
  });

  it('from the first state to the terminal event, resumed on another node when its node stops', { timeout: 60_000 }, async () => {
    const client = new AsyncOpsClient({ baseUrl: relay.url, apiKey: KEY });
    // Long enough that it is still running when the new node answers: some of its events come from there.
    const submitted = await client.submit('sleep', { ms: 8_000, steps: 8 });
    const seen: OperationEvent[] = [];
    let cutAfter: number | null = null;
    for await (const event of client.events(submitted.id, { signal: AbortSignal.timeout(45_000) })) {
      seen.push(event);
      if (cutAfter === null && event.type === 'progress') {
        // The node stops (its streams end with a `: shutting down` comment); another on the same store takes over.
        cutAfter = event.version;
        await nodes[0]!.stop();
        nodes.push(await startServer({ store: store.spec, args: API_NODE }));
        relay.target = nodes[1]!.url;
      }
    }
    const versions = seen.map((e) => e.version);
    assert.ok(
      versions.every((v, i) => i === 0 || v > versions[i - 1]!),
      `each version once, increasing: ${versions.join(', ')}`,
    );
    assert.equal(seen[0]!.type, 'status');
    assert.equal(seen.at(-1)!.operation.status, 'completed');
    assert.equal(seen.filter((e) => e.operation.status === 'completed').length, 1);
    assert.ok(
      seen.some((e) => e.version > cutAfter!),
      'events came after the cut',
    );
    const streams = relay.requests.filter((r) => r.path === `/operations/${submitted.id}/events`);
    assert.equal(streams[0]!.lastEventId, undefined);
    assert.ok(streams.length >= 2, `${streams.length} stream requests`);
    // The first reconnect resumed from the last event received before the cut (a 502 from the relay between counts as one).
    assert.equal(streams.find((r) => r.lastEventId !== undefined)!.lastEventId, String(cutAfter));
  });

  it('resumes after lastEventId, is 204 (no event) to a client that has the end, and throws 404 for no operation', async () => {
    const client = new AsyncOpsClient({ baseUrl: relay.url, apiKey: KEY });
    const done = await client.submit('sleep', { ms: 100 });
    const all: OperationEvent[] = [];
    for await (const event of client.events(done.id, { signal: AbortSignal.timeout(20_000) })) all.push(event);
    assert.equal(all.at(-1)!.operation.status, 'completed');
    const again: OperationEvent[] = [];
    for await (const event of client.events(done.id)) again.push(event);
    assert.deepEqual(
      again.map((e) => [e.type, e.version]),
      [['status', all.at(-1)!.version]],
      'a finished operation streams its current state and ends',
    );
    const terminal = all.at(-1)!.version;
    const none: OperationEvent[] = [];
    for await (const event of client.events(done.id, { lastEventId: terminal })) none.push(event);
    assert.deepEqual(none, []);
    const fromEarlier: OperationEvent[] = [];
    for await (const event of client.events(done.id, { lastEventId: terminal - 1 })) fromEarlier.push(event);
    assert.deepEqual(
      fromEarlier.map((e) => e.version),
      [terminal],
    );
    await assert.rejects(
      (async () => {
        for await (const _ of client.events('op_00000000000000000000000000')) assert.fail('no event of an operation that does not exist');
      })(),
      (error) => error instanceof AsyncOpsApiError && error.status === 404,
    );
  });

  it("streamToken() mints a token that opens the operation's stream without the key", async () => {
    const client = new AsyncOpsClient({ baseUrl: relay.url, apiKey: KEY });
    const op = await client.submit('sleep', { ms: 100 });
    const { token, expires_at } = await client.streamToken(op.id);
    assert.ok(Date.parse(expires_at) > Date.now());
    const withToken = await fetch(`${relay.url}/operations/${op.id}/events?token=${encodeURIComponent(token)}`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(withToken.status, 200);
    assert.match(withToken.headers.get('content-type') ?? '', /^text\/event-stream/);
    await withToken.body?.cancel();
    const withoutKey = await fetch(`${relay.url}/operations/${op.id}/events`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(withoutKey.status, 401);
    await withoutKey.body?.cancel();
  });
});
