// Owns: what makes a value one JSON can carry as it is: no cycle or BigInt (JSON.stringify throws), and no number a
// double holds but JSON cannot write (±Infinity and NaN, which JSON.stringify writes as null); the JSON pointers that
// name a place in such a value, as problems show them. Not here: where a value
// comes from (a request body, http/json-body.ts; a submit from code, embed.ts) or its schema (runtime/registry.ts).
// Invariant: a value that passes is stored and handed to its handler as it was given.

import type { FieldError } from './errors.ts';

/** `path` (a JSON pointer) extended by the member or index `key`, escaped as RFC 6901 says (`~` → `~0`, `/` → `~1`). */
export const pointerTo = (path: string, key: string): string => `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;

/** A pointer as a problem shows it: a hostile body's may be very long, so it is cut at 300 characters. */
export const shownPointer = (path: string): string => (path.length > 300 ? `${path.slice(0, 300)}…` : path);

/** The JSON pointer of the first number in `value` that is not finite, or null. Iterative: no stack to overflow. */
export function nonFinitePath(value: unknown): string | null {
  const stack: Array<{ value: unknown; path: string }> = [{ value, path: '' }];
  while (stack.length > 0) {
    const { value: node, path } = stack.pop()!;
    if (typeof node === 'number') {
      if (!Number.isFinite(node)) return path || '/';
      continue;
    }
    if (node === null || typeof node !== 'object') continue;
    const entries = Array.isArray(node) ? node.map((v, i) => [String(i), v] as const) : Object.entries(node);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i]!;
      stack.push({ value: child, path: pointerTo(path, key) });
    }
  }
  return null;
}

/** Why `value` (at `path`) is not one JSON carries as it is, or null: what a submit from code is checked for. */
export function jsonValueProblem(value: unknown, path: string): FieldError | null {
  try {
    JSON.stringify(value);
  } catch (error) {
    // A cycle or a BigInt: JSON.stringify's own words say which.
    return { path, message: `is not JSON: ${(error as Error).message.split('\n')[0]?.slice(0, 200)}` };
  }
  const at = nonFinitePath(value);
  return at === null ? null : { path: `${path}${at === '/' ? '' : at}`, message: 'is a number JSON cannot carry (Infinity or NaN)' };
}
