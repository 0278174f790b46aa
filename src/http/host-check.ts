// Owns: refusing a request that names no host where HTTP/1.1 requires one, or carries several lines of a header it may
// carry once (a 400 problem), and one addressed to a host name the server does not answer to (DNS rebinding, a 421 problem).
// Not here: which names those are (config/allowed-hosts.ts), cross-site POSTs (cross-origin.ts).
// Invariant: every route, open ones too; the allowed names are checked only where they are set (the CLI's server
// without API keys).

import type { FastifyInstance } from 'fastify';
import { hostAllowed, type AllowedHosts } from '../config/allowed-hosts.ts';
import { AsyncOpsError } from '../domain/errors.ts';

const HOST_REQUIRED = 'an HTTP/1.1 request must carry a Host header (RFC 9112, section 3.2)';
/**
 * The headers a request carries once whose repeats Node drops, keeping the first line (`IncomingMessage.headers`): a
 * proxy that adds a line would otherwise decide what the request means by the order it wrote them in. The others
 * asyncops reads it joins with commas, and their readers refuse what that makes.
 */
const SINGLE_HEADERS: ReadonlyMap<string, string> = new Map([
  ['host', 'a request carries one Host header, not several (RFC 9112, section 3.2)'],
  ['content-type', 'a request carries one Content-Type header, not several (RFC 9110, section 8.3)'],
  ['authorization', 'a request carries one Authorization header, not several (RFC 9110, section 11.6.2)'],
  ['if-modified-since', 'a request carries one If-Modified-Since header, not several (RFC 9110, section 13.1.3)'],
  ['if-unmodified-since', 'a request carries one If-Unmodified-Since header, not several (RFC 9110, section 13.1.4)'],
]);
const MISDIRECTED =
  'this server has no API keys and answers only to localhost, IP addresses and --allowed-hosts (against DNS rebinding): use one of those, or give the server API keys';

/**
 * An onRequest hook; install it first, so nothing else answers a request that is not for this server. Node's server
 * answers an HTTP/1.1 request without Host itself, with a bare 400, unless started with `requireHostHeader: false`
 * (app.ts does), and keeps only the first of several Host lines (of Content-Type and others too), so both are looked
 * for here.
 */
export function installHostCheck(app: FastifyInstance, allowed: AllowedHosts): void {
  app.addHook('onRequest', (request, _reply, done) => {
    const host = request.headers.host;
    if (host === undefined && request.raw.httpVersionMajor === 1 && request.raw.httpVersionMinor >= 1) {
      return done(new AsyncOpsError('validation_failed', HOST_REQUIRED));
    }
    const repeated = repeatedSingleHeader(request.raw.rawHeaders);
    if (repeated !== null) return done(new AsyncOpsError('validation_failed', repeated));
    if (allowed !== '*' && !hostAllowed(host, allowed)) return done(new AsyncOpsError('misdirected_request', MISDIRECTED));
    done();
  });
}

/** The refusal of the first header of SINGLE_HEADERS given on more than one line, or null. */
function repeatedSingleHeader(rawHeaders: readonly string[]): string | null {
  const seen = new Set<string>();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (!SINGLE_HEADERS.has(name)) continue;
    if (seen.has(name)) return SINGLE_HEADERS.get(name)!;
    seen.add(name);
  }
  return null;
}
