// Owns: the SQL that reads the least or greatest tenant with operations of a type pending, names the types whose turns
// go round, and walks a type's pending tenants or a tenant's pending keys: probes at the ends of operations_fair, through the
// functions of migrations 0014 to 0016. Not here: what the turns and positions do with them (fair-claim.ts,
// fair-position.ts).
// Invariant: no statement reads these ends with min()/max() or ORDER BY … LIMIT 1 of its own: planned without
// statistics, either walks the type's whole queue (migration 0014 says why).

/** The least tenant with operations of `type` pending (SQL expressions). */
export function leastPendingTenant(type: string): string {
  return `pending_tenant_least(${type})`;
}

/** The greatest tenant with operations of `type` pending. */
export function greatestPendingTenant(type: string): string {
  return `pending_tenant_greatest(${type})`;
}

/**
 * A FROM item: of the array `types`, each type where turns go round (a second tenant, or a concurrency key, pending), as
 * `alias`(type).
 */
export function pendingTurnTypes(types: string, alias: string): string {
  return `unnest(pending_turn_types(${types})) AS ${alias}(type)`;
}

/**
 * A FROM item: each tenant with operations of `type` pending, in order, as `alias`(tenant, keyed); keyed (one of its
 * operations has a concurrency key) is read only when asked for, else null.
 */
export function pendingTenants(type: string, alias: string, keyed: boolean): string {
  return `pending_tenants(${type}, ${keyed}) AS ${alias}(tenant, keyed)`;
}

/** A FROM item: the first `max` concurrency keys ('' for none) of `tenant`'s operations of `type` pending, as `alias`(key). */
export function pendingKeys(type: string, tenant: string, max: string, alias: string): string {
  return `pending_keys(${type}, ${tenant}, ${max}) AS ${alias}(key)`;
}
