// The SDK against a fake of the HTTP API on a real local server: request shapes, problem details, retries,
// and wait()'s pacing measured from the arrival times of the requests it sent.

import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runInNewContext } from 'node:vm';
import { waitFor } from '../support/wait.ts';
import { after, before, describe, test } from 'node:test';
import {
  AsyncOpsApiError,
  AsyncOpsClient,
  AsyncOpsNetworkError,
  AsyncOpsUnexpectedResponseError,
  AsyncOpsWaitTimeoutError,
  signWebhook,
  verifyWebhook,
  WebhookVerificationError,
  type Operation,
} from '../../src/client/index.ts';
import { closedPort, FakeApi, sampleDelivery, startFixedServer, startHtmlServer, type RecordedRequest } from './fake-api.ts';

// Arrival times are measured at the server; allow for scheduling noise between send and arrival.
const JITTER_MS = 30;

const apis: FakeApi[] = [];
async function startApi(options: ConstructorParameters<typeof FakeApi>[0] = {}): Promise<FakeApi> {
  const api = await new FakeApi(options).start();
  apis.push(api);
  return api;
}
after(async () => {
  await Promise.all(apis.map((api) => api.close()));
});

/** Gaps between consecutive status requests that do not follow a long-poll which came back early with a change. */
function pacedGaps(requests: RecordedRequest[]): number[] {
  const gaps: number[] = [];
  for (let i = 1; i < requests.length; i++) {
    const previous = requests[i - 1]!;
    const returnedEarlyWithChange = previous.headers.prefer !== undefined && previous.changed === true;
    if (!returnedEarlyWithChange) gaps.push(requests[i]!.at - previous.at);
  }
  return gaps;
}

