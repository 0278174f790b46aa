// Owns: the queue position of a pending operation on PostgreSQL when other tenants wait in its type's queue: its own
// tenant's runnable operations ahead of it, plus the turns the other tenants take first. Not here: the turns
// (domain/fairness.ts: turnsAhead, fairPosition), the position with one tenant (standing.ts, queue_position).
// Invariant: the same rules as the reference model (domain/queue.ts: fairQueuePosition) from the same passes; each
// tenant's count is bounded by the turns it takes first, so the cost follows the position, not the backlogs.

import { fairPosition, GLOBAL_PASS, turnsAhead } from '../../domain/fairness.ts';
import type { Queryable } from './database.ts';
import { greatestPendingTenant, leastPendingTenant, pendingTenants } from './pending-ends.ts';

// $1 type, $2 tenant, $3 priority, $4 run at, $5 id, $6 now. The tenants with operations of the type pending and their
// passes, and (in every row) its own tenant's runnable operations ahead of it and the type's global pass.
const TENANTS = `
SELECT t.tenant, f.pass, ${globalPassOf('$1')} AS global_pass,
  CASE WHEN $4::bigint > $6::bigint
    THEN (SELECT count(*) FROM operations WHERE status = 'pending' AND type = $1 AND tenant = $2 AND run_at <= $6 AND priority >= $3)
    ELSE (SELECT count(*) FROM operations WHERE status = 'pending' AND type = $1 AND tenant = $2 AND run_at <= $6
          AND (priority > $3 OR (priority = $3 AND (run_at, id) < ($4::bigint, $5::text)))) END AS own
FROM ${pendingTenants('$1', 't', false)} LEFT JOIN fair_tenants f ON f.type = $1 AND f.tenant = t.tenant`;

// $1 type, $2 now, parallel $3 tenants and $4 bounds: each tenant's due operations, counted up to its bound. In no
// order: a count of up to n rows is the same in any, and ordered in claim order its plan could walk the type's whole
// queue on operations_claim, filtering on the tenant (seen on an analysed table), where operations_fair has the tenant.
const DUE_UP_TO = `
SELECT w.tenant, (SELECT count(*) FROM (SELECT 1 FROM operations p WHERE p.status = 'pending' AND p.type = $1 AND p.tenant = w.tenant
  AND p.run_at <= $2 LIMIT w.n) d) AS due
FROM unnest($3::text[], $4::int[]) AS w(tenant, n)`;

/**
 * The SQL condition (on `t.type`, `t.tenant`) that another tenant has operations of the type pending: the least and the
 * greatest tenant of the type, two probes of operations_fair (pending-ends.ts), so a standing read with one tenant pays
 * next to nothing for it. Not `EXISTS (… AND x.tenant < t.tenant)`: a plan that walks the type's queue filtering on the
 * tenant fits that too, and a prepared statement planned while the table was small kept it, reading the whole backlog at
 * every create (bench/README.md, "Plans made on an empty table").
 */
// In byte order, as the columns are (migration 0018): `t` may be read from parameters, which take the database's default.
export const OTHER_TENANTS = `coalesce(${leastPendingTenant('t.type')} < t.tenant COLLATE "C" OR ${greatestPendingTenant('t.type')} > t.tenant COLLATE "C", false)`;

/** The global pass of the turns of `type` (domain/fairness.ts, GLOBAL_PASS), as a scalar SQL expression: null for none. */
export function globalPassOf(type: string): string {
  return `(SELECT g.pass FROM fair_tenants g WHERE g.type = ${type} AND g.tenant = '${GLOBAL_PASS}')`;
}

export interface FairOperation {
  readonly id: string;
  readonly type: string;
  readonly tenant: string;
  readonly priority: number;
  readonly runAt: number;
}

/** Its position when the tenants of its type take turns (domain/fairness.ts: fairPosition). */
export async function fairPositionOf(q: Queryable, op: FairOperation, now: number, weights: ReadonlyMap<string, number> | undefined): Promise<number> {
  const rows = await q.query<{ tenant: string; pass: number | null; global_pass: number | null; own: number }>(TENANTS, [
    op.type,
    op.tenant,
    op.priority,
    op.runAt,
    op.id,
    now,
  ]);
  const own = Number(rows[0]?.own ?? 0);
  const globalPass = rows[0]?.global_pass ?? null;
  const contenders = rows.map((r) => ({ name: r.tenant, pass: r.pass, weight: weights?.get(r.tenant) ?? 1 }));
  const turns = [...turnsAhead(op.tenant, own, contenders, globalPass)].filter(([, n]) => n > 0);
  const due =
    turns.length === 0
      ? []
      : await q.query<{ tenant: string; due: number }>(DUE_UP_TO, [op.type, now, turns.map(([t]) => t), turns.map(([, n]) => Math.min(n, 2_147_483_647))]);
  const dueOf = new Map(due.map((d) => [d.tenant, Number(d.due)]));
  return fairPosition(
    op.tenant,
    own,
    contenders.map((c) => ({ ...c, due: dueOf.get(c.name) ?? 0 })),
    globalPass,
  );
}
