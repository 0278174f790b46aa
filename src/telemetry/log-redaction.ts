// Owns: what the logger asyncops makes never writes: keys, secrets, passwords and Authorization headers, wherever they
// sit in a log line (docs/security.md, Secrets). Not here: making the logger (main.ts), a request's URL in a line
// (http/stream-tokens.ts).
// Invariant: a log object without such a field is passed on as it is, not copied.

/** pino's paths: the fields at the top and one level down, and the bindings of a child logger, which only these reach. */
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

/** The field names redacted at any depth, compared in lower case (a handler's `Password` or `API_KEY` style aside). */
const SECRET_FIELDS = new Set(['authorization', 'apikey', 'apikeys', 'secret', 'secrets', 'webhooksecrets', 'password', 'connectionstring']);

/** How deep a log object is searched: past it a line is passed on as it is (a log object is no place for deep data). */
const MAX_DEPTH = 16;

/**
 * pino's `formatters.log`: the log object with every such field, in nested objects and arrays too, replaced by
 * `[Redacted]` (pino's paths stop one level down and do not enter arrays: a handler's
 * `ctx.log.info({ request: { auth: { password } } })` wrote the password). Only plain objects and arrays are entered:
 * an Error is left to pino's serializer whole.
 */
export function redactDeep(object: Record<string, unknown>): Record<string, unknown> {
  return (redacted(object, 0, new Set()) as Record<string, unknown> | undefined) ?? object;
}

/** A copy of `value` with its secret fields redacted, or undefined when it has none (the caller keeps the original). */
function redacted(value: unknown, depth: number, seen: Set<object>): unknown {
  if (depth > MAX_DEPTH || typeof value !== 'object' || value === null || seen.has(value)) return undefined;
  if (Array.isArray(value)) {
    seen.add(value);
    let copy: unknown[] | undefined;
    value.forEach((item, i) => {
      const inner = redacted(item, depth + 1, seen);
      if (inner === undefined) return;
      copy ??= [...value];
      copy[i] = inner;
    });
    seen.delete(value);
    return copy;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return undefined;
  seen.add(value);
  let copy: Record<string, unknown> | undefined;
  for (const [key, inner] of Object.entries(value)) {
    const replaced = SECRET_FIELDS.has(key.toLowerCase()) ? (inner === undefined ? undefined : REDACTED) : redacted(inner, depth + 1, seen);
    if (replaced === undefined) continue;
    copy ??= { ...value };
    copy[key] = replaced;
  }
  seen.delete(value);
  return copy;
}
