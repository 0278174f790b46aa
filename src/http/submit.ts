// Owns: the reply to a request that creates an operation (POST /operations and task collection routes):
// Idempotency-Key, `Prefer: wait=N`, `traceparent`/`tracestate`, 202 with Location and Retry-After, or 200 when it
// finished in time.
// Not here: validation of the input and fields (runtime/operations.ts, runtime/submission.ts), parsing of the body
// (the route), ETag and Retry-After (operation-headers.ts).
// Invariant: a creating request answers 202 unless the operation is terminal when the reply is sent.

import type { FastifyReply, FastifyRequest } from 'fastify';
import { AsyncOpsError } from '../domain/errors.ts';
import { isTerminal } from '../domain/status.ts';
import type { OperationsService, SubmitRequest } from '../runtime/operations.ts';
import type { OperationView } from '../runtime/operation-view.ts';
import { carrierFromHeaders } from '../telemetry/tracing.ts';
import { abortOnClose } from './closing.ts';
import { addVary } from './caching.ts';
import { setOperationHeaders } from './operation-headers.ts';

export const MAX_PREFER_WAIT_S = 30;
const IDEMPOTENCY_KEY_MAX = 255;

/** `wait=N` from a Prefer header (RFC 7240), capped; null when absent or malformed. */
export function preferredWaitS(request: FastifyRequest): number | null {
  const header = request.headers.prefer;
  const values = Array.isArray(header) ? header : header === undefined ? [] : [header];
  for (const value of values) {
    for (const part of value.split(/[,;]/)) {
      const match = /^\s*wait\s*=\s*"?(\d{1,6})"?\s*$/i.exec(part);
      if (match) return Math.min(MAX_PREFER_WAIT_S, Number(match[1]));
    }
  }
  return null;
}

export function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const raw = request.headers['idempotency-key'];
  if (raw === undefined) return undefined;
  const key = Array.isArray(raw) ? raw[0] : raw;
  // The draft makes the key an sf-string; accept it quoted or bare.
  const unquoted = key?.replace(/^"(.*)"$/, '$1') ?? '';
  if (unquoted.length === 0 || unquoted.length > IDEMPOTENCY_KEY_MAX || !/^[\x21-\x7e]+$/.test(unquoted)) {
    throw new AsyncOpsError('validation_failed', `Idempotency-Key must be 1..${IDEMPOTENCY_KEY_MAX} visible ASCII characters`, {
      errors: [{ path: '/headers/idempotency-key', message: 'is not a valid key' }],
    });
  }
  return unquoted;
}

export function sendOperation(reply: FastifyReply, view: OperationView, status: number): FastifyReply {
  setOperationHeaders(reply, view);
  return reply.code(status).send(view.resource);
}

/** `closing`: the app's closingSignal; a held `Prefer: wait` answers at once (202) when it fires. */
export async function submitAndReply(
  service: OperationsService,
  request: FastifyRequest,
  reply: FastifyReply,
  submit: Omit<SubmitRequest, 'idempotencyKey'>,
  closing: AbortSignal,
): Promise<FastifyReply> {
  addVary(reply, 'Prefer');
  const idempotencyKey = idempotencyKeyOf(request);
  const waitS = preferredWaitS(request);
  // A malformed traceparent is ignored, as W3C Trace Context says: the operation then starts a trace of its own.
  const { view, created } = await service.submit({ ...submit, idempotencyKey, trace: carrierFromHeaders(request.headers) });
  let current = view;
  if (waitS !== null) {
    reply.header('preference-applied', `wait=${waitS}`);
    const deadline = Date.now() + waitS * 1000;
    const closed = abortOnClose(reply, closing);
    current = await service.holdKey(submit.tenant, idempotencyKey, async () => {
      let latest = view;
      while (!isTerminal(latest.operation.status) && Date.now() < deadline && !closed.aborted) {
        latest = await service.waitForChange(submit.tenant, view.operation.id, latest.operation.version, deadline - Date.now(), closed);
      }
      return latest;
    });
  }
  // The resource's own link, so the Location carries the prefix the API is mounted at.
  reply.header('location', current.resource.links.self);
  if (!created) reply.header('idempotent-replayed', 'true');
  return sendOperation(reply, current, isTerminal(current.operation.status) ? 200 : 202);
}
