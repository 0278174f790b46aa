// Which stored row each declared schedule is kept in: the one that declares the same, wherever it stands in its list;
// a changed one takes the row of its place; a key is never given twice.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { declaredKeys } from '../../src/domain/declared-schedules.ts';

const decl = (index: number, cron: string, input: unknown = {}, type = 'echo') => ({ type, cron, timezone: 'UTC', input, index });
const row = (key: string, cron: string, input: unknown = {}, type = 'echo') => ({ key, type, cron, timezone: 'UTC', input });

describe('declaredKeys', () => {
  it('keeps each declaration on the row that declares the same, however the list moved', () => {
    const stored = [row('echo#0', 'A'), row('echo#1', 'B')];
    assert.deepEqual(declaredKeys([decl(0, 'B')], stored), ['echo#1'], 'A removed: B keeps its row');
    assert.deepEqual(declaredKeys([decl(0, 'B'), decl(1, 'A')], stored), ['echo#1', 'echo#0'], 'swapped');
    assert.deepEqual(declaredKeys([decl(0, 'C'), decl(1, 'A'), decl(2, 'B')], stored), ['echo#2', 'echo#0', 'echo#1'], 'one added first');
    assert.deepEqual(
      declaredKeys([decl(0, 'C'), decl(1, 'B')], [row('echo#0', 'A'), row('echo#1', 'B'), row('echo#2', 'D')]),
      ['echo#0', 'echo#1'],
      'a changed one keeps its place',
    );
  });

  it('gives a changed declaration the row of its place, or the first key free, never one taken', () => {
    const stored = [row('echo#0', 'A'), row('echo#1', 'B')];
    assert.deepEqual(declaredKeys([decl(0, 'A2'), decl(1, 'B')], stored), ['echo#0', 'echo#1']);
    // C's place (1) is B's, kept: a row of its own, not the one A left (its id, its pause).
    assert.deepEqual(declaredKeys([decl(0, 'B'), decl(1, 'C')], stored), ['echo#1', 'echo#2']);
  });

  it('pairs an edited declaration with its row, by its input or its expression, when a sibling goes in the same deploy', () => {
    // A (paused, say) removed and B's expression edited at once: B keeps B's row, by its input; A's row goes.
    assert.deepEqual(declaredKeys([decl(0, 'B2', { n: 2 })], [row('echo#0', 'A', { n: 1 }), row('echo#1', 'B', { n: 2 })]), ['echo#1']);
    // B's input edited instead: by its expression.
    assert.deepEqual(declaredKeys([decl(0, 'B', { n: 3 })], [row('echo#0', 'A', { n: 1 }), row('echo#1', 'B', { n: 2 })]), ['echo#1']);
    // B's expression edited, its input {} (which tells nothing): by its zone and input, not A's place that B now stands in.
    const zoned = (key: string, cron: string, timezone: string, input: unknown = {}) => ({ ...row(key, cron, input), timezone });
    assert.deepEqual(
      declaredKeys([{ ...decl(0, 'B2'), timezone: 'Europe/Berlin' }], [zoned('echo#0', 'A', 'UTC', { k: 'five' }), zoned('echo#1', 'B', 'Europe/Berlin')]),
      ['echo#1'],
    );
    // Two rows share a zone and an input: the one an expression names goes to that declaration, the other by elimination.
    const berlin = (key: string, cron: string) => zoned(key, cron, 'Europe/Berlin');
    const declared = (index: number, cron: string, timezone: string) => ({ ...decl(index, cron), timezone });
    assert.deepEqual(
      declaredKeys(
        [declared(0, '0 9 * * *', 'Europe/Paris'), declared(1, '30 18 * * *', 'Europe/Berlin')],
        [berlin('echo#0', '0 9 * * *'), berlin('echo#1', '0 18 * * *')],
      ),
      ['echo#0', 'echo#1'],
    );
    // One edited (its zone), one added beside it with the old zone: the edited one keeps its row by its expression.
    assert.deepEqual(declaredKeys([declared(0, '0 9 * * *', 'Europe/Paris'), declared(1, '0 18 * * *', 'Europe/Berlin')], [berlin('echo#0', '0 9 * * *')]), [
      'echo#0',
      'echo#1',
    ]);
    // Two edits in one deploy, an input shared by both rows: neither takes the other's row (nor its pause).
    assert.deepEqual(
      declaredKeys(
        [decl(0, '0 9 * * *', { region: 'us' }), decl(1, '0 19 * * *', { region: 'eu' })],
        [row('echo#0', '0 9 * * *', { region: 'eu' }), row('echo#1', '0 18 * * *', { region: 'eu' })],
      ),
      ['echo#0', 'echo#1'],
    );
    // B's zone edited: by its expression.
    assert.deepEqual(
      declaredKeys([{ ...decl(0, 'B'), timezone: 'Asia/Tokyo' }], [zoned('echo#0', 'A', 'UTC', { k: 'five' }), zoned('echo#1', 'B', 'Europe/Berlin')]),
      ['echo#1'],
    );
  });

  it('reads inputs by value (key order aside), and tells types apart', () => {
    const stored = [row('echo#0', 'A', { a: 1, b: 2 }), row('other#0', 'A')];
    assert.deepEqual(declaredKeys([decl(0, 'A', { b: 2, a: 1 })], stored), ['echo#0']);
    assert.deepEqual(declaredKeys([decl(0, 'A', {}, 'other')], stored), ['other#0']);
    assert.deepEqual(declaredKeys([decl(0, 'A', { a: 1 })], [row('echo#0', 'A', { a: 2 })]), ['echo#0'], 'its place, changed');
  });

  it('two declarations alike each get a row of their own', () => {
    assert.deepEqual(declaredKeys([decl(0, 'A'), decl(1, 'A')], [row('echo#0', 'A')]), ['echo#0', 'echo#1']);
    assert.deepEqual(declaredKeys([decl(0, 'A'), decl(1, 'A')], []), ['echo#0', 'echo#1']);
  });
});
