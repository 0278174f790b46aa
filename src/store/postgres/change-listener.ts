// Owns: the NOTIFY payload format and the dedicated LISTEN connection that carries other nodes' events into the change feed.
// Not here: sending (database.ts: after the write commits, in a NOTIFY transaction or in the next claim's; a group of
// creates in insert-group.ts), the listener set (store/change-feed.ts).
// Invariant: a lost connection is retried with backoff and re-LISTENed until close(); nothing here throws into the caller.

import pg from 'pg';
import { fullJitterDelay, type BackoffPolicy } from '../../domain/backoff.ts';
import { isOperationStatus } from '../../domain/status.ts';
import type { StoreEvent } from '../store.ts';

// NOTIFY payloads must stay under 8000 bytes; leave room for the envelope.
const PAYLOAD_BUDGET = 7_800;
const RECONNECT_BACKOFF: BackoffPolicy = { baseMs: 100, maxMs: 5_000, factor: 2 };
const RECONNECT_FLOOR_MS = 50;

/**
 * One event as a short JSON array: `["c", id, version, status]`, `["d", type, runAt]`, `["x", id]`, `["r", id]` (deleted), `["w", nextAttemptAt]`,
 * `["s", nextRunAt]` (-1: none), `["h", type, until]`.
 */
type Wire = readonly [string, ...(string | number)[]];

/** Null for what is never sent: a node's own feed:resumed. */
function toWire(event: StoreEvent): Wire | null {
  switch (event.kind) {
    case 'operation:changed':
      return ['c', event.id, event.version, event.status];
    case 'operation:due':
      return ['d', event.type, event.runAt];
    case 'operation:cancel_requested':
      return ['x', event.id];
    case 'operation:deleted':
      return ['r', event.id];
    case 'delivery:due':
      return ['w', event.nextAttemptAt];
    case 'schedule:changed':
      return ['s', event.nextRunAt ?? -1];
    case 'rate_limit:held':
      return ['h', event.type, event.until];
    case 'feed:resumed':
      return null;
  }
}

function fromWire(wire: unknown): StoreEvent | null {
  if (!Array.isArray(wire)) return null;
  const [tag, a, b, c] = wire as unknown[];
  if (tag === 'c' && typeof a === 'string' && typeof b === 'number' && isOperationStatus(c)) return { kind: 'operation:changed', id: a, version: b, status: c };
  if (tag === 'd' && typeof a === 'string' && typeof b === 'number') return { kind: 'operation:due', type: a, runAt: b };
  if (tag === 'x' && typeof a === 'string') return { kind: 'operation:cancel_requested', id: a };
  if (tag === 'r' && typeof a === 'string') return { kind: 'operation:deleted', id: a };
  if (tag === 'w' && typeof a === 'number') return { kind: 'delivery:due', nextAttemptAt: a };
  if (tag === 's' && typeof a === 'number') return { kind: 'schedule:changed', nextRunAt: a < 0 ? null : a };
  if (tag === 'h' && typeof a === 'string' && typeof b === 'number') return { kind: 'rate_limit:held', type: a, until: b };
  return null;
}

/** Wake-ups say "something is due by then": per type (and for deliveries) only the earliest matters. */
export function compactEvents(events: readonly StoreEvent[]): StoreEvent[] {
  const out: StoreEvent[] = [];
  const dueByType = new Map<string, number>();
  let deliveryDue: number | null = null;
  for (const event of events) {
    if (event.kind === 'operation:due') {
      const seen = dueByType.get(event.type);
      if (seen === undefined || event.runAt < seen) dueByType.set(event.type, event.runAt);
    } else if (event.kind === 'delivery:due') {
      deliveryDue = deliveryDue === null ? event.nextAttemptAt : Math.min(deliveryDue, event.nextAttemptAt);
    } else {
      out.push(event);
    }
  }
  for (const [type, runAt] of dueByType) out.push({ kind: 'operation:due', type, runAt });
  if (deliveryDue !== null) out.push({ kind: 'delivery:due', nextAttemptAt: deliveryDue });
  return out;
}

