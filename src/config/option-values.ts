// Owns: checking the values createAsyncOps (and the Fastify plugin) is given against the same bounds the command line
// takes them within, each read by its setting's own reader (settings.ts), and the API keys by the keys file's rules.
// Not here: the bounds themselves (settings.ts, values.ts, api-key-entry.ts), cross-setting rules (main.ts).
// Invariant: a value the command line would refuse is refused here too, with a TypeError naming the option.

import { keyProblem, keySetProblem, policyProblem, type KeyEntry } from './api-key-entry.ts';
import { MAX_ATTEMPTS, PAGE_LIMIT } from './limits.ts';
import { SETTINGS, type SettingKey } from './settings.ts';
import { MAX_DURATION_MS } from './values.ts';

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
  requestTimeoutMs: ['requestTimeout', 'ms'],
  maxPriority: ['maxPriority', 'number'],
  maxStreamsPerKey: ['maxSsePerKey', 'number'],
  sseKeepaliveMs: ['sseKeepalive', 'ms'],
  readCacheMs: ['readCache', 'ms'],
  maxBodyDepth: ['maxBodyDepth', 'number'],
};

/**
 * The switches of createAsyncOps: true or false. A string from the environment or a JSON file (`'false'`) is truthy,
 * and would turn on what it meant to turn off (`allowPrivateWebhooks: 'false'` let loopback webhooks through).
 */
const BOOLEAN_OPTIONS = ['builtInTasks', 'workers', 'http', 'dashboard', 'allowPrivateWebhooks', 'otel'] as const;

/** Throws a TypeError naming the first option whose value its setting refuses; `sha256Hex` hashes an API key. */
export function checkOptionValues(options: Readonly<Record<string, unknown>>, sha256Hex: (key: string) => string): void {
  for (const name of BOOLEAN_OPTIONS) {
    const value = options[name];
    if (value !== undefined && typeof value !== 'boolean') throw new TypeError(`${name} must be true or false (got ${JSON.stringify(value) ?? String(value)})`);
  }
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
  checkApiKeys(options['apiKeys'], sha256Hex);
  checkRateLimits(options['rateLimits']);
  checkRetryBackoff(options['retryBackoff']);
  checkWebhookSchedule(options['webhookScheduleMs']);
  checkLimits(options['limits']);
  const maxSchedules = options['maxSchedules'];
  if (maxSchedules !== undefined && maxSchedules !== null && !isWholeIn(maxSchedules, 1, 1_000_000)) {
    throw new TypeError(`maxSchedules must be a whole number from 1 to 1000000, or null for no cap (got ${String(maxSchedules)})`);
  }
}

const isObject = (value: unknown): value is Readonly<Record<string, unknown>> => value !== null && typeof value === 'object' && !Array.isArray(value);
const isWholeIn = (value: unknown, min: number, max: number): value is number =>
  Number.isInteger(value) && (value as number) >= min && (value as number) <= max;
const isMsIn = (value: unknown, min: number): value is number =>
  typeof value === 'number' && Number.isFinite(value) && value >= min && value <= MAX_DURATION_MS;

/** The keys of `value` other than `known`, as the first one: a misspelt field is as good as a missing one. */
function unknownField(value: Readonly<Record<string, unknown>>, known: readonly string[]): string | undefined {
  return Object.keys(value).find((key) => !known.includes(key));
}

/** As --rate-limit-create and --rate-limit-read take them: 1..1000000 requests a window, or null for none. */
function checkRateLimits(value: unknown): void {
  if (value === undefined) return;
  const rateShape = '{ max: 1..1000000, windowMs: whole milliseconds up to 3650 days } or null (no limit)';
  if (!isObject(value) || unknownField(value, ['create', 'read']) !== undefined) {
    throw new TypeError(`rateLimits must be { create?, read? }, each ${rateShape}`);
  }
  for (const kind of ['create', 'read'] as const) {
    const rate = value[kind];
    if (rate === undefined || rate === null) continue;
    if (!isObject(rate) || !isWholeIn(rate.max, 1, 1_000_000) || !isWholeIn(rate.windowMs, 1, MAX_DURATION_MS)) {
      throw new TypeError(`rateLimits.${kind} must be ${rateShape}`);
    }
  }
}

