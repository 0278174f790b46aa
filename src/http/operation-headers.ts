// Owns: the headers of a reply that carries an operation: ETag, a weak validator of its stored state (weak: the queue
// position and ETA each read works out are in the body and not in it), and Retry-After, when a poller should ask again
// (half the estimated time left, within 1..15 s).
// Not here: the ETA itself (runtime/operation-view.ts), Cache-Control (caching.ts), If-None-Match waits (operations-routes.ts).
// Invariant: the ETag changes with every stored change and only then; a terminal operation has no Retry-After.

import type { FastifyReply } from 'fastify';
import type { Operation } from '../domain/operation.ts';
import { isTerminal } from '../domain/status.ts';
import type { OperationView } from '../runtime/operation-view.ts';

const RETRY_AFTER_MAX_S = 15;

export function etagOf(op: Pick<Operation, 'id' | 'version'>): string {
  return `W/"${op.id}.${op.version}"`;
}

/** Whether an If-None-Match entity tag names this version (the weak comparison RFC 9110 asks of If-None-Match). */
export function namesVersion(tag: string, op: Pick<Operation, 'id' | 'version'>): boolean {
  return tag.replace(/^W\//, '') === `"${op.id}.${op.version}"`;
}

/** The entity tags of a conditional header (If-None-Match, If-Match): its comma-separated list; none when absent. */
export function entityTagsOf(header: string | undefined): string[] {
  return header?.split(',').map((tag) => tag.trim()) ?? [];
}

/** The newest version of operation `id` that `tags` (entityTagsOf) name, or null when they name none of it. */
export function newestVersionNamed(tags: readonly string[], id: string): number | null {
  let newest: number | null = null;
  const prefix = `"${id}.`;
  for (const tag of tags) {
    const opaque = tag.replace(/^W\//, '');
    if (!opaque.startsWith(prefix) || !opaque.endsWith('"')) continue;
    const digits = opaque.slice(prefix.length, -1);
    if (/^[1-9]\d{0,14}$/.test(digits)) newest = Math.max(newest ?? 0, Number(digits));
  }
  return newest;
}

/** Whether `tags` (entityTagsOf) name this version of the operation, or any (`*`). */
export function tagsName(tags: readonly string[], op: Pick<Operation, 'id' | 'version'>): boolean {
  return tags.some((tag) => tag === '*' || namesVersion(tag, op));
}

/** Seconds until it is worth asking again: half the remaining time, within [1, 15]; null once terminal. */
export function retryAfterS(view: OperationView): number | null {
  if (isTerminal(view.operation.status)) return null;
  if (view.estimatedCompletionAt === null) return 1;
  return Math.min(RETRY_AFTER_MAX_S, Math.max(1, Math.ceil((view.estimatedCompletionAt - view.renderedAt) / 2000)));
}

export function setOperationHeaders(reply: FastifyReply, view: OperationView): void {
  reply.header('etag', etagOf(view.operation));
  const after = retryAfterS(view);
  if (after !== null) reply.header('retry-after', String(after));
}
