// Owns: one HTTP exchange with the asyncops API — URL, auth, timeout, problem decoding — and retrying transient failures.
// Not here: what a route means (client.ts) or the pacing of status polls (wait.ts).
// Invariant: an error reply carrying a JSON object (the API's problem) becomes AsyncOpsApiError, a failed exchange
// AsyncOpsNetworkError, any reply that should be and is not a JSON object AsyncOpsUnexpectedResponseError; retries are ≥ 1 s apart.

import { firstUnkept, stringifyNoting } from '../json/unkept-values.ts';
import { checkedTimeoutMs, delay, MAX_TIMER_MS, setLongTimeout } from './delay.ts';
import { AsyncOpsApiError, AsyncOpsNetworkError, AsyncOpsUnexpectedResponseError } from './errors.ts';
import type { ProblemDetails } from './types.ts';

type FieldError = NonNullable<ProblemDetails['errors']>[number];

export interface RetryPolicy {
  /** Further tries after the first one fails transiently (network error, 429, 502, 503, 504). */
  retries: number;
  /** Delay before the first retry; doubled each time, never below 1 s. */
  minDelayMs: number;
  maxDelayMs: number;
}

/** A retry policy as given: each member optional, and `undefined` as not set (exactOptionalPropertyTypes). */
export type RetryPolicyOptions = { readonly [K in keyof RetryPolicy]?: RetryPolicy[K] | undefined };

/** In a page, a browser says the same ("Failed to fetch") of a refused cross-origin request as of a server away. */
// A page, or a worker it started (CORS binds both); not Node under a test DOM (jsdom), which has a document too.
const scope = globalThis as { document?: unknown; WorkerGlobalScope?: unknown; process?: { versions?: { node?: unknown } } };
const IN_A_PAGE =
  (typeof scope.document !== 'undefined' || typeof scope.WorkerGlobalScope !== 'undefined') && typeof scope.process?.versions?.node !== 'string';
const CORS_HINT = " (in a browser, also what a cross-origin request the server refused looks like: is this page's origin in its --cors-origin?)";

export const DEFAULT_RETRY: RetryPolicy = { retries: 4, minDelayMs: 1_000, maxDelayMs: 15_000 };
const MIN_RETRY_DELAY_MS = 1_000;
/**
 * The longest Retry-After waited out before trying again; a refusal asking for longer (a maintenance window) is thrown
 * at once, its retryAfterS saying when, rather than holding a call for minutes or asking again too soon.
 */
export const MAX_RETRY_AFTER_MS = 60_000;
// 429 too: the server says when to come back (Retry-After), and the request is safe to repeat.
const TRANSIENT_STATUSES = new Set([429, 502, 503, 504]);

export interface TransportOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string | undefined;
  fetch?: typeof fetch | undefined;
  userAgent?: string | undefined;
  /** Timeout of one request (default 30 s); a long-poll adds the time it asks the server to hold. */
  timeoutMs?: number | undefined;
  /** How transient failures (network errors, 429/502/503/504) of safe requests are retried. */
  /** Any member left out or `undefined` takes its default. */
  retry?: RetryPolicyOptions | undefined;
}

export interface RequestSpec {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  query?: Record<string, string | number | undefined> | undefined;
  body?: unknown;
  headers?: Record<string, string> | undefined;
  signal?: AbortSignal | undefined;
  /** Added to the request timeout, for replies the server is asked to hold (`Prefer: wait`). */
  holdMs?: number | undefined;
  /** Retry transient failures; only for requests that are safe to repeat. */
  retry?: boolean | undefined;
  /** Statuses below 400 are always accepted; these are accepted too (e.g. 304). */
  accept?: readonly number[] | undefined;
}

/** A successful reply whose body is still to be read, as a stream. */
export interface StreamReply {
  url: string;
  status: number;
  headers: Headers;
  body: ReadableStream<Uint8Array>;
}

