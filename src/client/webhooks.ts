// Owns: the SDK's webhook verification, typed: what a receiver gets back is the WebhookEvent the server documents.
// Not here: the signature itself (signing/webhook-signature.ts, shared with the server that signs).
// Invariant: an event is returned only once a signature over its exact bytes matched.

import {
  verifyWebhook as verifySigned,
  WebhookVerificationError,
  type VerifyWebhookOptions,
  type WebhookBody,
  type WebhookHeaderSource,
} from '../signing/webhook-signature.ts';
import type { WebhookEvent } from './types.ts';

/**
 * Verify a webhook request (Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`) and resolve with
 * its event. `rawBody` must be the bytes as received (a re-serialised body will not verify): a string, a Uint8Array
 * (Node's Buffer is one) or an ArrayBuffer (`await request.arrayBuffer()`). Any of `secret` may match (rotation): a
 * list, or a string of one or several separated by spaces or commas, as `asyncops webhook-secret` prints them.
 * Rejects with WebhookVerificationError saying what is wrong (signed JSON that is not an event object too).
 */
export async function verifyWebhook(
  secret: string | readonly string[],
  headers: WebhookHeaderSource,
  rawBody: WebhookBody,
  options?: VerifyWebhookOptions,
): Promise<WebhookEvent> {
  const event = await verifySigned<unknown>(secret, headers, rawBody, options);
  // Signed JSON of another shape (`null`, a list) is not what the type promises, and a receiver reading
  // `event.data.status` from it would throw in its own code.
  if (!isEvent(event)) throw new WebhookVerificationError('signature matches but the body is not an asyncops webhook event');
  return event;
}

function isEvent(value: unknown): value is WebhookEvent {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const { type, operation_id: operationId, data } = value as Record<string, unknown>;
  return typeof type === 'string' && typeof operationId === 'string' && data !== null && typeof data === 'object' && !Array.isArray(data);
}
