// Owns: the Idempotency-Key gate of one process: which (tenant, key) submits are in flight here (a second one at once
// is refused, idempotency_key_in_use), holding a key while its caller follows the new operation (Prefer: wait), and
// the fingerprint by which the store tells a replayed request from another body under the same key.
// Not here: keeping keys and their operations (store/). Invariant: a key is released however its work ends.

import { createHash } from 'node:crypto';
import { canonicalJson } from '../domain/canonical-json.ts';
import { AsyncOpsError } from '../domain/errors.ts';

export class IdempotencyGate {
  readonly #inFlight = new Set<string>();

  /** Takes the key for the submit now running; returns its release. A key already taken here is refused. */
  enter(tenant: string, key: string): () => void {
    const inFlight = slot(tenant, key);
    if (this.#inFlight.has(inFlight)) {
      throw new AsyncOpsError('idempotency_key_in_use', 'a request with this Idempotency-Key is still being processed; retry later');
    }
    this.#inFlight.add(inFlight);
    return () => this.#inFlight.delete(inFlight);
  }

  /** Holds a submit's key (without a key, nothing) while `work` runs: a retry of that request meanwhile is refused. */
  async hold<T>(tenant: string, key: string | undefined, work: () => Promise<T>): Promise<T> {
    if (key === undefined) return work();
    const inFlight = slot(tenant, key);
    this.#inFlight.add(inFlight);
    try {
      return await work();
    } finally {
      this.#inFlight.delete(inFlight);
    }
  }
}

function slot(tenant: string, key: string): string {
  return `${tenant}\u0000${key}`;
}

/** A stable hash of a submit request, for Idempotency-Key reuse checks (key order does not matter). */
export function fingerprintOf(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('base64url');
}

/**
 * A submit request's fingerprint, and those earlier versions stored for it. Before concurrency keys (0b59211,
 * 2026-12-02) a request without one hashed without the field; since, it hashes `concurrencyKey: null`.
 */
export function submitFingerprints<R extends { readonly concurrencyKey: string | null }>(request: R): { fingerprint: string; earlierFingerprints: string[] } {
  const fingerprint = fingerprintOf(request);
  if (request.concurrencyKey !== null) return { fingerprint, earlierFingerprints: [] };
  const { concurrencyKey: _, ...withoutKey } = request;
  return { fingerprint, earlierFingerprints: [fingerprintOf(withoutKey)] };
}
