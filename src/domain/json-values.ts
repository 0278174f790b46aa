// Owns: what makes a value one JSON can carry as it is: no cycle or BigInt (JSON.stringify throws), nothing JSON would
// write as something else (json/unkept-values.ts finds it), no polluting key; the JSON pointers of such a place as
// problems show them. Not here: where a value comes from (a request body, http/json-body.ts; a submit from code,
// embed.ts; a handler's result, operation.ts) or its schema (runtime/registry.ts).
// Invariant: a value that passes is stored and handed on as JSON writes it, nothing in it lost.

import { firstUnkept, NestedTooDeeplyError, pointerTo, stringifyNoting, type Unkept } from '../json/unkept-values.ts';
import { thrownText, type FieldError } from './errors.ts';

// The runtime names fields by pointer too (runtime/schema-errors.ts), and reaches json/ only through the domain.
export { pointerTo };

/** A pointer as a problem shows it: a hostile body's may be very long, so it is cut at 300 characters. */
export const shownPointer = (path: string): string => (path.length > 300 ? `${path.slice(0, 300)}…` : path);

/** The JSON pointer of the first number in parsed JSON that is not finite (one past a double), or null. */
export function nonFinitePath(value: unknown): string | null {
  return firstUnkept(value)?.path ?? null;
}

/** What JSON.stringify makes of `value`, or why it is not kept so: not JSON at all (why), or changed (where and how). */
export type JsonText = { readonly json: string } | { readonly notJson: string } | { readonly unkept: Unkept };

/**
 * `value` as JSON.stringify writes it, checked in the same pass for what it would not keep as it is (a result may be
 * tens of megabytes). Throws V8's own RangeError for a text too long to make; any other failure is `notJson`.
 */
export function jsonTextOf(value: unknown): JsonText {
  let noted: ReturnType<typeof stringifyNoting>;
  try {
    noted = stringifyNoting(value, MAX_JSON_DEPTH);
  } catch (error) {
    // A toJSON that threw a RangeError, or a stack run out, is a value that is not JSON, not one too large to write.
    if (error instanceof RangeError && /invalid string length/i.test(error.message)) throw error;
    return { notJson: stringifyFailure(error) };
  }
  const unkept = noted.unkept ? firstUnkept(value) : null;
  if (unkept !== null) return { unkept };
  // A function or a symbol, or what a toJSON turned into one (or into undefined): JSON has nothing to write.
  if (noted.json === undefined) return { notJson: 'there is no JSON text for it (a function, a symbol, undefined)' };
  return { json: noted.json };
}

/** `value` (at `path`) as JSON writes it, or why it is not one JSON carries as it is: what a submit from code is checked for. */
export function jsonTextAt(value: unknown, path: string): { readonly json: string } | { readonly problem: FieldError } {
  let text: JsonText;
  try {
    text = jsonTextOf(value);
  } catch (error) {
    return { problem: { path, message: `is not JSON: ${stringifyFailure(error)}` } };
  }
  if ('notJson' in text) return { problem: { path, message: `is not JSON: ${text.notJson}` } };
  if ('unkept' in text) return { problem: { path: `${path}${text.unkept.path === '/' ? '' : text.unkept.path}`, message: text.unkept.message } };
  return text;
}

/**
 * The JSON pointer of the first `__proto__` key, or `constructor` holding a `prototype` key, in parsed JSON, or null:
 * what Fastify's parser refuses in a request body (they are how prototype pollution reaches code that merges objects).
 */
export function pollutingKeyPath(value: unknown): string | null {
  const stack: Array<{ value: unknown; path: string }> = [{ value, path: '' }];
  while (stack.length > 0) {
    const { value: node, path } = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    for (const [key, child] of Object.entries(node)) {
      const at = pointerTo(path, key);
      if (key === '__proto__') return at;
      if (key === 'constructor' && child !== null && typeof child === 'object' && Object.hasOwn(child, 'prototype')) return pointerTo(at, 'prototype');
      stack.push({ value: child, path: at });
    }
  }
  return null;
}

/**
 * How deep a value written as JSON (a result, an input given in code) may nest. Past it, or past JSON.stringify's stack
 * if that ran out first, it is refused alike wherever it is written: a worker thread's stack held 9,000 levels where
 * the event loop's held 2,000, so the same result failed or was stored by where its handler ran.
 */
export const MAX_JSON_DEPTH = 1_000;

/** What stringifyFailure says of a value too deep to write. */
export const NESTED_TOO_DEEPLY = `it is nested too deeply to write (more than ${MAX_JSON_DEPTH} levels)`;

/** JSON.stringify's own words for a cycle or a BigInt; its stack running out, said plainly. */
export function stringifyFailure(error: unknown): string {
  // What a toJSON threw as a handler's throw is stored (errors.ts): never "[object Object]" or nothing.
  const message = thrownText(error);
  if (error instanceof NestedTooDeeplyError || (error instanceof RangeError && /call stack/i.test(message))) return NESTED_TOO_DEEPLY;
  return message.split('\n')[0]?.slice(0, 200) ?? '';
}
