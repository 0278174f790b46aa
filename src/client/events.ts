// Owns: following one operation's event stream (`GET /operations/{id}/events`): reading Server-Sent Events from a fetch
// body, and reconnecting with Last-Event-ID when the stream ends before the operation does.
// Not here: the HTTP exchange and its errors (transport.ts); what the server sends when (src/http/events-route.ts).
// Invariant: each version of the operation is yielded at most once, in increasing order; the iteration ends after the
// terminal event (or the server's 204: the client has it), and a stream that breaks is resumed, never restarted.

import { delay } from './delay.ts';
import { AsyncOpsUnexpectedResponseError } from './errors.ts';
import { OPERATION, Transport, type StreamReply } from './transport.ts';
import { isTerminalStatus, type EventsOptions, type OperationEvent } from './types.ts';

const EVENT_STREAM = /^text\/event-stream\b/i;
/** What the server asks for (`retry:`) until it says: the wait before a reconnect. */
const DEFAULT_RECONNECT_MS = 2_000;
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
  #buffer = '';
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
    let start = 0;
    let i = 0;
    let buffer = this.#buffer + text;
    // A CR ending the previous chunk ended its line: an LF opening this one is that line's end, not an empty line.
    if (this.#afterCr && buffer.startsWith('\n')) buffer = buffer.slice(1);
    this.#afterCr = false;
    for (; i < buffer.length; i++) {
      const c = buffer.charCodeAt(i);
      if (c !== 0x0a && c !== 0x0d) continue;
      this.#line(buffer.slice(start, i), events);
      if (c === 0x0d) {
        if (i + 1 === buffer.length) this.#afterCr = true;
        else if (buffer.charCodeAt(i + 1) === 0x0a) i++;
      }
      start = i + 1;
    }
    this.#buffer = buffer.slice(start);
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
export function operationEvents(http: Transport, path: string, options: EventsOptions): AsyncGenerator<OperationEvent, void, undefined> {
  // Checked here, when events() is called, not at the first next(): a caller's mistake is thrown where it was made.
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  if (!(typeof idleTimeoutMs === 'number' && idleTimeoutMs > 0)) {
    throw new TypeError(`events: idleTimeoutMs must be a positive number of milliseconds, got ${String(idleTimeoutMs)}`);
  }
  const resumeAt = options.lastEventId;
  if (resumeAt !== undefined && !(Number.isSafeInteger(resumeAt) && resumeAt >= 0)) {
    throw new TypeError(`events: lastEventId must be the version of an event received (a whole number), got ${String(resumeAt)}`);
  }
  return follow(http, path, options.signal, idleTimeoutMs, resumeAt ?? -1);
}

async function* follow(
  http: Transport,
  path: string,
  signal: AbortSignal | undefined,
  idleTimeoutMs: number,
  after: number,
): AsyncGenerator<OperationEvent, void, undefined> {
  let version = after;
  let reconnectMs = DEFAULT_RECONNECT_MS;
  let failures = 0;
  for (let first = true; ; first = false) {
    if (!first) await delay(Math.max(reconnectMs, failures > 0 ? http.backoff(failures) : 0), signal);
    signal?.throwIfAborted();
    const connection = new AbortController();
    const ended = signal ? AbortSignal.any([signal, connection.signal]) : connection.signal;
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (version >= 0) headers['last-event-id'] = String(version);
    let stream: StreamReply | null;
    try {
      stream = await http.openStream({ method: 'GET', path, headers, signal: ended }, EVENT_STREAM);
    } catch (error) {
      if (!Transport.isTransient(error) || failures >= http.retries) throw error;
      failures++;
      continue;
    }
    // 204: the operation has ended and the client has its last event.
    if (stream === null) return;
    // Open: a stream that breaks later is resumed however often, as an EventSource would (a proxy that cuts idle
    // connections every half minute must not end a wait of hours).
    failures = 0;
    const parser = new EventStreamParser();
    const reader = stream.body.getReader();
    let idle: ReturnType<typeof setTimeout> | undefined;
    const heard = () => {
      clearTimeout(idle);
      idle = setTimeout(() => connection.abort(), idleTimeoutMs);
    };
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
          const operation = operationOf(event, stream, http.baseUrl);
          const eventVersion = Number(event.lastEventId);
          if (eventVersion <= version) continue;
          version = eventVersion;
          yield { type: event.event, version, operation };
          if (isTerminalStatus(operation.status)) return;
        }
        reconnectMs = parser.retryMs ?? reconnectMs;
        if (chunk.done) break;
      }
    } finally {
      clearTimeout(idle);
      connection.abort();
      reader.cancel().catch(() => {});
    }
  }
}

/** An event's operation: every event of this stream carries one as its data, and an id (its version). */
function operationOf(event: ServerSentEvent, stream: StreamReply, baseUrl: string): OperationEvent['operation'] {
  let data: unknown;
  try {
    data = JSON.parse(event.data);
  } catch {
    data = null;
  }
  const isOperation = data !== null && typeof data === 'object' && !Array.isArray(data) && OPERATION(data as Record<string, unknown>);
  if (!isOperation || !/^\d+$/.test(event.lastEventId)) {
    throw new AsyncOpsUnexpectedResponseError(baseUrl, stream.url, stream.status, stream.headers.get('content-type'));
  }
  return data as OperationEvent['operation'];
}
