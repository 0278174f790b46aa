// `serve` and `worker` take their options from the settings table: every flag, variable and default it declares
// shows in --help as declared, a value that does not read is commander's usage error naming where it came from, and
// switches from the environment are read strictly.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command, type CommanderError } from 'commander';
import { SETTINGS, type Setting } from '../../../src/config/settings.ts';
import { registerServerCommands } from '../../../src/cli/server/serve.ts';
import { envSwitch, settingOption } from '../../../src/cli/server/setting-options.ts';
import { UsageError } from '../../../src/cli/exit-codes.ts';

const entries = Object.values(SETTINGS) as Setting[];

function serverHelp(name: 'serve' | 'worker'): string {
  const program = new Command('asyncops');
  registerServerCommands(program);
  // Wide, so no help line wraps and each default stays on its flag's line.
  return program.commands
    .find((c) => c.name() === name)!
    .configureOutput({ getOutHelpWidth: () => 1000 })
    .helpInformation();
}

/** Parses argv with one option, as commander would for a command; throws its CommanderError. */
function parseWith(setting: Setting, argv: string[]): unknown {
  const command = new Command('x')
    .exitOverride()
    .configureOutput({ writeErr: () => {} })
    .addOption(settingOption(setting));
  command.parse(argv, { from: 'user' });
  return command.opts()[Object.keys(SETTINGS).find((key) => SETTINGS[key as keyof typeof SETTINGS] === setting)!];
}

describe('serve and worker options', () => {
  for (const name of ['serve', 'worker'] as const) {
    it(`${name} --help lists each of its settings with its variable and its default as declared, and no other`, () => {
      const help = serverHelp(name);
      for (const setting of entries) {
        const line = help.split('\n').find((l) => l.trimStart().startsWith(`${setting.flag} `));
        if (!setting.commands.includes(name)) {
          assert.equal(line, undefined, `${setting.flag} is not a ${name} option`);
          continue;
        }
        assert.ok(line !== undefined, `${setting.flag} in ${name} --help`);
        if (setting.env !== undefined) assert.ok(line.includes(setting.env), `${setting.flag}: ${setting.env}`);
        // Commander quotes a string default; one that applies only sometimes says when.
        const expected =
          setting.otherwise ??
          (setting.defaultWhen !== undefined
            ? `${setting.default} ${setting.defaultWhen}`
            : typeof setting.defaultValue === 'string'
              ? JSON.stringify(setting.default)
              : setting.default);
        if (expected !== undefined) assert.ok(line.includes(`default: ${expected}`), `${setting.flag}: default ${expected} in\n${line}`);
      }
    });
  }

  it("gives the declared default when nothing is given, and reads a flag with the setting's reader", () => {
    assert.equal(parseWith(SETTINGS.concurrency, []), 8);
    assert.equal(parseWith(SETTINGS.lease, ['--lease', '2m']), 120_000);
    assert.deepEqual(parseWith(SETTINGS.webhookSchedule, []), SETTINGS.webhookSchedule.defaultValue);
    assert.equal(parseWith(SETTINGS.rateLimitCreate, []), undefined, 'a default that depends on exposure is left to serve');
    assert.deepEqual(parseWith(SETTINGS.tasks, ['--tasks', 'a.ts,b.ts', 'c.ts', '--tasks', 'd.ts']), ['a.ts', 'b.ts', 'c.ts', 'd.ts']);
  });

  it('a value that does not read is a usage error naming the flag, or the variable it came from', () => {
    assert.throws(
      () => parseWith(SETTINGS.concurrency, ['--concurrency', '0']),
      (error: CommanderError) =>
        error.code === 'commander.invalidArgument' &&
        /'--concurrency <n>' argument '0' is invalid\. --concurrency must be an integer from 1 to 1000/.test(error.message),
    );
    process.env.ASYNCOPS_READ_CACHE = '1m';
    try {
      assert.throws(
        () => parseWith(SETTINGS.readCache, []),
        (error: CommanderError) => /ASYNCOPS_READ_CACHE.*must be at most 10s/.test(error.message),
      );
    } finally {
      delete process.env.ASYNCOPS_READ_CACHE;
    }
  });

  it('a switch from the environment is read strictly: false is off, an odd word is refused', () => {
    assert.equal(envSwitch(SETTINGS.insecure, {}), false);
    assert.equal(envSwitch(SETTINGS.insecure, { ASYNCOPS_INSECURE: 'false' }), false);
    assert.equal(envSwitch(SETTINGS.allowPrivateWebhooks, { ASYNCOPS_ALLOW_PRIVATE_WEBHOOKS: 'on' }), true);
    for (const odd of ['maybe', '']) {
      assert.throws(
        () => envSwitch(SETTINGS.insecure, { ASYNCOPS_INSECURE: odd }),
        (error: Error) => error instanceof UsageError && /^ASYNCOPS_INSECURE: expected true or false/.test(error.message),
        JSON.stringify(odd),
      );
    }
  });
});
