// Owns: the reply to a request that creates an operation (POST /operations and task collection routes):
// Idempotency-Key, `Prefer: wait=N` and `Prefer: return=minimal`, `traceparent`/`tracestate`, 202 with Location and
// Retry-After, or 200 when it finished in time.
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
import { etagOf, setOperationHeaders } from './operation-headers.ts';
import { IDEMPOTENCY_KEY_MAX, isIdempotencyKey, type Operation } from '../domain/operation.ts';
import { operationPath } from '../domain/resource.ts';

export const MAX_PREFER_WAIT_S = 30;

export interface Preferences {
  /** `wait=N`, capped at MAX_PREFER_WAIT_S; null when absent or malformed. */
  readonly waitS: number | null;
  /** `return=minimal`: a reply without the resource. */
  readonly minimal: boolean;
}

const NO_PREFERENCES: Preferences = { waitS: null, minimal: false };

/** What the Prefer headers (RFC 7240) ask for, read in one pass; most requests send none. */
export function preferencesOf(request: FastifyRequest): Preferences {
  const header = request.headers.prefer;
  if (header === undefined) return NO_PREFERENCES;
  let waitS: number | null = null;
  let minimal = false;
  // RFC 7240 §2: a preference is `name[=value]` then `;`-parameters, preferences split by commas outside quoted
  // strings, and only the first instance of a name counts (`return=representation, return=minimal` keeps the body).
  const seen = new Set<string>();
  for (const value of Array.isArray(header) ? header : [header]) {
    for (const preference of preferencesIn(value)) {
      // Anchored, and each alternative takes what the other cannot: one pass, whatever the header holds. Whitespace is
      // RFC 7240's, spaces and tabs.
      const token = /^[ \t]*([^=; \t]+)[ \t]*(?:=[ \t]*("(?:[^"\\]|\\[\s\S])*"?|[^; \t]*))?/.exec(preference);
      if (token === null) continue;
      const name = token[1]!.toLowerCase();
      if (seen.has(name)) continue;
      seen.add(name);
      const given = preferenceValue(token[2] ?? '');
      // Any count of digits (RFC 7240's delta-seconds): a wait too long for a number is capped like any other.
      if (given === null) continue;
      if (name === 'wait' && /^\d+$/.test(given)) waitS = Math.min(MAX_PREFER_WAIT_S, Number(given));
      else if (name === 'return' && given.toLowerCase() === 'minimal') minimal = true;
    }
  }
  return { waitS, minimal };
}

/** A preference's value: a token as it is, a quoted string unquoted (its quoted pairs read), null for a quote left open. */
function preferenceValue(raw: string): string | null {
  if (!raw.startsWith('"')) return raw;
  if (!/^"(?:[^"\\]|\\[\s\S])*"$/.test(raw)) return null;
  return raw.slice(1, -1).replace(/\\([\s\S])/g, '$1');
}

/**
 * One Prefer header's preferences: split at the commas outside quoted strings (a backslash escapes the next character;
 * a quote left open runs to the end), in one pass: a regular expression that tried each quote again was quadratic in
 * the header's length, a stall of a fifth of a second for 16 KB of `"\`.
 */
function preferencesIn(value: string): string[] {
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      parts.push(value.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(value.slice(start));
  return parts;
}

/** `wait=N` from a Prefer header (RFC 7240), capped; null when absent or malformed. */
export function preferredWaitS(request: FastifyRequest): number | null {
  return preferencesOf(request).waitS;
}

export function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const raw = request.headers['idempotency-key'];
  if (raw === undefined) return undefined;
  const key = Array.isArray(raw) ? raw[0] : raw;
  // The draft makes the key an sf-string; accept it quoted or bare.
  const unquoted = key?.replace(/^"(.*)"$/, '$1') ?? '';
  if (!isIdempotencyKey(unquoted)) {
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
  const { waitS, minimal } = preferencesOf(request);
  // A malformed traceparent is ignored, as W3C Trace Context says: the operation then starts a trace of its own.
  const trace = carrierFromHeaders(request.headers);
  // A caller that waits wants the outcome, which is in the body: return=minimal is honoured only without wait.
  if (waitS === null && minimal) return replyMinimal(reply, await service.submitStored({ ...submit, idempotencyKey, trace }), service.basePath);
  const { view, created } = await service.submit({ ...submit, idempotencyKey, trace });
  let current = view;
  if (waitS !== null) {
    reply.header('preference-applied', `wait=${waitS}`);
    // How long it has waited, on a line no step of the wall clock moves (one stepped back held the reply for the step).
    const deadline = performance.now() + waitS * 1000;
    const closed = abortOnClose(reply, closing);
    current = await service.holdKey(submit.tenant, idempotencyKey, async () => {
      let latest = view;
      while (!isTerminal(latest.operation.status) && performance.now() < deadline && !closed.aborted) {
        try {
          latest = await service.waitForChange(submit.tenant, view.operation.id, latest.operation.version, deadline - performance.now(), closed);
        } catch (error) {
          // Stored already: a store that stops answering during the wait ends it with what was read, as a 202.
          if (error instanceof AsyncOpsError && error.code === 'store_unavailable') break;
          throw error;
        }
      }
      return latest;
    });
  }
  // The resource's own link, so the Location carries the prefix the API is mounted at.
  reply.header('location', current.resource.links.self);
  if (!created) reply.header('idempotent-replayed', 'true');
  return sendOperation(reply, current, isTerminal(current.operation.status) ? 200 : 202);
}

/**
 * `Prefer: return=minimal`: Location, ETag and no body. Its standing was not read, so there is no ETA to draw a
 * Retry-After from; a poller takes it from its first read.
 */
function replyMinimal(reply: FastifyReply, { operation, created }: { operation: Operation; created: boolean }, basePath: string): FastifyReply {
  reply.header('preference-applied', 'return=minimal');
  reply.header('location', operationPath(operation.id, basePath));
  reply.header('etag', etagOf(operation));
  if (!created) reply.header('idempotent-replayed', 'true');
  return reply.code(isTerminal(operation.status) ? 200 : 202).send();
}
