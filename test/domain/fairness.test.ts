import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fairPosition, laneTurns, shareTurns, startPasses, Turns, type Contender } from '../../src/domain/fairness.ts';
import { fairQueuePosition, mergeTypes, queuePosition, type TenantQueued } from '../../src/domain/queue.ts';

/** Drives shareTurns with tenants that have `have` operations each; returns the turn order. */
function share(contenders: readonly Contender[], n: number, have: Record<string, number>, turns = new Turns(contenders)): string[] {
  const left = { ...have };
  const rounds = shareTurns(turns, n);
  let round = rounds.next();
  while (!round.done) {
    const got = new Map<string, number>();
    for (const [name, k] of round.value) {
      const g = Math.min(k, left[name] ?? 0);
      left[name] = (left[name] ?? 0) - g;
      got.set(name, g);
    }
    round = rounds.next(got);
  }
  return round.value;
}

const fresh = (name: string, weight = 1): Contender => ({ name, pass: null, weight });

describe('turns between tenants (stride scheduling)', () => {
  it('goes round the tenants, one turn each, whatever their backlogs', () => {
    assert.deepEqual(share([fresh('a'), fresh('b'), fresh('c')], 7, { a: 1000, b: 1, c: 1000 }), ['a', 'b', 'c', 'a', 'c', 'a', 'c']);
  });

  it('gives a tenant with weight 2 twice the turns', () => {
    const order = share([fresh('a', 2), fresh('b')], 30, { a: 100, b: 100 });
    assert.equal(order.filter((t) => t === 'a').length, 20);
    assert.equal(order.filter((t) => t === 'b').length, 10);
  });

  it('lets a newcomer (no pass yet) go first among those at the least pass, so it waits no more than one turn', () => {
    assert.deepEqual(share([{ name: 'a', pass: 7, weight: 1 }, fresh('b')], 3, { a: 100, b: 1 }), ['b', 'a', 'a']);
  });

  it('clamps passes into [least, least + 1/weight]: an idle tenant banks no credit, one left ahead owes no turns', () => {
    const start = startPasses([
      { name: 'idle', pass: 2, weight: 1 },
      { name: 'busy', pass: 50, weight: 1 },
      { name: 'ahead', pass: 900, weight: 2 },
    ]);
    assert.deepEqual(
      [...start].map(([name, s]) => [name, s.pass]),
      [
        ['idle', 2],
        ['busy', 3],
        ['ahead', 2.5],
      ],
    );
  });

  it('shares the turns one tenant cannot use among the others', () => {
    assert.deepEqual(share([fresh('a'), fresh('b')], 5, { a: 1, b: 10 }), ['a', 'b', 'b', 'b', 'b']);
    // The one turn goes to a first, which has nothing it may run now (not due yet): b takes it, the claim is not empty.
    assert.deepEqual(share([fresh('a'), fresh('b')], 1, { a: 0, b: 10 }), ['b']);
  });

  it('records the passes of those that took turns, and of the new where they joined', () => {
    const turns = new Turns([fresh('a'), { name: 'b', pass: 0, weight: 4 }, { name: 'c', pass: 0.25, weight: 1 }]);
    turns.take('b');
    turns.take('b');
    assert.deepEqual(turns.passes(), [
      ['*', 0.25],
      ['a', 0],
      ['b', 0.5],
    ]);
  });
});

describe('the global pass (the last turn taken), where the turns start from', () => {
  const contenders: Contender[] = [
    { name: 'early', pass: 0, weight: 1 },
    { name: 'heavy', pass: 5, weight: 2 },
    { name: 'light', pass: 5, weight: 1 },
  ];

  it("holds no one at a waiting contender's pass, and is written with the passes, first", () => {
    // early has nothing due: held to its pass 0 (the least stored), the others were clamped to 0.5 and 1, claim after claim.
    const turns = new Turns(contenders, 5);
    const order = share(contenders, 6, { early: 0, heavy: 100, light: 100 }, turns);
    assert.deepEqual([...order].sort(), ['heavy', 'heavy', 'heavy', 'heavy', 'light', 'light']);
    // early, behind where the claim started, is placed where it joined (as a new one is), whether or not it took a turn.
    assert.deepEqual(turns.passes(), [
      ['*', 6.5],
      ['early', 5],
      ['heavy', 7],
      ['light', 7],
    ]);
  });

  it('lets a contender back after a while join at it, banking no credit for the turns the others took meanwhile', () => {
    const back: Contender[] = [
      { name: 'c', pass: 1, weight: 1 },
      { name: 'd', pass: 21, weight: 1 },
    ];
    // Claim by claim, one turn each: without it the least stored pass (c's) was the floor, d was held to it plus one, and
    // c took every turn until its pass came back to d's 21.
    const passes = new Map(back.map((c) => [c.name, c.pass!]));
    let global = 20.5;
    const order: string[] = [];
    for (let i = 0; i < 6; i++) {
      const turns = new Turns(
        back.map((c) => ({ ...c, pass: passes.get(c.name)! })),
        global,
      );
      const [name] = share(back, 1, { c: 100, d: 100 }, turns);
      order.push(name!);
      for (const [who, pass] of turns.passes())
        if (who === '*') global = pass;
        else passes.set(who, pass);
    }
    assert.deepEqual(order, ['c', 'd', 'c', 'd', 'c', 'd']);
  });

  it('places positions as the claims do', () => {
    const tenants = contenders.map((c) => ({ ...c, due: c.name === 'early' ? 0 : 50 }));
    // light's third turn is at pass 7; heavy (weight 2, from 5) has 5, 5.5, 6, 6.5 before it and wins the tie at 7 by
    // name. Held to early's pass 0, light's turn would be at 3, with heavy's six from 0.5 before it.
    assert.equal(fairPosition('light', 2, tenants, 5), 2 + 5);
    assert.equal(fairPosition('light', 2, tenants), 2 + 6);
  });
});

