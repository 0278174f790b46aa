// End to end on the real server process: what a cache may keep. Status, lists and 304s are private and revalidated,
// a completed result is private and immutable, everything else (problems, answers to POST and DELETE, health,
// metrics, event streams) is not stored; Vary names Prefer where it is honoured and Authorization when keys are in use.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { freshStore, startServer, type ServerProcess } from '../support/server.ts';
import { request } from '../support/http.ts';

const KEY = 'caching-key-Q4mV8sLp2Zt7';
let server: ServerProcess;
let keyed: ServerProcess;
let base: string;

const REVALIDATE = 'private, no-cache';
const NO_STORE = 'no-store';
const varies = (headers: Headers) =>
  (headers.get('vary') ?? '')
    .split(',')
    .map((v) => v.trim().toLowerCase())
    .filter((v) => v !== '');

before(async () => {
  [server, keyed] = await Promise.all([startServer(), startServer({ args: ['--api-keys', `alpha:${KEY}`] })]);
  base = server.url;
});
after(async () => {
  await Promise.all([server, keyed].map((s) => s?.stop()));
});

describe('Cache-Control and Vary', () => {
  it('status, its 304 and lists: private and revalidated; the status and its 304 vary on Prefer', async () => {
    const created = await request(base, 'POST', '/operations', {
      body: { type: 'sleep', input: { ms: 10 }, run_at: new Date(Date.now() + 3_600_000).toISOString() },
    });
    assert.equal(created.status, 202);
    assert.equal(created.headers.get('cache-control'), NO_STORE, 'the answer to a POST is not stored');
    assert.ok(varies(created.headers).includes('prefer'), 'a submit honours Prefer: wait');
    const status = await request(base, 'GET', `/operations/${created.body.id}`);
    assert.equal(status.headers.get('cache-control'), REVALIDATE);
    assert.ok(varies(status.headers).includes('prefer'));
    assert.ok(!varies(status.headers).includes('authorization'), 'no keys: Authorization changes nothing');
    const notModified = await request(base, 'GET', `/operations/${created.body.id}`, { headers: { 'if-none-match': status.headers.get('etag')! } });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers.get('cache-control'), REVALIDATE, 'a 304 repeats the 200’s Cache-Control');
    assert.ok(varies(notModified.headers).includes('prefer'));
    // RFC 9110 §8.6: a 304 carries no Content-Length but the 200's; a HEAD's 200 carries the GET's.
    assert.equal(notModified.headers.get('content-length'), null);
    const headNotModified = await request(base, 'HEAD', `/operations/${created.body.id}`, { headers: { 'if-none-match': status.headers.get('etag')! } });
    assert.equal(headNotModified.status, 304);
    assert.equal(headNotModified.headers.get('content-length'), null, 'not Content-Length: 0, which would say the 200 is empty');
    assert.equal(headNotModified.headers.get('etag'), status.headers.get('etag'));
    const head = await request(base, 'HEAD', `/operations/${created.body.id}`);
    assert.equal(head.status, 200);
    assert.ok(Number(head.headers.get('content-length')) > 0);
    const list = await request(base, 'GET', '/operations?limit=1');
    assert.equal(list.headers.get('cache-control'), REVALIDATE);
    const cancelled = await request(base, 'POST', `/operations/${created.body.id}/cancel`);
    assert.equal(cancelled.headers.get('cache-control'), NO_STORE);
    const deleted = await request(base, 'DELETE', `/operations/${created.body.id}`);
    assert.equal(deleted.status, 204);
    assert.equal(deleted.headers.get('cache-control'), NO_STORE);
  });

  it('a completed result is private and immutable; a result not there yet is not stored', async () => {
    const done = await request(base, 'POST', '/echoes', { body: { a: 1 }, headers: { prefer: 'wait=10' } });
    assert.equal(done.status, 200);
    assert.ok(varies(done.headers).includes('prefer'), 'a collection route honours Prefer: wait too');
    for (const path of [`/operations/${done.body.id}/result`, `/echoes/${done.body.id}`]) {
      const result = await request(base, 'GET', path);
      assert.equal(result.status, 200);
      assert.match(result.headers.get('cache-control') ?? '', /^private, max-age=\d{7,}, immutable$/, path);
      // The handler's bytes in its content type: never sniffed, and a document made of them runs no script here.
      assert.equal(result.headers.get('x-content-type-options'), 'nosniff', path);
      assert.equal(result.headers.get('content-security-policy'), 'sandbox', path);
      // RFC 9110 §13.1: it has no ETag, so `If-None-Match: *` is false while it is there and an If-Match naming a
      // version names none of it; `If-Match: *` holds.
      for (const method of ['GET', 'HEAD']) {
        const unchanged = await request(base, method, path, { headers: { 'if-none-match': '*' } });
        assert.equal(unchanged.status, 304, `${method} ${path}`);
        assert.equal(unchanged.text, '');
        const named = await request(base, method, path, { headers: { 'if-match': 'W/"3"' } });
        assert.equal(named.status, 412, `${method} ${path}`);
      }
      assert.equal((await request(base, 'GET', path, { headers: { 'if-match': '*' } })).status, 200, path);
      assert.equal((await request(base, 'GET', path, { headers: { 'if-none-match': 'W/"3"' } })).status, 200, path);
      assert.equal((await request(base, 'GET', path, { headers: { 'if-match': 'W/"3"' } })).body.code, 'precondition_failed');
    }
    const pending = await request(base, 'POST', '/operations', {
      body: { type: 'sleep', input: { ms: 10 }, run_at: new Date(Date.now() + 3_600_000).toISOString() },
    });
    const early = await request(base, 'GET', `/operations/${pending.body.id}/result`);
    assert.equal(early.status, 409);
    // A condition is looked at once there is a result to send: a 409 stays one.
    assert.equal((await request(base, 'GET', `/operations/${pending.body.id}/result`, { headers: { 'if-none-match': '*' } })).status, 409);
    assert.equal(early.headers.get('cache-control'), NO_STORE);
    await request(base, 'POST', `/operations/${pending.body.id}/cancel`);
  });

  it('problems, health, metrics and event streams are not stored', async () => {
    for (const path of ['/operations/op_nope', '/nowhere', '/operations?limit=0', '/operations/%FF', '/healthz', '/readyz', '/metrics']) {
      const response = await request(base, 'GET', path);
      assert.equal(response.headers.get('cache-control'), NO_STORE, path);
    }
    const done = await request(base, 'POST', '/operations', { body: { type: 'echo', input: {} }, headers: { prefer: 'wait=10' } });
    const stream = await fetch(`${base}/operations/${done.body.id}/events`, { signal: AbortSignal.timeout(10_000) });
    await stream.text();
    assert.match(stream.headers.get('cache-control') ?? '', /^no-store\b/);
  });

  it('with API keys, what depends on the key varies on Authorization (its 401 too); open routes do not', async () => {
    const auth = { authorization: `Bearer ${KEY}` };
    const created = await request(keyed.url, 'POST', '/operations', { body: { type: 'echo', input: {} }, headers: auth });
    const status = await request(keyed.url, 'GET', `/operations/${created.body.id}`, { headers: auth });
    assert.ok(varies(status.headers).includes('authorization') && varies(status.headers).includes('prefer'), `Vary: ${status.headers.get('vary')}`);
    const list = await request(keyed.url, 'GET', '/operations', { headers: auth });
    assert.ok(varies(list.headers).includes('authorization'));
    assert.ok(!varies(list.headers).includes('prefer'), 'a list does not honour Prefer');
    const refused = await request(keyed.url, 'GET', '/operations');
    assert.equal(refused.status, 401);
    assert.ok(varies(refused.headers).includes('authorization'));
    assert.equal(refused.headers.get('cache-control'), NO_STORE);
    const health = await request(keyed.url, 'GET', '/healthz');
    assert.ok(!varies(health.headers).includes('authorization'));
  });
});

