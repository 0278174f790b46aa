// End to end on PostgreSQL with three nodes on one schema, each running the scheduler: a schedule every second for 20 s
// creates each tick's operation exactly once — every second from the first tick to the last has one tick, each tick one
// operation, no operation without its tick, nothing skipped — and the nodes' metrics add up to the ticks.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { E2E_STORE, freshStore, startServer, type ServerProcess, type TestStore } from '../support/server.ts';
import { postgresSkipReason, withClient } from '../support/postgres.ts';
import { request } from '../support/http.ts';
import { waitFor } from '../support/wait.ts';

const skip =
  E2E_STORE !== 'postgres'
    ? 'PostgreSQL only: runs in the end-to-end pass on PostgreSQL (ASYNCOPS_E2E_STORE=postgres, npm run test:e2e:postgres)'
    : await postgresSkipReason();

const RUN_MS = 20_000;

let store: TestStore;
let nodes: ServerProcess[] = [];

/** The fired-ticks counter of one node's /metrics. */
async function ticksFired(node: ServerProcess): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  const line = text.split('\n').find((l) => l.startsWith('asyncops_schedule_ticks_fired_total{type="echo"}'));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

describe('schedules on three nodes', { skip: skip ?? false }, () => {
  before(async () => {
    store = freshStore('postgres');
    const started = await Promise.allSettled(Array.from({ length: 3 }, () => startServer({ store: store.spec, args: ['--concurrency', '4'] })));
    nodes = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    assert.deepEqual(
      started.flatMap((s) => (s.status === 'rejected' ? [String(s.reason)] : [])),
      [],
      'every node started',
    );
  });

  after(async () => {
    await Promise.all(nodes.map((node) => node.stop()));
    await store?.cleanup();
  });

  it('a schedule every second for 20 s creates each tick’s operation exactly once', { timeout: 60_000 }, async (t) => {
    const created = await request(nodes[0]!.url, 'POST', '/schedules', { body: { type: 'echo', input: { scheduled: true }, cron: '* * * * * *' } });
    assert.equal(created.status, 201, created.text);
    const id: string = created.body.id;
    const first = Date.parse(created.body.next_run_at);
    // Every tick, as the nodes record them: a tick stays in recent_ticks for 10 s, and this reads them every 300 ms.
    const ticks = new Map<number, string | null>();
    /** How late each tick fired (fired_at − tick), ms: reported, not asserted. */
    const lateness = new Map<number, number>();
    let skipped = 0;
    await waitFor(
      async () => {
        // From a different node each time: any of them answers for all.
        const read = await request(nodes[ticks.size % nodes.length]!.url, 'GET', `/schedules/${id}`);
        for (const t of read.body.recent_ticks as Array<{ tick: string; operation_id: string | null; skipped: number; fired_at: string }>) {
          ticks.set(Date.parse(t.tick), t.operation_id);
          lateness.set(Date.parse(t.tick), Date.parse(t.fired_at) - Date.parse(t.tick));
          skipped += t.skipped;
        }
        return ticks.size > 0 && Math.max(...ticks.keys()) >= first + RUN_MS;
      },
      { timeoutMs: RUN_MS + 15_000, intervalMs: 300, what: '20 s of ticks' },
    );
    const paused = await request(nodes[1]!.url, 'POST', `/schedules/${id}/pause`);
    assert.equal(paused.body.paused, true);
    const lastTick = Date.parse(paused.body.last_run_at);

    // A final read, after the pause, for the ticks fired since the last one.
    const final = await request(nodes[2]!.url, 'GET', `/schedules/${id}`);
    for (const t of final.body.recent_ticks) ticks.set(Date.parse(t.tick), t.operation_id);
    assert.equal(final.body.skipped_ticks, 0, 'no tick was missed');
    assert.equal(skipped, 0);

    const expected = (lastTick - first) / 1000 + 1;
    assert.ok(expected >= RUN_MS / 1000, `${expected} ticks`);
    const seconds = [...ticks.keys()].sort((a, b) => a - b);
    assert.deepEqual(
      seconds,
      Array.from({ length: expected }, (_, i) => first + i * 1000),
      'one tick for every second from the first to the last',
    );
    const operationIds = [...ticks.values()];
    assert.ok(
      operationIds.every((op) => op !== null),
      'each tick created an operation',
    );
    assert.equal(new Set(operationIds).size, expected, 'a different operation for each tick');

    // The database holds exactly those operations of the type: none created twice for one tick.
    const schema = new URL(store.spec).searchParams.get('schema')!;
    const stored = await withClient(async (client) => {
      const result = await client.query<{ id: string }>(`SELECT id FROM "${schema}".operations WHERE type = 'echo'`);
      return result.rows.map((r) => r.id).sort();
    });
    assert.deepEqual(stored, [...(operationIds as string[])].sort());

    // Every node fired some (they all wake for each tick); together exactly the ticks.
    const perNode = await Promise.all(nodes.map(ticksFired));
    assert.equal(
      perNode.reduce((a, b) => a + b, 0),
      expected,
      `ticks fired per node: ${perNode.join(', ')}`,
    );
    // Each operation is ordinary: it completes, as a submitted one does.
    const sample = await waitFor(
      async () => {
        const op = await request(nodes[0]!.url, 'GET', `/operations/${operationIds[0]}`);
        return op.body.status === 'completed' ? op.body : null;
      },
      { what: 'a scheduled operation completes' },
    );
    assert.deepEqual(sample.input, { scheduled: true });
    const late = [...lateness.values()].sort((x, y) => x - y);
    t.diagnostic(
      `${expected} ticks on 3 nodes, fired per node: ${perNode.join(', ')}; fired after the tick: median ${late[late.length >> 1]} ms, max ${late.at(-1)} ms`,
    );
  });
});
