// Owns: the SQL that reads the least or greatest tenant (or a tenant's least or greatest key) with operations of a type
// pending: one probe at an end of operations_fair each, through the functions of migrations/0014_pending_ends.sql. Not
// here: what the turns and positions do with them (fair-claim.ts, fair-position.ts).
// Invariant: no statement reads these ends with min()/max() or ORDER BY … LIMIT 1 of its own: planned without
// statistics, either walks the type's whole queue (the migration says why).

/** The least tenant with operations of `type` pending, above `after` when given (SQL expressions). */
export function leastPendingTenant(type: string, after?: string): string {
  return `pending_tenant_least(${type}, ${after ?? 'NULL'})`;
}

/** The greatest tenant with operations of `type` pending. */
export function greatestPendingTenant(type: string): string {
  return `pending_tenant_greatest(${type})`;
}

/** The least concurrency key ('' for none) of `tenant`'s operations of `type` pending, above `after` when given. */
export function leastPendingKey(type: string, tenant: string, after?: string): string {
  return `pending_key_least(${type}, ${tenant}, ${after ?? 'NULL'})`;
}

/** The greatest concurrency key ('' for none) of `tenant`'s operations of `type` pending. */
export function greatestPendingKey(type: string, tenant: string): string {
  return `pending_key_greatest(${type}, ${tenant})`;
}
