#!/usr/bin/env node
// Owns: the `asyncops` executable: refuse a Node too old to run TypeScript sources, then hand over to src/cli/main.ts.
// Invariant: plain JavaScript that any Node parses, so an old Node gets one readable line instead of a syntax error.

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(`asyncops: needs Node.js 22.18 or newer (this is ${process.versions.node})\n`);
  process.exit(2);
}
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv);
