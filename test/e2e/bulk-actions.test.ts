// End to end on the real server process (SQLite, or PostgreSQL with ASYNCOPS_E2E_STORE=postgres), with API keys for two
// tenants and an admin: a failed operation retried (runs again, completes, a second webhook reaches a real receiver),
// bulk retry (dry run, then run to completed; at a low priority), bulk cancel and delete, a bulk replay of dead
// deliveries, tenant isolation, and bad requests answered 400.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { AsyncOpsApiError, AsyncOpsClient } from '../../src/client/index.ts';
import { CLI_ENTRY, freshStore, REPO_ROOT, startServer, tempDir, type ServerProcess } from '../support/server.ts';
import { request } from '../support/http.ts';
import { writeTenantsAndAdminKeys } from '../support/keys-file.ts';
import { waitFor } from '../support/wait.ts';
import { WebhookReceiver } from '../support/webhook-receiver.ts';

const KEY_A = `ka_${randomBytes(16).toString('hex')}`;
const KEY_B = `kb_${randomBytes(16).toString('hex')}`;
const KEY_ADMIN = `kx_${randomBytes(16).toString('hex')}`;
const dir = tempDir();
let server: ServerProcess;
let hooks: WebhookReceiver;

before(async () => {
  const keysFile = writeTenantsAndAdminKeys(dir.path, { alpha: KEY_A, beta: KEY_B, admin: KEY_ADMIN });
  hooks = await WebhookReceiver.start();
  // A ceiling on priority (--max-priority), which a retry's priority is held to as a submit's is.
  server = await startServer({ args: ['--api-keys-file', keysFile, '--allow-private-webhooks', '--webhook-schedule', '50ms', '--max-priority', '50'] });
});
after(async () => {
  await Promise.all([server?.stop(), hooks?.close()]);
  dir.cleanup();
});

const call = (key: string, method: string, path: string, body?: unknown) =>
  request(server.url, method, path, { body, headers: { authorization: `Bearer ${key}` } });

async function submit(key: string, body: Record<string, unknown>): Promise<string> {
  const created = await call(key, 'POST', '/operations', body);
  assert.equal(created.status, 202, created.text);
  return created.body.id as string;
}

async function statusOf(key: string, id: string): Promise<string> {
  return (await call(key, 'GET', `/operations/${id}`)).body.status as string;
}

const untilStatus = (key: string, id: string, status: string) =>
  waitFor(async () => (await statusOf(key, id)) === status, { timeoutMs: 10_000, intervalMs: 20, what: `${id} ${status}` });

/** Polls a bulk action until it ends; its final resource. */
async function finished(key: string, location: string): Promise<any> {
  return waitFor(
    async () => {
      const read = await call(key, 'GET', location);
      assert.equal(read.status, 200, read.text);
      return read.body.status === 'completed' || read.body.status === 'failed' ? read.body : null;
    },
    { timeoutMs: 15_000, intervalMs: 25, what: `bulk action ${location} ends` },
  );
}

