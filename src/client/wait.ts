// Owns: the pacing of status requests while waiting for an operation to finish — long-poll when honoured, else Retry-After.
// Not here: the HTTP exchange and its transient-failure retries (transport.ts, each retry ≥ 1 s after the last).
// Invariant: two status requests start ≥ 1 s apart, except right after a long-poll that came back early with a change.

import { checkedTimeoutMs, delay, setLongTimeout } from './delay.ts';
import { AsyncOpsApiError, AsyncOpsUnexpectedResponseError, AsyncOpsWaitTimeoutError } from './errors.ts';
import { MAX_RETRY_AFTER_MS, Transport } from './transport.ts';
import { isTerminalStatus, type Operation, type WaitOptions } from './types.ts';

export const MIN_POLL_INTERVAL_MS = 1_000;
/**
 * Added to the 1 s spacing, measured from when a request started here: a busy event loop on either
 * side can delay one request's arrival more than the next one's, and the server must still see
 * no two status requests within a second.
 */
const SPACING_MARGIN_MS = 50;
/** The server's cap on `Prefer: wait=N` (DESIGN §1). */
export const MAX_LONG_POLL_S = 30;

export interface StatusRequest {
  /** The ETag of the snapshot already seen; with `waitS` the server holds the reply until it changes. */
  etag?: string;
  waitS?: number;
  signal: AbortSignal;
}

export interface StatusReply {
  /** Null when the server answered 304 Not Modified. */
  operation: Operation | null;
  etag: string | null;
  retryAfterS: number;
  /** The server echoed `Preference-Applied: wait=N`, i.e. it held the request. */
  waitApplied: boolean;
  /** When the request this answers was sent, its last try after any retries (default: when it was asked for). */
  sentAt?: number;
}

export type FetchStatus = (request: StatusRequest) => Promise<StatusReply>;

export async function waitForTerminal(operationId: string, fetchStatus: FetchStatus, options: WaitOptions = {}): Promise<Operation> {
  const timeoutMs = checkedTimeoutMs('wait', options.timeoutMs) ?? Infinity;
  const deadline = new AbortController();
  // A timer of any length: a wait of weeks must not end at once because a timer cannot hold it.
  const timer = timeoutMs === Infinity ? undefined : setLongTimeout(() => deadline.abort(new AsyncOpsWaitTimeoutError(operationId, timeoutMs)), timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, deadline.signal]) : deadline.signal;
  const endsAt = Date.now() + timeoutMs;
  try {
    return await pollUntilTerminal(fetchStatus, options.onProgress, signal, endsAt);
  } catch (error) {
    throw signal.aborted ? signal.reason : error;
  } finally {
    timer?.clear();
  }
}

async function pollUntilTerminal(fetchStatus: FetchStatus, onProgress: WaitOptions['onProgress'], signal: AbortSignal, endsAt: number): Promise<Operation> {
  let longPoll = true;
  /**
   * The hold to ask for, and the longest to go back up to. A held request cut short after it was held a while (its
   * connection closed by a proxy's or balancer's timeout, or a gateway's 504) halves it and puts the longest below the
   * hold that failed; a hold answered doubles it back up to that. A wait behind a proxy that cuts at 5 s settles on
   * holds of about 4 s, where every held request failed until the wait gave up. One that fails at once (a node
   * restarting refuses the connection) leaves the hold as it is. A failed held request is followed by a plain poll,
   * which the transport retries as any read, after the refusal's Retry-After when it had one (a 429, a 503); until a
   * hold is answered again, the polls go as Retry-After says.
   */
  let holdS = MAX_LONG_POLL_S;
  let longestHoldS = MAX_LONG_POLL_S;
  let plainNext = false;
  let holdFailed = false;
  let refusedUntil = 0;
  let etag: string | null = null;
  let startedAt = Date.now();
  let reply = await fetchStatus({ signal });
  // Spaced from the try that was answered: one that needed retries (a 429, a 503) was sent later than it was asked for.
  startedAt = reply.sentAt ?? startedAt;
  let askedToWait = false;
  for (;;) {
    const changed = reply.operation !== null && (reply.etag === null || reply.etag !== etag);
    etag = reply.etag ?? etag;
    if (reply.operation !== null && changed) {
      // Awaited: an async callback's rejection left alone would be unhandled, which ends a Node process.
      await onProgress?.(reply.operation);
      if (isTerminalStatus(reply.operation.status)) return reply.operation;
    }
    // A changed operation is answered at once, held or not; only an unchanged reply without
    // Preference-Applied shows the server does not long-poll.
    if (askedToWait && !reply.waitApplied && !changed) longPoll = false;
    if (etag === null) longPoll = false;

    let nextAt = startedAt + MIN_POLL_INTERVAL_MS + SPACING_MARGIN_MS;
    // (not a reply without an ETag, which cannot say it changed: asked again at once, it would be answered at once)
    if (askedToWait && reply.waitApplied && changed && reply.etag !== null) nextAt = Date.now();
    // Retry-After paces polling; while the server long-polls, its hold does that job instead (a reply that
    // came back unheld because the operation had already changed is still paced at 1 s).
    if (!longPoll || holdFailed || holdS < 1) nextAt = Math.max(nextAt, Date.now() + reply.retryAfterS * 1000);
    nextAt = Math.max(nextAt, refusedUntil);
    const pauseMs = nextAt - Date.now();
    if (pauseMs > 0) await delay(pauseMs, signal);

    const held = longPoll && etag !== null && holdS >= 1 && !plainNext;
    askedToWait = held;
    const waitS = Math.min(holdS, Math.max(1, Math.ceil((endsAt - Date.now()) / 1000)));
    startedAt = Date.now();
    try {
      reply = held && etag !== null ? await fetchStatus({ etag, waitS, signal }) : await fetchStatus({ signal });
    } catch (error) {
      if (!held || signal.aborted || !Transport.isTransient(error) || Transport.retryAfterMs(error) > MAX_RETRY_AFTER_MS) throw error;
      const refusal = error instanceof AsyncOpsApiError || error instanceof AsyncOpsUnexpectedResponseError ? error : null;
      const heldAWhile = Date.now() - startedAt >= MIN_POLL_INTERVAL_MS;
      if (heldAWhile && (refusal === null || refusal.status === 504)) {
        longestHoldS = Math.min(longestHoldS, waitS - 1);
        holdS = Math.min(Math.floor(holdS / 2), longestHoldS);
      }
      refusedUntil = Date.now() + Transport.retryAfterMs(error);
      plainNext = true;
      holdFailed = true;
      // As an unchanged reply: the plain poll goes a second after this request started, or when the refusal said.
      reply = { operation: null, etag, retryAfterS: 0, waitApplied: true };
      continue;
    }
    plainNext = false;
    if (held) holdFailed = false;
    holdS = Math.min(longestHoldS, held ? holdS * 2 : Math.max(1, holdS));
    startedAt = reply.sentAt ?? startedAt;
  }
}
