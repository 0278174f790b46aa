// Embedding (src/embed.ts): the Fastify plugin mounts the API under a prefix in an app of one's own, sharing its hooks,
// logger and lifecycle; createAsyncOps's handler serves the same API from node:http or Express; every link, Location,
// problem type and the OpenAPI document carry the prefix.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { once } from 'node:events';
import { connect } from 'node:net';
import { DatabaseSync } from 'node:sqlite';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { pino } from 'pino';
import express from 'express';
import { Type } from '@sinclair/typebox';
import { AsyncOpsError, asyncopsPlugin, createAsyncOps, defineTask, type AsyncOps } from '../src/index.ts';
import { assembleAsyncOps } from '../src/main.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { AsyncOpsClient } from '../src/client/index.ts';
import { waitFor } from './support/wait.ts';
import { closed as socketClosed } from './support/raw-http.ts';
import { closedPort } from './client/fake-api.ts';
import { dropSchema, PG_URL, postgresSkipReason, uniqueSchema, withClient } from './support/postgres.ts';

const square = defineTask({
  type: 'square',
  route: '/squares',
  input: Type.Object({ n: Type.Number() }),
  run: (input, ctx) => {
    // Secrets a handler might log (a client's config, a DSN): the app's logger gets them redacted, as asyncops's own would.
    ctx.log.info({ n: input.n, upstream: { headers: { Authorization: 'Bearer sq-token' }, dsn: new URL('postgres://u:sq-password@db/x') } }, 'squaring %j', {
      api_key: 'sq-key',
    });
    return { square: input.n * input.n };
  },
});
const options = { store: ':memory:', tasks: [square], builtInTasks: false } as const;

/** `{ a: { a: … } }`, `levels` objects deep. */
function nested(levels: number): unknown {
  let value: Record<string, unknown> = {};
  for (let i = 1; i < levels; i++) value = { a: value };
  return value;
}

const closers: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

/** GET /operations on 127.0.0.1:`port` with this Host header (fetch sends its own). */
function statusFor(port: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/operations', headers: { host }, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

async function listening(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(() => new Promise((resolve) => server.close(resolve)));
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
}

describe('the Fastify plugin', () => {
  it("closes within the app's pluginTimeout while a handler outlasts the grace: the attempt is given back, not left leased", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'asyncops-embed-'));
    try {
      const store = join(dir, 'close.db');
      const stuck = defineTask({
        type: 'stuck',
        input: Type.Object({}),
        // Ignores its signal: only the end of the grace frees its slot.
        run: () => new Promise(() => undefined),
      });
      // Fastify gives each close hook its pluginTimeout; the default grace (10 s) would outlast this one.
      const app = Fastify({ pluginTimeout: 3_000 });
      await app.register(asyncopsPlugin, { ...options, store, tasks: [stuck], logger: { level: 'silent' } });
      await app.ready();
      const op = await app.asyncops.submit('stuck', {});
      await waitFor(async () => (await app.asyncops.get(op.id))?.status === 'processing', { timeoutMs: 10_000, intervalMs: 20, what: 'the handler starts' });
      const started = Date.now();
      await app.close();
      assert.ok(Date.now() - started < 3_000, `closed in ${Date.now() - started} ms`);
      const reader = await createAsyncOps({ ...options, store, tasks: [stuck], workers: false });
      try {
        await reader.start();
        const after = await reader.get(op.id);
        assert.equal(after?.status, 'pending', 'released for another node, not left processing under a lease');
        assert.equal(after?.attempt, 1, 'the attempt not counted');
      } finally {
        await reader.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("mounts under the app's prefix (nested prefixes compose), with links, Location and problem types under it", async () => {
    const app = Fastify();
    closers.push(() => app.close());
    let embedded: AsyncOps['prefix'] = '';
    await app.register(
      async (v1) => {
        // No logger option: the app's (here Fastify's silent default) is used.
        await v1.register(asyncopsPlugin, { ...options, prefix: '/jobs' });
        v1.get('/mine', async () => ({ mine: true }));
        embedded = v1.asyncops.prefix;
      },
      { prefix: '/v1' },
    );
    await app.ready();
    assert.equal(embedded, '/v1/jobs');
    assert.deepEqual((await app.inject('/v1/mine')).json(), { mine: true });

    const created = await app.inject({ method: 'POST', url: '/v1/jobs/squares', payload: { n: 7 }, headers: { prefer: 'wait=5' } });
    assert.equal(created.statusCode, 200, created.body);
    const op = created.json();
    assert.equal(created.headers.location, `/v1/jobs/operations/${op.id}`);
    assert.deepEqual(op.links, {
      self: `/v1/jobs/operations/${op.id}`,
      cancel: null,
      result: `/v1/jobs/squares/${op.id}`,
      events: `/v1/jobs/operations/${op.id}/events`,
    });
    assert.deepEqual((await app.inject(op.result_url)).json(), { square: 49 });

    const problem = (await app.inject('/v1/jobs/operations/op_nope')).json();
    assert.equal(problem.type, '/v1/jobs/docs/problems#not_found');
    assert.equal((await app.inject(problem.type.split('#')[0])).statusCode, 200, 'the problem type leads to its page');
    const document = (await app.inject('/v1/jobs/openapi.json')).json();
    assert.equal(document.servers[0].url, '/v1/jobs');
    assert.ok(document.paths['/squares'] && !Object.keys(document.paths).some((p) => p.startsWith('/v1')));
    // The API's docs page loads its assets from under the prefix too (with or without a trailing slash).
    for (const page of ['/v1/jobs/docs', '/v1/jobs/docs/']) {
      const html = (await app.inject(page)).body;
      const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => new URL(m[1]!, `http://x${page}`).pathname);
      assert.ok(assets.length > 3, html.slice(0, 200));
      for (const asset of assets) assert.equal((await app.inject(asset)).statusCode, 200, `${page}: ${asset}`);
    }
  });

  it("without a prefix it answers its own paths the app has no route for: the app's routes, not-found handler and wildcards stay the app's", async () => {
    const app = Fastify();
    closers.push(() => app.close());
    app.setNotFoundHandler((request, reply) => reply.code(404).send({ appNotFound: request.url }));
    app.get('/health', async () => ({ mine: true }));
    await app.register(asyncopsPlugin, { ...options, workers: false, logger: { level: 'silent' } });
    // Registered after the plugin: a route on one of asyncops's own paths, and a wildcard (as @fastify/static's).
    app.get('/healthz', async () => ({ mineToo: true }));
    app.get('/files/*', async (request) => ({ file: request.url }));
    await app.ready();
    assert.deepEqual((await app.inject('/health')).json(), { mine: true });
    assert.deepEqual((await app.inject('/healthz')).json(), { mineToo: true }, "the app's own route wins");
    assert.deepEqual((await app.inject('/files/a.css')).json(), { file: '/files/a.css' });
    assert.deepEqual((await app.inject({ method: 'DELETE', url: '/nope' })).json(), { appNotFound: '/nope' });
    assert.deepEqual((await app.inject({ method: 'DELETE', url: '/health' })).json(), { appNotFound: '/health' });
    assert.equal((await app.inject('/operations?limit=5')).statusCode, 200);
    assert.equal((await app.inject('/readyz')).statusCode, 200);
    const problem = await app.inject('/operations/op_nope');
    assert.equal(problem.statusCode, 404);
    assert.equal(problem.json().code, 'not_found');
    const created = await app.inject({ method: 'POST', url: '/operations', payload: { type: 'square', input: { n: 2 } } });
    assert.equal(created.statusCode, 202, 'a body reaches asyncops unread by the app');
  });

  it("without a prefix, the app's onRequest hooks run first even when added after the plugin (authentication there applies)", async () => {
    const app = Fastify();
    closers.push(() => app.close());
    await app.register(asyncopsPlugin, { ...options, workers: false, logger: { level: 'silent' } });
    app.addHook('onRequest', async (request, reply) => {
      if (request.headers['x-team'] !== 'ops') return reply.code(401).send({ refused: 'by the app' });
    });
    await app.ready();
    assert.equal((await app.inject('/operations')).statusCode, 401);
    assert.equal((await app.inject({ method: 'POST', url: '/operations', payload: { type: 'square', input: { n: 2 } } })).statusCode, 401);
    assert.equal((await app.inject({ url: '/operations', headers: { 'x-team': 'ops' } })).statusCode, 200);
  });

  it("shares the app's logger and onRequest hooks, and app.asyncops submits from the app's own routes", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => void lines.push(JSON.parse(line)) } } });
    closers.push(() => app.close());
    app.addHook('onRequest', async (request, reply) => {
      if (request.headers['x-team'] !== 'ops') return reply.code(403).send({ refused: 'by the app' });
    });
    await app.register(asyncopsPlugin, { ...options, prefix: '/async' });
    app.post('/square-of/:n', async (request, reply) => {
      const op = await app.asyncops.submit('square', { n: Number((request.params as { n: string }).n) });
      return reply.code(202).header('location', op.links.self).send(op);
    });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });

    assert.equal((await fetch(`${url}/async/operations`)).status, 403, "the app's hook runs before asyncops answers");
    const accepted = await fetch(`${url}/square-of/12`, { method: 'POST', headers: { 'x-team': 'ops' } });
    assert.equal(accepted.status, 202);
    const client = new AsyncOpsClient({
      baseUrl: `${url}/async`,
      fetch: (input, init) => fetch(input, { ...init, headers: { ...init?.headers, 'x-team': 'ops' } }),
    });
    const done = await client.wait(((await accepted.json()) as any).id, { timeoutMs: 10_000 });
    assert.equal(done.status, 'completed');
    const squaring = lines.find((l) => typeof l['msg'] === 'string' && l['msg'].startsWith('squaring') && l['n'] === 12);
    assert.ok(squaring, "the handler's ctx.log writes to the app's logger");
    assert.deepEqual(squaring['upstream'], { headers: { Authorization: '[Redacted]' }, dsn: 'postgres://u:%5BRedacted%5D@db/x' });
    assert.equal(squaring['msg'], 'squaring {"api_key":"[Redacted]"}');
    assert.doesNotMatch(JSON.stringify(lines), /sq-token|sq-password|sq-key/);
  });

  it('ends open event streams when the app closes, and close() resolves', async () => {
    const app = Fastify();
    await app.register(asyncopsPlugin, { ...options, prefix: '/async', logger: { level: 'silent' }, workers: false });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const op = await app.asyncops.submit('square', { n: 2 });
    const stream = await fetch(`${url}${op.links.events}`);
    const reader = stream.body!.getReader();
    assert.match(new TextDecoder().decode((await reader.read()).value), /event: status/, 'the stream is open and sent the current state');
    await app.close();
    let ended = false;
    while (!ended) ended = (await reader.read()).done;
    assert.ok(ended, 'the stream ended with the app');
  });
});

