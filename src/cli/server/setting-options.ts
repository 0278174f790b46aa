// Owns: a declared setting (config/settings.ts) as a commander Option: flag, variable, reader, default, help line.
// Not here: which settings a command takes (serve.ts). Invariant: --help shows a default as declared (as the README
// does); a value that does not read is commander's usage error naming the flag or variable it came from.

import { InvalidArgumentError, Option } from 'commander';
import type { Setting } from '../../config/settings.ts';
import { UsageError } from '../exit-codes.ts';

export interface SettingOptionOverrides<T> {
  /** Reads the value further once the setting's reader has taken it; throws a TypeError to refuse it. */
  readonly parse?: (value: T) => unknown;
  readonly help?: string;
}

export function settingOption<T>(setting: Setting<T>, overrides: SettingOptionOverrides<T> = {}): Option {
  const help = overrides.help ?? setting.help;
  const { value } = setting;
  if (value.kind === 'negation') return new Option(setting.flag, help);
  if (value.kind === 'switch') {
    // Not commander's .env(): it turns a switch on for any value, so FOO=false would mean true. envSwitch reads it.
    const option = new Option(setting.flag, setting.env === undefined ? help : `${help} (env: ${setting.env}=true|false)`);
    return option.default(setting.defaultValue ?? false, setting.default);
  }
  const option = new Option(`${setting.flag} ${setting.arg ?? '<value>'}`, `${help}${shownDefault(setting)}`);
  if (setting.env !== undefined) option.env(setting.env);
  if (value.kind === 'choice') option.choices(value.choices ?? []);
  else option.argParser(reader(setting, overrides.parse));
  if (setting.defaultValue !== undefined && setting.defaultWhen === undefined) {
    // A string default shows quoted, as commander shows strings; any other shows as it is written.
    option.default(setting.defaultValue, typeof setting.defaultValue === 'string' ? undefined : setting.default);
  }
  return option;
}

/** What commander cannot show itself: a default that applies only sometimes, or what happens without one. */
function shownDefault(setting: Setting<unknown>): string {
  if (setting.defaultWhen !== undefined) return ` (default: ${setting.default} ${setting.defaultWhen})`;
  if (setting.otherwise !== undefined) return ` (default: ${setting.otherwise})`;
  return '';
}

function reader<T>(setting: Setting<T>, further: ((value: T) => unknown) | undefined): (text: string, previous: unknown) => unknown {
  const several = setting.arg?.endsWith('...>') === true;
  return (text, previous) => {
    let parsed: unknown;
    try {
      const value = setting.value.parse(text, setting.flag);
      parsed = further === undefined ? value : further(value);
    } catch (error) {
      if (error instanceof TypeError) throw new InvalidArgumentError(error.message);
      throw error;
    }
    // A flag that takes several (`--tasks a.ts b.ts`, or given twice) gathers them; given a reader, commander does not.
    return several && Array.isArray(previous) && Array.isArray(parsed) ? [...(previous as unknown[]), ...parsed] : parsed;
  };
}

/**
 * A switch from the environment, read strictly (commander would turn it on for any value). Unset is off; anything but
 * the words a switch takes, set to nothing included (an unset `${VAR}` in a compose file), is a usage error naming it.
 */
export function envSwitch(setting: Setting, env: NodeJS.ProcessEnv = process.env): boolean {
  const raw = setting.env === undefined ? undefined : env[setting.env];
  if (raw === undefined) return false;
  try {
    return setting.value.parse(raw, setting.env!) === true;
  } catch (error) {
    throw new UsageError(`${setting.env}: ${(error as Error).message}`);
  }
}
