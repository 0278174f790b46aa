// End to end on PostgreSQL with several processes on one schema: one API node (serve --no-workers) and three
// worker nodes (worker). They start at once on an empty schema; a long-poll on the API node wakes when a worker
// completes; a delete on it ends a long-poll held on a second API node; 3,000 operations run while one worker is
// killed with SIGKILL, and every one completes, recorded once.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { E2E_STORE, freshStore, startServer, tempDir, type ServerProcess, type TestStore } from '../support/server.ts';
import { postgresSkipReason, withClient } from '../support/postgres.ts';
import { request } from '../support/http.ts';
import { waitFor } from '../support/wait.ts';

const skip =
  E2E_STORE !== 'postgres'
    ? 'PostgreSQL only: runs in the end-to-end pass on PostgreSQL (ASYNCOPS_E2E_STORE=postgres, npm run test:e2e:postgres)'
    : await postgresSkipReason();

const OPERATIONS = 3_000;
const BATCH = 50;
// Short leases, so the killed worker's work comes back soon. A webhook attempt's lease is its timeout + 30 s, so
// the killed node's in-flight webhooks are retried about 32 s after the kill: that is most of this test's time.
const nodeArgs = ['--lease', '2s', '--allow-private-webhooks', '--webhook-timeout', '2s', '--webhook-schedule', '100ms,200ms,400ms,800ms,1s,1s,1s,1s'];

// Made by the suite, so a pass that skips it (SQLite) leaves no directory behind.
let dir: ReturnType<typeof tempDir> | undefined;
let sideEffects = '';
let store: TestStore;
let receiver: Server;
let receiverUrl = '';
const webhookIds = new Map<string, Set<string>>(); // operation id → distinct webhook-ids received
let arrivals = 0;
let api: ServerProcess;
let workers: ServerProcess[] = [];
let startedInMs = 0;

