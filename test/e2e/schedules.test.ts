// End to end on a real server: recurring schedules through HTTP, the CLI and a webhook. A schedule every second
// creates ordinary operations (status URL, webhook); bad input is a problem naming the field (a one-line error and a
// non-zero exit in the CLI); pause, resume, delete; the schedules a task declares are listed and cannot be deleted.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { REPO_ROOT, startServer, type ServerProcess } from '../support/server.ts';
import { request } from '../support/http.ts';
import { waitFor } from '../support/wait.ts';
import { WebhookReceiver } from '../support/webhook-receiver.ts';
import { killAll, runCli } from '../cli/run-cli.ts';
import { writeTenantsAndAdminKeys } from '../support/keys-file.ts';
import { tempDir } from '../support/server.ts';

let server: ServerProcess;
let receiver: WebhookReceiver;

const api = (method: string, path: string, body?: unknown) => request(server.url, method, path, { body });
const cli = (...args: string[]) => runCli(['--url', server.url, 'schedules', ...args]);

before(async () => {
  receiver = await WebhookReceiver.start();
  server = await startServer({ fixtureTasks: false, args: ['--allow-private-webhooks', '--tasks', join(REPO_ROOT, 'test/fixtures/scheduled-tasks.ts')] });
});
after(async () => {
  await killAll();
  await server?.stop();
  await receiver?.close();
});

describe('recurring schedules', () => {
  it('a schedule every second creates ordinary operations, each with its status URL and webhook', async () => {
    const created = await api('POST', '/schedules', { type: 'echo', input: { n: 1 }, cron: '* * * * * *', webhook_url: receiver.url });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.headers.get('location'), `/schedules/${created.body.id}`);
    assert.match(created.body.id, /^sch_/);
    assert.equal(created.body.timezone, 'UTC');
    assert.equal(created.body.origin, 'api');
    assert.ok(Date.parse(created.body.next_run_at) > Date.now() - 1_000);
    const detail = await waitFor(
      async () => {
        const read = await api('GET', `/schedules/${created.body.id}`);
        return read.body.recent_ticks.length >= 2 ? read.body : null;
      },
      { timeoutMs: 10_000, intervalMs: 100, what: 'two ticks fired' },
    );
    const [newest, older] = detail.recent_ticks;
    assert.equal(Date.parse(newest.tick) - Date.parse(older.tick), 1_000, 'consecutive seconds, none skipped');
    assert.equal(newest.skipped, 0);
    const operation = await waitFor(
      async () => {
        const read = await api('GET', older.operation_url);
        return read.body.status === 'completed' ? read.body : null;
      },
      { what: 'the operation of a tick completes' },
    );
    assert.deepEqual(operation.type, 'echo');
    assert.deepEqual(operation.input, { n: 1 });
    await waitFor(() => receiver.received.some((w) => JSON.parse(w.body).operation_id === older.operation_id), { what: "the tick's webhook" });

    const paused = await api('POST', `/schedules/${created.body.id}/pause`);
    assert.equal(paused.status, 200);
    assert.equal(paused.body.paused, true);
    const resumed = await api('POST', `/schedules/${created.body.id}/resume`);
    assert.equal(resumed.body.paused, false);
    assert.ok(Date.parse(resumed.body.next_run_at) > Date.parse(newest.tick));
    assert.equal((await api('DELETE', `/schedules/${created.body.id}`)).status, 204);
    assert.equal((await api('GET', `/schedules/${created.body.id}`)).status, 404);
    assert.equal((await api('GET', older.operation_url)).status, 200, 'the operations it created stay');
  });

  it('refuses bad input with a problem naming the field', async () => {
    const refused = async (body: unknown, status: number, path: string) => {
      const reply = await api('POST', '/schedules', body);
      assert.equal(reply.status, status, reply.text);
      assert.equal(reply.headers.get('content-type'), 'application/problem+json; charset=utf-8');
      assert.ok(
        reply.body.errors.some((e: { path: string }) => e.path.startsWith(path)),
        reply.text,
      );
    };
    await refused({ type: 'echo', input: {}, cron: 'every second' }, 400, '/cron');
    await refused({ type: 'echo', input: {}, cron: '* * * * *', timezone: 'Mars/Olympus' }, 400, '/timezone');
    await refused({ type: 'sleep', input: { ms: 'long' }, cron: '* * * * *' }, 400, '/input');
    await refused({ type: 'no_such_type', input: {}, cron: '* * * * *' }, 422, '/type');
    await refused({ type: 'echo', input: {}, cron: '* * * * *', webhook_url: 'https://user:pw@example.com/' }, 422, '/webhook_url');
    await refused({ type: 'echo', input: {} }, 400, '/cron');
    assert.equal((await api('GET', '/schedules/sch_nope')).status, 404);
    assert.equal((await api('POST', '/schedules/sch_nope/pause')).status, 404);
    assert.equal((await api('GET', '/schedules?cursor=nope')).status, 400);
  });

  it('lists schedules a page at a time; those a task declares are listed and cannot be deleted', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await api('POST', '/schedules', { type: 'echo', input: { i }, cron: '0 0 1 1 *' })).body.id);
    const first = await api('GET', '/schedules?limit=2');
    assert.equal(first.body.items.length, 2);
    assert.deepEqual(
      first.body.items.map((s: { id: string }) => s.id),
      [ids[2], ids[1]],
    );
    const rest = await api('GET', `/schedules?limit=200&cursor=${first.body.next_cursor}`);
    const declared = rest.body.items.filter((s: { origin: string }) => s.origin === 'task');
    assert.deepEqual(declared.map((s: { type: string; cron: string; timezone: string }) => [s.type, s.cron, s.timezone]).sort(), [
      ['nightly', '0 0 1 1 *', 'UTC'],
      ['nightly', '0 3 * * *', 'Europe/Berlin'],
    ]);
    const berlin = declared.find((s: { cron: string }) => s.cron === '0 3 * * *');
    assert.deepEqual(berlin.input, { scope: 'all' });
    assert.equal(new Date(berlin.next_run_at).getUTCMinutes(), 0);
    const refused = await api('DELETE', `/schedules/${berlin.id}`);
    assert.equal(refused.status, 409, refused.text);
    assert.equal((await api('POST', `/schedules/${berlin.id}/pause`)).body.paused, true);
    for (const id of ids) assert.equal((await api('DELETE', `/schedules/${id}`)).status, 204);
  });

  it('the CLI creates, lists, shows, pauses, resumes and deletes; errors are one line with a non-zero exit', async () => {
    const created = await cli('create', 'echo', '*/5 * * * *', '--input', '{"via":"cli"}', '--timezone', 'Asia/Tokyo', '--json');
    assert.equal(created.code, 0, created.stderr);
    const schedule = JSON.parse(created.stdout);
    assert.equal(schedule.timezone, 'Asia/Tokyo');
    const listed = await cli('list');
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`^${schedule.id}  echo  "\\*/5 \\* \\* \\* \\*"  Asia/Tokyo  next `, 'm'));
    const shown = await cli('get', schedule.id);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, new RegExp(schedule.id));
    assert.match((await cli('pause', schedule.id)).stdout, /paused/);
    assert.match((await cli('resume', schedule.id)).stdout, /next /);
    const deleted = await cli('delete', schedule.id);
    assert.equal(deleted.code, 0, deleted.stderr);

    const bad = await cli('create', 'echo', 'every day');
    assert.notEqual(bad.code, 0);
    assert.equal(bad.stdout, '');
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    assert.match(bad.stderr, /cron/);
    const missing = await cli('get', schedule.id);
    assert.notEqual(missing.code, 0);
    assert.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr);
  });
});

