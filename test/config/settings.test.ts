// The settings table: docs/configuration.md's table says what it declares (flag, variable, default, order), its
// names follow one pattern, its defaults read as what they say, and src/config/ stays a leaf every layer may import.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Option } from 'commander';
import { DEFAULT_RATE_LIMITS, DEFAULTS, SETTINGS, type Setting } from '../../src/config/settings.ts';

const CONFIGURATION_DOC = fileURLToPath(new URL('../../docs/configuration.md', import.meta.url));
const CONFIG_DIR = fileURLToPath(new URL('../../src/config/', import.meta.url));
const entries = Object.entries(SETTINGS) as [string, Setting][];

interface Row {
  readonly line: number;
  readonly flag: string | null;
  readonly envs: string[];
  readonly default: string;
}

/** The rows of the table under `# Configuration` (up to a `##` section): flag, variables and default, as a reader sees them. */
function configurationRows(readme: string): Row[] {
  const lines = readme.split('\n');
  const start = lines.findIndex((l) => l.trim() === '# Configuration');
  if (start < 0) return [];
  const end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  const rows: Row[] = [];
  for (let i = start + 1; i < (end < 0 ? lines.length : end); i++) {
    const line = lines[i]!;
    if (!line.startsWith('|') || /^\|\s*(flag\s*\||-)/.test(line)) continue;
    const [flagCell = '', envCell = '', defaultCell = ''] = line
      .split('|')
      .slice(1)
      .map((cell) => cell.trim());
    rows.push({
      line: i + 1,
      flag: /--[a-z][a-z-]*/.exec(flagCell)?.[0] ?? null,
      envs: envCell.match(/ASYNCOPS_[A-Z_]+/g) ?? [],
      // Backticks are formatting and ¹ a footnote: neither is part of the default.
      default: defaultCell
        .replace(/[`¹²³]/g, '')
        .replace(/\s+/g, ' ')
        .trim(),
    });
  }
  return rows;
}

/** How the table should show a setting's default: as declared, or what happens without one. */
const shownDefault = (setting: Setting): string => setting.default ?? setting.otherwise ?? '—';

/** Every way the table differs from the settings, one message each; none when they agree. */
function tableProblems(readme: string): string[] {
  const rows = configurationRows(readme);
  if (rows.length === 0) return ['docs/configuration.md has no table under "# Configuration"'];
  const problems: string[] = [];
  const byFlag = new Map(entries.map(([, s]) => [s.flag, s]));
  for (const row of rows) {
    const at = `docs/configuration.md:${row.line} (${row.flag ?? 'no flag'})`;
    const setting = row.flag === null ? undefined : byFlag.get(row.flag);
    if (setting === undefined) {
      problems.push(`${at}: no such setting in src/config/settings.ts; declare it there or drop the row`);
      continue;
    }
    const envs = setting.env === undefined ? [] : [setting.env];
    if (row.envs.join(',') !== envs.join(','))
      problems.push(`${at}: environment is ${row.envs.join(', ') || '—'}, src/config/settings.ts says ${envs.join(', ') || '—'}`);
    if (row.default !== shownDefault(setting)) problems.push(`${at}: default is "${row.default}", src/config/settings.ts says "${shownDefault(setting)}"`);
  }
  const inReadme = rows.map((r) => r.flag);
  for (const [, setting] of entries) {
    if (!inReadme.includes(setting.flag)) problems.push(`docs/configuration.md: no row for ${setting.flag}, which src/config/settings.ts declares`);
  }
  const declared = entries.map(([, s]) => s.flag).filter((flag) => inReadme.includes(flag));
  const listed = inReadme.filter((flag) => flag !== null && byFlag.has(flag));
  if (problems.length === 0 && listed.join() !== declared.join()) {
    const i = listed.findIndex((flag, n) => flag !== declared[n]);
    problems.push(`docs/configuration.md: rows are not in src/config/settings.ts's order: ${declared[i]} comes before ${listed[i]}`);
  }
  return problems;
}

describe('the configuration table in docs/configuration.md', () => {
  const readme = readFileSync(CONFIGURATION_DOC, 'utf8');

  it('has a row for every setting, with its flag, environment variable and default, in the same order', () => {
    assert.deepEqual(tableProblems(readme), []);
  });

  it('fails, saying where and what, when a row is wrong, missing, extra or out of order', () => {
    const row = (flag: string) => readme.split('\n').find((l) => l.startsWith(`| \`${flag}\``))!;
    const wrongDefault = readme.replace(row('--max-body-depth'), row('--max-body-depth').replace('`32`', '`64`'));
    assert.match(
      tableProblems(wrongDefault).join('\n'),
      /docs\/configuration\.md:\d+ \(--max-body-depth\): default is "64", src\/config\/settings\.ts says "32"/,
    );
    const wrongEnv = readme.replace(row('--lease'), row('--lease').replace('ASYNCOPS_LEASE', 'ASYNCOPS_LEASE_MS'));
    assert.match(tableProblems(wrongEnv).join('\n'), /\(--lease\): environment is ASYNCOPS_LEASE_MS, src\/config\/settings\.ts says ASYNCOPS_LEASE/);
    const missing = readme.replace(`${row('--grace')}\n`, '');
    assert.deepEqual(tableProblems(missing), ['docs/configuration.md: no row for --grace, which src/config/settings.ts declares']);
    const extra = readme.replace(row('--grace'), `${row('--grace')}\n| \`--turbo\` | — | off | faster |`);
    assert.match(tableProblems(extra).join('\n'), /\(--turbo\): no such setting in src\/config\/settings\.ts/);
    const swapped = readme.replace(row('--port'), '@@').replace(row('--host'), row('--port')).replace('@@', row('--host'));
    assert.deepEqual(tableProblems(swapped), ["docs/configuration.md: rows are not in src/config/settings.ts's order: --port comes before --host"]);
    assert.deepEqual(tableProblems('# no configuration here'), ['docs/configuration.md has no table under "# Configuration"']);
  });
});

describe('settings', () => {
  it('each key is the name commander gives its flag, and each variable is ASYNCOPS_ and the flag', () => {
    for (const [key, setting] of entries) {
      assert.equal(new Option(`${setting.flag} ${setting.arg ?? ''}`.trim()).attributeName(), key, setting.flag);
      if (setting.env !== undefined) assert.equal(setting.env, `ASYNCOPS_${setting.flag.slice(2).toUpperCase().replaceAll('-', '_')}`, setting.flag);
      const value = setting.value.kind;
      assert.equal(setting.arg === undefined, value === 'switch' || value === 'negation', `${setting.flag}: an argument exactly when it is not a switch`);
      assert.ok(setting.commands.length > 0, `${setting.flag} belongs to a command`);
      assert.ok(!(setting.default !== undefined && setting.otherwise !== undefined), `${setting.flag}: a default, or what happens without one, not both`);
    }
  });

  it('defaults are their declared text, read by their own setting', () => {
    assert.equal(DEFAULTS.concurrency, 8);
    assert.equal(DEFAULTS.port, 8080);
    assert.equal(DEFAULTS.lease, 30_000);
    assert.equal(DEFAULTS.retention, 7 * 86_400_000);
    assert.equal(DEFAULTS.maxTimeout, 86_400_000);
    assert.equal(DEFAULTS.maxResultBytes, 64 * 1024 * 1024);
    assert.equal(DEFAULTS.bodyLimit, 1024 * 1024);
    assert.equal(DEFAULTS.readCache, 250);
    assert.deepEqual(DEFAULTS.webhookSchedule, [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]);
    assert.equal(DEFAULTS.allowPrivateWebhooks, false);
    assert.deepEqual(DEFAULT_RATE_LIMITS, { create: { max: 50, windowMs: 1000 }, read: { max: 100, windowMs: 1000 } });
    assert.ok(!('tasks' in DEFAULTS) && !('webhookSecret' in DEFAULTS), 'a setting without a default has no entry');
  });

  it('readers refuse what is out of range, saying what was expected', () => {
    const refuses = (key: keyof typeof SETTINGS, text: string, message: RegExp) =>
      assert.throws(
        () => SETTINGS[key].value.parse(text, SETTINGS[key].flag),
        (error: Error) => error instanceof TypeError && message.test(error.message),
        `${key} ${text}`,
      );
    refuses('concurrency', '0', /^--concurrency must be an integer from 1 to 1000$/);
    refuses('concurrency', '2.5', /integer from 1 to 1000/);
    refuses('lease', '5 minutes', /^expected a duration such as 500ms, 10s, 5m, 2h or 7d, of at most 3650d$/);
    // Past a date: a retry's run_at or a lease's end would not be a time.
    refuses('retryBase', '999999999d', /of at most 3650d$/);
    refuses('lease', '3651d', /of at most 3650d$/);
    // Waited out by one timer each: a longer one fired at once (every webhook timed out, a stop did not wait).
    refuses('webhookTimeout', '25d', /^must be at most 24d: no timer holds a longer wait$/);
    refuses('grace', '25d', /^must be at most 24d/);
    // Decimal digits only: Number() would read '' as 0 (an unset ${PORT} in a compose file) and take 0x50 or 1e3.
    for (const text of ['', ' ', '0x50', '1e3', '0b101', '+ 8', '8.0']) refuses('concurrency', text, /^--concurrency must be an integer from 1 to 1000$/);
    refuses('host', '', /^must not be empty$/);
    // Taken as none given, silently: an unset ${WEBHOOK_SECRET} signed with a generated secret every receiver refuses.
    refuses('webhookSecret', '', /^names nothing/);
    refuses('tasks', ' , ', /^names nothing/);
    refuses('store', ' ', /^must not be empty$/);
    refuses('maxTimeout', '1500ms', /whole number of seconds/);
    refuses('readCache', '11s', /^must be at most 10s: queue positions and ETAs would grow old$/);
    refuses('bodyLimit', '65mb', /^must be between 1kb and 64mb$/);
    refuses('maxResultBytes', '1gb', /^expected a size such as 1mb or 65536$/);
    refuses('rateLimitRead', '0/s', /^expected a rate such as 20\/s/);
    refuses('insecure', 'maybe', /^expected true or false \(1\/0, yes\/no, on\/off\), got "maybe"$/);
    refuses('logLevel', 'loud', /expected one of fatal, error/);
    const read = <K extends keyof typeof SETTINGS>(key: K, text: string) => SETTINGS[key].value.parse(text, SETTINGS[key].flag);
    assert.equal(read('readCache', '0'), 0);
    assert.equal(read('concurrency', ' 12 '), 12);
    assert.equal(read('resultRetention', '3650d'), 3_650 * 86_400_000);
    assert.equal(read('maxResultBytes', '200mb'), 200 * 1024 * 1024);
    assert.deepEqual(read('rateLimitCreate', ' 600 / m '), { max: 600, windowMs: 60_000 });
    assert.equal(read('rateLimitCreate', 'OFF'), 'off');
    assert.equal(read('maxSchedules', ' 250 '), 250);
    assert.equal(read('maxSchedules', 'Off'), 'off');
    assert.throws(() => read('maxSchedules', '0'), /^TypeError: --max-schedules must be an integer from 1 to 1000000, or off$/);
    assert.throws(() => read('maxSchedules', '1e3'), /^TypeError: --max-schedules must be an integer from 1 to 1000000, or off$/);
    assert.deepEqual(read('webhookSecret', 'whsec_a, whsec_b whsec_c'), ['whsec_a', 'whsec_b', 'whsec_c']);
    assert.deepEqual(read('tasks', 'a.ts,,b.ts'), ['a.ts', 'b.ts']);
    assert.equal(read('insecure', ' Yes '), true);
  });

  it('src/config/ imports only domain/ and its own files, so every layer may read it', () => {
    const specifier = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g;
    const offending: string[] = [];
    for (const file of readdirSync(CONFIG_DIR).filter((f) => f.endsWith('.ts'))) {
      for (const [, spec] of readFileSync(join(CONFIG_DIR, file), 'utf8').matchAll(specifier)) {
        if (!/^\.\/[^/]+\.ts$/.test(spec!) && !/^\.\.\/domain\/[^/]+\.ts$/.test(spec!)) offending.push(`${file}: ${spec}`);
      }
    }
    assert.deepEqual(offending, []);
  });
});
