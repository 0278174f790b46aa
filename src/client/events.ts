// Owns: following one operation's event stream (`GET /operations/{id}/events`): reading Server-Sent Events from a fetch
// body, and reconnecting with Last-Event-ID when the stream ends before the operation does.
// Not here: the HTTP exchange and its errors (transport.ts); what the server sends when (src/http/events-route.ts).
// Invariant: each version of the operation is yielded at most once, in increasing order, unless the server no longer has
// the version the client resumes from (then its current state follows); the iteration ends after the terminal event (or
// the server's 204: the client has it), and a stream that breaks is resumed with Last-Event-ID.

import { delay, setLongTimeout } from './delay.ts';
import { AsyncOpsUnexpectedResponseError } from './errors.ts';
import { gaveUpAfter, operationNamed, Transport, type StreamReply } from './transport.ts';
import { isTerminalStatus, type EventsOptions, type OperationEvent } from './types.ts';

const EVENT_STREAM = /^text\/event-stream\b/i;
/** What the server asks for (`retry:`) until it says: the wait before a reconnect. */
const DEFAULT_RECONNECT_MS = 2_000;
/** The least wait before a reconnect, whatever `retry:` says: as the client's retries, at least a second apart. */
const MIN_RECONNECT_MS = 1_000;
/** The server's keepalive comes every 15 s by default (`--sse-keepalive`): silence for four of them is a dead connection. */
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

/** One dispatched Server-Sent Event (WHATWG HTML §9.2.6), with the stream's last event id as of it. */
export interface ServerSentEvent {
  event: string;
  data: string;
  lastEventId: string;
}

/**
 * The event-stream parser of the SSE standard: lines end in CR, LF or CRLF (split across chunks too), `:` starts a
 * comment, a blank line dispatches, `retry:` takes only digits, an `id` holding NUL is ignored, a leading BOM is dropped.
 */
export class EventStreamParser {
  #decoder = new TextDecoder('utf-8');
  /** The pieces of a line not yet ended, joined once it ends: an event of megabytes in small chunks is read once. */
  #pending: string[] = [];
  #afterCr = false;
  #event = '';
  #data: string[] = [];
  #lastEventId = '';
  /** The reconnection time the stream last asked for, in ms, or null while it has not. */
  retryMs: number | null = null;

  /** The events `chunk` completes (the end of the stream: `chunk` undefined; an event not ended by a blank line is dropped). */
  push(chunk: Uint8Array | undefined): ServerSentEvent[] {
    const text = chunk === undefined ? this.#decoder.decode() : this.#decoder.decode(chunk, { stream: true });
    const events: ServerSentEvent[] = [];
    if (text === '') return events;
    let start = 0;
    // A CR ending the previous chunk ended its line: an LF opening this one is that line's end, not an empty line.
    if (this.#afterCr && text.charCodeAt(0) === 0x0a) start = 1;
    this.#afterCr = false;
    for (let i = start; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 0x0a && c !== 0x0d) continue;
      this.#pending.push(text.slice(start, i));
      this.#line(this.#pending.join(''), events);
      this.#pending = [];
      if (c === 0x0d) {
        if (i + 1 === text.length) this.#afterCr = true;
        else if (text.charCodeAt(i + 1) === 0x0a) i++;
      }
      start = i + 1;
    }
    if (start < text.length) this.#pending.push(text.slice(start));
    return events;
  }

