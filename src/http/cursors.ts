// Owns: the cursors of paged lists (GET /operations, GET /webhook-deliveries, GET /schedules): an opaque token for the id a page ended
// at; and of history pages (GET /operations/{id}/history), for the seq of the event a page ended at. Not here: paging
// (the services take and give that id or seq). Invariant: a cursor that is not one of ours, or is another list's, is a
// 400 naming the cursor, never a 500 or some other page.

import { AsyncOpsError } from '../domain/errors.ts';
import { isId } from '../domain/ids.ts';

/** What a cursor that is not one of ours (of either kind) is answered with. */
function invalidCursor(): AsyncOpsError {
  return new AsyncOpsError('validation_failed', 'cursor is not valid; use next_cursor from a previous page', {
    errors: [{ path: '/query/cursor', message: 'is not a valid cursor' }],
  });
}

function encodeCursor(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

/**
 * The id a cursor of a list of `prefix` ids names (ID_PREFIXES: an operations cursor on the operations list); a cursor
 * that is not one of ours, or is another list's, is a validation error, never a 500 or some other page.
 */
export function decodeCursor(cursor: string, prefix: string): string {
  const id = cursor.length <= 64 ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  if (!isId(prefix, id)) throw invalidCursor();
  return id;
}

/** The cursor of the page after one that ended at `id`; null when none follows. */
export function cursorAfter(id: string | null): string | null {
  return id === null ? null : encodeCursor(id);
}

// A history page ends at an event's seq (a number, not an id): its cursor says so, so neither kind is taken for the other.
const SEQ_CURSOR = /^seq:([1-9][0-9]{0,15})$/;

/** The seq a history cursor names; anything else is a validation error, never a 500. */
export function decodeSeqCursor(cursor: string): number {
  const match = cursor.length <= 64 ? SEQ_CURSOR.exec(Buffer.from(cursor, 'base64url').toString('utf8')) : null;
  const seq = match === null ? Number.NaN : Number(match[1]);
  if (!Number.isSafeInteger(seq)) {
    throw invalidCursor();
  }
  return seq;
}

/** The cursor of the history page after one that ended at event `seq`; null when none follows. */
export function seqCursorAfter(seq: number | null): string | null {
  return seq === null ? null : Buffer.from(`seq:${seq}`, 'utf8').toString('base64url');
}
