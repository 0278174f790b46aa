// End to end on the real server process: a server without API keys answers only to localhost, IP addresses and
// --allowed-hosts, so a page on a name its attacker points at the machine (DNS rebinding) gets a 421 problem for every
// route, open ones and preflights included; with keys, any host; the OpenAPI document declares the 421 where it applies.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { spawnSync } from 'node:child_process';
import { CLI_ENTRY, REPO_ROOT, startServer, type ServerProcess, STORE_INDEPENDENT } from '../support/server.ts';

interface Answer {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly body: string;
}

/** One request to `server` with this Host header (fetch will not send one of its own choosing). */
function ask(server: ServerProcess, method: string, path: string, host: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: server.port, method, path, headers: { host, ...headers }, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

const REBOUND = 'rebind.attacker.example';
let open: ServerProcess;
let named: ServerProcess;
let keyed: ServerProcess;
let exposed: ServerProcess;

before(async () => {
  [open, named, keyed, exposed] = await Promise.all([
    startServer(),
    startServer({ args: ['--allowed-hosts', 'api.internal,.corp.example'] }),
    startServer({ args: ['--api-keys', 'acme:acme-key-0123456789abcdef'] }),
    // Keyless on another address, as behind a gateway that authenticates and forwards its own Host.
    startServer({ args: ['--host', '0.0.0.0', '--insecure'] }),
  ]);
});
after(async () => {
  await Promise.all([open?.stop(), named?.stop(), keyed?.stop(), exposed?.stop()]);
});

describe('DNS rebinding: the Host a server without keys answers to', STORE_INDEPENDENT, () => {
  it('refuses another host name on every kind of route with a 421 problem, and answers localhost and IP addresses', async () => {
    const routes: Array<[string, string, Record<string, string>?]> = [
      ['GET', '/healthz'],
      ['GET', '/operations'],
      ['POST', '/operations', { 'content-type': 'application/json', 'sec-fetch-site': 'same-origin' }],
      ['GET', '/dashboard'],
      ['GET', '/openapi.json'],
      ['OPTIONS', '/operations', { origin: `http://${REBOUND}`, 'access-control-request-method': 'POST' }],
      ['GET', '/no/such/route'],
    ];
    for (const [method, path, headers] of routes) {
      const refused = await ask(open, method, path, `${REBOUND}:${open.port}`, headers);
      assert.equal(refused.status, 421, `${method} ${path}: ${refused.body}`);
      assert.match(refused.contentType ?? '', /^application\/problem\+json/);
      assert.equal(JSON.parse(refused.body).code, 'misdirected_request');
    }
    for (const host of [`localhost:${open.port}`, `127.0.0.1:${open.port}`, `[::1]:${open.port}`, `app.localhost:${open.port}`]) {
      assert.equal((await ask(open, 'GET', '/operations', host)).status, 200, host);
    }
  });

  it('answers the names --allowed-hosts gives (a leading dot: subdomains too), and refuses the rest', async () => {
    for (const host of ['api.internal', 'jobs.corp.example:443', 'corp.example'])
      assert.equal((await ask(named, 'GET', '/operations', host)).status, 200, host);
    for (const host of [REBOUND, 'evilcorp.example']) assert.equal((await ask(named, 'GET', '/operations', host)).status, 421, host);
  });

  it('a server with API keys answers any host, and so does one without keys on another address (--insecure)', async () => {
    assert.equal((await ask(keyed, 'GET', '/healthz', REBOUND)).status, 200);
    assert.equal((await ask(keyed, 'GET', '/operations', REBOUND)).status, 401);
    assert.equal((await ask(exposed, 'GET', '/operations', 'api.example.com')).status, 200);
    const document = JSON.parse((await ask(exposed, 'GET', '/openapi.json', 'api.example.com')).body);
    assert.equal(document.paths['/operations'].get.responses['421'], undefined);
  });

  it('the OpenAPI document declares the 421 on every operation where it applies, and only there', async () => {
    const document = JSON.parse((await ask(open, 'GET', '/openapi.json', 'localhost')).body);
    for (const [path, item] of Object.entries<any>(document.paths)) {
      for (const [method, operation] of Object.entries<any>(item)) assert.ok(operation.responses['421'], `${method.toUpperCase()} ${path}`);
    }
    const keyedDocument = JSON.parse((await ask(keyed, 'GET', '/openapi.json', 'localhost')).body);
    assert.equal(keyedDocument.paths['/operations'].get.responses['421'], undefined);
  });

  it('a value of --allowed-hosts that is not host names stops serve with one line and exit status 2', () => {
    const run = spawnSync(process.execPath, [CLI_ENTRY, 'serve', '--port', '0', '--store', ':memory:', '--allowed-hosts', 'https://api.internal'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /--allowed-hosts/);
    assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
  });
});
