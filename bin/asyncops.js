#!/usr/bin/env node
// Owns: the `asyncops` executable: refuse a Node too old to run it, then hand over to the CLI's entry
// (the built JavaScript in an installed package, the TypeScript sources in a checkout).
// Invariant: plain JavaScript that any Node parses, so an old Node gets one readable line instead of a syntax error.

import { existsSync } from 'node:fs';
import module from 'node:module';

// Node does not strip types under node_modules, so an installed package runs its build; a checkout its sources.
const installed = import.meta.url.includes('/node_modules/');
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  // A checkout's npm install brings Node 24 (a devDependency) for npx; an installed package brings none.
  const remedy = installed ? 'install Node.js 24 or newer and run asyncops with it' : 'in a checkout, npm install brings it: run npx asyncops';
  process.stderr.write(`asyncops: needs Node.js 24 or newer (this is ${process.versions.node}); ${remedy}\n`);
  process.exit(2);
}
// Every command is a fresh process that loads the same ~100 modules: Node's on-disk compile cache (in the OS temp
// directory unless NODE_COMPILE_CACHE says otherwise; NODE_DISABLE_COMPILE_CACHE=1 turns it off) cuts a server's
// start-up by about 40 %. Modules imported after this call are cached, which is every one but this file.
module.enableCompileCache?.();
const built = new URL('../dist/cli/main.js', import.meta.url);
if (installed && !existsSync(built)) {
  process.stderr.write('asyncops: this installed copy has no dist/ build; reinstall it from a packed release\n');
  process.exit(2);
}
// In a checkout, a task module's `import … from 'asyncops'` (README, docs/tasks.md) gets the sources this CLI runs,
// wherever the module is: not dist/, which a checkout has only after a build, and then perhaps an old one.
if (!installed) {
  const sources = {
    asyncops: new URL('../src/index.ts', import.meta.url).href,
    'asyncops/client': new URL('../src/client/index.ts', import.meta.url).href,
  };
  module.registerHooks?.({
    resolve: (specifier, context, nextResolve) =>
      Object.hasOwn(sources, specifier) ? { url: sources[specifier], shortCircuit: true } : nextResolve(specifier, context),
  });
  // Hooks are the main thread's: a task's worker thread (inWorkerThread) registers the same from this.
  globalThis[Symbol.for('asyncops.sources')] = sources;
}
const { main } = await import(installed ? built.href : '../src/cli/main.ts');
process.exitCode = await main(process.argv);
