// End to end on the real server process: the defects an adversarial run found stay fixed. Text from outside with NUL
// bytes, results too large to store, a DELETE that would drop a webhook, a run_at in the distant past, the error of a
// retry in progress, pruning on a short retention, and what an API-only node logs.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type ServerProcess } from '../support/server.ts';
import { request } from '../support/http.ts';
import { waitFor } from '../support/wait.ts';
import { WebhookReceiver } from '../support/webhook-receiver.ts';
import { deliveriesOf, deliveryWhen, submitOperation } from '../support/webhook-e2e.ts';

let server: ServerProcess;
let base: string;
let receiver: WebhookReceiver;
const servers: ServerProcess[] = [];

const get = (url: string, id: string) => request(url, 'GET', `/operations/${id}`);
const until = (url: string, id: string, predicate: (op: any) => boolean, what: string) =>
  waitFor(
    async () => {
      const { body } = await get(url, id);
      return predicate(body) ? body : null;
    },
    { timeoutMs: 15_000, intervalMs: 20, what },
  );

before(async () => {
  receiver = await WebhookReceiver.start();
  server = await startServer({
    args: ['--allow-private-webhooks', '--retry-base', '300ms', '--retry-max', '600ms', '--max-result-bytes', '4kb', '--webhook-schedule', '200ms,200ms,200ms'],
  });
  base = server.url;
});
after(async () => {
  await Promise.all([server, ...servers].map((s) => s?.stop()));
  await receiver?.close();
});

describe('text from outside with NUL bytes', () => {
  it('a webhook receiver answering 200 with NUL in its body is delivered once, not re-sent', async () => {
    receiver.replyWith({ status: 200, body: 'ok\u0000\u0001' });
    const id = await submitOperation(base, { type: 'echo', input: { n: 1 }, webhook_url: receiver.url });
    const delivery = await deliveryWhen(base, id, (d) => d.state !== 'pending', 'the delivery recorded');
    assert.equal(delivery.state, 'delivered');
    assert.equal(delivery.attempts.length, 1);
    assert.equal(delivery.attempts[0].status_code, 200);
    assert.equal(delivery.attempts[0].response_snippet, 'ok\uFFFD\u0001');
    // A second operation's delivery after it proves the dispatcher went on, and the first was not sent again.
    receiver.replyWith({ status: 204 });
    const second = await submitOperation(base, { type: 'echo', input: { n: 2 }, webhook_url: receiver.url });
    await deliveryWhen(base, second, (d) => d.state === 'delivered', 'the second delivery');
    assert.equal(receiver.received.filter((r) => JSON.parse(r.body).operation_id === id).length, 1);
  });

  it('a progress message with a NUL does not end the attempt: it completes on its first attempt', async () => {
    const id = await submitOperation(base, { type: 'progress_text', input: { message: 'a\u0000b' } });
    const done = await until(base, id, (op) => op.status !== 'pending' && op.status !== 'processing', 'the operation ends');
    assert.equal(done.status, 'completed');
    assert.equal(done.attempt, 1);
    assert.equal(done.progress_message, 'a\uFFFDb');
    const result = await request(base, 'GET', `/operations/${id}/result`);
    assert.deepEqual(result.body, { message: 'a\u0000b' }, 'the result is the handler’s own bytes');
  });
});

describe('results too large to store', () => {
  it('fails at once with result_too_large, without another attempt', async () => {
    const id = await submitOperation(base, { type: 'big_result', input: { bytes: 5_000 } });
    const done = await until(base, id, (op) => op.status === 'failed' || op.status === 'completed', 'the operation ends');
    assert.equal(done.status, 'failed');
    assert.equal(done.error.code, 'result_too_large');
    assert.match(done.error.message, /5000 bytes.*4096/);
    assert.deepEqual([done.attempt, done.max_attempts], [1, 3]);
    const small = await submitOperation(base, { type: 'big_result', input: { bytes: 4_096 } });
    assert.equal((await until(base, small, (op) => op.status === 'completed', 'a result at the limit completes')).status, 'completed');
  });
});

describe('DELETE of an operation whose webhook is still being delivered', () => {
  it('is refused with 409 while the delivery retries, and succeeds once it is delivered', async () => {
    const before = receiver.received.length;
    receiver.replyWith({ status: 503 });
    const id = await submitOperation(base, { type: 'echo', input: { n: 3 }, webhook_url: receiver.url });
    await deliveryWhen(base, id, (d) => d.state === 'retrying', 'the delivery retries');
    const refused = await request(base, 'DELETE', `/operations/${id}`);
    assert.equal(refused.status, 409);
    assert.equal(refused.body.code, 'conflict');
    assert.match(refused.body.detail, /webhook/);
    // Refused as such whatever conditions it carries (RFC 9110 §13.2.1): a 409, not the 412 of a stale If-Match.
    const conditional = await request(base, 'DELETE', `/operations/${id}`, { headers: { 'if-match': `W/"${id}.0"` } });
    assert.equal(conditional.status, 409, conditional.text);
    assert.equal((await get(base, id)).status, 200, 'still there');
    receiver.replyWith({ status: 204 });
    await deliveryWhen(base, id, (d) => d.state === 'delivered', 'delivered after the receiver recovers');
    assert.ok(receiver.received.length > before);
    assert.equal((await request(base, 'DELETE', `/operations/${id}`)).status, 204);
  });
});

