// End to end: the real CLI as a subprocess against the real server: submit --wait -o, a failing task's
// exit status, cancel, status --json, and `listen` receiving a signed webhook from the server.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CLI_ENTRY, E2E_STORE, REPO_ROOT, STORE_INDEPENDENT, freshStore, startServer, tempDir, type ServerProcess } from '../support/server.ts';
import { execFileSync } from 'node:child_process';
import { closedPort } from '../client/fake-api.ts';
import { request } from '../support/http.ts';
import { waitFor } from '../support/wait.ts';

const SECRET = `whsec_${Buffer.alloc(24, 7).toString('base64')}`;
const dir = tempDir();
let server: ServerProcess;
const children: ChildProcess[] = [];

before(async () => {
  server = await startServer({ args: ['--allow-private-webhooks', '--webhook-secret', SECRET] });
});
after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await server?.stop();
  dir.cleanup();
});

/** The CLI against the shared server (or `url`), killed and failed after `timeoutMs`. */
function cli(args: string[], options: { url?: string; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_ENTRY, '--url', options.url ?? server.url, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`asyncops ${args.join(' ')} did not exit within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

interface Listener {
  readonly port: string;
  stdout(): string;
  stderr(): string;
}

/** `asyncops listen --json` on a free port with `secret`, once it says where it listens (killed in after()). */
async function startListen(secret: string): Promise<Listener> {
  const child = spawn(process.execPath, [CLI_ENTRY, 'listen', '--port', '0', '--secret', secret, '--json'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const port = await waitFor(() => /listening on http:\/\/[^:]+:(\d+)/.exec(stderr)?.[1], { timeoutMs: 10_000, what: 'listen started' });
  return { port, stdout: () => stdout, stderr: () => stderr };
}

describe('CLI against the real server', () => {
  it('submit report --wait -o FILE exits 0 and writes the report', STORE_INDEPENDENT, async () => {
    const out = join(dir.path, 'out.json');
    const result = await cli(['submit', 'report', '--input', '{"type":"sales_summary","date_range":"2026-01-01..2026-01-31"}', '--wait', '-o', out]);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(readFileSync(out, 'utf8'));
    assert.equal(report.report_type, 'sales_summary');
    assert.equal(report.by_day.length, 31);
    assert.doesNotMatch(result.stderr, /\u001b\[/, 'no control characters without a TTY');
  });

  it('a task that fails exits 1 and prints the error', STORE_INDEPENDENT, async () => {
    const result = await cli(['submit', 'fail', '--input', '{"permanent":true,"message":"the printer is on fire"}', '--wait']);
    assert.equal(result.code, 1);
    assert.match(result.stdout + result.stderr, /the printer is on fire/);
  });

  it('cancel ends a running operation; wait then exits 3; status --json parses', STORE_INDEPENDENT, async () => {
    const submitted = await cli(['submit', 'sleep', '--input', '{"ms":30000,"steps":300}', '--json']);
    assert.equal(submitted.code, 0, submitted.stderr);
    const id = JSON.parse(submitted.stdout).id as string;
    await waitFor(async () => (await request(server.url, 'GET', `/operations/${id}`)).body.status === 'processing', { what: 'processing' });
    const cancelled = await cli(['cancel', id]);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    const waited = await cli(['wait', id]);
    assert.equal(waited.code, 3);
    const status = await cli(['status', id, '--json']);
    assert.equal(status.code, 0);
    const op = JSON.parse(status.stdout);
    assert.equal(op.id, id);
    assert.equal(op.status, 'cancelled');
  });

  it('listen accepts a correctly signed webhook from the server and rejects a tampered one', STORE_INDEPENDENT, async () => {
    const listener = await startListen(SECRET);
    const hook = `http://127.0.0.1:${listener.port}/hook`;

    const created = await request(server.url, 'POST', '/operations', { body: { type: 'echo', input: { hi: 1 }, webhook_url: hook } });
    const line = await waitFor(
      () =>
        listener
          .stdout()
          .split('\n')
          .find((l) => l.includes(created.body.id)),
      { timeoutMs: 15_000, what: 'webhook printed by listen' },
    );
    const printed = JSON.parse(line);
    assert.equal(printed.payload.type, 'operation.completed');
    assert.equal(printed.payload.operation_id, created.body.id);
    // The dispatcher records the attempt once the reply is in: a moment after listen printed it.
    const delivered = await waitFor(
      async () => {
        const [delivery] = (await request(server.url, 'GET', `/operations/${created.body.id}/deliveries`)).body.items;
        return delivery?.state === 'delivered' ? delivery : null;
      },
      { timeoutMs: 5000, what: 'the delivery recorded as delivered' },
    );
    assert.equal(delivered.attempts[0].status_code, 204);

    const tampered = await fetch(hook, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': 'msg_x',
        'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
        'webhook-signature': 'v1,AAAA',
      },
      body: JSON.stringify({ type: 'operation.completed', operation_id: 'op_forged' }),
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(tampered.status, 401);
    await waitFor(() => /rejected webhook msg_x/.test(listener.stderr()), { timeoutMs: 5000, what: 'rejection printed' });
    assert.ok(!listener.stdout().includes('op_forged'));
  });

  it('listen takes a webhook as large as the server sends: an input at the --body-limit and the event around it', STORE_INDEPENDENT, async () => {
    const listener = await startListen(SECRET);
    // 1 MiB is the shared server's --body-limit: the request fits, its webhook (the operation with its input) does not.
    const input = { blob: 'x'.repeat(1024 * 1024 - 200) };
    const created = await request(server.url, 'POST', '/operations', { body: { type: 'echo', input, webhook_url: `http://127.0.0.1:${listener.port}/hook` } });
    assert.equal(created.status, 202, JSON.stringify(created.body).slice(0, 300));
    const delivered = await waitFor(
      async () => {
        const [delivery] = (await request(server.url, 'GET', `/operations/${created.body.id}/deliveries`)).body.items;
        return delivery?.attempts?.length > 0 ? delivery : null;
      },
      { timeoutMs: 15_000, what: 'the delivery attempted' },
    );
    assert.equal(delivered.attempts[0].status_code, 204, JSON.stringify(delivered.attempts[0]));
    // listen answers before it prints: the line may reach this process after the attempt is recorded.
    await waitFor(() => listener.stdout().includes(created.body.id), { timeoutMs: 5_000, what: 'the webhook printed' });
    assert.doesNotMatch(listener.stderr(), /larger than/);
  });

  it('listen rejects a delivery the server signed whose body was altered on the way (401, message printed)', STORE_INDEPENDENT, async () => {
    const listener = await startListen(SECRET);
    // A relay between the server and listen that rewrites the signed body and passes the signature on as it came.
    const relayed: { webhookId: string; altered: boolean; status: number }[] = [];
    const relay = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const altered = body.replace('"status":"completed"', '"status":"cancelled"');
        const headers = Object.fromEntries(['content-type', 'webhook-id', 'webhook-timestamp', 'webhook-signature'].map((h) => [h, String(req.headers[h])]));
        fetch(`http://127.0.0.1:${listener.port}/hook`, { method: 'POST', headers, body: altered, signal: AbortSignal.timeout(5000) }).then(
          async (reply) => {
            relayed.push({ webhookId: headers['webhook-id']!, altered: altered !== body, status: reply.status });
            res.writeHead(reply.status).end(await reply.text());
          },
          () => res.writeHead(502).end(),
        );
      });
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    try {
      const created = await request(server.url, 'POST', '/operations', {
        body: { type: 'echo', input: {}, webhook_url: `http://127.0.0.1:${(relay.address() as AddressInfo).port}/hook` },
      });
      const [first] = await waitFor(() => (relayed.length > 0 ? relayed : null), { timeoutMs: 15_000, what: 'the altered delivery relayed to listen' });
      assert.ok(first!.altered, 'the relay found the status to alter');
      assert.equal(first!.status, 401);
      await waitFor(() => listener.stderr().includes(`rejected webhook ${first!.webhookId}: no matching signature`), {
        timeoutMs: 5000,
        what: 'rejection printed',
      });
      const delivery = await waitFor(
        async () => {
          const [d] = (await request(server.url, 'GET', `/operations/${created.body.id}/deliveries`)).body.items;
          return d?.attempts?.[0]?.status_code != null ? d : null;
        },
        { timeoutMs: 5000, what: 'the attempt recorded by the server' },
      );
      assert.equal(delivery.attempts[0].status_code, 401, 'the server saw the rejection');
      assert.notEqual(delivery.state, 'delivered');
      assert.ok(!listener.stdout().includes(created.body.id), 'nothing of the altered delivery printed as received');
    } finally {
      relay.closeAllConnections();
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    }
  });

  it("webhook-secret prints the secret a server generated in its store, and it verifies that server's webhooks", async () => {
    const store = freshStore();
    const own = await startServer({ store: store.spec, args: ['--allow-private-webhooks'] });
    try {
      const secret = execFileSync(process.execPath, [CLI_ENTRY, 'webhook-secret', '--store', store.spec], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        timeout: 20_000,
      }).trim();
      assert.match(secret, /^whsec_[A-Za-z0-9+/=]{32,}$/);
      const listener = await startListen(secret);
      const created = await request(own.url, 'POST', '/operations', { body: { type: 'echo', input: {}, webhook_url: `http://127.0.0.1:${listener.port}/` } });
      await waitFor(() => listener.stdout().includes(created.body.id), { timeoutMs: 15_000, what: 'verified webhook printed' });
      assert.doesNotMatch(listener.stderr(), /rejected/);
    } finally {
      await own.stop();
      await store.cleanup();
    }
  });

  it('webhook-secret refuses :memory:, and says so when it made the store it was pointed at (a mistyped path does that too)', STORE_INDEPENDENT, () => {
    const run = (store: string) =>
      spawnSync(process.execPath, [CLI_ENTRY, 'webhook-secret', '--store', store], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 20_000 });
    const memory = run(':memory:');
    assert.equal(memory.status, 2, memory.stderr);
    assert.match(memory.stderr, /^asyncops: --store: :memory: holds no server’s secret/);
    const dir = tempDir();
    try {
      const path = join(dir.path, 'typo.db');
      const first = run(path);
      assert.equal(first.status, 0, first.stderr);
      assert.match(first.stdout, /^whsec_/);
      assert.ok(first.stderr.includes(`no store was at ${path}: made one`), first.stderr);
      const again = run(path);
      assert.equal(again.stdout, first.stdout, 'the same secret, kept');
      assert.equal(again.stderr, '', 'nothing to say once the store is there');
    } finally {
      dir.cleanup();
    }
  });

  it('webhook-secret says so when it made the PostgreSQL schema it was pointed at (a mistyped one does that too)', {
    skip: E2E_STORE !== 'postgres' && 'runs in the PostgreSQL pass',
  }, async () => {
    const store = freshStore();
    try {
      const run = () =>
        spawnSync(process.execPath, [CLI_ENTRY, 'webhook-secret', '--store', store.spec], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 20_000 });
      const first = run();
      assert.equal(first.status, 0, first.stderr);
      assert.match(first.stdout, /^whsec_/);
      assert.match(first.stderr, /^asyncops: no store was in schema "[^"]+" of that database: made one/);
      const again = run();
      assert.equal(again.stdout, first.stdout, 'the same secret, kept');
      assert.equal(again.stderr, '', 'nothing to say once the store is there');
    } finally {
      await store.cleanup();
    }
  });

  it('webhook-secret does not migrate a store an earlier version runs on: it says so, and leaves it as it was', STORE_INDEPENDENT, () => {
    const dir = tempDir();
    try {
      const path = join(dir.path, 'older.db');
      const run = () => spawnSync(process.execPath, [CLI_ENTRY, 'webhook-secret', '--store', path], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 20_000 });
      assert.equal(run().status, 0, 'a new store is made and migrated');
      // As an earlier version left it: its newest migration not applied.
      const db = new DatabaseSync(path);
      const newest = db.prepare('SELECT version, name FROM schema_migrations ORDER BY version DESC LIMIT 1').get() as { version: number; name: string };
      db.prepare('DELETE FROM schema_migrations WHERE version = ?').run(newest.version);
      db.close();
      const refused = run();
      assert.equal(refused.status, 1, refused.stderr);
      assert.match(
        refused.stderr,
        new RegExp(`at migration ${newest.version - 1} .*older than this asyncops \\(${newest.version}\\), and this command does not migrate it`),
      );
      const after = new DatabaseSync(path);
      assert.equal((after.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number }).v, newest.version - 1, 'not migrated');
      after.close();
    } finally {
      dir.cleanup();
    }
  });

  it('webhook-secret with --webhook-secret (or its variable) prints those, checked as serve checks them, or a tenant’s from them', STORE_INDEPENDENT, () => {
    const run = (args: string[], env: Record<string, string> = {}) =>
      spawnSync(process.execPath, [CLI_ENTRY, 'webhook-secret', ...args], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        timeout: 20_000,
        env: { ...process.env, ...env },
      });
    for (const [args, env] of [
      [['--webhook-secret', 'bogus']],
      [[], { ASYNCOPS_WEBHOOK_SECRET: 'bogus' }],
      [['--webhook-secret', 'bogus', '--tenant', 'acme']],
    ] as const) {
      const refused = run([...args], env);
      assert.equal(refused.status, 2, `${args.join(' ')}: ${refused.stdout}`);
      assert.match(refused.stderr, /^asyncops: --webhook-secret: webhook secret is too short/);
      assert.equal(refused.stdout, '');
    }
    const given = run([], { ASYNCOPS_WEBHOOK_SECRET: SECRET });
    assert.deepEqual([given.status, given.stdout.trim()], [0, SECRET], 'the server signs with the one it was given');
    const tenant = run(['--webhook-secret', SECRET, '--tenant', 'acme']);
    assert.equal(tenant.status, 0, tenant.stderr);
    assert.match(tenant.stdout.trim(), /^whsec_[A-Za-z0-9+/]+=*$/);
    assert.notEqual(tenant.stdout.trim(), SECRET);
    // A name no tenant can have (a pasted trailing space, a slash, nothing) is refused before any store is opened.
    for (const name of ['acme ', 'no such/tenant!', '', '-acme', 'a'.repeat(65)]) {
      const refused = run(['--webhook-secret', SECRET, '--tenant', name]);
      assert.equal(refused.status, 2, `${JSON.stringify(name)}: ${refused.stdout}`);
      assert.match(refused.stderr, /^asyncops: --tenant: .* is not a tenant's name: 1 to 64 letters, digits/);
      assert.equal(refused.stdout, '');
    }
    const dir = tempDir();
    try {
      const path = join(dir.path, 'untouched.db');
      assert.equal(run(['--store', path, '--tenant', 'acme ']).status, 2);
      assert.equal(existsSync(path), false, 'no store made for a refused name');
    } finally {
      dir.cleanup();
    }
  });

  it("list and deliveries take --limit 200, the server's cap", STORE_INDEPENDENT, async () => {
    for (const command of ['list', 'deliveries']) {
      const result = await cli([command, '--limit', '200', '--json']);
      assert.equal(result.code, 0, result.stderr);
      assert.ok(Array.isArray(JSON.parse(result.stdout).items));
    }
  });

  it('status of an unreachable server exits 5 with one line', STORE_INDEPENDENT, async () => {
    // A port just released, so the connection is really refused (fetch will not even try a port such as 9).
    const port = await closedPort();
    const result = await cli(['status', 'op_01JD0000000000000000000000'], { url: `http://127.0.0.1:${port}`, timeoutMs: 20_000 });
    assert.equal(result.code, 5);
    assert.match(result.stderr, new RegExp(`^asyncops: cannot reach http://127\\.0\\.0\\.1:${port}: connect ECONNREFUSED`));
    assert.equal(result.stderr.trim().split('\n').length, 1);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
  });
});
