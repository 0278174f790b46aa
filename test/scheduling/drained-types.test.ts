import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DRAINED_FOR_MS, DrainedTypes } from '../../src/scheduling/drained-types.ts';

const asked = [
  { type: 'a', limit: 3 },
  { type: 'b', limit: 3 },
];
const NOW = 1_000_000;

/** The types `drained` leaves out of a claim at `now`, with the store's mark at `writes`. */
function leftOut(drained: DrainedTypes, now = NOW, writes = 0): string[] {
  drained.refresh(writes, now);
  return ['a', 'b', 'c'].filter((type) => drained.has(type));
}

/** A claim begun and settled at NOW that took what `claimed` says. */
function emptyClaim(drained: DrainedTypes, claimed: ReadonlyMap<string, number> = new Map(), writes = 0): void {
  drained.refresh(writes, NOW);
  drained.settle(drained.mark(), asked, claimed, NOW);
}

describe('DrainedTypes', () => {
  it('leaves out each type a short claim took fewer of than its limit, not one that filled its limit', () => {
    const drained = new DrainedTypes();
    emptyClaim(drained, new Map([['a', 3]]));
    assert.deepEqual(leftOut(drained), ['b']);
  });

  it('asks again for a type once work of it due now is announced, and for every type on a doubt', () => {
    const drained = new DrainedTypes();
    emptyClaim(drained);
    drained.announce('a', NOW, NOW);
    assert.deepEqual(leftOut(drained), ['b']);
    drained.forget();
    assert.deepEqual(leftOut(drained), []);
  });

  it('asks again for a type announced due later once that time has come, though no event says so then', () => {
    const drained = new DrainedTypes();
    drained.announce('a', NOW + 50, NOW);
    emptyClaim(drained);
    assert.deepEqual(leftOut(drained, NOW + 49), ['a', 'b']);
    assert.deepEqual(leftOut(drained, NOW + 50), ['b']);
  });

  it(`leaves a type out for ${DRAINED_FOR_MS} ms at most: what no event told of is found within that`, () => {
    const drained = new DrainedTypes();
    emptyClaim(drained);
    assert.deepEqual(leftOut(drained, NOW + DRAINED_FOR_MS - 1), ['a', 'b']);
    assert.deepEqual(leftOut(drained, NOW + DRAINED_FOR_MS), []);
  });

  it('records nothing from a claim during which work was announced: it may have read the store before that work', () => {
    const drained = new DrainedTypes();
    drained.refresh(0, NOW);
    const mark = drained.mark();
    drained.announce('c', NOW, NOW);
    drained.settle(mark, asked, new Map(), NOW);
    assert.deepEqual(leftOut(drained), []);
  });

  it('asks for every type again once the store reports a write its feed did not announce, even one made during the claim', () => {
    const drained = new DrainedTypes();
    emptyClaim(drained, new Map(), 7);
    assert.deepEqual(leftOut(drained, NOW, 7), ['a', 'b']);
    assert.deepEqual(leftOut(drained, NOW, 8), []);
    emptyClaim(drained, new Map(), 8);
    // Another process wrote after the claim's mark was taken (9): the claim may not have seen it.
    assert.deepEqual(leftOut(drained, NOW, 9), []);
  });
});
