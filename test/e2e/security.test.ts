// End to end on the real server process with API keys: 401 without a valid key, tenants isolated from each other
// (operations, results, deliveries, idempotency keys), health routes open, safe start-up defaults, the CLI and SDK
// taking the key, and no key or secret in the logs or error bodies.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI_ENTRY, REPO_ROOT, startServer, tempDir, type ServerProcess, STORE_INDEPENDENT } from '../support/server.ts';
import { request } from '../support/http.ts';
import { waitFor } from '../support/wait.ts';
import { runCli, killAll } from '../cli/run-cli.ts';
import { AsyncOpsClient } from '../../src/client/index.ts';

const KEY_A = 'alpha-key-7Hc2vN9qLm4xW8rT';
const KEY_A2 = 'alpha-second-key-Zk3pQ8wE1r';
const KEY_B = 'beta-key-Y6uJ0aS5dF2gH9kL';
const WEBHOOK_SECRET = 'whsec_c2VjcmV0LXNpZ25pbmcta2V5LWZvci10ZXN0cw==';
const PG_PASSWORD = 'pg-pass-N0tInL0gs';
const dir = tempDir();
let server: ServerProcess;
let base: string;
let receiver: Server;
let receiverUrl: string;
let receiverStatus = 500;

const as = (key: string | null): Record<string, string> => (key === null ? {} : { authorization: `Bearer ${key}` });
const call = (key: string | null, method: string, path: string, options: { body?: unknown; headers?: Record<string, string> } = {}) =>
  request(base, method, path, { ...options, headers: { ...as(key), ...options.headers } });

/** Runs the CLI to its end; resolves with its exit status and output. */
function runServe(args: readonly string[], env: Record<string, string | undefined> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_ENTRY, 'serve', '--port', '0', '--store', ':memory:', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ASYNCOPS_API_KEYS: undefined, ASYNCOPS_API_KEYS_FILE: undefined, ASYNCOPS_INSECURE: undefined, ASYNCOPS_HOST: undefined, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

before(async () => {
  receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(receiverStatus).end());
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const address = receiver.address();
  receiverUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`;
  const keysFile = join(dir.path, 'keys.txt');
  writeFileSync(keysFile, `# tenant:key\nalpha:${KEY_A}\n\nalpha:${KEY_A2}\n`);
  server = await startServer({
    args: ['--api-keys-file', keysFile, '--allow-private-webhooks', '--webhook-schedule', '50ms', '--webhook-secret', WEBHOOK_SECRET, '--log-level', 'trace'],
    env: { ASYNCOPS_API_KEYS: `beta:${KEY_B}` },
  });
  base = server.url;
});
after(async () => {
  await server?.stop();
  await killAll();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
  dir.cleanup();
});

async function finishedOp(key: string, body: Record<string, unknown>): Promise<any> {
  const created = await call(key, 'POST', '/operations', { body });
  assert.equal(created.status, 202, created.text);
  return waitFor(
    async () => {
      const { body: op } = await call(key, 'GET', `/operations/${created.body.id}`);
      return op.status === 'completed' || op.status === 'failed' ? op : null;
    },
    { timeoutMs: 10_000, intervalMs: 50, what: 'operation finished' },
  );
}

