// Owns: waiting a while, cut short by an AbortSignal, with nothing but the timers every runtime has (Node, browsers,
// Deno, Bun), so the SDK needs no `node:` module. Invariant: an aborted wait rejects with the signal's reason.

export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
