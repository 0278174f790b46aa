// End to end on PostgreSQL with three nodes on one schema, each running workers: a type declared at N starts per second
// is held to N per second across the three together, measured from the handlers' side (each start is logged, by time,
// to one file the nodes share) over 20 s of a backlog that never drains.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { E2E_STORE, freshStore, REPO_ROOT, startServer, tempDir, type ServerProcess, type TestStore } from '../support/server.ts';
import pg from 'pg';
import { postgresSkipReason, withClient } from '../support/postgres.ts';
import { request } from '../support/http.ts';
import { waitFor } from '../support/wait.ts';
import { THROTTLED_PER_S } from '../fixtures/rate-limited-tasks.ts';

const skip =
  E2E_STORE !== 'postgres'
    ? 'PostgreSQL only: runs in the end-to-end pass on PostgreSQL (ASYNCOPS_E2E_STORE=postgres, npm run test:e2e:postgres)'
    : await postgresSkipReason();

const TASKS = join(REPO_ROOT, 'test/fixtures/rate-limited-tasks.ts');
const WINDOW_S = 20;
// More than the window can start (a full bucket's burst, then N a second), so the backlog never runs out.
const OPERATIONS = THROTTLED_PER_S * (WINDOW_S + 3);

// Made by the suite, so a pass that skips it (SQLite) leaves no directory behind.
let dir: ReturnType<typeof tempDir> | undefined;
let log = '';
let store: TestStore;
let nodes: ServerProcess[] = [];

const starts = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []).map((l) => Number(l.split(' ')[0]));

describe('rate limits across three nodes on PostgreSQL', { skip: skip ?? false }, () => {
  before(async () => {
    dir = tempDir();
    log = join(dir.path, 'starts.log');
    store = freshStore('postgres');
    nodes = await Promise.all(
      Array.from({ length: 3 }, () =>
        startServer({
          store: store.spec,
          fixtureTasks: false,
          args: ['--tasks', TASKS, '--concurrency', '8'],
          env: { ASYNCOPS_RATE_LIMIT_CREATE: 'off', ASYNCOPS_RATE_LIMIT_READ: 'off' },
        }),
      ),
    );
  });

  after(async () => {
    await Promise.all(nodes.map((node) => node.kill()));
    await store?.cleanup();
    dir?.cleanup();
  });

  it(`holds ${THROTTLED_PER_S} starts per second to within 10 % over ${WINDOW_S} s`, { timeout: 60_000 }, async (t) => {
    // Submitted to all three nodes, a few at a time.
    const ids: string[] = [];
    for (let i = 0; i < OPERATIONS; i += 30) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(30, OPERATIONS - i) }, (_, j) =>
          request(nodes[(i + j) % 3]!.url, 'POST', '/operations', { body: { type: 'throttled', input: { log } } }),
        ),
      );
      for (const r of batch) {
        assert.equal(r.status, 202);
        ids.push(r.body.id);
      }
    }
    const first = await waitFor(() => starts()[0], { timeoutMs: 5_000, what: 'a first start' });
    await waitFor(() => (starts().some((at) => at >= first + WINDOW_S * 1000) ? true : null), {
      timeoutMs: (WINDOW_S + 5) * 1000,
      intervalMs: 200,
      what: `starts past ${WINDOW_S} s`,
    });
    const inWindow = starts().filter((at) => at >= first && at < first + WINDOW_S * 1000);
    const expected = THROTTLED_PER_S * WINDOW_S;
    const perSecond = Array.from({ length: WINDOW_S }, (_, s) => inWindow.filter((at) => at >= first + s * 1000 && at < first + (s + 1) * 1000).length);
    t.diagnostic(`${inWindow.length} starts in ${WINDOW_S} s (expected ${expected}); per second: ${perSecond.join(' ')}`);
    assert.ok(Math.abs(inWindow.length - expected) <= 0.1 * expected, `${inWindow.length} starts in ${WINDOW_S} s, not ${expected} ± 10 %`);
    // On the claimers' clock (started_at: the time a claim took its tokens, read once it held a connection) over any t
    // seconds at most a full bucket's burst plus t seconds of refill, and what claims took while their time fell behind
    // the buckets': only a wait for the bucket's lock, a few milliseconds. With the tokens taken at the `now` a worker
    // asked with (before its wait for a connection busy with the creates above) it was 421 to 426 of 420, and 49 starts
    // in a first second bounded at 40.
    // A wait for the lock on a machine the other tests load: 100 ms let one claim too many through once (423 of 422).
    const lateMs = 250;
    const schema = new URL(store.spec).searchParams.get('schema')!;
    const claimedAt = await withClient(async (c) =>
      (await c.query(`SELECT started_at FROM ${pg.escapeIdentifier(schema)}.operations WHERE started_at IS NOT NULL ORDER BY started_at`)).rows.map((r) =>
        Number(r.started_at),
      ),
    );
    let most = 0;
    for (let i = 0, j = 0; i < claimedAt.length; i++) {
      while (claimedAt[i]! - claimedAt[j]! >= WINDOW_S * 1000) j++;
      most = Math.max(most, i - j + 1);
    }
    const bound = THROTTLED_PER_S * (WINDOW_S + 1 + lateMs / 1000);
    t.diagnostic(`most claims in any ${WINDOW_S} s by the claimers' clock: ${most} (bound ${bound})`);
    assert.ok(most <= bound, `${most} claims in ${WINDOW_S} s, over ${bound}`);
    // Each node started some: the limit is shared, not one node's alone.
    const byNode = await Promise.all(nodes.map(async (node) => (await request(node.url, 'GET', '/metrics')).text));
    const counts = byNode.map((text) => Number(/asyncops_attempts_total\{type="throttled",outcome="completed"\} (\d+)/.exec(text)?.[1] ?? 0));
    t.diagnostic(`completed per node: ${counts.join(', ')}`);
    assert.ok(
      counts.every((n) => n > 0),
      'every node ran some',
    );
    for (const node of nodes)
      assert.deepEqual(
        node.logs.filter((e) => typeof e.level === 'number' && e.level >= 50),
        [],
        'no error logged',
      );
  });
});
