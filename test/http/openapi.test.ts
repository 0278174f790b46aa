// The OpenAPI document as a linter and a client generator see it: `redocly lint` with its recommended rules finds no
// error in what a real app serves at /openapi.json (with the built-in and the test fixtures' task types), and every
// operation has a camelCase operationId of its own. That it tells the truth: test/e2e/openapi-contract.test.ts.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { assembleAsyncOps } from '../../src/main.ts';
import tasks from '../fixtures/tasks.ts';
import { REPO_ROOT, tempDir } from '../support/server.ts';

const REDOCLY = join(REPO_ROOT, 'node_modules/@redocly/cli/bin/cli.js');

interface LintProblem {
  readonly ruleId: string;
  readonly severity: 'error' | 'warn';
  readonly message: string;
  readonly location: ReadonlyArray<{ readonly pointer: string }>;
}

async function servedDocument(): Promise<Record<string, any>> {
  return withApp(async (app) => {
    const reply = await app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(reply.statusCode, 200, 'served without a key');
    return reply.json();
  });
}

const KEY = 'lint-key-0123456789abcdef';

async function withApp<T>(use: (app: NonNullable<Awaited<ReturnType<typeof assembleAsyncOps>>['app']>) => Promise<T>): Promise<T> {
  // No rate limit: the cases below send a few hundred requests.
  const asyncops = await assembleAsyncOps({
    store: ':memory:',
    tasks,
    workers: false,
    logger: { level: 'silent' },
    apiKeys: [{ tenant: 'alpha', key: KEY }],
    rateLimits: { create: null, read: null },
  });
  await asyncops.open();
  try {
    return await use(asyncops.app!);
  } finally {
    await asyncops.close();
  }
}

/** Runs the linter on the document, offline (no telemetry, no update check) and with no config of the checkout's. */
function lint(document: unknown): Promise<LintProblem[]> {
  const dir = tempDir('asyncops-openapi-lint-');
  const file = join(dir.path, 'openapi.json');
  writeFileSync(file, JSON.stringify(document, null, 2));
  const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' };
  return new Promise<LintProblem[]>((resolve, reject) => {
    execFile(
      process.execPath,
      [REDOCLY, 'lint', '--extends=recommended', '--format=json', file],
      { cwd: dir.path, env, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        dir.cleanup();
        // It exits 1 when it finds errors; the report is on stdout either way.
        try {
          resolve((JSON.parse(stdout) as { problems: LintProblem[] }).problems);
        } catch {
          reject(new Error(`redocly lint did not report (${error?.message ?? 'no error'}): ${stderr.slice(-2000)}`));
        }
      },
    );
  });
}

