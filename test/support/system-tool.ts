// Owns: finding a program from Debian's packages that a test needs (promtool, chromium), and what a test does when it
// is missing: skip with a message naming the package, except under CI=true, where .ci/run installs it, so a missing
// one fails rather than letting the test pass unseen.

import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { TestContext } from 'node:test';

/** The program's path (`name` on PATH, or an absolute path), or null once `t` has been skipped. */
export function systemTool(t: TestContext, name: string, debianPackage: string): string | null {
  const candidates = name.startsWith('/')
    ? [name]
    : (process.env.PATH ?? '')
        .split(delimiter)
        .filter((dir) => dir !== '')
        .map((dir) => join(dir, name));
  const found = candidates.find((path) => existsSync(path));
  if (found !== undefined) return found;
  const message = `${name} is not installed (Debian package ${debianPackage}: apt-get install ${debianPackage}; .ci/run installs it)`;
  if (process.env.CI === 'true') throw new Error(`${message}; under CI=true this fails instead of skipping`);
  t.skip(message);
  return null;
}
