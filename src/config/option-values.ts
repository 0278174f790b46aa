// Owns: checking the values createAsyncOps (and the Fastify plugin) is given against the same bounds the command line
// takes them within, each read by its setting's own reader (settings.ts), and the API keys by the keys file's rules.
// Not here: the bounds themselves (settings.ts, values.ts, api-key-entry.ts), cross-setting rules (main.ts).
// Invariant: a value the command line would refuse is refused here too, with a TypeError naming the option.

import { keyProblem, policyProblem } from './api-key-entry.ts';
import { SETTINGS, type SettingKey } from './settings.ts';

/** An option in milliseconds is read as `<n>ms`; one in units as the number itself. */
type Unit = 'ms' | 'number';

/** Each numeric option of createAsyncOps, the setting whose reader bounds it, and its unit. */
const NUMERIC_OPTIONS: Readonly<Record<string, readonly [SettingKey, Unit]>> = {
  concurrency: ['concurrency', 'number'],
  keyConcurrency: ['keyConcurrency', 'number'],
  webhookTimeoutMs: ['webhookTimeout', 'ms'],
  webhookLeaseMs: ['webhookLease', 'ms'],
  webhookConcurrency: ['webhookConcurrency', 'number'],
  webhookConcurrencyPerDestination: ['webhookConcurrencyPerDestination', 'number'],
  leaseMs: ['lease', 'ms'],
  shutdownGraceMs: ['grace', 'ms'],
  retentionMs: ['retention', 'ms'],
  resultRetentionMs: ['resultRetention', 'ms'],
  maxResultBytes: ['maxResultBytes', 'number'],
  bodyLimit: ['bodyLimit', 'number'],
  maxPriority: ['maxPriority', 'number'],
  maxStreamsPerKey: ['maxSsePerKey', 'number'],
  readCacheMs: ['readCache', 'ms'],
  maxBodyDepth: ['maxBodyDepth', 'number'],
};

/** Throws a TypeError naming the first option whose value its setting refuses. */
export function checkOptionValues(options: Readonly<Record<string, unknown>>): void {
  for (const [name, [key, unit]] of Object.entries(NUMERIC_OPTIONS)) {
    const value = options[name];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new TypeError(`${name} must be a finite number (got ${String(value)})`);
    if (unit === 'ms' && value < 0) throw new TypeError(`${name} must be 0 or more milliseconds (got ${value})`);
    const setting = SETTINGS[key] as { readonly value: { readonly parse: (text: string, name: string) => unknown } };
    try {
      setting.value.parse(unit === 'ms' ? `${value}ms` : String(value), name);
    } catch (error) {
      const message = (error as Error).message;
      throw new TypeError(message.startsWith(name) ? message : `${name}: ${message} (got ${value})`);
    }
  }
  checkApiKeys(options['apiKeys']);
}

function checkApiKeys(keys: unknown): void {
  if (keys === undefined) return;
  if (!Array.isArray(keys)) throw new TypeError('apiKeys must be an array of { tenant, key } (or { tenant, sha256 }) entries');
  keys.forEach((item: unknown, i) => {
    if (item === null || typeof item !== 'object') throw new TypeError(`apiKeys[${i}] must be an object`);
    const { tenant, key, sha256, weight, maxPriority, admin } = item as Record<string, unknown>;
    const problem = keyProblem(tenant, key, sha256) ?? policyProblem(weight, maxPriority, 'maxPriority');
    if (problem !== null) throw new TypeError(`apiKeys[${i}]: ${problem}`);
    if (admin !== undefined && typeof admin !== 'boolean') throw new TypeError(`apiKeys[${i}]: admin must be true or false`);
  });
}
