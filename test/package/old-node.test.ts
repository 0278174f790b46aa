// Owns: what bin/asyncops.js says on a Node older than 24, in a checkout and in an installed package: one line, exit 2,
// with the remedy that fits where it runs. Runs on the machine's own older Node (/usr/bin/node), skipped without one.
// Invariant: the copy under node_modules is the same file, so it tells "installed" as a real install would.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_ENTRY } from '../support/server.ts';

const OLD_NODE = '/usr/bin/node';
const oldNodeMajor = (() => {
  const found = spawnSync(OLD_NODE, ['-p', 'process.versions.node'], { encoding: 'utf8' });
  return found.status === 0 ? Number(found.stdout.split('.')[0]) : null;
})();
const skip = oldNodeMajor === null ? `no Node at ${OLD_NODE}` : oldNodeMajor >= 24 ? `${OLD_NODE} is Node ${oldNodeMajor}, not an older one` : false;

describe('asyncops on a Node older than 24', { skip }, () => {
  it('in a checkout, says npm install brings Node 24 for npx', () => {
    const run = spawnSync(OLD_NODE, [CLI_ENTRY, '--version'], { encoding: 'utf8' });
    assert.equal(run.status, 2);
    assert.match(run.stderr, /^asyncops: needs Node\.js 24 or newer \(this is \d+\.\d+\.\d+\); in a checkout, npm install brings it: run npx asyncops\n$/);
  });

  it('installed, says to run it with a Node 24 of your own (npx brings none there)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'asyncops-old-node-'));
    try {
      const bin = join(dir, 'node_modules', 'asyncops', 'bin');
      mkdirSync(bin, { recursive: true });
      copyFileSync(CLI_ENTRY, join(bin, 'asyncops.js'));
      const run = spawnSync(OLD_NODE, [join(bin, 'asyncops.js'), '--version'], { encoding: 'utf8' });
      assert.equal(run.status, 2);
      assert.match(run.stderr, /^asyncops: needs Node\.js 24 or newer \(this is \d+\.\d+\.\d+\); install Node\.js 24 or newer and run asyncops with it\n$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