describe('turns between the keys of a tenant', () => {
  const q = (id: string, priority = 0) => ({ id, type: 't', priority, runAt: 0 });

  it('alternates between keys, the highest priority first, within what each may start', () => {
    const lanes = [
      { key: 'k1', heads: [q('a1'), q('a2'), q('a3')] },
      { key: 'k2', heads: [q('b1')] },
      { key: '', heads: [q('n1', 5)] },
    ];
    const starts = startPasses(lanes.map((l) => ({ name: l.key, pass: null, weight: 1 })));
    const { taken, passes } = laneTurns(lanes, 5, starts);
    assert.deepEqual(
      taken.map((t) => t.id),
      ['n1', 'a1', 'b1', 'a2', 'a3'],
    );
    assert.deepEqual(passes, [
      ['', 1],
      ['k1', 3],
      ['k2', 1],
    ]);
  });
});

describe('turns between the keys of a tenant, claim after claim', () => {
  const q = (id: string) => ({ id, type: 't', priority: 0, runAt: 0 });

  it('counts the turns a key took earlier in the claim (a claim of several rounds asks again for each)', () => {
    const lanes = [
      { key: 'k1', heads: [q('a1'), q('a2')] },
      { key: 'k2', heads: [q('b1'), q('b2')] },
    ];
    const starts = startPasses(lanes.map((l) => ({ name: l.key, pass: null, weight: 1 })));
    // k1 took the first round's turn: the second round's goes to k2, not to k1 again.
    assert.deepEqual(
      laneTurns(lanes, 1, starts, new Map([['k1', 1]])).taken.map((t) => t.id),
      ['b1'],
    );
  });
});

describe('fair queue positions (the reference model)', () => {
  const op = (id: string, tenant: string, priority = 0, runAt = 0): TenantQueued => ({ id, type: 't', tenant, priority, runAt });

  it('puts a lone operation of a second tenant one turn from the head, not behind the backlog', () => {
    const backlog = Array.from({ length: 2000 }, (_, i) => op(`a${String(i).padStart(5, '0')}`, 'a'));
    const lone = op('b', 'b');
    assert.equal(fairQueuePosition(lone, [...backlog, lone], 0), 1, 'both new: a goes first by name');
    assert.equal(fairQueuePosition(lone, [...backlog, lone], 0, new Map([['a', 3]])), 0, 'a newcomer goes first at the least pass');
    assert.equal(
      fairQueuePosition(
        lone,
        [...backlog, lone],
        0,
        new Map([
          ['a', 3],
          ['b', 3],
        ]),
      ),
      1,
      'then by name',
    );
    assert.equal(fairQueuePosition(backlog[10]!, [...backlog, lone], 0), 11, 'ten of its own and the one turn of b');
  });

  it('is the plain position with one tenant', () => {
    const pending = [op('x1', 'a', 1), op('x2', 'a'), op('x3', 'a', 0, 50)];
    for (const p of pending) assert.equal(fairQueuePosition(p, pending, 10), queuePosition(p, pending, 10));
  });

  it('counts the other tenants by their weights', () => {
    const a = Array.from({ length: 50 }, (_, i) => op(`a${String(i).padStart(3, '0')}`, 'a'));
    const b = Array.from({ length: 50 }, (_, i) => op(`b${String(i).padStart(3, '0')}`, 'b'));
    // b's 10th turn (9 ahead) is at pass 9: a (weight 2) has 18 turns below it, and its turn at 9 wins the tie by name.
    assert.equal(fairQueuePosition(b[9]!, [...a, ...b], 0, new Map(), new Map([['a', 2]])), 9 + 19);
    assert.equal(fairPosition('b', 9, [{ name: 'a', pass: null, weight: 2, due: 5 }]), 9 + 5, 'no more of a than it has due');
  });
});

describe('mergeTypes', () => {
  it("keeps each type's own order and takes the best head across types", () => {
    const a = [
      { id: '2', type: 'a', priority: 0, runAt: 5 },
      { id: '1', type: 'a', priority: 0, runAt: 1 },
    ];
    const b = [{ id: '3', type: 'b', priority: 0, runAt: 3 }];
    assert.deepEqual(
      mergeTypes([a, b], 3).map((q) => q.id),
      ['3', '2', '1'],
    );
  });
});