describe('run_at', () => {
  it('in the distant past runs as if sent now: behind what was already queued', async () => {
    const apiOnly = await startServer({ args: ['--no-workers'] });
    servers.push(apiOnly);
    const first = await request(apiOnly.url, 'POST', '/operations', { body: { type: 'sleep', input: {} } });
    const second = await request(apiOnly.url, 'POST', '/operations', { body: { type: 'sleep', input: {} } });
    const early = await request(apiOnly.url, 'POST', '/operations', { body: { type: 'sleep', input: {}, run_at: '0000-01-01T00:00:00Z' } });
    assert.equal(early.status, 202, early.text);
    assert.deepEqual([first.body.queue_position, second.body.queue_position, early.body.queue_position], [0, 1, 2]);
    assert.ok(Date.parse(early.body.run_at) >= Date.parse(early.body.created_at));
    assert.equal((await get(apiOnly.url, first.body.id)).body.queue_position, 0, 'the first stays first');

    for (const runAt of ['2026-02-30T00:00:00Z', '2026-04-31T10:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T10:00:00+24:00']) {
      const refused = await request(apiOnly.url, 'POST', '/operations', { body: { type: 'sleep', input: {}, run_at: runAt } });
      assert.equal(refused.status, 400, `${runAt}: ${refused.text}`);
      assert.ok(
        refused.body.errors.some((e: { path: string }) => e.path === '/run_at'),
        refused.text,
      );
    }
  });
});

describe('the error of an operation being retried', () => {
  it('is the last attempt’s error, not the operation’s, until the operation ends', async () => {
    const id = await submitOperation(base, { type: 'flaky', input: { failures: 1 } });
    const retrying = await until(base, id, (op) => op.attempt === 2, 'the second attempt');
    assert.equal(retrying.error, null);
    if (retrying.status === 'pending' || retrying.status === 'processing') {
      assert.equal(retrying.last_attempt_error.code, 'handler_error');
      assert.match(retrying.last_attempt_error.message, /failing attempt 1/);
    }
    const done = await until(base, id, (op) => op.status === 'completed', 'completed on its second attempt');
    assert.deepEqual([done.error, done.last_attempt_error], [null, null]);
    const failed = await submitOperation(base, { type: 'fail', input: { permanent: true, message: 'no' } });
    const ended = await until(base, failed, (op) => op.status === 'failed', 'failed');
    assert.deepEqual([ended.error.code, ended.last_attempt_error], ['handler_error', null]);
  });
});

describe('retention on a short setting', () => {
  it('removes the result (no result_url, 410) and then the operation, without waiting a minute', async () => {
    const short = await startServer({ args: ['--retention', '3s', '--result-retention', '1s'] });
    servers.push(short);
    const created = await request(short.url, 'POST', '/operations', { body: { type: 'echo', input: { n: 4 } } });
    const id = created.body.id as string;
    const done = await until(short.url, id, (op) => op.status === 'completed', 'completed');
    assert.equal(done.result_url, `/echoes/${id}`);
    const expired = await until(short.url, id, (op) => op.result_url === null, 'the result pruned');
    assert.equal(expired.links.result, null);
    assert.equal((await request(short.url, 'GET', `/operations/${id}/result`)).status, 410);
    assert.equal((await request(short.url, 'GET', `/echoes/${id}`)).status, 410);
    await waitFor(async () => (await get(short.url, id)).status === 404, { timeoutMs: 15_000, intervalMs: 100, what: 'the operation pruned' });
  });
});

describe('an API-only node', () => {
  it('does not log a concurrency it does not have', async () => {
    const apiOnly = await startServer({ args: ['--no-workers'] });
    servers.push(apiOnly);
    const listening = await waitFor(() => apiOnly.logs.find((l) => l['msg'] === 'asyncops listening'), { timeoutMs: 5_000, what: 'the listening line' });
    assert.equal(listening['workers'], false);
    assert.equal('concurrency' in listening, false);
    assert.equal(server.logs.find((l) => l['msg'] === 'asyncops listening')?.['concurrency'], 8);
  });
});

describe('listing operations', () => {
  it('does not show inputs', async () => {
    const id = await submitOperation(base, { type: 'echo', input: { big: 'x'.repeat(50_000) } });
    const listed = await request(base, 'GET', '/operations?type=echo&limit=200');
    const item = listed.body.items.find((op: { id: string }) => op.id === id);
    assert.ok(item);
    assert.equal('input' in item, false);
    assert.ok((await deliveriesOf(base, id)).length === 0);
  });
});