/**
 * As --retry-base and --retry-max take them (each 0 to 3650 days; a base over the longest is held to it, as the delays
 * are), and a growth of 1 or more.
 */
function checkRetryBackoff(value: unknown): void {
  if (value === undefined) return;
  if (!isObject(value)) throw new TypeError('retryBackoff must be { baseMs, maxMs, factor }');
  const { baseMs, maxMs, factor } = value;
  if (!isMsIn(baseMs, 0)) throw new TypeError(`retryBackoff.baseMs must be 0 ms to 3650 days (got ${String(baseMs)})`);
  if (!isMsIn(maxMs, 0)) throw new TypeError(`retryBackoff.maxMs must be 0 ms to 3650 days (got ${String(maxMs)})`);
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor < 1 || factor > 100) {
    throw new TypeError(`retryBackoff.factor must be a number from 1 to 100 (got ${String(factor)})`);
  }
}

/** As --webhook-schedule takes it: one delay or more, each 0 to 3650 days. */
function checkWebhookSchedule(value: unknown): void {
  if (value === undefined) return;
  if (!Array.isArray(value) || value.length === 0) throw new TypeError('webhookScheduleMs must be a non-empty array of delays in milliseconds');
  value.forEach((delay: unknown, i) => {
    if (!isMsIn(delay, 0)) throw new TypeError(`webhookScheduleMs[${i}] must be 0 ms to 3650 days (got ${String(delay)})`);
  });
}

/** As --max-timeout takes it (whole seconds), and the attempts and page size within what the API takes. */
function checkLimits(value: unknown): void {
  if (value === undefined) return;
  if (!isObject(value) || unknownField(value, ['maxTimeoutS', 'maxAttempts', 'maxListLimit']) !== undefined) {
    throw new TypeError('limits must be { maxTimeoutS?, maxAttempts?, maxListLimit? }');
  }
  const { maxTimeoutS, maxAttempts, maxListLimit } = value;
  if (maxTimeoutS !== undefined) {
    try {
      if (typeof maxTimeoutS !== 'number') throw new TypeError('must be a number');
      SETTINGS.maxTimeout.value.parse(`${maxTimeoutS}s`, 'limits.maxTimeoutS');
    } catch (error) {
      throw new TypeError(`limits.maxTimeoutS: ${(error as Error).message} (got ${String(maxTimeoutS)})`);
    }
  }
  if (maxAttempts !== undefined && !isWholeIn(maxAttempts, 1, MAX_ATTEMPTS)) {
    throw new TypeError(`limits.maxAttempts must be a whole number from 1 to ${MAX_ATTEMPTS} (got ${String(maxAttempts)})`);
  }
  if (maxListLimit !== undefined && !isWholeIn(maxListLimit, 1, PAGE_LIMIT.max)) {
    throw new TypeError(`limits.maxListLimit must be a whole number from 1 to ${PAGE_LIMIT.max} (got ${String(maxListLimit)})`);
  }
}

function checkApiKeys(keys: unknown, sha256Hex: (key: string) => string): void {
  if (keys === undefined) return;
  if (!Array.isArray(keys)) throw new TypeError('apiKeys must be an array of { tenant, key } (or { tenant, sha256 }) entries');
  keys.forEach((item: unknown, i) => {
    if (item === null || typeof item !== 'object') throw new TypeError(`apiKeys[${i}] must be an object`);
    const { tenant, key, sha256, weight, maxPriority, admin } = item as Record<string, unknown>;
    const problem = keyProblem(tenant, key, sha256) ?? policyProblem(weight, maxPriority, 'maxPriority');
    if (problem !== null) throw new TypeError(`apiKeys[${i}]: ${problem}`);
    if (admin !== undefined && typeof admin !== 'boolean') throw new TypeError(`apiKeys[${i}]: admin must be true or false`);
  });
  const problem = keySetProblem(keys as KeyEntry[], sha256Hex);
  if (problem !== null) throw new TypeError(`apiKeys: ${problem}`);
}
