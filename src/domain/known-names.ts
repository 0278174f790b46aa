// Owns: refusing a name an object of options does not take, with the one it is nearest to: a misspelt option (or a
// `timeZone` where `timezone` is meant) would otherwise be ignored for its default without a word.
// Not here: which names each object takes (embed.ts for createAsyncOps, runtime/task.ts for a task and its schedules).

/**
 * The message for the first key of `object` not among `known` ("where: unknown option "x" (did you mean "y"?)"), or
 * null when every key is known. Only a name near enough to be a slip of the same word is offered.
 */
export function unknownNameMessage(object: object, known: readonly string[], where: string): string | null {
  const unknown = Object.keys(object).find((key) => !known.includes(key));
  if (unknown === undefined) return null;
  const [nearest] = known
    .map((name) => ({ name, distance: editDistance(name.toLowerCase(), unknown.toLowerCase()) }))
    .filter(({ distance }) => distance <= Math.max(1, Math.floor(unknown.length / 4)))
    .sort((a, b) => a.distance - b.distance);
  return `${where}: unknown option "${unknown}"${nearest === undefined ? '' : ` (did you mean "${nearest.name}"?)`}`;
}

/** Levenshtein distance, for names of a few dozen characters. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}
