// End to end on the real server process with real local receivers: what a webhook carries and how it is signed
// (checked with node:crypto directly, not our verifier), retries on a fast schedule, the dead-letter list and
// replay, timeouts, 410 and Retry-After. The outbox across SIGKILL and the SSRF guard: webhooks-safety.test.ts.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { CLI_ENTRY, startServer, type ServerProcess } from '../support/server.ts';
import { waitFor } from '../support/wait.ts';
import { request } from '../support/http.ts';
import { deliveriesOf, deliveryWhen, submitOperation as submit } from '../support/webhook-e2e.ts';
import { WebhookReceiver, type ReceivedWebhook, type Reply } from '../support/webhook-receiver.ts';

const newSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`;
const SECRET = newSecret();
const ROTATED_NEW = newSecret();
const ROTATED_OLD = newSecret();
// Nominal delays between attempts: 5 attempts over at most 3 s, each retry jittered within its own step.
const SCHEDULE_MS = [200, 400, 800, 1600];
// A retry is never early, beyond timer rounding. How late a loaded machine makes one is not asserted: that each is
// made at its due time, with no more time passing, is test/webhooks/dispatcher.test.ts's, on mock timers.
const SLACK_MS = 25;

// Long enough that a loaded machine (CI runs two test files at once on 2 cores) never times out a
// receiver that did answer, which would make a correct at-least-once redelivery look like a duplicate.
const ATTEMPT_TIMEOUT_MS = 1_500;

let server: ServerProcess;
let rotating: ServerProcess;
const receivers: WebhookReceiver[] = [];

before(async () => {
  [server, rotating] = await Promise.all([
    startServer({
      args: [
        '--allow-private-webhooks',
        '--webhook-secret',
        SECRET,
        '--webhook-schedule',
        SCHEDULE_MS.map((ms) => `${ms}ms`).join(','),
        '--webhook-timeout',
        `${ATTEMPT_TIMEOUT_MS}ms`,
      ],
    }),
    startServer({ args: ['--allow-private-webhooks', '--webhook-secret', `${ROTATED_NEW},${ROTATED_OLD}`] }),
  ]);
});
after(async () => {
  await Promise.all([server?.stop(), rotating?.stop(), ...receivers.map((r) => r.close())]);
});

async function receiver(reply?: Reply | ((n: number) => Reply)): Promise<WebhookReceiver> {
  const r = await WebhookReceiver.start();
  receivers.push(r);
  if (reply !== undefined) r.replyWith(reply);
  return r;
}

const header = (hook: ReceivedWebhook, name: string): string => {
  const value = hook.headers[name];
  assert.equal(typeof value, 'string', `header ${name}`);
  return value as string;
};

/**
 * Standard Webhooks, computed here from first principles: base64 HMAC-SHA256, keyed by the base64 after `whsec_`,
 * over "id.timestamp.body". Asserts the header offers one `v1,` signature per secret, each matching its secret.
 */
function assertSignedBy(hook: ReceivedWebhook, secrets: readonly string[]): void {
  const id = header(hook, 'webhook-id');
  const timestamp = header(hook, 'webhook-timestamp');
  assert.match(timestamp, /^\d+$/);
  assert.ok(Math.abs(Number(timestamp) - Date.now() / 1000) < 60, 'webhook-timestamp is the current unix time in seconds');
  const offered = header(hook, 'webhook-signature').split(' ');
  assert.equal(offered.length, secrets.length, 'one signature per configured secret');
  for (const entry of offered) assert.match(entry, /^v1,[A-Za-z0-9+/]+={0,2}$/);
  for (const secret of secrets) {
    const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
    const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${hook.body}`).digest('base64');
    assert.ok(offered.includes(`v1,${expected}`), 'a signature made with the secret is offered');
  }
  const stranger = createHmac('sha256', randomBytes(32)).update(`${id}.${timestamp}.${hook.body}`).digest('base64');
  assert.ok(!offered.includes(`v1,${stranger}`));
}