/** How a payload from `sourceId` begins: `{"s": sourceId, ...`. */
function sourcePrefix(sourceId: string): string {
  return `{"s":${JSON.stringify(sourceId)},`;
}

/** Payloads `{"s": sourceId, "e": [wire...]}`, as few as fit under the NOTIFY size limit. */
export function encodeNotifications(sourceId: string, events: readonly StoreEvent[]): string[] {
  const envelope = (items: string[]) => `${sourcePrefix(sourceId)}"e":[${items.join(',')}]}`;
  const payloads: string[] = [];
  let items: string[] = [];
  let size = 0;
  for (const event of events) {
    const wire = toWire(event);
    if (wire === null) continue;
    const item = JSON.stringify(wire);
    const itemSize = Buffer.byteLength(item) + 1;
    if (items.length > 0 && size + itemSize > PAYLOAD_BUDGET) {
      payloads.push(envelope(items));
      items = [];
      size = 0;
    }
    items.push(item);
    size += itemSize;
  }
  if (items.length > 0) payloads.push(envelope(items));
  return payloads;
}

/** The events of a payload, unless it came from `ownSourceId` (already emitted locally) or is not ours. */
export function decodeNotification(payload: string, ownSourceId: string): StoreEvent[] {
  // A node hears every notification it sends: its own are told apart by how they begin, unparsed.
  if (payload.startsWith(sourcePrefix(ownSourceId))) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    return [];
  }
  const { s, e } = (parsed ?? {}) as { s?: unknown; e?: unknown };
  if (s === ownSourceId || !Array.isArray(e)) return [];
  return e.map(fromWire).filter((event): event is StoreEvent => event !== null);
}

export interface ChangeListenerOptions {
  readonly config: pg.ClientConfig;
  readonly channel: string;
  readonly onPayload: (payload: string) => void;
  /** LISTENing again after a lost connection: what was sent meanwhile is lost. */
  readonly onResumed: () => void;
  readonly onError: (err: unknown) => void;
}

export class ChangeListener {
  #options: ChangeListenerOptions;
  #client: pg.Client | null = null;
  #timer: NodeJS.Timeout | null = null;
  #failures = 0;
  #closed = false;

  constructor(options: ChangeListenerOptions) {
    this.#options = options;
  }

  /** The first connection; its failure fails open() so a misconfigured store is loud at start-up. */
  async start(): Promise<void> {
    await this.#connect();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => {});
  }

  async #connect(): Promise<void> {
    const client = new pg.Client(this.#options.config);
    client.on('notification', (message) => {
      if (message.channel === this.#options.channel && message.payload !== undefined) this.#options.onPayload(message.payload);
    });
    client.on('error', (err) => this.#options.onError(err));
    client.on('end', () => this.#lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${pg.escapeIdentifier(this.#options.channel)}`);
    } catch (err) {
      client.removeAllListeners('end');
      client.on('error', () => {});
      await client.end().catch(() => {});
      throw err;
    }
    if (this.#closed) {
      await client.end().catch(() => {});
      return;
    }
    this.#client = client;
    this.#failures = 0;
  }

  #lost(client: pg.Client): void {
    if (this.#closed || this.#client !== client) return;
    this.#client = null;
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    this.#failures += 1;
    const delay = RECONNECT_FLOOR_MS + fullJitterDelay(RECONNECT_BACKOFF, this.#failures);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.#closed) return;
      this.#connect().then(
        () => {
          if (!this.#closed) this.#options.onResumed();
        },
        (err: unknown) => {
          this.#options.onError(err);
          if (!this.#closed) this.#scheduleReconnect();
        },
      );
    }, delay);
    // A reconnect loop alone must not keep the process alive.
    this.#timer.unref();
  }
}