describe('conditional requests: If-Match and If-None-Match on cancel, retry and delete, and If-Match on a read', () => {
  const later = () => new Date(Date.now() + 3_600_000).toISOString();
  const statusOf = async (id: string) => (await request(base, 'GET', `/operations/${id}`)).body.status;

  it('a cancel, retry or delete is taken only while the operation is at the version If-Match names', async () => {
    const pending = await request(base, 'POST', '/operations', { body: { type: 'sleep', input: { ms: 10 }, run_at: later() } });
    const etag = pending.headers.get('etag')!;
    const id = pending.body.id;
    const stale = `W/"${id}.0"`;
    const conditions: Record<string, string>[] = [
      { 'if-match': stale },
      { 'if-match': '"another", W/"op_x.1"' },
      { 'if-none-match': '*' },
      { 'if-none-match': etag },
    ];
    for (const headers of conditions) {
      const refused = await request(base, 'POST', `/operations/${id}/cancel`, { headers });
      assert.equal(refused.status, 412, JSON.stringify(headers));
      assert.equal(refused.body.code, 'precondition_failed');
      assert.match(refused.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.equal(await statusOf(id), 'pending', `${JSON.stringify(headers)}: nothing done`);
    }
    // Its ETag as read, weak or not, a list holding it, or *: taken.
    const cancelled = await request(base, 'POST', `/operations/${id}/cancel`, { headers: { 'if-match': `"other", ${etag.replace(/^W\//, '')}` } });
    assert.equal(cancelled.status, 200, cancelled.text);
    // A request that would be refused without its conditions is refused as such (RFC 9110 §13.2.1): 409, not 412.
    assert.equal((await request(base, 'POST', `/operations/${id}/cancel`, { headers: { 'if-match': stale } })).status, 409);
    assert.equal((await request(base, 'POST', `/operations/op_01KBBBBBBBBBBBBBBBBBBBBBBB/cancel`, { headers: { 'if-match': stale } })).status, 404);

    const retried = await request(base, 'POST', `/operations/${id}/retry`, { headers: { 'if-match': stale } });
    assert.equal(retried.status, 412);
    assert.equal(await statusOf(id), 'cancelled');
    const deleted = await request(base, 'DELETE', `/operations/${id}`, { headers: { 'if-match': stale } });
    assert.equal(deleted.status, 412);
    assert.equal(await statusOf(id), 'cancelled');
    assert.equal((await request(base, 'DELETE', `/operations/${id}`, { headers: { 'if-match': '*' } })).status, 204);

    // A read with If-Match is answered only while it names the current version (RFC 9110 §13.1.1), else 412.
    const read = await request(base, 'POST', '/operations', { body: { type: 'sleep', input: { ms: 10 }, run_at: later() } });
    const readTag = read.headers.get('etag')!;
    assert.equal((await request(base, 'GET', `/operations/${read.body.id}`, { headers: { 'if-match': readTag } })).status, 200);
    assert.equal((await request(base, 'GET', `/operations/${read.body.id}`, { headers: { 'if-match': '*' } })).status, 200);
    const staleRead = await request(base, 'GET', `/operations/${read.body.id}`, { headers: { 'if-match': `W/"${read.body.id}.0"` } });
    assert.equal(staleRead.status, 412);
    assert.equal(staleRead.body.code, 'precondition_failed');
    assert.equal((await request(base, 'GET', `/operations/op_01KBBBBBBBBBBBBBBBBBBBBBBB`, { headers: { 'if-match': '*' } })).status, 404);

    const failed = await request(base, 'POST', '/operations', { body: { type: 'fail', input: { permanent: true } }, headers: { prefer: 'wait=10' } });
    assert.equal(failed.body.status, 'failed');
    const again = await request(base, 'POST', `/operations/${failed.body.id}/retry`, { headers: { 'if-match': failed.headers.get('etag')! } });
    assert.equal(again.status, 202, again.text);
  });

  it('takes one of two changes sent at once on the same ETag, the other a 412: the action keeps the version checked', async () => {
    for (let round = 0; round < 10; round++) {
      const pending = await request(base, 'POST', '/operations', { body: { type: 'sleep', input: { ms: 10 }, run_at: later() } });
      const headers = { 'if-match': pending.headers.get('etag')! };
      const id = pending.body.id;
      // Both go ahead on the version read (pending, then cancelled): without the version kept, both were taken.
      const [cancel, retry] = await Promise.all([
        request(base, 'POST', `/operations/${id}/cancel`, { headers }),
        request(base, 'POST', `/operations/${id}/retry`, { headers }),
      ]);
      const statuses = [cancel.status, retry.status];
      assert.ok(
        (statuses[0] === 200 && [409, 412].includes(statuses[1]!)) || (statuses[0] === 412 && statuses[1] === 409),
        `round ${round}: cancel ${cancel.status}, retry ${retry.status} ${retry.text}`,
      );
      assert.equal(await statusOf(id), 'cancelled');
      const history = (await request(base, 'GET', `/operations/${id}/history`)).body.items.map((e: { kind: string }) => e.kind);
      assert.ok(!history.includes('redriven'), `round ${round}: ${history.join(',')}`);
    }
  });

  it('keeps no version for If-Match: * or If-None-Match: a claim landing between check and cancel leaves them true', async () => {
    for (let round = 0; round < 20; round++) {
      // Claimed at once by the server's workers: the cancel's check may see it pending and the cancel find it running.
      const running = await request(base, 'POST', '/operations', { body: { type: 'sleep', input: { ms: 2_000 } } });
      const headers: Record<string, string> = round % 2 === 0 ? { 'if-match': '*' } : { 'if-none-match': `W/"${running.body.id}.999"` };
      const cancel = await request(base, 'POST', `/operations/${running.body.id}/cancel`, { headers });
      assert.ok([200, 202].includes(cancel.status), `round ${round}: ${cancel.status} ${cancel.text}`);
    }
  });
});

describe('a client that has seen a later version than a node has cached (another node changed it)', () => {
  it('is answered from the store: a 304, and a long-poll held for its change, never the older version', async () => {
    const store = freshStore();
    // Two nodes on one store; on SQLite neither hears the other's changes, so the first node's cached read stays old.
    const [first, second] = await Promise.all([0, 1].map(() => startServer({ store: store.spec, args: ['--no-workers'] })));
    try {
      // Each kind of request on an operation of its own: the store's answer to one is kept in the cache for the next.
      const changedElsewhere = async () => {
        const later = new Date(Date.now() + 3_600_000).toISOString();
        const { id } = (await request(second!.url, 'POST', '/operations', { body: { type: 'sleep', input: {}, run_at: later } })).body;
        assert.equal((await request(first!.url, 'GET', `/operations/${id}`)).body.status, 'pending', 'the first node holds version 1');
        const cancelled = await request(second!.url, 'POST', `/operations/${id}/cancel`);
        return { id: id as string, etag: cancelled.headers.get('etag')! };
      };
      const one = await changedElsewhere();
      const plain = await request(first!.url, 'GET', `/operations/${one.id}`, { headers: { 'if-none-match': one.etag } });
      assert.equal(plain.status, 304, plain.text);
      assert.equal(plain.headers.get('etag'), one.etag);
      const two = await changedElsewhere();
      const held = await request(first!.url, 'GET', `/operations/${two.id}`, {
        headers: { 'if-none-match': `W/"${two.id}.1", ${two.etag}`, prefer: 'wait=1' },
      });
      assert.equal(held.status, 304, `a long-poll on the version seen is held, not answered with the one cached: ${held.text}`);
      const three = await changedElsewhere();
      const matched = await request(first!.url, 'GET', `/operations/${three.id}`, { headers: { 'if-match': three.etag } });
      assert.equal(matched.status, 200, `If-Match on the version seen holds: ${matched.text}`);
      assert.equal(matched.body.status, 'cancelled');
    } finally {
      await Promise.all([first?.stop(), second?.stop()]);
      await store.cleanup();
    }
  });
});
