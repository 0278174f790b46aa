// Owns: npm test's second pass: every end-to-end file again, but its STORE_INDEPENDENT parts, with its servers on
// PostgreSQL (ASYNCOPS_E2E_STORE=postgres, a schema per server or per test store). Not here: choosing the store
// (server.ts), the tests themselves.
// Invariant: without a server the pass is skipped with one line saying why, except under CI=true, where that fails.

import { spawn } from 'node:child_process';
import { postgresSkipReason } from './postgres.ts';
import { REPO_ROOT } from './server.ts';

let skip: string | null;
try {
  skip = await postgresSkipReason();
} catch (error) {
  console.error(`end-to-end tests on PostgreSQL: ${(error as Error).message}`);
  process.exit(1);
}
if (skip !== null) {
  console.log(`# SKIP end-to-end tests on PostgreSQL: ${skip}`);
  process.exit(0);
}

console.log('# end-to-end tests on PostgreSQL (ASYNCOPS_E2E_STORE=postgres)');
const child = spawn(
  process.execPath,
  ['--test', '--import', './test/support/compile-cache.ts', '--test-concurrency=4', '--test-timeout=120000', 'test/e2e/*.test.ts'],
  {
    cwd: REPO_ROOT,
    env: { ...process.env, ASYNCOPS_E2E_STORE: 'postgres' },
    stdio: 'inherit',
  },
);
// Ctrl-C reaches the child through the terminal's process group; this only waits for it.
child.once('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
