// End to end: the server is killed with SIGKILL while operations run and restarted on the same store (the
// SQLite file, or the PostgreSQL schema). Every operation ends terminal, each terminal transition is recorded
// once (one outbox delivery per operation), and every webhook ends delivered or dead-lettered, none lost, though
// many were pending or retrying at the kill (the receiver refuses each first attempt, and answers some with 410 Gone).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { readFileSync, existsSync } from 'node:fs';
import { freshStore, startServer, tempDir, type ServerProcess } from '../support/server.ts';
import { request } from '../support/http.ts';
import { waitFor } from '../support/wait.ts';

const dir = tempDir();
const store = freshStore();
const sideEffects = join(dir.path, 'side-effects.log');
let receiver: Server;
let receiverUrl: string;
const received = new Map<string, Set<string>>(); // operation id → webhook-ids seen
const requests = new Map<string, number>(); // operation id → requests received
/** Operations whose receiver answers 410 Gone: their deliveries end dead. */
const gone = new Set<string>();
const servers: ServerProcess[] = [];

before(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const payload = JSON.parse(body) as { operation_id: string };
      const ids = received.get(payload.operation_id) ?? new Set<string>();
      ids.add(String(req.headers['webhook-id']));
      received.set(payload.operation_id, ids);
      const n = (requests.get(payload.operation_id) ?? 0) + 1;
      requests.set(payload.operation_id, n);
      // Every first attempt fails, so deliveries are retrying when the server is killed.
      res.writeHead(gone.has(payload.operation_id) ? 410 : n === 1 ? 503 : 204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const address = receiver.address();
  receiverUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`;
});

after(async () => {
  for (const s of servers) await s.kill();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
  await store.cleanup();
  dir.cleanup();
});

// A webhook attempt in flight at the kill is retried when its lease runs out: --webhook-lease, 3 s here where by default
// it would be --webhook-timeout + 30 s.
const serverArgs = [
  '--concurrency',
  '4',
  '--lease',
  '1500ms',
  '--allow-private-webhooks',
  '--webhook-timeout',
  '2s',
  '--webhook-lease',
  '3s',
  '--webhook-schedule',
  '100ms,200ms,400ms',
];

describe('crash recovery', () => {
  it('SIGKILL mid-run, restart on the same store: every operation ends terminal, each recorded once, each webhook delivered or dead', async () => {
    const first = await startServer({ store: store.spec, args: serverArgs });
    servers.push(first);
    const ids: string[] = [];
    for (let i = 0; i < 24; i++) {
      const reply = await request(first.url, 'POST', '/operations', {
        // The last two run for seconds: still running when the kill comes, however slowly a loaded machine got there.
        body: { type: 'sleep', input: { ms: i >= 22 ? 4_000 : 200 + (i % 5) * 150, log: sideEffects }, webhook_url: receiverUrl },
      });
      assert.equal(reply.status, 202);
      ids.push(reply.body.id);
      if (i % 6 === 0) gone.add(reply.body.id);
    }
    // Kill while some have finished and others are mid-flight.
    await waitFor(() => existsSync(sideEffects) && readFileSync(sideEffects, 'utf8').trim().split('\n').length >= 4, {
      timeoutMs: 10_000,
      what: 'some completions',
    });
    const midway = await Promise.all(ids.map(async (id) => (await request(first.url, 'GET', `/operations/${id}`)).body.status));
    assert.ok(midway.includes('processing') || midway.includes('pending'), 'work was still in flight when killed');
    const deliveriesAtKill = await Promise.all(
      ids.map(async (id) => (await request(first.url, 'GET', `/operations/${id}/deliveries`)).body.items as Array<{ state: string }>),
    );
    await first.kill();
    const undelivered = deliveriesAtKill.filter((items) => items.length === 0 || items.some((d) => d.state === 'pending' || d.state === 'retrying'));
    assert.ok(undelivered.length > 0, 'webhooks were still to be delivered when killed');

    const second = await startServer({ store: store.spec, args: serverArgs });
    servers.push(second);
    const finals = await waitFor(
      async () => {
        const ops = await Promise.all(ids.map(async (id) => (await request(second.url, 'GET', `/operations/${id}`)).body));
        return ops.every((op) => op.status === 'completed') ? ops : null;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: 'every operation completed after restart' },
    );
    assert.equal(finals.length, ids.length);

    for (const id of ids) {
      const deliveries = await request(second.url, 'GET', `/operations/${id}/deliveries`);
      assert.equal(deliveries.body.items.length, 1, `${id}: its completion was recorded exactly once (one outbox row)`);
    }
    await waitFor(() => ids.every((id) => received.has(id)), {
      timeoutMs: 20_000,
      intervalMs: 50,
      what: 'every webhook received (one cut off by the kill: after its 3 s lease)',
    });
    for (const id of ids) assert.equal(received.get(id)!.size, 1, `${id}: one webhook-id across any redeliveries`);
    const states = await waitFor(
      async () => {
        const all = await Promise.all(ids.map(async (id) => (await request(second.url, 'GET', `/operations/${id}/deliveries`)).body.items[0]?.state as string));
        return all.every((state) => state === 'delivered' || state === 'dead') ? all : null;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'every delivery ended' },
    );
    assert.deepEqual(
      ids.filter((_, i) => states[i] === 'dead'),
      ids.filter((id) => gone.has(id)),
      'dead exactly where the receiver answered 410',
    );

    // The handler may have run twice for an operation cut off mid-attempt (at-least-once execution),
    // but never for one whose completion had been recorded before the kill.
    const lines = readFileSync(sideEffects, 'utf8').trim().split('\n');
    const runs = new Map<string, number>();
    for (const line of lines) runs.set(line.split(' ')[0]!, (runs.get(line.split(' ')[0]!) ?? 0) + 1);
    for (const id of ids) assert.ok((runs.get(id) ?? 0) >= 1, `${id} ran`);
    const completedBeforeKill = ids.filter((_, i) => midway[i] === 'completed');
    for (const id of completedBeforeKill) assert.equal(runs.get(id), 1, `${id} completed before the kill and never ran again`);
  });
});
