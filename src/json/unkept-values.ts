// Owns: what JSON keeps of a value as it is, shared by the server and the SDK: the first place JSON.stringify would write
// something other than what was given (±Infinity and NaN and an invalid Date as null; a Map, Set or Promise as {}; a
// function or a symbol left out, or null in an array), or could not write at all (a BigInt),
// named by a JSON pointer. Not here: what is done about it (a problem, a failed result: domain/json-values.ts; a
// TypeError before a request is sent: client/transport.ts).
// Invariant: imports nothing and uses nothing but the language, so the SDK that runs in browsers can take it.

/** `path` (a JSON pointer) extended by the member or index `key`, escaped as RFC 6901 says (`~` → `~0`, `/` → `~1`). */
export const pointerTo = (path: string, key: string): string => `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;

/** The first place in `value` (a pointer, '/' for the whole) JSON would not keep, and why; null if none. */
export interface Unkept {
  readonly path: string;
  readonly message: string;
}

/** What JSON.stringify writes in place of `node`, the member `key` (or index) of its holder: what its toJSON gives, if any. */
function written(node: unknown, key: string | number): unknown {
  // JSON asks a BigInt for its toJSON too (one a program gave BigInt.prototype writes it as it says).
  if (node === null || (typeof node !== 'object' && typeof node !== 'bigint')) return node;
  const toJSON = (node as { toJSON?: unknown }).toJSON;
  return typeof toJSON === 'function' ? (toJSON as (key: string) => unknown).call(node, String(key)) : node;
}

/**
 * Why JSON would not keep `node` as it is, or null (its members are looked at by the walk). A function or a symbol inside
 * a value is left out (or written as null in an array); as the whole value it has no JSON text at all, which the caller
 * says in its own words (`nested` false).
 */
function unkeptMessage(node: unknown, nested = true): string | null {
  if (typeof node === 'function' || typeof node === 'symbol') {
    return nested ? `is a ${typeof node}, which JSON would leave out (or write as null in an array)` : null;
  }
  if (typeof node === 'number') return Number.isFinite(node) ? null : NOT_FINITE;
  if (typeof node === 'bigint') return BIGINT;
  if (typeof node !== 'object' || node === null) return null;
  // By its tag, not instanceof: a value made in another realm (a page's iframe, a vm context) has classes of its own.
  switch (Object.prototype.toString.call(node)) {
    // A boxed number (new Number(NaN)) is written as the number it holds.
    case '[object Number]':
      return boxedFinite(node) ? null : NOT_FINITE;
    case '[object Map]':
      return 'is a Map, which JSON would keep as {} (make it an object or an array)';
    case '[object Set]':
      return 'is a Set, which JSON would keep as {} (make it an object or an array)';
    case '[object Promise]':
      return 'is a Promise, which JSON would keep as {} (an await forgotten?)';
    // JSON takes a BigInt object's value, and cannot write it either.
    case '[object BigInt]':
      return BIGINT;
    default:
      return null;
  }
}

const NOT_FINITE = 'is a number JSON cannot carry (Infinity or NaN)';
const BIGINT = 'is a BigInt, which JSON cannot carry (make it a number, or a string)';

/** Whether a Number object holds a finite number; true for an object that only claims the tag (JSON writes its fields). */
function boxedFinite(node: object): boolean {
  try {
    return Number.isFinite(Number.prototype.valueOf.call(node));
  } catch {
    return true;
  }
}

/** A BigInt, or a BigInt object of any realm: what JSON.stringify cannot write. */
const isBigInt = (value: unknown): boolean =>
  typeof value === 'bigint' || (typeof value === 'object' && value !== null && Object.prototype.toString.call(value) === '[object BigInt]');

/**
 * Whether `original` is a Date JSON writes as null (its toJSON's answer for an invalid date: `new Date('x')`), of
 * whatever realm it comes from (a page's iframe has a Date class of its own).
 */
function isInvalidDate(original: unknown): boolean {
  const time = timeOfDate(original);
  return time !== null && Number.isNaN(time);
}

/** The time a Date holds (NaN for an invalid one), of whatever realm it comes from; null for anything not a Date. */
export function timeOfDate(value: unknown): number | null {
  if (value === null || typeof value !== 'object') return null;
  try {
    return Date.prototype.getTime.call(value);
  } catch {
    return null;
  }
}

const INVALID_DATE = 'is an invalid Date, which JSON would keep as null';

/**
 * `value` as JSON.stringify writes it, and whether it met anything it does not keep as it is (a number it writes as
 * null, a Map or Set it writes as {}), seen as it writes them (after toJSON), in the same pass: a result may be tens of
 * megabytes. A BigInt is noted, where JSON.stringify would throw without saying where it is. Throws what JSON.stringify
 * throws (a cycle, its stack or its string running out).
 */
export function stringifyNoting(value: unknown, maxDepth = Number.POSITIVE_INFINITY): { readonly json: string | undefined; readonly unkept: boolean } {
  let unkept = false;
  // The holders from the top down to the member being written (the top's wrapper first): JSON.stringify writes depth
  // first, so the holder of the next member is the last of them or one above it.
  const holders: object[] = [];
  // A function, not an arrow: `this` is the holder, whose member is still what it was before its toJSON.
  const json = JSON.stringify(value, function (this: Record<string, unknown>, key: string, member: unknown) {
    while (holders.length > 0 && holders[holders.length - 1] !== this) holders.pop();
    if (holders.length === 0) holders.push(this);
    if (!unkept && (unkeptMessage(member) !== null || (member === null && isInvalidDate(this[key])))) unkept = true;
    // Noted above; its place is told by firstUnkept, and this text, which JSON.stringify cannot write, is not used.
    if (isBigInt(member)) return null;
    if (typeof member === 'object' && member !== null) {
      if (holders.length > maxDepth) throw new NestedTooDeeplyError(maxDepth);
      holders.push(member);
    }
    return member;
  });
  return { json, unkept };
}

/** A value nested deeper than stringifyNoting was told to write: the same limit whatever stack it is written on. */
export class NestedTooDeeplyError extends Error {
  constructor(maxDepth: number) {
    super(`it is nested more than ${maxDepth} levels deep`);
    this.name = 'NestedTooDeeplyError';
  }
}

/**
 * The first number in `value` that is not finite, BigInt, invalid Date, Map, Set, Promise, or function or symbol inside it, in document order, as JSON.stringify would meet it
 * (through toJSON), or null. Iterative: no stack to overflow. `value` has no cycle (JSON.stringify has taken it, or it
 * was parsed).
 */
export function firstUnkept(value: unknown): Unkept | null {
  const stack: Array<{ value: unknown; path: string; key: string | number }> = [{ value, path: '', key: '' }];
  while (stack.length > 0) {
    const { value: original, path, key: at } = stack.pop()!;
    const node = written(original, at);
    const message = node === null && isInvalidDate(original) ? INVALID_DATE : unkeptMessage(node, path !== '');
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
