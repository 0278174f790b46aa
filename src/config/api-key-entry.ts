// Owns: what makes one API key entry valid, wherever it comes from (a keys file, ASYNCOPS_API_KEYS, createAsyncOps's
// apiKeys): its tenant's name, a key or its SHA-256, a weight and a priority ceiling. Not here: reading files and lines
// (cli/server/api-keys.ts), comparing keys (http/auth.ts).
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
