// Owns: which stored row each declared schedule of the task definitions is kept in (its declared key), so a declaration
// keeps its id, its pause and its ticks when a sibling is added, removed or moved. Not here: storing (store/), reading
// the declarations (runtime/schedules.ts). Invariant: pure; one key per declaration, no two the same.

import { canonicalJson } from './canonical-json.ts';

/** A declaration as written in its task, or a declared row as stored: what it declares. */
export interface Declaration {
  readonly type: string;
  readonly cron: string;
  readonly timezone: string;
  readonly input: unknown;
}

/** A declared row as stored, under its key. */
export interface StoredDeclaration extends Declaration {
  readonly key: string;
}

/**
 * The key each of `declared` (each task's list in order, `index` its place there) is stored under. One that declares
 * what a stored row does (type, expression, zone and input) keeps that row wherever it now stands; one that does not
 * takes the row of its place in the list, `<type>#<index>` (a changed expression starts from its next tick there, a
 * pause stays), unless a declaration that kept its row holds that key, and then a key no row has: a row of its own,
 * never the row (the id, the pause) of another declaration that was removed.
 */
export function declaredKeys(declared: ReadonlyArray<Declaration & { readonly index: number }>, stored: readonly StoredDeclaration[]): string[] {
  const what = (d: Declaration) => `${d.type}\u0000${d.cron}\u0000${d.timezone}\u0000${canonicalJson(d.input)}`;
  const unclaimed = new Map<string, string[]>();
  for (const row of stored) unclaimed.set(what(row), [...(unclaimed.get(what(row)) ?? []), row.key]);
  const keys: Array<string | null> = declared.map((d) => unclaimed.get(what(d))?.shift() ?? null);
  const taken = new Set(keys.filter((key): key is string => key !== null));
  const storedKeys = new Set(stored.map((row) => row.key));
  return declared.map((d, i) => {
    const kept = keys[i];
    if (kept !== null && kept !== undefined) return kept;
    let key = `${d.type}#${d.index}`;
    if (taken.has(key)) {
      let n = 0;
      while (taken.has(`${d.type}#${n}`) || storedKeys.has(`${d.type}#${n}`)) n++;
      key = `${d.type}#${n}`;
    }
    taken.add(key);
    return key;
  });
}
