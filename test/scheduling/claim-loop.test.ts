// Owns: the claim loop's wake-ups on a mock clock: each due time asked for brings a claim when it comes, however many
// were asked for before it rang, and the fallback poll stays the longest sleep.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClaimLoop } from '../../src/scheduling/claim-loop.ts';
import { systemClock, type TimerClock } from '../../src/domain/clock.ts';
import { mockTime } from '../support/mock-time.ts';
import { waitFor } from '../support/wait.ts';

describe('ClaimLoop', () => {
  it('claims at every time asked for, not only the first: ringing for one does not forget the others', async (t) => {
    const time = mockTime(t);
    const start = time.clock.now();
    const claims: number[] = [];
    const loop = new ClaimLoop({
      clock: time.clock,
      claim: async () => {
        claims.push(time.clock.now() - start);
        return false;
      },
      recover: async () => {},
      pollMs: 60_000,
      recoverEveryMs: 2 ** 30,
      onError: (err) => assert.fail(String(err)),
    });
    t.after(() => loop.stop(0, () => null));
    await loop.start();
    await waitFor(() => claims.length === 1, { what: 'the first claim' });
    // Asked for out of order, and one twice.
    for (const at of [300, 100, 200, 100]) loop.wakeAt(start + at);
    for (const [step, expected] of [
      [100, [0, 100]],
      [100, [0, 100, 200]],
      [100, [0, 100, 200, 300]],
    ] as const) {
      await time.timerSet(step, `the wake-up ${step} ms on`);
      time.tick(step);
      await waitFor(() => claims.length === expected.length, { what: `a claim at ${expected.at(-1)} ms` });
      assert.deepEqual(claims, expected);
    }
    // Nothing more asked for: the fallback poll is next.
    await time.timerSet(60_000, 'the fallback poll, from the last claim');
  });

  it('polls on through a wall clock stepped back: the fallback poll is a time to wait, not a time on the clock', async (t) => {
    let step = 0;
    const clock: TimerClock = { ...systemClock, now: () => Date.now() + step };
    let claims = 0;
    const loop = new ClaimLoop({
      clock,
      claim: async () => {
        claims += 1;
        return false;
      },
      recover: async () => {},
      pollMs: 100,
      recoverEveryMs: 2 ** 30,
      onError: (err) => assert.fail(String(err)),
    });
    t.after(() => loop.stop(0, () => null));
    await loop.start();
    await waitFor(() => claims >= 2, { what: 'a poll' });
    step = -3_600_000;
    const before = claims;
    await waitFor(() => claims >= before + 3, { what: 'polls with the clock an hour behind', timeoutMs: 3_000 });
  });
});
