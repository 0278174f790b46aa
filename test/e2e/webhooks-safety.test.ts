// End to end on the real server process: the webhook outbox survives SIGKILL (the delivery is written with the
// terminal status and sent after a restart on the same store: SQLite file or PostgreSQL schema), and the SSRF guard refuses private
// destinations at submit and, after DNS resolution, at delivery, and cloud metadata addresses even with --allow-private-webhooks.
// Delivery itself: webhooks.test.ts.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lookup } from 'node:dns/promises';
import { hostname } from 'node:os';
import { freshStore, startServer, type ServerProcess, type TestStore } from '../support/server.ts';
import { request } from '../support/http.ts';
import { waitFor } from '../support/wait.ts';
import { WebhookReceiver } from '../support/webhook-receiver.ts';
import { deliveriesOf, deliveryWhen, submitOperation as submit } from '../support/webhook-e2e.ts';

const servers: ServerProcess[] = [];
const receivers: WebhookReceiver[] = [];
const stores: TestStore[] = [];

after(async () => {
  await Promise.all(servers.map((s) => s.kill()));
  await Promise.all(receivers.map((r) => r.close()));
  for (const store of stores) await store.cleanup();
});

async function server(options: Parameters<typeof startServer>[0]): Promise<ServerProcess> {
  const started = await startServer(options);
  servers.push(started);
  return started;
}

async function receiver(): Promise<WebhookReceiver> {
  const r = await WebhookReceiver.start();
  receivers.push(r);
  return r;
}

describe('webhook outbox', () => {
  it('SIGKILL after an operation completed but before its webhook was sent; after a restart on the same store it is delivered', async () => {
    const store = freshStore();
    stores.push(store);
    // A receiver that takes requests and never answers holds the one dispatcher slot of the first server, so the
    // operation under test completes (its delivery row written) while nothing can send it.
    const stall = await receiver();
    stall.replyWith('hang');
    const hooks = await receiver();
    hooks.replyWith({ status: 204 });

    const first = await server({ store: store.spec, args: ['--allow-private-webhooks', '--webhook-timeout', '20s', '--webhook-concurrency', '1'] });
    await submit(first.url, { type: 'echo', input: { blocker: true }, webhook_url: stall.url });
    await waitFor(() => stall.received.length === 1, { timeoutMs: 10_000, what: 'the dispatcher slot held by a stalled receiver' });

    const id = await submit(first.url, { type: 'echo', input: { survivor: true }, webhook_url: hooks.url });
    await waitFor(async () => (await request(first.url, 'GET', `/operations/${id}`)).body.status === 'completed', { timeoutMs: 10_000, what: 'completed' });
    const [pending, ...others] = await deliveriesOf(first.url, id);
    assert.equal(others.length, 0);
    assert.equal(pending.state, 'pending', 'the delivery exists as soon as the operation is completed');
    assert.equal(pending.attempt_count, 0);
    assert.equal(hooks.received.length, 0, 'not sent before the kill');
    assert.equal(stall.received.length, 1, 'no free slot was left to send it');
    await first.kill();

    const second = await server({ store: store.spec, args: ['--allow-private-webhooks', '--webhook-schedule', '100ms,200ms'] });
    const delivered = await deliveryWhen(second.url, id, (d) => d.state === 'delivered', 'delivered after the restart');
    assert.equal(hooks.received.length, 1);
    const hook = hooks.received[0]!;
    assert.equal(hook.headers['webhook-id'], pending.webhook_id, 'the message written before the kill');
    const payload = JSON.parse(hook.body);
    assert.equal(payload.type, 'operation.completed');
    assert.equal(payload.operation_id, id);
    assert.deepEqual(payload.data.input, { survivor: true });
    assert.equal(delivered.attempt_count, 1);
    assert.deepEqual([delivered.attempts[0].trigger, delivered.attempts[0].status_code], ['scheduled', 204]);
    assert.equal((await request(second.url, 'GET', `/operations/${id}`)).body.webhook.state, 'delivered');
  });
});