describe('scale-out on PostgreSQL', { skip: skip ?? false }, () => {
  before(async () => {
    dir = tempDir();
    sideEffects = join(dir.path, 'side-effects.log');
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        const { operation_id: id } = JSON.parse(body) as { operation_id: string };
        const ids = webhookIds.get(id) ?? new Set<string>();
        ids.add(String(req.headers['webhook-id']));
        webhookIds.set(id, ids);
        arrivals++;
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const address = receiver.address();
    receiverUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`;

    // Four processes at once on a schema that does not exist yet: each runs the migrations on start.
    store = freshStore('postgres');
    const t0 = performance.now();
    const started = await Promise.allSettled([
      // This test is the only client, and it submits as fast as it can: no request rate limits.
      startServer({ store: store.spec, args: ['--no-workers', ...nodeArgs], env: { ASYNCOPS_RATE_LIMIT_CREATE: 'off', ASYNCOPS_RATE_LIMIT_READ: 'off' } }),
      ...Array.from({ length: 3 }, () => startServer({ store: store.spec, command: 'worker', args: ['--concurrency', '8', ...nodeArgs] })),
    ]);
    startedInMs = performance.now() - t0;
    const ok = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    workers = ok.filter((s) => s.url === '');
    api = ok.find((s) => s.url !== '')!;
    const failed = started.flatMap((s) => (s.status === 'rejected' ? [String(s.reason)] : []));
    assert.deepEqual(failed, [], 'every node started');
  });

  after(async () => {
    await Promise.all([api, ...workers].map((node) => node?.kill()));
    if (receiver) {
      receiver.closeAllConnections();
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
    await store?.cleanup();
    dir?.cleanup();
  });

  it('three nodes starting at once on an empty schema migrate it exactly once, without errors', async (t) => {
    t.diagnostic(`API node and three workers started in ${startedInMs.toFixed(0)} ms`);
    const schema = new URL(store.spec).searchParams.get('schema')!;
    const rows = await withClient(
      async (c) => (await c.query(`SELECT version, name FROM ${pg.escapeIdentifier(schema)}.schema_migrations ORDER BY version`)).rows,
    );
    assert.ok(rows.length >= 1);
    assert.deepEqual(
      rows.map((r) => r.version),
      rows.map((_, i) => i + 1),
      'each migration recorded once, in order',
    );
    for (const node of [api, ...workers]) {
      const problems = node.logs.filter((entry) => typeof entry.level === 'number' && entry.level >= 40);
      assert.deepEqual(problems, [], 'no warning or error logged');
      assert.equal(node.stderr(), '', 'nothing on stderr');
    }
    assert.equal(api.logs.find((e) => e.msg === 'asyncops listening')?.workers, false, 'the API node runs no workers');
  });

  it('a long-poll on the API node returns when a worker node completes the operation', async (t) => {
    const lags: number[] = [];
    for (let i = 0; i < 10; i++) {
      const created = await request(api.url, 'POST', '/operations', { body: { type: 'sleep', input: { ms: 150 } } });
      assert.equal(created.status, 202);
      let etag = created.headers.get('etag')!;
      // Each long-poll may be held 30 s and is given up on after 10: only a change that crossed from the worker
      // node to the API node's feed ends one in time.
      const done = await waitFor(
        async () => {
          const polled = await fetch(`${api.url}/operations/${created.body.id}`, {
            headers: { 'if-none-match': etag, prefer: 'wait=30' },
            signal: AbortSignal.timeout(10_000),
          }).catch((error: unknown) => {
            throw new Error('a long-poll on the API node was not ended by a change on a worker node', { cause: error });
          });
          const returnedAt = Date.now();
          if (polled.status === 304) return null;
          etag = polled.headers.get('etag')!;
          const op: any = await polled.json();
          return op.status === 'completed' ? { op, returnedAt } : null;
        },
        { timeoutMs: 15_000, intervalMs: 0, what: 'completed, seen through long-polls' },
      );
      lags.push(done.returnedAt - Date.parse(done.op.finished_at));
    }
    // How soon is measured, not asserted (npm run bench).
    t.diagnostic(`long-poll return after a worker's finished_at: ${lags.join(', ')} ms`);
  });

  it('a delete on one API node ends a long-poll held on another, and that node reads 404 at once after', async (t) => {
    const other = await startServer({ store: store.spec, args: ['--no-workers', ...nodeArgs] });
    t.after(() => other.kill());
    const created = await request(api.url, 'POST', '/operations', { body: { type: 'sleep', input: { ms: 1 } } });
    assert.equal(created.status, 202);
    const id = created.body.id as string;
    const done = await waitFor(
      async () => {
        const read = await request(other.url, 'GET', `/operations/${id}`);
        return read.body.status === 'completed' ? read : null;
      },
      { timeoutMs: 10_000, intervalMs: 20, what: `${id} completed, read on the second node` },
    );
    // Held for up to a minute on the second node, whose read cache has the operation.
    const held = fetch(`${other.url}/operations/${id}`, {
      headers: { 'if-none-match': done.headers.get('etag')!, prefer: 'wait=60' },
      signal: AbortSignal.timeout(20_000),
    });
    await waitFor(async () => (await request(api.url, 'DELETE', `/operations/${id}`)).status === 204, {
      timeoutMs: 10_000,
      intervalMs: 50,
      what: `${id} deleted once its webhook state allows`,
    });
    assert.equal((await held).status, 404, 'the long-poll on the other node answered once the delete was heard, not at its wait’s end');
    assert.equal((await request(other.url, 'GET', `/operations/${id}`)).status, 404);
  });

  it('3,000 operations over three workers, one killed with SIGKILL mid-run: each completes, is recorded once, and its webhook arrives', {
    timeout: 90_000,
  }, async (t) => {
    const t0 = performance.now();
    const handlerRuns = () => (existsSync(sideEffects) ? readFileSync(sideEffects, 'utf8').split('\n').filter(Boolean) : []);
    // Killed while submissions still arrive, at a moment it holds leases: operations run for 0–20 ms, so at any
    // instant a worker may hold none. The victim is frozen (SIGSTOP) to look at its leases in the store (its worker
    // id starts with its pid); it is killed only if it holds some, else thawed to try again a little later.
    const victim = workers[0]!;
    const schema = pg.escapeIdentifier(new URL(store.spec).searchParams.get('schema')!);
    const killed = (async () => {
      await waitFor(() => handlerRuns().length >= OPERATIONS / 10, { timeoutMs: 30_000, intervalMs: 20, what: 'a tenth of the handlers ran' });
      const leased = await waitFor(
        async () => {
          victim.process.kill('SIGSTOP');
          const { rows } = await withClient((c) =>
            c.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.operations WHERE status = 'processing' AND worker_id LIKE $1`, [
              `${victim.process.pid}-%`,
            ]),
          );
          if (rows[0]!.n > 0) return rows[0]!.n;
          victim.process.kill('SIGCONT');
          return null;
        },
        { timeoutMs: 20_000, intervalMs: 5, what: 'the victim holding a lease' },
      );
      await victim.kill();
      return { at: performance.now() - t0, leased };
    })();
    killed.catch(() => {});
    const ids: string[] = [];
    for (let start = 0; start < OPERATIONS; start += BATCH) {
      const replies = await Promise.all(
        Array.from({ length: Math.min(BATCH, OPERATIONS - start) }, () =>
          request(api.url, 'POST', '/operations', {
            body: { type: 'sleep', input: { ms: Math.floor(Math.random() * 21), log: sideEffects }, webhook_url: receiverUrl },
          }),
        ),
      );
      for (const reply of replies) {
        assert.equal(reply.status, 202, reply.text);
        ids.push(reply.body.id);
      }
    }
    const submittedMs = performance.now() - t0;
    const { at: killedAt, leased: leasedAtKill } = await killed;

    await waitFor(() => webhookIds.size === OPERATIONS, { timeoutMs: 60_000, intervalMs: 50, what: `a webhook for each of ${OPERATIONS} operations` });
    const allWebhooksMs = performance.now() - t0;

    // The store's view: every operation completed; one outbox row (delivery) per operation.
    const ops = new Map<string, any>();
    for (let cursor: string | null = null, pages = 0; pages === 0 || cursor !== null; pages++) {
      const page: any = await request(api.url, 'GET', `/operations?type=sleep&limit=200${cursor ? `&cursor=${cursor}` : ''}`);
      for (const op of page.body.items) ops.set(op.id, op);
      cursor = page.body.next_cursor;
      assert.ok(pages < 100);
    }
    const deliveriesPerOp = new Map<string, number>();
    for (let cursor: string | null = null, pages = 0; pages === 0 || cursor !== null; pages++) {
      const page: any = await request(api.url, 'GET', `/webhook-deliveries?limit=200${cursor ? `&cursor=${cursor}` : ''}`);
      for (const d of page.body.items) deliveriesPerOp.set(d.operation_id, (deliveriesPerOp.get(d.operation_id) ?? 0) + 1);
      cursor = page.body.next_cursor;
      assert.ok(pages < 100);
    }
    const notCompleted = ids.filter((id) => ops.get(id)?.status !== 'completed');
    assert.deepEqual(notCompleted, [], 'every operation completed');
    const notOnce = ids.filter((id) => deliveriesPerOp.get(id) !== 1);
    assert.deepEqual(notOnce, [], 'each completion recorded exactly once (one delivery row per operation)');

    // Webhooks: at least once each, and one webhook-id per operation however often it came, so receivers can de-duplicate.
    assert.deepEqual(
      ids.filter((id) => webhookIds.get(id)?.size !== 1),
      [],
      'one webhook-id per operation',
    );

    // Side effects: every handler finished at least once; a second run only where an attempt was cut off.
    const runs = new Map<string, number[]>();
    for (const line of handlerRuns()) {
      const [id, attempt] = line.split(' ');
      runs.set(id!, [...(runs.get(id!) ?? []), Number(attempt)]);
    }
    assert.deepEqual(
      ids.filter((id) => !runs.has(id)),
      [],
      'every handler ran',
    );

    // Nothing but an expired lease sends a sleep operation to a second attempt: these were the killed node's.
    const recovered = ids.filter((id) => ops.get(id).attempt >= 2);
    assert.ok(recovered.length >= 1, 'the killed worker held leases, and other workers took them over');
    for (const id of recovered) assert.equal(ops.get(id).status, 'completed');
    const ranTwice = ids.filter((id) => runs.get(id)!.length > 1);
    for (const id of ranTwice) assert.ok(ops.get(id).attempt >= 2, `${id} ran again only after its lease expired`);

    t.diagnostic(
      `submitted ${OPERATIONS} in ${submittedMs.toFixed(0)} ms; worker pid ${victim.process.pid} killed at ${killedAt.toFixed(0)} ms holding ${leasedAtKill} leases; ` +
        `every webhook in by ${allWebhooksMs.toFixed(0)} ms; ${recovered.length} operations recovered from the killed worker ` +
        `(${ranTwice.length} of them had run their handler there too); ${arrivals - OPERATIONS} duplicate webhook arrivals`,
    );
  });
});
