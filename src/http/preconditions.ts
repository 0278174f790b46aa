// Owns: If-Match and If-None-Match on the requests that change an operation (cancel, retry, delete; RFC 9110 §13.1),
// and If-Match on a status read, answered 412 precondition_failed when they are false.
// Not here: If-None-Match on a status read (operations-routes.ts: a 304 or a long-poll), the actions (runtime/operations.ts).
// Invariant: evaluated only where the action would otherwise go ahead, so a 404 or a 409 stays one (RFC 9110 §13.2.1);
// against the operation as read just before the action, whose version the action is then made conditional on when an
// If-Match names versions (its own transaction takes no other: store.ts, IfVersion).

import type { FastifyRequest } from 'fastify';
import { AsyncOpsError } from '../domain/errors.ts';
import type { Operation } from '../domain/operation.ts';
import type { OperationsService } from '../runtime/operations.ts';
import { entityTagsOf, etagOf, tagsName } from './operation-headers.ts';
import { readScope } from './tenant.ts';

/**
 * Throws precondition_failed when the request's If-Match names none of the operation's current version, or its
 * If-None-Match names it (or is `*`), provided `goesAhead` says the action would otherwise be taken. The tags are
 * compared by the version they name, `W/` or not: a status's tag is weak only because its estimates are worked out at
 * each read, so RFC 9110's strong comparison would refuse every If-Match a client could send.
 * Returns the version the action must still find: the one an If-Match naming versions was judged on (undefined: none to
 * keep). `If-Match: *` holds for any version and an If-None-Match for every version it does not name, so another that
 * lands meanwhile does not make them false: nothing is kept for them.
 */
export async function checkPreconditions(
  request: FastifyRequest<{ Params: { id: string } }>,
  service: OperationsService,
  goesAhead: (operation: Operation) => boolean,
): Promise<number | undefined> {
  const ifMatch = request.headers['if-match'];
  const ifNoneMatch = request.headers['if-none-match'];
  if (ifMatch === undefined && ifNoneMatch === undefined) return undefined;
  const { operation } = await service.get(readScope(request), request.params.id, { fresh: true });
  // Judged on this version either way: a change landing before the action would make the judgement stale.
  const kept = ifMatch !== undefined && !entityTagsOf(ifMatch).includes('*') ? operation.version : undefined;
  if (!goesAhead(operation)) return kept;
  refuseUnlessIfMatch(ifMatch, operation);
  if (ifNoneMatch !== undefined && tagsName(entityTagsOf(ifNoneMatch), operation)) {
    throw new AsyncOpsError('precondition_failed', `If-None-Match names the operation's current version (its ETag is ${etagOf(operation)}), or is *`);
  }
  return kept;
}

/** Throws precondition_failed when `ifMatch` (a request's If-Match, if any) names none of the operation's current version. */
export function refuseUnlessIfMatch(ifMatch: string | undefined, operation: Operation): void {
  if (ifMatch !== undefined && !tagsName(entityTagsOf(ifMatch), operation)) {
    throw new AsyncOpsError('precondition_failed', `If-Match names no current version of the operation: its ETag is ${etagOf(operation)}`);
  }
}