describe('retrying one operation', () => {
  it('a failed operation runs again as a fresh run, completes, and its webhook is sent again', async () => {
    const id = await submit(KEY_A, { type: 'fail_first_run', input: { key: 'single' }, webhook_url: hooks.url });
    await untilStatus(KEY_A, id, 'failed');
    const failed = { etag: (await call(KEY_A, 'GET', `/operations/${id}`)).headers.get('etag') };
    await waitFor(() => hooks.received.some((h) => JSON.parse(h.body).data?.id === id), { timeoutMs: 10_000, what: 'the failed webhook' });

    const retried = await call(KEY_A, 'POST', `/operations/${id}/retry`);
    assert.equal(retried.status, 202, retried.text);
    assert.equal(retried.headers.get('location'), `/operations/${id}`);
    assert.equal(retried.body.status, 'pending');
    assert.equal(retried.body.attempt, 1);
    assert.equal(retried.body.error, null);
    assert.notEqual(retried.headers.get('etag'), failed.etag, 'a new version');

    await untilStatus(KEY_A, id, 'completed');
    const result = await call(KEY_A, 'GET', `/operations/${id}/result`);
    assert.deepEqual(result.body, { key: 'single', ran_again: true });
    const events = await waitFor(
      () => {
        const mine = hooks.received.map((h) => JSON.parse(h.body)).filter((e) => e.data?.id === id);
        return mine.length >= 2 ? mine : null;
      },
      { timeoutMs: 10_000, what: 'the second webhook' },
    );
    assert.deepEqual(
      events.map((e: any) => e.type),
      ['operation.failed', 'operation.completed'],
    );
    const deliveries = (await call(KEY_A, 'GET', `/operations/${id}/deliveries`)).body.items;
    assert.equal(deliveries.length, 2, 'the first delivery stays as a record');
  });

  it('runs it at the priority the body gives (within the tenant’s ceiling), or at its own without one', async () => {
    const id = await submit(KEY_A, { type: 'fail', input: { permanent: true }, priority: 4 });
    await untilStatus(KEY_A, id, 'failed');
    const tooHigh = await call(KEY_A, 'POST', `/operations/${id}/retry`, { priority: 51 });
    assert.equal(tooHigh.status, 400, tooHigh.text);
    assert.equal(tooHigh.body.errors[0].path, '/priority');
    assert.match(tooHigh.body.errors[0].message, /ceiling/);
    assert.equal((await call(KEY_A, 'POST', `/operations/${id}/retry`, { priority: 'high' })).status, 400);
    assert.equal((await call(KEY_A, 'POST', `/operations/${id}/retry`, { colour: 'red' })).status, 400);
    // JSON's null is a body, and not the object the document asks for; an array neither.
    for (const rawBody of ['null', '[]']) {
      const refused = await request(server.url, 'POST', `/operations/${id}/retry`, {
        rawBody,
        headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json' },
      });
      assert.equal(refused.status, 400, `${rawBody}: ${refused.text}`);
      assert.equal(refused.body.code, 'validation_failed');
    }
    assert.equal(await statusOf(KEY_A, id), 'failed', 'a refused retry changes nothing');
    const lowered = await call(KEY_A, 'POST', `/operations/${id}/retry`, { priority: -10 });
    assert.equal(lowered.status, 202, lowered.text);
    assert.equal(lowered.body.priority, -10);
    await untilStatus(KEY_A, id, 'failed');
    // An empty body is no body, its JSON content type notwithstanding: the retry keeps the priority.
    const kept = await request(server.url, 'POST', `/operations/${id}/retry`, {
      rawBody: '',
      headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json' },
    });
    assert.equal(kept.status, 202, kept.text);
    assert.equal(kept.body.priority, -10, 'no body: it keeps the one it has');
    // Gone, so the tenant tests below find no failed `fail` operation of alpha's.
    await untilStatus(KEY_A, id, 'failed');
    assert.equal((await call(KEY_A, 'DELETE', `/operations/${id}`)).status, 204);
  });

  it('answers 409 not_redrivable unless failed or cancelled, and 404 to an unknown or another tenant’s operation', async () => {
    const id = await submit(KEY_A, { type: 'echo', input: {} });
    await untilStatus(KEY_A, id, 'completed');
    const refused = await call(KEY_A, 'POST', `/operations/${id}/retry`);
    assert.equal(refused.status, 409);
    assert.equal(refused.body.code, 'not_redrivable');
    assert.equal(refused.body.operation_status, 'completed');
    assert.equal((await call(KEY_A, 'POST', '/operations/op_01KBBBBBBBBBBBBBBBBBBBBBBB/retry')).status, 404);
    assert.equal((await call(KEY_B, 'POST', `/operations/${id}/retry`)).status, 404);
  });

  it('answers 422 unknown_task_type to a failed operation of a type the server no longer runs, and leaves it failed', async () => {
    const store = freshStore();
    try {
      const before = await startServer({ store: store.spec });
      let id: string;
      try {
        const failed = await request(before.url, 'POST', '/operations', { body: { type: 'fail', input: { permanent: true } }, headers: { prefer: 'wait=10' } });
        assert.equal(failed.body.status, 'failed');
        id = failed.body.id;
      } finally {
        await before.stop();
      }
      // The same store, served without the fixture tasks: only the built-in report is registered.
      const after = await startServer({ store: store.spec, fixtureTasks: false });
      try {
        const refused = await request(after.url, 'POST', `/operations/${id}/retry`);
        assert.equal(refused.status, 422, refused.text);
        assert.equal(refused.body.code, 'unknown_task_type');
        assert.equal(refused.body.detail, `operation ${id} is of type "fail", which this server does not run (it runs: report)`);
        assert.equal(refused.body.errors, undefined, 'no /type pointer: a retry sends no such field');
        const conditional = await request(after.url, 'POST', `/operations/${id}/retry`, { headers: { 'if-match': `W/"${id}.0"` } });
        assert.equal(conditional.status, 422, 'refused as such whatever its conditions: not the 412 of a stale If-Match');
        assert.equal((await request(after.url, 'GET', `/operations/${id}`)).body.status, 'failed', 'not sent back to pending, where nothing would run it');
        // Declared as it is answered.
        const retry = (await request(after.url, 'GET', '/openapi.json')).body.paths['/operations/{id}/retry'].post;
        assert.ok(retry.responses['422'], 'the 422 declared');
        assert.deepEqual(
          Object.keys(retry.responses['202'].headers ?? {}).filter((h) => /preference|idempotent/i.test(h)),
          [],
          'no submit-only headers',
        );
      } finally {
        await after.stop();
      }
    } finally {
      await store.cleanup();
    }
  });
});

