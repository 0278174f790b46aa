// The packed package, as a new user gets it: `npm pack`, then `npm install` of the tarball into an empty project in a
// fresh temporary directory (from the npm cache, going to the registry only for what the cache lacks). There the SDK
// type-checks without @types/node, `asyncops` and `asyncops/client` import and serve, the CLI runs, and the tarball
// holds no tests, bench, examples or scripts. The built SDK loads no `node:` module and nothing of the server.

import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, tempDir } from '../support/server.ts';

const dir = tempDir('asyncops-pack-');
after(() => dir.cleanup());

const BIN = join(REPO_ROOT, 'node_modules/.bin');
// npm, tsc and the installed CLI's `#!/usr/bin/env node` all run on the Node 24 the checkout brings.
const env = { ...process.env, PATH: `${BIN}:${process.env.PATH}`, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const project = join(dir.path, 'consumer');
let tarball = '';
/** Why the install could not be made (no cache and no registry), or null once it is installed. */
let notInstalled: string | null = 'not attempted';

function run(command: string, args: string[], cwd: string, timeoutMs = 60_000) {
  return spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout: timeoutMs });
}

// A module left in dist/ by an earlier build of a source since removed: the build starts from an empty dist/.
const STALE_BUILD_OUTPUT = join(REPO_ROOT, 'dist/removed-since-last-build.js');

before(() => {
  mkdirSync(join(REPO_ROOT, 'dist'), { recursive: true });
  writeFileSync(STALE_BUILD_OUTPUT, 'export {};\n');
  execFileSync(npm, ['pack', '--silent', '--pack-destination', dir.path], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  tarball = join(dir.path, readdirSync(dir.path).find((f) => f.endsWith('.tgz'))!);
  execFileSync('mkdir', ['-p', project]);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
  // The cache alone first; what it lacks (a fresh machine has tarballs from `npm ci` but no package metadata) comes from the registry.
  let install = run(npm, ['install', '--offline', tarball], project, 120_000);
  if (install.status !== 0) install = run(npm, ['install', '--prefer-offline', tarball], project, 120_000);
  notInstalled = install.status === 0 ? null : `npm install of the tarball failed (no npm cache or registry?):\n${install.stderr}`;
  if (install.status === 0) assert.doesNotMatch(install.stderr, /install-scripts|EBADENGINE/, 'installing it runs no install script and fits its engines');
});

/** `file` in the consumer project passes a strict tsc, the package's own declarations checked too (skipLibCheck off). */
function typeChecks(file: string, options: Record<string, unknown>): void {
  const compilerOptions = { target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, skipLibCheck: false, noEmit: true, ...options };
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: [file] }));
  const check = run(join(BIN, 'tsc'), ['-p', project], project);
  assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
}

function installed(t: TestContext): boolean {
  if (notInstalled === null) return true;
  // A developer without a registry or a warm cache is told why; CI must install it.
  if (process.env.CI === 'true') assert.fail(notInstalled);
  t.skip(notInstalled);
  return false;
}

