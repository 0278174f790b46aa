// End to end on the real server process: per-key rate limits (429 problem with Retry-After and RateLimit headers)
// that a well-behaved client — the SDK's wait — never meets, a held long-poll counting once, and the cap on
// event streams per key.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { STORE_INDEPENDENT, startServer, type ServerProcess } from '../support/server.ts';
import { request } from '../support/http.ts';
import { waitFor } from '../support/wait.ts';
import { AsyncOpsClient } from '../../src/client/index.ts';

// A key of its own for each budget a test spends, so that no test waits for another's window to pass.
const KEY_A = 'rate-alpha-key-Qw8eR4tY6uI0';
const KEY_B = 'rate-beta-key-Zx1cV3bN5mL7';
const KEY_CREATE = 'rate-gamma-key-Pl0oK9iJ8uH7';
const KEY_SDK = 'rate-delta-key-Mn2bV4cX6zA8';
const KEY_HELD = 'rate-epsilon-key-Ws3eD5rF7tG9';
const KEY_SSE = 'rate-zeta-key-Yh1uJ3iK5oL7';
let server: ServerProcess;
let base: string;
const auth = (key: string) => ({ authorization: `Bearer ${key}` });

describe('rate limits at the HTTP edge', STORE_INDEPENDENT, () => {
  before(async () => {
    server = await startServer({
      args: ['--rate-limit-read', '10/s', '--rate-limit-create', '3/s', '--max-sse-per-key', '2'],
      env: { ASYNCOPS_API_KEYS: `alpha:${KEY_A},beta:${KEY_B},gamma:${KEY_CREATE},delta:${KEY_SDK},epsilon:${KEY_HELD},zeta:${KEY_SSE}` },
    });
    base = server.url;
  });
  after(async () => {
    await server?.stop();
  });

  describe('rate limits', () => {
    it('polling faster than the read limit gets 429 problems with Retry-After and RateLimit headers; other keys are not affected', async () => {
      const created = await request(base, 'POST', '/operations', { body: { type: 'sleep', input: { ms: 5000 } }, headers: auth(KEY_A) });
      assert.equal(created.status, 202);
      assert.equal(created.headers.get('ratelimit-limit'), '3');
      const replies = await Promise.all(Array.from({ length: 25 }, () => request(base, 'GET', `/operations/${created.body.id}`, { headers: auth(KEY_A) })));
      const ok = replies.filter((r) => r.status === 200);
      const limited = replies.filter((r) => r.status === 429);
      assert.ok(ok.length <= 10, `at most the limit answered (${ok.length})`);
      assert.ok(limited.length >= 15, `the rest were limited (${limited.length})`);
      for (const r of ok) assert.match(r.headers.get('ratelimit-remaining') ?? '', /^\d+$/);
      const one = limited[0]!;
      assert.match(one.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.equal(one.body.code, 'rate_limited');
      assert.equal(one.body.status, 429);
      const retryAfter = Number(one.headers.get('retry-after'));
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 2, `Retry-After ${retryAfter}`);
      assert.equal(one.headers.get('ratelimit-limit'), '10');
      assert.equal(one.headers.get('ratelimit-remaining'), '0');
      assert.match(one.headers.get('ratelimit-reset') ?? '', /^\d+$/);

      assert.equal((await request(base, 'GET', '/operations', { headers: auth(KEY_B) })).status, 200, 'another key has its own budget');
      assert.equal((await request(base, 'GET', '/healthz')).status, 200, 'health checks are never limited');
      // The SDK honours Retry-After: told to wait, it waits that long and then gets through.
      let sdkLimited = 0;
      const counting: typeof fetch = async (input, init) => {
        const response = await fetch(input, init);
        if (response.status === 429) sdkLimited++;
        return response;
      };
      const sdk = new AsyncOpsClient({ baseUrl: base, apiKey: KEY_A, fetch: counting });
      assert.equal((await sdk.get(created.body.id)).id, created.body.id, 'honouring Retry-After works');
      assert.ok(sdkLimited <= 1, `one wait as long as Retry-After said was enough (${sdkLimited} replies of 429)`);
    });

    it('creating has its own, lower limit', async () => {
      const replies = await Promise.all(
        Array.from({ length: 6 }, () => request(base, 'POST', '/operations', { body: { type: 'echo', input: {} }, headers: auth(KEY_CREATE) })),
      );
      assert.ok(replies.filter((r) => r.status === 202).length <= 3);
      const limited = replies.find((r) => r.status === 429);
      assert.ok(limited, 'over 3/s is limited');
      assert.equal(limited.headers.get('ratelimit-limit'), '3');
      assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    });

    it('the SDK waiting on an operation of a few seconds, with progress, is never limited; a held long-poll counts once', async () => {
      let limited = 0;
      let statusRequests = 0;
      const counting: typeof fetch = async (input, init) => {
        const response = await fetch(input, init);
        if (response.status === 429) limited++;
        if (/\/operations\/op_[^/]+$/.test(String(input)) && (init?.method ?? 'GET') === 'GET') statusRequests++;
        return response;
      };
      const client = new AsyncOpsClient({ baseUrl: base, apiKey: KEY_SDK, fetch: counting });
      const op = await client.submit('sleep', { ms: 3000, steps: 6 });
      const started = Date.now();
      const seen: number[] = [];
      const done = await client.wait(op.id, { timeoutMs: 20_000, onProgress: (o) => seen.push(o.progress ?? 0) });
      assert.equal(done.status, 'completed');
      assert.ok(Date.now() - started >= 2500, 'it followed the whole operation');
      assert.ok(seen.length >= 3, `progress was followed (${seen.length} changes)`);
      assert.equal(limited, 0, 'no 429 during a well-behaved wait');
      assert.ok(statusRequests >= 3, `it made status requests (${statusRequests})`);

      // Eight long-polls held at once for 2 s, on a key with a fresh budget of ten reads: over it only if each counted
      // again for every window it was held through.
      const held = await request(base, 'POST', '/operations', {
        body: { type: 'sleep', input: { ms: 100 }, run_at: new Date(Date.now() + 3_600_000).toISOString() },
        headers: auth(KEY_HELD),
      });
      const etag = held.headers.get('etag')!;
      const polls = await Promise.all(
        Array.from({ length: 8 }, () =>
          request(base, 'GET', `/operations/${held.body.id}`, { headers: { ...auth(KEY_HELD), 'if-none-match': etag, prefer: 'wait=2' } }),
        ),
      );
      assert.deepEqual(
        polls.map((p) => p.status),
        Array(8).fill(304),
        'eight held polls within a budget of ten',
      );
      const after = await request(base, 'GET', `/operations/${held.body.id}`, { headers: auth(KEY_HELD) });
      assert.equal(after.status, 200);
      assert.equal(after.headers.get('ratelimit-remaining'), '9', 'only this request counts in the new window: the held ones counted once, when they came');
    });

    it('event streams per key are capped: the one over --max-sse-per-key gets a 429 problem; closing one frees a slot', async () => {
      const op = await request(base, 'POST', '/operations', {
        body: { type: 'sleep', input: { ms: 100 }, run_at: new Date(Date.now() + 3_600_000).toISOString() },
        headers: auth(KEY_SSE),
      });
      const controllers = [new AbortController(), new AbortController()];
      const streams = await Promise.all(controllers.map((c) => fetch(`${base}/operations/${op.body.id}/events`, { headers: auth(KEY_SSE), signal: c.signal })));
      try {
        for (const s of streams) assert.equal(s.status, 200);
        const third = await request(base, 'GET', `/operations/${op.body.id}/events`, { headers: auth(KEY_SSE) });
        assert.equal(third.status, 429);
        assert.equal(third.body.code, 'rate_limited');
        assert.ok(Number(third.headers.get('retry-after')) >= 1);
        // Not the read limit's RateLimit-* (requests left, reset in a second): Retry-After alone says when.
        assert.deepEqual(
          ['ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset'].map((name) => third.headers.get(name)),
          [null, null, null],
        );
        const betaOp = await request(base, 'POST', '/operations', {
          body: { type: 'sleep', input: { ms: 100 }, run_at: new Date(Date.now() + 3_600_000).toISOString() },
          headers: auth(KEY_B),
        });
        const other = new AbortController();
        const otherKey = await fetch(`${base}/operations/${betaOp.body.id}/events`, { headers: auth(KEY_B), signal: other.signal });
        assert.equal(otherKey.status, 200, "another key is not capped by zeta's streams");
        other.abort();
      } finally {
        controllers[0]!.abort();
      }
      try {
        // The server hears of the closed stream when its socket closes.
        await waitFor(
          async () => {
            const attempt = new AbortController();
            const reply = await fetch(`${base}/operations/${op.body.id}/events`, { headers: auth(KEY_SSE), signal: attempt.signal });
            if (reply.status === 200) attempt.abort();
            else await reply.text();
            return reply.status === 200;
          },
          { timeoutMs: 5_000, intervalMs: 200, what: 'a slot to free after a stream closed' },
        );
      } finally {
        controllers[1]!.abort();
      }
    });
  });

  describe('rate limits turned off', () => {
    it('--rate-limit-read off and ASYNCOPS_RATE_LIMIT_CREATE=off take the limits away, though API keys turn them on by default', async () => {
      const open = await startServer({ args: ['--rate-limit-read', 'off'], env: { ASYNCOPS_API_KEYS: `alpha:${KEY_A}`, ASYNCOPS_RATE_LIMIT_CREATE: 'off' } });
      try {
        const created = await Promise.all(
          Array.from({ length: 80 }, () => request(open.url, 'POST', '/operations', { body: { type: 'echo', input: {} }, headers: auth(KEY_A) })),
        );
        assert.deepEqual([...new Set(created.map((r) => r.status))], [202], 'none of 80 creates at once is limited');
        const reads = await Promise.all(
          Array.from({ length: 150 }, () => request(open.url, 'GET', `/operations/${created[0]!.body.id}`, { headers: auth(KEY_A) })),
        );
        assert.deepEqual([...new Set(reads.map((r) => r.status))], [200], 'none of 150 reads at once is limited');
        for (const r of [created[0]!, reads[0]!]) assert.equal(r.headers.get('ratelimit-limit'), null, 'no RateLimit headers');
      } finally {
        await open.stop();
      }
    });
  });
});