describe('bulk actions', () => {
  it('retry: a dry run counts the matches, then the action runs to completed and every match runs again', async () => {
    const ids = [];
    for (let i = 0; i < 7; i++) ids.push(await submit(KEY_A, { type: 'fail_first_run', input: { key: `bulk-${i}` } }));
    for (const id of ids) await untilStatus(KEY_A, id, 'failed');
    const filter = { type: 'fail_first_run', status: 'failed' };
    const dry = await call(KEY_A, 'POST', '/bulk-actions', { action: 'retry', filter, dry_run: true });
    assert.equal(dry.status, 200, dry.text);
    assert.deepEqual(dry.body, { action: 'retry', filter, count: 7 });

    const created = await call(KEY_A, 'POST', '/bulk-actions', { action: 'retry', filter });
    assert.equal(created.status, 202, created.text);
    assert.match(created.body.id, /^bulk_/);
    assert.equal(created.headers.get('location'), `/bulk-actions/${created.body.id}`);
    assert.equal(created.body.total, 7);
    assert.equal(created.body.tenant, 'alpha');
    assert.equal(created.body.created_by, `key:${createHash('sha256').update(KEY_A).digest('hex').slice(0, 12)}`, 'the key, by its sha256');
    const done = await finished(KEY_A, created.headers.get('location')!);
    assert.deepEqual([done.status, done.processed, done.succeeded, done.skipped], ['completed', 7, 7, 0]);
    assert.ok(done.started_at !== null && done.finished_at !== null);
    for (const id of ids) await untilStatus(KEY_A, id, 'completed');

    const listed = await call(KEY_A, 'GET', '/bulk-actions');
    assert.equal(listed.status, 200);
    assert.equal(listed.body.items[0].id, created.body.id, 'newest first');
  });

  it('retry at priority -10: the action keeps it, and every redriven operation takes it', async () => {
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push(await submit(KEY_A, { type: 'fail_first_run', input: { key: `low-${i}` }, priority: 2 }));
    for (const id of ids) await untilStatus(KEY_A, id, 'failed');
    const filter = { type: 'fail_first_run', status: 'failed' };
    const created = await call(KEY_A, 'POST', '/bulk-actions', { action: 'retry', filter, priority: -10 });
    assert.equal(created.status, 202, created.text);
    assert.equal(created.body.priority, -10);
    assert.deepEqual(created.body.filter, filter);
    const done = await finished(KEY_A, created.headers.get('location')!);
    assert.deepEqual([done.status, done.succeeded, done.priority], ['completed', 4, -10]);
    for (const id of ids) {
      await untilStatus(KEY_A, id, 'completed');
      assert.equal((await call(KEY_A, 'GET', `/operations/${id}`)).body.priority, -10, id);
    }
    const plain = await call(KEY_A, 'POST', '/bulk-actions', { action: 'retry', filter: { type: 'nothing-here' } });
    assert.equal(plain.body.priority, null, 'without one: each keeps its own');
  });

  it('cancel: pending ones end cancelled; delete: terminal ones go', async () => {
    const runAt = new Date(Date.now() + 3_600_000).toISOString();
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push(await submit(KEY_A, { type: 'sleep', input: { ms: 1 }, run_at: runAt }));
    const cancel = await call(KEY_A, 'POST', '/bulk-actions', { action: 'cancel', filter: { type: 'sleep', status: 'pending' } });
    assert.equal(cancel.status, 202, cancel.text);
    const cancelled = await finished(KEY_A, cancel.headers.get('location')!);
    assert.deepEqual([cancelled.status, cancelled.succeeded], ['completed', 3]);
    for (const id of ids) assert.equal(await statusOf(KEY_A, id), 'cancelled');
    // Counted as single cancels are (no other test here cancels a sleep).
    const metrics = (await call(KEY_A, 'GET', '/metrics')).text;
    assert.match(metrics, /^asyncops_operations_cancelled_total\{type="sleep"\} 3$/m);

    // A long-poll held on one of them (for up to a minute) and a status read cached just before the delete.
    const etag = (await call(KEY_A, 'GET', `/operations/${ids[0]}`)).headers.get('etag')!;
    const held = fetch(`${server.url}/operations/${ids[0]}`, {
      headers: { authorization: `Bearer ${KEY_A}`, 'if-none-match': etag, prefer: 'wait=60' },
      signal: AbortSignal.timeout(20_000),
    });
    const del = await call(KEY_A, 'POST', '/bulk-actions', { action: 'delete', filter: { type: 'sleep', status: 'cancelled' } });
    assert.equal(del.status, 202, del.text);
    const deleted = await finished(KEY_A, del.headers.get('location')!);
    assert.deepEqual([deleted.status, deleted.succeeded], ['completed', 3]);
    assert.equal((await held).status, 404, 'the held long-poll answered once its operation was deleted, not at its wait’s end');
    // Each delete is announced, so no read served from before it (--read-cache) says the operation is still there.
    for (const id of ids) assert.equal((await call(KEY_A, 'GET', `/operations/${id}`)).status, 404);
  });

  it('replay_deliveries: dead deliveries are sent again', async () => {
    const refusing = await WebhookReceiver.start();
    try {
      refusing.replyWith({ status: 500 });
      const id = await submit(KEY_A, { type: 'echo', input: { n: 1 }, webhook_url: refusing.url });
      const dead = await waitFor(
        async () => {
          const items = (await call(KEY_A, 'GET', `/operations/${id}/deliveries`)).body.items;
          return items[0]?.state === 'dead' ? items[0] : null;
        },
        { timeoutMs: 10_000, intervalMs: 25, what: 'the delivery dead' },
      );
      refusing.replyWith({ status: 204 });
      const dry = await call(KEY_A, 'POST', '/bulk-actions', { action: 'replay_deliveries', filter: { url: refusing.url }, dry_run: true });
      assert.equal(dry.body.count, 1);
      const replay = await call(KEY_A, 'POST', '/bulk-actions', { action: 'replay_deliveries', filter: { url: refusing.url } });
      assert.equal(replay.status, 202, replay.text);
      const done = await finished(KEY_A, replay.headers.get('location')!);
      assert.deepEqual([done.status, done.succeeded], ['completed', 1]);
      await waitFor(
        async () => (await call(KEY_A, 'GET', `/operations/${id}/deliveries`)).body.items.find((d: any) => d.id === dead.id)?.state === 'delivered',
        { timeoutMs: 10_000, intervalMs: 25, what: 'the replayed delivery delivered' },
      );
    } finally {
      await refusing.close();
    }
  });

  it('a tenant sees and touches its own alone; an admin reaches every tenant or the one it names', async () => {
    const betaId = await submit(KEY_B, { type: 'fail', input: { permanent: true } });
    await untilStatus(KEY_B, betaId, 'failed');
    const alphaCount = (await call(KEY_A, 'POST', '/bulk-actions', { action: 'retry', filter: { type: 'fail' }, dry_run: true })).body.count;
    assert.equal(alphaCount, 0, 'beta’s failed operation is not alpha’s to retry');
    const created = await call(KEY_A, 'POST', '/bulk-actions', { action: 'retry', filter: { type: 'fail' } });
    assert.equal((await call(KEY_B, 'GET', created.headers.get('location')!)).status, 404, 'beta does not see alpha’s action');
    assert.ok(!(await call(KEY_B, 'GET', '/bulk-actions')).body.items.some((a: any) => a.id === created.body.id));
    assert.equal((await call(KEY_ADMIN, 'GET', created.headers.get('location')!)).status, 200, 'an admin does');
    const admin = await call(KEY_ADMIN, 'POST', '/bulk-actions', { action: 'retry', filter: { type: 'fail', tenant: 'beta' }, dry_run: true });
    assert.equal(admin.body.count, 1);
    // `?tenant=` narrows an admin's action as filter.tenant does (it was ignored: the action reached every tenant).
    const narrowed = await call(KEY_ADMIN, 'POST', '/bulk-actions?tenant=alpha', { action: 'retry', filter: { type: 'fail' }, dry_run: true });
    assert.deepEqual([narrowed.status, narrowed.body.count, narrowed.body.filter.tenant], [200, 0, 'alpha']);
    const both = await call(KEY_ADMIN, 'POST', '/bulk-actions?tenant=alpha', { action: 'retry', filter: { type: 'fail', tenant: 'beta' }, dry_run: true });
    assert.deepEqual([both.status, both.body.errors?.[0]?.path], [400, '/query/tenant']);
    const named = await call(KEY_ADMIN, 'POST', '/bulk-actions?tenant=beta', { action: 'retry', filter: { type: 'nothing-of-this-type' } });
    assert.deepEqual([named.status, named.body.tenant], [202, 'beta']);
    assert.equal((await call(KEY_A, 'POST', '/bulk-actions?tenant=beta', { action: 'retry', filter: { type: 'fail' }, dry_run: true })).status, 403);
    const forbidden = await call(KEY_A, 'POST', '/bulk-actions', { action: 'retry', filter: { tenant: 'beta' }, dry_run: true });
    assert.equal(forbidden.status, 400);
    assert.equal(forbidden.body.errors[0].path, '/filter/tenant');
  });

  it('answers 400 naming the field to a bad action or filter', async () => {
    const bad = async (body: unknown, path: string) => {
      const reply = await call(KEY_A, 'POST', '/bulk-actions', body);
      assert.equal(reply.status, 400, `${JSON.stringify(body)}: ${reply.text}`);
      assert.equal(reply.headers.get('content-type'), 'application/problem+json; charset=utf-8');
      assert.ok(
        (reply.body.errors as Array<{ path: string }>).some((e) => e.path === path),
        `${JSON.stringify(body)} names ${path}: ${reply.text}`,
      );
    };
    await bad({ action: 'retry', filter: { status: 'completed' } }, '/filter/status');
    await bad({ action: 'delete', filter: { status: 'pending' } }, '/filter/status');
    await bad({ action: 'retry', filter: { colour: 'red' } }, '/filter/colour');
    await bad({ action: 'retry', filter: { url: 'https://example.com' } }, '/filter/url');
    await bad({ action: 'replay_deliveries', filter: { status: 'failed' } }, '/filter/status');
    await bad({ action: 'retry', filter: { created_after: 'yesterday' } }, '/filter/created_after');
    await bad({ action: 'retry', filter: { created_after: '2026-02-01T00:00:00Z', created_before: '2026-01-01T00:00:00Z' } }, '/filter/created_before');
    await bad({ action: 'explode' }, '/action');
    await bad({ action: 'cancel', filter: {}, priority: -10 }, '/priority');
    await bad({ action: 'retry', filter: {}, priority: 51 }, '/priority');
    await bad({ action: 'retry', filter: {}, priority: -1001 }, '/priority');
    assert.equal((await call(KEY_A, 'GET', '/bulk-actions/bulk_nope')).status, 404);
  });
});

