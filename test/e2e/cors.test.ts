// End to end on the real server process started with --cors-origin and API keys: preflights and cross-origin replies
// for an allowed and a refused origin, and stream tokens (how an EventSource streams with a key); then all of it from
// a page in headless Chromium on a second local origin (skipped without /usr/bin/chromium, except under CI=true).

import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { join, normalize } from 'node:path';
import type { Browser } from 'playwright-core';
import { CLI_ENTRY, REPO_ROOT, startServer, type ServerProcess, STORE_INDEPENDENT } from '../support/server.ts';
import { request } from '../support/http.ts';
import { launchChromium } from '../support/chromium.ts';

const KEY = 'alpha-key-7Hc2vN9qLm4xW8rT';
const KEY_B = 'beta-key-Y6uJ0aS5dF2gH9kL';

/** The page a browser loads from another origin: a client of the API, as a front end would write it. */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>asyncops CORS client</title>
<script>
  // Submit with the key, read the exposed headers, then stream with a token: an EventSource cannot send Authorization.
  window.submitAndStream = async (api, key) => {
    const created = await fetch(api + '/operations', {
      method: 'POST',
      headers: { authorization: 'Bearer ' + key, 'content-type': 'application/json', 'idempotency-key': 'page-1' },
      // Long enough that a loaded machine opens the stream while it still reports progress.
      body: JSON.stringify({ type: 'sleep', input: { ms: 2000, steps: 8 } }),
    });
    const headers = {};
    for (const name of ['location', 'etag', 'retry-after', 'ratelimit-limit', 'ratelimit-remaining', 'content-type']) headers[name] = created.headers.get(name);
    const operation = await created.json();
    const minted = await fetch(api + headers.location + '/stream-token', { method: 'POST', headers: { authorization: 'Bearer ' + key } });
    const { token, expires_at } = await minted.json();
    const events = await stream(api + headers.location + '/events?token=' + encodeURIComponent(token));
    return { status: created.status, headers, id: operation.id, token, expires_at, events };
  };

  // Every event until the terminal one; rejects if the stream is refused or nothing ends within the bound.
  window.stream = (url) => new Promise((resolve, reject) => {
    const seen = [];
    const source = new EventSource(url);
    const timer = setTimeout(() => { source.close(); reject(new Error('no terminal event within 15 s: ' + JSON.stringify(seen))); }, 15000);
    const onEvent = (event) => {
      const status = JSON.parse(event.data).status;
      seen.push({ type: event.type, id: event.lastEventId, status });
      if (status === 'completed' || status === 'failed' || status === 'cancelled') {
        clearTimeout(timer);
        source.close();
        resolve(seen);
      }
    };
    source.addEventListener('status', onEvent);
    source.addEventListener('progress', onEvent);
    source.onerror = () => {
      if (source.readyState !== EventSource.CLOSED) return;
      clearTimeout(timer);
      reject(new Error('refused: ' + JSON.stringify(seen)));
    };
  });

  window.tryFetch = async (url, init) => {
    try {
      const response = await fetch(url, init);
      return { ok: true, status: response.status, body: await response.text() };
    } catch (error) {
      return { ok: false, error: String(error) };
    }
  };
</script>
<p>asyncops CORS client</p>
`;

const pageServers: Server[] = [];
let server: ServerProcess;
let api: string;
let pageOrigin: string;
let otherOrigin: string;

/** The SDK's own sources under /sdk/ (src/client, and signing/ and json/ it imports), their types stripped, as a bundler would serve them. */
function sdkModule(path: string): string | null {
  const file = normalize(join(REPO_ROOT, 'src', path.slice('/sdk/'.length)));
  if (!/^(client|signing|json)\/[\w-]+\.ts$/.test(file.slice(join(REPO_ROOT, 'src').length + 1))) return null;
  return stripTypeScriptTypes(readFileSync(file, 'utf8'));
}

/** A node:http server on 127.0.0.1 serving PAGE (and the SDK); a port of its own makes it an origin of its own. */
async function servePage(): Promise<string> {
  const page = createServer((req, res) => {
    const module = req.url?.startsWith('/sdk/') ? sdkModule(req.url) : null;
    if (req.url === '/') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
    else if (module !== null) res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(module);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => page.listen(0, '127.0.0.1', resolve));
  pageServers.push(page);
  return `http://127.0.0.1:${(page.address() as AddressInfo).port}`;
}

