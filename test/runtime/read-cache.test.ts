// Owns: the read cache's rules: time to live, dropping on change, reads in flight across a change, the size bound.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReadCache, type CachedRead } from '../../src/runtime/read-cache.ts';
import { baseResource } from '../../src/domain/resource.ts';
import { draft } from '../store/fixtures.ts';
import { operationFromDraft } from '../../src/store/store.ts';

const read = (version = 1): CachedRead => {
  const operation = { ...operationFromDraft(draft()), version };
  return { operation, standing: null, base: baseResource(operation, null, true) };
};

describe('ReadCache', () => {
  it('serves a read for its time to live, then no longer', () => {
    const cache = new ReadCache({ ttlMs: 100, maxEntries: 10 });
    const r = read();
    cache.keep('a', r, cache.ticket(), 1_000);
    assert.equal(cache.lookup('a', 1_099)?.operation, r.operation);
    assert.equal(cache.lookup('a', 1_100), undefined);
    assert.equal(cache.lookup('a', 1_050), undefined, 'an expired read is gone, not hidden');
  });

  it('does not trust a read stored "later" than now: the clock stepped back', () => {
    const cache = new ReadCache({ ttlMs: 100, maxEntries: 10 });
    cache.keep('a', read(), cache.ticket(), 1_000);
    assert.equal(cache.lookup('a', 900), undefined);
  });

  it('keeps the newer of two overlapping reads when the older comes back last', () => {
    const cache = new ReadCache({ ttlMs: 100, maxEntries: 10 });
    const ticket = cache.ticket();
    cache.keep('a', read(3), ticket, 0);
    cache.keep('a', read(2), ticket, 1);
    assert.equal(cache.lookup('a', 2)?.operation.version, 3);
  });

  it('drops a read when its operation changes, and keeps others', () => {
    const cache = new ReadCache({ ttlMs: 100, maxEntries: 10 });
    cache.keep('a', read(), cache.ticket(), 0);
    cache.keep('b', read(), cache.ticket(), 0);
    cache.changed('a');
    assert.equal(cache.lookup('a', 1), undefined);
    assert.ok(cache.lookup('b', 1));
  });

  it('does not keep a read that was in flight when its operation changed', () => {
    const cache = new ReadCache({ ttlMs: 100, maxEntries: 10 });
    const ticket = cache.ticket();
    cache.changed('a');
    cache.changed('other');
    cache.keep('a', read(), ticket, 0);
    assert.equal(cache.lookup('a', 1), undefined, 'the read may predate the change');
    cache.keep('b', read(), ticket, 0);
    assert.ok(cache.lookup('b', 1), 'changes of other operations do not matter');
  });

  it('drops every read, and keeps none in flight, when any operation may have changed unheard of', () => {
    const cache = new ReadCache({ ttlMs: 100, maxEntries: 10 });
    cache.keep('a', read(), cache.ticket(), 0);
    const ticket = cache.ticket();
    cache.changedAll();
    assert.equal(cache.lookup('a', 1), undefined);
    cache.keep('b', read(), ticket, 0);
    assert.equal(cache.lookup('b', 1), undefined);
  });

  it('keeps nothing when more changes came during a read than it remembers', () => {
    const cache = new ReadCache({ ttlMs: 100, maxEntries: 10 });
    const ticket = cache.ticket();
    for (let i = 0; i < 5_000; i++) cache.changed(`x${i}`);
    cache.keep('a', read(), ticket, 0);
    assert.equal(cache.lookup('a', 1), undefined);
  });

  it('lets reads past their time go as new ones are kept, not only when they are looked up again', () => {
    const cache = new ReadCache({ ttlMs: 100, maxEntries: 10_000 });
    for (let i = 0; i < 50; i++) cache.keep(`once-${i}`, read(), cache.ticket(), 1_000 + i);
    assert.equal(cache.size, 50);
    cache.keep('later', read(), cache.ticket(), 1_120);
    assert.equal(cache.size, 30, 'the 21 stored at 1,020 or before are past their 100 ms and gone; the rest still stand');
    cache.keep('much-later', read(), cache.ticket(), 5_000);
    assert.equal(cache.size, 1);
  });

  it('holds at most maxEntries, letting the oldest go', () => {
    const cache = new ReadCache({ ttlMs: 100, maxEntries: 2 });
    for (const id of ['a', 'b', 'c']) cache.keep(id, read(), cache.ticket(), 0);
    assert.equal(cache.lookup('a', 1), undefined);
    assert.ok(cache.lookup('b', 1));
    assert.ok(cache.lookup('c', 1));
  });

  it('keeps nothing with a time to live of 0', () => {
    const cache = new ReadCache({ ttlMs: 0, maxEntries: 10 });
    cache.keep('a', read(), cache.ticket(), 0);
    assert.equal(cache.lookup('a', 0), undefined);
    assert.equal(cache.enabled, false);
  });
});
