// Owns: the store contract's watch over what a store announces: each operation's `operation:changed` events, in version
// order, must start at the initial status with no version skipped, and every status change must be one the domain's
// transition table allows (domain/status.ts). Not here: which changes happen (the contract cases).
// Invariant: uses only Store.subscribe; reports what broke, one line each, and never throws from the listener.

import { allowsChange, INITIAL_STATUS, type OperationStatus } from '../../src/domain/status.ts';
import type { Store } from '../../src/store/store.ts';

interface Seen {
  readonly version: number;
  readonly status: OperationStatus;
}

export class AnnouncedChanges {
  #seen = new Map<string, Seen[]>();
  #unsubscribe: () => void;

  constructor(store: Store) {
    this.#unsubscribe = store.subscribe((event) => {
      if (event.kind !== 'operation:changed') return;
      const list = this.#seen.get(event.id) ?? [];
      list.push({ version: event.version, status: event.status });
      this.#seen.set(event.id, list);
    });
  }

  /** Stops listening; what the changes heard so far broke. */
  stop(): string[] {
    this.#unsubscribe();
    return [...this.#seen].flatMap(([id, seen]) => violations(id, seen));
  }
}

function violations(id: string, seen: readonly Seen[]): string[] {
  const found: string[] = [];
  // A store may announce one version twice (it reached the feed by two ways); never two statuses for one version.
  const byVersion = new Map<number, OperationStatus>();
  for (const { version, status } of seen) {
    const earlier = byVersion.get(version);
    if (earlier !== undefined && earlier !== status) found.push(`${id}: version ${version} announced as ${earlier} and as ${status}`);
    byVersion.set(version, status);
  }
  const versions = [...byVersion.keys()].sort((a, b) => a - b);
  if (versions[0] !== 1 || byVersion.get(1) !== INITIAL_STATUS)
    found.push(`${id}: first announced as v${versions[0]} ${byVersion.get(versions[0]!)}, not v1 ${INITIAL_STATUS}`);
  for (let i = 1; i < versions.length; i++) {
    const [before, after] = [versions[i - 1]!, versions[i]!];
    const [from, to] = [byVersion.get(before)!, byVersion.get(after)!];
    if (after !== before + 1) found.push(`${id}: v${before} ${from} then v${after} ${to}: a change in between was not announced`);
    else if (from !== to && !allowsChange(from, to)) found.push(`${id}: ${from} → ${to} (v${before} → v${after}) is not in the transition table`);
  }
  return found;
}