describe('API keys', () => {
  it('no key → 401 problem with WWW-Authenticate: Bearer; a wrong key → 401 invalid_token', async () => {
    for (const [method, path] of [
      ['GET', '/operations'],
      ['POST', '/operations'],
      ['GET', '/task-types'],
      ['GET', '/webhook-deliveries'],
      ['GET', '/metrics'],
      ['GET', '/nope'],
    ] as const) {
      const none = await call(null, method, path, { body: method === 'POST' ? { type: 'echo', input: {} } : undefined });
      assert.equal(none.status, 401, `${method} ${path} without a key`);
      assert.match(none.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.equal(none.body.code, 'unauthorized');
      assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
    }
    for (const header of [
      `Bearer ${KEY_A}x`,
      `Bearer ${KEY_A.slice(0, -1)}`,
      `Basic ${Buffer.from(`alpha:${KEY_A}`).toString('base64')}`,
      KEY_A,
      'Bearer ',
      `Bearer ${KEY_A} ${KEY_B}`,
      `Bearer\t${KEY_A}`,
    ]) {
      const wrong = await request(base, 'GET', '/operations', { headers: { authorization: header } });
      assert.equal(wrong.status, 401, `authorization: ${header}`);
      assert.match(wrong.headers.get('www-authenticate') ?? '', /^Bearer/);
      // A Bearer credential sent, well formed or not, is refused as invalid; another scheme is no Bearer key at all.
      assert.equal(/error="invalid_token"/.test(wrong.headers.get('www-authenticate') ?? ''), /^Bearer/i.test(header), `authorization: ${header}`);
      assert.ok(!wrong.text.includes(KEY_A), 'the presented key is not echoed');
    }
    const ok = await call(KEY_A, 'GET', '/operations');
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('ratelimit-limit'), '100', 'with keys the default read limit applies');
    assert.equal((await call(KEY_A2, 'GET', '/operations')).status, 200, 'a tenant may have several keys');
  });

  it('health routes, /openapi.json and /docs answer without a key', async () => {
    for (const path of ['/healthz', '/readyz', '/openapi.json', '/docs']) {
      const reply = await request(base, 'GET', path);
      assert.ok(reply.status === 200 || reply.status === 302, `${path}: ${reply.status}`);
    }
  });

  it("tenant B cannot read, cancel, delete, list, or fetch the result of tenant A's operation, nor see or replay its deliveries", async () => {
    receiverStatus = 500;
    const op = await finishedOp(KEY_A, { type: 'echo', input: { secret: 'alpha-data' }, webhook_url: receiverUrl, max_attempts: 1 });
    assert.equal(op.status, 'completed');
    const pending = await call(KEY_A, 'POST', '/operations', {
      body: { type: 'sleep', input: { ms: 100 }, run_at: new Date(Date.now() + 3_600_000).toISOString() },
    });
    assert.equal(pending.status, 202);
    const dead = await waitFor(
      async () => {
        const { body } = await call(KEY_A, 'GET', '/webhook-deliveries?state=dead');
        return body.items.find((d: any) => d.operation_id === op.id);
      },
      { timeoutMs: 10_000, intervalMs: 50, what: "alpha's delivery dead" },
    );

    const probes: Array<[string, string]> = [
      ['GET', `/operations/${op.id}`],
      ['GET', `/operations/${op.id}/result`],
      ['GET', `/operations/${op.id}/events`],
      ['GET', `/operations/${op.id}/deliveries`],
      ['POST', `/operations/${pending.body.id}/cancel`],
      ['DELETE', `/operations/${op.id}`],
      ['POST', `/webhook-deliveries/${dead.id}/retry`],
    ];
    for (const [method, path] of probes) {
      const reply = await call(KEY_B, method, path);
      assert.equal(reply.status, 404, `beta ${method} ${path}`);
      assert.equal(reply.body.code, 'not_found');
      assert.ok(!reply.text.includes('alpha-data'));
    }
    assert.deepEqual((await call(KEY_B, 'GET', '/operations?limit=200')).body.items, [], "beta's list is empty");
    assert.deepEqual((await call(KEY_B, 'GET', '/webhook-deliveries')).body.items, []);
    assert.deepEqual((await call(KEY_B, 'GET', '/webhook-deliveries?state=dead')).body.items, []);

    // Alpha's own requests still work, with either of its keys, and nothing of beta's probes changed its data.
    assert.equal((await call(KEY_A2, 'GET', `/operations/${pending.body.id}`)).body.status, 'pending');
    assert.equal((await call(KEY_A2, 'GET', `/operations/${op.id}/result`)).status, 200);
    assert.equal((await call(KEY_A, 'GET', `/operations/${op.id}/deliveries`)).body.items.length, 1);
    receiverStatus = 204;
    assert.equal((await call(KEY_A, 'POST', `/webhook-deliveries/${dead.id}/retry`)).status, 202);
    assert.equal((await call(KEY_A, 'POST', `/operations/${pending.body.id}/cancel`)).status, 200);
    assert.equal((await call(KEY_A, 'DELETE', `/operations/${pending.body.id}`)).status, 204);
  });

  it('the same Idempotency-Key in two tenants makes two operations, each replayed within its tenant', async () => {
    const body = { type: 'echo', input: { n: 1 } };
    const headers = { 'idempotency-key': 'shared-key-1' };
    const a = await call(KEY_A, 'POST', '/operations', { body, headers });
    const b = await call(KEY_B, 'POST', '/operations', { body, headers });
    assert.equal(a.status, 202);
    assert.equal(b.status, 202);
    assert.notEqual(a.body.id, b.body.id);
    const againA = await call(KEY_A2, 'POST', '/operations', { body, headers });
    assert.equal(againA.body.id, a.body.id, "alpha's other key replays alpha's operation");
    assert.equal(againA.headers.get('idempotent-replayed'), 'true');
    const againB = await call(KEY_B, 'POST', '/operations', { body, headers });
    assert.equal(againB.body.id, b.body.id);
  });

  it('the SDK and the CLI take the key; without it they get 401', async () => {
    const client = new AsyncOpsClient({ baseUrl: base, apiKey: KEY_B });
    const op = await client.submit('sleep', { ms: 300, steps: 3 });
    const done = await client.wait(op.id, { timeoutMs: 15_000 });
    assert.equal(done.status, 'completed');
    await assert.rejects(new AsyncOpsClient({ baseUrl: base, apiKey: KEY_A }).get(op.id), (e: any) => e.status === 404);
    await assert.rejects(new AsyncOpsClient({ baseUrl: base }).get(op.id), (e: any) => e.status === 401 && e.code === 'unauthorized');

    const status = await runCli(['--api-key', KEY_B, 'status', op.id, '--json'], { env: { ASYNCOPS_URL: base } });
    assert.equal(status.code, 0, status.stderr);
    assert.equal(JSON.parse(status.stdout).id, op.id);
    const fromEnv = await runCli(['list', '--json'], { env: { ASYNCOPS_URL: base, ASYNCOPS_API_KEY: KEY_B } });
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    assert.ok(JSON.parse(fromEnv.stdout).items.some((o: any) => o.id === op.id));
    const noKey = await runCli(['status', op.id], { env: { ASYNCOPS_URL: base } });
    assert.equal(noKey.code, 6, 'an API error');
    assert.match(noKey.stderr, /401|API key/);
    assert.ok(!noKey.stderr.includes(KEY_B));
  });

  it('keys, the Authorization header and the webhook secret never reach the logs', async () => {
    await request(base, 'POST', '/operations', { rawBody: '{"broken', headers: { ...as(KEY_A), 'content-type': 'application/json' } });
    await request(base, 'GET', '/operations', { headers: { authorization: `Bearer ${KEY_B}-wrong` } });
    const text = JSON.stringify(server.logs);
    assert.ok(server.logs.length > 0);
    for (const secret of [KEY_A, KEY_A2, KEY_B, WEBHOOK_SECRET, WEBHOOK_SECRET.slice('whsec_'.length)])
      assert.ok(!text.includes(secret), 'a secret was logged');
  });
});

