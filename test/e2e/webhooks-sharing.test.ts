// End to end on the real server process: a receiver that never answers holds only its destination's share of the
// webhook slots, so other receivers' webhooks go out meanwhile, with the default settings and with the slots set by flag
// and environment. What a webhook carries and how it is retried: webhooks.test.ts.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type ServerProcess, type StartServerOptions } from '../support/server.ts';
import { request } from '../support/http.ts';
import { waitFor } from '../support/wait.ts';
import { submitOperation as submit } from '../support/webhook-e2e.ts';
import { WebhookReceiver } from '../support/webhook-receiver.ts';

const servers: ServerProcess[] = [];
const receivers: WebhookReceiver[] = [];

after(async () => {
  // Receivers first: the attempts they hold then end at once, and the servers stop without waiting out a timeout.
  await Promise.all(receivers.map((r) => r.close()));
  await Promise.all(servers.map((s) => s.stop()));
});

async function receiver(): Promise<WebhookReceiver> {
  const r = await WebhookReceiver.start();
  receivers.push(r);
  return r;
}

/**
 * The case: `stuck` operations whose receiver takes the request and never answers (the default 10 s timeout),
 * then one for a healthy receiver. Asserts the healthy webhook arrives before any of the hanging attempts has timed
 * out, and that the hanging receiver got exactly `share` requests: its destination's cap.
 */
async function healthyArrivesFirst(options: StartServerOptions, stuck: number, share: number): Promise<void> {
  const hanging = await receiver();
  hanging.replyWith('hang');
  const healthy = await receiver();
  const server = await startServer({ ...options, args: ['--allow-private-webhooks', ...(options.args ?? [])] });
  servers.push(server);
  // Paths of their own: the destination is the origin, so all of them share one cap.
  for (let i = 0; i < stuck; i++) await submit(server.url, { type: 'echo', input: { i }, webhook_url: `${hanging.url}/${i}` });
  await waitFor(() => hanging.received.length >= share, { timeoutMs: 10_000, what: 'the hanging receiver to hold its share of the slots' });

  await submit(server.url, { type: 'echo', input: { healthy: true }, webhook_url: healthy.url });
  // A hanging attempt that timed out is recorded, and its delivery is retrying.
  const timedOut = async () => (await request(server.url, 'GET', '/webhook-deliveries?state=retrying')).body.items.length > 0;
  const first = await waitFor(async () => (healthy.received.length > 0 ? 'healthy' : (await timedOut()) ? 'a hanging attempt timed out' : null), {
    timeoutMs: 30_000,
    intervalMs: 20,
    what: 'the healthy webhook or a hanging attempt timing out',
  });
  assert.equal(first, 'healthy', 'the healthy webhook arrives before the hanging ones time out');
  assert.equal(hanging.received.length, share, 'the hanging receiver holds its share of the slots and no more');
  assert.equal(JSON.parse(healthy.received[0]!.body).data.input.healthy, true);
}

describe('webhook slots shared between destinations', () => {
  it('with the defaults (32 slots, 8 a destination), 24 webhooks to a hanging receiver do not hold up another receiver', async () => {
    await healthyArrivesFirst({}, 24, 8);
  });

  it('takes the slots from --webhook-concurrency and the share from ASYNCOPS_WEBHOOK_CONCURRENCY_PER_DESTINATION', async () => {
    await healthyArrivesFirst({ args: ['--webhook-concurrency', '8'], env: { ASYNCOPS_WEBHOOK_CONCURRENCY_PER_DESTINATION: '3' } }, 24, 3);
  });
});