export interface Reply {
  url: string;
  status: number;
  headers: Headers;
  body: Uint8Array<ArrayBuffer>;
  /** When the request this answers was sent (Date.now()): after any retries, the last try. */
  sentAt: number;
}

export class Transport {
  readonly baseUrl: string;
  #apiKey: string | undefined;
  #fetch: typeof fetch;
  #userAgent: string;
  #timeoutMs: number;
  #retry: RetryPolicy;

  constructor(options: TransportOptions) {
    this.baseUrl = checkedBaseUrl(options.baseUrl);
    this.#apiKey = options.apiKey;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#userAgent = options.userAgent ?? 'asyncops-client';
    this.#timeoutMs = checkedTimeoutMs('AsyncOpsClient', options.timeoutMs) ?? 30_000;
    const retry = checkedRetry(options.retry);
    this.#retry = { ...retry, minDelayMs: Math.max(MIN_RETRY_DELAY_MS, retry.minDelayMs) };
  }

  async send(spec: RequestSpec): Promise<Reply> {
    const tries = spec.retry ? this.#retry.retries + 1 : 1;
    for (let attempt = 1; ; attempt++) {
      let reply: Reply;
      try {
        reply = await this.#exchange(spec);
      } catch (error) {
        if (!(error instanceof AsyncOpsNetworkError) || attempt >= tries) throw gaveUpAfter(error, attempt);
        await pause(this.backoff(attempt), spec.signal);
        continue;
      }
      if (reply.status < 400 || spec.accept?.includes(reply.status)) return reply;
      const error = this.#refusal(reply);
      if (attempt >= tries || !this.mayRetry(error, attempt)) throw gaveUpAfter(error, attempt);
      // Either kind of refusal carries the reply's Retry-After: a proxy's 503 page (not a problem) may say it too.
      await pause(Math.max(this.backoff(attempt), Transport.retryAfterMs(error)), spec.signal);
    }
  }

  /**
   * The reply's JSON resource; every success the API sends is one JSON object, and `shape` (PAGE, OPERATION) checks
   * the fields the SDK's callers read at once, so an object of another server is an AsyncOpsUnexpectedResponseError,
   * not a TypeError from deep inside a caller.
   */
  json<T>(reply: Reply, shape?: (value: Record<string, unknown>) => boolean): T {
    const parsed = jsonObject(textOf(reply.body));
    if (parsed === null || (shape !== undefined && !shape(parsed))) throw this.#unexpected(reply);
    return parsed as T;
  }

  /** The reply's Location: every success of a creating request carries one. */
  location(reply: Reply): string {
    const location = reply.headers.get('location');
    if (location === null) throw this.#unexpected(reply);
    return location;
  }

