// End to end on the real server process: concurrency limits, idempotency, long-poll, SSE and pagination.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { startServer, type ServerProcess } from '../support/server.ts';
import { request } from '../support/http.ts';
import { waitFor } from '../support/wait.ts';

let server: ServerProcess;
let base: string;

const submit = (body: Record<string, unknown>, headers: Record<string, string> = {}) => request(base, 'POST', '/operations', { body, headers });
const get = (id: string, headers: Record<string, string> = {}) => request(base, 'GET', `/operations/${id}`, { headers });
const allDone = (ids: string[]) =>
  waitFor(
    async () => {
      const ops = await Promise.all(ids.map(async (id) => (await get(id)).body));
      return ops.every((op) => op.status === 'completed') ? ops : null;
    },
    { timeoutMs: 20_000, intervalMs: 50, what: 'all completed' },
  );

/** The most operations whose [started_at, finished_at) intervals overlap at any instant. */
function maxOverlap(ops: Array<{ started_at: string; finished_at: string }>): number {
  const points = ops.flatMap((op) => [
    { t: Date.parse(op.started_at), d: 1 },
    { t: Date.parse(op.finished_at), d: -1 },
  ]);
  points.sort((a, b) => a.t - b.t || a.d - b.d);
  let current = 0;
  let max = 0;
  for (const p of points) {
    current += p.d;
    max = Math.max(max, current);
  }
  return max;
}

before(async () => {
  server = await startServer({ args: ['--concurrency', '4'] });
  base = server.url;
});
after(async () => {
  await server?.stop();
});

describe('concurrency', () => {
  it('20 concurrent operations at --concurrency 4 never run more than 4 at once', async () => {
    const created = await Promise.all(Array.from({ length: 20 }, () => submit({ type: 'sleep', input: { ms: 150 } })));
    assert.ok(created.every((c) => c.status === 202));
    const ops = await allDone(created.map((c) => c.body.id));
    const results = await Promise.all(ops.map(async (op) => (await request(base, 'GET', op.result_url)).body));
    const inHandler = Math.max(...results.map((r) => r.running_at_start));
    assert.equal(inHandler, 4, `4 handlers ran at once, and never more (saw ${inHandler})`);
    assert.ok(maxOverlap(ops) <= 4, `stored processing intervals overlap at most 4-fold (saw ${maxOverlap(ops)})`);
  });

  it('a per-type limit (limited: 2) holds below the global one', async () => {
    const created = await Promise.all(Array.from({ length: 8 }, () => submit({ type: 'limited', input: { ms: 150 } })));
    const ops = await allDone(created.map((c) => c.body.id));
    const overlap = maxOverlap(ops);
    assert.equal(overlap, 2, `2 limited ops ran at once, and never more (saw ${overlap})`);
  });
});

describe('idempotency', () => {
  it('the same key and body return the same operation; another body is 422; keys are per key', async () => {
    const body = { type: 'echo', input: { n: 1 } };
    const first = await submit(body, { 'idempotency-key': 'key-1' });
    const second = await submit({ input: { n: 1 }, type: 'echo' }, { 'idempotency-key': 'key-1' });
    assert.equal(first.status, 202);
    assert.ok(second.status === 202 || second.status === 200);
    assert.equal(second.body.id, first.body.id);
    assert.equal(second.headers.get('idempotent-replayed'), 'true');
    const other = await submit({ type: 'echo', input: { n: 2 } }, { 'idempotency-key': 'key-1' });
    assert.equal(other.status, 422);
    assert.equal(other.body.code, 'idempotency_key_mismatch');
    const fresh = await submit(body, { 'idempotency-key': 'key-2' });
    assert.notEqual(fresh.body.id, first.body.id);
    const list = await request(base, 'GET', '/operations?type=echo&limit=200');
    assert.equal(list.body.items.filter((op: any) => op.id === first.body.id).length, 1);
  });

  it('concurrent requests with one key create one operation', async () => {
    const replies = await Promise.all(Array.from({ length: 10 }, () => submit({ type: 'echo', input: { c: 1 } }, { 'idempotency-key': 'race-key' })));
    const ids = new Set(replies.filter((r) => r.status < 300).map((r) => r.body.id));
    assert.equal(ids.size, 1);
    for (const r of replies) assert.ok(r.status < 300 || r.status === 409, `202/200, or 409 while the first is in flight (got ${r.status})`);
  });
});

