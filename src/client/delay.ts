// Owns: waiting a while, cut short by an AbortSignal, and timers of any length, with nothing but the timers every
// runtime has (Node, browsers, Deno, Bun), so the SDK needs no `node:` module. Invariant: an aborted wait rejects with
// the signal's reason; no timer here fires before its time, however long that is.

/** The longest delay a timer holds (2^31 − 1 ms, about 24.8 days): a longer one fires at once in every runtime. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Runs `fire` after `ms`, a longer delay than a timer holds re-armed in parts; `clear()` calls it off. */
export function setLongTimeout(fire: () => void, ms: number): { clear(): void } {
  let timer: ReturnType<typeof setTimeout>;
  const arm = (left: number) => {
    timer = setTimeout(() => (left > MAX_TIMER_MS ? arm(left - MAX_TIMER_MS) : fire()), Math.min(left, MAX_TIMER_MS));
  };
  arm(ms);
  return { clear: () => clearTimeout(timer) };
}

/** `timeoutMs` as given, or a TypeError naming `what`: a wait or request needs a positive number of milliseconds. */
export function checkedTimeoutMs(what: string, timeoutMs: number | undefined): number | undefined {
  if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && timeoutMs > 0)) {
    throw new TypeError(`${what}: timeoutMs must be a positive number of milliseconds (Infinity: none), got ${String(timeoutMs)}`);
  }
  return timeoutMs;
}

export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      timer.clear();
      reject(signal?.reason);
    };
    const timer = setLongTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