describe('/openapi.json', () => {
  it('marks a request body required where a request without one is refused, and only there', async () => {
    const document = await servedDocument();
    await withApp(async (app) => {
      for (const [path, item] of Object.entries<Record<string, any>>(document.paths)) {
        for (const [method, operation] of Object.entries<Record<string, any>>(item)) {
          if (operation.requestBody === undefined) continue;
          const url = path.replace(/\{[^}]+\}/g, (name) => (name === '{id}' ? 'op_00000000000000000000000000' : 'x'));
          const reply = await app.inject({ method: method.toUpperCase() as 'POST', url, headers: { authorization: `Bearer ${KEY}` } });
          assert.ok(reply.statusCode < 500, `${method} ${path}: ${reply.statusCode} ${reply.body.slice(0, 200)}`);
          const refused = reply.statusCode === 400 && (reply.json().errors ?? []).some((e: { path: string }) => e.path === '/');
          assert.equal(refused, operation.requestBody.required === true, `${method} ${path} without a body: ${reply.statusCode} ${reply.body.slice(0, 200)}`);
        }
      }
    });
  });

  it('describes Idempotency-Key as the server takes it, on every route that takes one', async () => {
    const document = await servedDocument();
    const ajv = new Ajv({ strict: false });
    const long = (n: number) => 'x'.repeat(n);
    const samples = [
      'k',
      'order-17',
      '"quoted"',
      '"',
      '"""',
      '""',
      '',
      'has space',
      'ключ',
      'tab\there',
      long(255),
      long(256),
      `"${long(255)}"`,
      `"${long(256)}"`,
    ];
    // A body each route takes, so that only the key can be refused.
    const bodies: Record<string, unknown> = {
      '/operations': { type: 'echo', input: {} },
      '/schedules': { type: 'echo', input: {}, cron: '0 * * * *' },
      '/reports': { type: 'sales_summary', date_range: '2026-01-01..2026-01-02' },
      '/reports/async': { type: 'sales_summary', date_range: '2026-01-01..2026-01-02' },
      '/echoes': {},
      '/echoes/async': {},
    };
    let routes = 0;
    for (const [path, item] of Object.entries<Record<string, any>>(document.paths)) {
      for (const [method, operation] of Object.entries<Record<string, any>>(item)) {
        const parameter = (operation.parameters ?? []).find((p: { in: string; name: string }) => p.in === 'header' && p.name === 'idempotency-key');
        if (parameter === undefined) continue;
        routes += 1;
        const valid = ajv.compile(parameter.schema);
        // A store of its own: a key is the tenant's, whatever the route, and another route's body with it is a 422.
        await withApp(async (app) => {
          for (const key of samples) {
            const reply = await app.inject({
              method: method.toUpperCase() as 'POST',
              url: path,
              headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'idempotency-key': key },
              payload: JSON.stringify(bodies[path]),
            });
            assert.ok(path in bodies, `a body for ${path}`);
            assert.ok([200, 201, 202, 400].includes(reply.statusCode), `${method} ${path}: ${reply.statusCode} ${reply.body.slice(0, 200)}`);
            const refused = reply.statusCode === 400 && (reply.json().errors ?? []).some((e: { path: string }) => e.path === '/headers/idempotency-key');
            assert.equal(
              valid(key),
              !refused,
              `${method} ${path} with Idempotency-Key ${JSON.stringify(key)}: ${reply.statusCode} ${reply.body.slice(0, 200)}`,
            );
          }
        });
      }
    }
    assert.ok(routes >= 3, `${routes} routes take an Idempotency-Key`);
  });

  it('describes what POST /bulk-actions takes, action by action, as the server takes it', async () => {
    const document = await servedDocument();
    const schema = document.paths['/bulk-actions'].post.requestBody.content['application/json'].schema;
    const valid = new Ajv({ strict: false }).compile(schema);
    const filters: Array<Record<string, unknown>> = [
      {},
      ...['pending', 'processing', 'completed', 'failed', 'cancelled'].map((status) => ({ status })),
      { type: 'echo' },
      { error_code: 'handler_error' },
      { created_after: '2026-01-01T00:00:00Z', created_before: '2026-02-01T00:00:00Z' },
      { operation_type: 'echo' },
      { url: 'https://hooks.example/x' },
      { colour: 'red' },
    ];
    let accepted = 0;
    let refused = 0;
    await withApp(async (app) => {
      for (const action of ['retry', 'cancel', 'delete', 'replay_deliveries', 'archive']) {
        for (const filter of filters) {
          for (const extra of [{}, { priority: -10 }]) {
            const body = { action, filter, ...extra, dry_run: true };
            const reply = await app.inject({ method: 'POST', url: '/bulk-actions', headers: { authorization: `Bearer ${KEY}` }, payload: body });
            assert.ok([200, 400].includes(reply.statusCode), `${JSON.stringify(body)}: ${reply.statusCode} ${reply.body.slice(0, 200)}`);
            assert.equal(valid(body), reply.statusCode === 200, `${JSON.stringify(body)}: ${reply.statusCode} ${reply.body.slice(0, 200)}`);
            if (reply.statusCode === 200) accepted += 1;
            else refused += 1;
          }
        }
      }
    });
    assert.ok(accepted > 20 && refused > 20, `${accepted} accepted, ${refused} refused`);
  });

  it('renders /docs under a policy that loads its assets from the origin as it is, http included', async () => {
    const policy = await withApp(async (app) => {
      const page = await app.inject({ method: 'GET', url: '/docs/' });
      assert.equal(page.statusCode, 200);
      return String(page.headers['content-security-policy']);
    });
    assert.match(policy, /default-src 'self';/);
    assert.doesNotMatch(policy, /upgrade-insecure-requests/, 'a plain-http origin other than localhost would load nothing');
    assert.doesNotMatch(policy, /validator\.swagger\.io/);
  });

  it('passes `redocly lint --extends=recommended` without errors', async (t) => {
    const problems = await lint(await servedDocument());
    const show = (p: LintProblem) => `${p.severity} ${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`;
    for (const warning of problems.filter((p) => p.severity !== 'error')) t.diagnostic(show(warning));
    assert.deepEqual(problems.filter((p) => p.severity === 'error').map(show), []);
  });

  it('gives every operation a camelCase operationId of its own, and says which need a key', async () => {
    const document = await servedDocument();
    const ids: string[] = [];
    for (const [path, item] of Object.entries<Record<string, any>>(document.paths)) {
      for (const [method, operation] of Object.entries<Record<string, any>>(item)) {
        assert.match(operation.operationId ?? '', /^[a-z][A-Za-z0-9]*$/, `${method} ${path}`);
        ids.push(operation.operationId);
        const open = ['/healthz', '/readyz', '/openapi.json'].includes(path) || path.startsWith('/docs');
        assert.deepEqual(operation.security, open ? [] : undefined, `${method} ${path}: ${open ? 'open' : 'the document-wide bearer key'}`);
      }
    }
    assert.equal(new Set(ids).size, ids.length, 'operationIds are unique');
    assert.equal(document.paths['/operations/{id}/retry'].post.requestBody.required, false, 'a retry without a body keeps its priority');
    assert.deepEqual(document.security, [{ apiKey: [] }]);
    assert.equal(document.components.securitySchemes.apiKey.scheme, 'bearer');
  });
});
