// Owns: ending attempts on PostgreSQL in groups: the finishes asked for while one group is being written go together
// in the next, one statement and one commit for all of them (results, duration samples and outbox rows included).
// Not here: what a finish means (transitions.ts holds the single-operation statements), deciding outcomes (runtime/).
// Invariant: each finish settles after the commit that stored it (or with its error); one that lost its lease is null.

import { DURATION_SAMPLE_LIMIT } from '../../domain/eta.ts';
import type { Operation } from '../../domain/operation.ts';
import type { DeliveryFactory, FinishParams } from '../store.ts';
import type { PostgresDatabase } from './database.ts';
import { writeOutbox } from './deliveries.ts';
import { changed, OPERATION_COLUMNS, toOperation, type OperationRow } from './operations.ts';

/** More would make one statement's parameters large; the rest wait for the next group. */
const MAX_GROUP = 200;

// Params: parallel arrays $1 ids, $2 lease tokens, $3 statuses, $4 error codes, $5 error messages, $6 result content types
// (null: none), $7 result bodies, $8 nows; $9 duration samples kept per type.
// Each operation ends under its lease; completed ones record their duration, and each type's samples are trimmed to about
// the newest $9 (samples another finish is already trimming are skipped, not waited for).
const FINISH_GROUP = `
WITH input AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[], $8::bigint[])
    AS i(id, lease_token, status, error_code, error_message, content_type, body, now)
), finished AS (
  UPDATE operations o
  SET status = i.status, error_code = i.error_code, error_message = i.error_message, finished_at = i.now, updated_at = i.now,
      version = o.version + 1, lease_token = NULL, lease_expires_at = NULL, worker_id = NULL
  FROM input i
  WHERE o.id = i.id AND o.status = 'processing' AND o.lease_token = i.lease_token
  RETURNING ${OPERATION_COLUMNS}
), result AS (
  INSERT INTO results (operation_id, content_type, body)
  SELECT i.id, i.content_type, i.body FROM input i JOIN finished f ON f.id = i.id WHERE i.content_type IS NOT NULL
), sample AS (
  INSERT INTO duration_samples (type, duration_ms) SELECT type, finished_at - started_at FROM finished WHERE status = 'completed'
), trimmed AS (
  DELETE FROM duration_samples s WHERE s.id IN (
    SELECT k.id FROM duration_samples k JOIN (SELECT DISTINCT type FROM finished WHERE status = 'completed') f ON k.type = f.type
    WHERE k.id <= (SELECT x.id FROM duration_samples x WHERE x.type = f.type ORDER BY x.id DESC OFFSET $9::int - 1 LIMIT 1)
    FOR UPDATE OF k SKIP LOCKED
  )
)
SELECT * FROM finished`;

interface Waiting {
  readonly params: FinishParams;
  readonly resolve: (op: Operation | null) => void;
  readonly reject: (error: unknown) => void;
}

export class FinishBatch {
  readonly #db: PostgresDatabase;
  #queue: Waiting[] = [];
  #writing: Promise<void> | null = null;

  constructor(db: PostgresDatabase) {
    this.#db = db;
  }

  finish(params: FinishParams): Promise<Operation | null> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ params, resolve, reject });
      // Finishes of this turn of the event loop join the group; while a group is in flight, the next one gathers.
      if (this.#writing === null) this.#writing = new Promise<void>((done) => setImmediate(done)).then(() => this.#drain());
    });
  }

  /** Settles once everything asked for so far is written (the store waits for it before closing). */
  async idle(): Promise<void> {
    while (this.#writing !== null) await this.#writing;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const group = this.#queue.splice(0, MAX_GROUP);
        try {
          const ops = await this.#write(group.map((w) => w.params));
          group.forEach((w) => w.resolve(ops.get(w.params.id) ?? null));
        } catch (error) {
          for (const w of group) w.reject(error);
        }
      }
    } finally {
      this.#writing = null;
    }
  }

  async #write(group: readonly FinishParams[]): Promise<Map<string, Operation>> {
    const column = <T>(pick: (p: FinishParams) => T) => group.map(pick);
    const resultOf = (p: FinishParams) => (p.status === 'completed' ? p.result : undefined);
    return this.#db.transaction(async (tx) => {
      const rows = await tx.query<OperationRow>(FINISH_GROUP, [
        column((p) => p.id), column((p) => p.leaseToken), column((p) => p.status), column((p) => p.error?.code ?? null),
        column((p) => p.error?.message ?? null), column((p) => resultOf(p)?.contentType ?? null), column((p) => resultOf(p)?.body ?? null),
        column((p) => p.now), DURATION_SAMPLE_LIMIT,
      ]);
      const finished = rows.map(toOperation);
      const byId = new Map(group.map((p) => [p.id, p]));
      // One outbox statement per factory (in practice one: the pool's), each operation with the time it ended.
      const byFactory = new Map<DeliveryFactory, Operation[]>();
      for (const op of finished) {
        const factory = byId.get(op.id)!.delivery;
        byFactory.set(factory, [...(byFactory.get(factory) ?? []), op]);
      }
      const stored = new Map<string, Operation>();
      for (const [factory, ops] of byFactory) {
        for (const op of await writeOutbox(tx, ops, factory, Math.max(...ops.map((o) => o.finishedAt ?? 0)))) stored.set(op.id, op);
      }
      tx.events.push(...[...stored.values()].map(changed));
      return stored;
    });
  }
}
