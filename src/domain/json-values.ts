// Owns: what makes a value one JSON can carry as it is: no cycle or BigInt (JSON.stringify throws), no number a
// double holds but JSON cannot write (±Infinity and NaN, which JSON.stringify writes as null), and no Map or Set
// (written as {}); the JSON pointers that name a place in such a value, as problems show them. Not here: where a value
// comes from (a request body, http/json-body.ts; a submit from code, embed.ts; a handler's result, operation.ts) or its
// schema (runtime/registry.ts).
// Invariant: a value that passes is stored and handed on as JSON writes it, nothing in it lost.

import type { FieldError } from './errors.ts';

/** `path` (a JSON pointer) extended by the member or index `key`, escaped as RFC 6901 says (`~` → `~0`, `/` → `~1`). */
export const pointerTo = (path: string, key: string): string => `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;

/** A pointer as a problem shows it: a hostile body's may be very long, so it is cut at 300 characters. */
export const shownPointer = (path: string): string => (path.length > 300 ? `${path.slice(0, 300)}…` : path);

/** The first place in `value` (a pointer, '/' for the whole) JSON would not keep, and why; null if none. */
export interface Unkept {
  readonly path: string;
  readonly message: string;
}

/**
 * The first number in `value` that is not finite, or Map or Set, in document order, or null. Iterative: no stack to
 * overflow. `value` has no cycle (JSON.stringify has taken it, or it was parsed).
 */
export function firstUnkept(value: unknown): Unkept | null {
  const stack: Array<{ value: unknown; path: string }> = [{ value, path: '' }];
  while (stack.length > 0) {
    const { value: node, path } = stack.pop()!;
    if (typeof node === 'number') {
      if (!Number.isFinite(node)) return { path: path || '/', message: 'is a number JSON cannot carry (Infinity or NaN)' };
      continue;
    }
    if (node === null || typeof node !== 'object') continue;
    if (node instanceof Map || node instanceof Set) {
      return { path: path || '/', message: `is a ${node instanceof Map ? 'Map' : 'Set'}, which JSON would keep as {} (make it an object or an array)` };
    }
    const entries = Array.isArray(node) ? node.map((v, i) => [String(i), v] as const) : Object.entries(node);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i]!;
      stack.push({ value: child, path: pointerTo(path, key) });
    }
  }
  return null;
}

/** The JSON pointer of the first number in parsed JSON that is not finite (one past a double), or null. */
export function nonFinitePath(value: unknown): string | null {
  return firstUnkept(value)?.path ?? null;
}

/** Why `value` (at `path`) is not one JSON carries as it is, or null: what a submit from code and a result are checked for. */
export function jsonValueProblem(value: unknown, path: string): FieldError | null {
  try {
    JSON.stringify(value);
  } catch (error) {
    return { path, message: `is not JSON: ${stringifyFailure(error)}` };
  }
  const unkept = firstUnkept(value);
  return unkept === null ? null : { path: `${path}${unkept.path === '/' ? '' : unkept.path}`, message: unkept.message };
}

/** JSON.stringify's own words for a cycle or a BigInt; its stack running out, said plainly. */
export function stringifyFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof RangeError && /call stack/i.test(message)) return 'it is nested too deeply to write';
  return message.split('\n')[0]?.slice(0, 200) ?? '';
}