describe('start-up', () => {
  it('a non-loopback --host without API keys refuses to start with one line (exit 2); --insecure starts it', STORE_INDEPENDENT, async () => {
    const refused = await runServe(['--host', '0.0.0.0']);
    assert.equal(refused.code, 2);
    const lines = refused.stderr.trim().split('\n');
    assert.equal(lines.length, 1, refused.stderr);
    assert.match(lines[0]!, /0\.0\.0\.0.*API keys.*--insecure/);
    assert.equal((await runServe([], { ASYNCOPS_HOST: '::' })).code, 2, 'from the environment too');

    const insecure = await startServer({ args: ['--host', '0.0.0.0', '--insecure'] });
    try {
      const reply = await request(`http://127.0.0.1:${insecure.port}`, 'GET', '/operations');
      assert.equal(reply.status, 200);
      assert.equal(reply.headers.get('ratelimit-limit'), '100', 'exposed without keys: limited per client address');
    } finally {
      await insecure.stop();
    }
    const withKeys = await startServer({ args: ['--host', '0.0.0.0'], env: { ASYNCOPS_API_KEYS: `ops:${KEY_A}` } });
    try {
      assert.equal((await request(`http://127.0.0.1:${withKeys.port}`, 'GET', '/operations')).status, 401);
    } finally {
      await withKeys.stop();
    }
  });

  it('an invalid key file, or ASYNCOPS_API_KEYS, stops start-up with one line and exit 2, never quoting a key', STORE_INDEPENDENT, async () => {
    const cases: Array<[string, string]> = [
      ['short.txt', 'alpha:short\n'],
      ['no-tenant.txt', `${KEY_A}\n`],
      ['bad-tenant.txt', `al pha:${KEY_A}\n`],
      ['empty.txt', '# nothing\n'],
      ['bad.json', '[{"tenant": "a"'],
      ['dup.txt', `a:${KEY_A}\nb:${KEY_A}\n`],
    ];
    for (const [name, content] of cases) {
      const path = join(dir.path, name);
      writeFileSync(path, content);
      const run = await runServe(['--api-keys-file', path]);
      assert.equal(run.code, 2, `${name}: ${run.stderr}`);
      assert.equal(run.stderr.trim().split('\n').length, 1, `${name}: one line`);
      assert.match(run.stderr, /^asyncops: .*api.keys/i);
      assert.ok(!run.stderr.includes(KEY_A), `${name}: the key is not quoted`);
    }
    assert.equal((await runServe(['--api-keys-file', join(dir.path, 'missing.txt')])).code, 2);
    const env = await runServe([], { ASYNCOPS_API_KEYS: 'alpha' });
    assert.equal(env.code, 2);
    assert.match(env.stderr, /ASYNCOPS_API_KEYS/);
  });

  it('a malformed key is blamed on where it was given: --api-keys, ASYNCOPS_API_KEYS, or the key file and how it was named', STORE_INDEPENDENT, async () => {
    const path = join(dir.path, 'short-key.txt');
    writeFileSync(path, 'acme:short\n');
    const cases: Array<[string, Promise<{ code: number | null; stderr: string }>, RegExp]> = [
      ['--api-keys', runServe(['--api-keys', 'acme:short']), /^asyncops: --api-keys: entry 1: a key must be/],
      ['ASYNCOPS_API_KEYS', runServe([], { ASYNCOPS_API_KEYS: 'acme:short' }), /^asyncops: ASYNCOPS_API_KEYS: entry 1: a key must be/],
      ['--api-keys-file', runServe(['--api-keys-file', path]), new RegExp(`^asyncops: --api-keys-file ${path}: line 1: a key must be`)],
      [
        'ASYNCOPS_API_KEYS_FILE',
        runServe([], { ASYNCOPS_API_KEYS_FILE: path }),
        new RegExp(`^asyncops: ASYNCOPS_API_KEYS_FILE ${path}: line 1: a key must be`),
      ],
    ];
    for (const [source, run, message] of cases) {
      const { code, stderr } = await run;
      assert.equal(code, 2, `${source}: ${stderr}`);
      assert.equal(stderr.trim().split('\n').length, 1, `${source}: one line`);
      assert.match(stderr, message, source);
    }
  });

  it('a JSON key file and hashed keys work', async () => {
    const { createHash } = await import('node:crypto');
    const path = join(dir.path, 'keys.json');
    writeFileSync(
      path,
      JSON.stringify([
        { tenant: 'one', key: KEY_A },
        { tenant: 'two', sha256: createHash('sha256').update(KEY_B).digest('hex') },
      ]),
    );
    const s = await startServer({ args: ['--api-keys-file', path] });
    try {
      const one = await request(s.url, 'POST', '/operations', { body: { type: 'echo', input: {} }, headers: as(KEY_A) });
      assert.equal(one.status, 202);
      assert.equal((await request(s.url, 'GET', `/operations/${one.body.id}`, { headers: as(KEY_B) })).status, 404);
      assert.equal((await request(s.url, 'GET', '/operations', { headers: as(KEY_B) })).status, 200);
    } finally {
      await s.stop();
    }
  });

  it('a store URL password is not printed when the store cannot be opened', STORE_INDEPENDENT, async () => {
    for (const spec of [
      `postgres://asyncops:${PG_PASSWORD}@127.0.0.1:1/none`,
      `postgres://asyncops:${PG_PASSWORD}@bad host/x?schema=a`,
      `postgres://asyncops:${PG_PASSWORD}@127.0.0.1:1/none?schema=a b`,
    ]) {
      const run = await runServe(['--store', spec]);
      assert.notEqual(run.code, 0);
      assert.ok(!(run.stdout + run.stderr).includes(PG_PASSWORD), run.stdout + run.stderr);
    }
  });
});
