// End to end on the real server process: SIGTERM ends open event streams and answers held long-polls at once,
// so the process exits promptly instead of waiting for its clients to give up.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import pg from 'pg';
import { CLI_ENTRY, freshStore, REPO_ROOT, startServer, type ServerProcess } from '../support/server.ts';
import { PG_URL, postgresSkipReason, withClient } from '../support/postgres.ts';
import { WebhookReceiver } from '../support/webhook-receiver.ts';
import { request } from '../support/http.ts';
import { closed } from '../support/raw-http.ts';
import { waitFor } from '../support/wait.ts';

let server: ServerProcess;
let base: string;

before(async () => {
  server = await startServer();
  base = server.url;
});
after(async () => {
  await server?.stop();
});

/** Reads an event stream in the background: its text so far, and whether the server ended it. */
async function openStream(path: string): Promise<{ text(): string; ended(): boolean }> {
  const response = await fetch(base + path, { signal: AbortSignal.timeout(30_000) });
  assert.equal(response.status, 200);
  let text = '';
  let ended = false;
  void (async () => {
    try {
      for await (const chunk of response.body!.pipeThrough(new TextDecoderStream())) text += chunk;
      ended = true;
    } catch {
      // Aborted by the timeout: `ended` stays false and the test says so.
    }
  })();
  return { text: () => text, ended: () => ended };
}

/** SIGTERM ends `node` on its own within `withinMs`, exit status 0: not killed after stop()'s bound, nor past --grace with exit 1. */
async function stopsPromptly(node: ServerProcess, withinMs = 5_000): Promise<void> {
  const asked = Date.now();
  await node.stop();
  const tookMs = Date.now() - asked;
  assert.equal(node.process.signalCode, null, 'exited on its own, not killed after the bound');
  assert.equal(node.process.exitCode, 0, 'not the "shutdown did not finish" exit past --grace');
  assert.ok(tookMs < withinMs, `exited ${tookMs} ms after SIGTERM`);
}