describe('schedules on a server with API keys', () => {
  const KEY_A = 'alpha-key-7Hc2vN9qLm4xW8rT';
  const KEY_B = 'beta-key-Y6uJ0aS5dF2gH9kL';
  const KEY_ADMIN = 'admin-key-Q4wE7rT1yU3iO9pZ';
  const dir = tempDir();
  let keyed: ServerProcess;
  before(async () => {
    const keys = writeTenantsAndAdminKeys(dir.path, { alpha: KEY_A, beta: KEY_B, admin: KEY_ADMIN });
    keyed = await startServer({ fixtureTasks: false, args: ['--api-keys-file', keys, '--tasks', join(REPO_ROOT, 'test/fixtures/scheduled-tasks.ts')] });
  });
  after(async () => {
    await keyed?.stop();
    dir.cleanup();
  });
  const as = (key: string, method: string, path: string, body?: unknown) =>
    request(keyed.url, method, path, { body, headers: { authorization: `Bearer ${key}` } });
  const ids = (reply: { body: { items: Array<{ id: string }> } }) => reply.body.items.map((s) => s.id);

  it("an admin key lists, reads, pauses, resumes and deletes any tenant's schedules, declared ones included; a tenant key only its own", async () => {
    const alphas = (await as(KEY_A, 'POST', '/schedules', { type: 'echo', input: {}, cron: '0 0 1 1 *' })).body.id as string;
    const declared = ids(await as(KEY_ADMIN, 'GET', '/schedules?tenant=default'));
    assert.equal(declared.length, 2, 'the two schedules the task declares, in the tenant default');
    assert.deepEqual(ids(await as(KEY_ADMIN, 'GET', '/schedules')).sort(), [alphas, ...declared].sort());
    assert.deepEqual(ids(await as(KEY_ADMIN, 'GET', '/schedules?tenant=alpha')), [alphas]);
    assert.deepEqual(ids(await as(KEY_A, 'GET', '/schedules')), [alphas]);
    assert.deepEqual(ids(await as(KEY_B, 'GET', '/schedules')), []);
    assert.equal((await as(KEY_B, 'GET', '/schedules?tenant=alpha')).status, 403);

    assert.equal((await as(KEY_ADMIN, 'GET', `/schedules/${alphas}`)).body.id, alphas);
    assert.equal((await as(KEY_ADMIN, 'GET', `/schedules/${alphas}?tenant=alpha`)).body.id, alphas);
    assert.equal((await as(KEY_ADMIN, 'GET', `/schedules/${alphas}?tenant=beta`)).status, 404);
    assert.equal((await as(KEY_B, 'GET', `/schedules/${alphas}`)).status, 404);
    assert.equal((await as(KEY_B, 'POST', `/schedules/${alphas}/pause`)).status, 404);
    assert.equal((await as(KEY_B, 'DELETE', `/schedules/${alphas}`)).status, 404);
    assert.equal((await as(KEY_A, 'POST', `/schedules/${declared[0]}/pause`)).status, 404);

    for (const id of [alphas, declared[0]!]) {
      assert.equal((await as(KEY_ADMIN, 'POST', `/schedules/${id}/pause`)).body.paused, true);
      assert.equal((await as(KEY_ADMIN, 'GET', `/schedules/${id}`)).body.paused, true);
      assert.equal((await as(KEY_ADMIN, 'POST', `/schedules/${id}/resume`)).body.paused, false);
    }
    assert.equal((await as(KEY_ADMIN, 'DELETE', `/schedules/${declared[0]}`)).status, 409);
    assert.equal((await as(KEY_ADMIN, 'DELETE', `/schedules/${alphas}`)).status, 204);
    assert.deepEqual(ids(await as(KEY_A, 'GET', '/schedules')), []);
  });
});
