import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { OPERATION_EVENTS, OPERATION_STATUSES, TRANSITIONS, isTerminal, nextStatus } from '../../src/domain/status.ts';

describe('operation state machine', () => {
  it('terminal statuses have no way out', () => {
    for (const status of OPERATION_STATUSES.filter(isTerminal)) {
      for (const event of OPERATION_EVENTS) assert.equal(nextStatus(status, event), null, `${status} --${event}-->`);
    }
  });

  it('refuses anything not in the table', () => {
    assert.equal(nextStatus('pending', 'succeed'), null);
    assert.equal(nextStatus('pending', 'retry'), null);
    assert.equal(nextStatus('processing', 'claim'), null);
    assert.equal(nextStatus('pending', 'claim'), 'processing');
    assert.equal(nextStatus('processing', 'retry'), 'pending');
  });

  it('status only moves forward, except a retry back to pending', () => {
    const rank = { pending: 0, processing: 1, completed: 2, failed: 2, cancelled: 2 } as const;
    for (const t of TRANSITIONS) {
      if (t.to === 'pending') assert.ok(t.event === 'retry' || t.event === 'lease_expired');
      else assert.ok(rank[t.to] > rank[t.from], `${t.from} → ${t.to}`);
    }
  });

  it('the diagram in README.md is the table', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const drawn = [...readme.matchAll(/^\s*(\w+)\s+--(\w+)-->\s+(\w+)\s*$/gm)].map((m) => `${m[1]} ${m[2]} ${m[3]}`);
    const table = TRANSITIONS.map((t) => `${t.from} ${t.event} ${t.to}`);
    assert.deepEqual([...drawn].sort(), [...table].sort());
  });
});
