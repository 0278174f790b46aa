// Owns: the outbox DeliveryFactory: the webhook event an operation's terminal transition writes (DESIGN §4).
// Not here: rendering the operation resource (domain/resource.ts, given by the caller), sending or signing.
// Invariant: the payload is the exact JSON body that is later signed and sent; it is fixed when the row is written.

import type { Clock } from '../domain/clock.ts';
import { ID_PREFIXES, newId, type RandomBytes } from '../domain/ids.ts';
import type { Operation } from '../domain/operation.ts';
import { iso, type OperationResource } from '../domain/resource.ts';
import type { DeliveryFactory } from '../store/store.ts';

export const WEBHOOK_EVENT_TYPES = ['operation.completed', 'operation.failed', 'operation.cancelled'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export interface WebhookPayload {
  readonly type: WebhookEventType;
  readonly timestamp: string;
  readonly operation_id: string;
  readonly status: Operation['status'];
  readonly result_url: string | null;
  readonly error: { readonly code: string; readonly message: string } | null;
  readonly data: OperationResource;
}

export interface WebhookDeliveryFactoryOptions {
  readonly clock: Clock;
  /** The operation resource as GET /operations/{id} renders it (the caller knows task routes). */
  readonly renderResource: (operation: Operation) => OperationResource;
  readonly randomBytes?: RandomBytes;
}

function eventType(status: Operation['status']): WebhookEventType | null {
  if (status === 'completed') return 'operation.completed';
  if (status === 'failed') return 'operation.failed';
  if (status === 'cancelled') return 'operation.cancelled';
  return null;
}

export function webhookDeliveryFactory(options: WebhookDeliveryFactoryOptions): DeliveryFactory {
  return (operation) => {
    const type = eventType(operation.status);
    if (operation.webhookUrl === null || type === null) return null;
    const now = options.clock.now();
    const data = options.renderResource(operation);
    const payload: WebhookPayload = {
      type,
      timestamp: iso(operation.finishedAt ?? now),
      operation_id: operation.id,
      status: operation.status,
      result_url: data.result_url,
      error: operation.error,
      data,
    };
    return {
      id: newId(ID_PREFIXES.delivery, now, options.randomBytes),
      messageId: newId(ID_PREFIXES.message, now, options.randomBytes),
      url: operation.webhookUrl,
      eventType: type,
      payload: JSON.stringify(payload),
      nextAttemptAt: now,
      // The trace it was created in; the worker pool puts the attempt that ended it in its place.
      trace: operation.trace ?? null,
    };
  };
}
