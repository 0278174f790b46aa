import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fitCost, measureCycles, renderCycles } from '../../bench/cycle-cost.ts';

describe('bench/cycle-cost', () => {
  it('fits the fixed cost of a cycle and the cost of each operation in it', () => {
    const fit = fitCost([
      [1, 150],
      [10, 600],
      [20, 1100],
    ]);
    assert.ok(Math.abs(fit.fixedUs - 100) < 1e-9 && Math.abs(fit.perOperationUs - 50) < 1e-9, JSON.stringify(fit));
    assert.throws(() => fitCost([[10, 600]]), /two sizes or more/);
    assert.throws(
      () =>
        fitCost([
          [10, 600],
          [10, 700],
        ]),
      /two sizes or more/,
    );
  });

  it('claims and ends whole cycles of each size on a real SQLite store, and reports what they cost', async () => {
    const figures = await measureCycles('sqlite', [1, 3], 6);
    assert.deepEqual(
      figures.map((f) => [f.size, f.cycles]),
      [
        [1, 6],
        [3, 2],
      ],
    );
    for (const f of figures) {
      assert.ok(f.wallUsPerCycle > 0 && f.processCpuUsPerCycle > 0, JSON.stringify(f));
      assert.equal(f.databaseCpuUsPerCycle, null);
    }
    const table = renderCycles('sqlite', figures);
    assert.match(table, /^\| sqlite: operations a cycle \|/);
    assert.match(table, /\| fit: a cycle costs \| \| -?\d+ \+ -?\d+ an operation \| -?\d+ \+ -?\d+ an operation \| — \|/);
    assert.doesNotMatch(renderCycles('sqlite', [figures[0]!, figures[0]!]), /fit:/, 'no line through cycles of one size');
  });
});