describe('AsyncOpsClient requests', () => {
  let api: FakeApi;
  let client: AsyncOpsClient;
  before(async () => {
    api = await startApi({ apiKey: 'k1' });
    client = new AsyncOpsClient({ baseUrl: `${api.url}/`, apiKey: 'k1', userAgent: 'test-agent' });
  });

  test('submit sends the snake_case body and headers and returns the accepted resource', async () => {
    const op = await client.submit(
      'report',
      { n: 1 },
      { webhookUrl: 'https://example.com/h', idempotencyKey: 'key-1', timeoutS: 60, priority: 5, runAt: new Date(0), maxAttempts: 2, waitS: 3 },
    );
    assert.equal(op.status, 'pending');
    assert.equal(op.type, 'report');
    const sent = api.requests.at(-1)!;
    assert.deepEqual(JSON.parse(sent.body), {
      type: 'report',
      input: { n: 1 },
      webhook_url: 'https://example.com/h',
      timeout_s: 60,
      priority: 5,
      run_at: '1970-01-01T00:00:00.000Z',
      max_attempts: 2,
    });
    assert.equal(sent.headers['idempotency-key'], 'key-1');
    assert.equal(sent.headers.prefer, 'wait=3');
    assert.equal(sent.headers.authorization, 'Bearer k1');
    assert.equal(sent.headers['user-agent'], 'test-agent');
    assert.equal(sent.headers['content-type'], 'application/json');
  });

  test('an API error carries the status and the whole problem, field errors in the message', async () => {
    const error = await client.submit('nope', {}).catch((e: unknown) => e);
    assert.ok(error instanceof AsyncOpsApiError);
    assert.equal(error.status, 422);
    assert.equal(error.code, 'unknown_task_type');
    assert.deepEqual(error.problem.errors, [{ path: '/type', message: 'is not registered' }]);
    assert.match(error.message, /Unknown task type: no task type "nope" \(\/type is not registered\) \[422\]/);
  });

  test("field errors the problem's detail already states are not repeated in the message", async () => {
    /** The message of the error a problem answered with `status` becomes. */
    const messageOf = async (status: number, problem: Record<string, unknown>) => {
      const server = await startFixedServer(status, 'application/problem+json', JSON.stringify({ status, ...problem }));
      try {
        const error = await new AsyncOpsClient({ baseUrl: server.url }).get('op_1').catch((e: unknown) => e);
        assert.ok(error instanceof AsyncOpsApiError);
        return error.message;
      } finally {
        await server.close();
      }
    };
    const validation = await messageOf(400, {
      type: '/docs/problems#validation_failed',
      title: 'Request is not valid',
      code: 'validation_failed',
      detail: '/filter/status retry applies to failed, cancelled',
      errors: [
        { path: '/filter/status', message: 'retry applies to failed, cancelled' },
        { path: '/priority', message: 'must be <= 1000' },
      ],
    });
    assert.equal(validation, 'Request is not valid: /filter/status retry applies to failed, cancelled (/priority must be <= 1000) [400]');
    // Nor a field the detail names without its slash (a refused webhook_url).
    const refused = await messageOf(422, {
      type: '/docs/problems#webhook_url_refused',
      title: 'Webhook URL refused',
      code: 'webhook_url_refused',
      detail: 'webhook_url refused: host 127.0.0.1 is a loopback address',
      errors: [{ path: '/webhook_url', message: 'host 127.0.0.1 is a loopback address' }],
    });
    assert.equal(refused, 'Webhook URL refused: webhook_url refused: host 127.0.0.1 is a loopback address [422]');
  });

  test('a missing API key is a 401 problem', async () => {
    const anonymous = new AsyncOpsClient({ baseUrl: api.url });
    const error = await anonymous.get('op_0001').catch((e: unknown) => e);
    assert.ok(error instanceof AsyncOpsApiError);
    assert.equal(error.status, 401);
    assert.equal(error.code, 'unauthorized');
  });

  test('an invalid Date is a TypeError naming its option: nothing sent', async () => {
    const sent = api.requests.length;
    await assert.rejects(client.submit('report', {}, { runAt: new Date(Number.NaN) }), /^TypeError: runAt: an invalid Date$/);
    await assert.rejects(client.list({ createdAfter: new Date('nope') }), /^TypeError: createdAfter: an invalid Date$/);
    await assert.rejects(client.list({ createdBefore: new Date('nope') }), /^TypeError: createdBefore: an invalid Date$/);
    // A Date of another realm (a page's iframe has its own Date class) is a Date all the same.
    const foreign = (text: string) => runInNewContext(`new Date(${JSON.stringify(text)})`) as Date;
    assert.equal(foreign('x') instanceof Date, false);
    await assert.rejects(client.list({ createdAfter: foreign('nope') }), /^TypeError: createdAfter: an invalid Date$/);
    await assert.rejects(client.submit('report', { d: foreign('nope') }), /^TypeError: \/input\/d is an invalid Date, which JSON would keep as null$/);
    // So are the other values JSON would change, made there.
    for (const [made, message] of [
      ['new Map([["a", 1]])', /^TypeError: \/input\/v is a Map/],
      ['new Set([1])', /^TypeError: \/input\/v is a Set/],
      ['new Number(NaN)', /^TypeError: \/input\/v is a number JSON cannot carry/],
      ['Promise.resolve(1)', /^TypeError: \/input\/v is a Promise/],
      ['Object(1n)', /^TypeError: \/input\/v is a BigInt/],
    ] as const) {
      await assert.rejects(client.submit('report', { v: runInNewContext(made) }), message, made);
    }
    assert.equal(api.requests.length, sent);
    await client.list({ createdAfter: foreign('2026-01-02T03:04:05Z') });
    assert.match(api.requests.at(-1)!.search, /created_after=2026-01-02T03%3A04%3A05.000Z/);
  });

  test('a waitS that is not whole seconds, 0 or more, is a TypeError naming it: nothing sent', async () => {
    const sent = api.requests.length;
    for (const waitS of [Number.NaN, 2.5, -1, Number.POSITIVE_INFINITY, '3' as unknown as number]) {
      await assert.rejects(client.submit('report', {}, { waitS }), {
        name: 'TypeError',
        message: `submit: waitS must be a whole number of seconds, 0 or more (got ${String(waitS)})`,
      });
    }
    assert.equal(api.requests.length, sent);
  });

  test('an input JSON would change (NaN, Infinity, an invalid Date, a Map) is a TypeError naming where: nothing sent', async () => {
    const sent = api.requests.length;
    await assert.rejects(client.submit('report', { n: Number.NaN }), /^TypeError: \/input\/n is a number JSON cannot carry \(Infinity or NaN\)$/);
    await assert.rejects(client.submit('report', { rows: [1, Number.POSITIVE_INFINITY] }), /^TypeError: \/input\/rows\/1 is a number JSON cannot carry/);
    await assert.rejects(client.submit('report', { d: new Date(Number.NaN) }), /^TypeError: \/input\/d is an invalid Date, which JSON would keep as null$/);
    await assert.rejects(client.submitMinimal('report', { m: new Map([[1, 2]]) }), /^TypeError: \/input\/m is a Map, which JSON would keep as \{\}/);
    await assert.rejects(client.submit('report', { rows: [() => 1] }), /^TypeError: \/input\/rows\/0 is a function, which JSON would leave out/);
    await assert.rejects(client.createSchedule('report', { n: Number.NaN }, '0 3 * * *'), /^TypeError: \/input\/n is a number JSON cannot carry/);
    await assert.rejects(client.submit('report', { rows: [{ id: 12n }] }), /^TypeError: \/input\/rows\/0\/id is a BigInt, which JSON cannot carry/);
    await assert.rejects(client.submit('report', { id: Object(12n) }), /^TypeError: \/input\/id is a BigInt, which JSON cannot carry/);
    assert.equal(api.requests.length, sent);
    // What JSON writes as it was given still goes: a valid Date as its text, an undefined member left out, a BigInt
    // whose toJSON the program gave (as JSON.stringify asks it).
    const bigint = BigInt.prototype as unknown as { toJSON?: () => string };
    bigint.toJSON = function (this: bigint) {
      return this.toString();
    };
    try {
      await client.submit('report', { at: new Date(0), gone: undefined, id: 12n });
    } finally {
      delete bigint.toJSON;
    }
    assert.deepEqual(JSON.parse(api.requests.at(-1)?.body ?? ''), { type: 'report', input: { at: '1970-01-01T00:00:00.000Z', id: '12' } });
  });

  test('a key or idempotency key no header can carry is a TypeError at once: nothing sent, nothing retried', async () => {
    const sent = api.requests.length;
    const started = Date.now();
    await assert.rejects(new AsyncOpsClient({ baseUrl: api.url, apiKey: 'ключ' }).get('op_1'), (error: unknown) => {
      assert.ok(error instanceof TypeError && !(error instanceof AsyncOpsNetworkError), String(error));
      assert.match((error as Error).message, /^the authorization header cannot carry the value given/);
      return true;
    });
    await assert.rejects(client.submit('report', {}, { idempotencyKey: 'ключ' }), /^TypeError: the idempotency-key header cannot carry/);
    assert.equal(api.requests.length, sent);
    assert.ok(Date.now() - started < 1_000, 'not retried');
  });

  test('an id of "", "." or ".." (which a URL resolves to another path) is a TypeError at once: nothing sent', async () => {
    const sent = api.requests.length;
    for (const id of ['', '.', '..']) {
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['get', () => client.get(id)],
        ['wait', () => client.wait(id, { timeoutMs: 5_000 })],
        ['cancel', () => client.cancel(id)],
        ['delete', () => client.delete(id)],
        ['history', () => client.history(id)],
        ['retryDelivery', () => client.retryDelivery(id)],
        ['getBulkAction', () => client.getBulkAction(id)],
        ['getSchedule', () => client.getSchedule(id)],
      ];
      for (const [name, call] of calls) {
        await assert.rejects(
          call(),
          (e: unknown) => e instanceof TypeError && e.message === `${JSON.stringify(id)} is not an id`,
          `${name}(${JSON.stringify(id)})`,
        );
      }
    }
    assert.equal(api.requests.length, sent);
  });

  test('get of an unknown id is a 404 with code not_found', async () => {
    const error = await client.get('op_missing').catch((e: unknown) => e);
    assert.ok(error instanceof AsyncOpsApiError);
    assert.equal(error.status, 404);
    assert.equal(error.problem.code, 'not_found');
  });

  test('result returns the bytes and content type once completed, a 409 problem before', async () => {
    const done = api.addOperation('report', {}, [{ atMs: 0, status: 'completed', progress: 1 }]);
    const result = await client.result(done.id);
    assert.equal(result.contentType, 'application/json');
    assert.deepEqual(result.json(), { total: 42 });
    assert.equal(result.text(), '{"total":42}');
    assert.ok(result.body instanceof Uint8Array);

    // A text's byte-order mark is part of it: text() keeps it, json() reads past it.
    const marked = api.addOperation('report', {}, [{ atMs: 0, status: 'completed', progress: 1 }]);
    api.operations.get(marked.id)!.result = { contentType: 'application/json', body: '\ufeff{"total":1}' };
    const withMark = await client.result(marked.id);
    assert.deepEqual([withMark.text(), withMark.json()], ['\ufeff{"total":1}', { total: 1 }]);

    const running = api.addOperation('report', {}, [{ atMs: 0, status: 'processing', progress: 0.1 }]);
    const error = await client.result(running.id).catch((e: unknown) => e);
    assert.ok(error instanceof AsyncOpsApiError);
    assert.equal(error.status, 409);
    assert.equal(error.code, 'not_completed');
  });

  test('cancel returns the cancelled operation, and a second cancel is a 409', async () => {
    const op = api.addOperation('report', {}, [{ atMs: 0, status: 'processing' }]);
    assert.equal((await client.cancel(op.id)).status, 'cancelled');
    const error = await client.cancel(op.id).catch((e: unknown) => e);
    assert.ok(error instanceof AsyncOpsApiError && error.status === 409);
  });

  test('delete removes the operation', async () => {
    const op = api.addOperation('report', {}, [{ atMs: 0, status: 'completed' }]);
    await client.delete(op.id);
    await assert.rejects(client.get(op.id), (e: unknown) => e instanceof AsyncOpsApiError && e.status === 404);
  });

  test('list sends the filters and listAll follows next_cursor through every page', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) ids.add(api.addOperation('paged', {}, [{ atMs: 0, status: 'completed' }]).id);
    const page = await client.list({ status: 'completed', limit: 2 });
    assert.equal(page.items.length, 2);
    assert.equal(page.next_cursor, '2');
    assert.match(api.requests.at(-1)!.headers.host ?? '', /127\.0\.0\.1/);

    const seen: Operation[] = [];
    for await (const op of client.listAll({ limit: 2 })) seen.push(op);
    const pageRequests = api.requests.filter((r) => r.path === '/operations' && r.method === 'GET');
    assert.ok(seen.length >= 5);
    assert.ok([...ids].every((id) => seen.some((op) => op.id === id)));
    assert.ok(pageRequests.length >= 4, 'one request per page');
  });

  test('deliveries, retryDelivery and operationDeliveries', async () => {
    const op = api.addOperation('report', {}, [{ atMs: 0, status: 'completed' }]);
    api.deliveries.push(sampleDelivery(op.id, 'dlv_1', 'dead'), sampleDelivery(op.id, 'dlv_2', 'delivered'));
    const dead = await client.deliveries({ state: 'dead', limit: 10 });
    assert.deepEqual(
      dead.items.map((d) => d.id),
      ['dlv_1'],
    );
    assert.equal(dead.next_cursor, null);
    const retried = await client.retryDelivery('dlv_1');
    assert.equal(retried.state, 'pending');
    const all = await client.operationDeliveries(op.id);
    assert.equal(all.items.length, 2);
    assert.equal(all.items[0]!.attempts[1]!.error, 'ECONNREFUSED');
  });
});