describe('packed package', () => {
  it('holds the build, sources, README with the docs it links and CLI, and no tests, bench, examples or scripts', () => {
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const expected of [
      'package/dist/index.js',
      'package/dist/index.d.ts',
      'package/dist/client/index.d.ts',
      'package/bin/asyncops.js',
      'package/README.md',
      // The MIT license asks for its text to go with every copy.
      'package/LICENSE',
      'package/docs/http-api.md',
      'package/dist/dashboard/index.js',
      'package/dist/dashboard/dashboard.css',
    ]) {
      assert.ok(files.includes(expected), expected);
    }
    assert.deepEqual(
      files.filter((f) => /^package\/(test|bench|examples|scripts|\.ci)\/|\.test\.|\/\.scratch\//.test(f)),
      [],
    );
    assert.ok(!files.includes('package/dist/removed-since-last-build.js'), 'a module an earlier build left in dist/ is not packed');
    assert.ok(!existsSync(STALE_BUILD_OUTPUT));
  });

  it('asyncops type-checks in a Node project without the optional OpenTelemetry peers, its declarations checked too', (t) => {
    if (!installed(t)) return;
    for (const peer of ['core', 'sdk-trace', 'resources'])
      assert.ok(!existsSync(join(project, 'node_modules/@opentelemetry', peer)), `${peer} is not installed`);
    if (!existsSync(join(project, 'node_modules/@types/node'))) {
      // The version the checkout type-checks with, from the npm cache `npm ci` filled, the registry only for what it lacks.
      const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules/@types/node/package.json'), 'utf8')) as { version: string };
      let install = run(npm, ['install', '--offline', '--no-save', `@types/node@${version}`], project, 120_000);
      if (install.status !== 0) install = run(npm, ['install', '--prefer-offline', '--no-save', `@types/node@${version}`], project, 120_000);
      assert.equal(install.status, 0, install.stderr);
    }
    writeFileSync(
      join(project, 'embed.ts'),
      `import { createAsyncOps, asyncopsPlugin, defineTask, PermanentError, AsyncOpsError, type AsyncOpsOptions, type TaskContext } from 'asyncops';
export const slow = defineTask<{ n: number }>({
  type: 'slow',
  input: { type: 'object', properties: { n: { type: 'number' } }, required: ['n'] },
  async run(input, ctx: TaskContext) {
    if (input.n < 0) throw new PermanentError('negative');
    ctx.progress(0.5);
    return { doubled: input.n * 2 };
  },
});
const options: AsyncOpsOptions = { store: ':memory:', tasks: [slow] };
export const asyncops = await createAsyncOps(options);
export const plugin = asyncopsPlugin;
export const isOurs = (error: unknown) => error instanceof AsyncOpsError;
`,
    );
    typeChecks('embed.ts', { types: ['node'] });
  });

  it('the SDK type-checks in a project without @types/node (DOM and ES types only, as in a browser or Deno)', (t) => {
    if (!installed(t)) return;
    rmSync(join(project, 'node_modules/@types/node'), { recursive: true, force: true });
    writeFileSync(
      join(project, 'sdk.ts'),
      `import { AsyncOpsClient, AsyncOpsApiError, verifyWebhook, isTerminalStatus, type Operation, type WebhookEvent } from 'asyncops/client';
// A key that may be missing, as process.env gives one: the options take undefined (exactOptionalPropertyTypes below).
declare const configuredKey: string | undefined;
declare const tenant: string | undefined;
declare const toleranceS: number | undefined;
declare const retries: number | undefined;
const client = new AsyncOpsClient({ baseUrl: 'https://api.example.com', apiKey: configuredKey, retry: { retries, maxDelayMs: undefined } });
export async function follow(id: string, signal?: AbortSignal): Promise<Operation> {
  await client.submit('report', {}, { idempotencyKey: undefined, signal });
  const op = await client.wait(id, { onProgress: (o) => console.log(o.progress, o.estimated_completion_at) });
  if (op.status === 'completed') { const result = await client.result(id, { signal }); const bytes: Uint8Array = result.body; console.log(bytes.length, result.text(), new Blob([result.body]).size, await crypto.subtle.digest('SHA-256', result.body)); }
  await client.get(id, { signal });
  await client.counts({ tenant });
  await client.listBulkActions({ tenant, cursor: undefined });
  await client.retry(id, { priority: undefined });
  await client.countBulkAction('cancel', { type: undefined, tenant });
  return op;
}
export async function receive(request: Request, secret: string): Promise<string> {
  try {
    const event: WebhookEvent = await verifyWebhook(secret, request.headers, await request.arrayBuffer(), { toleranceS });
    return event.status === 'failed' ? (event.error?.code ?? '') : event.data.id;
  } catch (error) { return error instanceof AsyncOpsApiError ? error.problem.title : String(isTerminalStatus('done')); }
}
`,
    );
    typeChecks('sdk.ts', { lib: ['es2022', 'dom'], types: [], exactOptionalPropertyTypes: true });
  });

  it('asyncops and asyncops/client import from node_modules and serve: a task defined there runs, the SDK fetches its result, the dashboard loads', (t) => {
    if (!installed(t)) return;
    writeFileSync(
      join(project, 'serve.js'),
      `import { createAsyncOps, defineTask } from 'asyncops';
import { AsyncOpsClient } from 'asyncops/client';
const echo = defineTask({ type: 'echo', run: (input) => ({ echoed: input }) });
const ops = await createAsyncOps({ store: ':memory:', tasks: [echo], logger: { level: 'silent' } });
try {
  const client = new AsyncOpsClient({ baseUrl: await ops.listen({ port: 0 }) });
  const op = await client.submit('echo', { hello: 1 }, { waitS: 10 });
  const types = await (await fetch(client.baseUrl + '/task-types')).json();
  const dashboard = await Promise.all(['/dashboard', '/dashboard/assets/index.js', '/dashboard/assets/preact.mjs', '/dashboard/assets/uplot.mjs'].map(async (path) => (await fetch(client.baseUrl + path)).status));
  console.log(JSON.stringify({ status: op.status, result: (await client.result(op.id)).json(), types: types.items.map((t) => t.type), dashboard }));
} finally {
  await ops.close();
}
`,
    );
    const served = run(process.execPath, ['serve.js'], project);
    assert.equal(served.status, 0, served.stderr);
    assert.deepEqual(JSON.parse(served.stdout.trim().split('\n').at(-1)!), {
      status: 'completed',
      result: { echoed: { hello: 1 } },
      types: ['report', 'echo'],
      dashboard: [200, 200, 200, 200],
    });
  });

  it('the CLI runs from node_modules/.bin', (t) => {
    if (!installed(t)) return;
    const version = run(join(project, 'node_modules/.bin/asyncops'), ['--version'], project);
    assert.equal(version.status, 0, version.stderr);
    assert.match(version.stdout, /^\d+\.\d+\.\d+/);
    assert.ok(!existsSync(join(project, 'node_modules/node')), 'no Node binary comes with it');
  });

  it('the built SDK loads only dist/client, dist/signing and dist/json: no node: module, nothing of the server', () => {
    const trace = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `
      import { registerHooks } from 'node:module';
      const seen = [];
      registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); seen.push(r.url); return r; } });
      await import(${JSON.stringify(join(REPO_ROOT, 'dist/client/index.js'))});
      console.log(JSON.stringify(seen));
    `,
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(trace.status, 0, trace.stderr);
    const urls = JSON.parse(trace.stdout) as string[];
    assert.deepEqual(
      urls.filter((u) => !u.includes('/dist/client/') && !u.includes('/dist/signing/') && !u.includes('/dist/json/')),
      [],
    );
  });
});
