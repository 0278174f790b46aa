// Owns: waitFor, the bounded wait tests use instead of sleeping.
// Invariant: every wait ends: with the predicate's value, or with an error naming what was awaited, at timeoutMs.

import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  /** Give up after this long. Default 5 s. */
  readonly timeoutMs?: number;
  /** Check this often. Default 10 ms. */
  readonly intervalMs?: number;
  /** Named in the error when the wait times out. */
  readonly what?: string;
}

/** Resolve with the first truthy value of `predicate` (sync or async); reject after `timeoutMs`. */
export async function waitFor<T>(predicate: () => T | Promise<T>, options: WaitOptions = {}): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const intervalMs = options.intervalMs ?? 10;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value as NonNullable<T>;
    if (performance.now() >= deadline) throw new Error(`waitFor timed out after ${timeoutMs} ms${options.what ? `: ${options.what}` : ''}`);
    await sleep(intervalMs);
  }
}
