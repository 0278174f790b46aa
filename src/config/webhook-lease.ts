// Owns: what a webhook attempt's lease (--webhook-lease) must be beside the attempt's timeout, and its default.
// Not here: holding and recovering leases (webhooks/dispatcher.ts). No dependencies: the CLI checks flags without the server.

/**
 * What the lease adds to the timeout by default: no heartbeat renews it, so it covers the attempt's claim and record
 * (round trips outside its timeout) and the clock differences between the nodes that compare it.
 */
const DEFAULT_WEBHOOK_LEASE_MARGIN_MS = 30_000;

/** The least it may add: the claim and the record of an attempt alone take round trips beyond its timeout. */
const MIN_WEBHOOK_LEASE_MARGIN_MS = 1_000;

export function defaultWebhookLeaseMs(timeoutMs: number): number {
  return timeoutMs + DEFAULT_WEBHOOK_LEASE_MARGIN_MS;
}

/** Why a lease of `leaseMs` cannot go with attempts of `timeoutMs`, the timeout named `timeoutName` (null: it can). */
export function webhookLeaseRefusal(leaseMs: number, timeoutMs: number, timeoutName: string): string | null {
  if (leaseMs >= timeoutMs + MIN_WEBHOOK_LEASE_MARGIN_MS) return null;
  return (
    `must be at least ${MIN_WEBHOOK_LEASE_MARGIN_MS / 1000}s longer than ${timeoutName} (${leaseMs} ms against ${timeoutMs} ms): ` +
    'no heartbeat renews it, and another node would start an attempt still running again'
  );
}
