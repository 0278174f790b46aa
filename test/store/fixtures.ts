// Owns: fixtures for store tests: drafts, delivery factories, an inserter that drives an operation to any status, and a
// schedule that fired a tick.
// Not here: assertions (contract.ts). Uses only the Store interface, so it serves every adapter.
// Invariant: ids sort in creation order (a per-process sequence feeds the id clock); time is T0-based, never read.

import { ID_PREFIXES, newId } from '../../src/domain/ids.ts';
import type { Operation } from '../../src/domain/operation.ts';
import type { OperationStatus } from '../../src/domain/status.ts';
import type { DeliveryDraft, DeliveryFactory, OperationDraft, Store } from '../../src/store/store.ts';

export const T0 = 1_700_000_000_000;
export const LEASE_MS = 30_000;
export const TENANT = 'acme';

let sequence = 0;
/** Ids that sort in the order they were made, whatever the test's `now`. */
export function nextId(prefix: string): string {
  sequence += 1;
  return newId(prefix, T0 + sequence);
}

export function draft(overrides: Partial<OperationDraft> = {}): OperationDraft {
  return {
    id: nextId(ID_PREFIXES.operation),
    tenant: TENANT,
    type: 'report',
    input: { month: '2024-01', tags: ['a', 'b'] },
    maxAttempts: 3,
    priority: 0,
    timeoutS: 60,
    runAt: T0,
    webhookUrl: null,
    now: T0,
    ...overrides,
  };
}

export const noDelivery: DeliveryFactory = () => null;

/** A factory that writes a delivery for every operation with a webhook_url, due at `dueAt`, and remembers what it saw. */
export function webhookFactory(dueAt = T0): DeliveryFactory & { seen: Operation[] } {
  const seen: Operation[] = [];
  const factory = (op: Operation): DeliveryDraft | null => {
    seen.push(op);
    if (op.webhookUrl === null) return null;
    return {
      id: nextId(ID_PREFIXES.delivery),
      messageId: nextId(ID_PREFIXES.message),
      url: op.webhookUrl,
      eventType: `operation.${op.status}`,
      payload: JSON.stringify({ id: op.id, status: op.status }),
      nextAttemptAt: dueAt,
    };
  };
  return Object.assign(factory, { seen });
}

export interface Claimed {
  readonly op: Operation;
  readonly leaseToken: string;
}

/** Claim one specific pending operation (its type must have no other due operation ahead of it). */
export async function claim(store: Store, op: Pick<Operation, 'id' | 'type'>, now = T0, workerId = 'w1'): Promise<Claimed> {
  const claimed = await store.operationClaimDue({ now, workerId, leaseMs: LEASE_MS, types: [{ type: op.type, limit: 1 }], limit: 1 });
  const got = claimed[0];
  if (got === undefined || got.id !== op.id || got.leaseToken === null) throw new Error(`fixture: could not claim ${op.id}`);
  return { op: got, leaseToken: got.leaseToken };
}

/** A schedule of `tenant` that fired one tick, at T0 + 1 s: its id, and the id of the operation the tick created. */
export async function scheduleWithTick(store: Store, tenant: string): Promise<{ scheduleId: string; operationId: string }> {
  const scheduleId = nextId('sch_');
  const tick = T0 + 1000;
  const schedule = { id: scheduleId, tenant, type: 'echo', input: {}, cron: '* * * * * *', timezone: 'UTC', webhookUrl: null, priority: 0 };
  await store.scheduleCreate({ ...schedule, nextRunAt: tick, now: T0 });
  const draftOfTick = draft({ tenant, type: 'echo', now: tick, runAt: tick });
  const fired = await store.scheduleFire({ scheduleId, expected: tick, tick, skipped: 0, nextRunAt: tick + 1000, draft: draftOfTick, now: tick });
  const operationId = fired?.operation?.id;
  if (operationId === undefined) throw new Error(`fixture: ${scheduleId} fired no operation`);
  return { scheduleId, operationId };
}

/**
 * Insert an operation and drive it to `status` through the Store API. A unique type keeps the claim on this
 * operation alone; with a `type` override, no other operation of that type may be due yet. Returns the operation as the last call left it, and the lease token while processing.
 */
export async function insertInState(
  store: Store,
  status: OperationStatus,
  overrides: Partial<OperationDraft> = {},
  delivery: DeliveryFactory = noDelivery,
): Promise<{ op: Operation; leaseToken: string | null }> {
  const d = draft({ type: `fixture-${sequence}`, ...overrides });
  const inserted = await store.operationInsert(d);
  if (inserted.kind !== 'created') throw new Error('fixture: insert did not create');
  if (status === 'pending') return { op: inserted.operation, leaseToken: null };
  if (status === 'cancelled') {
    const outcome = await store.operationCancel({ id: d.id, tenant: d.tenant, now: d.now, delivery });
    if (outcome.kind !== 'cancelled') throw new Error('fixture: cancel did not cancel');
    return { op: outcome.operation, leaseToken: null };
  }
  const { leaseToken } = await claim(store, d, Math.max(d.now, d.runAt));
  const running = await store.operationGetById(d.id);
  if (status === 'processing') return { op: running!, leaseToken };
  const finished = await store.operationFinish({
    id: d.id,
    leaseToken,
    now: Math.max(d.now, d.runAt) + 1_000,
    status,
    result: status === 'completed' ? { contentType: 'application/json', body: Buffer.from('{"ok":true}') } : undefined,
    error: status === 'failed' ? { code: 'boom', message: 'it broke' } : undefined,
    delivery,
  });
  if (finished === null) throw new Error('fixture: finish lost its lease');
  return { op: finished, leaseToken: null };
}
