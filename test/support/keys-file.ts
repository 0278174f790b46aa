// Owns: the keys file of the tests that need two tenants and an operator: tenants alpha and beta, and an admin key of
// tenant ops (docs/security.md), written as JSON into a test's own directory.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes `dir/keys.json` with these three keys and returns its path (for --api-keys-file). */
export function writeTenantsAndAdminKeys(dir: string, keys: { readonly alpha: string; readonly beta: string; readonly admin: string }): string {
  const path = join(dir, 'keys.json');
  writeFileSync(
    path,
    JSON.stringify([
      { tenant: 'alpha', key: keys.alpha },
      { tenant: 'beta', key: keys.beta },
      { tenant: 'ops', key: keys.admin, admin: true },
    ]),
  );
  return path;
}
