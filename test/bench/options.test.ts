import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { BenchUsageError, parseBenchArgs, SCENARIOS } from '../../bench/options.ts';

describe('bench/options', () => {
  it('reads the flags, with every default scenario on both stores by default', () => {
    const options = parseBenchArgs([]);
    assert.ok(!('help' in options));
    assert.equal(options.mode, 'full');
    assert.deepEqual(options.stores, ['sqlite', 'postgres']);
    assert.deepEqual([...options.only], [...SCENARIOS]);
    assert.equal(options.onlyGiven, false);
    const some = parseBenchArgs(['--quick', '--store', 'postgres', '--only', 'drain,enqueue', '--peers']);
    assert.ok(!('help' in some));
    assert.equal(some.mode, 'quick');
    assert.deepEqual(some.stores, ['postgres']);
    assert.deepEqual([...some.only], ['drain', 'enqueue']);
    assert.equal(some.onlyGiven, true);
    assert.equal(some.peers, true);
    assert.deepEqual(parseBenchArgs(['--help']), { help: true });
  });

  it('refuses what it cannot follow with one line naming it', () => {
    const refused = (args: string[], pattern: RegExp) =>
      assert.throws(
        () => parseBenchArgs(args),
        (e: unknown) => e instanceof BenchUsageError && pattern.test(e.message) && !e.message.includes('\n'),
      );
    refused(['--quik'], /Unknown option '--quik'/);
    refused(['--store', 'mysql'], /--store must be one of sqlite, postgres, both \(got 'mysql'\)/);
    refused(['--only', 'drain,drian'], /unknown scenario 'drian'/);
    refused(['--only', ''], /at least one scenario/);
    refused(['--only'], /argument missing/);
    refused(['--only', 'drain,enqueue'], /^--only enqueue is the peers' one-at-a-time workload: add --peers$/);
  });

  it('prints its usage on --help, and exits 2 with the usage on a bad flag, before measuring anything', () => {
    const run = (args: string[]) =>
      spawnSync(process.execPath, ['bench/run.ts', ...args], {
        encoding: 'utf8',
        timeout: 30_000,
        env: { ...process.env, ASYNCOPS_BENCH_PG_URL: 'postgres://nobody@127.0.0.1:1/none' },
      });
    const results = () => (existsSync('bench/results') ? readdirSync('bench/results').length : 0);
    const before = results();
    const help = run(['--help']);
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /^usage: npm run bench -- /);
    const bad = run(['--store', 'mysql']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^bench: --store must be one of sqlite, postgres, both \(got 'mysql'\)\nusage: /);
    assert.doesNotMatch(bad.stderr, /at .*run\.ts/);
    assert.equal(results(), before, 'no report written');
  });
});
