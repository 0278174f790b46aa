// Owns: the webhook deliveries the API shows and replays: a tenant's deliveries (newest first, by state; an admin's
// read: every tenant's), one operation's deliveries with every attempt, and the replay rule (only a dead delivery is replayed).
// Not here: sending them (dispatcher.ts), HTTP and cursors (http/deliveries-routes.ts). Invariant: a delivery is seen
// only by the tenant of its operation; a malformed id, another tenant's or a deleted one is not_found alike.

import type { Clock } from '../domain/clock.ts';
import type { Delivery, DeliveryAttempt } from '../domain/delivery.ts';
import { AsyncOpsError } from '../domain/errors.ts';
import { ID_PREFIXES, isId } from '../domain/ids.ts';
import type { DeliveryState } from '../domain/operation.ts';
import type { Store } from '../store/store.ts';

export interface DeliveryPage {
  readonly items: readonly Delivery[];
  /** When more follow, the id of this page's last delivery: the next page is the one below it. */
  readonly nextBeforeId: string | null;
}

export interface DeliveryWithAttempts {
  readonly delivery: Delivery;
  readonly attempts: readonly DeliveryAttempt[];
}

export class DeliveriesService {
  readonly #store: Store;
  readonly #clock: Clock;

  constructor(options: { readonly store: Store; readonly clock: Clock }) {
    this.#store = options.store;
    this.#clock = options.clock;
  }

  /** `tenant` null: every tenant's (an admin's list). `beforeId`: only deliveries with a smaller id (the page after the one that ended there). */
  async list(
    tenant: string | null,
    query: { readonly state?: DeliveryState | undefined; readonly limit: number; readonly beforeId?: string | undefined },
  ): Promise<DeliveryPage> {
    // One more than the page holds, to know whether another follows.
    const rows = await this.#store.deliveryList({ tenant, state: query.state, limit: query.limit + 1, beforeId: query.beforeId });
    const items = rows.slice(0, query.limit);
    const last = items.at(-1);
    return { items, nextBeforeId: rows.length > query.limit && last !== undefined ? last.id : null };
  }

  /**
   * Makes a dead delivery due now, its schedule started over and its webhook-id kept; anything else is a conflict.
   * `tenant` null: whichever tenant's it is (an admin's replay).
   */
  async replay(scope: string | null, id: string): Promise<Delivery> {
    if (!isId(ID_PREFIXES.delivery, id)) throw deliveryNotFound(id);
    const tenant = scope ?? (await this.#store.deliveryGet({ id, tenant: null }))?.tenant;
    if (tenant === undefined) throw deliveryNotFound(id);
    const outcome = await this.#store.deliveryRetry({ id, tenant, now: this.#clock.now() });
    if (outcome.kind === 'not_found') throw deliveryNotFound(id);
    if (outcome.kind === 'not_dead') throw new AsyncOpsError('conflict', `delivery ${id} is ${outcome.delivery.state}; only dead deliveries are replayed`);
    if (outcome.kind === 'superseded') {
      throw new AsyncOpsError(
        'conflict',
        `delivery ${id} is of an end its operation was retried past: sent now, it would reach the receiver after the rerun's`,
      );
    }
    return outcome.delivery;
  }

  /**
   * Every delivery of one operation, with each attempt; an operation that is not found is not_found, even without
   * deliveries. `tenant` null: whichever tenant's it is (an admin's read).
   */
  async forOperation(tenant: string | null, operationId: string): Promise<readonly DeliveryWithAttempts[]> {
    const operation = !isId(ID_PREFIXES.operation, operationId)
      ? null
      : tenant === null
        ? await this.#store.operationGetById(operationId)
        : await this.#store.operationGet({ id: operationId, tenant });
    if (operation === null) throw new AsyncOpsError('not_found', `no operation ${JSON.stringify(operationId.slice(0, 64))}`);
    return this.#store.deliveryListForOperation({ operationId, tenant: operation.tenant });
  }
}

function deliveryNotFound(id: string): AsyncOpsError {
  return new AsyncOpsError('not_found', `no webhook delivery ${JSON.stringify(id.slice(0, 64))}`);
}
