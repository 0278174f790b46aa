// Owns: how the PostgreSQL store's Batcher groups calls: one write per turn (or per gathering window), items of one key
// apart, and how a failed group is answered. Not here: the statements a group runs (the PostgreSQL store tests).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Batcher } from '../../src/store/postgres/batcher.ts';
import { AsyncOpsError } from '../../src/domain/errors.ts';

/** A write that records each group it was given and answers every item doubled, or fails as `fail` says. */
function recordingWrite(fail: (items: readonly number[]) => unknown = () => null) {
  const groups: number[][] = [];
  const write = async (items: readonly number[]): Promise<number[]> => {
    groups.push([...items]);
    const error = fail(items);
    if (error !== null) throw error;
    return items.map((n) => n * 2);
  };
  return { groups, write };
}

describe('Batcher', () => {
  it('writes what is asked in one turn as one group and answers each call with its own result', async () => {
    const { groups, write } = recordingWrite();
    const batcher = new Batcher({ write, maxGroup: 10 });
    assert.deepEqual(await Promise.all([1, 2, 3].map((n) => batcher.submit(n))), [2, 4, 6]);
    assert.deepEqual(groups, [[1, 2, 3]]);
  });

  it('caps a group at maxGroup and writes the rest next, in order', async () => {
    const { groups, write } = recordingWrite();
    const batcher = new Batcher({ write, maxGroup: 2 });
    await Promise.all([1, 2, 3, 4, 5].map((n) => batcher.submit(n)));
    assert.deepEqual(groups, [[1, 2], [3, 4], [5]]);
  });

  it('never puts two items of one key in a group, and keeps the order of each key', async () => {
    const { groups, write } = recordingWrite();
    const batcher = new Batcher({ write, maxGroup: 10, keyOf: (n: number) => String(n % 10) });
    assert.deepEqual(await Promise.all([1, 11, 2, 21, 3].map((n) => batcher.submit(n))), [2, 22, 4, 42, 6]);
    assert.deepEqual(groups, [[1, 2, 3], [11], [21]]);
  });

  it('tries the items of a failed group one by one, so one bad item fails alone', async () => {
    const { groups, write } = recordingWrite((items) => (items.includes(2) ? new Error('bad item 2') : null));
    const batcher = new Batcher({ write, maxGroup: 10 });
    const settled = await Promise.allSettled([1, 2, 3].map((n) => batcher.submit(n)));
    assert.deepEqual(
      settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message)),
      [2, 'bad item 2', 6],
    );
    assert.deepEqual(groups, [[1, 2, 3], [1], [2], [3]]);
  });

  it('fails every item of a group at once when the store is unavailable, without trying each again', async () => {
    const unavailable = new AsyncOpsError('store_unavailable', 'PostgreSQL unavailable: connection refused');
    const { groups, write } = recordingWrite(() => unavailable);
    const batcher = new Batcher({ write, maxGroup: 10 });
    const settled = await Promise.allSettled([1, 2, 3].map((n) => batcher.submit(n)));
    assert.deepEqual(
      settled.map((s) => (s.status === 'rejected' ? s.reason : s.value)),
      [unavailable, unavailable, unavailable],
    );
    assert.deepEqual(groups, [[1, 2, 3]]);
    await batcher.idle();
  });

  it('with gatherMs, writes what is asked within the window, over several turns, as one group; the next group gathers anew', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { groups, write } = recordingWrite();
    const batcher = new Batcher({ write, maxGroup: 10, gatherMs: 10 });
    const first = batcher.submit(1);
    await new Promise((resolve) => setImmediate(resolve));
    t.mock.timers.tick(5);
    const second = batcher.submit(2);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(groups, [], 'nothing written within the window');
    t.mock.timers.tick(5);
    assert.deepEqual(await Promise.all([first, second]), [2, 4]);
    assert.deepEqual(groups, [[1, 2]]);
    const third = batcher.submit(3);
    const fourth = batcher.submit(4);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(groups, [[1, 2]], 'a new window for the next group');
    t.mock.timers.tick(10);
    assert.deepEqual(await Promise.all([third, fourth]), [6, 8]);
    assert.deepEqual(groups, [
      [1, 2],
      [3, 4],
    ]);
  });

  it('with gatherMs, idle() writes the group gathering now at once, without waiting out its window', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { groups, write } = recordingWrite();
    const batcher = new Batcher({ write, maxGroup: 10, gatherMs: 60_000 });
    const answered = Promise.all([batcher.submit(1), batcher.submit(2)]);
    await batcher.idle();
    assert.deepEqual(groups, [[1, 2]]);
    assert.deepEqual(await answered, [2, 4]);
  });
});
