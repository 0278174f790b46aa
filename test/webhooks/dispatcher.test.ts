import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { pino } from 'pino';
import { generateWebhookSecret, verifyWebhook } from '../../src/signing/webhook-signature.ts';
import { systemClock } from '../../src/domain/clock.ts';
import { toOperationResource } from '../../src/domain/resource.ts';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { DEFAULT_TENANT } from '../../src/domain/operation.ts';
import type { Delivery, DeliveryAttempt, Store } from '../../src/store/store.ts';
import { WEBHOOK_USER_AGENT, WebhookDispatcher, type DeliveryAttemptEvent, type WebhookDispatcherOptions } from '../../src/webhooks/dispatcher.ts';
import { webhookDeliveryFactory } from '../../src/webhooks/payload.ts';
import { mockTime } from '../support/mock-time.ts';
import { waitFor } from '../support/wait.ts';
import { WebhookReceiver } from '../support/webhook-receiver.ts';

const secret = generateWebhookSecret();
const factory = webhookDeliveryFactory({
  clock: systemClock,
  renderResource: (op) => toOperationResource(op, { now: Date.now(), queuePosition: null, estimatedCompletionAt: null, route: null, includeInput: false }),
});

interface Harness {
  readonly store: Store;
  readonly receiver: WebhookReceiver;
  readonly dispatcher: WebhookDispatcher;
}

async function harness(t: TestContext, options: Partial<WebhookDispatcherOptions> = {}): Promise<Harness> {
  const store = createSqliteStore({ path: ':memory:' });
  await store.open();
  t.after(() => store.close());
  const receiver = await WebhookReceiver.start();
  t.after(() => receiver.close());
  const dispatcher = new WebhookDispatcher({
    store,
    secrets: [secret],
    logger: pino({ level: 'silent' }),
    allowPrivate: true,
    schedule: [50, 100, 200, 400],
    attemptTimeoutMs: 2_000,
    random: () => 1,
    ...options,
  });
  // Registered last, so it runs first: the dispatcher stops before the receiver and the store close.
  t.after(() => dispatcher.stop());
  return { store, receiver, dispatcher };
}

/** A completed operation with a webhook: its terminal transition writes the delivery (the outbox). */
async function completedOperation(store: Store, webhookUrl: string): Promise<Delivery> {
  const now = Date.now();
  const inserted = await store.operationInsert({
    id: `op_${now}${Math.random().toString(36).slice(2, 8)}`,
    tenant: DEFAULT_TENANT,
    type: 'report',
    input: { n: 1 },
    maxAttempts: 1,
    priority: 0,
    timeoutS: 60,
    runAt: now,
    webhookUrl,
    now,
  });
  assert.equal(inserted.kind, 'created');
  const [claimed] = await store.operationClaimDue({ now, workerId: 'w', leaseMs: 60_000, types: [{ type: 'report', limit: 1 }], limit: 1 });
  assert.ok(claimed?.leaseToken);
  const finished = await store.operationFinish({ id: claimed.id, leaseToken: claimed.leaseToken, now, status: 'completed', delivery: factory });
  assert.ok(finished);
  const [entry] = await store.deliveryListForOperation({ operationId: finished.id, tenant: DEFAULT_TENANT });
  assert.ok(entry);
  return entry.delivery;
}

/**
 * A dispatcher on mock time, its fallback poll a minute off, one slot per destination, and a receiver that never
 * answers with three deliveries older than any other: one in flight at its cap, two overdue behind it.
 */
async function behindHangingBacklog(t: TestContext) {
  const time = mockTime(t);
  const { store, receiver: healthy, dispatcher } = await harness(t, { clock: time.clock, pollMs: 60_000, concurrencyPerDestination: 1 });
  const hanging = await WebhookReceiver.start();
  t.after(() => hanging.close());
  hanging.replyWith('hang');
  for (let i = 0; i < 3; i++) await completedOperation(store, `${hanging.url}/${i}`);
  return { time, store, healthy, hanging, dispatcher };
}

