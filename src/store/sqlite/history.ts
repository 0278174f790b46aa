// Owns: the SQLite queries of operation history (domain/history.ts): appending events inside a caller's transaction,
// recording a release (a new event, or collapsed onto the attempt's last one), reading an operation's page of them, and
// noting the ETA a create's reply gave on its `created` event.
// Not here: which events a change records (the transitions that call appendHistory), the schema (migrations/0009_history.sql).
// Invariant: appendHistory writes nothing of its own accord: it runs inside the transaction of the change it records.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { RELEASE_TAIL_LIMIT, releaseRecord, type HistoryDraft, type HistoryEvent } from '../../domain/history.ts';
import type { HistoryListQuery } from '../store.ts';
import { prepareAll, type GroupCommit } from './database.ts';

// $operationId $at $kind $data
const APPEND_ONE = `INSERT INTO operation_history (operation_id, at, kind, data) VALUES ($operationId, $at, $kind, $data)`;

// $events: a JSON array of [operation id, at, kind, data]. Many events, one statement (a claim's; a recovery appends one per end).
const APPEND_MANY = `INSERT INTO operation_history (operation_id, at, kind, data)
  SELECT e.value ->> 0, e.value ->> 1, e.value ->> 2, e.value -> 3 FROM json_each($events) e ORDER BY e.key`;

// $id $tenant (null: any tenant's) $afterSeq $limit. The operation is read too, so one that is not the tenant's is told apart
// from one with no events after the cursor.
const LIST = `SELECT o.id AS found, h.seq, h.at, h.kind, h.data FROM operations o
  LEFT JOIN (SELECT seq, operation_id, at, kind, data FROM operation_history WHERE operation_id = $id AND seq > $afterSeq ORDER BY seq LIMIT $limit) h
    ON h.operation_id = o.id
  WHERE o.id = $id AND ($tenant IS NULL OR o.tenant = $tenant)
  ORDER BY h.seq`;

// $id $at: the ETA the create's reply gave, on its created event.
const NOTE_ESTIMATE = `UPDATE operation_history SET data = json_set(data, '$.estimated_completion_at', $at)
  WHERE operation_id = $id AND kind = 'created'`;

// $id $limit: the operation's events from its latest `released` on (none when it has none), for releaseRecord.
const RELEASE_TAIL = `SELECT seq, at, kind, data FROM operation_history
  WHERE operation_id = $id AND seq >= (SELECT max(seq) FROM operation_history WHERE operation_id = $id AND kind = 'released')
  ORDER BY seq LIMIT $limit`;

// $seq $at $data: a collapsed release takes a seq above every stored one, before the events it stands for go (DROP).
// seq is a rowid without AUTOINCREMENT, so a deleted top seq would be handed out again; moved past it, it is not.
const COLLAPSE_RELEASE = `UPDATE operation_history SET seq = (SELECT max(seq) FROM operation_history) + 1, at = $at, data = $data WHERE seq = $seq`;

// $seqs: a JSON array of the seqs to delete.
const DROP = `DELETE FROM operation_history WHERE seq IN (SELECT value FROM json_each($seqs))`;

const STATEMENTS = {
  appendOne: APPEND_ONE,
  appendMany: APPEND_MANY,
  list: LIST,
  noteEstimate: NOTE_ESTIMATE,
  releaseTail: RELEASE_TAIL,
  collapseRelease: COLLAPSE_RELEASE,
  drop: DROP,
};

const prepared = new WeakMap<DatabaseSync, Record<keyof typeof STATEMENTS, StatementSync>>();

function statementsOf(db: DatabaseSync): Record<keyof typeof STATEMENTS, StatementSync> {
  let s = prepared.get(db);
  if (s === undefined) {
    s = prepareAll(db, STATEMENTS);
    prepared.set(db, s);
  }
  return s;
}

/**
 * Appends events, in order, inside the transaction the caller holds (call it from within Transactor.run or a group's
 * work): one statement however many there are.
 */
export function appendHistory(db: DatabaseSync, events: readonly HistoryDraft[]): void {
  if (events.length === 0) return;
  const s = statementsOf(db);
  if (events.length === 1) {
    const [e] = events as [HistoryDraft];
    s.appendOne.run({ operationId: e.operationId, at: e.at, kind: e.kind, data: JSON.stringify(e.data) });
    return;
  }
  s.appendMany.run({ events: JSON.stringify(events.map((e) => [e.operationId, e.at, e.kind, e.data])) });
}

/**
 * Records the release of `attempt` as releaseRecord decides, inside the transaction of the release: a new `released`
 * event, or the latest one moved up to stand for this one too (the claim events after it deleted). A read, on the
 * release path only (claims and ends append without one).
 */
export function recordRelease(db: DatabaseSync, operationId: string, at: number, attempt: number): void {
  const s = statementsOf(db);
  const tail = s.releaseTail.all({ id: operationId, limit: RELEASE_TAIL_LIMIT }).map((r) => toEvent(operationId, r));
  const record = releaseRecord(operationId, at, attempt, tail);
  if (record.kind === 'append') {
    appendHistory(db, [record.event]);
    return;
  }
  s.collapseRelease.run({ seq: record.seq, at: record.at, data: JSON.stringify(record.data) });
  s.drop.run({ seqs: JSON.stringify(record.drop) });
}

function toEvent(operationId: string, r: Record<string, unknown>): HistoryEvent {
  return { seq: Number(r['seq']), operationId, at: Number(r['at']), kind: String(r['kind']), data: JSON.parse(String(r['data'])) as Record<string, unknown> };
}

export class SqliteHistory {
  readonly #db: DatabaseSync;
  readonly #group: GroupCommit;

  /** `group`: the ETA notes join the writes of their turn of the event loop. */
  constructor(db: DatabaseSync, group: GroupCommit) {
    this.#db = db;
    this.#group = group;
  }

  list(query: HistoryListQuery): HistoryEvent[] | null {
    const rows = statementsOf(this.#db).list.all({ id: query.operationId, tenant: query.tenant, afterSeq: query.afterSeq ?? 0, limit: query.limit });
    if (rows.length === 0) return null;
    return rows.filter((r) => r['seq'] !== null).map((r) => toEvent(query.operationId, r));
  }

  /** Written with the next group of writes; `onError` hears of a failure (no caller waits for it). */
  noteEstimate(params: { readonly operationId: string; readonly estimatedCompletionAt: number }, onError: (err: unknown) => void): void {
    this.#group.run(() => statementsOf(this.#db).noteEstimate.run({ id: params.operationId, at: params.estimatedCompletionAt })).catch(onError);
  }
}
