// Owns: one webhook POST over node:http(s) to an address vetted beforehand, with a deadline and a capped read.
// Not here: deciding what the result means (domain/delivery.ts), signing, vetting the address (ssrf.ts).
// Invariant: the connection goes only to the pinned address; redirects are never followed; the promise never rejects.

import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { ResolvedAddress } from './ssrf.ts';

export const RESPONSE_SNIPPET_BYTES = 1024;

export interface WebhookPost {
  readonly url: URL;
  /** The vetted address; the request's own lookup returns only this one (no second resolution to rebind). */
  readonly address: ResolvedAddress;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly timeoutMs: number;
  /** Aborts the request (the dispatcher is stopping). */
  readonly signal?: AbortSignal;
}

export interface WebhookPostResult {
  /** Null when no response status arrived (timeout, connection error, abort). */
  readonly statusCode: number | null;
  readonly error: string | null;
  /** The start of the response body, at most RESPONSE_SNIPPET_BYTES bytes, decoded as UTF-8. */
  readonly snippet: string | null;
  readonly retryAfter: string | null;
}

function pinnedLookup(pinned: ResolvedAddress): LookupFunction {
  return (_hostname, options, callback) => {
    if (options.all) callback(null, [{ address: pinned.address, family: pinned.family }]);
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

    const snippet = (): string | null => (statusCode === null ? null : Buffer.concat(chunks).subarray(0, RESPONSE_SNIPPET_BYTES).toString('utf8'));
    const finish = (error: string | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      post.signal?.removeEventListener('abort', onAbort);
      request.destroy();
      resolve({ statusCode, error, snippet: snippet(), retryAfter });
    };
    const onAbort = (): void => finish('aborted: the dispatcher is stopping');

    const transport = post.url.protocol === 'https:' ? https : http;
    const request = transport.request({
      method: 'POST',
      protocol: post.url.protocol,
      // URL keeps IPv6 literals in brackets; node:http wants them bare (and brackets them again in Host).
      hostname: post.url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: post.url.port === '' ? undefined : Number(post.url.port),
      path: `${post.url.pathname}${post.url.search}`,
      headers: { ...post.headers, 'content-length': String(Buffer.byteLength(post.body)) },
      lookup: pinnedLookup(post.address),
      // No pooling: every attempt connects afresh to the address it has just vetted.
      agent: false,
    });
    // A status that already arrived is kept when the deadline cuts the body short: the receiver did answer.
    const timer = setTimeout(() => finish(statusCode === null ? `timed out after ${post.timeoutMs} ms` : null), post.timeoutMs);

    request.on('response', (response) => {
      statusCode = response.statusCode ?? null;
      const header = response.headers['retry-after'];
      retryAfter = typeof header === 'string' ? header : null;
      response.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        if (received >= RESPONSE_SNIPPET_BYTES) finish(null);
      });
      response.on('end', () => finish(null));
      response.on('error', (error) => finish(describe(error)));
    });
    request.on('error', (error) => finish(describe(error)));
    if (post.signal?.aborted) onAbort();
    else post.signal?.addEventListener('abort', onAbort, { once: true });
    request.end(post.body);
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
