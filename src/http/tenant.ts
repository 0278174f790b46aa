// Owns: which tenant a request acts for. Without API keys every request is the default tenant;
// with keys, the authentication hook sets it from the key.
// Not here: checking keys (auth.ts).

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DEFAULT_TENANT } from '../store/store.ts';

declare module 'fastify' {
  interface FastifyRequest {
    tenant: string;
  }
}

export function installTenant(app: FastifyInstance): void {
  app.decorateRequest('tenant', DEFAULT_TENANT);
}

export function tenantOf(request: FastifyRequest): string {
  return request.tenant;
}