const gapsOf = (hooks: readonly ReceivedWebhook[]): number[] => hooks.slice(1).map((hook, i) => hook.at - hooks[i]!.at);

describe('webhooks: delivery, payload and signature', () => {
  it('a long-poll on a finished operation waits, and wakes when its webhook moves it to a new version', async () => {
    // The first attempt hangs until its timeout (1.5 s), so the operation stays finished with its webhook pending meanwhile.
    const hooks = await receiver((n) => (n === 1 ? 'hang' : { status: 204 }));
    const id = await submit(server.url, { type: 'echo', input: { n: 2 }, webhook_url: hooks.url });
    const ended = await deliveryWhen(server.url, id, () => true, 'the delivery written with the end');
    assert.equal(ended.state, 'pending');
    const finished = await request(server.url, 'GET', `/operations/${id}`);
    assert.equal(finished.body.status, 'completed');
    const askedAt = Date.now();
    const polled = await request(server.url, 'GET', `/operations/${id}`, { headers: { 'if-none-match': finished.headers.get('etag')!, prefer: 'wait=10' } });
    assert.equal(polled.status, 200, 'woken by the change, not answered 304 at once');
    assert.equal(polled.headers.get('preference-applied'), 'wait=10');
    assert.notEqual(polled.headers.get('etag'), finished.headers.get('etag'));
    assert.notEqual(polled.body.webhook.state, 'pending');
    assert.ok(Date.now() - askedAt >= 500, 'it waited for the change');
  });

  it('a completed operation is delivered once, signed with the --webhook-secret, carrying the full resource', async () => {
    const hooks = await receiver({ status: 204 });
    const id = await submit(server.url, { type: 'echo', input: { n: 1 }, webhook_url: hooks.url });
    const delivered = await deliveryWhen(server.url, id, (d) => d.state === 'delivered', 'delivery delivered');
    assert.equal(hooks.received.length, 1);
    const [hook] = hooks.received;
    assertSignedBy(hook!, [SECRET]);
    assert.match(header(hook!, 'content-type'), /^application\/json/);
    assert.match(header(hook!, 'user-agent'), /^asyncops-webhooks\//);
    assert.match(header(hook!, 'webhook-id'), /^msg_/);
    assert.equal(header(hook!, 'webhook-id'), delivered.webhook_id);

    const op = (await request(server.url, 'GET', `/operations/${id}`)).body;
    assert.deepEqual(op.webhook, { url: hooks.url, state: 'delivered' });
    const payload = JSON.parse(hook!.body);
    assert.deepEqual(Object.keys(payload).sort(), ['data', 'error', 'operation_id', 'result_url', 'status', 'timestamp', 'type']);
    assert.equal(payload.type, 'operation.completed');
    assert.equal(payload.operation_id, id);
    assert.equal(payload.status, 'completed');
    assert.equal(payload.result_url, `/echoes/${id}`);
    assert.equal(payload.error, null);
    assert.equal(payload.timestamp, op.finished_at);
    // `data` is the resource as GET renders it, fixed when the operation ended (the webhook was not yet sent).
    const { webhook: sentWebhook, ...sentRest } = payload.data;
    const { webhook: nowWebhook, ...nowRest } = op;
    assert.deepEqual(sentRest, nowRest);
    assert.equal(sentWebhook.url, nowWebhook.url);
    assert.deepEqual(payload.data.input, { n: 1 });

    assert.equal(delivered.event_type, 'operation.completed');
    assert.equal(delivered.attempt_count, 1);
    assert.equal(delivered.attempts.length, 1);
    assert.equal(delivered.attempts[0].status_code, 204);
    assert.equal(delivered.attempts[0].trigger, 'scheduled');
    assert.equal(hooks.received.length, 1, 'delivered once');
  });

  it('a failed operation sends operation.failed with its error', async () => {
    const hooks = await receiver();
    const id = await submit(server.url, { type: 'fail', input: { permanent: true, message: 'no such customer' }, webhook_url: hooks.url });
    await deliveryWhen(server.url, id, (d) => d.state === 'delivered', 'delivery delivered');
    assert.equal(hooks.received.length, 1);
    assertSignedBy(hooks.received[0]!, [SECRET]);
    const payload = JSON.parse(hooks.received[0]!.body);
    assert.equal(payload.type, 'operation.failed');
    assert.equal(payload.status, 'failed');
    assert.equal(payload.result_url, null);
    assert.deepEqual(payload.error, { code: 'handler_error', message: 'no such customer' });
    assert.equal(payload.data.status, 'failed');
    assert.deepEqual(payload.data.error, payload.error);
  });

  it('a cancelled operation sends operation.cancelled', async () => {
    const hooks = await receiver();
    const id = await submit(server.url, { type: 'sleep', input: { ms: 10 }, run_at: new Date(Date.now() + 60_000).toISOString(), webhook_url: hooks.url });
    const cancelled = await request(server.url, 'POST', `/operations/${id}/cancel`);
    assert.equal(cancelled.status, 200);
    await deliveryWhen(server.url, id, (d) => d.state === 'delivered', 'delivery delivered');
    assert.equal(hooks.received.length, 1);
    const payload = JSON.parse(hooks.received[0]!.body);
    assert.equal(payload.type, 'operation.cancelled');
    assert.equal(payload.status, 'cancelled');
    assert.equal(payload.error.code, 'cancelled');
    assert.equal(payload.result_url, null);
  });

  it('with two secrets (rotation) the header carries two v1 signatures, each verifiable with its secret', async () => {
    const hooks = await receiver();
    const id = await submit(rotating.url, { type: 'echo', input: {}, webhook_url: hooks.url });
    await deliveryWhen(rotating.url, id, (d) => d.state === 'delivered', 'delivery delivered');
    assert.equal(hooks.received.length, 1);
    assertSignedBy(hooks.received[0]!, [ROTATED_NEW, ROTATED_OLD]);
  });
});

describe('webhooks: a secret per tenant', () => {
  it("each tenant's webhooks are signed with its own secrets, derived from the server's; asyncops webhook-secret --tenant prints them", async () => {
    const keys = { acme: `acme_${randomBytes(12).toString('hex')}`, globex: `globex_${randomBytes(12).toString('hex')}` };
    const tenanted = await startServer({
      args: ['--allow-private-webhooks', '--webhook-secret', `${ROTATED_NEW},${ROTATED_OLD}`],
      env: { ASYNCOPS_API_KEYS: `acme:${keys.acme},globex:${keys.globex}` },
    });
    try {
      const hooks = await receiver();
      const submitted = await request(tenanted.url, 'POST', '/operations', {
        headers: { authorization: `Bearer ${keys.acme}` },
        body: { type: 'echo', input: {}, webhook_url: hooks.url },
      });
      assert.equal(submitted.status, 202);
      await waitFor(() => (hooks.received.length > 0 ? true : null), { timeoutMs: 15_000, what: 'the webhook' });
      // Derived as the docs say: HMAC-SHA256 of the tenant's name under each server secret, newest first.
      const derive = (secret: string, tenant: string) =>
        `whsec_${createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64'))
          .update(`asyncops webhook secret of tenant\u001f${tenant}`)
          .digest('base64')}`;
      const acme = [ROTATED_NEW, ROTATED_OLD].map((secret) => derive(secret, 'acme'));
      const printed = execFileSync(process.execPath, [CLI_ENTRY, 'webhook-secret', '--tenant', 'acme', '--webhook-secret', `${ROTATED_NEW},${ROTATED_OLD}`], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      assert.deepEqual(printed.trim().split(' '), acme, 'the CLI prints what the server signs with');
      assertSignedBy(hooks.received[0]!, acme);
      const offered = header(hooks.received[0]!, 'webhook-signature').split(' ');
      const hook = hooks.received[0]!;
      for (const other of [ROTATED_NEW, derive(ROTATED_NEW, 'globex')]) {
        const key = Buffer.from(other.slice('whsec_'.length), 'base64');
        const signature = createHmac('sha256', key)
          .update(`${header(hook, 'webhook-id')}.${header(hook, 'webhook-timestamp')}.${hook.body}`)
          .digest('base64');
        assert.ok(!offered.includes(`v1,${signature}`), 'neither the server’s own secret nor another tenant’s signs it');
      }
    } finally {
      await tenanted.stop();
    }
  });
});

describe('webhooks: retries and the dead-letter list', () => {
  it('500 three times, then 200: delivered on attempt 4, no gap shorter than the schedule says, every attempt recorded', async () => {
    const hooks = await receiver((n) => (n <= 3 ? { status: 500, body: 'try later' } : { status: 200 }));
    const id = await submit(server.url, { type: 'echo', input: {}, webhook_url: hooks.url });
    const delivery = await deliveryWhen(server.url, id, (d) => d.state === 'delivered', 'delivered on attempt 4');
    assert.equal(hooks.received.length, 4);
    assert.equal(new Set(hooks.received.map((h) => header(h, 'webhook-id'))).size, 1, 'one webhook-id across retries');
    for (const hook of hooks.received) assertSignedBy(hook, [SECRET]);
    assert.equal(new Set(hooks.received.map((h) => h.body)).size, 1, 'the same body every time');

    const gaps = gapsOf(hooks.received);
    // Retry i waits a delay within [step i-1, step i] (step 0 = 0), after the previous attempt was recorded.
    for (let i = 0; i < gaps.length; i++) {
      assert.ok(gaps[i]! >= (SCHEDULE_MS[i - 1] ?? 0) - SLACK_MS, `gap ${i + 1} (${Math.round(gaps[i]!)} ms) is not below its step`);
    }

    assert.equal(delivery.attempt_count, 4);
    assert.equal(delivery.last_status_code, 200);
    assert.equal(delivery.next_attempt_at, null);
    assert.deepEqual(
      delivery.attempts.map((a: any) => a.attempt),
      [1, 2, 3, 4],
    );
    assert.deepEqual(
      delivery.attempts.map((a: any) => a.status_code),
      [500, 500, 500, 200],
    );
    assert.deepEqual(
      delivery.attempts.map((a: any) => a.trigger),
      ['scheduled', 'scheduled', 'scheduled', 'scheduled'],
    );
    for (const attempt of delivery.attempts) {
      assert.ok(Number.isFinite(attempt.duration_ms) && attempt.duration_ms >= 0, 'latency recorded');
      assert.ok(Number.isFinite(Date.parse(attempt.started_at)));
    }
    assert.equal(delivery.attempts[0].response_snippet, 'try later');
    const op = (await request(server.url, 'GET', `/operations/${id}`)).body;
    assert.equal(op.webhook.state, 'delivered');
  });

  it('a receiver that always fails: dead, in the dead-letter list, replayed with the same webhook-id once it recovers', async () => {
    const hooks = await receiver({ status: 500 });
    const id = await submit(server.url, { type: 'echo', input: {}, webhook_url: hooks.url });
    const retrying = await deliveryWhen(server.url, id, (d) => d.state === 'retrying', 'retrying');
    const early = await request(server.url, 'POST', `/webhook-deliveries/${retrying.id}/retry`);
    assert.equal(early.status, 409, 'a delivery still retrying is not replayed');
    assert.equal(early.body.code, 'conflict');

    const dead = await deliveryWhen(server.url, id, (d) => d.state === 'dead', 'dead after the schedule', 10_000);
    assert.equal(hooks.received.length, SCHEDULE_MS.length + 1);
    assert.equal(dead.attempt_count, SCHEDULE_MS.length + 1);
    assert.equal(dead.next_attempt_at, null);
    assert.ok(dead.attempts.every((a: any) => a.status_code === 500 && a.trigger === 'scheduled'));
    assert.equal((await request(server.url, 'GET', `/operations/${id}`)).body.webhook.state, 'dead');
    const deadList = await request(server.url, 'GET', '/webhook-deliveries?state=dead');
    assert.equal(deadList.status, 200);
    assert.ok(
      deadList.body.items.some((d: any) => d.id === dead.id && d.state === 'dead'),
      'in the dead-letter list',
    );
    assert.ok(deadList.body.items.every((d: any) => d.state === 'dead'));

    hooks.replyWith({ status: 200 });
    // Sent when the replay is stored, not at the fallback poll: test/webhooks/dispatcher.test.ts shows it with time standing still.
    const replay = await request(server.url, 'POST', `/webhook-deliveries/${dead.id}/retry`);
    assert.equal(replay.status, 202);
    assert.equal(replay.body.id, dead.id);
    assert.equal(replay.body.webhook_id, dead.webhook_id);
    const delivered = await deliveryWhen(server.url, id, (d) => d.state === 'delivered', 'delivered after the replay');
    assert.equal(hooks.received.length, SCHEDULE_MS.length + 2);
    const last = hooks.received.at(-1)!;
    assert.equal(header(last, 'webhook-id'), dead.webhook_id, 'the replay keeps the webhook-id');
    assertSignedBy(last, [SECRET]);
    assert.equal(last.body, hooks.received[0]!.body);
    const manual = delivered.attempts.at(-1);
    assert.deepEqual([manual.attempt, manual.trigger, manual.status_code], [SCHEDULE_MS.length + 2, 'manual', 200]);
    assert.equal((await request(server.url, 'GET', `/operations/${id}`)).body.webhook.state, 'delivered');
    const deadNow = await request(server.url, 'GET', '/webhook-deliveries?state=dead');
    assert.ok(!deadNow.body.items.some((d: any) => d.id === dead.id), 'no longer dead');

    const again = await request(server.url, 'POST', `/webhook-deliveries/${dead.id}/retry`);
    assert.equal(again.status, 409, 'a delivered delivery is not replayed');
    assert.match(again.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.equal(again.body.code, 'conflict');
    const unknown = await request(server.url, 'POST', `/webhook-deliveries/dlv_01J00000000000000000000000/retry`);
    assert.equal(unknown.status, 404);
  });

  it('a retried operation: its earlier end’s event, not yet through, is never sent after the rerun’s, nor replayed', async () => {
    const hooks = await receiver({ status: 503 });
    const id = await submit(server.url, { type: 'fail_first_run', input: { key: `superseded-${Date.now()}` }, webhook_url: hooks.url });
    const failed = await deliveryWhen(server.url, id, (d) => d.state === 'retrying', 'the failure event retrying');
    // Refused until the retry is in: an attempt of the failure event in flight meanwhile is answered 503 too.
    assert.equal((await request(server.url, 'POST', `/operations/${id}/retry`)).status, 202);
    hooks.replyWith({ status: 204 });
    await waitFor(async () => (await deliveriesOf(server.url, id)).some((d) => d.event_type === 'operation.completed' && d.state === 'delivered'), {
      what: 'the rerun’s event delivered',
    });
    // Dead, the failure event is never claimed again; an attempt of it in flight at the retry is recorded (dead too) only
    // after the receiver has it: from then on, nothing more of it can arrive.
    await waitFor(async () => (await deliveriesOf(server.url, id)).find((d) => d.id === failed.id)?.state === 'dead', {
      // Marked when the dispatcher next comes to it, on its retry schedule: past the default 5 s on a loaded machine.
      timeoutMs: 15_000,
      what: 'the failure event dead',
    });
    const types = hooks.received.map((h) => JSON.parse(h.body).type as string);
    assert.ok(types.lastIndexOf('operation.failed') < types.indexOf('operation.completed'), `no failure event after the completion: ${types.join(', ')}`);
    assert.equal(types.at(-1), 'operation.completed');
    const superseded = (await deliveriesOf(server.url, id)).find((d) => d.id === failed.id);
    assert.deepEqual(
      [superseded.state, superseded.last_error, superseded.superseded],
      ['dead', 'superseded: the operation was retried before this event was delivered', true],
    );
    assert.equal((await deliveriesOf(server.url, id)).find((d) => d.id !== failed.id).superseded, false, 'the rerun’s own is not');
    const replay = await request(server.url, 'POST', `/webhook-deliveries/${failed.id}/retry`);
    assert.deepEqual([replay.status, replay.body.code], [409, 'conflict']);
    assert.match(replay.body.detail, /retried past/);
  });
});

describe('webhooks: timeouts, 410 and Retry-After', () => {
  it('a receiver that never answers: the attempt times out with --webhook-timeout, is recorded, and retried', async () => {
    const hooks = await receiver((n) => (n === 1 ? 'hang' : { status: 200 }));
    const id = await submit(server.url, { type: 'echo', input: {}, webhook_url: hooks.url });
    const delivery = await deliveryWhen(server.url, id, (d) => d.state === 'delivered', 'delivered after a timeout');
    assert.equal(hooks.received.length, 2);
    const [timedOut, ok] = delivery.attempts;
    assert.equal(timedOut.status_code, null);
    assert.match(timedOut.error, /timed out/);
    assert.ok(timedOut.duration_ms >= ATTEMPT_TIMEOUT_MS - 50, `the ${ATTEMPT_TIMEOUT_MS} ms deadline cut it, not sooner (${timedOut.duration_ms} ms)`);
    assert.equal(ok.status_code, 200);
  });

  it('410 Gone stops retries at once: dead after one attempt', async () => {
    const hooks = await receiver({ status: 410 });
    const id = await submit(server.url, { type: 'echo', input: {}, webhook_url: hooks.url });
    const dead = await deliveryWhen(server.url, id, (d) => d.state === 'dead', 'dead');
    assert.equal(dead.attempt_count, 1);
    assert.equal(dead.next_attempt_at, null);
    assert.equal(dead.attempts[0].status_code, 410);
    assert.equal(hooks.received.length, 1);
  });

  it('a redirect is not followed: it counts as a failed attempt and is retried', async () => {
    const elsewhere = await receiver();
    const hooks = await receiver((n) => (n === 1 ? { status: 307, headers: { location: elsewhere.url } } : { status: 200 }));
    const id = await submit(server.url, { type: 'echo', input: {}, webhook_url: hooks.url });
    const delivery = await deliveryWhen(server.url, id, (d) => d.state === 'delivered', 'delivered after a redirect');
    assert.deepEqual(
      delivery.attempts.map((a: any) => a.status_code),
      [307, 200],
    );
    assert.equal(elsewhere.received.length, 0);
  });

  it('429/503 with Retry-After is honoured, but no later than the longest step of the schedule', async () => {
    const hooks = await receiver((n) => {
      if (n === 1) return { status: 429, headers: { 'retry-after': '1' } };
      if (n === 2) return { status: 503, headers: { 'retry-after': '3600' } };
      return { status: 200 };
    });
    const id = await submit(server.url, { type: 'echo', input: {}, webhook_url: hooks.url });
    const delivery = await deliveryWhen(server.url, id, (d) => d.state === 'delivered', 'delivered after 429 and 503');
    assert.deepEqual(
      delivery.attempts.map((a: any) => a.status_code),
      [429, 503, 200],
    );
    const [afterTooMany, afterUnavailable] = gapsOf(hooks.received);
    // The schedule alone would have retried within 200 ms, then within 400 ms. Retry-After: 3600 was capped, or the
    // delivery would not have come within deliveryWhen's bound; that the cap is the longest step is test/domain/delivery.test.ts's.
    assert.ok(afterTooMany! >= 1_000 - SLACK_MS, `Retry-After: 1 honoured (${Math.round(afterTooMany!)} ms)`);
    const longest = Math.max(...SCHEDULE_MS);
    assert.ok(
      afterUnavailable! >= longest - SLACK_MS,
      `Retry-After: 3600 honoured up to the longest step, ${longest} ms (${Math.round(afterUnavailable!)} ms)`,
    );
  });
});
