// End to end on the real server process (SQLite, or PostgreSQL with ASYNCOPS_E2E_STORE=postgres): `Prefer:
// return=minimal` on the creating routes (POST /operations, a task's collection route) and the SDK's submitMinimal:
// 202 with Location and ETag and no body, the operation stored and run as any other; without it the reply is unchanged.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type ServerProcess } from '../support/server.ts';
import { request } from '../support/http.ts';
import { waitFor } from '../support/wait.ts';
import { AsyncOpsClient } from '../../src/client/index.ts';

let server: ServerProcess;
let base: string;

const MINIMAL = { prefer: 'return=minimal' };
const submit = (body: Record<string, unknown>, headers: Record<string, string> = {}, path = '/operations') => request(base, 'POST', path, { body, headers });
const completed = (location: string) =>
  waitFor(
    async () => {
      const { body } = await request(base, 'GET', location);
      return body.status === 'completed' ? body : null;
    },
    { timeoutMs: 10_000, intervalMs: 20, what: `${location} completed` },
  );

before(async () => {
  server = await startServer();
  base = server.url;
});
after(async () => {
  await server?.stop();
});

describe('Prefer: return=minimal', () => {
  it('answers 202 with Location, ETag and Preference-Applied and no body; the operation runs as any other', async () => {
    const reply = await submit({ type: 'echo', input: { a: 1 } }, MINIMAL);
    assert.equal(reply.status, 202);
    assert.equal(reply.text, '');
    const location = reply.headers.get('location') ?? '';
    assert.match(location, /^\/operations\/op_[0-9A-Z]{26}$/);
    const id = location.slice('/operations/'.length);
    assert.equal(reply.headers.get('etag'), `W/"${id}.1"`);
    assert.equal(reply.headers.get('preference-applied'), 'return=minimal');
    assert.equal(reply.headers.get('retry-after'), null, 'no standing read, so no ETA to draw Retry-After from');
    assert.equal(reply.headers.get('idempotent-replayed'), null);
    assert.match(reply.headers.get('vary') ?? '', /prefer/i);
    const done = await completed(location);
    assert.equal(done.id, id);
    assert.deepEqual(done.input, { a: 1 });
  });

  it('leaves the reply unchanged without it, and with another preference', async () => {
    for (const headers of [{}, { prefer: 'return=representation' }] as Record<string, string>[]) {
      const reply = await submit({ type: 'echo', input: {} }, headers);
      assert.equal(reply.status, 202);
      assert.equal(reply.body.status, 'pending');
      assert.equal(reply.headers.get('location'), reply.body.links.self);
      assert.ok(Number(reply.headers.get('retry-after')) >= 1);
      assert.equal(reply.headers.get('preference-applied'), null);
    }
  });

  it('is honoured among other preferences, and yields to wait: a caller that waits gets the outcome in the body', async () => {
    const listed = await submit({ type: 'echo', input: {} }, { prefer: 'respond-async, return=minimal' });
    assert.equal(listed.status, 202);
    assert.equal(listed.text, '');
    const waited = await submit({ type: 'echo', input: { b: 2 } }, { prefer: 'return=minimal, wait=5' });
    assert.equal(waited.status, 200);
    assert.equal(waited.body.status, 'completed');
    assert.equal(waited.headers.get('preference-applied'), 'wait=5');
  });

  it('replays an Idempotency-Key with the same Location, and refuses another body under it', async () => {
    const runAt = new Date(Date.now() + 60_000).toISOString();
    const headers = { ...MINIMAL, 'idempotency-key': `minimal-${Date.now()}` };
    const first = await submit({ type: 'echo', input: { n: 1 }, run_at: runAt }, headers);
    assert.equal(first.status, 202);
    assert.equal(first.headers.get('idempotent-replayed'), null);
    const again = await submit({ type: 'echo', input: { n: 1 }, run_at: runAt }, headers);
    assert.equal(again.status, 202);
    assert.equal(again.text, '');
    assert.equal(again.headers.get('location'), first.headers.get('location'));
    assert.equal(again.headers.get('etag'), first.headers.get('etag'));
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    const other = await submit({ type: 'echo', input: { n: 2 }, run_at: runAt }, headers);
    assert.equal(other.status, 422);
    assert.equal(other.body.code, 'idempotency_key_mismatch');
  });

  it('answers bad input with the same problem details as without it', async () => {
    const reply = await submit({ type: 'sleep', input: { ms: -1 } }, MINIMAL);
    assert.equal(reply.status, 400);
    assert.equal(reply.body.code, 'validation_failed');
    assert.equal(reply.headers.get('preference-applied'), null);
  });

  it('works on a task collection route', async () => {
    const reply = await submit({ word: 'hi' }, MINIMAL, '/echoes');
    assert.equal(reply.status, 202);
    assert.equal(reply.text, '');
    assert.equal(reply.headers.get('preference-applied'), 'return=minimal');
    const done = await completed(reply.headers.get('location') ?? '');
    assert.equal(done.type, 'echo');
    assert.deepEqual(done.input, { word: 'hi' });
  });

  it('is what the SDK sends for submitMinimal, which answers with the id, Location and ETag', async () => {
    const client = new AsyncOpsClient({ baseUrl: base });
    const accepted = await client.submitMinimal('echo', { c: 3 }, { idempotencyKey: `sdk-minimal-${Date.now()}` });
    assert.match(accepted.id, /^op_[0-9A-Z]{26}$/);
    assert.equal(accepted.location, `/operations/${accepted.id}`);
    assert.equal(accepted.etag, `W/"${accepted.id}.1"`);
    assert.equal(accepted.replayed, false);
    const done = await client.wait(accepted.id, { timeoutMs: 10_000 });
    assert.equal(done.status, 'completed');
    assert.deepEqual(done.input, { c: 3 });
  });
});