  #line(line: string, events: ServerSentEvent[]): void {
    if (line === '') {
      if (this.#data.length > 0) events.push({ event: this.#event || 'message', data: this.#data.join('\n'), lastEventId: this.#lastEventId });
      this.#event = '';
      this.#data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.#event = value;
    else if (field === 'data') this.#data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.#lastEventId = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value);
  }
}

/**
 * Yields each `status` and `progress` event of the operation's stream, and reconnects (after the server's `retry:`)
 * with Last-Event-ID whenever the stream ends before the terminal event: the server stopping, a broken connection, or
 * `idleTimeoutMs` without a byte. A reconnect that fails as a repeat may not (a network error, 429, 502, 503, 504) is
 * tried again as the client's retry policy allows in a row, spaced by its backoff; any other refusal is thrown (404:
 * the operation was deleted).
 */
export function operationEvents(http: Transport, id: string, path: string, options: EventsOptions): AsyncGenerator<OperationEvent, void, undefined> {
  // Checked here, when events() is called, not at the first next(): a caller's mistake is thrown where it was made.
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  if (!(typeof idleTimeoutMs === 'number' && idleTimeoutMs > 0)) {
    throw new TypeError(`events: idleTimeoutMs must be a positive number of milliseconds (Infinity: none), got ${String(idleTimeoutMs)}`);
  }
  // An EventSource's lastEventId is the id as text: taken as the version it spells.
  const given = options.lastEventId;
  const resumeAt = typeof given === 'string' && /^\d{1,15}$/.test(given) ? Number(given) : given;
  if (resumeAt !== undefined && !(typeof resumeAt === 'number' && Number.isSafeInteger(resumeAt) && resumeAt >= 0)) {
    const shown = typeof given === 'string' ? JSON.stringify(given.slice(0, 40)) : String(given);
    throw new TypeError(`events: lastEventId must be the version of an event received (a whole number, or its digits), got ${shown}`);
  }
  return follow(http, path, operationNamed(id), options.signal, idleTimeoutMs, resumeAt ?? -1);
}

async function* follow(
  http: Transport,
  path: string,
  /** Whether an event's data is the operation followed. */
  isFollowed: (value: Record<string, unknown>) => boolean,
  signal: AbortSignal | undefined,
  idleTimeoutMs: number,
  after: number,
): AsyncGenerator<OperationEvent, void, undefined> {
  let version = after;
  let reconnectMs = DEFAULT_RECONNECT_MS;
  let failures = 0;
  let refusedForMs = 0;
  // Once: a server that went back once more (two stores behind one address, in turn) is not followed back and forth.
  let hasRestarted = false;
  for (let first = true; ; first = false) {
    if (!first) await delay(Math.max(reconnectMs, failures > 0 ? http.backoff(failures) : 0, refusedForMs), signal);
    signal?.throwIfAborted();
    const connection = new AbortController();
    const ended = signal ? AbortSignal.any([signal, connection.signal]) : connection.signal;
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (version >= 0) headers['last-event-id'] = String(version);
    let stream: StreamReply | null;
    try {
      stream = await http.openStream({ method: 'GET', path, headers, signal: ended }, EVENT_STREAM);
    } catch (error) {
      if (!http.mayRetry(error, failures + 1)) throw gaveUpAfter(error, failures + 1);
      failures++;
      // A 429 or 503 says when to come back, as `send` honours it.
      refusedForMs = Transport.retryAfterMs(error);
      continue;
    }
    refusedForMs = 0;
    // 204: the operation has ended and the client has its last event.
    if (stream === null) return;
    // Open: a stream that breaks later is resumed however often, as an EventSource would (a proxy that cuts idle
    // connections every half minute must not end a wait of hours).
    failures = 0;
    const parser = new EventStreamParser();
    const reader = stream.body.getReader();
    let idle: { clear(): void } | undefined;
    const heard = () => {
      idle?.clear();
      if (idleTimeoutMs !== Infinity) idle = setLongTimeout(() => connection.abort(), idleTimeoutMs);
    };
    let firstEvent = true;
    try {
      heard();
      for (;;) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch {
          signal?.throwIfAborted();
          break;
        }
        heard();
        for (const event of parser.push(chunk.done ? undefined : chunk.value)) {
          if (event.event !== 'status' && event.event !== 'progress') continue;
          const operation = operationOf(isFollowed, event, stream, http.baseUrl);
          const eventVersion = Number(event.lastEventId);
          // The server sends only versions after the Last-Event-ID it has; it starts from its current state when it
          // has no such version (a lastEventId it never had, a store restored from a backup): its state goes on from
          // there, or the iteration would wait for a version that never comes. Later in one stream, what the client
          // has is not yielded again.
          const restarted = firstEvent && !hasRestarted && version >= 0 && eventVersion < version;
          if (restarted) hasRestarted = true;
          firstEvent = false;
          if (eventVersion <= version && !restarted) continue;
          version = eventVersion;
          yield { type: event.event, version, operation };
          if (isTerminalStatus(operation.status)) return;
        }
        // At least a second between connections whatever a stream asks for (`retry: 0` from a proxy was a storm).
        if (parser.retryMs !== null) reconnectMs = Math.max(MIN_RECONNECT_MS, parser.retryMs);
        if (chunk.done) break;
      }
    } finally {
      idle?.clear();
      connection.abort();
      reader.cancel().catch(() => {});
    }
  }
}

/** An event's operation: every event of this stream carries one as its data, and an id (its version). */
/** The operation an event carries, which must be the one followed. */
function operationOf(
  isFollowed: (value: Record<string, unknown>) => boolean,
  event: ServerSentEvent,
  stream: StreamReply,
  baseUrl: string,
): OperationEvent['operation'] {
  let data: unknown;
  try {
    data = JSON.parse(event.data);
  } catch {
    data = null;
  }
  const isOperation = data !== null && typeof data === 'object' && !Array.isArray(data) && isFollowed(data as Record<string, unknown>);
  if (!isOperation || !/^\d+$/.test(event.lastEventId)) {
    throw new AsyncOpsUnexpectedResponseError(baseUrl, stream.url, stream.status, stream.headers.get('content-type'));
  }
  return data as OperationEvent['operation'];
}
