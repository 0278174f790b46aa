// End to end on PostgreSQL behind a TCP proxy that can stop answering, as a partitioned or hung database does (it keeps
// the connections and replies to nothing): /readyz says 503 within its deadline instead of hanging, a new connection
// gives up in its connect timeout, and SIGTERM ends the process though the store never answers again.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { E2E_STORE, freshStore, startServer, type ServerProcess, type TestStore } from '../support/server.ts';
import { dropSchema, PG_URL, postgresSkipReason } from '../support/postgres.ts';
import { request } from '../support/http.ts';
import { waitFor } from '../support/wait.ts';

const skip =
  E2E_STORE !== 'postgres'
    ? 'PostgreSQL only: runs in the end-to-end pass on PostgreSQL (ASYNCOPS_E2E_STORE=postgres, npm run test:e2e:postgres)'
    : await postgresSkipReason();

/** Forwards to PostgreSQL until silenced; then it passes nothing either way and takes new connections without a word. */
class SilenceableProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #silent = false;
  port = 0;

  constructor(target: URL) {
    this.#server = createServer((client) => {
      this.#sockets.add(client);
      client.on('close', () => this.#sockets.delete(client));
      client.on('error', () => {});
      if (this.#silent) return;
      const upstream = connect(Number(target.port || 5432), target.hostname);
      this.#sockets.add(upstream);
      upstream.on('close', () => this.#sockets.delete(upstream));
      upstream.on('error', () => client.destroy());
      client.on('data', (chunk) => this.#silent || upstream.write(chunk));
      upstream.on('data', (chunk) => this.#silent || client.write(chunk));
      client.on('close', () => upstream.destroy());
    });
  }

  async start(): Promise<this> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    this.port = (this.#server.address() as { port: number }).port;
    return this;
  }

  silence(): void {
    this.#silent = true;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

describe('a PostgreSQL store that stops answering', { skip: skip ?? false }, () => {
  let proxy: SilenceableProxy;
  let store: TestStore;
  let server: ServerProcess;

  before(async () => {
    proxy = await new SilenceableProxy(new URL(PG_URL)).start();
    store = freshStore('postgres');
    const spec = new URL(store.spec);
    spec.hostname = '127.0.0.1';
    spec.port = String(proxy.port);
    server = await startServer({ store: spec.toString(), args: ['--grace', '1s'] });
  });
  after(async () => {
    await server?.kill();
    await proxy?.close();
    await store?.cleanup();
  });

  it('answers /readyz 503 within its deadline, and SIGTERM still ends the process', async () => {
    assert.equal((await request(server.url, 'GET', '/readyz')).status, 200);
    proxy.silence();
    const started = Date.now();
    const ready = await request(server.url, 'GET', '/readyz');
    assert.equal(ready.status, 503);
    assert.match(ready.body.type, /store_unavailable/);
    assert.equal(ready.body.detail, 'the store did not answer within 2000 ms');
    assert.equal(ready.body.instance, '/readyz', 'a problem as every other route gives');
    assert.equal(ready.headers.get('retry-after'), '1', 'a 503 says when to ask again');
    assert.ok(Date.now() - started < 6_000, `answered in ${Date.now() - started} ms`);
    assert.equal((await request(server.url, 'GET', '/healthz')).status, 200, 'liveness does no I/O');

    const stopping = Date.now();
    server.process.kill('SIGTERM');
    const [code] = (await once(server.process, 'exit')) as [number | null];
    // --grace 1s, then at most 10 s more to give attempts back and close connections.
    assert.ok(Date.now() - stopping < 20_000, `exited after ${Date.now() - stopping} ms`);
    assert.notEqual(code, null);
  });
});

describe('a PostgreSQL store whose schema is dropped under a running server', { skip: skip ?? false }, () => {
  it('answers /readyz 503 with a problem that says the store refused, without its words (the route is open)', async () => {
    const store = freshStore('postgres');
    const server = await startServer({ store: store.spec });
    try {
      assert.equal((await request(server.url, 'GET', '/readyz')).status, 200);
      await dropSchema(new URL(store.spec).searchParams.get('schema')!);
      const ready = await request(server.url, 'GET', '/readyz');
      assert.equal(ready.status, 503);
      assert.equal(ready.body.code, 'store_unavailable');
      assert.equal(ready.body.instance, '/readyz');
      assert.equal(ready.headers.get('retry-after'), '1');
      // A route of the API says so too.
      const read = await request(server.url, 'GET', '/operations');
      assert.equal(read.status, 503);
      assert.equal(read.body.code, 'store_unavailable');
      assert.equal(read.headers.get('retry-after'), '1');
      // Keyed or not, a client reads what kind of failure it is; the database's own words are for the log.
      assert.equal(
        read.body.detail,
        "PostgreSQL unavailable: the store's schema or one of its tables or functions is missing (dropped, or a restore under way)",
      );
      assert.doesNotMatch(JSON.stringify(read.body), /relation|does not exist|asyncops_/);
      assert.equal(ready.body.detail, "the store cannot be reached or refused the check (the server's log says why)");
      assert.doesNotMatch(JSON.stringify(ready.body), /relation|postgres@|operations/, 'nothing of the database named to an open route');
      // The log has it: one error line for the probe, with the store's words as its cause.
      const lines = await waitFor(
        () => {
          const found = server.logs.filter((line) => line.msg === 'store unavailable' || /readiness/.test(String(line.msg)));
          return found.length > 0 ? found : null;
        },
        { timeoutMs: 5_000, what: "the probe's log line" },
      );
      assert.equal(lines.length, 1, JSON.stringify(lines));
      assert.equal(lines[0]!.level, 50);
      assert.match(JSON.stringify(lines[0]!.err), /relation .*operations.* does not exist/);
    } finally {
      await server.stop();
      await store.cleanup();
    }
  });
});
