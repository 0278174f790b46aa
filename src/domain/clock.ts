// Owns: the clock seam. Services take a Clock so tests control time instead of sleeping.

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
