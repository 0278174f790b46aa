// Owns: what the logger asyncops makes never writes: keys, secrets, passwords and Authorization headers, wherever they
// sit in a log line or a child logger's bindings (docs/security.md, Secrets). Not here: making the logger (main.ts), a
// request's URL in a line (http/stream-tokens.ts).
// Invariant: a log object without such a field is passed on as it is, not copied; redacting never throws.

import type { Logger, LoggerOptions } from 'pino';

/** pino's paths: the fields at the top and one level down, before the formatters see the line. */
export const REDACTED_LOG_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'authorization',
  '*.authorization',
  'apiKey',
  'apiKeys',
  '*.apiKey',
  '*.apiKeys',
  'secret',
  'secrets',
  '*.secret',
  '*.secrets',
  'webhookSecrets',
  '*.webhookSecrets',
  'password',
  '*.password',
  'connectionString',
  '*.connectionString',
];

export const REDACTED = '[Redacted]';
const CIRCULAR = '[Circular]';
const TOO_DEEP = '[Too deep]';

/** The field names redacted at any depth, compared in lower case (a handler's `Password` or `API_KEY` style aside). */
const SECRET_FIELDS = new Set(['authorization', 'apikey', 'apikeys', 'secret', 'secrets', 'webhooksecrets', 'password', 'connectionstring']);

/** How deep a line is searched; what lies deeper is written as `[Too deep]` (a log line is no place for such data). */
const MAX_DEPTH = 32;

/**
 * pino's formatters, the caller's own (`formatters.log`, `formatters.bindings`) applied first: every line and the root
 * logger's bindings with their secret fields redacted at any depth (its children's: redactChildBindings).
 */
export function redactingFormatters(own: LoggerOptions['formatters'] | undefined): NonNullable<LoggerOptions['formatters']> {
  const log = own?.log;
  const bindings = own?.bindings;
  return {
    ...own,
    log: (object) => redactDeep(log === undefined ? object : log(object)),
    bindings: (object) => redactDeep(bindings === undefined ? object : (bindings(object) as Record<string, unknown>)),
  };
}

/**
 * Makes `logger`'s children, and theirs, take their bindings redacted at any depth: pino gives a child's bindings to
 * the root's `formatters.bindings` only (a child's are its paths' alone, one level down).
 */
export function redactChildBindings(logger: Logger): Logger {
  const child = logger.child;
  // Children are made with the root as their prototype: they find this one too.
  logger.child = function redactingChild(this: Logger, bindings, options) {
    return child.call(this, redactDeep(bindings), options);
  } as Logger['child'];
  return logger;
}

/**
 * The object with every secret field, in nested objects, arrays, class instances and errors too, replaced by
 * `[Redacted]` (pino's paths stop one level down and do not enter arrays: a handler's
 * `ctx.log.info({ request: { auth: { password } } })` wrote the password). An error stays an error of its class for
 * pino's serializer. A value that cannot be read is left as it is, for pino to write as it can (`[Unreadable]` in a
 * copy made for a secret beside it); the rest of the line is redacted all the same.
 */
export function redactDeep(object: Record<string, unknown>): Record<string, unknown> {
  try {
    return (redacted(object, 0, new Set()) as Record<string, unknown> | undefined) ?? object;
  } catch {
    return object;
  }
}

/** A copy of `value` with its secret fields redacted, or undefined when it has none (the caller keeps the original). */
function redacted(value: unknown, depth: number, path: Set<object>): unknown {
  if (typeof value !== 'object' || value === null) return undefined;
  // A cycle is cut, or the copy would lead back into the original and its secrets.
  if (path.has(value)) return CIRCULAR;
  path.add(value);
  try {
    if (!walked(value)) return undefined;
    if (depth > MAX_DEPTH) return TOO_DEEP;
    return Array.isArray(value) ? redactedItems(value, depth, path) : redactedFields(value, depth, path);
  } catch {
    // What cannot be read (a Proxy whose traps throw) is left as it is, for pino to write as it can; the rest of the
    // line is redacted all the same.
    return undefined;
  } finally {
    path.delete(value);
  }
}

