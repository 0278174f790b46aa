// Owns: which tenant a request acts for, which tenants it may read (readScope: an admin key's reads span every tenant,
// or the one its `?tenant=` names), and which principal (API key, or client address without keys) it counts against for
// rate and stream limits. Without API keys every request is the default tenant and an admin (the API is open); with
// keys, the authentication hook sets all three from the key. Not here: checking keys (auth.ts).

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DEFAULT_TENANT } from '../domain/operation.ts';
import { AsyncOpsError } from '../domain/errors.ts';

declare module 'fastify' {
  interface FastifyRequest {
    tenant: string;
    /** `key:` and the start of the key's sha256 (auth.ts), or `addr:IP`; null until the authentication hook ran. */
    principal: string | null;
    /** An admin key (`"admin": true` in the keys file), or any request without keys: its reads may span every tenant. */
    admin: boolean;
  }
}

/** `open`: no API keys, so every request is an admin (whoever reaches the API may read all of it). */
export function installTenant(app: FastifyInstance, open: boolean): void {
  app.decorateRequest('tenant', DEFAULT_TENANT);
  app.decorateRequest('principal', null);
  app.decorateRequest('admin', open);
}

/**
 * Whose data a read may return: the request's tenant; for an admin, the tenant its `?tenant=` names, or null for every
 * tenant. A tenant key naming another tenant is refused (403), never quietly shown its own data under another name.
 */
export function readScope(request: FastifyRequest): string | null {
  const tenant = namedTenant(request);
  if (request.admin) return tenant ?? null;
  if (tenant !== undefined && tenant !== request.tenant) {
    throw new AsyncOpsError('forbidden', '`tenant` names another tenant: only an admin key reads other tenants', {
      errors: [{ path: '/query/tenant', message: 'must be your own tenant (or left out)' }],
    });
  }
  return request.tenant;
}

/**
 * The tenant what a request creates belongs to: its key's, an admin key's too. A `?tenant=` naming another tenant is
 * refused (403) rather than ignored, which would create in the key's own tenant what the caller meant for another.
 */
export function tenantOf(request: FastifyRequest): string {
  const tenant = namedTenant(request);
  if (tenant !== undefined && tenant !== request.tenant) {
    throw new AsyncOpsError('forbidden', '`tenant` names another tenant: what a key creates is its own tenant’s, an admin key’s too', {
      errors: [{ path: '/query/tenant', message: 'must be your own tenant (or left out)' }],
    });
  }
  return request.tenant;
}

/** The tenant `?tenant=` names, if any. */
export function namedTenant(request: FastifyRequest): string | undefined {
  const named = (request.query as Record<string, unknown> | undefined)?.['tenant'];
  return typeof named === 'string' && named.length > 0 ? named : undefined;
}

export function principalOf(request: FastifyRequest): string {
  return request.principal ?? `addr:${request.ip}`;
}
