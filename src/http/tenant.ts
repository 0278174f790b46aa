// Owns: which tenant a request acts for, and which principal (API key, or client address without keys) it
// counts against for rate and stream limits. Without API keys every request is the default tenant; with
// keys, the authentication hook sets both from the key. Not here: checking keys (auth.ts).

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DEFAULT_TENANT } from '../domain/operation.ts';

declare module 'fastify' {
  interface FastifyRequest {
    tenant: string;
    /** `key:N` (the Nth configured key) or `addr:IP`; null until the authentication hook ran. */
    principal: string | null;
  }
}

export function installTenant(app: FastifyInstance): void {
  app.decorateRequest('tenant', DEFAULT_TENANT);
  app.decorateRequest('principal', null);
}

export function tenantOf(request: FastifyRequest): string {
  return request.tenant;
}

export function principalOf(request: FastifyRequest): string {
  return request.principal ?? `addr:${request.ip}`;
}