describe('shutdown', () => {
  it('SIGTERM with an event stream, a long-poll and a Prefer: wait open exits within seconds, ending and answering each', async () => {
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const pending = await request(base, 'POST', '/operations', { body: { type: 'sleep', input: { ms: 10 }, run_at: later } });
    assert.equal(pending.status, 202);
    const id = pending.body.id as string;

    const longPoll = request(base, 'GET', `/operations/${id}`, { headers: { 'if-none-match': pending.headers.get('etag')!, prefer: 'wait=30' } });
    const submitWait = { body: { type: 'sleep', input: { ms: 10 }, run_at: later }, headers: { prefer: 'wait=30', 'idempotency-key': 'shutdown-held' } };
    const heldSubmit = request(base, 'POST', '/operations', submitWait);
    // Awaited below; marked handled so a failure before then is reported by the assertion that failed, not as a stray rejection.
    for (const held of [longPoll, heldSubmit]) held.catch(() => {});
    // A probe with the key sent before the held submit reached the server would take the key itself and be the one held
    // (for 30 s): probe once the held submit's operation is stored, when the key is its own.
    await waitFor(async () => ((await request(base, 'GET', '/operations?q=shutdown-held')).body.items as unknown[]).length === 1, {
      what: 'the Prefer: wait submit stored its operation',
    });
    // The key is in use for as long as the first request is held: proof that it is.
    await waitFor(async () => (await request(base, 'POST', '/operations', submitWait)).status === 409, { what: 'the Prefer: wait submit is held' });
    const stream = await openStream(`/operations/${id}/events`);
    await waitFor(() => stream.text().includes('event: status'), { what: 'the stream sent the current state' });

    // stop() kills what has not exited 15 s after SIGTERM: well before the 30 s the held requests asked for.
    await server.stop();
    assert.equal(server.process.signalCode, null, 'exited on its own, not killed after the bound');
    assert.equal(server.process.exitCode, 0);

    await waitFor(() => stream.ended(), { what: 'the server ended the event stream' });
    assert.match(stream.text(), /: shutting down\n\n$/);
    const polled = await longPoll;
    assert.equal(polled.status, 304, 'the long-poll is answered as at its timeout: unchanged');
    const submitted = await heldSubmit;
    assert.equal(submitted.status, 202);
    assert.equal(submitted.body.status, 'pending');
  });

  it('a webhook receiver that never answers holds SIGTERM up no longer than --grace', async () => {
    const receiver = await WebhookReceiver.start();
    receiver.replyWith('hang');
    const node = await startServer({ args: ['--allow-private-webhooks', '--grace', '1s'] });
    try {
      const created = await request(node.url, 'POST', '/operations', { body: { type: 'echo', input: {}, webhook_url: `${receiver.url}/hook` } });
      assert.equal(created.status, 202);
      await waitFor(() => receiver.received.length > 0, { timeoutMs: 10_000, what: 'the webhook attempt in flight' });
      const asked = Date.now();
      await node.stop();
      const tookMs = Date.now() - asked;
      assert.equal(node.process.signalCode, null, 'exited on its own, not killed after the bound');
      assert.equal(node.process.exitCode, 0);
      // The attempt's own timeout is 10 s (--webhook-timeout): the shutdown did not wait for it.
      assert.ok(tookMs < 6_000, `exited ${tookMs} ms after SIGTERM with --grace 1s`);
    } finally {
      await node.stop();
      await receiver.close();
    }
  });

  it('a connection no request was sent on (a preconnect) does not hold SIGTERM up: it is closed, and the server exits at once', async () => {
    const node = await startServer();
    const spare = connect(node.port, '127.0.0.1');
    try {
      await once(spare, 'connect');
      const spareClosed = closed(spare);
      // Beside it, a kept-alive connection that has had its request, which Node closes itself.
      assert.equal((await request(node.url, 'GET', '/healthz')).status, 200);
      await stopsPromptly(node);
      await spareClosed;
    } finally {
      spare.destroy();
      await node.stop();
    }
  });

  it('a request cut short (headers or body half sent) does not hold SIGTERM up: its connection is closed, and the server exits 0', async () => {
    const node = await startServer();
    const halfHeaders = connect(node.port, '127.0.0.1');
    const halfBody = connect(node.port, '127.0.0.1');
    try {
      await Promise.all([once(halfHeaders, 'connect'), once(halfBody, 'connect')]);
      const bothClosed = Promise.all([closed(halfHeaders), closed(halfBody)]);
      let continued = '';
      halfBody.setEncoding('utf8').on('data', (chunk: string) => (continued += chunk));
      halfHeaders.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      halfBody.write(
        'POST /operations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n{"type"',
      );
      // The server says it has the second request's headers (its 100 Continue) before it is told to stop; the first
      // connection's bytes, written before them, have been read by then too.
      await waitFor(() => continued.startsWith('HTTP/1.1 100 Continue'), { what: 'the half-sent POST received' });
      await stopsPromptly(node);
      await bothClosed;
    } finally {
      halfHeaders.destroy();
      halfBody.destroy();
      await node.stop();
    }
  });

  it('a request still arriving, however slowly, holds SIGTERM up 5 s at most: answered 503 shutting_down, and the server exits 0', async () => {
    const node = await startServer({ args: ['--grace', '2s'] });
    const trickle = connect(node.port, '127.0.0.1');
    let timer: NodeJS.Timeout | undefined;
    try {
      await once(trickle, 'connect');
      let answer = '';
      trickle.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
      const trickleClosed = closed(trickle);
      trickle.write(
        'POST /operations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n{"type":"sleep","input":{"x":"',
      );
      // A byte every 100 ms: never still for the second a stalled request is given (even with this process slowed by a
      // busy machine), never done.
      timer = setInterval(() => trickle.write('a'), 100);
      // The server has the request's headers (its 100 Continue) before it is told to stop.
      await waitFor(() => answer.startsWith('HTTP/1.1 100 Continue'), { what: 'the trickled POST received' });
      await stopsPromptly(node, 8_000);
      await trickleClosed;
      assert.match(answer, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 503 /);
      assert.match(answer, /"code":"shutting_down"/);
      assert.match(answer, /\r\nretry-after: 1\r\n/i);
    } finally {
      clearInterval(timer);
      trickle.destroy();
      await node.stop();
    }
  });

  it('a request pipelined behind one the stop answers gets its own reply: an operation it created is never left without its 202', async () => {
    const node = await startServer({ args: ['--no-workers'] });
    const socket = connect(node.port, '127.0.0.1');
    try {
      await once(socket, 'connect');
      const later = new Date(Date.now() + 3_600_000).toISOString();
      const held = await request(node.url, 'POST', '/operations', { body: { type: 'sleep', input: {}, run_at: later } });
      let text = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      const ended = closed(socket);
      const body = JSON.stringify({ type: 'sleep', input: { log: 'pipelined' }, run_at: later });
      // A long-poll the stop answers, and behind it on the same connection a create answered while the long-poll waits.
      socket.write(
        `GET /operations/${held.body.id} HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-None-Match: ${held.headers.get('etag')}\r\nPrefer: wait=25\r\n\r\n` +
          `POST /operations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      await waitFor(async () => ((await request(node.url, 'GET', '/operations?status=pending')).body.items as unknown[]).length === 2, {
        what: 'the pipelined create stored its operation',
      });
      await node.stop();
      assert.equal(node.process.exitCode, 0);
      await ended;
      const statuses = [...text.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => m[1]);
      assert.deepEqual(statuses, ['304', '202'], text);
      assert.match(text, /"status":"pending"/, 'the 202 carries the operation it created');
    } finally {
      socket.destroy();
      await node.stop();
    }
  });

  it('/readyz is a 503 shutting_down from the moment a stop begins, while running attempts finish within --grace', async () => {
    const node = await startServer({ args: ['--grace', '3s'] });
    try {
      const running = await request(node.url, 'POST', '/operations', { body: { type: 'sleep', input: { ms: 2_000 } } });
      await waitFor(async () => (await request(node.url, 'GET', `/operations/${running.body.id}`)).body.status === 'processing', {
        what: 'the attempt running',
      });
      assert.equal((await request(node.url, 'GET', '/readyz')).status, 200);
      node.process.kill('SIGTERM');
      const ready = await waitFor(
        async () => {
          const reply = await request(node.url, 'GET', '/readyz');
          return reply.status === 503 ? reply : null;
        },
        { timeoutMs: 1_500, what: '/readyz a 503 soon after SIGTERM' },
      );
      assert.equal(ready.body.code, 'shutting_down');
      assert.equal(ready.headers.get('retry-after'), '1');
      assert.equal((await request(node.url, 'GET', '/healthz')).status, 200, 'alive, as it drains');
      assert.equal((await request(node.url, 'GET', `/operations/${running.body.id}`)).body.status, 'processing', 'its attempt still running');
    } finally {
      await node.stop();
    }
  });

  it('SIGTERM ends a server whose log reader has gone (its stdout a broken pipe), as it does any other', async () => {
    const store = freshStore('sqlite');
    const child = spawn(process.execPath, [CLI_ENTRY, 'serve', '--port', '0', '--store', store.spec], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = once(child, 'exit');
    try {
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
      await waitFor(() => /asyncops listening/.test(out), { timeoutMs: 15_000, what: 'listening' });
      // The reader goes away (a log shipper that died): every line the server writes from now on meets EPIPE.
      child.stdout.destroy();
      const asked = Date.now();
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const [code, signal] = await exited;
      clearTimeout(timer);
      assert.equal(signal, null, 'exited on its own, not killed after the bound');
      assert.equal(code, 0);
      assert.ok(Date.now() - asked < 10_000, `exited ${Date.now() - asked} ms after SIGTERM`);
    } finally {
      child.kill('SIGKILL');
      await store.cleanup();
    }
  });

  it("PostgreSQL: SIGTERM while a node waits for another node's migration stops it at once, without migrating", async (t) => {
    const skip = await postgresSkipReason();
    if (skip !== null) return t.skip(skip);
    const store = freshStore('postgres');
    const schema = new URL(store.spec).searchParams.get('schema')!;
    // Another node's long migration, as the lock it holds (migrate.ts: the class says asyncops, the key the schema).
    const holder = new pg.Client({ connectionString: PG_URL });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [0x61_6f_70_73, schema]);
      const child = spawn(process.execPath, [CLI_ENTRY, 'serve', '--port', '0', '--store', store.spec], {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const exited = once(child, 'exit');
      try {
        await waitFor(
          () =>
            withClient(async (c) => {
              const waiting = await c.query("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = hashtext($1)::oid", [schema]);
              return waiting.rowCount === 1;
            }),
          { timeoutMs: 15_000, what: 'the node waiting for the migration lock' },
        );
        const asked = Date.now();
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        const [code, signal] = await exited;
        clearTimeout(timer);
        assert.equal(signal, null, `exited on its own, not killed after the bound; stderr: ${stderr}`);
        assert.equal(code, 0, stderr);
        assert.ok(Date.now() - asked < 5_000, `exited ${Date.now() - asked} ms after SIGTERM`);
        assert.doesNotMatch(stderr, /Connection terminated|error/i);
      } finally {
        child.kill('SIGKILL');
      }
      await holder.query('COMMIT');
      const tables = await withClient((c) => c.query('SELECT 1 FROM information_schema.tables WHERE table_schema = $1', [schema]));
      assert.equal(tables.rowCount, 0, 'nothing migrated after it was told to stop');
    } finally {
      await holder.end().catch(() => {});
      await store.cleanup();
    }
  });
});
