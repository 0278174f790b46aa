import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ID_PREFIXES, idFloorAt, isId, newId } from '../../src/domain/ids.ts';

const zeros = (n: number) => new Uint8Array(n);
const ones = (n: number) => new Uint8Array(n).fill(255);

describe('ids', () => {
  it('are the prefix, then 10 time characters and 16 random ones, URL-safe', () => {
    const id = newId(ID_PREFIXES.operation, Date.UTC(2026, 0, 1), zeros);
    assert.match(id, /^op_[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.ok(isId('op_', id));
    assert.equal(encodeURIComponent(id), id);
  });

  it('sort by creation time, whatever the random part', () => {
    const earlier = newId('op_', 1_000_000, ones);
    const later = newId('op_', 1_000_001, zeros);
    assert.ok(earlier < later);
  });

  it('differ for the same millisecond with other randomness', () => {
    assert.notEqual(newId('op_', 5, zeros), newId('op_', 5, ones));
    assert.notEqual(newId('op_', 5), newId('op_', 5));
  });

  it('stay distinct across many refills of the random pool', () => {
    const ids = new Set(Array.from({ length: 5_000 }, () => newId('op_', 5)));
    assert.equal(ids.size, 5_000);
  });

  it('idFloorAt: an id is at or above it exactly when it was made at or after that millisecond', () => {
    const floor = idFloorAt('op_', 1_000);
    assert.ok(isId('op_', floor));
    for (const random of [zeros, ones, undefined]) {
      assert.ok(newId('op_', 1_000, random) >= floor);
      assert.ok(newId('op_', 1_001, random) >= floor);
      assert.ok(newId('op_', 999, random) < floor);
    }
  });

  it('idFloorAt: a time before 1970 is the floor of every id', () => {
    assert.equal(idFloorAt('op_', -86_400_000), idFloorAt('op_', 0));
    assert.ok(isId('op_', idFloorAt('op_', -1)));
  });

  it('isId refuses other prefixes, lengths, characters', () => {
    const id = newId('op_', 5, zeros);
    assert.equal(isId('dlv_', id), false);
    assert.equal(isId('op_', `${id}A`), false);
    assert.equal(isId('op_', `${id.slice(0, -1)}U`), false);
    assert.equal(isId('op_', 'op_../../etc'), false);
    assert.equal(isId('op_', `op_${'\u0000'.repeat(26)}`), false);
  });
});
