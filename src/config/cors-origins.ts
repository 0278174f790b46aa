// Owns: what --cors-origin accepts (the origins browsers may call the API from, or `*`), and when `*` is refused.
// Not here: answering CORS requests or the header lists (http/cors.ts). No dependencies: the CLI reads flags without the server.
// Invariant: an allowed origin is exactly what a browser sends in `Origin` (scheme://host[:port], no default port).

/** `*`: any origin; otherwise the origins, normalised as browsers send them. */
export type CorsOrigins = '*' | readonly string[];

/**
 * A comma-separated list of origins, or `*`. Throws a TypeError naming the entry that is not an origin, or saying that
 * the list names none (a variable set to nothing, as a compose file leaves an unset one, is refused as every setting's
 * is, not read as CORS off). Entries are normalised (`https://App.example.com/` → `https://app.example.com`) because
 * `Origin` is compared as a string.
 */
export function parseCorsOrigins(text: string): CorsOrigins {
  const entries = text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 0) throw new TypeError('names no origin: give at least one, or leave it unset');
  if (entries.includes('*')) {
    if (entries.length > 1) throw new TypeError('`*` allows every origin, so it stands alone');
    return '*';
  }
  return [...new Set(entries.map(originOf))];
}

function originOf(entry: string): string {
  // Sent by sandboxed frames and file: pages alike; allowing it would allow every one of them.
  if (entry.toLowerCase() === 'null') throw new TypeError('the `null` origin cannot be allowed: every sandboxed frame and file: page sends it');
  if (entry.includes('*')) throw new TypeError(`${entry}: wildcards are not supported; list each origin, or give \`*\` alone`);
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    throw new TypeError(`${entry} is not an origin such as https://app.example.com`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`${entry}: an origin is http or https`);
  if (url.username !== '' || url.password !== '' || url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    throw new TypeError(`${entry} is not an origin: give scheme://host[:port] without a path, query or credentials`);
  }
  return url.origin;
}

/**
 * Why origins may not be used on this server, or null. `*` on a server without API keys would let every page a
 * user opens read and change its operations (a server on loopback included: the browser is on that machine).
 */
export function corsOriginsRefusal(origins: CorsOrigins | null, hasApiKeys: boolean): string | null {
  if (origins !== '*' || hasApiKeys) return null;
  return "refusing to allow every origin (`*`) without API keys: any web page a user opens could read and change this server's operations; list the origins that may call it, or give API keys";
}
