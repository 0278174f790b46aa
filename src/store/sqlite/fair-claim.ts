// Owns: choosing which pending operations of a type a SQLite claim takes when turns go round: between tenants (stride
// passes in fair_tenants, weighted) and between the concurrency keys of a tenant (fair_keys), each key held to its limit
// of running operations, and writing back the passes of the turns taken. Not here: the turns themselves
// (domain/fairness.ts), the claim's update (transitions.ts).
// Invariant: it runs inside the claim's transaction, so the running counts it reads hold for every slot of every process
// using the file (SQLite has one writer at a time).

import type { DatabaseSync, StatementSync } from 'node:sqlite';
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
import type { Queued } from '../../domain/queue.ts';
import { prepareAll } from './database.ts';

/** Keys of one tenant a claim looks at (in key order); past this many a tenant's other keys wait for the next claim. */
export const MAX_LANES = 1_000;

/** A candidate with what its turns are counted under. */
export type FairCandidate = Queued & { readonly tenant: string; readonly key: string };

// $type. The tenants with operations of the type pending: a walk that skips from one tenant to the next on the index.
export const TENANTS = `WITH RECURSIVE t(tenant) AS (
    SELECT (SELECT min(tenant) FROM operations INDEXED BY operations_fair WHERE status = 'pending' AND type = $type)
    UNION ALL
    SELECT (SELECT min(tenant) FROM operations INDEXED BY operations_fair WHERE status = 'pending' AND type = $type AND tenant > t.tenant)
    FROM t WHERE t.tenant IS NOT NULL)
  SELECT tenant FROM t WHERE tenant IS NOT NULL`;

// $type $tenant $max. The keys (and '' for none) with operations pending, the same way.
const KEYS = `WITH RECURSIVE k(key) AS (
    SELECT (SELECT min(concurrency_key) FROM operations INDEXED BY operations_fair WHERE status = 'pending' AND type = $type AND tenant = $tenant)
    UNION ALL
    SELECT (SELECT min(concurrency_key) FROM operations INDEXED BY operations_fair
            WHERE status = 'pending' AND type = $type AND tenant = $tenant AND concurrency_key > k.key)
    FROM k WHERE k.key IS NOT NULL)
  SELECT key FROM k WHERE key IS NOT NULL LIMIT $max`;

// $type $tenant: whether any operation pending of the tenant has a key ('' is the least key: none). One probe, where
// walking the keys costs a seek per key and two at least (bench/README.md, "Is any key pending: one probe").
const KEYED = `SELECT 1 AS keyed FROM operations INDEXED BY operations_fair
  WHERE status = 'pending' AND type = $type AND tenant = $tenant AND concurrency_key > '' LIMIT 1`;

// $type $tenant $key $now $limit: a lane's next due operations in claim order.
const HEADS = `SELECT id, priority, run_at FROM operations INDEXED BY operations_fair
  WHERE status = 'pending' AND type = $type AND tenant = $tenant AND concurrency_key = $key AND run_at <= $now
  ORDER BY priority DESC, run_at, id LIMIT $limit`;

// $type $tenant $key
const RUNNING = `SELECT count(*) AS n FROM operations INDEXED BY operations_key_running
  WHERE status = 'processing' AND type = $type AND tenant = $tenant AND concurrency_key = $key AND concurrency_key <> ''`;

// $type: every tenant's pass (only tenants that took turns have one), and the global pass (GLOBAL_PASS).
const TENANT_PASSES = `SELECT tenant, pass FROM fair_tenants WHERE type = $type`;
// $type $tenant $keys (a JSON array): the passes of the keys with operations waiting, not of every key the tenant used
// (and of GLOBAL_PASS, the keys' global pass, when it is among them).
const KEY_PASSES = `SELECT concurrency_key, pass FROM fair_keys
  WHERE type = $type AND tenant = $tenant AND concurrency_key IN (SELECT value FROM json_each($keys))`;
const PUT_TENANT = `INSERT INTO fair_tenants (type, tenant, pass) VALUES ($type, $tenant, $pass)
  ON CONFLICT (type, tenant) DO UPDATE SET pass = excluded.pass`;
const PUT_KEY = `INSERT INTO fair_keys (type, tenant, concurrency_key, pass) VALUES ($type, $tenant, $key, $pass)
  ON CONFLICT (type, tenant, concurrency_key) DO UPDATE SET pass = excluded.pass`;

const STATEMENTS = {
  tenants: TENANTS,
  keys: KEYS,
  keyed: KEYED,
  heads: HEADS,
  running: RUNNING,
  tenantPasses: TENANT_PASSES,
  keyPasses: KEY_PASSES,
  putTenant: PUT_TENANT,
  putKey: PUT_KEY,
};

export interface FairPick {
  /** In turn order. */
  readonly candidates: readonly FairCandidate[];
  /** Writes the passes of the turns of those claimed (a claim's overall limit may leave some candidates unclaimed). */
  record(claimed: ReadonlySet<string>): void;
}

export class SqliteFairClaim {
  #s: Record<keyof typeof STATEMENTS, StatementSync>;

  constructor(db: DatabaseSync) {
    this.#s = prepareAll(db, STATEMENTS);
  }

