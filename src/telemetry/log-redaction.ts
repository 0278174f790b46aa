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
 * pino's serializer. A value that throws when read leaves the line as it was, for pino to write as it can.
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
  if (typeof value !== 'object' || value === null || !walked(value)) return undefined;
  // A cycle is cut, or the copy would lead back into the original and its secrets.
  if (path.has(value)) return CIRCULAR;
  if (depth > MAX_DEPTH) return TOO_DEEP;
  path.add(value);
  try {
    return Array.isArray(value) ? redactedItems(value, depth, path) : redactedFields(value, depth, path);
  } finally {
    path.delete(value);
  }
}

/** Plain objects, arrays, errors and class instances; not what JSON writes its own way (a Date, a Buffer) or as `{}`. */
function walked(value: object): boolean {
  if (ArrayBuffer.isView(value) || value instanceof Map || value instanceof Set || value instanceof WeakMap || value instanceof WeakSet) return false;
  return !(typeof (value as { toJSON?: unknown }).toJSON === 'function');
}

function redactedItems(items: readonly unknown[], depth: number, path: Set<object>): unknown[] | undefined {
  let copy: unknown[] | undefined;
  items.forEach((item, i) => {
    const inner = redacted(item, depth + 1, path);
    if (inner === undefined) return;
    copy ??= [...items];
    copy[i] = inner;
  });
  return copy;
}

function redactedFields(object: object, depth: number, path: Set<object>): object | undefined {
  const fields = object as Record<string, unknown>;
  const isError = object instanceof Error;
  // An error's message and stack are its own but not enumerable; its fields (an HTTP client's `config.headers`) are.
  const keys = isError ? Object.getOwnPropertyNames(object) : Object.keys(object);
  let changed: Map<string, unknown> | undefined;
  for (const key of keys) {
    const inner = fields[key];
    const replaced = SECRET_FIELDS.has(key.toLowerCase()) ? (inner === undefined ? undefined : REDACTED) : redacted(inner, depth + 1, path);
    if (replaced === undefined) continue;
    changed ??= new Map();
    changed.set(key, replaced);
  }
  if (changed === undefined) return undefined;
  const proto = Object.getPrototypeOf(object);
  if (!isError) {
    // A class instance becomes the plain object JSON would have written of it.
    const copy: Record<string, unknown> = proto === null ? Object.create(null) : {};
    for (const key of keys) copy[key] = changed.has(key) ? changed.get(key) : fields[key];
    return copy;
  }
  // An error of the same class, each own property's value as read (its stack is an accessor that reads the original's
  // internals) and enumerable or not as it was, but for those redacted.
  const copy = Object.create(proto) as Record<string, unknown>;
  for (const key of keys) {
    const value = changed.has(key) ? changed.get(key) : fields[key];
    const enumerable = Object.getOwnPropertyDescriptor(object, key)?.enumerable ?? false;
    Object.defineProperty(copy, key, { value, enumerable, writable: true, configurable: true });
  }
  return copy;
}
