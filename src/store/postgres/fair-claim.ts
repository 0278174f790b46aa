// Owns: the PostgreSQL claims of the types where turns go round (several tenants with operations pending, or operations
// with a concurrency key): which operations a claim takes, between tenants (stride passes in fair_tenants, weighted) and
// between the keys of a tenant (fair_keys), each key held to its limit across every node, and the passes written back.
// Not here: the turns themselves (domain/fairness.ts), the plain claim of the other types (transitions.ts).
// Invariant: a key's running operations are counted in a statement after its advisory lock is taken (so its snapshot
// sees every claim of the key that committed before), and the lock is only tried, never waited on; passes are written
// in key order, so two claims never wait on each other's rows in opposite orders.

import {
  GLOBAL_PASS,
  inTurnOrder,
  LANE_WINDOW,
  lastTurnPass,
  laneTurns,
  shareTurns,
  startPasses,
  Turns,
  type Lane,
  type StartPass,
} from '../../domain/fairness.ts';
import { compareClaimOrder, type Queued } from '../../domain/queue.ts';
import type { Operation } from '../../domain/operation.ts';
import { changed, type ClaimParams, type TypeLimit } from '../store.ts';
import type { PostgresDatabase, Transaction } from './database.ts';
import { OPERATION_COLUMNS, toOperation, type OperationRow } from './rows.ts';
import { depthChange } from './standing.ts';
import { CLAIMED_HISTORY } from './history.ts';
import { pendingKeys, pendingTenants } from './pending-ends.ts';
import { globalPassOf } from './fair-position.ts';

/** Keys of one tenant a claim looks at (in key order); past this many a tenant's other keys wait for the next claim. */
export const MAX_LANES = 1_000;

// $1 type. The tenants with operations of the type pending (a walk that skips from one to the next on operations_fair),
// whether any of theirs has a key, their passes, and (in every row) the type's global pass.
const TENANTS = `
SELECT t.tenant, f.pass, t.keyed, ${globalPassOf('$1')} AS global_pass
FROM ${pendingTenants('$1', 't', true)} LEFT JOIN fair_tenants f ON f.type = $1 AND f.tenant = t.tenant`;

// $1 type, $2 now, $3 how many, $4 worker id, $5 lease ms, parallel $6 tenants and $7 their weights (others: 1).
// A claim of a type whose tenants have no keys pending, whole in one statement: the stride turns of domain/fairness.ts
// (Turns) in SQL. Each tenant's next due operations (up to $3, skipping rows other claimers hold) are its turns k = 0,
// 1, …, at its start pass + k/weight (the start clamped as startPasses does, from the global pass); the $3 least turns (then a tenant's first
// turn if it is new, then the name in code-unit order) are claimed, and the passes written: the tenants that took turns,
// and the new ones where they joined. When a tenant has operations with a key pending, nothing is claimed and the one
// row says keyed: the caller takes the turns between keys (claimWithTurns).
export const CLAIM_TURNS = `
WITH contenders AS (
  SELECT t.tenant, f.pass, coalesce(w.weight, 1)::float8 AS weight, t.keyed
  FROM ${pendingTenants('$1', 't', true)}
  LEFT JOIN fair_tenants f ON f.type = $1 AND f.tenant = t.tenant
  LEFT JOIN unnest($6::text[], $7::float8[]) AS w(tenant, weight) ON w.tenant = t.tenant
), keyed AS (
  SELECT coalesce(bool_or(keyed), false) AS found FROM contenders
), starts AS (
  SELECT c.tenant, c.weight, c.pass IS NULL OR c.pass < m.floor AS fresh,
    least(greatest(coalesce(c.pass, m.floor), m.floor), m.floor + 1 / c.weight) AS start
  FROM contenders c, (
    SELECT coalesce(min(c.pass) FILTER (WHERE c.pass >= ${globalPassOf('$1')}), ${globalPassOf('$1')}, min(c.pass), 0) AS floor
    FROM contenders c
  ) m
  WHERE NOT (SELECT found FROM keyed)
), heads AS (
  SELECT s.tenant, s.weight, s.fresh, s.start, h.id, h.priority, h.run_at
  FROM starts s
  CROSS JOIN LATERAL (
    SELECT p.id, p.priority, p.run_at FROM operations p
    WHERE p.status = 'pending' AND p.type = $1 AND p.tenant = s.tenant AND p.concurrency_key = '' AND p.run_at <= $2
    ORDER BY p.priority DESC, p.run_at, p.id
    LIMIT $3
    FOR UPDATE SKIP LOCKED
  ) h
), turns AS (
  SELECT *, row_number() OVER (PARTITION BY tenant ORDER BY priority DESC, run_at, id) - 1 AS k FROM heads
), chosen AS (
  SELECT id FROM turns ORDER BY start + k / weight, (fresh AND k = 0) DESC, tenant COLLATE "C" LIMIT $3
), claimed AS (
  UPDATE operations o
  SET status = 'processing', lease_token = gen_random_uuid()::text, lease_expires_at = $2::bigint + $5::bigint, worker_id = $4,
      started_at = $2, updated_at = $2, version = o.version + 1, progress = NULL, progress_message = NULL
  WHERE o.id = ANY (ARRAY(SELECT id FROM chosen))
  RETURNING ${OPERATION_COLUMNS}
), ${depthChange('claimed', '-')}, ${CLAIMED_HISTORY}, taken AS (
  SELECT tenant, count(*) AS n FROM claimed GROUP BY tenant
), passes AS (
  INSERT INTO fair_tenants (type, tenant, pass)
  SELECT $1, p.tenant, p.pass FROM (
    SELECT '${GLOBAL_PASS}' AS tenant, max(s.start + (tk.n - 1) / s.weight) AS pass FROM starts s JOIN taken tk ON tk.tenant = s.tenant
    HAVING count(*) > 0
    UNION ALL
    SELECT s.tenant, s.start + coalesce(tk.n, 0) / s.weight FROM starts s LEFT JOIN taken tk ON tk.tenant = s.tenant
    WHERE tk.n IS NOT NULL OR s.fresh
  ) p
  ORDER BY p.tenant COLLATE "C"
  ON CONFLICT (type, tenant) DO UPDATE SET pass = excluded.pass
)
SELECT c.*, k.found AS keyed FROM keyed k LEFT JOIN claimed c ON true`;

