// End to end on a real server: recurring schedules through HTTP, the CLI and a webhook. A schedule every second
// creates ordinary operations (status URL, webhook); bad input is a problem naming the field (a one-line error and a
// non-zero exit in the CLI); pause, resume, delete; the schedules a task declares are listed and cannot be deleted.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { REPO_ROOT, startServer, type ServerProcess } from '../support/server.ts';
import { request } from '../support/http.ts';
import { AsyncOpsClient } from '../../src/client/index.ts';
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
    assert.equal(operation.schedule_id, created.body.id, 'it names its schedule');
    // The schedule's operations link lists what its ticks created, and nothing submitted of its type.
    const submitted = await api('POST', '/operations', { type: 'echo', input: { n: 2 } });
    assert.equal(submitted.body.schedule_id, null);
    assert.equal(detail.links.operations, `/operations?schedule_id=${created.body.id}`);
    const listed = (await api('GET', detail.links.operations)).body.items as Array<{ id: string; schedule_id: string }>;
    assert.ok(listed.length >= 2 && listed.every((op) => op.schedule_id === created.body.id), JSON.stringify(listed));
    assert.ok(listed.some((op) => op.id === older.operation_id) && !listed.some((op) => op.id === submitted.body.id));
    const byCliRun = await runCli(['--url', server.url, 'list', '--schedule', created.body.id, '--json']);
    assert.equal(byCliRun.code, 0, byCliRun.stderr);
    const byCli = (JSON.parse(byCliRun.stdout) as { items: Array<{ schedule_id: string }> }).items;
    assert.ok(byCli.length >= 2 && byCli.every((op) => op.schedule_id === created.body.id), 'asyncops list --schedule');
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
    assert.ok(
      (await api('GET', detail.links.operations)).body.items.some((op: { id: string }) => op.id === older.operation_id),
      'still listed by it',
    );
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
    const missing = await api('GET', '/schedules/sch_nope');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.detail, 'no schedule "sch_nope"', 'the id quoted, as every other not_found quotes it');
    assert.equal((await api('POST', '/schedules/sch_nope/pause')).status, 404);
    assert.equal((await api('GET', '/schedules?cursor=nope')).status, 400);
  });

  it('an Idempotency-Key makes a create safe to send again: the schedule it made (201, Idempotent-Replayed), 422 for another body', async () => {
    const keyed = (key: string, body: unknown) => request(server.url, 'POST', '/schedules', { body, headers: { 'idempotency-key': key } });
    const body = { type: 'echo', input: { n: 7 }, cron: '0 6 * * MON', timezone: 'Europe/Berlin' };
    // Ten at once, as retries racing a slow first reply: one schedule.
    const replies = await Promise.all(Array.from({ length: 10 }, () => keyed('deploy-2026-12-06', body)));
    assert.deepEqual(
      replies.map((r) => r.status),
      replies.map(() => 201),
    );
    const ids = new Set(replies.map((r) => r.body.id));
    assert.equal(ids.size, 1, [...ids].join(', '));
    const id = [...ids][0] as string;
    const creating = replies.filter((r) => r.headers.get('idempotent-replayed') === null);
    assert.equal(creating.length, 1, 'one reply created it');
    assert.ok(replies.every((r) => r.headers.get('location') === `/schedules/${id}`));
    // Members in another order are the same body.
    const later = await keyed('deploy-2026-12-06', { timezone: 'Europe/Berlin', cron: '0 6 * * MON', input: { n: 7 }, type: 'echo' });
    assert.equal(later.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(later.body, creating[0]!.body);
    // Another body under the key: refused, nothing stored; the time zone as sent counts (UTC is not Europe/Berlin).
    const before = (await api('GET', '/schedules?limit=200')).body.items.length;
    for (const other of [
      { ...body, input: { n: 8 } },
      { ...body, timezone: undefined },
      { ...body, cron: '0 7 * * MON' },
    ]) {
      const refused = await keyed('deploy-2026-12-06', other);
      assert.equal(refused.status, 422, refused.text);
      assert.equal(refused.body.code, 'idempotency_key_mismatch');
      assert.equal(refused.body.schedule_id, id);
    }
    // A member left out is its default: no time zone is UTC, no priority is 0.
    const defaults = { type: 'echo', input: { n: 9 }, cron: '0 6 * * MON' };
    const first = await keyed('defaults-1', defaults);
    const explicit = await keyed('defaults-1', { ...defaults, timezone: 'UTC', priority: 0 });
    assert.deepEqual([explicit.status, explicit.headers.get('idempotent-replayed'), explicit.body.id], [201, 'true', first.body.id]);
    assert.equal((await api('DELETE', `/schedules/${first.body.id}`)).status, 204);
    const badKey = await keyed('two words', body);
    assert.equal(badKey.status, 400, badKey.text);
    assert.deepEqual(
      badKey.body.errors.map((e: { path: string }) => e.path),
      ['/headers/idempotency-key'],
    );
    assert.equal((await api('GET', '/schedules?limit=200')).body.items.length, before);
    // The SDK and the CLI send the key; a create from either with the same schedule is the same one.
    const client = new AsyncOpsClient({ baseUrl: server.url });
    const viaSdk = await client.createSchedule('echo', { n: 7 }, '0 6 * * MON', { timezone: 'Europe/Berlin', idempotencyKey: 'deploy-2026-12-06' });
    assert.equal(viaSdk.id, id);
    const viaCli = await cli(
      'create',
      'echo',
      '0 6 * * MON',
      '--input',
      '{"n":7}',
      '--timezone',
      'Europe/Berlin',
      '--idempotency-key',
      'deploy-2026-12-06',
      '--json',
    );
    assert.equal(viaCli.code, 0, viaCli.stderr);
    assert.equal(JSON.parse(viaCli.stdout).id, id);
    const cliBadKey = await cli('create', 'echo', '0 6 * * MON', '--idempotency-key', 'ключ');
    assert.equal(cliBadKey.code, 2, cliBadKey.stderr);
    assert.match(cliBadKey.stderr, /--idempotency-key must be 1\.\.255 visible ASCII characters$/m);
    // Deleted, its key is free: the next create under it makes a new schedule.
    assert.equal((await api('DELETE', `/schedules/${id}`)).status, 204);
    const anew = await keyed('deploy-2026-12-06', { ...body, input: { n: 8 } });
    assert.equal(anew.status, 201, anew.text);
    assert.equal(anew.headers.get('idempotent-replayed'), null);
    assert.notEqual(anew.body.id, id);
    assert.equal((await api('DELETE', `/schedules/${anew.body.id}`)).status, 204);
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

describe('schedules under a ceiling on priority (--max-priority)', () => {
  let capped: ServerProcess;
  before(async () => {
    capped = await startServer({
      fixtureTasks: false,
      args: ['--max-priority=-5', '--max-schedules', '3', '--tasks', join(REPO_ROOT, 'test/fixtures/scheduled-tasks.ts')],
    });
  });
  after(async () => {
    await capped?.stop();
  });

  it("refuses a schedule over the ceiling as a submit is refused, and its ticks' operations take the schedule's priority", async () => {
    const over = await request(capped.url, 'POST', '/schedules', { body: { type: 'echo', input: {}, cron: '0 0 1 1 *', priority: -4 } });
    assert.equal(over.status, 400, over.text);
    assert.deepEqual(
      over.body.errors.map((e: { path: string }) => e.path),
      ['/priority'],
    );
    assert.match(over.text, /must be <= -5, this tenant's ceiling/);
    // One that names none gets the ceiling, as a submit without a priority does.
    const unnamed = await request(capped.url, 'POST', '/schedules', { body: { type: 'echo', input: {}, cron: '0 0 1 1 *' } });
    assert.equal(unnamed.status, 201, unnamed.text);
    assert.equal(unnamed.body.priority, -5);
    assert.equal((await request(capped.url, 'DELETE', `/schedules/${unnamed.body.id}`)).status, 204);
    const submitted = await request(capped.url, 'POST', '/operations', { body: { type: 'echo', input: {} } });
    assert.equal(submitted.status, 202, submitted.text);
    assert.equal(submitted.body.priority, -5);
    const created = await request(capped.url, 'POST', '/schedules', { body: { type: 'echo', input: {}, cron: '* * * * * *', priority: -7 } });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.priority, -7);
    const viaCli = await runCli(['--url', capped.url, 'schedules', 'create', 'echo', '0 0 1 1 *', '--priority=-6', '--json']);
    assert.equal(viaCli.code, 0, viaCli.stderr);
    assert.equal(JSON.parse(viaCli.stdout).priority, -6);
    const listed = await runCli(['--url', capped.url, 'schedules', 'list']);
    assert.match(listed.stdout, new RegExp(`^${JSON.parse(viaCli.stdout).id}  echo  "0 0 1 1 \\*"  UTC  next \\S+  priority -6$`, 'm'));
    const operationId = await waitFor(
      async () => (await request(capped.url, 'GET', `/schedules/${created.body.id}`)).body.recent_ticks[0]?.operation_id ?? null,
      { timeoutMs: 10_000, intervalMs: 100, what: 'a tick fired' },
    );
    assert.equal((await request(capped.url, 'GET', `/operations/${operationId}`)).body.priority, -7);
    assert.equal((await request(capped.url, 'DELETE', `/schedules/${created.body.id}`)).status, 204);
  });

  it('holds a tenant to --max-schedules: past it a create is a 409 and stores nothing, until one is deleted', async () => {
    const create = (key?: string) =>
      request(capped.url, 'POST', '/schedules', {
        body: { type: 'echo', input: {}, cron: '0 0 1 1 *', priority: -5 },
        headers: key === undefined ? {} : { 'idempotency-key': key },
      });
    const held = (await request(capped.url, 'GET', '/schedules?limit=200')).body.items.filter((s: { origin: string }) => s.origin === 'api');
    const made: string[] = [];
    for (let i = held.length; i < 3; i++) made.push((await create(i === held.length ? 'cap-1' : undefined)).body.id);
    const refused = await create();
    assert.equal(refused.status, 409, refused.text);
    assert.equal(refused.body.code, 'conflict');
    assert.equal(refused.body.limit, 3);
    assert.match(refused.body.detail, /holds 3 schedules.*--max-schedules/);
    assert.equal((await create('cap-1')).headers.get('idempotent-replayed'), 'true', 'a replay is answered at the cap');
    const viaCli = await runCli(['--url', capped.url, 'schedules', 'create', 'echo', '0 0 1 1 *', '--priority=-5']);
    assert.equal(viaCli.code, 6, viaCli.stderr);
    assert.equal(viaCli.stderr.trim().split('\n').length, 1, viaCli.stderr);
    assert.equal((await request(capped.url, 'DELETE', `/schedules/${made.at(-1)}`)).status, 204);
    assert.equal((await create()).status, 201);
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
