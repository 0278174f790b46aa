// Owns: what the logger asyncops makes (or writes to, when given one) never writes: keys, secrets, passwords and
// Authorization headers, wherever they sit in a log line or a child logger's bindings (docs/security.md, Secrets).
// Not here: making the logger (main.ts), a request's URL in a line (http/stream-tokens.ts).
// Invariant: a log object without such a field is passed on as it is, not copied; redacting never throws.

import { pino, type ChildLoggerOptions, type Logger, type LoggerOptions } from 'pino';

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

/**
 * The field names redacted at any depth, compared as secretName spells them (a handler's `Password`, `API_KEY` or
 * `x-api-key` style aside).
 */
const SECRET_FIELDS = new Set([
  'authorization',
  'proxyauthorization',
  'apikey',
  'apikeys',
  'xapikey',
  'secret',
  'secrets',
  'clientsecret',
  'webhooksecret',
  'webhooksecrets',
  'password',
  'connectionstring',
  'token',
  'accesstoken',
  'refreshtoken',
]);

/** A field's name as SECRET_FIELDS holds it: lower case, without `_` and `-` (`API_KEY`, `api-key`, `apiKey` alike). */
const secretName = (key: string): string => key.toLowerCase().replace(/[_-]/g, '');

/** How deep a line is searched: far past anything a log line holds; deeper, a line is left as it is. */
const MAX_DEPTH = 1_000;

/**
 * pino options that redact secrets at any depth (the caller's own options, formatters and hooks kept, run first); the
 * logger made with them is to be passed through redactChildBindings.
 */
export function redactingOptions(options: LoggerOptions | undefined): LoggerOptions {
  return {
    redact: REDACTED_LOG_PATHS,
    ...options,
    formatters: redactingFormatters(options?.formatters),
    hooks: { ...options?.hooks, logMethod: redactingLogMethod(options?.hooks?.logMethod), streamWrite: headsRedactedAfter(options?.hooks?.streamWrite) },
  };
}

/**
 * A raw HTTP head's credential line as a written line holds it, JSON-escaped: after a line break (`\n`), the header's
 * name and colon, and its value up to its line's end: the next `\r` or `\n` escape, escaped once (the head in a field)
 * or twice (the head inside a message's `%j`), or the string's end. A `"` or `\` in the value is an escape of another
 * kind and part of it.
 */