// $1 type, $2 now, parallel $3 tenants and $4 counts, $5 ids taken already. Tenants without keys: their next due
// operations in claim order, skipping those other claimers hold.
const HEADS = `
SELECT w.tenant, c.id, c.priority, c.run_at
FROM unnest($3::text[], $4::int[]) AS w(tenant, n)
CROSS JOIN LATERAL (
  SELECT p.id, p.priority, p.run_at FROM operations p
  WHERE p.status = 'pending' AND p.type = $1 AND p.tenant = w.tenant AND p.concurrency_key = '' AND p.run_at <= $2 AND p.id <> ALL($5::text[])
  ORDER BY p.priority DESC, p.run_at, p.id
  LIMIT w.n
  FOR UPDATE SKIP LOCKED
) c`;

/**
 * The advisory lock of a concurrency key, from SQL expressions for its type, tenant and key. Advisory locks are the
 * database's, not the schema's: the schema is part of it, or installations in schemas of their own would hold off each
 * other's keys of the same names (a claim passes over a key another holds, until its next poll).
 */
export const keyLock = (type: string, tenant: string, key: string): string =>
  `hashtextextended(current_schema() || chr(31) || ${type} || chr(31) || ${tenant} || chr(31) || ${key}, 0)`;

// $1 type, $2 tenant, $3 keys. Whether this transaction holds each key's lock now (tried, not waited on: a key another
// claim holds sits out this claim); '' (no key) has no limit and needs none.
const LOCK_KEYS = `
SELECT k AS key, k = '' OR pg_try_advisory_xact_lock(${keyLock('$1', '$2', 'k')}) AS locked
FROM unnest($3::text[]) AS k ORDER BY k COLLATE "C"`;

// $1 type, $2 tenant, $3 max. The tenant's keys with operations pending ('' for those without one), their passes, and
// (in every row) the keys' global pass.
const KEYS = `
SELECT keys.key, f.pass, (SELECT g.pass FROM fair_keys g WHERE g.type = $1 AND g.tenant = $2 AND g.concurrency_key = '${GLOBAL_PASS}') AS global_pass
FROM ${pendingKeys('$1', '$2', '$3', 'keys')} LEFT JOIN fair_keys f ON f.type = $1 AND f.tenant = $2 AND f.concurrency_key = keys.key
ORDER BY keys.key COLLATE "C"`;

