// End to end on the real server process (SQLite, or PostgreSQL in the suite's second pass): an operation that reports
// progress, fails its first attempt, completes on the second and sends its webhook to a real receiver that refuses the
// first try; its history (GET /operations/{id}/history, the SDK and the CLI) lists what happened, in order, in pages,
// and only to its own tenant.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { CLI_ENTRY, REPO_ROOT, startServer, tempDir, type ServerProcess } from '../support/server.ts';
import { request } from '../support/http.ts';
import { WebhookReceiver } from '../support/webhook-receiver.ts';
import { waitFor } from '../support/wait.ts';
import { AsyncOpsClient, type HistoryEvent } from '../../src/client/index.ts';
import { MAX_PROGRESS_EVENTS_PER_CLAIM } from '../../src/domain/history.ts';

const KEY_A = `ka-${randomBytes(16).toString('hex')}`;
const KEY_B = `kb-${randomBytes(16).toString('hex')}`;
const asA = { authorization: `Bearer ${KEY_A}` };
const asB = { authorization: `Bearer ${KEY_B}` };

const dir = tempDir('asyncops-history-');
let server: ServerProcess;
let receiver: WebhookReceiver;
let operationId = '';
let submitted: { estimated_completion_at: string | null };

before(async () => {
  receiver = await WebhookReceiver.start();
  receiver.replyWith((n) => (n === 1 ? { status: 503 } : { status: 200 }));
  const keysFile = join(dir.path, 'keys.txt');
  writeFileSync(keysFile, `alpha:${KEY_A}\nbeta:${KEY_B}\n`);
  server = await startServer({
    fixtureTasks: false,
    args: [
      '--tasks',
      join(REPO_ROOT, 'test/fixtures/history-tasks.ts'),
      '--api-keys-file',
      keysFile,
      '--allow-private-webhooks',
      '--webhook-secret',
      `whsec_${randomBytes(32).toString('base64')}`,
      '--webhook-schedule',
      '50ms',
      '--retry-base',
      '50ms',
    ],
  });
  const created = await request(server.url, 'POST', '/operations', {
    headers: asA,
    body: { type: 'progress_retry', input: { steps: 40, stepMs: 10 }, webhook_url: receiver.url },
  });
  assert.equal(created.status, 202, created.text);
  operationId = created.body.id;
  submitted = created.body;
  // Done once the webhook got through on its second try.
  await waitFor(
    async () => {
      const page = await request(server.url, 'GET', `/operations/${operationId}/history?limit=200`, { headers: asA });
      return page.body?.items?.some((e: HistoryEvent) => e.kind === 'webhook_attempt' && e.outcome === 'delivered');
    },
    { timeoutMs: 20_000, what: 'the operation ended and its webhook delivered' },
  );
});
after(async () => {
  await Promise.all([server?.stop(), receiver?.close()]);
  dir.cleanup();
});

async function fullHistory(): Promise<HistoryEvent[]> {
  const page = await request(server.url, 'GET', `/operations/${operationId}/history?limit=200`, { headers: asA });
  assert.equal(page.status, 200, page.text);
  assert.equal(page.body.next_cursor, null);
  return page.body.items;
}

/** The kinds in order, a run of progress events as one `progress+`. */
function shape(events: readonly HistoryEvent[]): string[] {
  const kinds: string[] = [];
  for (const e of events) {
    const kind = e.kind === 'progress' ? 'progress+' : e.kind;
    if (kind !== kinds.at(-1) || kind !== 'progress+') kinds.push(kind);
  }
  return kinds;
}

