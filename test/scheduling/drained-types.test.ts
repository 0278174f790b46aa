import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DrainedTypes } from '../../src/scheduling/drained-types.ts';

const asked = [
  { type: 'a', limit: 3 },
  { type: 'b', limit: 3 },
];

describe('DrainedTypes', () => {
  it('leaves out each type a short claim took fewer of than its limit, not one that filled its limit', () => {
    const drained = new DrainedTypes();
    const mark = drained.mark(0);
    drained.settle(mark, asked, new Map([['a', 3]]));
    assert.deepEqual([...drained.leftOut(0)], ['b']);
  });

  it('asks again for a type once work of it is announced, and for every type on a doubt', () => {
    const drained = new DrainedTypes();
    drained.settle(drained.mark(0), asked, new Map());
    drained.announce('a');
    assert.deepEqual([...drained.leftOut(0)], ['b']);
    drained.forget();
    assert.deepEqual([...drained.leftOut(0)], []);
  });

  it('records nothing from a claim during which work was announced: it may have read the store before that work', () => {
    const drained = new DrainedTypes();
    const mark = drained.mark(0);
    drained.announce('c');
    drained.settle(mark, asked, new Map());
    assert.deepEqual([...drained.leftOut(0)], []);
  });

  it('asks for every type again once the store reports a write its feed did not announce, even one made during the claim', () => {
    const drained = new DrainedTypes();
    drained.settle(drained.mark(7), asked, new Map());
    assert.deepEqual([...drained.leftOut(7)], ['a', 'b']);
    assert.deepEqual([...drained.leftOut(8)], []);
    drained.settle(drained.mark(8), asked, new Map());
    // Another process wrote after the claim's mark was taken (9): the claim may not have seen it.
    assert.deepEqual([...drained.leftOut(9)], []);
  });
});
