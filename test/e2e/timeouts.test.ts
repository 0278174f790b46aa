// End to end: timeout_s is whole seconds everywhere: the --max-timeout ceiling, a task's timeoutS (checked when
// the server starts) and what a client sends, which is held to the ceiling without ever reaching the store as a fraction.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT, startServer, tempDir, type ServerProcess } from '../support/server.ts';
import { request } from '../support/http.ts';
import { killAll, runCli } from '../cli/run-cli.ts';

const dir = tempDir();
let server: ServerProcess;

before(async () => {
  server = await startServer({ args: ['--max-timeout', '2s'] });
});
after(async () => {
  await server?.stop();
  await killAll();
  dir.cleanup();
});

/** A task module in the temp dir; `body` is the object literal it exports, through defineTask or not. */
function taskModule(name: string, body: string, viaDefineTask: boolean): string {
  const path = join(dir.path, `${name}.ts`);
  const taskApi = pathToFileURL(join(REPO_ROOT, 'src/runtime/task.ts')).href;
  writeFileSync(path, viaDefineTask ? `import { defineTask } from '${taskApi}';\nexport default defineTask(${body});\n` : `export default ${body};\n`);
  return path;
}

const serve = (args: readonly string[], env: Record<string, string> = {}) =>
  runCli(['serve', '--port', '0', '--store', ':memory:', '--log-level', 'silent', ...args], { env });

describe('timeouts are whole seconds', () => {
  it('--max-timeout that is not whole seconds is a usage error: exit 2, one line, nothing started', async () => {
    for (const [args, env] of [[['--max-timeout', '1500ms']], [['--max-timeout', '0']], [[], { ASYNCOPS_MAX_TIMEOUT: '0.5' }]] as const) {
      const run = await serve(args, env);
      assert.equal(run.code, 2, `${JSON.stringify([args, env])}: ${run.stderr}`);
      assert.equal(run.stderr.trimEnd().split('\n').length, 1, run.stderr);
      assert.match(run.stderr, /max-timeout|MAX_TIMEOUT/);
      assert.match(run.stderr, /whole number of seconds/);
      assert.equal(run.stdout, '');
    }
  });

  it('a task module with a fractional timeoutS fails at start-up with a message naming it', async () => {
    const defined = await serve(['--tasks', taskModule('defined', "{ type: 'halfway', timeoutS: 1.5, run: () => 1 }", true)]);
    assert.equal(defined.code, 2, defined.stderr);
    assert.match(defined.stderr, /halfway.*timeoutS must be a positive integer up to 315360000 \(whole seconds\), not 1\.5/);
    assert.equal(defined.stderr.trimEnd().split('\n').length, 1, defined.stderr);
    // Without defineTask the registry checks it, before anything listens.
    const plain = await serve(['--tasks', taskModule('plain', "{ type: 'plainly', timeoutS: 0.25, run: () => 1 }", false)]);
    assert.notEqual(plain.code, 0, plain.stderr);
    assert.match(plain.stderr, /plainly.*timeoutS must be a positive integer/);
    assert.doesNotMatch(plain.stdout, /asyncops listening/);
  });

  it('a type default above --max-timeout is held to it; a client value above it is refused, at it accepted', async () => {
    const held = await request(server.url, 'POST', '/operations', { body: { type: 'echo', input: {} } });
    assert.equal(held.status, 202);
    assert.equal(held.body.timeout_s, 2);
    const over = await request(server.url, 'POST', '/operations', { body: { type: 'echo', input: {}, timeout_s: 3 } });
    assert.equal(over.status, 400);
    assert.ok(
      over.body.errors.some((e: any) => e.path === '/timeout_s'),
      JSON.stringify(over.body),
    );
    const at = await request(server.url, 'POST', '/operations', { body: { type: 'echo', input: {}, timeout_s: 2 } });
    assert.equal(at.status, 202);
    assert.equal(at.body.timeout_s, 2);
    const types = await request(server.url, 'GET', '/task-types');
    assert.equal(types.body.items.find((t: any) => t.type === 'hang').timeout_s, 1);
    assert.equal(types.body.items.find((t: any) => t.type === 'echo').timeout_s, 2, 'the type as its operations get it: held to --max-timeout');
  });
});
