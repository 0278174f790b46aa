// Owns: the HTTP steps webhook end-to-end tests share: submit an operation, read its deliveries, wait for one.
// Not here: receivers (webhook-receiver.ts), starting servers (server.ts), assertions about payloads.
// Invariant: every wait is bounded (waitFor).

import assert from 'node:assert/strict';
import { request } from './http.ts';
import { waitFor } from './wait.ts';

/** POST /operations, asserting 202; the new operation's id. */
export async function submitOperation(base: string, body: Record<string, unknown>): Promise<string> {
  const created = await request(base, 'POST', '/operations', { body });
  assert.equal(created.status, 202, created.text);
  return created.body.id as string;
}

/** GET /operations/{id}/deliveries: each delivery with its attempts, as on the wire. */
export async function deliveriesOf(base: string, operationId: string): Promise<any[]> {
  return (await request(base, 'GET', `/operations/${operationId}/deliveries`)).body.items as any[];
}

/** The operation's one delivery, once `predicate` holds for it (asserting there is never more than one). */
export async function deliveryWhen(base: string, operationId: string, predicate: (delivery: any) => boolean, what: string, timeoutMs = 10_000): Promise<any> {
  return waitFor(
    async () => {
      const items = await deliveriesOf(base, operationId);
      assert.ok(items.length <= 1, `one delivery per operation, got ${items.length}`);
      return items[0] !== undefined && predicate(items[0]) ? items[0] : null;
    },
    { timeoutMs, intervalMs: 20, what },
  );
}
