// Owns: the operation history the API shows: one operation's events, oldest first, in pages, scoped to a tenant.
// Not here: recording events (the store's transitions), what an event holds (domain/history.ts), HTTP and cursors
// (http/history-routes.ts). Invariant: another tenant's operation, a malformed id and a deleted operation are not_found alike.

import { AsyncOpsError } from '../domain/errors.ts';
import type { HistoryEvent } from '../domain/history.ts';
import { ID_PREFIXES, isId } from '../domain/ids.ts';
import type { Store } from '../store/store.ts';

export interface HistoryPage {
  readonly items: readonly HistoryEvent[];
  /** When more follow, the seq of this page's last event: the next page is the one after it. */
  readonly nextAfterSeq: number | null;
}

export class HistoryService {
  readonly #store: Store;

  constructor(options: { readonly store: Store }) {
    this.#store = options.store;
  }

  /** `tenant` null: any tenant's operation (an admin's read). `afterSeq`: only events after it (the page after one that ended there). */
  async list(tenant: string | null, operationId: string, query: { readonly limit: number; readonly afterSeq?: number | undefined }): Promise<HistoryPage> {
    const notFound = () => new AsyncOpsError('not_found', `no operation ${JSON.stringify(operationId.slice(0, 64))}`);
    if (!isId(ID_PREFIXES.operation, operationId)) throw notFound();
    // One more than the page holds, to know whether another follows.
    const events = await this.#store.historyList({ operationId, tenant, afterSeq: query.afterSeq, limit: query.limit + 1 });
    if (events === null) throw notFound();
    const items = events.slice(0, query.limit);
    const last = items.at(-1);
    return { items, nextAfterSeq: events.length > query.limit && last !== undefined ? last.seq : null };
  }
}