describe('SSRF guard (no --allow-private-webhooks)', () => {
  // A live receiver on 127.0.0.1: the refused URLs name its real port, so anything sent would arrive.
  let target: WebhookReceiver;
  let guarded: ServerProcess;
  before(async () => {
    target = await receiver();
    // Two dozen refused submissions in a burst: the create rate limit is not what this test is about.
    guarded = await server({ env: { ASYNCOPS_RATE_LIMIT_CREATE: 'off' } });
  });

  it('refuses private, loopback, metadata and non-http destinations at submit with 422, and sends them nothing', async () => {
    const port = new URL(target.url).port;
    const refused = [
      `http://127.0.0.1:${port}/hook`,
      `http://localhost:${port}/hook`,
      `http://LocalHost.:${port}/hook`,
      `http://app.localhost:${port}/hook`,
      `http://127.1:${port}/hook`,
      `http://2130706433:${port}/hook`,
      `http://0x7f.0.0.1:${port}/hook`,
      `http://[::1]:${port}/hook`,
      `http://[::ffff:127.0.0.1]:${port}/hook`,
      `http://[::ffff:7f00:1]:${port}/hook`,
      'http://10.0.0.1/',
      'http://172.16.5.4/',
      'http://192.168.1.1/',
      'http://100.64.0.1/',
      'http://169.254.169.254/latest/meta-data/',
      'http://[fd00:ec2::254]/',
      'http://[fe80::1]/',
      'http://0.0.0.0/',
      `ftp://127.0.0.1:${port}/hook`,
      'file:///etc/passwd',
      'gopher://example.com/',
      '/relative/hook',
    ];
    for (const url of refused) {
      const reply = await request(guarded.url, 'POST', '/operations', { body: { type: 'echo', input: {}, webhook_url: url } });
      assert.equal(reply.status, 422, `${url}: ${reply.text}`);
      assert.match(reply.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.equal(reply.body.code, 'webhook_url_refused', url);
      assert.deepEqual(
        reply.body.errors.map((e: any) => e.path),
        ['/webhook_url'],
        url,
      );
    }
    // A task's collection route takes webhook_url out of the body and checks it the same way.
    const viaRoute = await request(guarded.url, 'POST', '/echoes', { body: { webhook_url: `http://127.0.0.1:${port}/hook` } });
    assert.equal(viaRoute.status, 422);
    assert.equal(viaRoute.body.errors[0].path, '/webhook_url');

    // A public address passes (it is scheduled an hour out, so nothing is ever sent to it).
    const runAt = new Date(Date.now() + 3_600_000).toISOString();
    const accepted = await submit(guarded.url, { type: 'echo', input: {}, webhook_url: 'http://8.8.8.8/hook', run_at: runAt });
    const stored = (await request(guarded.url, 'GET', '/operations?limit=200')).body.items.map((op: any) => op.id);
    assert.deepEqual(stored, [accepted], 'nothing refused was stored');
    assert.equal(target.received.length, 0);
  });

  it('a host name that passes at submit but resolves to a loopback address is refused at delivery: dead, nothing sent', async (t) => {
    const name = hostname();
    const addresses = await lookup(name, { all: true }).catch(() => []);
    if (addresses.length === 0 || !addresses.every((a) => a.address === '::1' || a.address.startsWith('127.'))) {
      t.skip(`host name ${name} does not resolve to loopback only here`);
      return;
    }
    const id = await submit(guarded.url, { type: 'echo', input: {}, webhook_url: `http://${name}:${new URL(target.url).port}/hook` });
    const dead = await deliveryWhen(guarded.url, id, (d) => d.state === 'dead', 'delivery refused at delivery time');
    assert.equal(dead.attempt_count, 1, 'a refused destination is not retried');
    assert.equal(dead.attempts[0].status_code, null);
    assert.match(dead.attempts[0].error, /^refused: .*resolves to .*loopback/);
    assert.equal((await request(guarded.url, 'GET', `/operations/${id}`)).body.webhook.state, 'dead');
    assert.equal(target.received.length, 0, 'the receiver listening at that address got nothing');
  });
});

describe('SSRF guard with --allow-private-webhooks', () => {
  it('opens loopback for a local receiver, but still refuses cloud metadata addresses at submit with 422', async () => {
    const local = await receiver();
    local.replyWith({ status: 204 });
    const open = await server({ args: ['--allow-private-webhooks'], env: { ASYNCOPS_RATE_LIMIT_CREATE: 'off' } });
    for (const url of [
      'http://169.254.169.254/latest/meta-data/',
      'http://[fd00:ec2::254]/',
      'http://169.254.170.2/v2/credentials',
      'http://100.100.100.200/',
      'http://168.63.129.16/',
      'http://[::ffff:169.254.169.254]/',
      'http://2852039166/',
    ]) {
      const reply = await request(open.url, 'POST', '/operations', { body: { type: 'echo', input: {}, webhook_url: url } });
      assert.equal(reply.status, 422, `${url}: ${reply.text}`);
      assert.equal(reply.body.code, 'webhook_url_refused', url);
      assert.match(reply.body.errors[0].message, /cloud metadata address/, url);
    }
    const id = await submit(open.url, { type: 'echo', input: {}, webhook_url: local.url });
    await deliveryWhen(open.url, id, (d) => d.state === 'delivered', 'delivered to the loopback receiver');
    assert.equal(local.received.length, 1);
  });
});
