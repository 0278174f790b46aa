// Owns: refusing a request that names no host where HTTP/1.1 requires one, or several (a 400 problem), and one
// addressed to a host name the server does not answer to (DNS rebinding, a 421 problem).
// Not here: which names those are (config/allowed-hosts.ts), cross-site POSTs (cross-origin.ts).
// Invariant: every route, open ones too; the allowed names are checked only where they are set (the CLI's server
// without API keys).

import type { FastifyInstance } from 'fastify';
import { hostAllowed, type AllowedHosts } from '../config/allowed-hosts.ts';
import { AsyncOpsError } from '../domain/errors.ts';

const HOST_REQUIRED = 'an HTTP/1.1 request must carry a Host header (RFC 9112, section 3.2)';
const ONE_HOST = 'a request carries one Host header, not several (RFC 9112, section 3.2)';
const MISDIRECTED =
  'this server has no API keys and answers only to localhost, IP addresses and --allowed-hosts (against DNS rebinding): use one of those, or give the server API keys';

/**
 * An onRequest hook; install it first, so nothing else answers a request that is not for this server. Node's server
 * answers an HTTP/1.1 request without Host itself, with a bare 400, unless started with `requireHostHeader: false`
 * (app.ts does), and keeps only the first of several Host lines, so both are looked for here.
 */
export function installHostCheck(app: FastifyInstance, allowed: AllowedHosts): void {
  app.addHook('onRequest', (request, _reply, done) => {
    const host = request.headers.host;
    if (host === undefined && request.raw.httpVersionMajor === 1 && request.raw.httpVersionMinor >= 1) {
      return done(new AsyncOpsError('validation_failed', HOST_REQUIRED));
    }
    if (host !== undefined && hostLines(request.raw.rawHeaders) > 1) return done(new AsyncOpsError('validation_failed', ONE_HOST));
    if (allowed !== '*' && !hostAllowed(host, allowed)) return done(new AsyncOpsError('misdirected_request', MISDIRECTED));
    done();
  });
}

function hostLines(rawHeaders: readonly string[]): number {
  let lines = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === 'host') lines++;
  return lines;
}
