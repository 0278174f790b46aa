// Owns: talking to a server under test: autocannon runs (the HTTP load generator), plain JSON requests,
// paced and bulk submission, and reading every operation back. Not here: which scenario uses them.
// Invariant: a run that saw errors or unexpected status codes says so in its figures; nothing is hidden.

import { Agent, request } from 'node:http';
import autocannon from 'autocannon';
import { monoNow } from './clock.ts';
// One definition for the harness and the peers (figures.ts imports nothing, so the peers' package can load it alone).
import { percentile, round } from './peers/figures.ts';

export { percentile, round };

export interface LoadFigures {
  readonly requestsPerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly requests: number;
  /** Responses with another status than expected, plus socket errors and timeouts. */
  readonly failures: number;
}

export interface LoadSpec {
  readonly url: string;
  readonly method: 'GET' | 'POST';
  readonly durationS: number;
  readonly connections: number;
  readonly expectStatus: number;
  readonly body?: string;
  /** Request headers besides the content type of a body (e.g. `prefer`). */
  readonly headers?: Readonly<Record<string, string>>;
  /** GET paths to cycle through (one per request, round robin). */
  readonly paths?: readonly string[];
}

/** One autocannon run; call twice to have a warm-up. */
export async function load(spec: LoadSpec): Promise<LoadFigures> {
  let expected = 0;
  let unexpected = 0;
  let next = 0;
  const paths = spec.paths;
  let done: (result: autocannon.Result) => void = () => {};
  let failed: (error: Error) => void = () => {};
  const finished = new Promise<autocannon.Result>((resolve, reject) => {
    done = resolve;
    failed = reject;
  });
  const instance = autocannon(
    {
      url: spec.url,
      connections: spec.connections,
      duration: spec.durationS,
      method: spec.method,
      headers: { ...(spec.body === undefined ? {} : { 'content-type': 'application/json' }), ...spec.headers },
      body: spec.body,
      requests: paths === undefined ? undefined : [{ setupRequest: (request) => ({ ...request, path: paths[next++ % paths.length]! }) }],
    },
    (error, result) => (error ? failed(error as Error) : done(result)),
  );
  instance.on('response', (_client: unknown, statusCode: number) => {
    if (statusCode === spec.expectStatus) expected++;
    else unexpected++;
  });
  const result = await finished;
  return {
    requestsPerS: round(expected / ((result.duration as number) || spec.durationS)),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: expected,
    failures: unexpected + result.errors + result.timeouts,
  };
}

export async function json<T = Record<string, unknown>>(url: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const response = await fetch(url, { ...init, headers: { 'content-type': 'application/json', ...init.headers } });
  const text = await response.text();
  return { status: response.status, body: (text.length > 0 ? JSON.parse(text) : null) as T };
}

/** Keeps a connection per concurrent submission; idle ones do not hold the harness open (the agent unrefs them). */
const submitAgent = new Agent({ keepAlive: true });

/**
 * A POST of JSON through node:http on a keep-alive connection. Not fetch: on these cores fetch's own cost per request is
 * about the bare server's whole request (bench/README.md, "Beside the peers"), which a timed submission (the pickup's
 * created→started) would count as the server's.
 */
function postJson(url: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const sent = request(
      url,
      { method: 'POST', agent: submitAgent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
        response.on('error', reject);
      },
    );
    sent.on('error', reject);
    sent.end(body);
  });
}

export interface Submitted {
  readonly id: string;
  /** performance.timeOrigin + performance.now() just before the request was sent. */
  readonly sentAt: number;
  /** The same moment on CLOCK_MONOTONIC (clock.ts), to compare with a time read in another process. */
  readonly sentMono: number;
}

export async function submit(base: string, body: Record<string, unknown>): Promise<Submitted> {
  const text = JSON.stringify(body);
  const sentAt = wallNow();
  const sentMono = monoNow();
  const response = await postJson(`${base}/operations`, text);
  if (response.status !== 202) throw new Error(`submit: ${response.status} ${response.text}`);
  return { id: (JSON.parse(response.text) as { id: string }).id, sentAt, sentMono };
}

/** `count` submissions over `width` concurrent requests, as fast as the server takes them. */
export async function submitMany(base: string, count: number, width: number, body: () => Record<string, unknown>): Promise<Submitted[]> {
  const out: Submitted[] = [];
  let started = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (started < count) {
        started++;
        out.push(await submit(base, body()));
      }
    }),
  );
  return out;
}

/** Offers `perS` submissions a second for `durationS`, on a fixed schedule that does not wait for replies. */
export async function submitPaced(base: string, perS: number, durationS: number, body: () => Record<string, unknown>): Promise<Submitted[]> {
  const total = Math.round(perS * durationS);
  const start = performance.now();
  const pending: Array<Promise<Submitted>> = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / perS;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    pending.push(submit(base, body()));
  }
  return Promise.all(pending);
}

export interface StoredOperation {
  readonly id: string;
  readonly status: string;
  readonly created_at: string;
  readonly started_at: string | null;
  readonly finished_at: string | null;
  readonly estimated_completion_at: string | null;
}

/** Operations with the given status, newest first, through the list endpoint's pages; stops once `enough` says so. */
export async function listAll(base: string, status: string, enough: (sofar: readonly StoredOperation[]) => boolean = () => false): Promise<StoredOperation[]> {
  const all: StoredOperation[] = [];
  let cursor: string | null = null;
  do {
    const query: string = `status=${status}&limit=200${cursor === null ? '' : `&cursor=${cursor}`}`;
    const page = await json<{ items: StoredOperation[]; next_cursor: string | null }>(`${base}/operations?${query}`);
    all.push(...page.body.items);
    cursor = page.body.next_cursor;
  } while (cursor !== null && !enough(all));
  return all;
}

/** Waits until no operation is pending or processing (bounded). */
/**
 * Waits until nothing is pending or processing, from the counts (a small table of their own): a list filtered by status
 * polled every 20 ms would itself load the database under measurement (on PostgreSQL without statistics, a sort of the
 * whole backlog at each poll).
 */
export async function waitIdle(base: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const counts = await json<{ items: Array<{ status: string; count: number }> }>(`${base}/operations/counts`);
    if (!counts.body.items.some((c) => c.status === 'pending' || c.status === 'processing')) return;
    if (performance.now() > deadline) throw new Error(`operations still running after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}
