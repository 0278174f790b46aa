// Owns: what makes a value one JSON can carry as it is: no cycle or BigInt (JSON.stringify throws), no number a
// double holds but JSON cannot write (±Infinity and NaN, which JSON.stringify writes as null), no invalid Date (null too),
// and no Map, Set or Promise (written as {}); the JSON pointers that name a place in such a value, as problems show them. Not here: where a value
// comes from (a request body, http/json-body.ts; a submit from code, embed.ts; a handler's result, operation.ts) or its
// schema (runtime/registry.ts).
// Invariant: a value that passes is stored and handed on as JSON writes it, nothing in it lost.

import { thrownText, type FieldError } from './errors.ts';

/** `path` (a JSON pointer) extended by the member or index `key`, escaped as RFC 6901 says (`~` → `~0`, `/` → `~1`). */
export const pointerTo = (path: string, key: string): string => `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;

/** A pointer as a problem shows it: a hostile body's may be very long, so it is cut at 300 characters. */
export const shownPointer = (path: string): string => (path.length > 300 ? `${path.slice(0, 300)}…` : path);

/** The first place in `value` (a pointer, '/' for the whole) JSON would not keep, and why; null if none. */
export interface Unkept {
  readonly path: string;
  readonly message: string;
}

/** What JSON.stringify writes in place of `node`, the member `key` (or index) of its holder: what its toJSON gives, if any. */
function written(node: unknown, key: string | number): unknown {
  if (node === null || typeof node !== 'object') return node;
  const toJSON = (node as { toJSON?: unknown }).toJSON;
  return typeof toJSON === 'function' ? (toJSON as (key: string) => unknown).call(node, String(key)) : node;
}

/** Why JSON would not keep `node` as it is, or null (its members are looked at by the walk). */
function unkeptMessage(node: unknown): string | null {
  // A boxed number (new Number(NaN)) is written as the number it holds.
  const number = typeof node === 'number' ? node : node instanceof Number ? node.valueOf() : null;
  if (number !== null) return Number.isFinite(number) ? null : 'is a number JSON cannot carry (Infinity or NaN)';
  if (node instanceof Map || node instanceof Set) {
    return `is a ${node instanceof Map ? 'Map' : 'Set'}, which JSON would keep as {} (make it an object or an array)`;
  }
  if (node instanceof Promise) return 'is a Promise, which JSON would keep as {} (an await forgotten?)';
  return null;
}

/** Whether `original` is a Date JSON writes as null (its toJSON's answer for an invalid date: `new Date('x')`). */
const isInvalidDate = (original: unknown): boolean => original instanceof Date && Number.isNaN(original.getTime());

const INVALID_DATE = 'is an invalid Date, which JSON would keep as null';

/**
 * `value` as JSON.stringify writes it, and whether it met anything it does not keep as it is (a number it writes as
 * null, a Map or Set it writes as {}), seen as it writes them (after toJSON), in the same pass: a result may be tens of
 * megabytes. Throws what JSON.stringify throws (a cycle, a BigInt, its stack or its string running out).
 */
function stringifyNoting(value: unknown): { readonly json: string | undefined; readonly unkept: boolean } {
  let unkept = false;
  // A function, not an arrow: `this` is the holder, whose member is still what it was before its toJSON.
  const json = JSON.stringify(value, function (this: Record<string, unknown>, key: string, member: unknown) {
    if (!unkept && (unkeptMessage(member) !== null || (member === null && isInvalidDate(this[key])))) unkept = true;
    return member;
  });
  return { json, unkept };
}

/**
 * The first number in `value` that is not finite, invalid Date, Map or Set, in document order, as JSON.stringify would meet it
 * (through toJSON), or null. Iterative: no stack to overflow. `value` has no cycle (JSON.stringify has taken it, or it
 * was parsed).
 */
function firstUnkept(value: unknown): Unkept | null {
  const stack: Array<{ value: unknown; path: string; key: string | number }> = [{ value, path: '', key: '' }];
  while (stack.length > 0) {
    const { value: original, path, key: at } = stack.pop()!;
    const node = written(original, at);
    const message = node === null && isInvalidDate(original) ? INVALID_DATE : unkeptMessage(node);
    if (message !== null) return { path: path || '/', message };
    if (node === null || typeof node !== 'object') continue;
    const keys = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]!;
      stack.push({ value: (node as Record<string | number, unknown>)[key], path: pointerTo(path, String(key)), key });
    }
  }
  return null;
}

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
    noted = stringifyNoting(value);
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

/** What stringifyFailure says of a value too deep for JSON.stringify's stack. */
export const NESTED_TOO_DEEPLY = 'it is nested too deeply to write';

/** JSON.stringify's own words for a cycle or a BigInt; its stack running out, said plainly. */
export function stringifyFailure(error: unknown): string {
  // What a toJSON threw as a handler's throw is stored (errors.ts): never "[object Object]" or nothing.
  const message = thrownText(error);
  if (error instanceof RangeError && /call stack/i.test(message)) return NESTED_TOO_DEEPLY;
  return message.split('\n')[0]?.slice(0, 200) ?? '';
}
