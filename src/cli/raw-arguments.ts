// Owns: telling whether the command line's arguments arrived as UTF-8: Node decodes them with U+FFFD in place of bytes
// that are not, so an inline `--input` (or any argument) would reach the API changed, and no later check could see it.
// Not here: what the arguments mean (commander, the commands). Invariant: where the raw bytes cannot be read (no
// /proc: macOS, Windows) or do not line up with process.argv, it says nothing rather than guess.

import { readFileSync } from 'node:fs';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The first of this process's arguments after the command (`submit`, …, as process.argv.slice(2)) that is not UTF-8, by position from 1; null if none is, or if that cannot be told. */
export function firstArgumentNotUtf8(): number | null {
  let raw: Buffer;
  try {
    raw = readFileSync('/proc/self/cmdline');
  } catch {
    return null;
  }
  // NUL after each: the executable, Node's own options, the script, then the arguments.
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0) {
      parts.push(raw.subarray(start, i));
      start = i + 1;
    }
  }
  const args = parts.slice(1 + process.execArgv.length + 1);
  if (args.length !== process.argv.length - 2) return null;
  for (const [index, bytes] of args.entries()) {
    try {
      strictUtf8.decode(bytes);
    } catch {
      return index + 1;
    }
  }
  return null;
}