describe('long-poll and SSE', () => {
  it('GET with If-None-Match and Prefer: wait returns as soon as the operation changes', async () => {
    // Progress at 1 s and 2 s, completed at 3 s.
    const created = await submit({ type: 'sleep', input: { ms: 3000, steps: 3 } });
    const id = created.body.id as string;
    // From a state that lasts (processing without progress, for 1 s): a pending one may be claimed before the
    // long-poll arrives, and then it rightly answers at once.
    const first = await waitFor(
      async () => {
        const read = await get(id);
        return read.body.status === 'processing' && read.body.progress === null ? read : null;
      },
      { timeoutMs: 5_000, intervalMs: 5, what: 'processing' },
    );
    const polled = await get(id, { 'if-none-match': first.headers.get('etag')!, prefer: 'wait=20' });
    assert.equal(polled.status, 200);
    assert.equal(polled.headers.get('preference-applied'), 'wait=20');
    assert.notEqual(polled.headers.get('etag'), first.headers.get('etag'));
    // Held to the end of its 20 s, it would have found the operation long completed.
    assert.equal(polled.body.status, 'processing', `it brought back a change, not the state at the end of its wait (progress ${polled.body.progress})`);
    await request(base, 'POST', `/operations/${id}/cancel`);
  });

  it('an unchanged operation answers 304 after the wait, and at once without Prefer', async () => {
    const created = await submit({ type: 'sleep', input: { ms: 10 }, run_at: new Date(Date.now() + 3_600_000).toISOString() });
    const etag = created.headers.get('etag')!;
    const now304 = await get(created.body.id, { 'if-none-match': etag });
    assert.equal(now304.status, 304);
    const t0 = performance.now();
    const later304 = await get(created.body.id, { 'if-none-match': etag, prefer: 'wait=1' });
    assert.equal(later304.status, 304);
    assert.ok(performance.now() - t0 >= 900);
    await request(base, 'POST', `/operations/${created.body.id}/cancel`);
  });

  it('a stream its client does not read holds at most the newest event, not every version: once read, the newest and the end', async () => {
    // Each event is the resource, input and all: about 700 kB here, at up to 5 changes a second.
    const created = await submit({ type: 'chatty', input: { ms: 6000, steps: 30, pad: 'x'.repeat(700_000) } });
    const id = created.body.id as string;
    const { port, hostname } = new URL(base);
    const socket = connect(Number(port), hostname);
    await once(socket, 'connect');
    // Not read (a socket flows only once something reads it) until the operation has ended.
    // Connection: close, so the socket ends with the response (kept alive, it would end at the server's keep-alive timeout).
    socket.write(`GET /operations/${id}/events HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`);
    const ended = await waitFor(
      async () => {
        const read = await get(id);
        return read.body.status === 'completed' ? read : null;
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'completed' },
    );
    const version = Number(/\.(\d+)"$/.exec(ended.headers.get('etag')!)![1]);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(socket, 'end');
    const ids = [
      ...Buffer.concat(chunks)
        .toString('latin1')
        .matchAll(/^id: (\d+)$/gm),
    ].map((m) => Number(m[1]));
    assert.deepEqual(
      [...ids].sort((a, b) => a - b),
      ids,
      'ids grow',
    );
    assert.equal(ids.at(-1), version, 'it ends with the terminal version');
    // What the socket buffers took while nobody read, then the newest: far fewer than every version there was.
    assert.ok(ids.length < version - 10, `${ids.length} events for ${version} versions`);
  });

  it('the SSE stream sends status and progress events and ends with the terminal one', async () => {
    const created = await submit({ type: 'sleep', input: { ms: 1000, steps: 4 } });
    const response = await fetch(`${base}/operations/${created.body.id}/events`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    const text = await response.text(); // ends only when the server closes the stream
    const events = text
      .split('\n\n')
      .filter((block) => block.includes('data: '))
      .map((block) => ({
        event: /^event: (.*)$/m.exec(block)?.[1],
        data: JSON.parse(/^data: (.*)$/m.exec(block)![1]!),
      }));
    assert.ok(events.length >= 3, `several events (${events.length})`);
    const last = events.at(-1)!;
    assert.equal(last.event, 'status');
    assert.equal(last.data.status, 'completed');
    assert.ok(
      events.some((e) => e.event === 'progress'),
      'progress events',
    );
    const versions = events.map((e) => e.data.updated_at);
    assert.deepEqual([...versions].sort(), versions, 'events in order');
  });
});

describe('pagination', () => {
  it('cursor pagination lists every operation once, newest first, without gaps or repeats', async () => {
    const created: string[] = [];
    for (let i = 0; i < 23; i++) created.push((await submit({ type: 'echo', input: { i } })).body.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = `/operations?type=echo&limit=5${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await request(base, 'GET', query);
      assert.equal(page.status, 200);
      assert.ok(page.body.items.length <= 5);
      seen.push(...page.body.items.map((op: any) => op.id));
      cursor = page.body.next_cursor;
      pages++;
      // New operations arriving meanwhile must not shift the pages.
      if (pages === 2) await submit({ type: 'echo', input: { late: true } });
    } while (cursor !== null && pages < 100);
    assert.equal(new Set(seen).size, seen.length, 'no repeats');
    for (const id of created) assert.ok(seen.includes(id), `${id} listed`);
    assert.deepEqual([...seen].sort().reverse(), seen, 'newest first');
    const filtered = await request(base, 'GET', '/operations?status=completed&limit=200');
    assert.ok(filtered.body.items.every((op: any) => op.status === 'completed'));
  });
});