describe('GET /operations/{id}/history', () => {
  it('lists what happened, in order: created, each attempt with its milestones, the end and each webhook attempt', async () => {
    const events = await fullHistory();
    assert.deepEqual(shape(events), [
      'created',
      'claimed',
      'progress+',
      'attempt_failed',
      'claimed',
      'progress+',
      'completed',
      'webhook_attempt',
      'webhook_attempt',
    ]);
    assert.ok(
      events.every((e, i) => i === 0 || (e.seq > events[i - 1]!.seq && Date.parse(e.at) >= Date.parse(events[i - 1]!.at) - 5)),
      'in order',
    );
    const [created, claimed] = events;
    assert.equal(created!.tenant, 'alpha');
    assert.equal(created!.idempotency_key, null);
    // The ETA the submit's reply gave (or null, as it gave none), noted on the created event.
    if (submitted.estimated_completion_at === null) assert.equal(created!.estimated_completion_at, null);
    else assert.ok(Math.abs(Date.parse(created!.estimated_completion_at!) - Date.parse(submitted.estimated_completion_at)) <= 1);
    assert.equal(claimed!.attempt, 1);
    assert.equal(typeof claimed!.worker, 'string');
    const failed = events.find((e) => e.kind === 'attempt_failed')!;
    assert.equal(failed.attempt, 1);
    assert.deepEqual(failed.error, { code: 'handler_error', message: 'the first attempt fails' });
    assert.ok(Date.parse(failed.next_run_at!) >= Date.parse(failed.at));
    assert.equal(events.filter((e) => e.kind === 'claimed')[1]!.attempt, 2);
    const [first, second] = events.filter((e) => e.kind === 'webhook_attempt');
    assert.equal(first!.status_code, 503);
    assert.equal(first!.outcome, 'retrying');
    assert.equal(first!.attempt, 1);
    assert.equal(second!.status_code, 200);
    assert.equal(second!.outcome, 'delivered');
    assert.equal(second!.delivery_id, first!.delivery_id);
    assert.equal(typeof second!.duration_ms, 'number');
  });

  it('records progress as milestones: the first report, then at most one per 10 % step, per attempt', async () => {
    const events = await fullHistory();
    const secondClaim = events.findIndex((e, i) => e.kind === 'claimed' && i > 1);
    const firstAttempt = events.slice(0, secondClaim).filter((e) => e.kind === 'progress');
    const secondAttempt = events.slice(secondClaim).filter((e) => e.kind === 'progress');
    assert.deepEqual(
      firstAttempt.map((e) => [e.progress, e.message]),
      [[0.2, 'warming up']],
    );
    // Forty reports, written at most every 200 ms: a few milestones, each in a later 10 % step than the one before.
    assert.ok(secondAttempt.length >= 1 && secondAttempt.length <= MAX_PROGRESS_EVENTS_PER_CLAIM, `${secondAttempt.length} milestones`);
    const steps = secondAttempt.map((e) => Math.floor(e.progress! * 10 + 1e-9));
    assert.ok(
      steps.every((s, i) => i === 0 || s > steps[i - 1]!),
      `steps ${steps.join(', ')}`,
    );
  });

  it('pages by cursor (the SDK follows it too), and refuses a cursor that is not one of its own', async () => {
    const all = await fullHistory();
    const paged: HistoryEvent[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? '' : `&cursor=${cursor}`;
      const page = await request(server.url, 'GET', `/operations/${operationId}/history?limit=3${query}`, { headers: asA });
      assert.equal(page.status, 200, page.text);
      assert.ok(page.body.items.length <= 3);
      paged.push(...page.body.items);
      cursor = page.body.next_cursor;
    } while (cursor !== null);
    assert.deepEqual(paged, all);

    const client = new AsyncOpsClient({ baseUrl: server.url, apiKey: KEY_A });
    const viaSdk: HistoryEvent[] = [];
    for await (const event of client.historyAll(operationId, { limit: 4 })) viaSdk.push(event);
    assert.deepEqual(viaSdk, all);

    const opCursor = Buffer.from(operationId).toString('base64url');
    const bad = await request(server.url, 'GET', `/operations/${operationId}/history?cursor=${opCursor}`, { headers: asA });
    assert.equal(bad.status, 400);
    assert.equal(bad.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.equal(bad.body.errors[0].path, '/query/cursor');
  });

  it("is the operation's tenant's alone: another tenant's key gets 404, no key 401, an unknown id 404", async () => {
    const other = await request(server.url, 'GET', `/operations/${operationId}/history`, { headers: asB });
    assert.equal(other.status, 404);
    assert.equal(other.body.code, 'not_found');
    const named = await request(server.url, 'GET', `/operations/${operationId}/history?tenant=alpha`, { headers: asB });
    assert.equal(named.status, 403, 'a tenant key naming another tenant is refused');
    assert.equal((await request(server.url, 'GET', `/operations/${operationId}/history`)).status, 401);
    const missing = await request(server.url, 'GET', '/operations/op_01M8XDGEZS4JAS02RWCSG7H7Z2/history', { headers: asA });
    assert.equal(missing.status, 404);
  });

  it('is printed by `asyncops history ID`, as a table and as the JSON page', async () => {
    const run = promisify(execFile);
    const args = [CLI_ENTRY, '--url', server.url, '--api-key', KEY_A, 'history', operationId];
    const table = await run(process.execPath, [...args, '--limit', '200'], { cwd: REPO_ROOT, timeout: 20_000 });
    const lines = table.stdout.trim().split('\n');
    assert.match(lines[0]!, /^SEQ\s+AT\s+KIND\s+DETAILS$/);
    assert.match(table.stdout, /attempt_failed\s+attempt=1 error=handler_error: the first attempt fails/);
    assert.match(table.stdout, /webhook_attempt\s+attempt=2 delivery_id=dlv_\S+ status_code=200 duration_ms=\d+ outcome=delivered/);
    const json = await run(process.execPath, [...args, '--all', '--json'], { cwd: REPO_ROOT, timeout: 20_000 });
    assert.deepEqual(JSON.parse(json.stdout), { items: await fullHistory(), next_cursor: null });
  });
});