async function settled(store: Store, id: string, state: Delivery['state'], timeoutMs = 5_000): Promise<Delivery> {
  return waitFor(
    async () => {
      const delivery = await store.deliveryGet({ id, tenant: DEFAULT_TENANT });
      return delivery?.state === state ? delivery : null;
    },
    { timeoutMs, what: `delivery ${id} to be ${state}` },
  );
}

const attemptsOf = (store: Store, delivery: Delivery): Promise<DeliveryAttempt[]> => store.deliveryAttempts({ deliveryId: delivery.id });

describe('WebhookDispatcher', () => {
  it('delivers once, signed so that the verifier accepts it, with the documented headers and body', async (t) => {
    const { store, receiver, dispatcher } = await harness(t);
    const delivery = await completedOperation(store, receiver.url);
    dispatcher.start();
    await settled(store, delivery.id, 'delivered');

    assert.equal(receiver.received.length, 1);
    const [request] = receiver.received;
    assert.ok(request);
    assert.equal(request.headers['content-type'], 'application/json');
    assert.equal(request.headers['user-agent'], WEBHOOK_USER_AGENT);
    assert.equal(request.headers['webhook-id'], delivery.messageId);
    const payload = await verifyWebhook<Record<string, unknown>>(secret, request.headers, request.body);
    assert.equal(payload['type'], 'operation.completed');
    assert.equal(payload['operation_id'], delivery.operationId);
    assert.equal(payload['status'], 'completed');
    assert.equal((payload['data'] as { id: string }).id, delivery.operationId);

    const attempts = await attemptsOf(store, delivery);
    assert.equal(attempts.length, 1);
    assert.equal(attempts[0]?.statusCode, 200);
    assert.equal(attempts[0]?.trigger, 'scheduled');
    assert.equal(attempts[0]?.responseSnippet, 'ok');
  });

  it('retries 500s on the schedule and delivers on attempt 4, each attempt at its due time', async (t) => {
    const time = mockTime(t);
    const recorded: DeliveryAttemptEvent[] = [];
    const { store, receiver, dispatcher } = await harness(t, { clock: time.clock, onAttempt: (event) => recorded.push(event) });
    receiver.replyWith((n) => (n <= 3 ? { status: 500, body: 'boom' } : { status: 200 }));
    const delivery = await completedOperation(store, receiver.url);
    dispatcher.start();
    // With random pinned at 1 the delays are the steps themselves. Time moves on by each step and no further, so each
    // retry is made at its due time: not before (the store hands out nothing early), not after (no more time passes).
    for (const [i, step] of [50, 100, 200].entries()) {
      await waitFor(() => recorded.length === i + 1, { what: `attempt ${i + 1} to be recorded` });
      time.tick(step);
    }
    const done = await settled(store, delivery.id, 'delivered');

    assert.equal(done.attemptCount, 4);
    const attempts = await attemptsOf(store, delivery);
    assert.deepEqual(
      attempts.map((a) => a.statusCode),
      [500, 500, 500, 200],
    );
    assert.deepEqual(
      attempts.map((a) => a.attempt),
      [1, 2, 3, 4],
    );
    assert.equal(attempts[0]?.responseSnippet, 'boom');
    assert.deepEqual(
      attempts.slice(1).map((a, i) => a.startedAt - attempts[i]!.startedAt),
      [50, 100, 200],
    );
    assert.equal(new Set(receiver.received.map((r) => r.headers['webhook-id'])).size, 1);
  });

  it('goes dead after the last attempt, and a replay delivers it at once with the same webhook-id as a manual attempt', async (t) => {
    const time = mockTime(t);
    const recorded: DeliveryAttemptEvent[] = [];
    const { store, receiver, dispatcher } = await harness(t, { clock: time.clock, schedule: [20, 40], onAttempt: (event) => recorded.push(event) });
    receiver.replyWith({ status: 502 });
    const delivery = await completedOperation(store, receiver.url);
    dispatcher.start();
    for (const [i, step] of [20, 40].entries()) {
      await waitFor(() => recorded.length === i + 1, { what: `attempt ${i + 1} to be recorded` });
      time.tick(step);
    }
    const dead = await settled(store, delivery.id, 'dead');
    assert.equal(dead.attemptCount, 3);
    assert.equal(dead.lastStatusCode, 502);

    // Time stands still from here: the replay is sent when it is stored, not at the fallback poll.
    receiver.replyWith({ status: 204 });
    const replay = await store.deliveryRetry({ id: delivery.id, tenant: DEFAULT_TENANT, now: Date.now() });
    assert.equal(replay.kind, 'scheduled');
    const delivered = await settled(store, delivery.id, 'delivered');
    assert.equal(delivered.attemptCount, 4);

    const attempts = await attemptsOf(store, delivery);
    assert.deepEqual(
      attempts.map((a) => a.trigger),
      ['scheduled', 'scheduled', 'scheduled', 'manual'],
    );
    assert.deepEqual(
      receiver.received.map((r) => r.headers['webhook-id']),
      Array(4).fill(delivery.messageId),
    );
    // A fresh timestamp and signature each attempt, all of which verify.
    for (const request of receiver.received) assert.ok(await verifyWebhook(secret, request.headers, request.body));
  });

  it('times out a receiver that never answers and retries it', async (t) => {
    const { store, receiver, dispatcher } = await harness(t, { attemptTimeoutMs: 200, leaseMs: 5_000 });
    receiver.replyWith((n) => (n === 1 ? 'hang' : { status: 200 }));
    const delivery = await completedOperation(store, receiver.url);
    dispatcher.start();
    await settled(store, delivery.id, 'delivered');

    const attempts = await attemptsOf(store, delivery);
    assert.equal(attempts.length, 2);
    assert.equal(attempts[0]?.statusCode, null);
    // The timeout set, not what name resolution and signing left of it.
    assert.equal(attempts[0]?.error, 'timed out after 200 ms');
    assert.ok(attempts[0]!.durationMs >= 150, `cut at its deadline, not before (${attempts[0]!.durationMs} ms)`);
    assert.equal(attempts[1]?.statusCode, 200);
  });

  it('stops at once on 410 Gone', async (t) => {
    const { store, receiver, dispatcher } = await harness(t);
    receiver.replyWith({ status: 410 });
    const delivery = await completedOperation(store, receiver.url);
    dispatcher.start();
    const dead = await settled(store, delivery.id, 'dead');
    assert.equal(dead.attemptCount, 1);
    assert.equal(dead.lastStatusCode, 410);
    assert.equal(dead.nextAttemptAt, null);
    assert.equal(receiver.received.length, 1);
  });

  it('honours Retry-After on a 429 within the schedule', async (t) => {
    const time = mockTime(t);
    const recorded: DeliveryAttemptEvent[] = [];
    const { store, receiver, dispatcher } = await harness(t, { clock: time.clock, schedule: [20, 3_000], onAttempt: (event) => recorded.push(event) });
    receiver.replyWith((n) => (n === 1 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 }));
    const delivery = await completedOperation(store, receiver.url);
    dispatcher.start();
    const tooMany = await waitFor(() => recorded[0], { what: 'the first attempt to be recorded' });
    // The schedule alone would have retried in 20 ms; the receiver asked for 1 s.
    assert.equal(tooMany.delivery.nextAttemptAt, Date.now() + 1_000);
    time.tick(1_000);
    await settled(store, delivery.id, 'delivered');

    const [first, second] = await attemptsOf(store, delivery);
    assert.equal(first?.statusCode, 429);
    assert.equal(second?.statusCode, 200);
    assert.equal(second!.startedAt - first!.startedAt, 1_000, 'made when the receiver asked, with no more time passing');
  });

  it('refuses a private destination at delivery time without sending, and the delivery is dead at once', async (t) => {
    const { store, receiver, dispatcher } = await harness(t, { allowPrivate: false });
    const delivery = await completedOperation(store, receiver.url);
    dispatcher.start();
    const dead = await settled(store, delivery.id, 'dead');
    assert.equal(receiver.received.length, 0);
    assert.match(dead.lastError ?? '', /refused: host 127\.0\.0\.1 is a loopback address/);
  });

  it('delivers many at once within its concurrency', async (t) => {
    const { store, receiver, dispatcher } = await harness(t, { concurrency: 2 });
    const deliveries = await Promise.all(Array.from({ length: 6 }, () => completedOperation(store, receiver.url)));
    dispatcher.start();
    for (const delivery of deliveries) await settled(store, delivery.id, 'delivered');
    assert.equal(receiver.received.length, 6);
  });

  it('holds a receiver that never answers to its share of the slots, so a healthy one is delivered before those attempts time out', async (t) => {
    // The case of the issue: 8 slots, 24 deliveries to a receiver that hangs (10 s timeout), then one to a healthy receiver.
    const recorded: DeliveryAttemptEvent[] = [];
    const {
      store,
      receiver: healthy,
      dispatcher,
    } = await harness(t, {
      concurrency: 8,
      concurrencyPerDestination: 2,
      attemptTimeoutMs: 10_000,
      leaseMs: 60_000,
      onAttempt: (event) => recorded.push(event),
    });
    const hanging = await WebhookReceiver.start();
    t.after(() => hanging.close());
    hanging.replyWith('hang');
    // Paths of their own: a destination is the origin, so they all share its two slots.
    const stuck: Delivery[] = [];
    for (let i = 0; i < 24; i++) stuck.push(await completedOperation(store, `${hanging.url}/${i}`));
    dispatcher.start();
    await waitFor(() => hanging.received.length >= 2, { what: 'the hanging receiver to hold its slots' });

    const wanted = await completedOperation(store, healthy.url);
    const first = await waitFor(() => recorded[0], { timeoutMs: 20_000, what: 'an attempt to be recorded' });
    assert.deepEqual([first.delivery.id, first.outcome], [wanted.id, 'delivered'], 'the healthy webhook arrives before the hanging ones time out');
    assert.equal(healthy.received.length, 1);
    assert.equal(hanging.received.length, 2, 'the hanging receiver holds no more than its cap');
    // The rest wait their turn, unleased and unattempted.
    const waiting = await Promise.all(stuck.map((d) => store.deliveryGet({ id: d.id, tenant: DEFAULT_TENANT })));
    assert.equal(waiting.filter((d) => d?.state === 'pending' && d.attemptCount === 0 && d.leaseToken === null).length, 22);
    // Gone, the receiver ends the attempts it holds at once, so stopping the dispatcher need not wait out their timeout.
    await hanging.close();
  });

  it('sends a receiver that did not answer one attempt at a time until it does, so stuck ones do not refill every slot from their backlogs', async (t) => {
    const recorded: DeliveryAttemptEvent[] = [];
    const {
      store,
      receiver: healthy,
      dispatcher,
    } = await harness(t, { concurrency: 4, concurrencyPerDestination: 2, attemptTimeoutMs: 300, onAttempt: (event) => recorded.push(event) });
    const stuck = [await WebhookReceiver.start(), await WebhookReceiver.start()];
    t.after(() => Promise.all(stuck.map((r) => r.close())));
    for (const receiver of stuck) {
      receiver.replyWith('hang');
      for (let i = 0; i < 12; i++) await completedOperation(store, `${receiver.url}/${i}`);
    }
    dispatcher.start();
    // Both hold their share (all four slots) until their first attempts time out.
    await waitFor(() => recorded.length >= 4, { timeoutMs: 10_000, what: 'the first attempts to time out' });
    await completedOperation(store, healthy.url);
    await waitFor(() => healthy.received.length === 1, { timeoutMs: 10_000, what: 'the healthy webhook' });
    const sentToStuck = stuck[0]!.received.length + stuck[1]!.received.length;
    // At their full share they would have taken the freed slots from their 24 (older) deliveries, round after round.
    assert.ok(sentToStuck <= 8, `${sentToStuck} attempts to the stuck receivers before the healthy one arrived`);
  });

  it("wakes for each other receiver's retry while a hanging one's backlog is overdue at its cap, not at the fallback poll", async (t) => {
    const { time, store, healthy, hanging, dispatcher } = await behindHangingBacklog(t);
    healthy.replyWith((n) => (n <= 2 ? { status: 500 } : { status: 204 }));
    const state = async (id: string) => (await store.deliveryGet({ id, tenant: DEFAULT_TENANT }))?.state;
    dispatcher.start();
    // Two retries due 20 ms apart (the schedule's first step, 50 ms, after each failed attempt).
    const first = await completedOperation(store, `${healthy.url}/first`);
    await waitFor(async () => (await state(first.id)) === 'retrying', { what: 'the first failed attempt' });
    time.tick(20);
    const second = await completedOperation(store, `${healthy.url}/second`);
    await waitFor(async () => (await state(second.id)) === 'retrying', { what: 'the second failed attempt' });
    time.tick(30);
    await settled(store, first.id, 'delivered');
    // Time stands still: only a wake-up set for the second retry, 20 ms on, brings it. The claim after the first
    // retry must not take the hanging receiver's overdue backlog for the next time to wake.
    await time.timerSet(20, 'a wake-up for the second retry');
    time.tick(20);
    await settled(store, second.id, 'delivered');
    assert.equal(hanging.received.length, 1, 'the hanging receiver still holds its one slot');
  });

  it("wakes for a retry no event told it of (written before it started) while a hanging receiver's backlog is overdue", async (t) => {
    const { time, store, healthy, hanging, dispatcher } = await behindHangingBacklog(t);
    const delivery = await completedOperation(store, healthy.url);
    // Its first attempt failed before this dispatcher started (another node's, say): due again 50 ms on.
    const now = Date.now();
    const [claimed] = await store.deliveryClaimDue({ now, workerId: 'other', leaseMs: 10_000, limit: 1, exceptDestinations: [new URL(hanging.url).origin] });
    assert.equal(claimed?.id, delivery.id);
    await store.deliveryRecordAttempt({
      id: delivery.id,
      leaseToken: claimed.leaseToken!,
      attempt: { trigger: 'scheduled', startedAt: now, durationMs: 1, statusCode: 500, error: null, responseSnippet: null },
      outcome: 'retrying',
      nextAttemptAt: now + 50,
      now,
    });
    dispatcher.start();
    await waitFor(() => hanging.received.length === 1, { what: "the hanging receiver's first attempt" });
    // The claim's read of the next due time must name the retry, not the backlog due already and held at its cap.
    await time.timerSet(50, 'a wake-up for the retry');
    time.tick(50);
    await settled(store, delivery.id, 'delivered');
  });

  it('wakes on a new delivery without waiting for the fallback poll', async (t) => {
    const time = mockTime(t);
    const { store, receiver, dispatcher } = await harness(t, { clock: time.clock, pollMs: 60_000 });
    dispatcher.start();
    await time.timerSet(60_000, 'the dispatcher asleep until its fallback poll');
    // Time stands still from here: only the store's delivery:due event can bring the dispatcher to it.
    const delivery = await completedOperation(store, receiver.url);
    await settled(store, delivery.id, 'delivered');
  });

  it('stop() waits for the attempt in flight up to its grace, then aborts it without recording', async (t) => {
    const time = mockTime(t);
    const { store, receiver, dispatcher } = await harness(t, { clock: time.clock, attemptTimeoutMs: 5_000, stopGraceMs: 100 });
    receiver.replyWith('hang');
    const delivery = await completedOperation(store, receiver.url);
    dispatcher.start();
    await waitFor(() => receiver.received.length === 1, { what: 'the request to arrive' });
    let stopped = false;
    void dispatcher.stop().then(() => (stopped = true));
    await time.timerSet(100, 'stop() waiting out its grace period');
    time.tick(99);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(stopped, false, 'the attempt still has its grace period');
    time.tick(1);
    await waitFor(() => stopped, { what: 'stop() to abort the attempt at the end of its grace period' });
    assert.equal((await attemptsOf(store, delivery)).length, 0);
    const after = await store.deliveryGet({ id: delivery.id, tenant: DEFAULT_TENANT });
    assert.equal(after?.state, 'pending');
    assert.ok(after?.leaseToken, 'the lease stays until it expires');
  });

  it('tries an attempt a stop cut off again once its lease runs out, with recovery every lease when that is under 30 s', async (t) => {
    const time = mockTime(t);
    const settings = { clock: time.clock, attemptTimeoutMs: 5_000, leaseMs: 6_000, stopGraceMs: 100 };
    const { store, receiver, dispatcher } = await harness(t, settings);
    receiver.replyWith((n) => (n === 1 ? 'hang' : { status: 200 }));
    const delivery = await completedOperation(store, receiver.url);
    dispatcher.start();
    await waitFor(() => receiver.received.length === 1, { what: 'the first attempt to arrive' });
    const stopping = dispatcher.stop();
    await time.timerSet(100, 'stop() waiting out its grace period');
    time.tick(100);
    await stopping;
    assert.ok((await store.deliveryGet({ id: delivery.id, tenant: DEFAULT_TENANT }))?.leaseToken, 'cut off, the attempt keeps its lease');

    // Another node, started before that lease runs out: its first recovery finds it held, the next one a lease later not.
    const next = new WebhookDispatcher({
      store,
      secrets: [secret],
      logger: pino({ level: 'silent' }),
      allowPrivate: true,
      schedule: [50],
      random: () => 1,
      ...settings,
    });
    t.after(() => next.stop());
    next.start();
    await time.timerSet(6_000, 'the next recovery, a lease from now (not the default 30 s)');
    time.tick(6_000);
    await settled(store, delivery.id, 'delivered');
    assert.equal(receiver.received.length, 2);
    assert.equal(receiver.received[1]?.headers['webhook-id'], delivery.messageId, 'the same message, sent again');
  });

  it('refuses a configuration it cannot run', () => {
    const store = createSqliteStore({ path: ':memory:' });
    const base = { store, secrets: [secret], logger: pino({ level: 'silent' }) };
    assert.throws(() => new WebhookDispatcher({ ...base, secrets: [] }), /at least one secret/);
    assert.throws(() => new WebhookDispatcher({ ...base, secrets: ['whsec_***'] }), /base64/);
    assert.throws(() => new WebhookDispatcher({ ...base, concurrency: 0 }), /concurrency/);
    assert.throws(() => new WebhookDispatcher({ ...base, concurrencyPerDestination: 1.5 }), /concurrencyPerDestination/);
    assert.throws(
      () => new WebhookDispatcher({ ...base, attemptTimeoutMs: 10_000, leaseMs: 5_000 }),
      /leaseMs must be at least 1s longer than attemptTimeoutMs/,
    );
    assert.throws(() => new WebhookDispatcher({ ...base, attemptTimeoutMs: 10_000, leaseMs: 10_500 }), /leaseMs must be at least 1s longer/);
    assert.throws(() => new WebhookDispatcher({ ...base, schedule: [10, -1] }), /non-negative/);
  });
});
