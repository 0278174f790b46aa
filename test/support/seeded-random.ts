// Owns: a deterministic pseudo-random source (mulberry32) for tests and the benchmark, so a seeded run repeats exactly.
// Not here: randomness the product uses (node:crypto, Math.random through injected `Random`s).

/** Numbers in [0, 1), the same sequence for the same seed. */
export function seededRandom(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
