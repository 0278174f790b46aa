// End to end on the real server processes, on SQLite (one node) and on PostgreSQL (an API node and three worker nodes
// on one schema): a tenant's single operation starts within one turn of the slots though another tenant has 2,000
// pending; a concurrency key never runs more than its limit at once across the nodes, and a keyed operation's ETA counts
// that limit; a tenant's ceiling on priority and the form of a concurrency key are enforced at submit.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { E2E_STORE, freshStore, REPO_ROOT, startServer, tempDir, type ServerProcess, type TestStore } from '../support/server.ts';
import { postgresSkipReason } from '../support/postgres.ts';
import { request } from '../support/http.ts';
import { waitFor } from '../support/wait.ts';

const skip = E2E_STORE === 'postgres' ? await postgresSkipReason() : null;

const KEYS = { a: 'tenant-a-key-0123456789', b: 'tenant-b-key-0123456789', capped: 'capped-key-0123456789ab', below: 'below-key-0123456789abcd' };
const BACKLOG = 2_000;
/** fair_work's slots per worker node (its concurrency), and the worker nodes. */
const SLOTS_PER_NODE = 2;
const WORKER_NODES = E2E_STORE === 'postgres' ? 3 : 1;

const dir = tempDir();
const keyLog = join(dir.path, 'keys.log');
let store: TestStore;
let api: ServerProcess;
let workers: ServerProcess[] = [];
let base = '';

const as = (tenant: keyof typeof KEYS) => ({ authorization: `Bearer ${KEYS[tenant]}` });
const submit = (tenant: keyof typeof KEYS, body: Record<string, unknown>) => request(base, 'POST', '/operations', { body, headers: as(tenant) });
const get = (tenant: keyof typeof KEYS, id: string) => request(base, 'GET', `/operations/${id}`, { headers: as(tenant) });