  /**
   * Up to `limit` due operations of `type` in turn order; null when plain claim order is fair already (one tenant with
   * operations pending, none of them with a key), so the caller claims as it always did, and no pass is written.
   */
  pick(type: string, limit: number, now: number, keyLimit: number | undefined, weights: ReadonlyMap<string, number> | undefined): FairPick | null {
    const tenants = this.#s.tenants.all({ type }).map((r) => String(r['tenant']));
    const lanesOf = new Map<string, string[]>();
    const keysOf = (tenant: string) => {
      let keys = lanesOf.get(tenant);
      if (keys === undefined) {
        keys = this.#s.keys.all({ type, tenant, max: MAX_LANES }).map((r) => String(r['key']));
        lanesOf.set(tenant, keys);
      }
      return keys;
    };
    if (tenants.length === 0) return { candidates: [], record: () => {} };
    if (tenants.length === 1 && this.#s.keyed.get({ type, tenant: tenants[0]! }) === undefined) return null;

    const stored = new Map(this.#s.tenantPasses.all({ type }).map((r) => [String(r['tenant']), Number(r['pass'])]));
    const contenders = tenants.map((name) => ({ name, pass: stored.get(name) ?? null, weight: weights?.get(name) ?? 1 }));
    const globalPass = stored.get(GLOBAL_PASS) ?? null;
    const turns = new Turns(contenders, globalPass);
    const taken = new Map<string, FairCandidate[]>();
    const keyStarts = new Map<string, ReadonlyMap<string, StartPass>>();
    const rounds = shareTurns(turns, limit);
    let round = rounds.next();
    while (!round.done) {
      const got = new Map<string, number>();
      for (const [tenant, share] of round.value) {
        const before = taken.get(tenant) ?? [];
        const more = this.#take(type, tenant, keysOf(tenant), share, before, now, keyLimit, keyStarts);
        taken.set(tenant, [...before, ...more]);
        got.set(tenant, more.length);
      }
      round = rounds.next(got);
    }
    const next = new Map<string, number>();
    const candidates = round.value.map((tenant) => {
      const i = next.get(tenant) ?? 0;
      next.set(tenant, i + 1);
      return taken.get(tenant)![i]!;
    });
    return {
      candidates,
      record: (claimed) => {
        const counted = new Turns(contenders, globalPass);
        const lanes = new Map<string, Map<string, number>>();
        for (const c of candidates) {
          if (!claimed.has(c.id)) continue;
          counted.take(c.tenant);
          const perKey = lanes.get(c.tenant) ?? new Map<string, number>();
          perKey.set(c.key, (perKey.get(c.key) ?? 0) + 1);
          lanes.set(c.tenant, perKey);
        }
        for (const [tenant, pass] of counted.passes()) this.#s.putTenant.run({ type, tenant, pass });
        // A lane's pass as its turns in this claim left it; those with no claimed turn keep theirs.
        // A lane's pass as its turns left it, and a new lane's where it joined (as Turns.passes).
        for (const [tenant, starts] of keyStarts) {
          const took = (key: string) => lanes.get(tenant)?.get(key) ?? 0;
          const last = lastTurnPass([...starts].map(([key, start]) => [start, took(key)] as const));
          if (last !== null) this.#s.putKey.run({ type, tenant, key: GLOBAL_PASS, pass: last });
          for (const [key, start] of starts) if (took(key) > 0 || start.fresh) this.#s.putKey.run({ type, tenant, key, pass: start.pass + took(key) });
        }
      },
    };
  }

  /** Up to `n` more of a tenant's due operations (past those `before` took), its keys taking turns within their limits. */
  #take(
    type: string,
    tenant: string,
    keys: readonly string[],
    n: number,
    before: readonly FairCandidate[],
    now: number,
    keyLimit: number | undefined,
    keyStarts: Map<string, ReadonlyMap<string, StartPass>>,
  ): FairCandidate[] {
    const seen = new Set(before.map((c) => c.id));
    const heads = (key: string, room: number): Queued[] =>
      room <= 0
        ? []
        : this.#s.heads
            .all({ type, tenant, key, now, limit: room + seen.size })
            .map((r) => ({ id: String(r['id']), type, priority: Number(r['priority']), runAt: Number(r['run_at']) }))
            .filter((q) => !seen.has(q.id))
            .slice(0, room);
    const as =
      (key: string) =>
      (q: Queued): FairCandidate => ({ ...q, tenant, key });
    if (keys.length === 1 && keys[0] === '') return heads('', n).map(as(''));
    const passes = new Map(
      this.#s.keyPasses.all({ type, tenant, keys: JSON.stringify([...keys, GLOBAL_PASS]) }).map((r) => [String(r['concurrency_key']), Number(r['pass'])]),
    );
    const globalPass = passes.get(GLOBAL_PASS) ?? null;
    if (!keyStarts.has(tenant)) {
      const start = startPasses(
        keys.map((key) => ({ name: key, pass: passes.get(key) ?? null, weight: 1 })),
        globalPass,
      );
      keyStarts.set(tenant, start);
    }
    // The keys in turn order, read until the window holds enough that may start something.
    const lanes: Lane[] = [];
    for (const key of inTurnOrder(keyStarts.get(tenant)!)) {
      if (lanes.length >= Math.max(LANE_WINDOW, n)) break;
      const mine = before.filter((c) => c.key === key).length;
      const room = key === '' || keyLimit === undefined ? n : Math.min(n, keyLimit - this.#running(type, tenant, key) - mine);
      const next = heads(key, room);
      if (next.length > 0) lanes.push({ key, heads: next });
    }
    const earlier = new Map<string, number>();
    for (const c of before) earlier.set(c.key, (earlier.get(c.key) ?? 0) + 1);
    const { taken } = laneTurns(lanes, n, keyStarts.get(tenant)!, earlier);
    const byId = new Map(lanes.flatMap((l) => l.heads.map((q) => [q.id, l.key] as const)));
    return taken.map((q) => as(byId.get(q.id)!)(q));
  }

  #running(type: string, tenant: string, key: string): number {
    return Number(this.#s.running.get({ type, tenant, key })!['n']);
  }
}