// $1 type, $2 tenant, $3 now, parallel $4 keys, $5 counts wanted and $6 counts this claim took already, $7 ids taken
// already, $8 the key limit. After the locks: each key's next due operations, as many as it has room for beside its
// running ones and those this claim took ('' has no limit). The key's running ones restate `concurrency_key <> ''`, the
// condition of operations_key_running (migration 0008), so that index may count them.
const LANE_HEADS = `
SELECT w.key, c.id, c.priority, c.run_at
FROM unnest($4::text[], $5::int[], $6::int[]) AS w(key, n, mine)
CROSS JOIN LATERAL (
  SELECT p.id, p.priority, p.run_at FROM operations p
  WHERE p.status = 'pending' AND p.type = $1 AND p.tenant = $2 AND p.concurrency_key = w.key AND p.run_at <= $3 AND p.id <> ALL($7::text[])
  ORDER BY p.priority DESC, p.run_at, p.id
  LIMIT CASE WHEN w.key = '' THEN w.n ELSE greatest(0, least(w.n, $8::int - w.mine - (
    SELECT count(*) FROM operations r WHERE r.status = 'processing' AND r.type = $1 AND r.tenant = $2 AND r.concurrency_key = w.key
      AND r.concurrency_key <> '')::int)) END
  FOR UPDATE SKIP LOCKED
) c`;

// $1 ids, $2 now, $3 worker id, $4 lease ms.
const CLAIM = `
WITH claimed AS (
  UPDATE operations o
  SET status = 'processing', lease_token = gen_random_uuid()::text, lease_expires_at = $2::bigint + $4::bigint, worker_id = $3,
      started_at = $2, updated_at = $2, version = o.version + 1, progress = NULL, progress_message = NULL
  WHERE o.id = ANY($1::text[]) AND o.status = 'pending'
  RETURNING ${OPERATION_COLUMNS}
), ${depthChange('claimed', '-')}, ${CLAIMED_HISTORY}
SELECT * FROM claimed`;

// Parallel $1 types, $2 tenants, $3 passes, in (type, tenant) order.
const PUT_TENANTS = `
INSERT INTO fair_tenants (type, tenant, pass)
SELECT * FROM unnest($1::text[], $2::text[], $3::float8[]) AS u(type, tenant, pass) ORDER BY u.type COLLATE "C", u.tenant COLLATE "C"
ON CONFLICT (type, tenant) DO UPDATE SET pass = excluded.pass`;

// Parallel $1 types, $2 tenants, $3 keys, $4 passes, in (type, tenant, key) order.
const PUT_KEYS = `
INSERT INTO fair_keys (type, tenant, concurrency_key, pass)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[]) AS u(type, tenant, concurrency_key, pass)
ORDER BY u.type COLLATE "C", u.tenant COLLATE "C", u.concurrency_key COLLATE "C"
ON CONFLICT (type, tenant, concurrency_key) DO UPDATE SET pass = excluded.pass`;

type Candidate = Queued & { readonly tenant: string; readonly key: string };
type HeadRow = { tenant?: string; key?: string; id: string; priority: number; run_at: number };

interface TypePick {
  readonly candidates: Candidate[];
  readonly contenders: ReadonlyArray<{ name: string; pass: number | null; weight: number }>;
  readonly globalPass: number | null;
  readonly keyStarts: Map<string, ReadonlyMap<string, StartPass>>;
}

/**
 * Claims up to `limit` operations of the `types` where turns go round: each type in one statement (CLAIM_TURNS) while its
 * tenants have no keys pending, and those that have in one transaction (claimWithTurns). Each statement's claims are
 * pushed to `into` as it commits, so a statement that fails after others leaves what they claimed there.
 */
