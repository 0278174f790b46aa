import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StallWatch } from '../../src/http/stall-watch.ts';

describe('StallWatch', () => {
  function watched(queued: { bytes: number; inFlight: number }) {
    const stalls: number[] = [];
    const watch = new StallWatch(
      () => [queued.bytes, queued.inFlight],
      1_000,
      () => stalls.push(Date.now()),
    );
    return { watch, stalls };
  }

  it('gives up on a connection whose queue did not shrink for a whole period, once', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'setImmediate', 'Date'] });
    const queued = { bytes: 500_000, inFlight: 0 };
    const { watch, stalls } = watched(queued);
    watch.backedUp();
    watch.backedUp();
    t.mock.timers.tick(0); // the sample is taken once the write is handed on
    t.mock.timers.tick(999);
    assert.equal(stalls.length, 0);
    t.mock.timers.tick(1);
    assert.equal(stalls.length, 1);
    t.mock.timers.tick(10_000);
    assert.equal(stalls.length, 1);
  });

  it('keeps a slow reader: any shrink within each period is progress, however long the whole takes', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'setImmediate', 'Date'] });
    const queued = { bytes: 500_000, inFlight: 0 };
    const { watch, stalls } = watched(queued);
    watch.backedUp();
    t.mock.timers.tick(0);
    for (let i = 0; i < 30; i++) {
      t.mock.timers.tick(900);
      queued.bytes -= 10_000;
    }
    assert.equal(stalls.length, 0, '27 s of reading 10 kB a period');
    // The shrink after the last check counts at the next; the period after that sees none.
    t.mock.timers.tick(1_000);
    assert.equal(stalls.length, 0);
    t.mock.timers.tick(1_000);
    assert.equal(stalls.length, 1, 'then nothing for a period');
  });

  it('counts a large chunk written slowly as progress: what it has left falls while the buffer stays', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'setImmediate', 'Date'] });
    const queued = { bytes: 16_000_000, inFlight: 0 };
    const { watch, stalls } = watched(queued);
    watch.backedUp();
    // Handed on at the end of the tick: libuv took a part, the rest waits in its queue.
    queued.inFlight = 15_000_000;
    t.mock.timers.tick(0);
    for (let i = 0; i < 10; i++) {
      t.mock.timers.tick(500);
      queued.inFlight -= 1_000_000;
      t.mock.timers.tick(500);
    }
    assert.equal(stalls.length, 0);
    t.mock.timers.tick(2_000);
    assert.equal(stalls.length, 1);
  });

  it('stops watching once the connection drained, and starts again at the next backlog', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'setImmediate', 'Date'] });
    const queued = { bytes: 500_000, inFlight: 0 };
    const { watch, stalls } = watched(queued);
    watch.backedUp();
    t.mock.timers.tick(0);
    t.mock.timers.tick(500);
    watch.clear();
    t.mock.timers.tick(5_000);
    assert.equal(stalls.length, 0);
    watch.backedUp();
    t.mock.timers.tick(0);
    t.mock.timers.tick(1_000);
    assert.equal(stalls.length, 1);
  });
});
