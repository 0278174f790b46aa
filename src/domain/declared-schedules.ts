// Owns: which stored row each declared schedule of the task definitions is kept in (its declared key), so a declaration
// keeps its id, its pause and its ticks when a sibling is added, removed or moved. Not here: storing (store/), reading
// the declarations (runtime/schedules.ts). Invariant: pure; one key per declaration, no two the same.

import { canonicalJson } from './canonical-json.ts';
import { DEFAULT_TIMEZONE } from './schedule.ts';

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
 * The key each of `declared` (each task's list in order, `index` its place there) is stored under. A declaration keeps
 * the row that declares the same (type, expression, zone and input) wherever it now stands; failing that (when it is
 * the only declaration and that the only row left with it), the row of its type that declares the same input, or the
 * same expression and zone, or the same expression, or the same zone and input (when either tells schedules apart: a
 * zone other than UTC, an input other than {}) — the one edited: its new expression starts from its next tick there,
 * its pause stays; failing that, the row of its place in the list,
 * `<type>#<index>`, unless a declaration holds it, and then a key no row has. So a sibling added, removed or moved never
 * hands its row (its id, its pause) to another, nor does one removed in the deploy that edits this one while the edit
 * leaves one of those in common; an edit that changes all of them is told from a new declaration by its place alone.
 */
export function declaredKeys(declared: ReadonlyArray<Declaration & { readonly index: number }>, stored: readonly StoredDeclaration[]): string[] {
  const input = (d: Declaration) => canonicalJson(d.input);
  const noInput = (d: Declaration) => ['{}', 'null'].includes(input(d));
  // Each pass pairs what is still unpaired, by less and less of what a declaration says (null: says nothing to pair by).
  // An input of nothing in particular ({}, the default) tells no schedule from another. Past the first (a declaration
  // unchanged, which keeps its row however many are alike), a pass pairs by part of what a declaration says, which
  // several rows or declarations may share: it pairs only a declaration and a row that are each the only one left with
  // it (two edits in one deploy would otherwise trade rows, and a pause with them).
  const passes: Array<{ signature: (d: Declaration) => string | null; onlyOne: boolean }> = [
    { signature: (d) => `${d.type}\u0000${d.cron}\u0000${d.timezone}\u0000${input(d)}`, onlyOne: false },
    { signature: (d) => (noInput(d) ? null : `${d.type}\u0000${input(d)}`), onlyOne: true },
    { signature: (d) => `${d.type}\u0000${d.cron}\u0000${d.timezone}`, onlyOne: true },
    { signature: (d) => `${d.type}\u0000${d.cron}`, onlyOne: true },
    {
      signature: (d) => (d.timezone === DEFAULT_TIMEZONE && noInput(d) ? null : `${d.type}\u0000${d.timezone}\u0000${input(d)}`),
      onlyOne: true,
    },
  ];
  const keys: Array<string | null> = declared.map(() => null);
  const claimed = new Set<string>();
  for (const { signature, onlyOne } of passes) {
    const free = new Map<string, string[]>();
    for (const row of stored) {
      const said = signature(row);
      if (said !== null && !claimed.has(row.key)) free.set(said, [...(free.get(said) ?? []), row.key]);
    }
    // What each declaration still unpaired says (null: paired already, or nothing to pair by), and how many say it.
    const saying = declared.map((d, i) => (keys[i] === null ? signature(d) : null));
    const unpaired = new Map<string, number>();
    for (const said of saying) if (said !== null) unpaired.set(said, (unpaired.get(said) ?? 0) + 1);
    saying.forEach((said, i) => {
      if (said === null) return;
      if (onlyOne && (free.get(said)?.length !== 1 || unpaired.get(said) !== 1)) return;
      const key = free.get(said)?.shift();
      if (key === undefined) return;
      keys[i] = key;
      claimed.add(key);
    });
  }
  const storedKeys = new Set(stored.map((row) => row.key));
  return declared.map((d, i) => {
    const kept = keys[i];
    if (kept !== null && kept !== undefined) return kept;
    let key = `${d.type}#${d.index}`;
    if (claimed.has(key)) {
      let n = 0;
      while (claimed.has(`${d.type}#${n}`) || storedKeys.has(`${d.type}#${n}`)) n++;
      key = `${d.type}#${n}`;
    }
    claimed.add(key);
    return key;
  });
}
