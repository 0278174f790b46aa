// Owns: which secrets sign a tenant's webhooks: the server's own for the tenant `default` (every operation of a server
// without API keys, and the operator's), and for any other tenant each derived from them (tenantWebhookSecret), so that
// no tenant's receivers hold what signs another tenant's. Not here: deriving (signing/), signing (the dispatcher).
// Invariant: the secrets come back in the server's order, newest first, so a rotation reaches every tenant at once.

import { DEFAULT_TENANT } from '../domain/operation.ts';
import { tenantWebhookSecret, webhookSecretKey } from '../signing/webhook-signature.ts';

/** The secrets of `tenant`'s webhooks, from the server's. */
export async function tenantSecrets(secrets: readonly string[], tenant: string): Promise<string[]> {
  // Each checked, the server's own too: what is handed on must be a secret a server would sign with.
  for (const secret of secrets) webhookSecretKey(secret);
  if (tenant === DEFAULT_TENANT) return [...secrets];
  return Promise.all(secrets.map((secret) => tenantWebhookSecret(secret, tenant)));
}

/** Derived once per tenant: a dispatcher signs every attempt of a tenant's deliveries with the same few. */
export class TenantSecrets {
  readonly #secrets: readonly string[];
  readonly #byTenant = new Map<string, Promise<string[]>>();

  constructor(secrets: readonly string[]) {
    this.#secrets = [...secrets];
  }

  of(tenant: string): Promise<string[]> {
    let secrets = this.#byTenant.get(tenant);
    if (secrets === undefined) {
      secrets = tenantSecrets(this.#secrets, tenant);
      // A bound on what tenants come and go over a server's life; deriving again costs a few microseconds.
      if (this.#byTenant.size >= 1_024) this.#byTenant.clear();
      this.#byTenant.set(tenant, secrets);
    }
    return secrets;
  }
}
