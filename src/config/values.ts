// Owns: the kinds of value a setting takes (duration, size, integer range, rate, list, choice, switch) and reading
// each from text: a flag, a variable, a declared default. Not here: which settings exist (settings.ts).
// Invariant: what does not read is a TypeError saying what was expected; nothing outside the range is returned.

/** `max` requests per `windowMs`, per principal. */
export interface Rate {
  readonly max: number;
  readonly windowMs: number;
}

/**
 * How a setting's text becomes its value. `kind` tells a command line how to take it: `value` after the flag,
 * `choice` one of `choices`, `switch` a flag alone (its environment variable reads `true`/`false`), `negation` a
 * `--no-…` flag that turns on-by-default behaviour off.
 */
export interface ValueType<T> {
  readonly kind: 'value' | 'choice' | 'switch' | 'negation';
  /** `name` is the flag, for messages that name it. */
  readonly parse: (text: string, name: string) => T;
  readonly choices?: readonly string[];
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * The longest duration any setting takes: ten years. A time that far from now is still a date (a retry's run_at, a
 * lease's end), where 999999999d put one past what a Date or a SQLite integer holds.
 */
export const MAX_DURATION_MS = 3_650 * 86_400_000;

/** A human duration ("250ms", "10s", "5m", "2h", "7d"; a bare number is seconds) in ms, up to MAX_DURATION_MS, or null. */
export function parseDuration(text: string): number | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(text);
  if (!match) return null;
  const ms = Number(match[1]) * (UNIT_MS[(match[2] ?? 's').toLowerCase()] ?? 1000);
  return Number.isFinite(ms) && ms <= MAX_DURATION_MS ? Math.round(ms) : null;
}

export function text(): ValueType<string> {
  return { kind: 'value', parse: (value) => value };
}

/** Text that says something: an empty value (a variable set to nothing, `${PORT}` unset in a compose file) is refused. */
export function nonEmptyText(): ValueType<string> {
  return {
    kind: 'value',
    parse: (value) => {
      if (value.trim() === '') throw new TypeError('must not be empty');
      return value;
    },
  };
}

/**
 * Split on `separator`, empty parts dropped: `a, b` and `a b` are the same list. One that names nothing (a variable set
 * to nothing, as a compose file leaves an unset `${SECRET}`) is refused: it would be taken as none given, silently.
 */
export function list(separator: RegExp): ValueType<string[]> {
  return {
    kind: 'value',
    parse: (value) => {
      const parts = value
        .split(separator)
        .map((part) => part.trim())
        .filter((part) => part.length > 0);
      if (parts.length === 0) throw new TypeError('names nothing: give at least one, or leave it unset');
      return parts;
    },
  };
}

export function choice<const C extends string>(choices: readonly C[]): ValueType<C> {
  return {
    kind: 'choice',
    choices,
    parse: (value) => {
      if (!(choices as readonly string[]).includes(value)) throw new TypeError(`expected one of ${choices.join(', ')}`);
      return value as C;
    },
  };
}

export function int(min: number, max: number): ValueType<number> {
  return {
    kind: 'value',
    parse: (value, name) => {
      // Decimal digits only: Number() reads '' and ' ' as 0, and takes 0x50, 1e3 and 0b101.
      const n = /^\s*-?\d+\s*$/.test(value) ? Number(value) : Number.NaN;
      if (!Number.isInteger(n) || n < min || n > max) throw new TypeError(`${name} must be an integer from ${min} to ${max}`);
      return n;
    },
  };
}

const readDuration = (value: string): number => {
  const ms = parseDuration(value);
  if (ms === null) throw new TypeError('expected a duration such as 500ms, 10s, 5m, 2h or 7d, of at most 3650d');
  return ms;
};

export function duration(): ValueType<number> {
  return { kind: 'value', parse: readDuration };
}

/** At least `minMs`; `why` says what a shorter one would do. */
export function durationFrom(minMs: number, minText: string, why: string): ValueType<number> {
  return {
    kind: 'value',
    parse: (value) => {
      const ms = readDuration(value);
      if (ms < minMs) throw new TypeError(`must be at least ${minText}: ${why}`);
      return ms;
    },
  };
}

/** The longest a setting that one timer waits out may be: Node's timers hold about 24.8 days (a longer one fires at once). */
const MAX_TIMER_SETTING_MS = 24 * 86_400_000;

/** A duration one timer waits out whole: at least `minMs` (`minWhy` says why), at most 24d. */
export function timerDuration(minMs: number, minText: string, minWhy: string): ValueType<number> {
  const atLeast = durationFrom(minMs, minText, minWhy);
  return {
    kind: 'value',
    parse: (value, name) => {
      const ms = atLeast.parse(value, name);
      if (ms > MAX_TIMER_SETTING_MS) throw new TypeError('must be at most 24d: no timer holds a longer wait');
      return ms;
    },
  };
}

/** At most `maxMs`; `why` says what a longer one would do. */
export function durationUpTo(maxMs: number, maxText: string, why: string): ValueType<number> {
  return {
    kind: 'value',
    parse: (value) => {
      const ms = readDuration(value);
      if (ms > maxMs) throw new TypeError(`must be at most ${maxText}: ${why}`);
      return ms;
    },
  };
}

/** A duration that is a whole number of seconds, at least one (in ms, as every duration is). */
export function wholeSeconds(): ValueType<number> {
  return {
    kind: 'value',
    parse: (value) => {
      const ms = readDuration(value);
      if (ms < 1000 || ms % 1000 !== 0) throw new TypeError('must be a whole number of seconds, at least 1 (such as 300, 90s, 5m or 24h)');
      return ms;
    },
  };
}

/** Comma-separated durations, such as a retry schedule. */
export function durationList(): ValueType<number[]> {
  return { kind: 'value', parse: (value) => value.split(',').map((part) => readDuration(part.trim())) };
}

/** A size in bytes such as `1mb` or `65536`, from 1kb up to `maxMb` megabytes. */
export function bytes(maxMb: number): ValueType<number> {
  return {
    kind: 'value',
    parse: (value) => {
      const match = /^(\d+)\s*(b|kb|k|mb|m)?$/i.exec(value.trim());
      if (!match) throw new TypeError('expected a size such as 1mb or 65536');
      const unit = (match[2] ?? 'b').toLowerCase();
      const n = Number(match[1]) * (unit.startsWith('m') ? 1024 * 1024 : unit.startsWith('k') ? 1024 : 1);
      if (n < 1024 || n > maxMb * 1024 * 1024) throw new TypeError(`must be between 1kb and ${maxMb}mb`);
      return n;
    },
  };
}

const RATE_WINDOWS_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000 };