  /**
   * An error reply as the API sends it (a problem document: served as one, or a JSON object with a problem's `type` or
   * `title`) is its refusal. Any other (a static server's HTML 404, a proxy's error page, the JSON 404 of an app that
   * serves the API under a prefix the URL left out) says the URL is not the API's: the page itself is left out.
   */
  #refusal(reply: Reply): AsyncOpsApiError | AsyncOpsUnexpectedResponseError {
    const problem = jsonObject(textOf(reply.body));
    const served = /^application\/problem\+json\b/i.test(reply.headers.get('content-type') ?? '');
    if (problem === null || !(served || typeof problem['type'] === 'string' || typeof problem['title'] === 'string')) return this.#unexpected(reply);
    // Another server's JSON error may give these members other types: those are left out, not trusted.
    const text = (name: string) => (typeof problem[name] === 'string' ? (problem[name] as string) : undefined);
    const errors = Array.isArray(problem['errors'])
      ? (problem['errors'] as unknown[]).filter((e): e is FieldError => isObject(e) && typeof e['path'] === 'string' && typeof e['message'] === 'string')
      : undefined;
    return new AsyncOpsApiError(
      reply.status,
      {
        ...problem,
        type: text('type') ?? 'about:blank',
        title: text('title') ?? `HTTP ${reply.status}`,
        status: reply.status,
        detail: text('detail'),
        code: text('code'),
        instance: text('instance'),
        errors,
      },
      { retryAfterS: retryAfterOf(reply.headers) },
    );
  }

  #unexpected(reply: Reply): AsyncOpsUnexpectedResponseError {
    return new AsyncOpsUnexpectedResponseError(this.baseUrl, reply.url, reply.status, reply.headers.get('content-type'), {
      retryAfterS: retryAfterOf(reply.headers),
    });
  }

  url(path: string, query?: RequestSpec['query']): string {
    const url = new URL(this.baseUrl + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    return url.toString();
  }

  /**
   * A request whose successful reply is a stream the caller reads (`GET /operations/{id}/events`): the request timeout
   * covers only the wait for its headers, and `spec.signal` ends the exchange and the stream. A 200 of `streamType`
   * comes back with its body unread, a 204 as null; an error is thrown as `send` throws it (not retried: the caller's
   * reconnect loop decides), and any other reply (another server's page) is an AsyncOpsUnexpectedResponseError.
   */
  async openStream(spec: RequestSpec, streamType: RegExp): Promise<StreamReply | null> {
    const headersDue = new AbortController();
    const timer = this.#timeoutMs === Infinity ? undefined : setLongTimeout(() => headersDue.abort(), this.#timeoutMs);
    try {
      const { url, response, sentAt } = await this.#respond(spec, headersDue.signal, this.#timeoutMs);
      const contentType = response.headers.get('content-type') ?? '';
      if (response.status === 200 && response.body !== null && streamType.test(contentType)) {
        return { url, status: response.status, headers: response.headers, body: response.body };
      }
      const reply = await this.#read(spec, url, response, sentAt, headersDue.signal, this.#timeoutMs);
      if (reply.status === 204) return null;
      throw reply.status < 400 ? this.#unexpected(reply) : this.#refusal(reply);
    } finally {
      timer?.clear();
    }
  }

  /** Whether an error is one a repeated request may not meet: a network failure, a 429, 502, 503 or 504. */
  static isTransient(error: unknown): boolean {
    // A proxy's own 502 or 503 page (not a problem document) too: what a load balancer answers while a node is away.
    return (
      error instanceof AsyncOpsNetworkError ||
      ((error instanceof AsyncOpsApiError || error instanceof AsyncOpsUnexpectedResponseError) && TRANSIENT_STATUSES.has(error.status))
    );
  }

  /**
   * How long a refusal asked to wait before the next try (its Retry-After), or 0. The policy's longest delay bounds its
   * own backoff, not what the server asked for: a retry sooner would be refused again.
   */
  static retryAfterMs(error: unknown): number {
    const refusal = error instanceof AsyncOpsApiError || error instanceof AsyncOpsUnexpectedResponseError ? error : null;
    return refusal?.retryAfterS === undefined ? 0 : refusal.retryAfterS * 1000;
  }

  /** Whether a failed try may be sent again: transient, within the policy's retries, and not asked to wait past MAX_RETRY_AFTER_MS. */
  mayRetry(error: unknown, failures: number): boolean {
    return Transport.isTransient(error) && failures <= this.#retry.retries && Transport.retryAfterMs(error) <= MAX_RETRY_AFTER_MS;
  }

  async #exchange(spec: RequestSpec): Promise<Reply> {
    // Capped at what a timer holds (about 24.8 days): longer, AbortSignal.timeout would fire at once.
    const timeoutMs = Math.min(this.#timeoutMs + (spec.holdMs ?? 0), MAX_TIMER_MS);
    const timeout = AbortSignal.timeout(timeoutMs);
    const { url, response, sentAt } = await this.#respond(spec, timeout, timeoutMs);
    return this.#read(spec, url, response, sentAt, timeout, timeoutMs);
  }

  /** The whole reply: its body read within the same timeout as its headers. */
  async #read(spec: RequestSpec, url: string, response: Response, sentAt: number, timeout: AbortSignal, timeoutMs: number): Promise<Reply> {
    try {
      return { url, status: response.status, headers: response.headers, body: new Uint8Array(await response.arrayBuffer()), sentAt };
    } catch (error) {
      throw this.#failure(spec, url, timeout, timeoutMs, error);
    }
  }

  /** The request sent and its reply's headers received, before `timeout` fires or `spec.signal` aborts. */
  async #respond(spec: RequestSpec, timeout: AbortSignal, timeoutMs: number): Promise<{ url: string; response: Response; sentAt: number }> {
    const url = this.url(spec.path, spec.query);
    const headers: Record<string, string> = {
      accept: 'application/json, application/problem+json',
      'user-agent': this.#userAgent,
      ...spec.headers,
    };
    if (this.#apiKey) headers.authorization = `Bearer ${this.#apiKey}`;
    // A value no header carries (a key or an Idempotency-Key with a character past Latin-1) makes fetch throw before
    // anything is sent: the caller's mistake, said as such, not a server out of reach to try again and again.
    for (const [name, value] of Object.entries(headers)) {
      if (!HEADER_VALUE.test(value)) throw new TypeError(`the ${name} header cannot carry the value given: a control character or one past Latin-1`);
    }
    let body: string | undefined;
    if (spec.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = requestJson(spec.body);
    }
    const signal = spec.signal ? AbortSignal.any([spec.signal, timeout]) : timeout;
    const sentAt = Date.now();
    try {
      // Called unbound: a browser's fetch refuses any `this` but its window ("Illegal invocation"), and as a method of
      // this transport every request failed, retried as if the server were away.
      const fetchUnbound = this.#fetch;
      const response = await fetchUnbound(url, { method: spec.method, headers, body: body ?? null, signal });
      return { url, response, sentAt };
    } catch (error) {
      throw this.#failure(spec, url, timeout, timeoutMs, error);
    }
  }

  /** A failed exchange: the caller's abort reason as it is, else an AsyncOpsNetworkError saying whether it timed out. */
  #failure(spec: RequestSpec, url: string, timeout: AbortSignal, timeoutMs: number, error: unknown): unknown {
    if (spec.signal?.aborted) return spec.signal.reason;
    if (timeout.aborted) return new AsyncOpsNetworkError(`${spec.method} ${url} timed out after ${timeoutMs / 1000} s`, url, { cause: error });
    return this.networkError(url, error);
  }

  /** The server could not be reached, or a connection to it broke (`error`, as fetch or a body read threw it). */
  networkError(url: string, error: unknown): AsyncOpsNetworkError {
    return new AsyncOpsNetworkError(`cannot reach ${this.baseUrl}: ${networkReason(error)}${IN_A_PAGE ? CORS_HINT : ''}`, url, { cause: error });
  }

  /** The delay before retry `attempt` (1, 2, …) as the retry policy spaces them. */
  backoff(attempt: number): number {
    const base = Math.min(this.#retry.maxDelayMs, this.#retry.minDelayMs * 2 ** (attempt - 1));
    // Jitter upwards only, so a retry is never sooner than the policy's floor.
    return Math.round(base * (1 + Math.random() * 0.25));
  }
}

