import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installMatchesLockfile } from '../../bench/peer-scenarios.ts';

const LOCK = {
  packages: {
    '': { name: 'peers' },
    'node_modules/bullmq': { version: '5.1.0' },
    'node_modules/pg': { version: '8.11.0' },
    'node_modules/other-platform-binary': { version: '1.0.0', optional: true },
  },
};

describe('bench/peers install check', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  function peersDir(installed: unknown): string {
    const dir = mkdtempSync(join(tmpdir(), 'asyncops-peers-install-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'package-lock.json'), JSON.stringify(LOCK));
    if (installed !== undefined) {
      mkdirSync(join(dir, 'node_modules'));
      if (installed !== null)
        writeFileSync(join(dir, 'node_modules', '.package-lock.json'), typeof installed === 'string' ? installed : JSON.stringify(installed));
    }
    return dir;
  }

  it('takes a finished install of the lockfile as installed, with optional packages absent', () => {
    const { '': _root, 'node_modules/other-platform-binary': _optional, ...installed } = LOCK.packages;
    assert.equal(installMatchesLockfile(peersDir({ packages: installed })), true);
  });

  it('reinstalls when node_modules is missing, or an install was cut short before npm wrote its record', () => {
    assert.equal(installMatchesLockfile(peersDir(undefined)), false);
    assert.equal(installMatchesLockfile(peersDir(null)), false);
    assert.equal(installMatchesLockfile(peersDir('{"packages": {')), false);
  });

  it('reinstalls when the lockfile asks for a package, or a version, the install does not have', () => {
    assert.equal(installMatchesLockfile(peersDir({ packages: { 'node_modules/bullmq': { version: '5.1.0' } } })), false);
    assert.equal(
      installMatchesLockfile(peersDir({ packages: { 'node_modules/bullmq': { version: '5.0.0' }, 'node_modules/pg': { version: '8.11.0' } } })),
      false,
    );
  });
});
