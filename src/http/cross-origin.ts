// Owns: refusing state-changing requests a browser sent from another site (CSRF). A request with an API key cannot be
// forged from another site (a page there cannot set Authorization without the key), but without keys (the loopback
// default) the API is open, and a page anywhere could make the user's browser POST to it: a retry, a cancel, a bulk
// action. The rule is Go's net/http CrossOriginProtection: browsers say where a request comes from in Sec-Fetch-Site
// (or, older ones, in Origin); programs that are not browsers send neither and pass.
// Not here: CORS headers (cors.ts; the origins it allows are trusted here too), authentication (auth.ts).
// Invariant: GET, HEAD and OPTIONS always pass; any other method from a foreign origin is a 403 problem.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CorsOrigins } from '../config/cors-origins.ts';
import { AsyncOpsError } from '../domain/errors.ts';

const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Whether the request may change state, as far as where it came from goes. `trusted`: the CORS origins. */
export function crossOriginAllowed(request: FastifyRequest, trusted: CorsOrigins | null): boolean {
  if (SAFE_METHODS.has(request.method)) return true;
  const site = request.headers['sec-fetch-site'];
  if (site === 'same-origin' || site === 'none') return true;
  const origin = request.headers.origin;
  if (origin !== undefined && (trusted === '*' || trusted?.includes(origin) === true)) return true;
  if (site !== undefined) return false;
  // A browser too old to send Sec-Fetch-Site still sends Origin; a program sends neither.
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

/** An onRequest hook; install it after CORS (a preflight is answered there, before this) and before authentication. */
export function installCrossOriginProtection(app: FastifyInstance, trusted: CorsOrigins | null): void {
  app.addHook('onRequest', async (request) => {
    if (crossOriginAllowed(request, trusted)) return;
    throw new AsyncOpsError(
      'forbidden',
      'a state-changing request from another origin is refused (CSRF): send it from this origin, from an origin allowed by --cors-origin, or from a program',
    );
  });
}
