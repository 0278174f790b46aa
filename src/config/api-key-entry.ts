// Owns: what makes API key entries valid, wherever they come from (a keys file, ASYNCOPS_API_KEYS, createAsyncOps's
// apiKeys): one entry's tenant name, key or SHA-256, weight and priority ceiling; and a set's keys all distinct, each
// tenant's policy given once. Not here: reading files and lines (cli/server/api-keys.ts), comparing keys (http/auth.ts).
// Invariant: each check answers with one line naming the field, or null.

import { PRIORITY, TENANT_NAME } from './limits.ts';

// RFC 6750's b64token, so any key fits in `Authorization: Bearer KEY` as it is.
const KEY = /^[A-Za-z0-9._~+/-]+=*$/;
export const MIN_KEY_LENGTH = 16;
const MAX_KEY_LENGTH = 512;
const HEX_SHA256 = /^[0-9a-f]{64}$/i;
/** The largest weight: one tenant with 1000 times another's turns is as uneven as a share needs to be. */
export const MAX_WEIGHT = 1000;

/** What is wrong with an entry's tenant and key (a key or its sha256, not both), or null. */
export function keyProblem(tenant: unknown, key: unknown, hash: unknown): string | null {
  if (typeof tenant !== 'string' || !TENANT_NAME.test(tenant)) return "the tenant must be 1..64 letters, digits, '_', '.' or '-'";
  if (typeof hash === 'string' && key === undefined) return HEX_SHA256.test(hash) ? null : 'sha256 must be 64 hex digits';
  if (typeof key !== 'string' || hash !== undefined) return 'give a key (or its sha256), not both';
  if (key.length < MIN_KEY_LENGTH || key.length > MAX_KEY_LENGTH || !KEY.test(key)) {
    return `a key must be ${MIN_KEY_LENGTH}..${MAX_KEY_LENGTH} characters of A-Z a-z 0-9 - . _ ~ + / (then = padding)`;
  }
  return null;
}

/** What is wrong with an entry's fairness fields (`maxPriority` is named as `priorityName` says), or null. */
export function policyProblem(weight: unknown, maxPriority: unknown, priorityName: string): string | null {
  if (weight !== undefined && (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 1 || weight > MAX_WEIGHT)) {
    return `weight must be an integer 1..${MAX_WEIGHT}`;
  }
  if (
    maxPriority !== undefined &&
    (typeof maxPriority !== 'number' || !Number.isInteger(maxPriority) || maxPriority < PRIORITY.min || maxPriority > PRIORITY.max)
  ) {
    return `${priorityName} must be an integer ${PRIORITY.min}..${PRIORITY.max}`;
  }
  return null;
}

/** An entry as the set rules read it: a key given as it is, or as its SHA-256. */
export interface KeyEntry {
  readonly tenant: string;
  readonly key?: string | undefined;
  readonly sha256?: string | undefined;
  readonly weight?: number | undefined;
  readonly maxPriority?: number | undefined;
}

/**
 * What is wrong with a set of valid entries, or null: a key given twice (for one tenant or two, also once as it is and
 * once as its SHA-256: it would sign in as whichever came first), or a tenant given two weights or two ceilings.
 * `sha256Hex` hashes a key (passed in: this module does no hashing of its own, so any layer may read it).
 */
export function keySetProblem(entries: readonly KeyEntry[], sha256Hex: (key: string) => string): string | null {
  const seen = new Set<string>();
  for (const entry of entries) {
    const id = entry.key !== undefined ? sha256Hex(entry.key) : (entry.sha256 ?? '').toLowerCase();
    if (seen.has(id)) return `a key is configured twice (tenant ${entry.tenant}); every key must be distinct`;
    seen.add(id);
  }
  for (const [field, name] of [
    ['weight', 'weight'],
    ['maxPriority', 'max_priority'],
  ] as const) {
    const set = new Map<string, number>();
    for (const entry of entries) {
      const value = entry[field];
      if (value === undefined) continue;
      if (set.has(entry.tenant) && set.get(entry.tenant) !== value) return `tenant ${entry.tenant} has two different ${name} values; give one`;
      set.set(entry.tenant, value);
    }
  }
  return null;
}