describe('AsyncOpsClient.wait', () => {
  test('a timeout longer than a timer holds (about 24.8 days) waits; one that is not a positive number is a TypeError', async () => {
    const api = await startApi({ longPoll: false, retryAfterS: 0 });
    const client = new AsyncOpsClient({ baseUrl: api.url, timeoutMs: 3e9 });
    const op = api.addOperation('report', {}, [
      { atMs: 0, status: 'processing', progress: 0 },
      { atMs: 500, status: 'completed', progress: 1 },
    ]);
    // Both fired at once before: a request timeout and a wait deadline past 2^31 − 1 ms overflowed their timers.
    assert.equal((await client.wait(op.id, { timeoutMs: 3e9 })).status, 'completed');
    assert.equal((await client.wait(op.id, { timeoutMs: Number.POSITIVE_INFINITY })).status, 'completed');
    for (const timeoutMs of [0, -1, Number.NaN]) {
      await assert.rejects(client.wait(op.id, { timeoutMs }), /wait: timeoutMs must be a positive number/);
      assert.throws(() => new AsyncOpsClient({ baseUrl: api.url, timeoutMs }), /AsyncOpsClient: timeoutMs must be a positive number/);
    }
  });

  test('long-polls when the server honours it: few requests, none within 1 s unless a long-poll returned with a change', async () => {
    const api = await startApi();
    const client = new AsyncOpsClient({ baseUrl: api.url });
    const op = api.addOperation('report', {});
    const seen: string[] = [];
    const final = await client.wait(op.id, { onProgress: (o) => seen.push(`${o.status}:${o.progress}`), timeoutMs: 15_000 });

    assert.equal(final.status, 'completed');
    assert.equal(seen.at(-1), 'completed:1');
    assert.ok(seen.includes('processing:0.5'), `saw ${seen.join(', ')}`);
    const requests = api.statusRequests(op.id);
    assert.ok(
      requests.slice(1).every((r) => r.headers.prefer !== undefined && r.headers['if-none-match'] !== undefined),
      'long-polls after the first read',
    );
    assert.ok(requests.length <= 6, `${requests.length} requests for 4 stages`);
    for (const gap of pacedGaps(requests)) assert.ok(gap >= 1000 - JITTER_MS, `gap of ${gap.toFixed(0)} ms`);
  });

  test('an async onProgress is awaited, and its rejection ends the wait with it, as a throw of a plain one does', async () => {
    const api = await startApi();
    const client = new AsyncOpsClient({ baseUrl: api.url });
    const seen: string[] = [];
    let running = 0;
    const final = await client.wait(api.addOperation('report', {}).id, {
      onProgress: async (o) => {
        running++;
        assert.equal(running, 1, 'one callback at a time');
        await new Promise((resolve) => setTimeout(resolve, 20));
        seen.push(o.status);
        running--;
      },
      timeoutMs: 15_000,
    });
    assert.equal(final.status, 'completed');
    assert.equal(seen.at(-1), 'completed', 'the last callback ended before the wait did');
    const failure = new Error('the callback failed');
    for (const onProgress of [
      async () => {
        throw failure;
      },
      () => {
        throw failure;
      },
    ]) {
      await assert.rejects(client.wait(api.addOperation('report', {}).id, { onProgress, timeoutMs: 15_000 }), failure);
    }
  });

  test('falls back to polling when Prefer: wait is not honoured, and never polls faster than 1 s', async () => {
    const api = await startApi({ longPoll: false, retryAfterS: 0 });
    const client = new AsyncOpsClient({ baseUrl: api.url });
    const op = api.addOperation('report', {}, [
      { atMs: 0, status: 'processing', progress: 0 },
      { atMs: 2500, status: 'completed', progress: 1 },
    ]);
    const final = await client.wait(op.id, { timeoutMs: 15_000 });

    assert.equal(final.status, 'completed');
    const requests = api.statusRequests(op.id);
    assert.ok(requests.length >= 3);
    assert.ok(
      requests.slice(2).every((r) => r.headers.prefer === undefined),
      'stopped asking for a long-poll',
    );
    for (let i = 1; i < requests.length; i++) {
      const gap = requests[i]!.at - requests[i - 1]!.at;
      assert.ok(gap >= 1000 - JITTER_MS, `gap of ${gap.toFixed(0)} ms`);
    }
  });

  test('honours a Retry-After longer than 1 s when polling', async () => {
    const api = await startApi({ longPoll: false, retryAfterS: 2 });
    const client = new AsyncOpsClient({ baseUrl: api.url });
    const op = api.addOperation('report', {}, [
      { atMs: 0, status: 'processing' },
      { atMs: 2500, status: 'completed' },
    ]);
    await client.wait(op.id, { timeoutMs: 15_000 });
    const requests = api.statusRequests(op.id);
    // The second request is the long-poll probe (≥ 1 s); from then on the server said 2 s.
    for (let i = 2; i < requests.length; i++) {
      const gap = requests[i]!.at - requests[i - 1]!.at;
      assert.ok(gap >= 2000 - JITTER_MS, `gap of ${gap.toFixed(0)} ms`);
    }
    assert.ok(requests.length <= 4, `${requests.length} requests`);
  });

  test('rides out a reset connection and 503s, each retry at least 1 s after the last', async () => {
    const api = await startApi();
    const client = new AsyncOpsClient({ baseUrl: api.url });
    const op = api.addOperation('report', {}, [{ atMs: 0, status: 'completed' }]);
    api.failNext(1, 'reset');
    api.failNext(1, 503);
    const final = await client.wait(op.id, { timeoutMs: 15_000 });
    assert.equal(final.status, 'completed');
    const requests = api.statusRequests(op.id);
    assert.equal(requests.length, 3);
    for (const gap of pacedGaps(requests)) assert.ok(gap >= 1000 - JITTER_MS, `gap of ${gap.toFixed(0)} ms`);
  });

  test('spaces the next status request from the retry that was answered, not from the try a 503 refused', async () => {
    // A server that does not hold requests: the reply to the retry is at once, and shows a change.
    const api = await startApi({ longPoll: false });
    const client = new AsyncOpsClient({ baseUrl: api.url });
    const op = api.addOperation('report', {}, [
      { atMs: 0, status: 'processing', progress: 0.1 },
      { atMs: 1_500, status: 'processing', progress: 0.5 },
      { atMs: 2_600, status: 'processing', progress: 0.7 },
      { atMs: 4_500, status: 'completed', progress: 1 },
    ]);
    const waiting = client.wait(op.id, { timeoutMs: 15_000 });
    await waitFor(() => api.statusRequests(op.id).length === 1, { what: 'the first read' });
    api.failNext(1, 503);
    assert.equal((await waiting).status, 'completed');
    const requests = api.statusRequests(op.id);
    const refused = requests.findIndex((r) => r.status === 503);
    assert.ok(refused > 0 && requests.length > refused + 2, requests.map((r) => r.status).join(','));
    const gap = requests[refused + 2]!.at - requests[refused + 1]!.at;
    assert.ok(gap >= 1000 - JITTER_MS, `the request after the answered retry came ${gap.toFixed(0)} ms after it`);
  });

  test('rejects with AsyncOpsWaitTimeoutError when its own timeout elapses', async () => {
    const api = await startApi();
    const client = new AsyncOpsClient({ baseUrl: api.url });
    const op = api.addOperation('report', {}, [{ atMs: 0, status: 'processing' }]);
    const started = performance.now();
    const error = await client.wait(op.id, { timeoutMs: 1500 }).catch((e: unknown) => e);
    assert.ok(error instanceof AsyncOpsWaitTimeoutError, String(error));
    assert.equal(error.operationId, op.id);
    assert.ok(performance.now() - started >= 1500 - JITTER_MS, 'not before its timeout');
  });

  test('rejects with the abort reason when its signal fires', async () => {
    const api = await startApi();
    const client = new AsyncOpsClient({ baseUrl: api.url });
    const op = api.addOperation('report', {}, [{ atMs: 0, status: 'processing' }]);
    const reason = new Error('stop');
    const error = await client.wait(op.id, { signal: AbortSignal.timeout(1200), timeoutMs: 10_000 }).catch((e: unknown) => e);
    assert.equal((error as Error).name, 'TimeoutError');
    const controller = new AbortController();
    const waiting = client.wait(op.id, { signal: controller.signal, timeoutMs: 10_000 });
    controller.abort(reason);
    await assert.rejects(waiting, (e: unknown) => e === reason);
  });
});

