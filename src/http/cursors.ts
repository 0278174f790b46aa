// Owns: the cursors of paged lists (GET /operations, GET /webhook-deliveries, GET /schedules): an opaque token for the id a page ended
// at. Not here: paging (the services take and give that id). Invariant: a cursor that is not one of ours is a 400
// naming the cursor, never a 500 or some other page.

import { AsyncOpsError } from '../domain/errors.ts';
import { ID_PREFIXES, isId } from '../domain/ids.ts';

function encodeCursor(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

/** The id a cursor names; a cursor that is not one of ours is a validation error, never a 500. */
export function decodeCursor(cursor: string): string {
  const id = cursor.length <= 64 ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  if (!isId(ID_PREFIXES.operation, id) && !isId(ID_PREFIXES.delivery, id) && !isId(ID_PREFIXES.schedule, id)) {
    throw new AsyncOpsError('validation_failed', 'cursor is not valid; use next_cursor from a previous page', {
      errors: [{ path: '/query/cursor', message: 'is not a valid cursor' }],
    });
  }
  return id;
}

/** The cursor of the page after one that ended at `id`; null when none follows. */
export function cursorAfter(id: string | null): string | null {
  return id === null ? null : encodeCursor(id);
}
