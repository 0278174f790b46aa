// Owns: reading API keys from a key file (`--api-keys-file`) and from ASYNCOPS_API_KEYS or `--api-keys`, in the formats
// the README documents: lines `tenant:key` or `tenant:sha256:<hex>`, a JSON array of {tenant, key | sha256, weight?, max_priority?, admin?}, and in the
// environment `tenant:key,tenant2:key2`. Not here: hashing and checking keys (http/auth.ts).
// Invariant: a malformed entry is a UsageError naming where it is, never quoting the key.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AsyncOpsOptions } from '../../main.ts';
import { UsageError } from '../exit-codes.ts';
import { keyProblem, keySetProblem, policyProblem } from '../../config/api-key-entry.ts';

/** One key as the server takes it (createAsyncOps's `apiKeys`). */
type ApiKeyConfig = NonNullable<AsyncOpsOptions['apiKeys']>[number];

/** Fairness fields of a JSON entry: `weight` (a share of turns) and `max_priority` (a ceiling on priority). */
function policy(weight: unknown, maxPriority: unknown, where: string): { weight?: number; maxPriority?: number } {
  const problem = policyProblem(weight, maxPriority, 'max_priority');
  if (problem !== null) throw new UsageError(`${where}: ${problem}`);
  return { ...(weight === undefined ? {} : { weight: weight as number }), ...(maxPriority === undefined ? {} : { maxPriority: maxPriority as number }) };
}

function entry(tenant: unknown, key: unknown, hash: unknown, where: string): ApiKeyConfig {
  const problem = keyProblem(tenant, key, hash);
  if (problem !== null) throw new UsageError(`${where}: ${problem}`);
  return typeof hash === 'string' ? { tenant: tenant as string, sha256: hash.toLowerCase() } : { tenant: tenant as string, key: key as string };
}

/** One `tenant:key` or `tenant:sha256:<hex>`. */
function fromPair(text: string, where: string): ApiKeyConfig {
  const colon = text.indexOf(':');
  if (colon < 0) throw new UsageError(`${where}: expected tenant:key`);
  const tenant = text.slice(0, colon);
  const rest = text.slice(colon + 1);
  return rest.startsWith('sha256:') ? entry(tenant, undefined, rest.slice('sha256:'.length), where) : entry(tenant, rest, undefined, where);
}

export function parseApiKeysText(text: string, source: string): ApiKeyConfig[] {
  const trimmed = text.trim();
  let keys: ApiKeyConfig[];
  if (trimmed.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new UsageError(`${source}: not valid JSON`);
    }
    if (!Array.isArray(parsed)) throw new UsageError(`${source}: expected a JSON array of {"tenant", "key"} objects`);
    keys = parsed.map((item: unknown, i) => {
      if (item === null || typeof item !== 'object' || Array.isArray(item)) throw new UsageError(`${source}: item ${i} is not an object`);
      const { tenant, key, sha256, weight, max_priority, admin, ...rest } = item as Record<string, unknown>;
      if (Object.keys(rest).length > 0) throw new UsageError(`${source}: item ${i} has unknown fields (${Object.keys(rest).join(', ')})`);
      if (admin !== undefined && typeof admin !== 'boolean') throw new UsageError(`${source}: item ${i}: admin must be true or false`);
      return {
        ...entry(tenant, key, sha256, `${source}: item ${i}`),
        ...policy(weight, max_priority, `${source}: item ${i}`),
        ...(admin === true ? { admin } : {}),
      };
    });
  } else {
    keys = [];
    trimmed.split(/\r?\n/).forEach((line, i) => {
      const content = line.trim();
      if (content.length === 0 || content.startsWith('#')) return;
      keys.push(fromPair(content, `${source}: line ${i + 1}`));
    });
  }
  if (keys.length === 0) throw new UsageError(`${source}: no keys in it`);
  return keys;
}

/** `source`: how the path was given (`--api-keys-file` or ASYNCOPS_API_KEYS_FILE), for messages. */
export function readApiKeysFile(path: string, source = '--api-keys-file'): ApiKeyConfig[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`${source} ${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return parseApiKeysText(text, `${source} ${path}`);
}

/**
 * `tenant:key` pairs separated by commas or whitespace, from ASYNCOPS_API_KEYS or `--api-keys`; `source` names which,
 * so a message sends the user to the place the bad entry is.
 */
export function parseApiKeysEnv(value: string, source = 'ASYNCOPS_API_KEYS'): ApiKeyConfig[] {
  const pairs = value.split(/[\s,]+/).filter((part) => part.length > 0);
  if (pairs.length === 0) throw new UsageError(`${source}: no keys in it`);
  return pairs.map((pair, i) => fromPair(pair, `${source}: entry ${i + 1}`));
}

/** Keys from both sources; the same key twice (for one tenant or two) is refused, as is a tenant with two policies. */
export function mergeApiKeys(...lists: ReadonlyArray<readonly ApiKeyConfig[]>): ApiKeyConfig[] {
  const all = lists.flat();
  const problem = keySetProblem(all, (key) => createHash('sha256').update(key).digest('hex'));
  if (problem !== null) throw new UsageError(`API keys: ${problem}`);
  return all;
}
