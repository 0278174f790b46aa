// Owns: resolving the package's own name to its sources in a test process (`node --import` this file): `asyncops` and
// `asyncops/client` load src/ (the examples' users load the build), so the examples' tests run what the tree holds.
// Invariant: only those two specifiers are redirected; everything else resolves as Node does.

import { registerHooks } from 'node:module';

const SOURCES: Readonly<Record<string, string>> = {
  asyncops: new URL('../../src/index.ts', import.meta.url).href,
  'asyncops/client': new URL('../../src/client/index.ts', import.meta.url).href,
};

registerHooks({
  resolve(specifier, context, next) {
    const source = SOURCES[specifier];
    return source === undefined ? next(specifier, context) : { url: source, shortCircuit: true };
  },
});
