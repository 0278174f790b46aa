// Owns: the schedules service on a real store with an injected clock: ticks fired on time and late, the missed-tick
// policy after downtime (one catch-up, the rest counted), pause and resume, a tick whose type is gone, declared
// schedules checked at definition and registration. Invariant: time passes only through the clock given to the service.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TaskRegistry } from '../../src/runtime/registry.ts';
import { SchedulesService, type ScheduleObserver } from '../../src/runtime/schedules.ts';
import { defineTask, type TaskDefinition } from '../../src/runtime/task.ts';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../../src/store/store.ts';

const T0 = Date.parse('2026-06-01T12:00:00Z');
const MINUTE = 60_000;
const echo = defineTask({ type: 'echo', input: { type: 'object', properties: { n: { type: 'integer' } } }, run: (input: unknown) => input });

async function setUp(t: { after: (fn: () => Promise<void>) => void }, tasks: TaskDefinition[] = [echo], maxPriority?: (tenant: string) => number) {
  const store: Store = createSqliteStore({ path: ':memory:' });
  await store.open();
  t.after(() => store.close());
  const clock = { time: T0, now: () => clock.time };
  const fired: Array<{ operation: string | null; skipped: number }> = [];
  const observer: ScheduleObserver = { tickFired: (_s, operation, skipped) => fired.push({ operation: operation?.id ?? null, skipped }) };
  const registry = new TaskRegistry(tasks);
  const service = new SchedulesService({ store, registry, clock, checkWebhookUrl: () => null, observer, maxPriority });
  return { store, clock, service, fired };
}

