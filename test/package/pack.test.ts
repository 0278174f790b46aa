// The packed package works where another project installs it: `asyncops/client` and `asyncops` import
// from node_modules (where Node strips no types, so from the build), and the client pulls in no server code (only the
// webhook signing it shares with the server).

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, tempDir } from '../support/server.ts';

const dir = tempDir('asyncops-pack-');
after(() => dir.cleanup());

describe('packed package', () => {
  it('installs into another project; asyncops/client and asyncops import from node_modules', () => {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    execFileSync(npm, ['pack', '--silent', '--pack-destination', dir.path], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 120_000,
      env: { ...process.env, PATH: `${join(REPO_ROOT, 'node_modules/.bin')}:${process.env.PATH}` },
    });
    const tarball = readdirSync(dir.path).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack made a tarball');
    const project = join(dir.path, 'consumer');
    const installed = join(project, 'node_modules', 'asyncops');
    mkdirSync(installed, { recursive: true });
    execFileSync('tar', ['-xzf', join(dir.path, tarball), '-C', installed, '--strip-components=1']);
    // The server's own dependencies, as npm would install them beside it.
    for (const dep of readdirSync(join(REPO_ROOT, 'node_modules'))) {
      if (dep !== '.bin' && dep !== 'asyncops') symlinkSync(join(REPO_ROOT, 'node_modules', dep), join(project, 'node_modules', dep));
    }
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
    const script = `
      const client = await import('asyncops/client');
      if (typeof client.AsyncOpsClient !== 'function' || typeof client.verifyWebhook !== 'function') throw new Error('client exports missing');
      const server = await import('asyncops');
      if (typeof server.createAsyncOps !== 'function' || typeof server.defineTask !== 'function') throw new Error('server exports missing');
      const ops = await server.createAsyncOps({ store: ':memory:', logger: { level: 'silent' } });
      await ops.start();
      const reply = await ops.app.inject({ method: 'GET', url: '/task-types' });
      await ops.close();
      console.log(JSON.stringify({ types: reply.json().items.map((t) => t.type) }));
    `;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: project, encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout.trim().split('\n').at(-1)!), { types: ['report'] }, 'migrations and built-ins ship in the package');
    const bin = spawnSync(process.execPath, [join(installed, 'bin/asyncops.js'), '--version'], { cwd: project, encoding: 'utf8', timeout: 30_000 });
    assert.equal(bin.status, 0, bin.stderr);
    assert.match(bin.stdout, /^\d+\.\d+\.\d+/);
  });

  it('the built client imports nothing outside dist/client but dist/signing', () => {
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
    const outside = urls.filter((u) => u.startsWith('file:') && !u.includes('/dist/client/') && !u.includes('/dist/signing/'));
    assert.deepEqual(outside, [], 'only dist/client and dist/signing files and node: builtins');
  });
});