export async function claimTurnTypes(db: PostgresDatabase, params: ClaimParams, types: readonly TypeLimit[], limit: number, into: Operation[]): Promise<void> {
  const weights = [...(params.tenantWeights ?? [])];
  const start = into.length;
  const claimedHere = () => into.length - start;
  const keyed: TypeLimit[] = [];
  for (const t of types) {
    const n = Math.min(t.limit, limit - claimedHere());
    if (n <= 0) break;
    const rows = await db.query<OperationRow & { keyed: boolean }>(CLAIM_TURNS, [
      t.type,
      params.now,
      n,
      params.workerId,
      params.leaseMs,
      weights.map(([tenant]) => tenant),
      weights.map(([, weight]) => weight),
    ]);
    if (rows[0]?.keyed === true) {
      keyed.push(t);
      continue;
    }
    const operations = rows.filter((r) => r.id !== null).map(toOperation);
    db.publish(operations.map(changed));
    into.push(...operations);
  }
  if (keyed.length > 0 && claimedHere() < limit) into.push(...(await db.transaction((tx) => claimWithTurns(tx, params, keyed, limit - claimedHere()))));
}

/** Claims up to `limit` operations of the `types` that take turns, in one transaction; the rest of the claim is the caller's. */
export async function claimWithTurns(tx: Transaction, params: ClaimParams, types: readonly TypeLimit[], limit: number): Promise<Operation[]> {
  const picks: TypePick[] = [];
  let left = limit;
  for (const t of types) {
    if (left <= 0) break;
    const pick = await pickType(tx, t, Math.min(t.limit, left), params);
    picks.push(pick);
    left -= pick.candidates.length;
  }
  const ids = picks.flatMap((p) => p.candidates.map((c) => c.id));
  if (ids.length === 0) return [];
  const rows = await tx.query<OperationRow>(CLAIM, [ids, params.now, params.workerId, params.leaseMs]);
  const claimed = new Set(rows.map((r) => r.id));
  await recordPasses(tx, picks, claimed);
  const operations = rows.map(toOperation).sort(compareClaimOrder);
  tx.events.push(...operations.map(changed));
  return operations;
}

async function pickType(tx: Transaction, t: TypeLimit, limit: number, params: ClaimParams): Promise<TypePick & { type: string }> {
  const type = t.type;
  const rows = await tx.query<{ tenant: string; pass: number | null; keyed: boolean; global_pass: number | null }>(TENANTS, [type]);
  const contenders = rows.map((r) => ({ name: r.tenant, pass: r.pass, weight: params.tenantWeights?.get(r.tenant) ?? 1 }));
  const globalPass = rows[0]?.global_pass ?? null;
  const keyed = new Set(rows.filter((r) => r.keyed).map((r) => r.tenant));
  const taken = new Map<string, Candidate[]>();
  const keyStarts = new Map<string, ReadonlyMap<string, StartPass>>();
  const takenIds = () => [...taken.values()].flat().map((c) => c.id);
  const rounds = shareTurns(new Turns(contenders, globalPass), limit);
  let round = rounds.next();
  while (!round.done) {
    const got = new Map<string, number>();
    const plain = [...round.value].filter(([tenant]) => !keyed.has(tenant));
    if (plain.length > 0) {
      const heads = await tx.query<HeadRow>(HEADS, [type, params.now, plain.map(([n]) => n), plain.map(([, c]) => c), takenIds()]);
      for (const h of heads) add(taken, got, { ...queued(type, h), tenant: h.tenant!, key: '' });
    }
    for (const [tenant, share] of round.value) {
      if (!keyed.has(tenant)) continue;
      for (const c of await takeKeyed(tx, type, tenant, share, t.keyLimit, params.now, taken.get(tenant) ?? [], takenIds(), keyStarts)) add(taken, got, c);
    }
    round = rounds.next(got);
  }
  const next = new Map<string, number>();
  const candidates = round.value.map((tenant) => {
    const i = next.get(tenant) ?? 0;
    next.set(tenant, i + 1);
    return taken.get(tenant)![i]!;
  });
  return { type, candidates, contenders, globalPass, keyStarts };
}

function add(taken: Map<string, Candidate[]>, got: Map<string, number>, c: Candidate): void {
  taken.set(c.tenant, [...(taken.get(c.tenant) ?? []), c]);
  got.set(c.tenant, (got.get(c.tenant) ?? 0) + 1);
}

function queued(type: string, h: HeadRow): Queued {
  return { id: h.id, type, priority: h.priority, runAt: h.run_at };
}

