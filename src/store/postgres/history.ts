// Owns: the PostgreSQL queries of operation history (domain/history.ts): the fragment that appends a statement's events
// in the statement that makes the change, appending events inside a caller's transaction, recording a release (a new
// event, or collapsed onto the attempt's last one), reading an operation's page of them, and noting the ETAs creates'
// replies gave on their `created` events.
// Not here: which events a change records (the statements that use historyOf and appendHistory), the schema
// (migrations/0011_history.sql). Invariant: events are written by the statement or transaction of the change they record.

import { RELEASE_TAIL_LIMIT, type HistoryDraft, type HistoryEvent, type ReleaseRecord } from '../../domain/history.ts';
import type { HistoryListQuery } from '../store.ts';
import type { PostgresDatabase, Queryable } from './database.ts';

/**
 * A CTE (named `history`) appending one event per row of `source` (a CTE with an `id` column), in the statement of the
 * change: no round trip of its own. `at`, `kind` and `data` are SQL expressions over the row (data: jsonb). `where`:
 * only the rows it holds for.
 */
export function historyOf(source: string, at: string, kind: string, data: string, where = 'true'): string {
  return `history AS (
  INSERT INTO operation_history (operation_id, at, kind, data)
  SELECT id, ${at}, ${kind}, ${data} FROM ${source} WHERE ${where} ORDER BY id
)`;
}

/** Each claimed operation's `claimed` event, in a claim statement whose `claimed` CTE returns the operations claimed. */
export const CLAIMED_HISTORY = historyOf('claimed', 'started_at', "'claimed'", "jsonb_build_object('attempt', attempt, 'worker', worker_id)");

/** The jsonb of an operation error from a row's error columns (JSON null when there is none). */
export const ERROR_JSON = `CASE WHEN error_code IS NULL THEN 'null'::jsonb ELSE jsonb_build_object('code', error_code, 'message', error_message) END`;

// Params: parallel arrays $1 operation ids, $2 at, $3 kinds, $4 data (JSON text).
const APPEND = `
INSERT INTO operation_history (operation_id, at, kind, data)
SELECT e.operation_id, e.at, e.kind, e.data::jsonb FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[]) WITH ORDINALITY AS e(operation_id, at, kind, data, n)
ORDER BY e.n`;

/** Appends events, in order, in one statement of the caller's transaction (or on its own, given the database). */
export async function appendHistory(q: Queryable, events: readonly HistoryDraft[]): Promise<void> {
  if (events.length === 0) return;
  await q.query(APPEND, [events.map((e) => e.operationId), events.map((e) => e.at), events.map((e) => e.kind), events.map((e) => JSON.stringify(e.data))]);
}

// Params: $1 operation id, $2 limit. The operation's events from its latest `released` on (none when it has none).
const RELEASE_TAIL = `
SELECT seq, at, kind, data::text AS data FROM operation_history
WHERE operation_id = $1 AND seq >= (SELECT max(seq) FROM operation_history WHERE operation_id = $1 AND kind = 'released')
ORDER BY seq LIMIT $2`;

/** What releaseRecord decides on: the operation's events from its latest `released` on, at most RELEASE_TAIL_LIMIT. */
export async function releaseTail(q: Queryable, operationId: string): Promise<HistoryEvent[]> {
  const rows = await q.query<{ seq: number; at: number; kind: string; data: string }>(RELEASE_TAIL, [operationId, RELEASE_TAIL_LIMIT]);
  return rows.map((r) => ({ seq: r.seq, operationId, at: r.at, kind: r.kind, data: JSON.parse(r.data) as Record<string, unknown> }));
}

// Params: $1 operation id, $2 seq of the released event, $3 seqs to delete, $4 at, $5 data (JSON text). The released
// event takes a fresh seq (an identity allows DEFAULT), so seq still only grows and a reader by cursor sees it change.
const COLLAPSE_RELEASE = `
WITH dropped AS (DELETE FROM operation_history WHERE operation_id = $1 AND seq = ANY($3::bigint[]))
UPDATE operation_history SET seq = DEFAULT, at = $4, data = $5::jsonb WHERE operation_id = $1 AND seq = $2`;

/** Writes what releaseRecord decided, in one statement of the release's transaction. */
export async function recordRelease(q: Queryable, record: ReleaseRecord): Promise<void> {
  if (record.kind === 'append') return appendHistory(q, [record.event]);
  await q.query(COLLAPSE_RELEASE, [record.operationId, record.seq, record.drop, record.at, JSON.stringify(record.data)]);
}

// Params: $1 operation id, $2 tenant (null: any tenant's), $3 after seq, $4 limit. The operation is read too, so one that
// is not the tenant's is told apart from one with no events after the cursor.
const LIST = `
SELECT o.id AS found, h.seq, h.at, h.kind, h.data::text AS data
FROM operations o
LEFT JOIN LATERAL (
  SELECT seq, at, kind, data FROM operation_history WHERE operation_id = o.id AND seq > $3 ORDER BY seq LIMIT $4
) h ON true
WHERE o.id = $1 AND ($2::text IS NULL OR o.tenant = $2)
ORDER BY h.seq`;

interface HistoryRow {
  found: string;
  seq: number | null;
  at: number;
  kind: string;
  data: string;
}

export async function listHistory(q: Queryable, query: HistoryListQuery): Promise<HistoryEvent[] | null> {
  const rows = await q.query<HistoryRow>(LIST, [query.operationId, query.tenant, query.afterSeq ?? 0, query.limit]);
  if (rows.length === 0) return null;
  return rows.flatMap((r) =>
    r.seq === null ? [] : [{ seq: r.seq, operationId: query.operationId, at: r.at, kind: r.kind, data: JSON.parse(r.data) as Record<string, unknown> }],
  );
}

export interface EstimateNote {
  readonly operationId: string;
  readonly estimatedCompletionAt: number;
}

// Params: parallel arrays $1 operation ids, $2 estimated completion times (ms). Each created event is an operation's
// first (its least seq), updated by primary key in the function of migration 0017, which keeps its plan. Its commit does
// not wait for the disk: the note is for measuring estimates, and a crash of PostgreSQL that loses it loses nothing else.
const NOTE_ESTIMATES = 'SELECT note_estimates($1::text[], $2::bigint[])';

/** Notes a group of creates' ETAs on their `created` events, in one call. */
export async function noteEstimates(db: PostgresDatabase, group: readonly EstimateNote[]): Promise<undefined[]> {
  await db.queryUnflushed(NOTE_ESTIMATES, [group.map((n) => n.operationId), group.map((n) => Math.round(n.estimatedCompletionAt))]);
  return group.map(() => undefined);
}
