// Owns: API-key authentication: the keyring (sha256 hashes only, compared in constant time) and the hooks that
// set request.tenant, request.admin and request.principal from `Authorization: Bearer KEY` (or, on an event stream, a stream token),
// or refuse the request with 401. Not here: reading keys (cli/server/api-keys.ts); tokens (stream-tokens.ts); rate limits.
// Invariant: with keys configured, only OPEN_ROUTES answer without a valid key, and an event stream without one only to
// a valid stream token for it; no key ever reaches a log or a body.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AsyncOpsError } from '../domain/errors.ts';
import type { StreamTokens } from './stream-tokens.ts';
import { addVary } from './caching.ts';
import { pathWithin } from './base-path.ts';

/** A configured key: its tenant, the sha256 of the key (the key itself is not kept), and whether it is an admin's. */
export interface ApiKeyEntry {
  readonly tenant: string;
  readonly sha256: Buffer;
  /** Its reads span every tenant (tenant.ts readScope); what it creates is its own tenant's. */
  readonly admin?: boolean | undefined;
}

/** Routes that answer without a key: health checks, the API description and the dashboard's page (they hold no data). */
export const OPEN_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/openapi.json']);
const OPEN_PREFIXES = ['/docs', '/dashboard'];

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * A key as configured: the key itself, or the hex sha256 of it (so a key file need not hold the key). Fairness: an entry
 * may also set its tenant's `weight` (its share of turns in the queues, default 1) and `maxPriority` (the highest
 * priority it may submit, default the server's); every entry of a tenant that sets one must agree.
 */
export type ApiKeyConfig = ({ readonly key: string } | { readonly sha256: string }) & {
  readonly tenant: string;
  readonly weight?: number | undefined;
  readonly maxPriority?: number | undefined;
  /** An operator's key: its reads see every tenant (and may narrow to one with `?tenant=`). */
  readonly admin?: boolean | undefined;
};

export class ApiKeyring {
  readonly #entries: readonly ApiKeyEntry[];

  static from(keys: readonly ApiKeyConfig[]): ApiKeyring {
    return new ApiKeyring(keys.map((k) => ({ tenant: k.tenant, sha256: 'key' in k ? sha256(k.key) : Buffer.from(k.sha256, 'hex'), admin: k.admin === true })));
  }

  constructor(entries: readonly ApiKeyEntry[]) {
    this.#entries = [...entries];
  }

  get size(): number {
    return this.#entries.length;
  }

  /**
   * The tenant and principal of a presented key, or null. Every entry is compared (no early exit) with
   * timingSafeEqual on fixed-length digests, so the time taken says nothing about which key came close.
   */
  authenticate(presented: string): { tenant: string; principal: string; admin: boolean } | null {
    const digest = sha256(presented);
    let found = -1;
    for (let i = 0; i < this.#entries.length; i++) {
      if (timingSafeEqual(digest, this.#entries[i]!.sha256) && found < 0) found = i;
    }
    const entry = this.#entries[found];
    return entry === undefined ? null : { tenant: entry.tenant, principal: keyPrincipal(entry.sha256), admin: entry.admin === true };
  }

  /**
   * Whether a key with this principal is configured now, and reaches this tenant (its own, or any for an admin key,
   * whose tokens are for the tenant of the operation it reads): a stream token outlives no key.
   */
  grants(grant: { readonly tenant: string; readonly principal: string }): boolean {
    return this.#entries.some((e) => keyPrincipal(e.sha256) === grant.principal && (e.admin === true || e.tenant === grant.tenant));
  }
}

/**
 * A key's principal: `key:` and the first 12 hex digits of its sha256 (what a key file may hold instead of the key),
 * the same whatever keys are added or removed around it, so what it asked for stays its own.
 */
function keyPrincipal(digest: Buffer): string {
  return `key:${digest.toString('hex').slice(0, 12)}`;
}

/** `url`: a path within the API (base-path.ts's pathWithin), with or without its query. */
export function isOpenRoute(url: string): boolean {
  const path = url.split('?')[0] ?? '';
  return OPEN_ROUTES.has(path) || OPEN_PREFIXES.some((prefix) => path === prefix || path.startsWith(`${prefix}/`));
}

/** The token of a Bearer credential; '' for one that is malformed (it was presented, and is not valid); null for none. */
function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  // A Bearer credential that is not well formed (a tab after the scheme, two keys) is a key sent and refused, not none.
  if (typeof header !== 'string' || !/^Bearer(?:\s|$)/i.test(header)) return null;
  const match = /^Bearer[ ]+([\x21-\x7e]+)[ ]*$/i.exec(header);
  return match ? match[1]! : '';
}

const kAuthFailure = Symbol('asyncops.authFailure');
type WithFailure = FastifyRequest & { [kAuthFailure]?: 'missing' | 'invalid' | 'stream_token' };

/**
 * Identifies the caller on every request (onRequest) so the rate limiter can key on it, and refuses an
 * unauthenticated one a step later (preParsing): a client guessing keys is rate limited by its address,
 * and its body is never read.
 */
export function installAuth(app: FastifyInstance, keyring: ApiKeyring | null, streamTokens: StreamTokens | null = null): void {
  // Without keys every request is the default tenant, and its principal is its address (principalOf's fallback).
  if (keyring === null) return;
  app.addHook('onRequest', async (request, reply) => {
    request.principal = `addr:${request.ip}`;
    if (isOpenRoute(pathWithin(app.prefix, request.url))) return;
    // Who is asking decides what the answer holds (its tenant's data, or a 401).
    addVary(reply, 'Authorization');
    const token = bearerToken(request);
    // An EventSource cannot send Authorization: a page opens its event stream with a stream token in the query.
    const grant = token === null && streamTokens !== null ? await streamTokens.grantFor(request, app.prefix) : undefined;
    if (grant !== undefined) {
      if (grant === null || !keyring.grants(grant)) (request as WithFailure)[kAuthFailure] = 'stream_token';
      else [request.tenant, request.principal] = [grant.tenant, grant.principal];
      return;
    }
    const match = token === null || token === '' ? null : keyring.authenticate(token);
    if (match === null) {
      (request as WithFailure)[kAuthFailure] = token === null ? 'missing' : 'invalid';
      return;
    }
    request.tenant = match.tenant;
    request.admin = match.admin;
    request.principal = match.principal;
  });
  app.addHook('preParsing', async (request, reply, payload) => {
    const failure = (request as WithFailure)[kAuthFailure];
    if (failure === undefined) return payload;
    reply.header('www-authenticate', failure === 'missing' ? 'Bearer realm="asyncops"' : 'Bearer realm="asyncops", error="invalid_token"');
    if (failure === 'stream_token')
      throw new AsyncOpsError(
        'unauthorized',
        'the stream token is not valid for this operation, or has expired: get a new one from POST /operations/{id}/stream-token',
      );
    throw new AsyncOpsError(
      'unauthorized',
      failure === 'missing' ? 'this server requires an API key: send Authorization: Bearer <key>' : 'the API key is not valid',
    );
  });
}