/**
 * Refused up front rather than on the first request: fetch will not send user info, and the error that
 * named the URL would print the password.
 */
function checkedBaseUrl(baseUrl: string): string {
  const url = parsedUrl(baseUrl);
  if (url !== null && (url.username !== '' || url.password !== '')) {
    throw new TypeError('the server URL must not include a user name or password (user:password@); authenticate with an API key');
  }
  // Not echoed: a URL that failed to parse may still hold a password.
  if (url === null || !/^https?:$/.test(url.protocol)) throw new TypeError('the server URL must be an absolute http:// or https:// URL');
  // Every request's path is appended to it: after a `?` or `#` it would be part of the query or fragment.
  if (/[?#]/.test(baseUrl)) throw new TypeError('the server URL must not include a query or fragment (? or #): give the base the API is served under');
  return baseUrl.replace(/\/+$/, '');
}

/** A refusal's `retryAfterS`: the reply's `Retry-After` in seconds, undefined when it sent none. */
function retryAfterOf(headers: Headers): number | undefined {
  return headers.get('retry-after') === null ? undefined : retryAfterSeconds(headers);
}

/** `Retry-After` in seconds (delta-seconds or HTTP date); 0 when absent or unreadable. */
export function retryAfterSeconds(headers: Headers, now = Date.now()): number {
  const value = headers.get('retry-after');
  if (value === null) return 0;
  if (/^\s*\d+(\.\d+)?\s*$/.test(value)) return Number(value);
  const at = Date.parse(value);
  return Number.isNaN(at) ? 0 : Math.max(0, (at - now) / 1000);
}

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/** The text as a JSON object, or null when it is not one (an HTML page, say). */
function jsonObject(text: string): Record<string, unknown> | null {
  try {
    const parsed: unknown = JSON.parse(text);
    return isObject(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

/** A page of a list (or a list of items): its items. */
export const PAGE = (value: Record<string, unknown>): boolean => Array.isArray(value['items']);
/** An operation: its id and status. */
export const OPERATION = (value: Record<string, unknown>): boolean => typeof value['id'] === 'string' && typeof value['status'] === 'string';

/** OPERATION, and the one asked for: another's (a proxy's rewrite, a cache's mix-up) would be taken for it. */
export const operationNamed =
  (id: string) =>
  (value: Record<string, unknown>): boolean =>
    OPERATION(value) && value['id'] === id;

function networkReason(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  if (cause instanceof AggregateError && cause.errors[0] instanceof Error) return cause.errors[0].message;
  return cause instanceof Error ? cause.message : String(cause);
}

/** UTF-8 text of a body (a malformed sequence becomes U+FFFD, as Node's Buffer decoding did). */
/** What a header value may hold (what fetch sends): no control character but tab, nothing past Latin-1. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

export function textOf(body: Uint8Array): string {
  return new TextDecoder().decode(body);
}

async function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  await delay(ms, signal);
}

/** The SDK's own error of the last try, saying how many there were; anything else (a caller's abort reason) as it is. */
export function gaveUpAfter(error: unknown, tries: number): unknown {
  if (tries > 1 && (error instanceof AsyncOpsNetworkError || error instanceof AsyncOpsApiError)) error.message += ` (gave up after ${tries} tries)`;
  return error;
}

/**
 * The retry policy with the defaults where `given` says nothing (an `undefined` member included), or a TypeError: a
 * NaN or negative member would have retried at once, or for ever.
 */
function checkedRetry(given: RetryPolicyOptions | undefined): RetryPolicy {
  const retry = { ...DEFAULT_RETRY };
  for (const [name, value] of Object.entries(given ?? {}) as Array<[keyof RetryPolicy, unknown]>) {
    if (value === undefined) continue;
    const whole = name === 'retries';
    if (typeof value !== 'number' || Number.isNaN(value) || value < 0 || (whole && !Number.isInteger(value)) || (!whole && value === 0)) {
      throw new TypeError(
        `AsyncOpsClient: retry.${name} must be ${whole ? 'a whole number of 0 or more' : 'a positive number of milliseconds'}, got ${String(value)}`,
      );
    }
    retry[name] = value;
  }
  return retry;
}

/** `URL.parse`, which Node has only since 20.18 and 22.1 (the SDK runs on Node 20.3 and later). */
function parsedUrl(text: string): URL | null {
  try {
    return new URL(text);
  } catch {
    return null;
  }
}

/**
 * A request's body as JSON, or a TypeError naming the first place JSON would have written something else (NaN as null,
 * a Map as {}): the server refuses such a value from an embedder or in a body it parses, so what a task receives is what
 * its caller passed.
 */
function requestJson(value: unknown): string | undefined {
  const noted = stringifyNoting(value);
  const unkept = noted.unkept ? firstUnkept(value) : null;
  if (unkept !== null) throw new TypeError(`${unkept.path === '/' ? 'the request body' : unkept.path} ${unkept.message}`);
  return noted.json;
}