describe('createAsyncOps', () => {
  it('close() after listen() drops a connection with no request on it, and answers a request sent as it begins with a 503', async () => {
    // The assembly, for its server: the test waits until that has accepted both connections.
    const ops = await assembleAsyncOps({ ...options, workers: false, logger: { level: 'silent' } });
    let accepted = 0;
    ops.app?.server.on('connection', () => accepted++);
    const port = Number(new URL(await ops.listen({ port: 0, host: '127.0.0.1' })).port);
    const opened = async () => {
      const socket = connect(port, '127.0.0.1');
      await once(socket, 'connect');
      let reply = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => (reply += chunk));
      const ended = new Promise<string>((resolve) => {
        socket.on('error', (error: Error) => resolve(`error ${error.message}`));
        socket.on('close', () => resolve(reply));
      });
      return { socket, ended };
    };
    const spare = await opened();
    const late = await opened();
    // Both accepted and read nothing yet; the request reaches the server in the same turn as the close.
    await waitFor(() => accepted === 2, { what: 'both connections accepted' });
    late.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const closed = ops.close();
    assert.equal(await spare.ended, '', 'the spare connection is closed, with nothing sent on it');
    assert.match(await late.ended, /^HTTP\/1\.1 503 /, 'the request sent as the close began is answered, not reset');
    await closed;
  });

  it('close() after listen() keeps a connection whose request is still arriving, and answers it once it has', async () => {
    const ops = await createAsyncOps({ ...options, workers: false, logger: { level: 'silent' } });
    const port = Number(new URL(await ops.listen({ port: 0, host: '127.0.0.1' })).port);
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    let reply = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (reply += chunk));
    const ended = socketClosed(socket);
    const body = JSON.stringify({ n: 3, pad: 'x'.repeat(4_000) });
    const parts = [body.slice(0, 1_000), body.slice(1_000, 2_000), body.slice(2_000, 3_000), body.slice(3_000)];
    // The server has the headers once it answers 100 Continue: the request is arriving when close() begins.
    socket.write(
      `POST /squares HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`,
    );
    await waitFor(() => reply.startsWith('HTTP/1.1 100 Continue\r\n\r\n'), { timeoutMs: 5_000, what: '100 Continue' });
    reply = '';
    socket.write(parts[0]!);
    const closed = ops.close();
    // The rest arrives over about two seconds, a part every 600 ms: longer than a second in all, never a second without.
    for (const part of parts.slice(1)) {
      await new Promise((resolve) => setTimeout(resolve, 600));
      socket.write(part);
    }
    await ended;
    await closed;
    assert.match(reply, /^HTTP\/1\.1 202 /, `answered, not cut: ${JSON.stringify(reply.slice(0, 80))}`);
  });

  it('a handle closed without starting closes quietly; after close, submit and start are refused as shutting_down', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(line) });
    const never = await createAsyncOps({ ...options, logger });
    await never.close();
    assert.deepEqual(lines, [], 'no warning about withdrawing a node that never joined');
    const ops = await createAsyncOps({ ...options, logger: { level: 'silent' } });
    await ops.start();
    await ops.close();
    const calls = [() => ops.submit('square', { n: 2 }), () => ops.start(), () => ops.get('op_01M955NPBS82236E1Q2KX76G95'), () => ops.listen({ port: 0 })];
    for (const call of calls) {
      await assert.rejects(call(), (error: unknown) => {
        assert.equal((error as { code?: unknown }).code, 'shutting_down', String(error));
        assert.match((error as Error).message, /closed/);
        return true;
      });
    }
  });

  it('submits and reads from code before it is started: the store is opened for them', async () => {
    const ops = await createAsyncOps({ ...options, workers: false, logger: { level: 'silent' } });
    try {
      const [first, second] = await Promise.all([ops.submit('square', { n: 2 }), ops.submit('square', { n: 3 })]);
      assert.equal(first.status, 'pending');
      assert.equal((await ops.get(second.id)).id, second.id);
    } finally {
      await ops.close();
    }
  });

  it('allowedHosts takes an array or the comma-separated form of --allowed-hosts, and refuses anything else with a TypeError', async () => {
    for (const allowedHosts of [['api.internal', '.corp.example'], 'api.internal,.corp.example']) {
      const ops = await createAsyncOps({ ...options, allowedHosts, workers: false, logger: { level: 'silent' } });
      try {
        const port = new URL(await ops.listen({ port: 0, host: '127.0.0.1' })).port;
        const ask = (host: string) => statusFor(port, host);
        assert.equal((await ask('jobs.corp.example')).status, 200);
        assert.equal((await ask('localhost:8080')).status, 200);
        const refused = await ask('evil.example');
        assert.equal(refused.status, 421);
        assert.equal(JSON.parse(refused.body).code, 'misdirected_request');
      } finally {
        await ops.close();
      }
    }
    const answersAny = await createAsyncOps({ ...options, workers: false, logger: { level: 'silent' } });
    try {
      const port = new URL(await answersAny.listen({ port: 0, host: '127.0.0.1' })).port;
      assert.equal((await statusFor(port, 'evil.example')).status, 200, 'default: any host');
    } finally {
      await answersAny.close();
    }
    for (const [name, bad] of [
      ['store', {}],
      ['store', undefined],
      ['corsOrigins', 42],
    ] as const) {
      await assert.rejects(createAsyncOps({ ...options, [name]: bad, logger: { level: 'silent' } } as never), (error: unknown) => {
        assert.ok(error instanceof TypeError && error.message.startsWith(`${name}: `), String(error));
        return true;
      });
    }
    const cors = await createAsyncOps({ ...options, corsOrigins: 'https://app.example,https://admin.example', workers: false, logger: { level: 'silent' } });
    try {
      const url = await cors.listen({ port: 0, host: '127.0.0.1' });
      const answer = await fetch(`${url}/operations`, { headers: { origin: 'https://admin.example' } });
      assert.equal(answer.headers.get('access-control-allow-origin'), 'https://admin.example', 'corsOrigins as --cors-origin takes it');
    } finally {
      await cors.close();
    }
    await assert.rejects(
      createAsyncOps({ ...options, tasks: [defineTask({ type: 'bad_schema', input: { type: 'objekt' }, run: () => null })], logger: { level: 'silent' } }),
      (error: unknown) => error instanceof TypeError && /^task type "bad_schema": its input schema does not compile/.test(error.message),
    );
    for (const allowedHosts of ['https://api.internal', 42 as unknown as string]) {
      await assert.rejects(createAsyncOps({ ...options, allowedHosts, logger: { level: 'silent' } }), (error: unknown) => {
        assert.ok(error instanceof TypeError && /^allowedHosts: /.test(error.message), String(error));
        return true;
      });
    }
  });

  it('submit from code refuses what a request could not carry: Infinity, a cycle, a BigInt, a Map, a bad tenant, an invalid Date, a bad key', async () => {
    const ops = await createAsyncOps({ ...options, workers: false, logger: { level: 'silent' } });
    closers.push(() => ops.close());
    await ops.start();
    const cyclic: Record<string, unknown> = { n: 1 };
    cyclic['self'] = cyclic;
    for (const [input, submitOptions, path] of [
      [{ n: Number.POSITIVE_INFINITY }, {}, '/input/n'],
      [{ n: Number.NaN }, {}, '/input/n'],
      [cyclic, {}, '/input'],
      // Named where it is (JSON.stringify's own error says nowhere).
      [{ n: 10n }, {}, '/input/n'],
      [{ n: 1 }, { tenant: 'bad tenant!' }, '/tenant'],
      [{ n: 1 }, { tenant: '' }, '/tenant'],
      [{ n: 1 }, { runAt: new Date(Number.NaN) }, '/run_at'],
      [{ n: 1, tags: new Map([['a', 1]]) }, {}, '/input/tags'],
      [{ n: 1, tags: new Set([1]) }, {}, '/input/tags'],
      [{ n: 1, since: new Date('not a date') }, {}, '/input/since'],
      [(() => 1) as unknown as { n: number }, {}, '/input'],
      [{ n: 1, onDone: () => 1 } as unknown as { n: number }, {}, '/input/onDone'],
      [{ n: 1, tags: [Symbol('s')] } as unknown as { n: number }, {}, '/input/tags/0'],
      // What Fastify's parser refuses in a request body, and nesting past --max-body-depth counting the body.
      [{ n: 1, x: JSON.parse('{"__proto__": {"admin": true}}') }, {}, '/input/x/__proto__'],
      [{ n: 1, constructor: { prototype: { admin: true } } }, {}, '/input/constructor/prototype'],
      [{ n: 1, deep: nested(31) }, {}, `/input/deep${'/a'.repeat(30)}`],
      // Deeper than JSON.stringify's stack reaches: still the depth that is named, at the place the limit is passed.
      [{ n: 1, deep: nested(20_000) }, {}, `/input/deep${'/a'.repeat(30)}`],
      [{ toJSON: () => undefined } as unknown as { n: number }, {}, '/input'],
      // As JSON writes it: what a toJSON answers is what would be sent, and what is counted.
      [{ n: 1, deep: { toJSON: () => nested(31) } }, {}, `/input/deep${'/a'.repeat(30)}`],
      ...['', 'a\u0000b', 'two words', 'b\ud800', 'k'.repeat(256), 'é'].map((idempotencyKey) => [{ n: 1 }, { idempotencyKey }, '/idempotency_key'] as const),
    ] as const) {
      await assert.rejects(ops.submit('square', input, submitOptions), (error: unknown) => {
        assert.equal((error as { code?: unknown }).code, 'validation_failed', String(error));
        assert.deepEqual(
          (error as { errors: Array<{ path: string }> }).errors.map((e) => e.path),
          [path],
        );
        return true;
      });
    }
    assert.equal((await ops.submit('square', { n: 3 }, { tenant: 'acme.eu-1', idempotencyKey: 'k'.repeat(255) })).status, 'pending');
    assert.equal((await ops.submit('square', { n: 3, deep: nested(30) } as { n: number })).status, 'pending', 'as deep as a request may send it');
    await assert.rejects(ops.get('op_x', { tenant: 'x\u0000' }), (error: Error & { code?: string }) => error.code === 'validation_failed');
    // From JavaScript: an option spelt as the HTTP body spells it, options that are no object, an id that is no string.
    const untyped = ops as unknown as { submit: (...args: unknown[]) => Promise<unknown>; get: (...args: unknown[]) => Promise<unknown> };
    await assert.rejects(untyped.submit('square', { n: 1 }, { idempotency_key: 'k' }), {
      name: 'TypeError',
      message: 'submit: unknown option "idempotency_key" (did you mean "idempotencyKey"?)',
    });
    await assert.rejects(untyped.submit('square', { n: 1 }, null), { name: 'TypeError', message: 'submit: options must be an object (got null)' });
    await assert.rejects(untyped.get(5), { name: 'TypeError', message: 'get: the operation id must be a string (got number)' });
    await assert.rejects(untyped.get('op_x', null), { name: 'TypeError', message: 'get: options must be an object (got null)' });
    await assert.rejects(untyped.get('op_x', 'acme'), { name: 'TypeError', message: 'get: options must be an object (got acme)' });
    await assert.rejects(untyped.get('op_x', { tnant: 'acme' }), { name: 'TypeError', message: 'get: unknown option "tnant" (did you mean "tenant"?)' });
  });

  it('start() after a store that would not open tries again; a second start or close waits for the first', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'asyncops-lifecycle-'));
    try {
      const ops = await createAsyncOps({ ...options, store: join(dir, 'not-yet', 'ops.db'), logger: { level: 'silent' } });
      // The store being away, as a request would hear it (503): an AsyncOpsError with its code, for start and submit.
      const unavailable = (error: Error & { code?: string }) => {
        assert.ok(error instanceof AsyncOpsError, String(error));
        assert.equal(error.code, 'store_unavailable');
        assert.match(error.message, /^cannot open the SQLite store at .*not-yet/);
        return true;
      };
      await assert.rejects(ops.start(), unavailable);
      await assert.rejects(ops.submit('square', { n: 1 }), unavailable);
      // So is a PostgreSQL store that cannot be reached (nothing listens on the port).
      const port = await closedPort();
      const away = await createAsyncOps({ ...options, store: `postgres://postgres@127.0.0.1:${port}/test`, logger: { level: 'silent' } });
      const pgUnavailable = (error: Error & { code?: string }) => {
        assert.ok(error instanceof AsyncOpsError, String(error));
        assert.equal(error.code, 'store_unavailable');
        assert.match(error.message, /^cannot open the PostgreSQL store at .*ECONNREFUSED/);
        return true;
      };
      await assert.rejects(away.start(), pgUnavailable);
      await assert.rejects(away.submit('square', { n: 1 }), pgUnavailable);
      await away.close();
      mkdirSync(join(dir, 'not-yet'));
      const first = ops.start();
      let firstDone = false;
      void first.then(() => (firstDone = true));
      await ops.start();
      assert.ok(firstDone, 'the second start resolved once the first had');
      const op = await ops.submit('square', { n: 2 });
      await waitFor(async () => (await ops.get(op.id)).status === 'completed', { what: 'the operation runs once started' });
      const closing = ops.close();
      let closed = false;
      void closing.then(() => (closed = true));
      await ops.close();
      assert.ok(closed, 'the second close resolved once the first had');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a close() while start() or listen() is under way waits for it, then stops what it started: nothing is left bound', async () => {
    const starting = await createAsyncOps({ ...options, logger: { level: 'silent' } });
    const order: string[] = [];
    const started = starting.start().then(
      () => order.push('started'),
      (error: Error & { code?: string }) => order.push(`refused: ${error.code}`),
    );
    await starting.close().then(() => order.push('closed'));
    await started;
    // Either the start ran to its end before the close went on, or it was refused as closed: never started after.
    assert.ok(['started,closed', 'refused: shutting_down,closed', 'closed,refused: shutting_down'].includes(order.join()), order.join());

    const listening = await createAsyncOps({ ...options, logger: { level: 'silent' } });
    const bound = listening.listen({ port: 0, host: '127.0.0.1' });
    await listening.close();
    const url = await bound.catch(() => null);
    // It either bound before the close went on, and was closed with it, or was refused.
    if (url !== null) await assert.rejects(fetch(`${url}/healthz`), 'the server it bound was closed with it');
  });

  it('submits from code under way when close() comes end stored and resolved, or refused and not stored', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'asyncops-close-'));
    try {
      const path = join(dir, 'ops.db');
      const ops = await createAsyncOps({ ...options, store: path, workers: false, logger: { level: 'silent' } });
      await ops.start();
      const outcomes = await Promise.all(
        Array.from({ length: 20 }, (_, i) => {
          const submitted = ops.submit('square', { n: i }).then(
            (op) => ({ ok: true as const, id: op.id }),
            (error: Error & { code?: string }) => ({ ok: false as const, code: error.code }),
          );
          if (i === 0) void ops.close();
          return submitted;
        }),
      );
      await ops.close();
      const db = new DatabaseSync(path);
      const stored = db.prepare('SELECT count(*) AS n FROM operations').get()!['n'];
      db.close();
      assert.deepEqual(
        outcomes.filter((o) => !o.ok).map((o) => o.code),
        outcomes.filter((o) => !o.ok).map(() => 'shutting_down'),
      );
      assert.equal(stored, outcomes.filter((o) => o.ok).length, 'every submit resolved is stored, and only those');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a handler finishing in the grace period of a close submits its next step and reads its operation; refused once drained', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'asyncops-drain-'));
    try {
      const path = join(dir, 'ops.db');
      let ops: AsyncOps | undefined;
      const started = Promise.withResolvers<void>();
      const draining = Promise.withResolvers<void>();
      const first = defineTask<Record<string, never>>({
        type: 'first',
        maxAttempts: 1,
        async run(_input, ctx) {
          started.resolve();
          await draining.promise;
          const own = await ops!.get(ctx.operationId);
          const next = await ops!.submit('second', {});
          return { own: own.status, next: next.id };
        },
      });
      const second = defineTask<Record<string, never>>({ type: 'second', run: () => ({}) });
      const settings = { store: path, tasks: [first, second], builtInTasks: false, http: false, logger: { level: 'silent' as const } };
      ops = await createAsyncOps({ ...settings, shutdownGraceMs: 10_000 });
      await ops.start();
      const op = await ops.submit('first', {});
      await started.promise;
      const closing = ops.close();
      draining.resolve();
      await closing;
      await assert.rejects(ops.submit('second', {}), { code: 'shutting_down' });

      const reopened = await createAsyncOps({ ...settings, workers: false });
      try {
        const ended = await reopened.get(op.id);
        assert.equal(ended.status, 'completed', JSON.stringify(ended.error));
        const db = new DatabaseSync(path);
        const seconds = db.prepare("SELECT count(*) AS n FROM operations WHERE type = 'second'").get()!['n'];
        db.close();
        assert.equal(seconds, 1, 'the next step was stored');
      } finally {
        await reopened.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a store whose open ends just after a close began runs nothing: calls waiting for it are refused, none stored', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const openOfStore = store.open.bind(store);
    // The open ends only when let go: the close below begins while it is under way.
    store.open = async () => {
      await openOfStore();
      await gate;
    };
    const assembly = await assembleAsyncOps({ store, tasks: [square], builtInTasks: false, http: false, logger: { level: 'silent' } });
    const submits = Array.from({ length: 5 }, (_, i) =>
      assembly
        .whileOpen(() => assembly.service.submit({ tenant: 'default', type: 'square', input: { n: i } }))
        .then(
          () => 'stored',
          (error: Error & { code?: string }) => error.code ?? error.message,
        ),
    );
    const closing = assembly.close();
    release();
    assert.deepEqual(await Promise.all(submits), Array(5).fill('shutting_down'));
    await closing;
  });

  it('PostgreSQL: submits from code while the store still opens, cut off by a close, are refused and none stored', async (t) => {
    const skip = await postgresSkipReason();
    if (skip !== null) return t.skip(skip);
    const schema = uniqueSchema();
    try {
      const ops = await createAsyncOps({ ...options, store: `${PG_URL}?schema=${schema}`, http: false, logger: { level: 'silent' } });
      // Each opens the store (migrating a new schema); the close comes before that can end.
      const outcomes = await Promise.all([
        ...Array.from({ length: 10 }, (_, i) =>
          ops.submit('square', { n: i }).then(
            () => 'stored',
            (error: Error & { code?: string }) => error.code ?? error.message,
          ),
        ),
        ops.close().then(() => 'closed'),
      ]);
      assert.deepEqual(outcomes, [...Array(10).fill('shutting_down'), 'closed']);
      const stored = await withClient(async (c) => {
        const exists = await c.query('SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2', [schema, 'operations']);
        return exists.rowCount === 0 ? 0 : Number((await c.query(`SELECT count(*) AS n FROM ${schema}.operations`)).rows[0].n);
      });
      assert.equal(stored, 0);
    } finally {
      await dropSchema(schema);
    }
  });

  it('PostgreSQL: idle connections the server ends are logged at most once a second, without the client pg attaches', async (t) => {
    const skip = await postgresSkipReason();
    if (skip !== null) return t.skip(skip);
    const schema = uniqueSchema();
    // A role of its own: its connections, and only those, are ended (other test files share the database).
    const role = `${schema}_role`;
    const database = new URL(PG_URL).pathname.slice(1);
    await withClient((c) => c.query(`CREATE ROLE ${role} LOGIN; GRANT CREATE ON DATABASE ${database} TO ${role}`));
    const url = new URL(PG_URL);
    url.username = role;
    url.searchParams.set('schema', schema);
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(line) });
    try {
      const ops = await createAsyncOps({ ...options, store: url.href, http: false, workers: false, logger });
      try {
        await Promise.all(Array.from({ length: 6 }, (_, i) => ops.submit('square', { n: i })));
        const ended = await withClient(
          async (c) => (await c.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND state = 'idle'", [role])).rowCount,
        );
        assert.ok((ended ?? 0) >= 2, `${ended} connections ended`);
        const reported = () => lines.filter((line) => line.includes('an error no request saw'));
        await waitFor(() => reported().length > 0, { timeoutMs: 10_000, what: 'the ended connections reported' });
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal(reported().length, 1, 'one line for all of them within the second');
        const line = JSON.parse(reported()[0]!) as { errors: number; err: Record<string, unknown> };
        assert.ok(line.errors >= 1);
        assert.equal(line.err['client'], undefined, 'no client: its statements and the backend cancel key stay out of logs');
        assert.doesNotMatch(reported()[0]!, /secretKey|parsedStatements/);
        assert.equal((await ops.submit('square', { n: 7 })).status, 'pending', 'the store carries on');
      } finally {
        await ops.close();
      }
    } finally {
      await dropSchema(schema);
      await withClient((c) => c.query(`REVOKE CREATE ON DATABASE ${database} FROM ${role}; DROP ROLE ${role}`));
    }
  });

  it('a listen() that cannot bind leaves the instance as it was: another listen serves', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    const ops = await createAsyncOps({ ...options, logger: { level: 'silent' } });
    closers.push(() => ops.close());
    try {
      await assert.rejects(ops.listen({ port, host: '127.0.0.1' }), /EADDRINUSE/);
    } finally {
      taken.close();
    }
    const url = await ops.listen({ port: 0, host: '127.0.0.1' });
    const created = await fetch(`${url}/operations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"type":"square","input":{"n":3}}',
    });
    assert.equal(created.status, 202);
  });

  it('submit from code stores, validates, hands on and resolves with the input as JSON writes it, not the caller’s object', async () => {
    let handed: unknown;
    const anyInput = defineTask({
      type: 'any_input',
      input: { type: 'object' },
      run: (input) => {
        handed = input;
        return null;
      },
    });
    const ops = await createAsyncOps({ ...options, tasks: [anyInput], logger: { level: 'silent' } });
    closers.push(() => ops.close());
    await ops.start();
    const input = { when: new Date(0), gone: undefined, list: [1, undefined] };
    const written = { when: '1970-01-01T00:00:00.000Z', list: [1, null] };
    const submitted = await ops.submit('any_input', input);
    assert.notEqual(submitted.input, input);
    assert.deepEqual(submitted.input, written);
    await waitFor(async () => (await ops.get(submitted.id)).status === 'completed', { what: 'the operation completes' });
    assert.deepEqual((await ops.get(submitted.id)).input, written);
    assert.deepEqual(handed, written);
  });

  it('an input left out or null is {} from code as in a request: what passes one way passes the other', async () => {
    const cleanup = defineTask({
      type: 'cleanup',
      input: { type: 'object', properties: { olderThanDays: { type: 'integer', minimum: 1 } } },
      run: (input: { olderThanDays?: number }) => ({ days: input.olderThanDays ?? 30 }),
    });
    const ops = await createAsyncOps({ ...options, tasks: [cleanup], builtInTasks: false, logger: { level: 'silent' } });
    closers.push(() => ops.close());
    const url = await ops.listen({ port: 0 });
    for (const body of [{ type: 'cleanup' }, { type: 'cleanup', input: null }]) {
      const reply = await fetch(`${url}/operations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      assert.equal(reply.status, 202, JSON.stringify(body));
      assert.deepEqual(((await reply.json()) as { input: unknown }).input, {}, JSON.stringify(body));
    }
    for (const input of [undefined, null]) {
      const submitted = await ops.submit('cleanup', input);
      assert.deepEqual(submitted.input, {}, String(input));
      await waitFor(async () => (await ops.get(submitted.id)).status === 'completed', { what: 'the operation completes' });
    }
  });

  it('returns a narrow handle: no store, service, pool or Fastify app', async () => {
    const ops = await createAsyncOps({ ...options, logger: { level: 'silent' } });
    closers.push(() => ops.close());
    assert.deepEqual(Object.keys(ops).sort(), ['close', 'get', 'handler', 'listen', 'prefix', 'start', 'submit']);
    assert.equal(ops.prefix, '');
  });

  it('serves the API from a node:http server under its prefix, and passes other paths on', async () => {
    const ops = await createAsyncOps({ ...options, prefix: '/ops/', logger: { level: 'silent' } });
    closers.push(() => ops.close());
    const server = createServer((req, res) => ops.handler(req, res, () => res.writeHead(200, { 'content-type': 'text/plain' }).end('mine')));
    const url = await listening(server);
    const early = await fetch(`${url}/ops/operations`);
    assert.equal(early.status, 503, 'not started yet');
    assert.equal(early.headers.get('retry-after'), '1');
    assert.equal(((await early.json()) as any).type, '/ops/docs/problems#shutting_down');

    await ops.start();
    assert.equal(await (await fetch(`${url}/elsewhere`)).text(), 'mine');
    const client = new AsyncOpsClient({ baseUrl: `${url}/ops` });
    const op = await client.submit('square', { n: 3 }, { waitS: 5 });
    assert.equal(op.status, 'completed');
    assert.equal(op.links.self, `/ops/operations/${op.id}`);
    assert.deepEqual((await client.result(op.id)).json(), { square: 9 });
    assert.equal((await ops.get(op.id)).status, 'completed');
    await assert.rejects(ops.submit('square', { n: 'three' }), (error: Error & { code?: string }) => error.code === 'validation_failed');
  });

  it('in Express: mounted before body parsers it reads its own bodies; behind express.json() it says so instead of hanging', async () => {
    const ops = await createAsyncOps({ ...options, prefix: '/async', logger: { level: 'silent' } });
    closers.push(() => ops.close());
    await ops.start();
    const first = express();
    first.use('/async', ops.handler);
    first.use(express.json());
    const late = express();
    late.use(express.json());
    late.use(ops.handler);
    const [url, lateUrl] = [await listening(createServer(first)), await listening(createServer(late))];
    const body = JSON.stringify({ type: 'square', input: { n: 4 } });
    const headers = { 'content-type': 'application/json', prefer: 'wait=5' };
    const created = await fetch(`${url}/async/operations`, { method: 'POST', headers, body });
    assert.equal(created.status, 200);
    assert.equal(((await created.json()) as any).result_url, `/async/squares/${created.headers.get('location')!.split('/').at(-1)}`);
    const refused = await fetch(`${lateUrl}/async/operations`, { method: 'POST', headers, body });
    assert.equal(refused.status, 500);
    const problem = (await refused.json()) as any;
    assert.match(problem.detail, /mount asyncops before body parsers/);
    assert.equal(problem.instance, '/async/operations', 'the path asked for, as on every problem');
    // An empty body behind express.json(): read to its end already, where the API would wait for an end that came.
    const empty = await fetch(`${lateUrl}/async/operations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': '0' },
      signal: AbortSignal.timeout(5_000),
    });
    assert.equal(empty.status, 500);
    assert.match(((await empty.json()) as any).detail, /mount asyncops before body parsers/);
  });

  it("without a prefix, a node:http server's handler answers the API's own paths and passes the app's on", async () => {
    const ops = await createAsyncOps({ ...options, logger: { level: 'silent' } });
    closers.push(() => ops.close());
    await ops.start();
    const server = createServer((req, res) => ops.handler(req, res, () => res.writeHead(200, { 'content-type': 'text/plain' }).end('mine')));
    const url = await listening(server);
    assert.equal((await fetch(`${url}/operations`)).status, 200);
    assert.equal((await fetch(`${url}/openapi.json`)).status, 200);
    for (const path of ['/', '/users/42', '/operationsx']) assert.equal(await (await fetch(`${url}${path}`)).text(), 'mine', path);
    const app = express();
    app.use(ops.handler);
    app.get('/mine', (_req, res) => void res.send('mine'));
    const expressUrl = await listening(createServer(app));
    assert.equal(await (await fetch(`${expressUrl}/mine`)).text(), 'mine');
    assert.equal((await fetch(`${expressUrl}/operations`)).status, 200);
  });

  it('mounted by Express at a path its prefix does not name, it says which prefix to give', async () => {
    const ops = await createAsyncOps({ ...options, logger: { level: 'silent' } });
    closers.push(() => ops.close());
    await ops.start();
    const app = express();
    app.use('/jobs', ops.handler);
    const url = await listening(createServer(app));
    const refused = await fetch(`${url}/jobs/operations`);
    assert.equal(refused.status, 500);
    assert.match(((await refused.json()) as any).detail, /mounted at \/jobs .* prefix: '\/jobs'/);
  });

  it('under a prefix, API keys guard all but the open routes, and a stream token opens its event stream', async () => {
    const ops = await createAsyncOps({
      ...options,
      prefix: '/async',
      apiKeys: [{ tenant: 'acme', key: 'k-acme-0123456789abcdef' }],
      logger: { level: 'silent' },
    });
    closers.push(() => ops.close());
    const url = await ops.listen({ port: 0 });
    assert.equal(url.endsWith('/async'), true);
    for (const open of ['/healthz', '/openapi.json', '/docs/problems']) assert.equal((await fetch(`${url}${open}`)).status, 200, open);
    const refused = await fetch(`${url}/operations`);
    assert.equal(refused.status, 401);
    assert.equal(((await refused.json()) as any).type, '/async/docs/problems#unauthorized');
    const op = await ops.submit('square', { n: 5 }, { tenant: 'acme' });
    const granted = await fetch(`${url}/operations/${op.id}/stream-token`, { method: 'POST', headers: { authorization: 'Bearer k-acme-0123456789abcdef' } });
    const { token } = (await granted.json()) as any;
    const stream = await fetch(`${url}/operations/${op.id}/events?token=${token}`);
    assert.equal(stream.status, 200);
    await stream.body?.cancel();
  });

  it('refuses, as the command line does, values out of the bounds of their settings, naming the option', async () => {
    const refused: Array<[Record<string, unknown>, RegExp]> = [
      [{ maxResultBytes: 300 * 1024 * 1024 }, /^maxResultBytes: must be between 1kb and 200mb/],
      // What the environment or a JSON file gives: truthy, it turned on what it meant to turn off.
      [{ allowPrivateWebhooks: 'false' }, /^allowPrivateWebhooks must be true or false \(got "false"\)$/],
      [{ builtInTasks: 'false' }, /^builtInTasks must be true or false/],
      [{ workers: 0 }, /^workers must be true or false \(got 0\)$/],
      [{ http: 'no' }, /^http must be true or false/],
      [{ dashboard: null }, /^dashboard must be true or false \(got null\)$/],
      [{ logger: 'debug' }, /^logger: give a pino logger, or options for one \(got "debug"\)$/],
      [{ logger: null }, /^logger: give a pino logger, or options for one/],
      [{ logger: [] }, /^logger: give a pino logger, or options for one/],
      [{ logger: { info() {} } }, /^logger: a logger needs child\(\)/],
      [{ retentionMs: Number.NaN }, /^retentionMs must be a finite number/],
      [{ retentionMs: -1 }, /^retentionMs must be 0 or more milliseconds/],
      [{ retentionMs: 0 }, /^retentionMs: must be at least 1s: a retention of 0 would delete every finished operation at once/],
      [{ resultRetentionMs: 500 }, /^resultRetentionMs: must be at least 1s/],
      [{ keyConcurrency: 0 }, /^keyConcurrency must be an integer from 1 to 100000/],
      [{ leaseMs: 10 }, /^leaseMs: must be at least 100ms/],
      [{ readCacheMs: 100_000 }, /^readCacheMs: must be at most 10s/],
      [{ maxStreamsPerKey: 0 }, /^maxStreamsPerKey must be an integer/],
      [{ corsOrigins: '' }, /^corsOrigins: names no origin/],
      [{ corsOrigins: 'app.example.com' }, /^corsOrigins: app\.example\.com is not an origin/],
      [{ webhookSecrets: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }, /^webhookSecrets: an array of secrets/],
      [{ webhookSecrets: [] }, /^webhookSecrets: names no secret/],
      [{ webhookSecrets: [5] }, /^webhookSecrets\[0\]: not a string/],
      [{ logger: { level: 'verbose' } }, /^logger: .*verbose/],
      [{ sseKeepaliveMs: 500 }, /^sseKeepaliveMs: must be at least 1s/],
      [{ maxSchedules: 0 }, /^maxSchedules must be a whole number from 1 to 1000000, or null/],
      [{ maxSchedules: 'off' }, /^maxSchedules must be a whole number/],
      [{ maxBodyDepth: 0 }, /^maxBodyDepth must be an integer/],
      [{ tasks: 5 }, /^tasks: a task, or an array of tasks, as defineTask makes them$/],
      [{ tasks: [null] }, /^tasks: a task, or an array of tasks/],
      [{ maxPriority: 5000 }, /^maxPriority must be an integer from -1000 to 1000/],
      [{ resultRetentionMs: 'x' }, /^resultRetentionMs must be a finite number/],
      [{ apiKeys: 'x' }, /^apiKeys must be an array/],
      [{ apiKeys: [{ tenant: 'a b', key: 'k-acme-0123456789abcdef' }] }, /^apiKeys\[0\]: the tenant must be/],
      [{ apiKeys: [{ tenant: 'a' }] }, /^apiKeys\[0\]: give a key/],
      // Each of these was taken, and broke the instance (no limit, every create refused, no backoff, no submit).
      [
        {
          apiKeys: [
            { tenant: 'alice', key: 'k'.repeat(20) },
            { tenant: 'bob', key: 'k'.repeat(20) },
          ],
        },
        /^apiKeys: a key is configured twice/,
      ],
      [
        {
          apiKeys: [
            { tenant: 'a', key: 'k'.repeat(20), weight: 1 },
            { tenant: 'a', key: 'j'.repeat(20), weight: 2 },
          ],
        },
        /^apiKeys: tenant a has two different weight/,
      ],
      [{ rateLimits: { create: '1/s' } }, /^rateLimits\.create must be \{ max: 1\.\.1000000/],
      [{ rateLimits: { create: { max: 0, windowMs: 1000 } } }, /^rateLimits\.create must be/],
      [{ rateLimits: { read: { max: 5, windowMs: 0 } } }, /^rateLimits\.read must be/],
      [{ rateLimits: { creates: null } }, /^rateLimits must be \{ create\?, read\? \}/],
      [{ retryBackoff: { baseMs: -1000, maxMs: -1000, factor: 2 } }, /^retryBackoff\.baseMs must be/],
      [{ retryBackoff: { baseMs: 1000, maxMs: Number.NaN, factor: 2 } }, /^retryBackoff\.maxMs must be 0 ms to 3650 days/],
      [{ retryBackoff: { baseMs: 1000, maxMs: 5000, factor: 0.5 } }, /^retryBackoff\.factor must be/],
      [{ webhookScheduleMs: [] }, /^webhookScheduleMs must be a non-empty array/],
      [{ webhookScheduleMs: [1000, Number.NaN] }, /^webhookScheduleMs\[1\] must be/],
      [{ webhookSecrets: ['nope'] }, /^webhookSecrets\[0\]: /],
      [{ limits: { maxTimeoutS: 1.5 } }, /^limits\.maxTimeoutS: must be a whole number of seconds/],
      [{ limits: { maxAttempts: 0 } }, /^limits\.maxAttempts must be a whole number from 1 to 25/],
      [{ limits: { maxListLimit: -1 } }, /^limits\.maxListLimit must be a whole number from 1 to 200/],
    ];
    for (const [bad, message] of refused) {
      await assert.rejects(createAsyncOps({ ...options, ...bad } as never), (error: unknown) => {
        assert.ok(error instanceof TypeError && message.test(error.message), `${JSON.stringify(bad)}: ${String(error)}`);
        return true;
      });
    }
    // An empty array of origins is none, as leaving the option out is.
    const noOrigins = await createAsyncOps({ ...options, corsOrigins: [], logger: { level: 'silent' } });
    await noOrigins.close();
  });

  it('refuses an option it does not know, naming the nearest it does: a misspelt one would be ignored', async () => {
    await assert.rejects(
      createAsyncOps({ ...options, concurency: 50 } as never),
      /^TypeError: createAsyncOps: unknown option "concurency" \(did you mean "concurrency"\?\)$/,
    );
    await assert.rejects(createAsyncOps({ ...options, clock: { now: () => 0 } } as never), /^TypeError: createAsyncOps: unknown option "clock"$/);
    // A store it cannot read as one is an invalid option too, named.
    await assert.rejects(
      createAsyncOps({ ...options, store: 'mysql://db.example/ops' }),
      /^TypeError: store: unsupported scheme in "mysql:\/\/db.example\/ops"/,
    );
    await assert.rejects(createAsyncOps({ ...options, store: '  ' }), /^TypeError: store: the specification is empty/);
    const app = Fastify();
    closers.push(() => app.close());
    await assert.rejects(async () => {
      await app.register(asyncopsPlugin, { ...options, LeaseMs: 5_000, logger: { level: 'silent' } } as never);
    }, /^TypeError: asyncops plugin: unknown option "LeaseMs" \(did you mean "leaseMs"\?\)$/);
    // Fastify reads neither of a plugin in its parent's scope, as this one is: taken, they would be ignored too.
    for (const fastifyOwn of ['logLevel', 'logSerializers']) {
      await assert.rejects(
        async () => {
          await Fastify().register(asyncopsPlugin, { ...options, [fastifyOwn]: 'warn' } as never);
        },
        new RegExp(`^TypeError: asyncops plugin: unknown option "${fastifyOwn}"$`),
      );
    }
    // The nearest option, not the first near one; a short key only one letter off.
    for (const [misspelt, hint] of [
      ['keConcurrency', ' (did you mean "keyConcurrency"?)'],
      ['otlp', ''],
      ['ttl', ''],
      ['htp', ' (did you mean "http"?)'],
    ]) {
      await assert.rejects(createAsyncOps({ ...options, [misspelt!]: 1 } as never), { message: `createAsyncOps: unknown option "${misspelt}"${hint}` });
    }
  });

  it('refuses a prefix that is not a plain path', async () => {
    await assert.rejects(createAsyncOps({ ...options, prefix: 'async' }), TypeError);
    await assert.rejects(createAsyncOps({ ...options, prefix: '/:tenant' }), TypeError);
    // Routes under an escaped prefix would never match (the router decodes the path first): refused, not served as 404s.
    await assert.rejects(createAsyncOps({ ...options, prefix: '/a%20b' }), /^TypeError: prefix "\/a%20b" must be a path such as \/async/);
  });

  it('refuses a webhook lease less than 1 s longer than the webhook timeout when created, before it binds or opens anything', async () => {
    await assert.rejects(
      createAsyncOps({ ...options, webhookLeaseMs: 5_000 }),
      /webhookLeaseMs: must be at least 1s longer than webhookTimeoutMs \(5000 ms against 10000 ms\)/,
    );
    await assert.rejects(createAsyncOps({ ...options, webhookTimeoutMs: 2_000, webhookLeaseMs: 2_500 }), /webhookLeaseMs: must be at least 1s longer/);
  });

  it('a listen whose workers cannot start rejects and leaves no server behind taking work it would never run', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as { port: number };
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    // A malformed secret in the store (written by hand) is found when the webhook dispatcher starts, after the server
    // has bound: the secrets an embedder gives are checked when the instance is made.
    const dir = mkdtempSync(join(tmpdir(), 'asyncops-embed-'));
    try {
      const file = join(dir, 'asyncops.db');
      const first = await createAsyncOps({ ...options, store: file });
      await first.start();
      await first.close();
      const db = new DatabaseSync(file);
      db.prepare("UPDATE settings SET value = 'whsec_not base64!' WHERE key = 'webhook_secret'").run();
      db.close();
      const ops = await createAsyncOps({ ...options, store: file });
      await assert.rejects(ops.listen({ port }), /secret/);
      await ops.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5_000) }), 'the port is closed again');
  });
});
