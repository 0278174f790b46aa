// Owns: inserting a group of operations without idempotency keys in one statement, and announcing them to the other
// nodes and reading where the new ones stand in the same round trip. Not here: inserts with a key (operations.ts), gathering the group (batcher.ts).
// Invariant: the whole group is inserted, or none of it and every insert of it fails.

import { changed, due, operationFromDraft, type InsertOptions, type OperationDraft, type OperationInsertResult } from '../store.ts';
import { isStalePlan, type PostgresDatabase, type SequencedStatement } from './database.ts';
import { depthChange, standingsStatement, toStanding, withTurns, type StandingRow } from './standing.ts';
import { historyOf } from './history.ts';

/** Each inserted operation's `created` event (without a key: these inserts take none). */
const CREATED_HISTORY = historyOf('inserted', 'created_at', "'created'", "jsonb_build_object('tenant', tenant, 'idempotency_key', NULL)");

// Params: parallel arrays $1 ids, $2 tenants, $3 types, $4 inputs (JSON text), $5 max attempts, $6 priorities,
// $7 timeouts (s), $8 run at, $9 webhook urls, $10 nows, $11 costs, $12 traceparents, $13 tracestates, $14 concurrency keys ('': none),
// $15 schedule ids. Inserts without an idempotency key, many in one statement,
// with their `created` history events (CREATED_HISTORY).
const INSERT_OPERATIONS = `
WITH inserted AS (
  INSERT INTO operations (id, tenant, type, status, input, attempt, max_attempts, priority, timeout_s, run_at,
                          created_at, updated_at, webhook_url, cost, traceparent, tracestate, concurrency_key, schedule_id)
  SELECT d.id, d.tenant, d.type, 'pending', d.input, 1, d.max_attempts, d.priority, d.timeout_s, d.run_at, d.now, d.now, d.webhook_url, d.cost,
    d.traceparent, d.tracestate, d.concurrency_key, d.schedule_id
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::int[], $8::bigint[], $9::text[], $10::bigint[],
              $11::float8[], $12::text[], $13::text[], $14::text[], $15::text[])
    AS d(id, tenant, type, input, max_attempts, priority, timeout_s, run_at, webhook_url, now, cost, traceparent, tracestate, concurrency_key, schedule_id)
  RETURNING id, tenant, type, created_at
), ${depthChange('inserted', '+')}, ${CREATED_HISTORY}
SELECT 1`;

// Params: $1 the channel, $2 payloads, $3 an id of the group. The group's NOTIFYs, sent right after its insert in the same
// write and run once it committed, in a transaction that does not wait for the disk (database.ts, #flush: why); should
// the insert have failed, the group is not there and nothing is announced.
const ANNOUNCE_INSERTED = 'SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload WHERE EXISTS (SELECT 1 FROM operations WHERE id = $3)';

export interface InsertRequest {
  readonly draft: OperationDraft;
  readonly options: InsertOptions;
}

/**
 * Inserts a group of operations without idempotency keys in one statement (its own transaction), then announces them
 * and reads where those that asked for it stand, sent with it: one round trip for all three. The insert decides the
 * outcome; a standing that could not be read is left out (the caller asks again), never turned into a failed insert.
 */
export async function insertOperations(db: PostgresDatabase, group: readonly InsertRequest[]): Promise<OperationInsertResult[]> {
  const column = <T>(pick: (d: OperationDraft) => T) => group.map((r) => pick(r.draft));
  const insert: SequencedStatement = [
    INSERT_OPERATIONS,
    [
      column((d) => d.id),
      column((d) => d.tenant),
      column((d) => d.type),
      column((d) => JSON.stringify(d.input ?? null)),
      column((d) => d.maxAttempts),
      column((d) => d.priority),
      column((d) => d.timeoutS),
      column((d) => d.runAt),
      column((d) => d.webhookUrl),
      column((d) => d.now),
      column((d) => d.cost ?? null),
      column((d) => d.trace?.traceparent ?? null),
      column((d) => d.trace?.tracestate ?? null),
      column((d) => d.concurrencyKey ?? ''),
      column((d) => d.scheduleId ?? null),
    ],
  ];
  const operations = group.map((r) => operationFromDraft(r.draft));
  const asked = group.flatMap((r, i) =>
    r.options.standing === undefined ? [] : [{ i, params: { operation: operations[i]!, now: r.draft.now, scope: r.options.standing.scope, fromTail: true } }],
  );
  // The other nodes hear of the group from a statement in the same round trip as its insert, not from a NOTIFY
  // transaction of its own after it (bench/README.md, "Creates announce themselves in their round trip").
  const events = operations.flatMap((op) => [changed(op), due(op)]);
  const announce: SequencedStatement = [ANNOUNCE_INSERTED, [db.channel, db.notificationPayloads(events), operations[0]!.id], { unflushed: true }];
  const reads = asked.length === 0 ? [] : [standingsStatement(asked.map((a) => a.params))];
  const send = () => db.sequence([insert, announce, ...reads]);
  let sent = await send();
  let inserted = await sent[0]!;
  // A stale plan stopped the insert before it did anything (sequence() renamed the statements): all go again.
  if (inserted.status === 'rejected' && isStalePlan(inserted.reason)) {
    sent = await send();
    inserted = await sent[0]!;
  }
  // One statement: every row of the group went in, or none did.
  if (inserted.status === 'rejected') throw inserted.reason;
  // Heard here once committed, before the standings are read: a worker waiting for work claims it meanwhile. Should
  // the statement announcing them have failed, the other nodes hear of them as of any other change.
  db.announced(events);
  if ((await sent[1]!).status === 'rejected') db.announceToOthers(events);
  const standingsRead = await sent[2];
  const rows = standingsRead?.status === 'fulfilled' ? (standingsRead.value as StandingRow[]) : [];
  // Fairness: where other tenants wait, the position with their turns (a round trip more, only then).
  const fair = await Promise.all(rows.map((row, n) => withTurns(db, toStanding(row), row.turns, asked[n]!.params).catch(() => null)));
  const standings = new Map(fair.flatMap((standing, n) => (standing === null ? [] : [[asked[n]!.i, standing] as const])));
  return operations.map((operation, i) => (standings.has(i) ? { kind: 'created', operation, standing: standings.get(i)! } : { kind: 'created', operation }));
}
