// Owns: refusing a request addressed to a host name the server does not answer to (DNS rebinding), with a 421 problem.
// Not here: which names those are (config/allowed-hosts.ts), cross-site POSTs (cross-origin.ts).
// Invariant: installed only where allowed hosts are set (the CLI's server without API keys); every route, open ones too.

import type { FastifyInstance } from 'fastify';
import { hostAllowed, type AllowedHosts } from '../config/allowed-hosts.ts';
import { AsyncOpsError } from '../domain/errors.ts';

/** An onRequest hook; install it first, so nothing else answers a request that is not for this server. */
export function installHostCheck(app: FastifyInstance, allowed: AllowedHosts): void {
  if (allowed === '*') return;
  app.addHook('onRequest', async (request) => {
    if (hostAllowed(request.headers.host, allowed)) return;
    throw new AsyncOpsError(
      'misdirected_request',
      'this server has no API keys and answers only to localhost, IP addresses and --allowed-hosts (against DNS rebinding): use one of those, or give the server API keys',
    );
  });
}
