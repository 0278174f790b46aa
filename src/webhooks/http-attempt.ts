// Owns: one webhook POST over node:http(s) to an address vetted beforehand, with a deadline and a capped read, and the
// kept-alive connections attempts to one receiver share. Not here: deciding what the result means (domain/delivery.ts),
// signing, vetting the address (ssrf.ts). Invariant: a connection goes only to the address pinned for it (connections
// are kept per destination and address); redirects are never followed; the promise never rejects.

import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { MAX_TIMER_MS } from '../domain/clock.ts';
import type { ResolvedAddress } from './ssrf.ts';

export const RESPONSE_SNIPPET_BYTES = 1024;

/** Receivers whose connections are kept; the least recently used beyond this are closed. */
const RECEIVERS_KEPT = 64;

/**
 * Kept-alive connections by receiver and vetted address: a delivery to a receiver just delivered to reuses an idle
 * connection instead of a TCP (and TLS) handshake of its own. Keyed by the address too, so a connection is only ever
 * reused for the address it was opened to; a name that resolves elsewhere next time gets connections of its own.
 */
export class WebhookConnections {
  readonly #agents = new Map<string, http.Agent>();

  agentFor(url: URL, address: ResolvedAddress): http.Agent {
    const key = `${url.protocol}//${url.host} ${address.address}`;
    let agent = this.#agents.get(key);
    if (agent !== undefined) {
      this.#agents.delete(key);
    } else {
      agent = url.protocol === 'https:' ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
      const oldest = this.#agents.size >= RECEIVERS_KEPT ? this.#agents.keys().next().value : undefined;
      if (oldest !== undefined) {
        retire(this.#agents.get(oldest)!);
        this.#agents.delete(oldest);
      }
    }
    // Map order is insertion order: re-inserting marks it most recently used.
    this.#agents.set(key, agent);
    return agent;
  }

  /** Closes every kept connection (the dispatcher stopped); one still carrying an attempt closes when it ends. */
  close(): void {
    for (const agent of this.#agents.values()) retire(agent);
    this.#agents.clear();
  }
}

/** Closes an agent's idle connections and keeps none from now on; destroy() would also cut attempts in flight. */
function retire(agent: http.Agent): void {
  agent.maxFreeSockets = 0;
  for (const sockets of Object.values(agent.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
}

export interface WebhookPost {
  readonly url: URL;
  /** The vetted addresses (`all`; the first as `address`): the request's own lookup returns only them (no second resolution to rebind). */
  readonly address: ResolvedAddress & { readonly all?: readonly ResolvedAddress[] };
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly timeoutMs: number;
  /**
   * The attempt's whole timeout, which a timed-out attempt's error names (default `timeoutMs`): `timeoutMs` is what
   * name resolution and signing left of it, a few ms less than the timeout an operator set.
   */
  readonly attemptTimeoutMs?: number;
  /** Aborts the request (the dispatcher is stopping). */
  readonly signal?: AbortSignal;
  /** Where kept-alive connections come from; without, the attempt connects afresh and closes after. */
  readonly connections?: WebhookConnections;
}

export interface WebhookPostResult {
  /** Null when no response status arrived (timeout, connection error, abort). */
  readonly statusCode: number | null;
  readonly error: string | null;
  /** The start of the response body, at most RESPONSE_SNIPPET_BYTES bytes, decoded as UTF-8. */
  readonly snippet: string | null;
  readonly retryAfter: string | null;
}

/**
 * Answers a connection's lookup with the vetted addresses alone. With `all` (autoSelectFamily asks for it) every one of
 * them, so a receiver whose name resolves to ::1 and 127.0.0.1 and listens on one is reached, as a browser would reach it.
 */
function pinnedLookup(pinned: ResolvedAddress & { readonly all?: readonly ResolvedAddress[] }): LookupFunction {
  const all = (pinned.all ?? [pinned]).map(({ address, family }) => ({ address, family }));
  return (_hostname, options, callback) => {
    if (options.all) callback(null, all);
    else callback(null, pinned.address, pinned.family);
  };
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  return code !== undefined && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
}

export function postWebhook(post: WebhookPost): Promise<WebhookPostResult> {
  return new Promise((resolve) => {
    let statusCode: number | null = null;
    let retryAfter: string | null = null;
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    let request: http.ClientRequest;

    const snippet = (): string | null => (statusCode === null ? null : Buffer.concat(chunks).subarray(0, RESPONSE_SNIPPET_BYTES).toString('utf8'));
    // `complete`: the response was read to its end, so its connection may serve the next attempt. `error` is why an
    // attempt got no answer: once a status came, the answer is in, whatever cut its body short (a reset, the deadline,
    // a stop), and the attempt is that answer.
    const finish = (error: string | null, complete = false): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      post.signal?.removeEventListener('abort', onAbort);
      if (!complete) request.destroy();
      resolve({ statusCode, error: statusCode === null ? error : null, snippet: snippet(), retryAfter });
    };
    const onAbort = (): void => finish('aborted: the dispatcher is stopping');

    const send = (retried: boolean): void => {
      const transport = post.url.protocol === 'https:' ? https : http;
      request = transport.request({
        method: 'POST',
        protocol: post.url.protocol,
        // URL keeps IPv6 literals in brackets; node:http wants them bare (and brackets them again in Host).
        hostname: post.url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: post.url.port === '' ? undefined : Number(post.url.port),
        path: `${post.url.pathname}${post.url.search}`,
        headers: { ...post.headers, 'content-length': String(Buffer.byteLength(post.body)) },
        lookup: pinnedLookup(post.address),
        // Each vetted address in turn (IPv6 and IPv4 interleaved) until one connects, not the first alone: a net
        // option that node:http hands on to the connection, though its RequestOptions type does not list it.
        ...({ autoSelectFamily: true } as http.RequestOptions),
        agent: retried ? false : (post.connections?.agentFor(post.url, post.address) ?? false),
      });
      request.on('response', (response) => {
        statusCode = response.statusCode ?? null;
        const header = response.headers['retry-after'];
        retryAfter = typeof header === 'string' ? header : null;
        response.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          received += chunk.length;
          if (received >= RESPONSE_SNIPPET_BYTES) finish(null);
        });
        response.on('end', () => finish(null, true));
        response.on('error', (error) => finish(describe(error)));
      });
      // A 101 is not a 'response' (Node hands it to 'upgrade' listeners, and without one left the attempt to time out
      // holding its slot): the receiver answered, with a status that is not a delivery.
      request.on('upgrade', (response, socket) => {
        statusCode = response.statusCode ?? null;
        socket.destroy();
        finish(null);
      });
      request.on('error', (error) => {
        // A kept connection the receiver closed as this attempt reused it, before any answer: that says nothing of the
        // receiver, so the attempt goes once more, on a new connection (another kept one may be just as stale).
        // Once a status arrived the receiver has seen the POST, and it is not sent twice.
        const staleConnection = request.reusedSocket && statusCode === null && (error as NodeJS.ErrnoException).code === 'ECONNRESET';
        if (!retried && !settled && staleConnection) send(true);
        else finish(describe(error));
      });
      request.end(post.body);
    };
    // The budget is what was left of the attempt's after name resolution, a fraction of a millisecond short of a round
    // one. At most what a timer holds: a longer one (a --webhook-timeout of 25d) would fire at once.
    const timer = setTimeout(() => finish(`timed out after ${Math.round(post.attemptTimeoutMs ?? post.timeoutMs)} ms`), Math.min(post.timeoutMs, MAX_TIMER_MS));
    send(false);
    if (post.signal?.aborted) onAbort();
    else post.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A Retry-After value (delay-seconds or an HTTP-date) as ms from `now`; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (value === null) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // Every HTTP-date form opens with a day name; this keeps Date.parse's leniency ("-5", "2026") out.
  const at = /^[A-Za-z]/.test(trimmed) ? Date.parse(trimmed) : NaN;
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}
