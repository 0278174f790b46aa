// End to end on the real server process: problem types that lead to their documentation on the server itself,
// `instance` on every problem, 405 with Allow for a method a path does not answer, RFC 6750 challenges on 401, and
// `If-None-Match: *`.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { ERROR_CODES } from '../../src/domain/errors.ts';
import { startServer, type ServerProcess } from '../support/server.ts';
import { request } from '../support/http.ts';

/** A GET of `path` exactly as written, where fetch would resolve dot segments first; its status and problem. */
function rawGet(base: string, path: string): Promise<{ status: number; problem: any }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}/`, { path, signal: AbortSignal.timeout(5_000) }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, problem: JSON.parse(body) }));
      res.on('error', reject);
    });
    req.on('error', reject).end();
  });
}

const KEY = 'problems-key-H7vN2qWx9Lr4';
let server: ServerProcess;
let keyed: ServerProcess;
let base: string;

const allowOf = (headers: Headers) =>
  (headers.get('allow') ?? '')
    .split(',')
    .map((m) => m.trim())
    .sort();

before(async () => {
  [server, keyed] = await Promise.all([startServer(), startServer({ args: ['--api-keys', `alpha:${KEY}`] })]);
  base = server.url;
});
after(async () => {
  await Promise.all([server, keyed].map((s) => s?.stop()));
});

describe('problems', () => {
  it('a problem type resolves to its documentation on the server, open without a key, with an anchor for every code', async () => {
    const problem = await request(keyed.url, 'GET', '/operations/op_nope', { headers: { authorization: `Bearer ${KEY}` } });
    assert.equal(problem.status, 404);
    const type = new URL(problem.body.type, `${keyed.url}/operations/op_nope`);
    assert.equal(type.hash, '#not_found');
    const docs = await fetch(type, { signal: AbortSignal.timeout(5000) });
    assert.equal(docs.status, 200, 'no key needed to read the documentation');
    assert.match(docs.headers.get('content-type') ?? '', /^text\/html/);
    const html = await docs.text();
    for (const code of [...ERROR_CODES, 'internal']) assert.match(html, new RegExp(`id="${code}"`), `an anchor for ${code}`);
    // Every type the server sends is one of those anchors.
    for (const code of ERROR_CODES) assert.ok(html.includes(`<code>${code}</code>`), `${code} is named`);
  });

  it('the unknown-route 404 names its instance', async () => {
    const response = await request(base, 'GET', '/nowhere?x=1');
    assert.equal(response.status, 404);
    assert.equal(response.body.code, 'not_found');
    assert.equal(response.body.instance, '/nowhere');
  });

  it('a method a path does not answer is 405 with Allow; a path that does not exist is still 404', async () => {
    const created = await request(base, 'POST', '/operations', { body: { type: 'echo', input: {} } });
    const cases: Array<[string, string, string[]]> = [
      ['PUT', '/operations', ['GET', 'HEAD', 'POST']],
      ['PATCH', `/operations/${created.body.id}`, ['DELETE', 'GET', 'HEAD']],
      ['POST', `/operations/${created.body.id}`, ['DELETE', 'GET', 'HEAD']],
      ['GET', `/operations/${created.body.id}/cancel`, ['POST']],
      ['DELETE', '/healthz', ['GET', 'HEAD']],
      ['POST', '/echoes/op_x', ['GET', 'HEAD']],
    ];
    for (const [method, path, allowed] of cases) {
      const response = await request(base, method, path, { body: method === 'GET' ? undefined : {} });
      assert.equal(response.status, 405, `${method} ${path}`);
      assert.deepEqual(allowOf(response.headers), allowed, `${method} ${path}`);
      assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.equal(response.body.code, 'method_not_allowed');
      assert.equal(response.body.status, 405);
      assert.equal(response.body.instance, path);
    }
    const head = await fetch(`${base}/operations/${created.body.id}/cancel`, { method: 'HEAD', signal: AbortSignal.timeout(5000) });
    assert.equal(head.status, 405);
    assert.deepEqual(allowOf(head.headers), ['POST']);
    assert.equal((await request(base, 'DELETE', '/nowhere')).status, 404);
    // A malformed body does not stand in for the answer about the path.
    for (const [path, status] of [
      ['/nowhere', 404],
      ['/whoami', 405],
      ['/operations/counts', 405],
    ] as const) {
      const garbage = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: 'garbage',
        signal: AbortSignal.timeout(5000),
      });
      assert.equal(garbage.status, status, `POST ${path} with a malformed body`);
    }
    const missingFile = await request(base, 'GET', '/docs/static/nowhere.js');
    assert.equal(missingFile.status, 404, 'a route that answers GET but finds nothing is a 404');
    assert.equal(missingFile.headers.get('allow'), null);
    assert.equal((await request(base, 'PUT', '/operations/op_x/nowhere', { body: {} })).status, 404);
    // Sent as written (fetch would resolve the dots first): a path that climbs out of the docs' files is not there.
    for (const path of ['/docs/static/../../openapi.json', '/docs/static/%2e%2e/%2e%2e/openapi.json']) {
      const climbing = await rawGet(base, path);
      assert.equal(climbing.status, 404, path);
      assert.equal(climbing.problem.code, 'not_found', path);
    }
    // The rendered docs' old address goes to the page, with a query string too (it redirected to itself).
    for (const path of ['/docs/static/index.html', '/docs/static/index.html?x=1', '/docs/static/index%2Ehtml', '/docs/static/%69ndex.html?x=1']) {
      const moved = await fetch(`${base}${path}`, { redirect: 'manual', signal: AbortSignal.timeout(5000) });
      assert.equal(moved.status, 302, path);
      assert.equal(moved.headers.get('location'), '/docs/', path);
    }
    // Another docs route is not moved by what its query holds.
    assert.equal((await fetch(`${base}/docs/json?r=/docs/static/index.html?`, { signal: AbortSignal.timeout(5000) })).status, 200);
    // `//operations` as a URI reference names the host `operations`: the instance is the path, one slash first.
    const doubled = await rawGet(base, '//operations');
    assert.equal(doubled.status, 404);
    assert.equal(doubled.problem.instance, '/operations');
  });

  it('405 is declared in /openapi.json as a problem', async () => {
    const openapi = await request(base, 'GET', '/openapi.json');
    for (const [path, method] of [
      ['/operations', 'post'],
      ['/operations/{id}', 'get'],
      ['/operations/{id}/events', 'get'],
      ['/healthz', 'get'],
    ] as const) {
      assert.ok(openapi.body.paths[path][method].responses['405'], `${method.toUpperCase()} ${path} declares 405`);
    }
  });

  it('401 challenges: Bearer without an error when no key was sent, error="invalid_token" for a wrong or malformed one', async () => {
    const missing = await request(keyed.url, 'GET', '/operations');
    assert.equal(missing.status, 401);
    assert.match(missing.headers.get('www-authenticate') ?? '', /^Bearer\b/);
    assert.doesNotMatch(missing.headers.get('www-authenticate') ?? '', /error=/);
    for (const authorization of ['Bearer not-the-key', 'Bearer two words', 'Bearer ']) {
      const wrong = await request(keyed.url, 'GET', '/operations', { headers: { authorization } });
      assert.equal(wrong.status, 401, authorization);
      assert.match(wrong.headers.get('www-authenticate') ?? '', /^Bearer\b.*\berror="invalid_token"/, authorization);
    }
  });

  it('If-None-Match: * on an existing operation is 304 (at once, even with Prefer: wait); on a missing one 404', async () => {
    const created = await request(base, 'POST', '/operations', {
      body: { type: 'sleep', input: { ms: 10 }, run_at: new Date(Date.now() + 3_600_000).toISOString() },
    });
    for (const headers of [{ 'if-none-match': '*' }, { 'if-none-match': '*', prefer: 'wait=20' }] as Array<Record<string, string>>) {
      const t0 = performance.now();
      const response = await request(base, 'GET', `/operations/${created.body.id}`, { headers });
      assert.equal(response.status, 304, JSON.stringify(headers));
      assert.ok(performance.now() - t0 < 10_000, 'not held as a long-poll');
      assert.equal(response.headers.get('etag'), created.headers.get('etag'));
    }
    assert.equal((await request(base, 'GET', '/operations/op_01M88GWYKC7X95XEB6RWMNY3Q3', { headers: { 'if-none-match': '*' } })).status, 404);
    await request(base, 'POST', `/operations/${created.body.id}/cancel`);
  });
});
