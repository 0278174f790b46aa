// Owns: public identifiers: a prefix, then a 26-character sortable id (ULID layout: 48-bit millisecond time, 80 random bits).
// Not here: where randomness or time come from; callers inject both so tests are deterministic.
// Invariant: ids made later (by ms) sort after earlier ones as plain strings; the alphabet is URL-safe.

import { randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const TIME_CHARS = 10;
const RANDOM_CHARS = 16;
const ID_BODY = new RegExp(`^[${CROCKFORD}]{${TIME_CHARS + RANDOM_CHARS}}$`);

export type RandomBytes = (size: number) => Uint8Array;

export const ID_PREFIXES = { operation: 'op_', delivery: 'dlv_', message: 'msg_', schedule: 'sch_', bulkAction: 'bulk_' } as const;

const POOL_SIZE = 4096;
let pool = Buffer.alloc(0);
let poolOffset = 0;

/** Cryptographic random bytes, drawn from a pool filled 4 KiB at a time: one call to the CSPRNG per 256 ids, not per id. */
export function pooledRandomBytes(size: number): Uint8Array {
  if (poolOffset + size > pool.length) {
    pool = randomBytes(Math.max(POOL_SIZE, size));
    poolOffset = 0;
  }
  const bytes = pool.subarray(poolOffset, poolOffset + size);
  poolOffset += size;
  return bytes;
}

export function newId(prefix: string, nowMs: number, random: RandomBytes = pooledRandomBytes): string {
  let time = '';
  let t = Math.floor(nowMs);
  for (let i = 0; i < TIME_CHARS; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const bytes = random(RANDOM_CHARS);
  let rand = '';
  for (let i = 0; i < RANDOM_CHARS; i++) rand += CROCKFORD[(bytes[i] ?? 0) % 32];
  return prefix + time + rand;
}

/**
 * The smallest id `newId(prefix, ms)` can make: an id is at or above it exactly when it was made at or after `ms`, so a
 * range of creation times is a range of ids (a list walks its index between them).
 */
export function idFloorAt(prefix: string, ms: number): string {
  // No id was made before 1970: an earlier time is the floor of them all (newId's digits need a time of at least 0).
  return newId(prefix, Math.max(0, ms), () => new Uint8Array(RANDOM_CHARS));
}

/** True when `value` is `prefix` followed by a well-formed id body; anything else is not an id of ours. */
export function isId(prefix: string, value: string): boolean {
  return value.startsWith(prefix) && ID_BODY.test(value.slice(prefix.length));
}