/** Every operation of a tenant (newest first), paged through. */
async function listAll(tenant: keyof typeof KEYS): Promise<Array<Record<string, any>>> {
  const items: Array<Record<string, any>> = [];
  let cursor: string | null = null;
  do {
    const query: string = `/operations?limit=200${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
    const page = await request(base, 'GET', query, { headers: as(tenant) });
    assert.equal(page.status, 200);
    items.push(...page.body.items);
    cursor = page.body.next_cursor;
  } while (cursor !== null);
  return items;
}

describe(`fairness between tenants and concurrency keys (${E2E_STORE})`, { skip: skip ?? false }, () => {
  before(async () => {
    const keysFile = join(dir.path, 'keys.json');
    writeFileSync(
      keysFile,
      JSON.stringify([
        { tenant: 'tenant-a', key: KEYS.a },
        { tenant: 'tenant-b', key: KEYS.b },
        { tenant: 'capped', key: KEYS.capped, max_priority: 10 },
        { tenant: 'below', key: KEYS.below, max_priority: -5 },
      ]),
    );
    store = freshStore();
    const common = {
      store: store.spec,
      fixtureTasks: false,
      env: { ASYNCOPS_RATE_LIMIT_CREATE: 'off', ASYNCOPS_RATE_LIMIT_READ: 'off' },
    };
    const args = ['--tasks', join(REPO_ROOT, 'test/fixtures/fair-tasks.ts'), '--api-keys-file', keysFile, '--concurrency', '4'];
    if (E2E_STORE === 'postgres') {
      // The API node first (it migrates), then three worker nodes: every claim below races claims of the others.
      api = await startServer({ ...common, args: [...args, '--no-workers'] });
      workers = await Promise.all(Array.from({ length: WORKER_NODES }, () => startServer({ ...common, command: 'worker', args })));
    } else {
      api = await startServer({ ...common, args });
    }
    base = api.url;
  });

  after(async () => {
    await Promise.all([api, ...workers].map((node) => node?.kill()));
    await store?.cleanup();
    dir.cleanup();
  });

  it(`never runs more of one concurrency key at once than its limit (keyConcurrency 2), across ${WORKER_NODES} worker node(s)`, async () => {
    writeFileSync(keyLog, '');
    const keys = ['acct-1', 'acct-2', 'acct-3'];
    const created = await Promise.all(
      Array.from({ length: 48 }, (_, i) => {
        const key = keys[i % keys.length]!;
        return submit('a', { type: 'fair_keyed', input: { key, ms: 25, log: keyLog }, concurrency_key: key });
      }),
    );
    assert.ok(created.every((c) => c.status === 202));
    assert.equal(created[0]!.body.concurrency_key, 'acct-1', 'the key is on the operation resource');
    await waitFor(
      async () => {
        const ops = await Promise.all(created.map(async (c) => (await get('a', c.body.id)).body));
        return ops.every((op) => op.status === 'completed') ? true : null;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'every keyed operation completed' },
    );
    const running = new Map<string, number>();
    const most = new Map<string, number>();
    for (const line of readFileSync(keyLog, 'utf8').split('\n')) {
      if (line === '') continue;
      const [sign, key] = line.split(' ') as ['+' | '-', string];
      const now = (running.get(key) ?? 0) + (sign === '+' ? 1 : -1);
      running.set(key, now);
      most.set(key, Math.max(most.get(key) ?? 0, now));
    }
    for (const key of keys) assert.ok((most.get(key) ?? 0) <= 2, `${key}: at most 2 at once, saw ${most.get(key)}`);
    assert.ok(
      [...most.values()].some((n) => n === 2),
      'the limit is used, not just respected',
    );
  });

  it("estimates a keyed operation's completion behind its key's limit, not its type's free slots (issue 12)", async (t) => {
    // fair_eta: 4 slots a node, keyConcurrency 1, 1 s each (declared, and what it takes): four of one key run one after another.
    const D = 1000;
    const created = [];
    for (let i = 0; i < 4; i++) created.push(await submit('a', { type: 'fair_eta', input: { ms: D }, concurrency_key: 'eta-acct' }));
    assert.ok(created.every((c) => c.status === 202));
    const fourth = created[3]!.body;
    const submittedAt = Date.parse(fourth.created_at);
    const eta = Date.parse(fourth.estimated_completion_at);
    assert.ok(eta - submittedAt >= 3 * D, `the 4th waits for the three of its key: ETA ${eta - submittedAt} ms after its submit, not about ${D}`);
    assert.ok(eta - submittedAt <= 6 * D, `and not far past them: ${eta - submittedAt} ms`);
    const done = await waitFor(
      async () => {
        const op = (await get('a', fourth.id)).body;
        return op.status === 'completed' ? op : null;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'the 4th of the key completed' },
    );
    const took = Date.parse(done.finished_at) - submittedAt;
    t.diagnostic(`the 4th of one key: estimated ${eta - submittedAt} ms at its submit, took ${took} ms`);
    assert.ok(took >= 3.5 * D, `they did run one after another (${took} ms)`);
    assert.ok(Math.abs(eta - submittedAt - took) <= 0.35 * took, `the ETA (${eta - submittedAt} ms) is near what it took (${took} ms)`);
  });

  it(`starts a second tenant's single operation within one turn of the slots, with ${BACKLOG} of another tenant's pending`, async () => {
    // 200 ms each on SLOTS_PER_NODE × nodes slots: the backlog lasts far longer than this test looks at it.
    for (let sent = 0; sent < BACKLOG; sent += 50) {
      const batch = await Promise.all(Array.from({ length: 50 }, () => submit('a', { type: 'fair_work', input: { ms: 200, label: 'a' } })));
      assert.ok(batch.every((c) => c.status === 202));
    }
    const lone = await submit('b', { type: 'fair_work', input: { ms: 10, label: 'b' } });
    assert.equal(lone.status, 202);
    assert.ok(lone.body.queue_position <= 1, `B is next or one turn behind, not behind the backlog (position ${lone.body.queue_position})`);
    const started = await waitFor(
      async () => {
        const op = (await get('b', lone.body.id)).body;
        return op.started_at === null ? null : op;
      },
      { timeoutMs: 10_000, intervalMs: 20, what: "tenant-b's operation started" },
    );
    const createdAt = Date.parse(started.created_at);
    const startedAt = Date.parse(started.started_at);
    const ofA = (await listAll('a')).filter((op) => op.type === 'fair_work');
    const pendingThen = ofA.filter((op) => op.started_at === null || Date.parse(op.started_at) > startedAt).length;
    const startedBetween = ofA.filter((op) => op.started_at !== null && Date.parse(op.started_at) >= createdAt && Date.parse(op.started_at) < startedAt).length;
    const slots = SLOTS_PER_NODE * WORKER_NODES;
    assert.ok(pendingThen > BACKLOG / 2, `the backlog was still there when B started (${pendingThen} of A's not started)`);
    assert.ok(startedBetween <= slots, `${startedBetween} of A's started between B's submit and its start: at most one turn of the ${slots} slots`);
  });

  it("refuses a priority above the tenant's ceiling, and a malformed concurrency key, with a problem", async () => {
    const high = await submit('capped', { type: 'fair_work', input: {}, priority: 11 });
    assert.equal(high.status, 400);
    assert.equal(high.body.code, 'validation_failed');
    assert.deepEqual(
      high.body.errors.map((e: { path: string }) => e.path),
      ['/priority'],
    );
    assert.equal((await submit('capped', { type: 'fair_work', input: {}, priority: 10 })).status, 202);
    assert.equal((await submit('b', { type: 'fair_work', input: {}, priority: 500 })).status, 202, 'other tenants keep the server-wide ceiling');
    // A ceiling below 0: what names no priority gets the ceiling, not a refusal of a field it never sent.
    const unnamed = await submit('below', { type: 'fair_work', input: {} });
    assert.equal(unnamed.status, 202, unnamed.text);
    assert.equal(unnamed.body.priority, -5);
    const schedule = await request(base, 'POST', '/schedules', { body: { type: 'fair_work', input: {}, cron: '0 0 1 1 *' }, headers: as('below') });
    assert.equal(schedule.status, 201, schedule.text);
    assert.equal(schedule.body.priority, -5);
    assert.equal((await request(base, 'DELETE', `/schedules/${schedule.body.id}`, { headers: as('below') })).status, 204);
    assert.equal((await submit('below', { type: 'fair_work', input: {}, priority: 0 })).status, 400, 'a priority named above it is still refused');
    const bad = await submit('b', { type: 'fair_work', input: {}, concurrency_key: 'not a key!' });
    assert.ok([400, 422].includes(bad.status), `a problem, not ${bad.status}`);
    assert.ok(bad.body.errors.some((e: { path: string }) => e.path === '/concurrency_key'));
  });
});