describe('SchedulesService', () => {
  it('fires each tick on time and late within the threshold, one operation each', async (t) => {
    const { store, clock, service, fired } = await setUp(t);
    const { schedule } = await service.create({ tenant: 't', type: 'echo', input: { n: 1 }, cron: '* * * * *' });
    assert.equal(schedule.nextRunAt, T0 + MINUTE);
    assert.deepEqual(await service.fireDue(10), { more: false, nextRunAt: T0 + MINUTE });
    clock.time = T0 + MINUTE + 5;
    assert.deepEqual(await service.fireDue(10), { more: false, nextRunAt: T0 + 2 * MINUTE });
    // 50 s late for T0+2m, and T0+3m is not due yet: T0+2m still fires as itself.
    clock.time = T0 + 2 * MINUTE + 50_000;
    await service.fireDue(10);
    assert.deepEqual(
      fired.map((f) => f.skipped),
      [0, 0],
    );
    const { ticks } = await service.get('t', schedule.id);
    assert.deepEqual(
      ticks.map((tick) => tick.tick),
      [T0 + 2 * MINUTE, T0 + MINUTE],
    );
    const operation = await store.operationGetById(ticks[0]!.operationId!);
    assert.equal(operation?.tenant, 't');
    assert.equal(operation?.scheduleId, schedule.id, 'it names the schedule that made it');
    assert.deepEqual(operation?.input, { n: 1 });
    assert.equal(operation?.runAt, clock.time, 'run_at is when it fired');
  });

  it('after downtime fires one catch-up for the most recent tick and records the skipped ones', async (t) => {
    const { clock, service, fired } = await setUp(t);
    const { schedule } = await service.create({ tenant: 't', type: 'echo', input: {}, cron: '* * * * *' });
    clock.time = T0 + 61 * MINUTE + 30_000;
    assert.deepEqual(await service.fireDue(10), { more: false, nextRunAt: T0 + 62 * MINUTE });
    assert.equal(fired.length, 1);
    assert.equal(fired[0]?.skipped, 60);
    const { schedule: after, ticks } = await service.get('t', schedule.id);
    assert.equal(after.skippedTicks, 60);
    assert.equal(after.lastRunAt, T0 + 61 * MINUTE);
    assert.deepEqual(
      ticks.map((tick) => [tick.tick, tick.skipped]),
      [[T0 + 61 * MINUTE, 60]],
    );
  });

  it('a paused schedule fires nothing; resumed, it starts from the next tick after now', async (t) => {
    const { clock, service, fired } = await setUp(t);
    const { schedule } = await service.create({ tenant: 't', type: 'echo', input: {}, cron: '* * * * *' });
    await service.pause('t', schedule.id);
    clock.time = T0 + 10 * MINUTE + 1;
    assert.deepEqual(await service.fireDue(10), { more: false, nextRunAt: null });
    // Read while paused, its next tick is the one a resume now would fire, not the one it stopped before.
    assert.equal((await service.get('t', schedule.id)).schedule.nextRunAt, T0 + 11 * MINUTE);
    assert.deepEqual(
      (await service.list('t', { limit: 10 })).items.map((s) => s.nextRunAt),
      [T0 + 11 * MINUTE],
    );
    assert.equal((await service.pause('t', schedule.id)).nextRunAt, T0 + 11 * MINUTE, 'pausing again shows the same');
    const resumed = await service.resume('t', schedule.id);
    assert.equal(resumed.nextRunAt, T0 + 11 * MINUTE);
    assert.equal(resumed.skippedTicks, 0);
    assert.equal(fired.length, 0);
    await assert.rejects(service.pause('other', schedule.id), { code: 'not_found' });
  });

  it('a tick whose type is gone passes without an operation, and the schedule goes on', async (t) => {
    const { store, clock, fired } = await setUp(t);
    const creator = new SchedulesService({ store, registry: new TaskRegistry([echo]), clock, checkWebhookUrl: () => null });
    await creator.create({ tenant: 't', type: 'echo', input: {}, cron: '* * * * *' });
    const without = new SchedulesService({
      store,
      registry: new TaskRegistry([]),
      clock,
      checkWebhookUrl: () => null,
      observer: { tickFired: (_s, operation, skipped) => fired.push({ operation: operation?.id ?? null, skipped }) },
    });
    clock.time = T0 + MINUTE;
    assert.deepEqual(await without.fireDue(10), { more: false, nextRunAt: T0 + 2 * MINUTE });
    assert.deepEqual(fired, [{ operation: null, skipped: 0 }]);
  });

  it("a task's validate that throws passes over its own tick only: the schedules due with it still fire, and it goes on", async (t) => {
    let broken = false;
    const fragile = defineTask({
      type: 'fragile',
      input: { type: 'object' },
      validate: () => {
        if (broken) throw new Error('the lookup behind validate is down');
        return [];
      },
      run: () => 1,
    });
    const { store, clock, fired } = await setUp(t, [fragile, echo]);
    const threw: Array<{ schedule: string; message: string }> = [];
    const service = new SchedulesService({
      store,
      registry: new TaskRegistry([fragile, echo]),
      clock,
      checkWebhookUrl: () => null,
      observer: { tickFired: (_s, operation, skipped) => fired.push({ operation: operation?.id ?? null, skipped }) },
      onValidateThrew: (schedule, error) => threw.push({ schedule: schedule.id, message: (error as Error).message }),
    });
    // Created first, so it is first in line at every tick.
    const { schedule: first } = await service.create({ tenant: 't', type: 'fragile', input: {}, cron: '* * * * *' });
    const { schedule: second } = await service.create({ tenant: 't', type: 'echo', input: {}, cron: '* * * * *' });
    broken = true;
    clock.time = T0 + MINUTE;
    assert.deepEqual(await service.fireDue(10), { more: false, nextRunAt: T0 + 2 * MINUTE });
    assert.deepEqual(threw, [{ schedule: first.id, message: 'the lookup behind validate is down' }]);
    assert.equal(fired.length, 2);
    const ticksOf = async (id: string) => (await service.get('t', id)).ticks.map((tick) => [tick.tick, tick.operationId === null]);
    assert.deepEqual(await ticksOf(first.id), [[T0 + MINUTE, true]], 'its tick passed without an operation');
    assert.deepEqual(await ticksOf(second.id), [[T0 + MINUTE, false]], 'the other fired as usual');
    broken = false;
    clock.time = T0 + 2 * MINUTE;
    await service.fireDue(10);
    assert.deepEqual((await ticksOf(first.id))[0], [T0 + 2 * MINUTE, false], 'once validate answers, it fires again');
  });

  it("gives its ticks' operations the schedule's priority, held to the tenant's ceiling as a submit's", async (t) => {
    const { store, clock, service } = await setUp(t, [echo], (tenant) => (tenant === 'low' ? -10 : 1000));
    const refused = async (request: Parameters<typeof service.create>[0], message: RegExp) =>
      assert.rejects(service.create(request), (error: Error & { code?: string; errors?: Array<{ path: string; message: string }> }) => {
        assert.equal(error.code, 'validation_failed');
        assert.deepEqual(
          error.errors?.map((e) => e.path),
          ['/priority'],
        );
        assert.match(error.errors?.[0]?.message ?? '', message);
        return true;
      });
    // The default 0 is over a ceiling of -10: one that names none gets the ceiling, as a submit's does.
    const { schedule: unnamed } = await service.create({ tenant: 'low', type: 'echo', input: {}, cron: '* * * * *' });
    assert.equal(unnamed.priority, -10);
    await service.delete('low', unnamed.id);
    await refused({ tenant: 'low', type: 'echo', input: {}, cron: '* * * * *', priority: -9 }, /must be <= -10/);
    await refused({ tenant: 't', type: 'echo', input: {}, cron: '* * * * *', priority: 1.5 }, /must be an integer/);
    const { schedule: low } = await service.create({ tenant: 'low', type: 'echo', input: {}, cron: '* * * * *', priority: -20 });
    const { schedule: high } = await service.create({ tenant: 't', type: 'echo', input: {}, cron: '* * * * *', priority: 50 });
    assert.deepEqual([low.priority, high.priority], [-20, 50]);
    clock.time = T0 + MINUTE;
    await service.fireDue(10);
    const priorities = await Promise.all(
      [low, high].map(async (s) => (await store.operationGetById((await service.get(null, s.id)).ticks[0]!.operationId!))?.priority),
    );
    assert.deepEqual(priorities, [-20, 50]);
  });

  it('takes an input left out or null as {}, as a create does: checked, kept and handed on as that', async (t) => {
    const free = defineTask({ type: 'free', run: (input: unknown) => input });
    const { service, store } = await setUp(t, [echo, free]);
    for (const [type, input] of [
      ['echo', undefined],
      ['echo', null],
      ['free', undefined],
      ['free', null],
    ] as const) {
      const { schedule } = await service.create({ tenant: 't', type, input, cron: '* * * * *' });
      assert.deepEqual(schedule.input, {}, `${type} ${String(input)}`);
      assert.deepEqual((await store.scheduleGet({ id: schedule.id, tenant: 't' }))?.input, {}, `${type} ${String(input)}, stored`);
    }
  });

  it('refuses a bad expression, zone, type or input, naming the field', async (t) => {
    const { service } = await setUp(t);
    await assert.rejects(service.create({ tenant: 't', type: 'echo', input: {}, cron: '* * *' }), { code: 'validation_failed' });
    await assert.rejects(service.create({ tenant: 't', type: 'echo', input: {}, cron: '* * * * *', timezone: 'Nope/Nowhere' }), (error: Error) => {
      assert.deepEqual(
        (error as unknown as { errors: Array<{ path: string }> }).errors.map((e) => e.path),
        ['/timezone'],
      );
      return true;
    });
    await assert.rejects(service.create({ tenant: 't', type: 'echo', input: { n: 'x' }, cron: '* * * * *' }), { code: 'validation_failed' });
    await assert.rejects(service.create({ tenant: 't', type: 'nope', input: {}, cron: '* * * * *' }), { code: 'unknown_task_type' });
  });

  it('stores the declared schedules, and a definition or registration with a bad one fails', async (t) => {
    const nightly = defineTask({
      type: 'nightly',
      input: { type: 'object', properties: { scope: { type: 'string' } }, additionalProperties: false },
      schedule: { cron: '0 3 * * *', timezone: 'Europe/Berlin', input: { scope: 'all' } },
      run: () => null,
    });
    const { store, service } = await setUp(t, [echo, nightly]);
    await service.syncDeclared();
    await service.syncDeclared();
    const [declared, ...rest] = await store.scheduleList({ tenant: 'default', limit: 10 });
    assert.deepEqual(rest, []);
    assert.equal(declared?.origin, 'task');
    assert.equal(declared?.nextRunAt, Date.parse('2026-06-02T01:00:00Z'));
    assert.throws(() => defineTask({ type: 'bad', schedule: { cron: 'daily' }, run: () => null }), /schedule: cron/);
    assert.throws(() => defineTask({ type: 'bad', schedule: [{ cron: '* * * * *', timezone: 'Nope/Nowhere' }], run: () => null }), /schedule\[0\]: timezone/);
    // From plain JavaScript: a zone that is not a string is named, not a TypeError from inside the check.
    for (const [input, message] of [
      [{ at: new Date(Number.NaN) }, /^TypeError: defineTask\(bad\): schedule: input\/at is an invalid Date/],
      [{ ratio: Number.NaN }, /^TypeError: defineTask\(bad\): schedule: input\/ratio is a number JSON cannot carry/],
      [{ tags: new Map() }, /^TypeError: defineTask\(bad\): schedule: input\/tags is a Map/],
    ] as const) {
      assert.throws(() => defineTask({ type: 'bad', schedule: { cron: '* * * * *', input }, run: () => null }), message);
    }
    const numericZone = { cron: '* * * * *', timezone: 5 as unknown as string };
    assert.throws(
      () => defineTask({ type: 'bad', schedule: numericZone, run: () => null }),
      /^TypeError: defineTask\(bad\): schedule: timezone must be a string$/,
    );
    assert.throws(() => new TaskRegistry([{ ...nightly, schedule: { cron: '0 3 * * *', input: { scope: 7 } } }]), /schedule 0 input: \/input\/scope/);
    // A name neither takes, from plain JavaScript, would be ignored for its default: `timeZone` would read the
    // expression in UTC, `schedules` would declare nothing. Each is refused, with the name it is nearest to.
    const untyped = (definition: object) => () => defineTask(definition as never);
    assert.throws(
      untyped({ type: 'bad', schedule: { cron: '0 3 * * *', timeZone: 'Europe/Berlin' }, run: () => null }),
      /^TypeError: defineTask\(bad\): schedule: unknown option "timeZone" \(did you mean "timezone"\?\)$/,
    );
    assert.throws(
      untyped({ type: 'bad', schedule: [{ cron: '0 3 * * *' }, { cron: '0 0 * * *', priority: 5 }], run: () => null }),
      /^TypeError: defineTask\(bad\): schedule\[1\]: unknown option "priority"$/,
    );
    assert.throws(
      untyped({ type: 'bad', schedules: { cron: '0 3 * * *' }, run: () => null }),
      /^TypeError: defineTask\(bad\): unknown option "schedules" \(did you mean "schedule"\?\)$/,
    );
    assert.throws(
      untyped({ type: 'bad', timeout: 5, run: () => null }),
      /^TypeError: defineTask\(bad\): unknown option "timeout" \(did you mean "timeoutS"\?\)$/,
    );
    assert.throws(() => new TaskRegistry([{ ...nightly, concurency: 2 } as never]), /unknown option "concurency" \(did you mean "concurrency"\?\)/);
  });
});