/** Up to `n` more of a keyed tenant's due operations: its keys take turns (after priority), each within its limit. */
async function takeKeyed(
  tx: Transaction,
  type: string,
  tenant: string,
  n: number,
  keyLimit: number | undefined,
  now: number,
  before: readonly Candidate[],
  takenIds: readonly string[],
  keyStarts: Map<string, ReadonlyMap<string, StartPass>>,
): Promise<Candidate[]> {
  const keys = await tx.query<{ key: string; pass: number | null; global_pass: number | null }>(KEYS, [type, tenant, MAX_LANES]);
  const globalPass = keys[0]?.global_pass ?? null;
  if (!keyStarts.has(tenant)) {
    keyStarts.set(
      tenant,
      startPasses(
        keys.map((k) => ({ name: k.key, pass: k.pass, weight: 1 })),
        globalPass,
      ),
    );
  }
  // The keys in turn order, a window at a time (twice LANE_WINDOW: some have nothing they may start), until n are taken.
  const order = inTurnOrder(keyStarts.get(tenant)!);
  const window = 2 * Math.max(LANE_WINDOW, n);
  const taken: Candidate[] = [];
  const ids = [...takenIds];
  for (let at = 0; at < order.length && taken.length < n; at += window) {
    const locks = await tx.query<{ key: string; locked: boolean }>(LOCK_KEYS, [type, tenant, order.slice(at, at + window)]);
    const open = locks.filter((k) => k.locked).map((k) => k.key);
    const mine = open.map((key) => [...before, ...taken].filter((c) => c.key === key).length);
    const rows = await tx.query<HeadRow>(LANE_HEADS, [type, tenant, now, open, open.map(() => n - taken.length), mine, ids, keyLimit ?? 2_147_483_647]);
    const lanes: Lane[] = open.map((key) => ({ key, heads: rows.filter((r) => r.key === key).map((r) => queued(type, r)) }));
    const byId = new Map(lanes.flatMap((l) => l.heads.map((q) => [q.id, l.key] as const)));
    const earlier = new Map<string, number>();
    for (const c of [...before, ...taken]) earlier.set(c.key, (earlier.get(c.key) ?? 0) + 1);
    for (const q of laneTurns(lanes, n - taken.length, keyStarts.get(tenant)!, earlier).taken) {
      taken.push({ ...q, tenant, key: byId.get(q.id)! });
      ids.push(q.id);
    }
  }
  return taken;
}

async function recordPasses(tx: Transaction, picks: ReadonlyArray<TypePick & { type?: string }>, claimed: ReadonlySet<string>): Promise<void> {
  const tenants: Array<[string, string, number]> = [];
  const keys: Array<[string, string, string, number]> = [];
  for (const pick of picks) {
    const type = pick.candidates[0]?.type;
    if (type === undefined) continue;
    const counted = new Turns(pick.contenders, pick.globalPass);
    const perKey = new Map<string, number>();
    for (const c of pick.candidates) {
      if (!claimed.has(c.id)) continue;
      counted.take(c.tenant);
      const id = `${c.tenant}\u001f${c.key}`;
      perKey.set(id, (perKey.get(id) ?? 0) + 1);
    }
    for (const [tenant, pass] of counted.passes()) tenants.push([type, tenant, pass]);
    for (const [tenant, starts] of pick.keyStarts) {
      const last = lastTurnPass([...starts].map(([key, start]) => [start, perKey.get(`${tenant}\u001f${key}`) ?? 0] as const));
      if (last !== null) keys.push([type, tenant, GLOBAL_PASS, last]);
      // A lane's pass as its turns left it, and a new lane's where it joined (as Turns.passes).
      for (const [key, start] of starts) {
        const n = perKey.get(`${tenant}\u001f${key}`) ?? 0;
        if (n > 0 || start.fresh) keys.push([type, tenant, key, start.pass + n]);
      }
    }
  }
  const byName = (a: readonly string[], b: readonly string[]) => (a.join('\u001f') < b.join('\u001f') ? -1 : 1);
  tenants.sort((a, b) => byName([a[0], a[1]], [b[0], b[1]]));
  keys.sort((a, b) => byName([a[0], a[1], a[2]], [b[0], b[1], b[2]]));
  if (tenants.length > 0) await tx.query(PUT_TENANTS, [tenants.map((r) => r[0]), tenants.map((r) => r[1]), tenants.map((r) => r[2])]);
  if (keys.length > 0) await tx.query(PUT_KEYS, [keys.map((r) => r[0]), keys.map((r) => r[1]), keys.map((r) => r[2]), keys.map((r) => r[3])]);
}