const as = (key: string | null, origin: string | null = null): Record<string, string> => ({
  ...(key === null ? {} : { authorization: `Bearer ${key}` }),
  ...(origin === null ? {} : { origin }),
});

async function submit(key = KEY, input: Record<string, unknown> = {}): Promise<string> {
  const created = await request(api, 'POST', '/operations', { body: { type: 'echo', input }, headers: as(key) });
  assert.equal(created.status, 202, created.text);
  return created.body.id;
}

/** The raw event stream of a GET, read to its end (the server closes it after the terminal event), within 10 s. */
async function readStream(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; text: string }> {
  const response = await fetch(api + path, { headers, signal: AbortSignal.timeout(10_000) });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

before(async () => {
  pageOrigin = await servePage();
  otherOrigin = await servePage();
  server = await startServer({ args: ['--cors-origin', `${pageOrigin}/`, '--log-level', 'trace'], env: { ASYNCOPS_API_KEYS: `acme:${KEY},globex:${KEY_B}` } });
  api = server.url;
});
after(async () => {
  await server?.stop();
  await Promise.all(pageServers.map((page) => new Promise<void>((resolve) => page.close(() => resolve()))));
});

describe('CORS over HTTP', STORE_INDEPENDENT, () => {
  it('a preflight from an allowed origin is answered 204 before authentication, naming what a page may send', async () => {
    const preflight = await request(api, 'OPTIONS', '/operations', {
      headers: {
        origin: pageOrigin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type,idempotency-key,prefer',
      },
    });
    assert.equal(preflight.status, 204, preflight.text);
    assert.equal(preflight.headers.get('access-control-allow-origin'), pageOrigin);
    const methods = preflight.headers.get('access-control-allow-methods')?.split(/,\s*/) ?? [];
    for (const method of ['GET', 'POST', 'DELETE']) assert.ok(methods.includes(method), method);
    const allowed = (preflight.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/,\s*/);
    for (const header of [
      'authorization',
      'content-type',
      'idempotency-key',
      'prefer',
      'if-match',
      'if-none-match',
      'last-event-id',
      'traceparent',
      'tracestate',
      // The SDK sends its own, and Firefox asks leave for it (Chromium drops it without asking).
      'user-agent',
    ])
      assert.ok(allowed.includes(header), header);
    assert.equal(preflight.headers.get('access-control-max-age'), '600');
    assert.equal(preflight.headers.get('access-control-allow-credentials'), null, 'no cookies: the key travels in Authorization');
    assert.equal(preflight.headers.get('ratelimit-limit'), null, 'answered before the rate limiter counts it');
    assert.match(preflight.headers.get('vary') ?? '', /\bOrigin\b/);

    const streamPreflight = await request(api, 'OPTIONS', '/operations/op_01M8VCEYCTYW3QQ421EKPNJQJ0/events', {
      headers: { origin: pageOrigin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'last-event-id' },
    });
    assert.equal(streamPreflight.status, 204);
  });

  it('a reply to an allowed origin can be read: its origin is allowed and the headers a client acts on exposed, errors too', async () => {
    const created = await request(api, 'POST', '/operations', {
      body: { type: 'echo', input: {} },
      headers: { ...as(KEY, pageOrigin), 'idempotency-key': 'cors-1', prefer: 'wait=5' },
    });
    assert.ok([200, 202].includes(created.status), created.text);
    assert.equal(created.headers.get('access-control-allow-origin'), pageOrigin);
    const exposed = (created.headers.get('access-control-expose-headers') ?? '').toLowerCase().split(/,\s*/);
    for (const header of [
      'location',
      'retry-after',
      'etag',
      'preference-applied',
      'idempotent-replayed',
      'ratelimit-limit',
      'ratelimit-remaining',
      'ratelimit-reset',
      'www-authenticate',
    ]) {
      assert.ok(exposed.includes(header), header);
    }
    for (const [status, reply] of [
      [401, await request(api, 'GET', '/operations', { headers: as(null, pageOrigin) })],
      [404, await request(api, 'GET', '/operations/op_01M8VCEYCTYW3QQ421EKPNJQJ0', { headers: as(KEY, pageOrigin) })],
      // Refused before any route or hook runs (a path that is not percent-encoded UTF-8): readable all the same.
      [400, await request(api, 'GET', '/operations/%FF', { headers: as(KEY, pageOrigin) })],
    ] as const) {
      assert.equal(reply.status, status);
      assert.equal(reply.headers.get('access-control-allow-origin'), pageOrigin, `a ${status} problem is readable by the page`);
    }
    const other = await request(api, 'GET', '/operations/%FF', { headers: as(KEY, otherOrigin) });
    assert.equal(other.status, 400);
    assert.equal(other.headers.get('access-control-allow-origin'), null, 'not by a page on another origin');
  });

  it('any other origin gets no CORS header, on a preflight or a reply, so its browser refuses both', async () => {
    const preflight = await request(api, 'OPTIONS', '/operations', {
      headers: { origin: otherOrigin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
    });
    assert.notEqual(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), null);
    assert.equal(preflight.headers.get('access-control-allow-headers'), null);
    const read = await request(api, 'GET', '/operations', { headers: as(KEY, otherOrigin) });
    assert.equal(read.status, 200, 'a client that is not a browser is not stopped by CORS: the key is what protects the API');
    const options = await request(api, 'OPTIONS', '/operations', { headers: as(KEY) });
    assert.deepEqual(
      [options.status, options.headers.get('allow')],
      [204, 'OPTIONS, GET, HEAD, POST'],
      'an OPTIONS that is not a preflight: what the path answers',
    );
    assert.equal(read.headers.get('access-control-allow-origin'), null);
    assert.equal(read.headers.get('access-control-expose-headers'), null);
  });
});

describe('stream tokens', () => {
  it('a key mints a five-minute token for one of its operations; the token opens that event stream, cross-origin', async () => {
    const id = await submit();
    assert.equal((await request(api, 'POST', `/operations/${id}/stream-token`)).status, 401, 'a token is minted with a key');
    assert.equal((await request(api, 'POST', `/operations/${id}/stream-token`, { headers: as(KEY_B) })).status, 404, "another tenant's operation");
    const before = Date.now();
    const minted = await request(api, 'POST', `/operations/${id}/stream-token`, { headers: as(KEY, pageOrigin) });
    assert.equal(minted.status, 200, minted.text);
    assert.equal(minted.headers.get('cache-control'), 'no-store');
    assert.equal(minted.headers.get('access-control-allow-origin'), pageOrigin);
    const { token, expires_at: expiresAt } = minted.body as { token: string; expires_at: string };
    assert.notEqual(token, KEY);
    assert.ok(!token.includes(KEY));
    const ttl = Date.parse(expiresAt) - before;
    assert.ok(ttl > 295_000 && ttl <= 300_500, `expires in five minutes, not ${ttl} ms`);

    const stream = await readStream(`/operations/${id}/events?token=${encodeURIComponent(token)}`, { origin: pageOrigin });
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(stream.headers.get('access-control-allow-origin'), pageOrigin, 'a hijacked stream keeps its CORS headers');
    assert.match(stream.text, /"status":"completed"/);
    const head = await request(api, 'HEAD', `/operations/${id}/events?token=${encodeURIComponent(token)}`);
    assert.equal(head.status, 200, 'HEAD answers as GET would, with the token too');
    assert.match(head.headers.get('content-type') ?? '', /^text\/event-stream/);
  });

  it("a token opens nothing else: not another operation's stream, not another route, not once altered", async () => {
    const id = await submit();
    const other = await submit();
    const { token } = (await request(api, 'POST', `/operations/${id}/stream-token`, { headers: as(KEY) })).body as { token: string };
    const q = `?token=${encodeURIComponent(token)}`;
    for (const [what, path] of [
      ["another operation's stream", `/operations/${other}/events${q}`],
      ['an altered token', `/operations/${id}/events?token=${encodeURIComponent(token.slice(0, -3))}AAA`],
      ['not a token', `/operations/${id}/events?token=${KEY}`],
    ] as const) {
      const refused = await request(api, 'GET', path, { headers: { origin: pageOrigin } });
      assert.equal(refused.status, 401, what);
      assert.match(refused.headers.get('www-authenticate') ?? '', /error="invalid_token"/, what);
      assert.match(refused.body.detail, /stream token/, what);
    }
    for (const [method, path] of [
      ['GET', `/operations/${id}${q}`],
      ['GET', `/operations${q}`],
      ['GET', `/operations/${id}/result${q}`],
      ['POST', `/operations/${id}/cancel${q}`],
    ] as const) {
      assert.equal((await request(api, method, path)).status, 401, `${method} ${path.split('?')[0]}`);
    }
  });

  it("a token in a URL never reaches the server's logs (trace level)", async () => {
    const id = await submit();
    const { token } = (await request(api, 'POST', `/operations/${id}/stream-token`, { headers: as(KEY) })).body as { token: string };
    await readStream(`/operations/${id}/events?token=${encodeURIComponent(token)}`);
    await request(api, 'GET', `/operations/${id}/events?token=${encodeURIComponent(token)}x`);
    const logs = JSON.stringify(server.logs) + server.stderr();
    assert.ok(server.logs.length > 0);
    assert.ok(!logs.includes(token.split('.')[2]!), 'the token is not logged');
    assert.ok(!logs.includes(KEY));
  });
});

describe('CORS configuration', STORE_INDEPENDENT, () => {
  const run = (args: readonly string[], env: Record<string, string | undefined>) =>
    spawnSync(process.execPath, [CLI_ENTRY, 'serve', '--port', '0', '--store', ':memory:', ...args], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 20_000,
      env: { ...process.env, ASYNCOPS_API_KEYS: undefined, ASYNCOPS_API_KEYS_FILE: undefined, ASYNCOPS_CORS_ORIGIN: undefined, ...env },
    });

  it('is off by default: no preflight answer, no CORS header', async () => {
    const plain = await startServer({});
    try {
      const preflight = await request(plain.url, 'OPTIONS', '/operations', { headers: { origin: pageOrigin, 'access-control-request-method': 'POST' } });
      assert.notEqual(preflight.status, 204);
      assert.equal(preflight.headers.get('access-control-allow-origin'), null);
      assert.equal((await request(plain.url, 'GET', '/operations', { headers: { origin: pageOrigin } })).headers.get('access-control-allow-origin'), null);
    } finally {
      await plain.stop();
    }
  });

  it('`*` (from ASYNCOPS_CORS_ORIGIN) lets any origin read, with API keys; without them it stops start-up with exit 2', async () => {
    const anyOrigin = await startServer({ env: { ASYNCOPS_CORS_ORIGIN: '*', ASYNCOPS_API_KEYS: `acme:${KEY}` } });
    try {
      const reply = await request(anyOrigin.url, 'GET', '/operations', { headers: as(KEY, 'https://anywhere.example') });
      assert.equal(reply.status, 200);
      assert.equal(reply.headers.get('access-control-allow-origin'), '*');
      assert.equal(reply.headers.get('access-control-allow-credentials'), null);
    } finally {
      await anyOrigin.stop();
    }
    const refused = run([], { ASYNCOPS_CORS_ORIGIN: '*' });
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(refused.stderr, /^asyncops: ASYNCOPS_CORS_ORIGIN: refusing to allow every origin \(`\*`\) without API keys/);
    const bad = run(['--cors-origin', 'https://app.example.com/path'], {});
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /without a path/);
    // Set to nothing (a compose file's unset variable) is refused as every setting's empty value is, not taken as CORS off.
    const empty = run([], { ASYNCOPS_CORS_ORIGIN: '' });
    assert.equal(empty.status, 2, empty.stderr);
    assert.match(empty.stderr, /ASYNCOPS_CORS_ORIGIN.*names no origin/);
  });
});