describe('AsyncOpsClient transient failures', () => {
  test('get retries a 503 and a 429 and then succeeds', async () => {
    const api = await startApi();
    const client = new AsyncOpsClient({ baseUrl: api.url });
    const op = api.addOperation('report', {}, [{ atMs: 0, status: 'completed' }]);
    api.failNext(1, 503);
    api.failNext(1, 429);
    assert.equal((await client.get(op.id)).status, 'completed');
    assert.equal(api.statusRequests(op.id).length, 3);
  });

  test('gives up after the configured retries with the last error', async () => {
    const api = await startApi();
    const client = new AsyncOpsClient({ baseUrl: api.url, retry: { retries: 1 } });
    const op = api.addOperation('report', {}, [{ atMs: 0, status: 'completed' }]);
    api.failNext(5, 503);
    const error = await client.get(op.id).catch((e: unknown) => e);
    assert.ok(error instanceof AsyncOpsApiError);
    assert.equal(error.status, 503);
    assert.match(error.message, /gave up after 2 tries/);
  });

  test('a retry policy takes the defaults for members left undefined, and refuses NaN, negative or fractional ones', async () => {
    const api = await startApi();
    const op = api.addOperation('report', {}, [{ atMs: 0, status: 'completed' }]);
    const policy: { minDelayMs?: number } = {};
    const client = new AsyncOpsClient({ baseUrl: api.url, retry: { retries: 1, minDelayMs: policy.minDelayMs } });
    api.failNext(1, 503);
    const started = performance.now();
    assert.equal((await client.get(op.id)).status, 'completed');
    assert.ok(performance.now() - started >= 1000 - JITTER_MS, 'the retry still waited its second');
    for (const retry of [{ retries: Number.NaN }, { retries: -1 }, { retries: 1.5 }, { minDelayMs: Number.NaN }, { maxDelayMs: 0 }]) {
      assert.throws(() => new AsyncOpsClient({ baseUrl: api.url, retry }), /^TypeError: AsyncOpsClient: retry\.\w+ must be/, JSON.stringify(retry));
    }
  });

  test('a caller that aborts gets its own reason back, unchanged, however many tries there were', async () => {
    const api = await startApi();
    const op = api.addOperation('report', {}, [{ atMs: 0, status: 'completed' }]);
    const client = new AsyncOpsClient({ baseUrl: api.url });
    // The first try is refused, the second never answered: the abort cuts that one short.
    api.failNext(1, 503);
    api.failNext(1, 'hang');
    const reason = new Error('user cancelled');
    const controller = new AbortController();
    setTimeout(() => controller.abort(reason), 1_800);
    await assert.rejects(client.get(op.id, { signal: controller.signal }), (error: unknown) => error === reason);
    assert.equal(reason.message, 'user cancelled');
  });

  test('a submit without an Idempotency-Key is not retried', async () => {
    const api = await startApi();
    const client = new AsyncOpsClient({ baseUrl: api.url });
    api.failNext(1, 503);
    await assert.rejects(client.submit('report', {}), (e: unknown) => e instanceof AsyncOpsApiError && e.status === 503);
    assert.equal(api.requests.length, 1);
  });

  test('a baseUrl with user:password@, or not http(s), is refused at construction without repeating it', () => {
    assert.throws(
      () => new AsyncOpsClient({ baseUrl: 'http://user:s3cret-pw@127.0.0.1:8080' }),
      (e: unknown) => e instanceof TypeError && /must not include a user name or password/.test(e.message) && !e.message.includes('s3cret-pw'),
    );
    assert.throws(() => new AsyncOpsClient({ baseUrl: 'ftp://127.0.0.1' }), /absolute http:\/\/ or https:\/\/ URL/);
    // Each request's path is appended: after a ? or # it would be part of the query or fragment.
    for (const baseUrl of ['http://127.0.0.1:8080?x=1', 'http://127.0.0.1:8080/async#top', 'http://127.0.0.1:8080?']) {
      assert.throws(() => new AsyncOpsClient({ baseUrl }), /must not include a query or fragment/, baseUrl);
    }
  });

  test('an unreachable server is an AsyncOpsNetworkError naming it', async () => {
    const port = await closedPort();
    const client = new AsyncOpsClient({ baseUrl: `http://127.0.0.1:${port}`, retry: { retries: 0 } });
    const error = await client.get('op_1').catch((e: unknown) => e);
    assert.ok(error instanceof AsyncOpsNetworkError, String(error));
    assert.match(error.message, new RegExp(`cannot reach http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
  });
});

describe('a server that is not an asyncops API', () => {
  test('get, submit and wait reject with AsyncOpsUnexpectedResponseError naming the URL, status and content type', async () => {
    const page = await startHtmlServer();
    try {
      const client = new AsyncOpsClient({ baseUrl: page.url, retry: { retries: 0 } });
      const calls = [() => client.get('op_1'), () => client.submit('report', {}), () => client.wait('op_1', { timeoutMs: 5000 })];
      for (const call of calls) {
        const error = await call().catch((e: unknown) => e);
        assert.ok(error instanceof AsyncOpsUnexpectedResponseError, String(error));
        assert.equal(error.status, 200);
        assert.equal(error.contentType, 'text/html; charset=utf-8');
        assert.equal(error.message, `the server at ${page.url} did not answer as an asyncops API: HTTP 200, content-type text/html; charset=utf-8`);
      }
    } finally {
      await page.close();
    }
  });

  test('an HTML 404 (a static file server) is AsyncOpsUnexpectedResponseError with its status and content type, not the page', async () => {
    const page = await startHtmlServer(404);
    try {
      const client = new AsyncOpsClient({ baseUrl: page.url, retry: { retries: 0 } });
      const calls = [
        () => client.get('op_1'),
        () => client.submit('report', {}),
        () => client.cancel('op_1'),
        () => client.result('op_1'),
        () => client.wait('op_1', { timeoutMs: 5000 }),
      ];
      for (const call of calls) {
        const error = await call().catch((e: unknown) => e);
        assert.ok(error instanceof AsyncOpsUnexpectedResponseError, String(error));
        assert.equal(error.status, 404);
        assert.equal(error.contentType, 'text/html; charset=utf-8');
        assert.equal(error.message, `the server at ${page.url} did not answer as an asyncops API: HTTP 404, content-type text/html; charset=utf-8`);
      }
    } finally {
      await page.close();
    }
  });
});

describe('JSON from a server that is not an asyncops API', () => {
  test('an error whose members have other types is an AsyncOpsApiError with those members left out, never a TypeError', async () => {
    for (const [body, type] of [
      [{ title: 'Bad', errors: { name: ['is bad'] } }, 'application/json'],
      [{ title: 'Bad', errors: 'nope' }, 'application/json'],
      [{ title: 7, detail: ['x'], errors: [null, 3, { path: '/a', message: 'is bad' }] }, 'application/problem+json'],
    ] as const) {
      const server = await startFixedServer(422, type, JSON.stringify(body));
      try {
        const client = new AsyncOpsClient({ baseUrl: server.url, retry: { retries: 0 } });
        for (const call of [() => client.get('op_1'), () => client.list(), () => client.cancel('op_1')]) {
          const error = await call().catch((e: unknown) => e);
          assert.ok(error instanceof AsyncOpsApiError, `${JSON.stringify(body)}: ${String(error)}`);
          assert.equal(error.status, 422);
          assert.ok(Array.isArray(error.problem.errors ?? []));
          assert.equal(typeof error.problem.title, 'string');
        }
      } finally {
        await server.close();
      }
    }
  });

  test("another app's JSON 404 (the API mounted under a prefix the URL leaves out) is AsyncOpsUnexpectedResponseError, not a refusal of the API's", async () => {
    const fastify404 = { message: 'Route GET:/operations/op_1 not found', error: 'Not Found', statusCode: 404 };
    const server = await startFixedServer(404, 'application/json; charset=utf-8', JSON.stringify(fastify404));
    try {
      const client = new AsyncOpsClient({ baseUrl: server.url, retry: { retries: 0 } });
      const error = await client.get('op_1').catch((e: unknown) => e);
      assert.ok(error instanceof AsyncOpsUnexpectedResponseError, String(error));
      assert.equal(error.status, 404);
      assert.match(error.message, /application\/json/);
    } finally {
      await server.close();
    }
  });

  test('a success without the fields an operation or a page has is AsyncOpsUnexpectedResponseError', async () => {
    const server = await startFixedServer(200, 'application/json', '{}');
    try {
      const client = new AsyncOpsClient({ baseUrl: server.url, retry: { retries: 0 } });
      for (const call of [() => client.get('op_1'), () => client.list(), () => client.counts(), () => client.deliveries(), () => client.cancel('op_1')]) {
        const error = await call().catch((e: unknown) => e);
        assert.ok(error instanceof AsyncOpsUnexpectedResponseError, String(error));
        assert.equal(error.status, 200);
      }
    } finally {
      await server.close();
    }
  });
});

describe('webhook verification re-exported from asyncops/client', () => {
  const secret = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
  const body = JSON.stringify({ type: 'operation.completed', operation_id: 'op_1', data: { id: 'op_1' } });
  const signed = signWebhook({ secrets: [secret], msgId: 'msg_1', timestamp: 1_700_000_000, body });
  const now = () => 1_700_000_000_000;

  test('verifyWebhook accepts what signWebhook signed and returns the payload', async () => {
    assert.deepEqual(await verifyWebhook(secret, { ...(await signed) }, body, { now }), JSON.parse(body));
  });

  test('verifyWebhook refuses signed JSON that is not an event object: the type it resolves with would be untrue', async () => {
    for (const other of ['null', '[]', '{"type":1,"operation_id":"op_1","data":{}}', '{"type":"operation.completed","operation_id":"op_1"}']) {
      const headers = await signWebhook({ secrets: [secret], msgId: 'msg_2', timestamp: 1_700_000_000, body: other });
      await assert.rejects(verifyWebhook(secret, headers, other, { now }), {
        name: 'WebhookVerificationError',
        message: 'signature matches but the body is not an asyncops webhook event',
      });
    }
  });

  test('verifyWebhook refuses a tampered body', async () => {
    await assert.rejects(async () => verifyWebhook(secret, { ...(await signed) }, body.replace('op_1', 'op_2'), { now }), WebhookVerificationError);
  });
});

describe('AsyncOpsClient: a refusal with Retry-After', () => {
  test('asking for more than a minute is thrown at once, its retryAfterS saying when', async () => {
    const withRetryAfter = createServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '120' });
      res.end(JSON.stringify({ title: 'Maintenance', status: 503, code: 'shutting_down' }));
    });
    await new Promise<void>((resolve) => withRetryAfter.listen(0, '127.0.0.1', resolve));
    try {
      const client = new AsyncOpsClient({ baseUrl: `http://127.0.0.1:${(withRetryAfter.address() as AddressInfo).port}` });
      const started = performance.now();
      await assert.rejects(client.counts(), (error) => error instanceof AsyncOpsApiError && error.retryAfterS === 120);
      assert.ok(performance.now() - started < 1_000, 'not retried');
    } finally {
      withRetryAfter.closeAllConnections();
      await new Promise<void>((resolve) => withRetryAfter.close(() => resolve()));
    }
  });

  test('is retried when it asks, past the backoff and its longest delay (which bound the backoff alone)', async () => {
    const at: number[] = [];
    const server = createServer((_req, res) => {
      at.push(performance.now());
      if (at.length === 1) {
        res.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '2' });
        res.end(JSON.stringify({ title: 'Service Unavailable', status: 503, code: 'shutting_down' }));
      } else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ items: [] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const client = new AsyncOpsClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, retry: { maxDelayMs: 1_000 } });
      assert.deepEqual(await client.counts(), []);
      assert.equal(at.length, 2);
      assert.ok(at[1]! - at[0]! >= 1_950, `retried ${Math.round(at[1]! - at[0]!)} ms later, where Retry-After asked 2 s`);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('AsyncOpsClient: an answer about another operation', () => {
  test('is not taken for the one asked for: get, wait, cancel and events() say something else answered', async () => {
    const other = { id: 'op_other', status: 'failed', error: { code: 'boom', message: 'boom' } };
    const server = await startFixedServer(200, 'application/json', JSON.stringify(other));
    try {
      const client = new AsyncOpsClient({ baseUrl: server.url, retry: { retries: 0 } });
      await assert.rejects(client.get('op_asked'), AsyncOpsUnexpectedResponseError);
      await assert.rejects(client.wait('op_asked', { timeoutMs: 5_000 }), AsyncOpsUnexpectedResponseError);
      await assert.rejects(client.cancel('op_asked'), AsyncOpsUnexpectedResponseError);
      assert.equal((await client.get('op_other')).id, 'op_other', 'the one it is');
    } finally {
      await server.close();
    }
    const stream = await startFixedServer(200, 'text/event-stream', `id: 3\nevent: status\ndata: ${JSON.stringify(other)}\n\n`);
    try {
      const client = new AsyncOpsClient({ baseUrl: stream.url, retry: { retries: 0 } });
      await assert.rejects(async () => {
        for await (const _ of client.events('op_asked', { idleTimeoutMs: 5_000 })) assert.fail('an event of another operation was yielded');
      }, AsyncOpsUnexpectedResponseError);
    } finally {
      await stream.close();
    }
  });
});

describe('AsyncOpsClient: wait when held requests fail', () => {
  /** A status server: `held` answers each held request (its hold in seconds); the operation completes after `heldMade` of them. */
  async function statusServer(heldMade: number, held: (waitS: number, req: IncomingMessage, res: ServerResponse) => void, retryAfterS = 1) {
    const log: Array<{ at: number; waitS: number | null }> = [];
    const server = createServer((req, res) => {
      const waitS = /wait=(\d+)/.exec(String(req.headers.prefer ?? ''))?.[1];
      log.push({ at: performance.now(), waitS: waitS === undefined ? null : Number(waitS) });
      // Done once that many held requests were made: told by the next request, held or not.
      const done = log.filter((l) => l.waitS !== null).length > heldMade;
      if (waitS !== undefined && !done) return held(Number(waitS), req, res);
      res.writeHead(200, { 'content-type': 'application/json', etag: `W/"op_h.${done ? 2 : 1}"`, 'retry-after': String(retryAfterS) });
      res.end(JSON.stringify({ id: 'op_h', status: done ? 'completed' : 'processing' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = new AsyncOpsClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
    const close = async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    };
    return { client, log, close };
  }

  test('a hold cut short is not asked for again: it settles below what the proxy lets through', async () => {
    // The proxy lets a 1 s hold through, and cuts any longer one at 1.1 s.
    const { client, log, close } = await statusServer(7, (waitS, req, res) => {
      if (waitS > 1) return void setTimeout(() => req.socket.destroy(), 1_100);
      setTimeout(() => res.writeHead(304, { etag: 'W/"op_h.1"', 'preference-applied': `wait=${waitS}` }).end(), waitS * 1000);
    });
    try {
      assert.equal((await client.wait('op_h', { timeoutMs: 60_000 })).status, 'completed');
      const holds = log.flatMap((l) => (l.waitS === null ? [] : [l.waitS]));
      // 30, 15, 7 and 3 cut, each followed by a plain poll; 1 answered, 2 once more cut; from then on 1 only.
      assert.deepEqual(holds.slice(0, 6), [30, 15, 7, 3, 1, 2], holds.join(','));
      assert.ok(
        holds.slice(6).every((h) => h === 1),
        holds.join(','),
      );
      const cut = log.flatMap((l, i) => (l.waitS !== null && l.waitS > 1 ? [i] : []));
      assert.ok(
        cut.every((i) => log[i + 1]?.waitS === null),
        `a plain poll after each cut: ${log.map((l) => l.waitS ?? '-').join(',')}`,
      );
    } finally {
      await close();
    }
  });

  test("while held requests keep failing at once, the polls between them go as the replies' Retry-After says", async () => {
    // A gateway answers every held request at once with its own 502 page; the server's replies say 2 s.
    const { client, log, close } = await statusServer(
      2,
      (_waitS, _req, res) => void res.writeHead(502, { 'content-type': 'text/html' }).end('<html>bad gateway</html>'),
      2,
    );
    try {
      assert.equal((await client.wait('op_h', { timeoutMs: 60_000 })).status, 'completed');
      const heldAt = log.flatMap((l, i) => (l.waitS !== null && i > 1 ? [i] : []));
      for (const i of heldAt) assert.ok(log[i]!.at - log[i - 1]!.at >= 1_950, `${Math.round(log[i]!.at - log[i - 1]!.at)} ms after the plain poll before it`);
      assert.ok(
        log.filter((l) => l.waitS !== null).every((l) => l.waitS === 30),
        'failing at once, the hold is not cut',
      );
    } finally {
      await close();
    }
  });

  test('a held request refused with Retry-After is followed by a plain poll once that time has passed, the hold kept', async () => {
    let refused = false;
    const { client, log, close } = await statusServer(2, (waitS, _req, res) => {
      if (!refused) {
        refused = true;
        res.writeHead(429, { 'content-type': 'application/problem+json', 'retry-after': '2' });
        return void res.end(JSON.stringify({ title: 'Too Many Requests', status: 429, code: 'rate_limited' }));
      }
      res.writeHead(304, { etag: 'W/"op_h.1"', 'preference-applied': `wait=${waitS}` }).end();
    });
    try {
      assert.equal((await client.wait('op_h', { timeoutMs: 60_000 })).status, 'completed');
      const refusal = log.findIndex((l) => l.waitS !== null);
      assert.ok(
        log[refusal + 1]!.at - log[refusal]!.at >= 1_950,
        `the next request ${Math.round(log[refusal + 1]!.at - log[refusal]!.at)} ms after a Retry-After of 2 s`,
      );
      assert.equal(log.find((l, i) => i > refusal && l.waitS !== null)?.waitS, 30, 'a refusal is not a cut: the hold stays');
    } finally {
      await close();
    }
  });
});