/** Plain objects, arrays, errors and class instances; not what JSON writes its own way (a Date, a Buffer) or as `{}`. */
function walked(value: object): boolean {
  try {
    if (ArrayBuffer.isView(value) || value instanceof Map || value instanceof Set || value instanceof WeakMap || value instanceof WeakSet) return false;
    // pino's error serializer copies an error's fields itself, whatever its `toJSON` (an HTTP client's error has one).
    return errorLike(value) || typeof (value as { toJSON?: unknown }).toJSON !== 'function';
  } catch {
    // A Proxy whose traps throw: JSON writes what it can read, so what can be read is redacted.
    return true;
  }
}

/** What pino's error serializer takes for an error: an Error, or anything with a string `message`. */
function errorLike(value: object): boolean {
  try {
    return value instanceof Error || typeof (value as { message?: unknown }).message === 'string';
  } catch {
    return false;
  }
}

function prototypeOf(value: object): object | null {
  try {
    return Object.getPrototypeOf(value) as object | null;
  } catch {
    return null;
  }
}

function redactedItems(items: readonly unknown[], depth: number, path: Set<object>): unknown[] | undefined {
  let copy: unknown[] | undefined;
  for (let i = 0; i < items.length; i++) {
    const inner = redacted(readField(items as unknown as Record<string, unknown>, String(i)), depth + 1, path);
    if (inner === undefined) continue;
    copy ??= Array.from(items, (_, j) => readField(items as unknown as Record<string, unknown>, String(j)));
    copy[i] = inner;
  }
  return copy;
}

/** Written in place of a field whose getter throws, in a copy made for a secret beside it. */
const UNREADABLE = '[Unreadable]';

function readField(fields: Record<string, unknown>, key: string): unknown {
  try {
    return fields[key];
  } catch {
    return UNREADABLE;
  }
}

/** The fields of an error its serializer reads besides those `for…in` finds (a DOMException keeps them on its prototype). */
const ERROR_FIELDS = ['name', 'message', 'stack'];

/**
 * An error's fields as its serializer reads them: its own, enumerable or not, and what `for…in` finds on its prototype
 * (a DOMException's `code`, a field an error-like object inherits), whose getters a copy could not call.
 */
function errorKeys(error: object): { keys: string[]; enumerable: Set<string> } {
  const enumerable = new Set<string>();
  for (const key in error) enumerable.add(key);
  return { keys: [...new Set([...Object.getOwnPropertyNames(error), ...ERROR_FIELDS, ...enumerable])], enumerable };
}

function redactedFields(object: object, depth: number, path: Set<object>): object | undefined {
  const fields = object as Record<string, unknown>;
  const asError = errorLike(object) ? errorKeys(object) : undefined;
  const keys = asError?.keys ?? Object.keys(object);
  const values = keys.map((key) => readField(fields, key));
  let changed = false;
  keys.forEach((key, i) => {
    const inner = values[i];
    const replaced = SECRET_FIELDS.has(key.toLowerCase()) ? (inner === undefined ? undefined : REDACTED) : redacted(inner, depth + 1, path);
    if (replaced === undefined) return;
    values[i] = replaced;
    changed = true;
  });
  if (!changed) return undefined;
  const proto = prototypeOf(object);
  if (asError === undefined) {
    // A class instance becomes the plain object JSON would have written of it.
    const copy: Record<string, unknown> = proto === null ? Object.create(null) : {};
    keys.forEach((key, i) => {
      copy[key] = values[i];
    });
    return copy;
  }
  // An error of the same class (its serializer names the class), each field an own value as read from the original (a
  // stack or a DOMException's message is read through the original's internals, which a copy has not), enumerable or
  // not as it was, but for those redacted.
  const copy = Object.create(proto) as Record<string, unknown>;
  keys.forEach((key, i) => {
    if (values[i] === undefined && !Object.hasOwn(object, key)) return;
    // What `for…in` found, own or inherited, stays enumerable, so the serializer writes it as it did.
    Object.defineProperty(copy, key, { value: values[i], enumerable: asError.enumerable.has(key), writable: true, configurable: true });
  });
  return copy;
}
