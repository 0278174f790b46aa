// Owns: the API's fixed ranges and per-type defaults, which no flag changes. Not here: settings (settings.ts).
// Invariant: the server's checks, the route schemas (so the OpenAPI document) and the CLI's client commands all read
// these, so they cannot disagree.

import { MAX_DURATION_MS } from './values.ts';

// An operation's priority range: decided with the priority rule (domain/fairness.ts), named here beside the other ranges.
export { PRIORITY } from '../domain/fairness.ts';

// A tenant's name (keys files, a submit from code): the domain's rule, named here beside the other ranges.
export { TENANT_NAME } from '../domain/operation.ts';

/** A `concurrency_key`: 1..128 characters, a letter or digit first, then letters, digits and `_ . : @ / -`. */
export const CONCURRENCY_KEY = /^[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,127}$/;
export const MAX_CONCURRENCY_KEY_LENGTH = 128;

/** The most attempts an operation may ask for (`max_attempts`). */
export const MAX_ATTEMPTS = 25;

/** `timeout_s` is whole seconds from 1 up to the server's `--max-timeout`. */
export const MIN_TIMEOUT_S = 1;

/** The longest `webhook_url` accepted, in characters. */
export const MAX_URL_LENGTH = 2048;

/** A list's `limit`: how many items a page holds when none is asked for, and at most. */
export const PAGE_LIMIT = { default: 50, max: 200 } as const;

/**
 * The most a task type may declare (defineTask): its slots as `--concurrency` and `--key-concurrency` take them, its
 * timeout as `--max-timeout` (ten years), and attempts far past any backoff's use. The stores keep each as a 32-bit
 * integer, which a larger one broke on PostgreSQL.
 */
export const TASK_MAX = { concurrency: 1000, keyConcurrency: 100_000, maxAttempts: 1000, timeoutS: MAX_DURATION_MS / 1000 } as const;

/** A task type's `timeoutS` and `maxAttempts` when its definition sets none. */
export const TASK_DEFAULTS = { timeoutS: 300, maxAttempts: 3 } as const;
