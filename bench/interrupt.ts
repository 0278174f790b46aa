// Owns: what a run still owes when it is interrupted (SIGINT, SIGTERM: Ctrl-C, a `kill`, a CI job cancelled), where no
// `finally` runs: the children it started are stopped and the stores and key prefixes it made are removed, then it
// exits. Not here: making them (stores.ts, processes.ts, peer-scenarios.ts), which owe and settle each one.
// Invariant: a cleanup is owed from when its thing is made until its own `finally` has undone it.

type Cleanup = () => Promise<unknown>;

const owed = new Set<Cleanup>();
let interrupted = false;

/**
 * Throws once the run is interrupted: what would start a process or make a store calls it first, so a scenario the run
 * goes on to while it cleans up makes nothing its cleanup (already under way) would miss.
 */
export function refuseIfInterrupted(): void {
  if (interrupted) throw new Error('the run was interrupted');
}

export function wasInterrupted(): boolean {
  return interrupted;
}

/**
 * Owes `cleanup` until the returned settle is called, by the code that undoes it itself when the run goes on, once
 * it is done: an interrupt while it is under way runs it again rather than exit before it ends (so each must be safe
 * to run twice).
 */
export function owe(cleanup: Cleanup): () => void {
  owed.add(cleanup);
  return () => void owed.delete(cleanup);
}

/** Past this, an interrupted run exits with whatever is left undone rather than hang on a database that does not answer. */
const CLEANUP_BOUND_MS = 30_000;

/**
 * On SIGINT or SIGTERM: `stopProcesses` first (a store is removed once nothing holds it), then every cleanup owed, then
 * exit 130 or 143. A second signal while it cleans up exits at once.
 */
export function cleanUpOnInterrupt(stopProcesses: () => Promise<void>, log: (line: string) => void): void {
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted = true;
    const status = signal === 'SIGINT' ? 130 : 143;
    process.once('SIGINT', () => process.exit(status));
    process.once('SIGTERM', () => process.exit(status));
    log(`${signal}: stopping what the run started and removing its stores …`);
    setTimeout(() => {
      log(`cleanup took longer than ${CLEANUP_BOUND_MS / 1000} s; exiting with it unfinished`);
      process.exit(status);
    }, CLEANUP_BOUND_MS).unref();
    void stopProcesses()
      .catch(() => {})
      .then(() => Promise.allSettled([...owed].map((cleanup) => cleanup())))
      .then(() => process.exit(status));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}