/** A whole number from `min` to `max`, or `off`. */
export function intOrOff(min: number, max: number): ValueType<number | 'off'> {
  const whole = int(min, max);
  return {
    kind: 'value',
    parse: (value, name) => {
      if (/^\s*off\s*$/i.test(value)) return 'off';
      try {
        return whole.parse(value, name);
      } catch {
        throw new TypeError(`${name} must be an integer from ${min} to ${max}, or off`);
      }
    },
  };
}

/** `20/s`, `600/m`, `10000/h`, or `off` (a word, not null: a command-line parser may turn a null into ''). */
export function rate(): ValueType<Rate | 'off'> {
  return {
    kind: 'value',
    parse: (value) => {
      if (/^\s*off\s*$/i.test(value)) return 'off';
      const match = /^\s*(\d+)\s*\/\s*(s|m|h)\s*$/i.exec(value);
      const max = Number(match?.[1]);
      if (!match || !Number.isInteger(max) || max < 1 || max > 1_000_000)
        throw new TypeError('expected a rate such as 20/s, 600/m or 10000/h (1..1000000), or off');
      return { max, windowMs: RATE_WINDOWS_MS[match[2]!.toLowerCase()]! };
    },
  };
}

const SWITCH_WORDS: Readonly<Record<string, boolean>> = { '1': true, true: true, yes: true, on: true, '0': false, false: false, no: false, off: false };

/** On or off: as a flag alone, or as a word (`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`) in the environment. */
export function onOff(): ValueType<boolean> {
  return {
    kind: 'switch',
    parse: (value) => {
      const on = SWITCH_WORDS[value.trim().toLowerCase()];
      if (on === undefined) throw new TypeError(`expected true or false (1/0, yes/no, on/off), got ${JSON.stringify(value.slice(0, 40))}`);
      return on;
    },
  };
}

/** A `--no-…` flag: what it turns off is on unless it is given. */
export function negation(): ValueType<boolean> {
  return { kind: 'negation', parse: () => false };
}