describe('in headless Chromium, from a page on another origin', STORE_INDEPENDENT, () => {
  let browser: Browser | null = null;
  after(async () => {
    await browser?.close();
  });

  async function openPage(t: TestContext, origin: string) {
    browser ??= await launchChromium(t);
    if (browser === null) return null;
    const page = await browser.newPage();
    page.setDefaultTimeout(20_000);
    await page.goto(`${origin}/`);
    return page;
  }

  it('submits with its key, reads Location and ETag, and streams to the terminal event with a stream token', async (t) => {
    const page = await openPage(t, pageOrigin);
    if (page === null) return;
    const result = await page.evaluate(([base, key]) => (globalThis as any).submitAndStream(base, key), [api, KEY] as const);
    assert.equal(result.status, 202);
    assert.match(result.headers.location, /^\/operations\/op_[0-9A-Z]{26}$/);
    assert.equal(result.headers.location, `/operations/${result.id}`);
    assert.equal(result.headers.etag, `W/"${result.id}.1"`);
    assert.match(result.headers['retry-after'], /^\d+$/);
    assert.match(result.headers['ratelimit-remaining'], /^\d+$/);
    const statuses = result.events.map((e: { status: string }) => e.status);
    assert.equal(statuses.at(-1), 'completed', JSON.stringify(result.events));
    assert.ok(
      result.events.some((e: { type: string }) => e.type === 'progress'),
      'progress events arrive too',
    );
    assert.ok(!page.url().includes(KEY) && !result.token.includes(KEY));
  });

  it("the SDK, as it is, with the browser's own fetch: submits, follows to the end with wait() and with events(), reads the result", async (t) => {
    const page = await openPage(t, pageOrigin);
    if (page === null) return;
    const outcome = await page.evaluate(
      async ([base, key]) => {
        const { AsyncOpsClient } = await import('/sdk/client/index.ts' as string);
        // No retries: a failure is said at once, not after a minute of tries.
        const client = new AsyncOpsClient({ baseUrl: base, apiKey: key, retry: { retries: 0 } });
        try {
          const submitted = await client.submit('echo', { from: 'a page' });
          const seen: string[] = [];
          const done = await client.wait(submitted.id, { timeoutMs: 15_000, onProgress: (op: { status: string }) => seen.push(op.status) });
          const result = await client.result(submitted.id);
          // The event stream, read through the page's fetch with the key (no stream token) until its terminal event.
          const slept = await client.submit('sleep', { ms: 600, steps: 3 });
          const events: Array<[string, string]> = [];
          for await (const e of client.events(slept.id, { signal: AbortSignal.timeout(15_000) })) events.push([e.type, e.operation.status]);
          return { status: done.status, seen, result: result.json(), events, token: typeof (await client.streamToken(slept.id)).token };
        } catch (error) {
          return { error: String(error) };
        }
      },
      [api, KEY] as const,
    );
    assert.deepEqual({ status: outcome.status, last: outcome.seen?.at(-1) }, { status: 'completed', last: 'completed' }, JSON.stringify(outcome));
    assert.deepEqual(outcome.result, { echo: { from: 'a page' } });
    assert.equal(outcome.events?.at(-1)?.[1], 'completed', JSON.stringify(outcome));
    assert.ok(
      outcome.events?.some(([type]) => type === 'progress'),
      JSON.stringify(outcome),
    );
    assert.equal(outcome.token, 'string');
  });

  it('an EventSource without a valid token is refused and closed', async (t) => {
    const page = await openPage(t, pageOrigin);
    if (page === null) return;
    const id = await submit();
    const outcome = await page.evaluate(
      (url) =>
        (globalThis as any).stream(url).then(
          () => 'opened',
          (e: Error) => e.message,
        ),
      `${api}/operations/${id}/events?token=st1.forged.token`,
    );
    assert.match(outcome, /^refused/);
  });

  it('a page on an origin that is not allowed can neither submit nor read', async (t) => {
    const page = await openPage(t, otherOrigin);
    if (page === null) return;
    const count = async () => (await request(api, 'GET', '/operations?limit=200', { headers: as(KEY) })).body.items.length;
    const before = await count();
    const submitted = await page.evaluate(
      ([base, key]) =>
        (globalThis as any).tryFetch(`${base}/operations`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ type: 'echo', input: {} }),
        }),
      [api, KEY] as const,
    );
    assert.equal(submitted.ok, false, JSON.stringify(submitted));
    assert.match(submitted.error, /TypeError/);
    assert.equal(await count(), before, 'the preflight failed, so the POST was never sent');
    const read = await page.evaluate((base) => (globalThis as any).tryFetch(`${base}/healthz`), api);
    assert.equal(read.ok, false, 'even an open route cannot be read from another origin');
    // The SDK there: the browser tells it no more than "Failed to fetch", so its error names the likely cause too.
    const fromSdk = await page.evaluate(
      async ([base, key]) => {
        const { AsyncOpsClient } = await import('/sdk/client/index.ts' as string);
        return new AsyncOpsClient({ baseUrl: base, apiKey: key, retry: { retries: 0 } }).whoami().then(
          () => 'read',
          (error: Error) => `${error.name}: ${error.message}`,
        );
      },
      [api, KEY] as const,
    );
    assert.match(fromSdk, /^AsyncOpsNetworkError: cannot reach .*is this page's origin in its --cors-origin\?\)/);
  });
});