const HEAD_CREDENTIAL = /(\\n)(authorization|proxy-authorization|x-api-key)([ \t]*:)(?:[^\\"]|\\[^rn\\]|\\\\(?![rn]))*/gi;

/**
 * pino's `hooks.streamWrite`, the caller's own applied first: the written line with every credential of a raw HTTP head
 * redacted. Node's outgoing request (an `http.ClientRequest`, which an HTTP client's error carries as `request`, and
 * its response as `req`, its socket as `_httpMessage`) keeps the head it sent as text, `_header`, and is written field
 * by field, from every place that leads to it: only the line as written holds all of them.
 */
function headsRedactedAfter(own: ((line: string) => string) | undefined): (line: string) => string {
  return (line) => {
    const written = own === undefined ? line : own(line);
    return written.replace(HEAD_CREDENTIAL, `$1$2$3 ${REDACTED}`);
  };
}

/**
 * pino's formatters, the caller's own (`formatters.log`, `formatters.bindings`) applied first: every line and the root
 * logger's bindings with their secret fields redacted at any depth (its children's: redactChildBindings).
 */
export function redactingFormatters(own: LoggerOptions['formatters'] | undefined): NonNullable<LoggerOptions['formatters']> {
  return {
    ...own,
    log: redactingAfter(own?.log),
    bindings: redactingAfter(own?.bindings),
  };
}

/**
 * pino's `hooks.logMethod`, the caller's own applied after: the arguments a message interpolates as JSON (`%j`, `%o`,
 * `%O`) redacted; those it writes as text or numbers (`%s`, `%d`) keep their own `toString` and `valueOf`.
 */
export function redactingLogMethod(own: NonNullable<LoggerOptions['hooks']>['logMethod']): NonNullable<NonNullable<LoggerOptions['hooks']>['logMethod']> {
  return function redactingArguments(this: Logger, args, method, level) {
    // `log(message, …values)` or `log(object, message, …values)`: the object itself is the line's (formatters.log).
    const at = typeof args[0] === 'string' ? 0 : typeof args[1] === 'string' ? 1 : -1;
    let redactedArgs = (at < 0 ? args : redactedInterpolation(args, at)) as typeof args;
    // `log(object, message)` with an object for the message: pino writes it as JSON.
    const given: unknown = args[1];
    if (at < 0 && args.length > 1 && typeof given === 'object' && given !== null) {
      redactedArgs = [args[0], redactedValue(given), ...args.slice(2)] as unknown as typeof args;
    }
    try {
      return own === undefined ? method.apply(this, redactedArgs) : own.call(this, redactedArgs, method, level);
    } catch (error) {
      // A field pino's paths read that throws (a getter of a class instance, on pino's copy of it): the line is written
      // without its object, saying so, rather than throwing out of the caller's log call; and if even that throws (a
      // mixin's own object, which pino adds to every line), it is not written.
      // The message and the values it interpolates stay.
      const message = at < 0 ? [] : redactedArgs.slice(at);
      const unwritten = { log_error: `this line's object could not be written: ${error instanceof Error ? error.message : String(error)}` };
      try {
        return method.apply(this, [unwritten, ...message] as typeof args);
      } catch {
        return undefined;
      }
    }
  };
}

/** Placeholders quick-format-unescaped (pino's) fills; any other `%x` takes a value too, writing none. */
const PLACEHOLDERS = new Set(['s', 'd', 'i', 'f', 'j', 'o', 'O']);

/** `args` with the values the message at `at` writes as JSON redacted, counted as quick-format-unescaped counts them. */
function redactedInterpolation(args: readonly unknown[], at: number): unknown[] {
  const message = args[at] as string;
  const out = [...args];
  let next = at + 1;
  for (let i = 0; i < message.length - 1 && next < args.length; ) {
    if (message[i] !== '%') {
      i++;
      continue;
    }
    const kind = message[i + 1]!;
    if (kind === '%') {
      i += 2;
      continue;
    }
    const value = args[next];
    if ((kind === 'j' || kind === 'o' || kind === 'O') && typeof value === 'object' && value !== null) {
      out[next] = redactedValue(value);
    }
    next++;
    i += PLACEHOLDERS.has(kind) ? 2 : 1;
  }
  return out;
}

/** A pino formatter (of a line, of bindings) that redacts what the caller's own, if any, made. */
function redactingAfter(own: ((object: Record<string, unknown>) => object) | undefined) {
  return (object: object): Record<string, unknown> =>
    redactedLine((own === undefined ? object : own(object as Record<string, unknown>)) as Record<string, unknown>);
}

/** A line's object (or bindings) as it is written: its secrets redacted at any depth, its URLs as text (urlsAsText). */
function redactedLine(object: Record<string, unknown>): Record<string, unknown> {
  return urlsAsText(redactDeep(object));
}

/** A value a message writes as JSON (one given for the message, or a `%j` one): a URL as its text, else as a line's object. */
function redactedValue(value: object): unknown {
  return value instanceof URL ? urlText(value) : redactedLine(value as Record<string, unknown>);
}

/** A URL's text with its password (`https://user:…@host`) redacted. */
function urlText(url: URL): string {
  if (url.password === '') return url.href;
  const copy = new URL(url.href);
  copy.password = REDACTED;
  return copy.href;
}

/**
 * The object with each URL among its values as its text without its password: pino's paths (`*.password`) read a
 * field one level down on a copy of the value, and a copy of a URL has none of its private state, so its `password`
 * getter threw out of the log call. JSON writes a URL as that text anyway; a serializer of its key gets the text too
 * (formatters run before serializers, and one that gave the URL back would meet the same paths). The object itself
 * when it holds none.
 */
function urlsAsText(object: Record<string, unknown>): Record<string, unknown> {
  // pino's bindings of a logger made with `base: undefined` are none at all.
  if (typeof object !== 'object' || object === null) return object;
  let copy: Record<string, unknown> | null = null;
  for (const key of Object.keys(object)) {
    const value = readField(object, key);
    if (!(value instanceof URL)) continue;
    // An array stays one (a message given as an array, `%j` of one).
    copy ??= (Array.isArray(object) ? [...object] : { ...object }) as Record<string, unknown>;
    copy[key] = urlText(value);
  }
  return copy ?? object;
}

/**
 * The logger asyncops writes to when it is given one (an embedding app's, or the `logger` option's): a child of it that
 * redacts as asyncops's own logger does, its lines and its children's bindings at any depth and what a message
 * interpolates as JSON, after the given logger's own line formatter and hooks. The given logger itself, and what the
 * app writes to it, are left as they are.
 */
export function redactingChildOf(logger: Logger): Logger {
  const own = (logger as unknown as Record<symbol, { log?: (object: object) => object } | undefined>)[pino.symbols.formattersSym]?.log;
  const child = logger.child({}, { formatters: { log: redactingAfter(own) } });
  const redactArguments = redactingLogMethod(undefined);
  const given = Object.getPrototypeOf(child) as Record<string, unknown>;
  type Method = Parameters<typeof redactArguments>[1];
  // The level methods pino set on this child or a descendant of it (a child made with its own level, or one whose
  // level was set later): pino assigns them, and the accessors below keep them here instead of being shadowed by them.
  const setMethods = new WeakMap<object, Map<string, Method>>();
  const wrappers = new WeakMap<object, Map<string, Method>>();
  // pino's hooks are the root's alone: each level's method of this child and its descendants redacts its arguments,
  // then calls the method pino made for that logger (its own level's), or the given logger's as it is at that moment
  // (the app may change its level).
  for (const [label, level] of Object.entries(logger.levels?.values ?? {})) {
    if (typeof given[label] !== 'function') continue;
    const methodOf = (self: object): Method => {
      for (let at: object | null = self; at !== null && at !== given; at = Object.getPrototypeOf(at) as object | null) {
        const set = setMethods.get(at)?.get(label);
        if (set !== undefined) return set;
      }
      return given[label] as Method;
    };
    Object.defineProperty(child, label, {
      configurable: true,
      get(this: Logger) {
        const own = methodsOf(wrappers, this);
        let wrapper = own.get(label);
        if (wrapper === undefined) {
          const self = this;
          wrapper = function redacting(this: Logger, ...args: unknown[]) {
            if (typeof self.isLevelEnabled === 'function' && !self.isLevelEnabled(label)) return;
            const write = methodOf(self);
            return redactArguments.call(this, args as Parameters<typeof redactArguments>[0], write, level);
          } as unknown as Method;
          own.set(label, wrapper);
        }
        return wrapper;
      },
      set(this: object, method: Method) {
        methodsOf(setMethods, this).set(label, method);
      },
    });
  }
  return redactChildBindings(child);
}

/** A logger's methods by level in `byLogger`, an empty map made for it the first time. */
function methodsOf<M>(byLogger: WeakMap<object, Map<string, M>>, logger: object): Map<string, M> {
  let methods = byLogger.get(logger);
  if (methods === undefined) {
    methods = new Map();
    byLogger.set(logger, methods);
  }
  return methods;
}

/**
 * Makes `logger`'s children, and theirs, keep their bindings redacted at any depth: pino gives a child's bindings (as
 * made, or set later with `setBindings`) to no formatter of ours, and a child made with its own `formatters.log` uses
 * that one alone.
 */
export function redactChildBindings(logger: Logger): Logger {
  // pino's generic signature, as the plain function this wraps.
  const child = logger.child as unknown as (this: Logger, bindings: Record<string, unknown>, options?: ChildLoggerOptions<string>) => Logger;
  const setBindings = logger.setBindings;
  // Children are made with the root as their prototype: they find these too.
  logger.child = function redactingChild(this: Logger, bindings: Record<string, unknown>, options?: ChildLoggerOptions<string>) {
    const formatters = options?.formatters;
    const redactedOptions: ChildLoggerOptions<string> | undefined =
      formatters === undefined
        ? options
        : {
            ...options,
            formatters: {
              ...formatters,
              ...(formatters.log === undefined ? {} : { log: redactingAfter(formatters.log) }),
              ...(formatters.bindings === undefined ? {} : { bindings: redactingAfter(formatters.bindings) }),
            },
          };
    return child.call(this, redactedLine(bindings), redactedOptions);
  } as unknown as Logger['child'];
  logger.setBindings = function redactingSetBindings(this: Logger, bindings) {
    setBindings.call(this, redactedLine(bindings));
  };
  return logger;
}

/**
 * The object with every secret field, in nested plain objects, arrays and errors too, replaced by
 * `[Redacted]`, and every URL with a password among them by its text without it (pino's paths stop one level down
 * and do not enter arrays: a handler's
 * `ctx.log.info({ request: { auth: { password } } })` wrote the password). An error stays an error of its class for
 * pino's serializer. A value that cannot be read is left as it is, for pino to write as it can (`[Unreadable]` in a
 * copy made for a secret beside it); the rest of the line is redacted all the same.
 */
export function redactDeep(object: Record<string, unknown>): Record<string, unknown> {
  copies = new Map();
  try {
    return (redacted(object, 0, new Set()) as Record<string, unknown> | undefined) ?? object;
  } catch {
    return object;
  }
}

/**
 * The copies one redactDeep call made, by original: an error's redacted view (errorView) hands out the copy of what it
 * leads to when it is read, later, by pino's serializer or JSON (a cause that is the error itself, say).
 */
let copies = new Map<object, object>();

/** A copy of `value` with its secret fields redacted, or undefined when it has none (the caller keeps the original). */
function redacted(value: unknown, depth: number, path: Set<object>): unknown {
  // A cycle back to an object being walked changes nothing by itself (a copy made for a secret cuts it: copyOf).
  if (typeof value !== 'object' || value === null || path.has(value) || depth > MAX_DEPTH) return undefined;
  path.add(value);
  try {
    // Deeper than urlsAsText looks (in a nested object, an array, an error's field), JSON writes a URL as its href,
    // password and all: one that has a password is its text without it.
    if (isUrl(value)) return value.password === '' ? undefined : urlText(value);
    if (!walked(value)) return undefined;
    const copy = Array.isArray(value) ? redactedItems(value, depth, path) : redactedFields(value, depth, path);
    if (copy !== undefined) copies.set(value, copy);
    return copy;
  } catch {
    // What cannot be read (a Proxy whose traps throw) is left as it is, for pino to write as it can; the rest of the
    // line is redacted all the same.
    return undefined;
  } finally {
    path.delete(value);
  }
}

/**
 * Plain objects, arrays and errors (what pino's serializer takes for one: anything with a string `message`, whose
 * copy keeps its class). Not another class instance (a serializer may read its getters and methods, which a copy
 * would lose: pino's formatters run before its serializers) nor what JSON writes its own way (a Date, a Buffer).
 */
function walked(value: object): boolean {
  try {
    if (Array.isArray(value) || errorLike(value)) return true;
    // A Proxy whose prototype cannot be read counts as plain (prototypeOf: null), and a dictionary of a prototype of
    // its own with none above it (a query string's parsed object in Fastify) as well.
    const proto = prototypeOf(value);
    return proto === Object.prototype || proto === null || prototypeOf(proto) === null;
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

/** Whether `value` is a URL; not for a Proxy whose prototype trap throws (it is walked as a plain object). */
function isUrl(value: object): value is URL {
  try {
    return value instanceof URL;
  } catch {
    return false;
  }
}

/** A value's prototype, null when it cannot be read (a Proxy whose trap throws). */
function prototypeOf(value: object): object | null {
  try {
    return Object.getPrototypeOf(value) as object | null;
  } catch {
    return null;
  }
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

/** In a copy: a value that leads back to an object being walked is cut, or the copy would lead into the original. */
function copyOf(value: unknown, path: Set<object>): unknown {
  return typeof value === 'object' && value !== null && path.has(value) ? CIRCULAR : value;
}

function redactedItems(items: readonly unknown[], depth: number, path: Set<object>): unknown[] | undefined {
  const values = Array.from({ length: items.length }, (_, i) => readField(items as unknown as Record<string, unknown>, String(i)));
  let changed = false;
  values.forEach((item, i) => {
    const inner = redacted(item, depth + 1, path);
    if (inner === undefined) return;
    values[i] = inner;
    changed = true;
  });
  return changed ? values.map((value) => copyOf(value, path)) : undefined;
}

function redactedFields(object: object, depth: number, path: Set<object>): object | undefined {
  const fields = object as Record<string, unknown>;
  const isError = errorLike(object);
  const keys = isError ? errorKeys(object) : Object.keys(object);
  const values = keys.map((key) => readField(fields, key));
  const changed = new Set<string>();
  keys.forEach((key, i) => {
    const inner = values[i];
    const replaced = SECRET_FIELDS.has(secretName(key)) ? (inner === undefined ? undefined : REDACTED) : redacted(inner, depth + 1, path);
    if (replaced === undefined) return;
    values[i] = replaced;
    changed.add(key);
  });
  if (changed.size === 0) return undefined;
  if (isError) return errorView(object, new Map(keys.flatMap((key, i) => (changed.has(key) ? [[key, values[i]] as const] : []))));
  // A plain object (or a Proxy whose prototype cannot be read), as JSON writes it.
  const copy: Record<string, unknown> = prototypeOf(object) === null ? Object.create(null) : {};
  keys.forEach((key, i) => {
    copy[key] = copyOf(values[i], path);
  });
  return copy;
}

/**
 * An error's fields as its serializer reads them: its own, enumerable or not, and what `for…in` finds on its prototype
 * (a DOMException's `code`, a field an error-like object inherits).
 */
function errorKeys(error: object): string[] {
  const keys = new Set(Object.getOwnPropertyNames(error));
  for (const key in error) keys.add(key);
  return [...keys];
}

/**
 * The error itself, seen through a Proxy that answers its redacted fields with their redacted values: everything else
 * (its class, prototype, getters and methods, which may read private state or internals a copy has not) is the
 * error's own, read on it. Undefined (left as it is, for pino's paths) when a field to redact is one the error holds
 * fixed (non-writable and non-configurable), which a Proxy may not answer differently.
 */
function errorView(error: object, redactedFields: ReadonlyMap<string, unknown>): object | undefined {
  for (const key of redactedFields.keys()) if (heldFixed(error, key)) return undefined;
  const made = copies;
  return new Proxy(error, {
    get(target, key, view) {
      if (typeof key === 'string' && redactedFields.has(key)) return redactedFields.get(key);
      const value: unknown = Reflect.get(target, key, target);
      if (typeof value === 'object' && value !== null) {
        // A field the error holds fixed is answered as it is (a Proxy may not answer it otherwise).
        return heldFixed(target, key) ? value : (made.get(value) ?? value);
      }
      if (typeof value !== 'function' || key === 'constructor') return value;
      const method = value as (...args: unknown[]) => unknown;
      // A `toJSON` (JSON's, where the error is not under `err`) reads the view, so what it writes of the redacted fields
      // is redacted; one that reads private state, which the view has not, runs on the error and writes what it did.
      if (key === 'toJSON') {
        return (...args: unknown[]) => {
          try {
            return method.apply(view, args);
          } catch {
            return method.apply(target, args);
          }
        };
      }
      // Any other method called on the view runs on the error (its private state is there), as a getter does.
      return method.bind(target);
    },
  });
}

/** Whether `object` holds `key` fixed (a non-writable, non-configurable own value): a Proxy of it must answer it as is. */
function heldFixed(object: object, key: string | symbol): boolean {
  const descriptor = Object.getOwnPropertyDescriptor(object, key);
  return descriptor !== undefined && descriptor.configurable === false && descriptor.writable === false;
}
