// Owns: contract cases for recurring schedules: create, read, list, pause/resume, delete, the declared ones kept in
// step, the due ones, and firing a tick (one operation per tick when callers race, with its pending count and events).
// Not here: which tick fires (test/domain/schedule.test.ts), the scheduler loop (e2e).
// Invariant: uses only the Store interface; time passes through `now`.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DeclaredScheduleDraft, ScheduleCreateDraft, ScheduleDraft, Store, StoreEvent } from '../../src/store/store.ts';
import type { CurrentStore } from './contract.ts';
import { draft, nextId, T0, TENANT } from './fixtures.ts';

const SECOND = 1_000;

function scheduleDraft(overrides: Partial<ScheduleCreateDraft> = {}): ScheduleCreateDraft {
  return {
    id: nextId('sch_'),
    tenant: TENANT,
    type: 'echo',
    input: { n: 1 },
    cron: '* * * * * *',
    timezone: 'UTC',
    webhookUrl: null,
    priority: 0,
    nextRunAt: T0 + SECOND,
    now: T0,
    ...overrides,
  };
}

/** Fires `tick` of `id` as a caller that read next_run_at = `tick` would. */
function fire(store: Store, id: string, tick: number, opType = 'echo') {
  return store.scheduleFire({
    scheduleId: id,
    expected: tick,
    tick,
    skipped: 0,
    nextRunAt: tick + SECOND,
    draft: draft({ type: opType, now: tick, runAt: tick }),
    now: tick,
  });
}

