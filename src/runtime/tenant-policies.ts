// Owns: the tenants' fairness policies as the composition root hands them to the parts: each tenant's weight (its share
// of turns in the queues) and ceiling on priority, from their API key entries and the server-wide default.
// Not here: reading key files (cli/server/api-keys.ts), using them (worker-pool.ts, operations.ts, the stores' claims).
// Invariant: a tenant without a weight has none in the map (the claims count it as 1).

/**
 * Fairness: the tenants' weights and ceilings on priority, from their API key entries (the first entry of a tenant that
 * sets one decides; the CLI refuses entries that disagree) and the server-wide ceiling. `maxPriority(null)`: the ceiling
 * of an admin's retry over every tenant, the lowest of theirs, so no tenant is redriven above its own.
 */
export function tenantPolicies(
  keys: ReadonlyArray<{ readonly tenant: string; readonly weight?: number | undefined; readonly maxPriority?: number | undefined }>,
  defaultMaxPriority: number,
): { readonly weights: ReadonlyMap<string, number> | undefined; readonly maxPriority: (tenant: string | null) => number } {
  const weights = new Map<string, number>();
  const ceilings = new Map<string, number>();
  for (const k of keys) {
    if (k.weight !== undefined && !weights.has(k.tenant)) weights.set(k.tenant, k.weight);
    if (k.maxPriority !== undefined && !ceilings.has(k.tenant)) ceilings.set(k.tenant, k.maxPriority);
  }
  const lowest = Math.min(defaultMaxPriority, ...ceilings.values());
  return {
    weights: weights.size === 0 ? undefined : weights,
    maxPriority: (tenant) => (tenant === null ? lowest : (ceilings.get(tenant) ?? defaultMaxPriority)),
  };
}