describe('the SDK and the CLI', () => {
  const cli = async (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI_ENTRY, '--url', server.url, '--api-key', KEY_A, ...args], {
        cwd: REPO_ROOT,
        timeout: 30_000,
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  };

  it('client.retry, asyncops retry, and asyncops bulk retry --dry-run, --wait; bad filters are one line', async () => {
    const client = new AsyncOpsClient({ baseUrl: server.url, apiKey: KEY_A });
    const first = await client.submit('fail_first_run', { key: 'sdk' });
    const second = await client.submit('fail_first_run', { key: 'cli' });
    await client.wait(first.id, { timeoutMs: 10_000 });
    await client.wait(second.id, { timeoutMs: 10_000 });
    const retried = await client.retry(first.id);
    assert.equal(retried.status, 'pending');
    assert.equal((await client.wait(first.id, { timeoutMs: 10_000 })).status, 'completed');
    await assert.rejects(client.retry(first.id), (e: unknown) => e instanceof AsyncOpsApiError && e.status === 409);

    const one = await cli('retry', second.id, '--priority', '7', '--json');
    assert.equal(one.code, 0, one.stderr);
    assert.deepEqual([JSON.parse(one.stdout).status, JSON.parse(one.stdout).priority], ['pending', 7]);
    await client.wait(second.id, { timeoutMs: 10_000 });
    const fourth = await client.submit('fail', { permanent: true });
    await client.wait(fourth.id, { timeoutMs: 10_000 });
    assert.equal((await client.retry(fourth.id, { priority: -5 })).priority, -5);

    const third = await client.submit('fail_first_run', { key: 'cli-bulk' });
    await client.wait(third.id, { timeoutMs: 10_000 });
    const dry = await cli('bulk', 'retry', '--type', 'fail_first_run', '--status', 'failed', '--dry-run');
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(dry.stdout, '1 would be processed (dry run)\n');
    const ran = await cli('bulk', 'retry', '--type', 'fail_first_run', '--status', 'failed', '--priority=-10', '--wait', '--json');
    assert.equal(ran.code, 0, ran.stderr);
    const action = JSON.parse(ran.stdout);
    assert.deepEqual([action.status, action.succeeded, action.priority], ['completed', 1, -10]);
    assert.equal((await client.get(third.id)).priority, -10);
    const viaSdk = await client.createBulkAction('retry', { type: 'fail_first_run', status: 'failed' }, { priority: -3 });
    assert.equal(viaSdk.priority, -3);
    assert.equal((await client.getBulkAction(action.id)).id, action.id);
    assert.ok((await client.listBulkActions()).items.some((a) => a.id === action.id));
    assert.equal(await client.countBulkAction('retry', { type: 'fail_first_run', status: 'failed' }), 0);

    // The replay's filter by webhook URL is --webhook-url: --url stays the server's (it once took the filter's place).
    const replay = await cli('bulk', 'replay', '--webhook-url', 'http://127.0.0.1:9/hooks', '--dry-run', '--json');
    assert.equal(replay.code, 0, replay.stderr);
    assert.deepEqual(JSON.parse(replay.stdout).filter, { url: 'http://127.0.0.1:9/hooks' });

    const bad = await cli('bulk', 'delete', '--status', 'pending');
    assert.equal(bad.code, 6);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    assert.match(bad.stderr, /filter\/status/);
    // Refused before anything is sent, as a bad argument (exit 2): nothing is counted or changed.
    const bulkActionsBefore = (await client.listBulkActions()).items.length;
    const noStatus = await cli('bulk', 'retry', '--status', 'bogus');
    assert.equal(noStatus.code, 2, noStatus.stderr);
    assert.match(noStatus.stderr, /^asyncops: .*--status.*bogus.*Allowed choices are pending, processing, completed, failed, cancelled/);
    const noWait = await cli('bulk', 'retry', '--type', 'fail_first_run', '--wait-timeout', '5');
    assert.equal(noWait.code, 2, noWait.stderr);
    assert.equal(noWait.stderr, 'asyncops: --wait-timeout needs --wait\n');
    assert.equal((await client.listBulkActions()).items.length, bulkActionsBefore);
  });
});