export function scheduleContract(store: CurrentStore, pendingCounts: (store: Store) => Promise<Map<string, number>>): void {
  /** A create no cap refuses (these drafts set none, or one not reached). */
  const createOf = async (d: ScheduleCreateDraft) => {
    const result = await store().scheduleCreate(d);
    if (result.kind === 'limit_reached') throw new Error(`refused at a cap of ${result.limit}`);
    return result;
  };

  describe('schedules', () => {
    it('creates, reads within its tenant, lists newest first with a cursor', async () => {
      const { schedule: first } = await createOf(scheduleDraft({ webhookUrl: 'https://example.com/hook', priority: -5 }));
      assert.equal(first.origin, 'api');
      assert.equal(first.priority, -5);
      assert.equal(first.paused, false);
      assert.equal(first.nextRunAt, T0 + SECOND);
      assert.deepEqual(first.input, { n: 1 });
      assert.equal(first.webhookUrl, 'https://example.com/hook');
      const { schedule: second } = await createOf(scheduleDraft());
      assert.deepEqual(await store().scheduleGet({ id: first.id, tenant: TENANT }), first);
      assert.equal(await store().scheduleGet({ id: first.id, tenant: 'other' }), null);
      const page = await store().scheduleList({ tenant: TENANT, limit: 1 });
      assert.deepEqual(
        page.map((s) => s.id),
        [second.id],
      );
      const next = await store().scheduleList({ tenant: TENANT, limit: 5, beforeId: second.id });
      assert.deepEqual(
        next.map((s) => s.id),
        [first.id],
      );
      assert.deepEqual(await store().scheduleList({ tenant: 'other', limit: 5 }), []);
    });

    it("creates once under a tenant's Idempotency-Key: a second create returns that schedule and its fingerprint, until it is deleted", async () => {
      const keyed = (overrides: Partial<ScheduleCreateDraft> = {}) => scheduleDraft({ idempotency: { key: 'deploy-7', fingerprint: 'f1' }, ...overrides });
      const first = await createOf(keyed());
      assert.equal(first.kind, 'created');
      // Also at the same moment: one schedule, the others given it.
      const again = await Promise.all([keyed(), keyed({ idempotency: { key: 'deploy-7', fingerprint: 'f2' } }), keyed()].map(createOf));
      assert.deepEqual(
        again.map((r) => [r.kind, r.schedule.id, r.kind === 'existing' ? r.fingerprint : null]),
        again.map(() => ['existing', first.schedule.id, 'f1']),
      );
      assert.deepEqual(again[0]!.schedule, first.schedule);
      // Another tenant's key of the same name, and creates without a key, are their own.
      const elsewhere = await createOf(keyed({ tenant: 'other' }));
      assert.equal(elsewhere.kind, 'created');
      const plain = await Promise.all([scheduleDraft(), scheduleDraft()].map(createOf));
      assert.deepEqual(
        plain.map((r) => r.kind),
        ['created', 'created'],
      );
      assert.equal((await store().scheduleList({ tenant: TENANT, limit: 10 })).length, 3);
      assert.equal(await store().scheduleDelete({ id: first.schedule.id, tenant: TENANT }), 'deleted');
      const afterDelete = await createOf(keyed({ idempotency: { key: 'deploy-7', fingerprint: 'f3' } }));
      assert.equal(afterDelete.kind, 'created');
      assert.notEqual(afterDelete.schedule.id, first.schedule.id);
    });

    it("creates no more than the tenant's cap, counted at once however many ask; a key's replay and other tenants are not held", async () => {
      const capped = (overrides: Partial<ScheduleCreateDraft> = {}) => scheduleDraft({ maxPerTenant: 3, ...overrides });
      const outcomes = await Promise.all(
        Array.from({ length: 6 }, (_, i) => capped(i === 0 ? { idempotency: { key: 'k', fingerprint: 'f' } } : {})).map((d) => store().scheduleCreate(d)),
      );
      assert.deepEqual(outcomes.map((r) => r.kind).sort(), ['created', 'created', 'created', 'limit_reached', 'limit_reached', 'limit_reached']);
      assert.ok(outcomes.filter((r) => r.kind === 'limit_reached').every((r) => r.kind === 'limit_reached' && r.limit === 3));
      assert.equal((await store().scheduleList({ tenant: TENANT, limit: 10 })).length, 3);
      // At the cap: a replay of a key is still the schedule it made (when its create was one of those that got in).
      if (outcomes[0]!.kind === 'created')
        assert.equal((await store().scheduleCreate(capped({ idempotency: { key: 'k', fingerprint: 'f' } }))).kind, 'existing');
      assert.equal((await store().scheduleCreate(capped({ tenant: 'other' }))).kind, 'created');
      // A task's own schedules are not counted.
      await store().scheduleSyncDeclared({ schedules: [{ ...scheduleDraft({ tenant: TENANT }), index: 0 }], now: T0 });
      const listed = await store().scheduleList({ tenant: TENANT, limit: 10 });
      assert.equal(listed.length, 4);
      assert.equal((await store().scheduleCreate(capped({ maxPerTenant: 4 }))).kind, 'created');
    });

    it('fires a due tick once: one operation, its pending count and events, the tick recorded', async () => {
      const { schedule } = await createOf(scheduleDraft());
      const events: StoreEvent[] = [];
      const unsubscribe = store().subscribe((e) => events.push(e));
      assert.deepEqual(await store().scheduleDue({ now: T0, limit: 10 }), []);
      assert.deepEqual(
        (await store().scheduleDue({ now: T0 + SECOND, limit: 10 })).map((s) => s.id),
        [schedule.id],
      );
      assert.equal(await store().scheduleNextRunAt(), T0 + SECOND);
      const fired = await fire(store(), schedule.id, T0 + SECOND);
      unsubscribe();
      assert.ok(fired !== null && fired.operation !== null);
      assert.equal(fired.schedule.nextRunAt, T0 + 2 * SECOND);
      assert.equal(fired.schedule.lastRunAt, T0 + SECOND);
      assert.equal((await store().operationGetById(fired.operation.id))?.status, 'pending');
      assert.equal((await pendingCounts(store())).get('echo'), 1);
      assert.ok(events.some((e) => e.kind === 'operation:changed' && e.id === fired.operation!.id));
      assert.ok(events.some((e) => e.kind === 'operation:due'));
      assert.ok(events.some((e) => e.kind === 'schedule:changed' && e.nextRunAt === T0 + 2 * SECOND));
      assert.deepEqual(await store().scheduleTicks({ id: schedule.id, limit: 5 }), [
        { tick: T0 + SECOND, operationId: fired.operation.id, skipped: 0, firedAt: T0 + SECOND },
      ]);
      // The same tick again (a caller that read the old next_run_at) fires nothing.
      assert.equal(await fire(store(), schedule.id, T0 + SECOND), null);
      assert.equal((await pendingCounts(store())).get('echo'), 1);
    });

    it('exactly one of several callers racing for a tick creates its operation', async () => {
      const { schedule } = await createOf(scheduleDraft());
      for (let tick = T0 + SECOND; tick <= T0 + 5 * SECOND; tick += SECOND) {
        const results = await Promise.allSettled(Array.from({ length: 4 }, () => fire(store(), schedule.id, tick)));
        const won = results.filter((r) => r.status === 'fulfilled' && r.value !== null);
        assert.equal(won.length, 1, `tick ${tick - T0}: ${JSON.stringify(results.map((r) => r.status))}`);
      }
      assert.equal((await pendingCounts(store())).get('echo'), 5);
      const ticks = await store().scheduleTicks({ id: schedule.id, limit: 10 });
      assert.deepEqual(
        ticks.map((t) => t.tick - T0),
        [5, 4, 3, 2, 1].map((s) => s * SECOND),
      );
      assert.equal(new Set(ticks.map((t) => t.operationId)).size, 5);
    });

    it('records a tick without an operation, and counts the ticks passed over', async () => {
      const { schedule } = await createOf(scheduleDraft());
      const fired = await store().scheduleFire({
        scheduleId: schedule.id,
        expected: T0 + SECOND,
        tick: T0 + 9 * SECOND,
        skipped: 8,
        nextRunAt: T0 + 10 * SECOND,
        draft: null,
        now: T0 + 9 * SECOND,
      });
      assert.equal(fired?.operation, null);
      assert.equal(fired?.schedule.skippedTicks, 8);
      assert.deepEqual(await store().scheduleTicks({ id: schedule.id, limit: 5 }), [
        { tick: T0 + 9 * SECOND, operationId: null, skipped: 8, firedAt: T0 + 9 * SECOND },
      ]);
    });

    it('keeps the most recent ticks only', async () => {
      const { schedule } = await createOf(scheduleDraft());
      for (let i = 1; i <= 25; i++) assert.ok(await fire(store(), schedule.id, T0 + i * SECOND));
      const ticks = await store().scheduleTicks({ id: schedule.id, limit: 100 });
      assert.equal(ticks.length, 20);
      assert.equal(ticks[0]?.tick, T0 + 25 * SECOND);
    });

    it('pauses (no tick is due, none fires) and resumes from the next tick given', async () => {
      const { schedule } = await createOf(scheduleDraft());
      const paused = await store().scheduleSetPaused({ id: schedule.id, tenant: TENANT, paused: true, nextRunAt: T0 + 50 * SECOND, now: T0 + 1 });
      assert.equal(paused?.paused, true);
      assert.equal(paused?.nextRunAt, T0 + SECOND);
      assert.deepEqual(await store().scheduleDue({ now: T0 + 10 * SECOND, limit: 10 }), []);
      assert.equal(await store().scheduleNextRunAt(), null);
      assert.equal(await fire(store(), schedule.id, T0 + SECOND), null);
      const resumed = await store().scheduleSetPaused({ id: schedule.id, tenant: TENANT, paused: false, nextRunAt: T0 + 50 * SECOND, now: T0 + 2 });
      assert.equal(resumed?.paused, false);
      assert.equal(resumed?.nextRunAt, T0 + 50 * SECOND);
      // Resuming a running schedule changes nothing.
      const again = await store().scheduleSetPaused({ id: schedule.id, tenant: TENANT, paused: false, nextRunAt: T0 + 99 * SECOND, now: T0 + 3 });
      assert.equal(again?.nextRunAt, T0 + 50 * SECOND);
      assert.equal(await store().scheduleSetPaused({ id: schedule.id, tenant: 'other', paused: true, nextRunAt: null, now: T0 }), null);
    });

    it('deletes one created through the API with its ticks; the operations stay', async () => {
      const { schedule } = await createOf(scheduleDraft());
      const fired = await fire(store(), schedule.id, T0 + SECOND);
      assert.equal(await store().scheduleDelete({ id: schedule.id, tenant: 'other' }), 'not_found');
      assert.equal(await store().scheduleDelete({ id: schedule.id, tenant: TENANT }), 'deleted');
      assert.equal(await store().scheduleGet({ id: schedule.id, tenant: TENANT }), null);
      assert.deepEqual(await store().scheduleTicks({ id: schedule.id, limit: 5 }), []);
      assert.ok(await store().operationGetById(fired!.operation!.id));
      assert.equal(await store().scheduleDelete({ id: schedule.id, tenant: TENANT }), 'not_found');
    });

    it('deletes one once when deletes race, the others finding it gone (not declared)', async () => {
      for (let round = 0; round < 5; round++) {
        const { schedule } = await createOf(scheduleDraft());
        const outcomes = await Promise.all(Array.from({ length: 5 }, () => store().scheduleDelete({ id: schedule.id, tenant: TENANT })));
        assert.deepEqual(outcomes.sort(), ['deleted', 'not_found', 'not_found', 'not_found', 'not_found'], `round ${round}`);
      }
    });

    const declared = (index: number, overrides: Partial<ScheduleDraft> = {}): DeclaredScheduleDraft => ({
      ...scheduleDraft({ tenant: 'default', type: 'echo', nextRunAt: T0 + 60 * SECOND, cron: '* * * * *', ...overrides }),
      index,
    });

    it('keeps declared schedules in step: one row per key however often synced, changes applied, the undeclared removed', async () => {
      await Promise.all([
        store().scheduleSyncDeclared({ schedules: [declared(0), declared(1)], now: T0 }),
        store().scheduleSyncDeclared({ schedules: [declared(0), declared(1)], now: T0 }),
      ]);
      let rows = await store().scheduleList({ tenant: 'default', limit: 10 });
      assert.equal(rows.length, 2);
      assert.ok(rows.every((s) => s.origin === 'task'));
      // echo#0 changes its expression, echo#1 is no longer declared.
      await store().scheduleSyncDeclared({ schedules: [declared(0, { cron: '*/5 * * * *', nextRunAt: T0 + 300 * SECOND })], now: T0 + 1 });
      rows = await store().scheduleList({ tenant: 'default', limit: 10 });
      assert.equal(rows.length, 1);
      assert.equal(rows[0]?.cron, '*/5 * * * *');
      assert.equal(rows[0]?.nextRunAt, T0 + 300 * SECOND);
      // Unchanged on a second sync: same next tick, same id; a declared one is not deleted through the API.
      await store().scheduleSyncDeclared({ schedules: [declared(0, { cron: '*/5 * * * *', nextRunAt: T0 + 600 * SECOND })], now: T0 + 2 });
      const [same] = await store().scheduleList({ tenant: 'default', limit: 10 });
      assert.equal(same?.id, rows[0]?.id);
      assert.equal(same?.nextRunAt, T0 + 300 * SECOND);
      assert.equal(await store().scheduleDelete({ id: same!.id, tenant: 'default' }), 'declared');
    });

    it('matches a declaration to the row that declares the same, wherever it now stands: removing or adding a sibling keeps its id and pause', async () => {
      const a = { cron: '0 0 * * *', input: { tag: 'A' } };
      const b = { cron: '*/2 * * * *', input: { tag: 'B' } };
      await store().scheduleSyncDeclared({ schedules: [declared(0, a), declared(1, b)], now: T0 });
      const rows = await store().scheduleList({ tenant: 'default', limit: 10 });
      const idOf = (tag: string, list: typeof rows) => list.find((s) => (s.input as { tag: string }).tag === tag)?.id;
      const bId = idOf('B', rows)!;
      await store().scheduleSetPaused({ id: bId, tenant: 'default', paused: true, nextRunAt: null, now: T0 + 1 });
      // A is removed from the code: B, now first in the list, keeps its row, its id and its pause.
      await store().scheduleSyncDeclared({ schedules: [declared(0, b)], now: T0 + 2 });
      let now = await store().scheduleList({ tenant: 'default', limit: 10 });
      assert.deepEqual(
        now.map((s) => [s.id, (s.input as { tag: string }).tag, s.cron, s.paused]),
        [[bId, 'B', b.cron, true]],
      );
      // A comes back, first again: a row of its own; B stays as it was.
      await store().scheduleSyncDeclared({ schedules: [declared(0, { ...a, input: { tag: 'A' } }), declared(1, { ...b, input: { tag: 'B' } })], now: T0 + 3 });
      now = await store().scheduleList({ tenant: 'default', limit: 10 });
      assert.equal(now.length, 2);
      assert.equal(now.find((s) => s.id === bId)?.paused, true, 'B keeps its pause');
      assert.equal(now.find((s) => s.id !== bId)?.paused, false, 'A is new, running');
      // A declaration whose expression changed keeps the row at its place (its pause too): the next tick is its new one.
      await store().scheduleSyncDeclared({
        schedules: [declared(0, a), declared(1, { ...b, cron: '*/3 * * * *', nextRunAt: T0 + 180 * SECOND })],
        now: T0 + 4,
      });
      const changed = (await store().scheduleList({ tenant: 'default', limit: 10 })).find((s) => s.cron === '*/3 * * * *');
      assert.deepEqual([changed?.id, changed?.paused], [bId, true]);
    });
  });
}
