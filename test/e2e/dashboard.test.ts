// The web dashboard (/dashboard) in headless Chromium against the real server process (skipped without
// /usr/bin/chromium, except under CI=true): the overview, filtering the list, an operation's page following it live
// while it runs, a bulk retry of failed operations after its dry run, replaying a dead delivery, the task types; and
// with API keys, the key form, a tenant's key refused another tenant's operation, an admin key seeing both.
// On PostgreSQL (ASYNCOPS_E2E_STORE=postgres) the page is served by an API-only node and the work runs on a worker
// node: what the page shows live comes through the change feed from the other process.
// Screenshots of each page go to docs/dashboard/ with ASYNCOPS_SCREENSHOTS=1 (`npm run screenshots`), else to a
// temporary directory, so a test run leaves the tree as it was.

import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { E2E_STORE, REPO_ROOT, STORE_INDEPENDENT, freshStore, startServer, tempDir, type ServerProcess, type TestStore } from '../support/server.ts';
import { request } from '../support/http.ts';
import { writeTenantsAndAdminKeys } from '../support/keys-file.ts';
import { launchChromium } from '../support/chromium.ts';
import { waitFor } from '../support/wait.ts';
import { WebhookReceiver } from '../support/webhook-receiver.ts';

/** The bound of every wait on the page. */
const UI_TIMEOUT_MS = 15_000;

const scratch = tempDir('asyncops-dashboard-');
const SHOTS = process.env.ASYNCOPS_SCREENSHOTS === '1' ? join(REPO_ROOT, 'docs/dashboard') : join(scratch.path, 'screenshots');
mkdirSync(SHOTS, { recursive: true });

let browser: Browser | null = null;

after(async () => {
  await browser?.close();
  scratch.cleanup();
});

/** The requests each page saw answered 4xx or 5xx. */
const failedRequests = new WeakMap<Page, string[]>();

/** A fresh page (its own sessionStorage) in the shared browser, or null once `t` is skipped for want of Chromium. */
async function newPage(t: TestContext): Promise<Page | null> {
  browser ??= await launchChromium(t);
  if (browser === null) return null;
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  page.setDefaultTimeout(UI_TIMEOUT_MS);
  // A script error or a refused policy fails the test that caused it.
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(`console: ${message.text()}`);
  });
  // Each request that failed, as the browser's console would list it: only the ones a test asked for are allowed.
  const failed: string[] = [];
  page.on('response', (response) => {
    if (response.status() >= 400) failed.push(`${response.status()} ${new URL(response.url()).pathname}`);
  });
  failedRequests.set(page, failed);
  t.after(async () => {
    await context.close();
    assert.deepEqual(problems, [], 'no script errors and nothing refused by the page policy');
  });
  return page;
}

async function screenshot(page: Page, name: string): Promise<void> {
  // The clock ticks in relative times; let charts and tables settle on their first data.
  await page.waitForLoadState('networkidle', { timeout: 3000 }).catch(() => {});
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** The status of every row of the operations table, once it has `n` rows or more. */
async function rowStatuses(page: Page, table = '[data-testid="operations-table"]'): Promise<string[]> {
  return page.locator(`${table} tbody tr[data-id] [data-status]`).evaluateAll((badges) => badges.map((b) => b.getAttribute('data-status') ?? ''));
}

async function submit(base: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<string> {
  const created = await request(base, 'POST', '/operations', { body, headers });
  assert.equal(created.status, 202, created.text);
  return created.body.id;
}

async function statusOf(base: string, id: string, headers: Record<string, string> = {}): Promise<string> {
  return (await request(base, 'GET', `/operations/${id}`, { headers })).body.status;
}

describe('dashboard: without API keys (loopback), every page', () => {
  let api: ServerProcess;
  let worker: ServerProcess | null = null;
  let store: TestStore | null = null;
  let url: string;
  let hooks: WebhookReceiver;
  const common = ['--allow-private-webhooks', '--webhook-schedule', '50ms', '--webhook-timeout', '1s'];

  before(async () => {
    hooks = await WebhookReceiver.start();
    if (E2E_STORE === 'postgres') {
      // Two processes on one schema: the page's node runs no work, so every change it shows came from the other.
      store = freshStore('postgres');
      api = await startServer({ store: store.spec, args: [...common, '--no-workers'] });
      worker = await startServer({ store: store.spec, command: 'worker', args: common });
    } else {
      api = await startServer({ args: common });
    }
    url = api.url;
  });
  after(async () => {
    await Promise.all([api?.stop(), worker?.stop(), hooks?.close()]);
    await store?.cleanup();
  });

  it('the overview shows each type: what waits, runs and failed, with charts of the last hour', async (t) => {
    const page = await newPage(t);
    if (page === null) return;
    for (let i = 0; i < 3; i++) await submit(url, { type: 'echo', input: { i } });
    for (let i = 0; i < 2; i++) await submit(url, { type: 'fail', input: { permanent: true, message: 'the report source is gone' } });
    await waitFor(async () => (await request(url, 'GET', '/operations?status=failed&type=fail')).body.items.length === 2, {
      timeoutMs: 10_000,
      what: 'two failed operations',
    });
    await page.goto(`${url}/dashboard`);
    const failedCell = page.locator('[data-testid="overview-table"] tr[data-type="fail"] td').nth(3);
    await failedCell.getByText('2', { exact: true }).waitFor();
    await page.locator('[data-testid="overview-table"] tr[data-type="echo"]').waitFor();
    await page.locator('figure.chart canvas').first().waitFor();
    assert.ok((await page.locator('figure.chart', { hasText: 'fail: 0 completed, 2 failed' }).count()) === 1, "the fail type's own chart");
    assert.match((await page.locator('[data-testid="whoami"]').textContent()) ?? '', /admin/, 'without keys on loopback the page may see everything');
    await screenshot(page, 'overview');
  });

  it('the operations list filters by status and type, and finds an operation by its idempotency key', STORE_INDEPENDENT, async (t) => {
    const page = await newPage(t);
    if (page === null) return;
    const keyed = (
      await request(url, 'POST', '/operations', { body: { type: 'echo', input: { keyed: true } }, headers: { 'idempotency-key': 'dashboard-key-42' } })
    ).body.id as string;
    await submit(url, { type: 'fail', input: { permanent: true } });
    await waitFor(async () => (await statusOf(url, keyed)) === 'completed', { timeoutMs: 10_000, what: 'the keyed operation completes' });
    await page.goto(`${url}/dashboard#/operations`);
    await page.locator('[data-testid="operations-table"] tbody tr[data-id]').first().waitFor();
    await screenshot(page, 'operations');
    // Without keys every operation here is the tenant `default`'s, the page's own: no column says so on each row.
    assert.equal(await page.locator('[data-testid="operations-table"] [data-testid="tenant"]').count(), 0);

    await page.selectOption('[data-testid="filters"] select[name="status"]', 'failed');
    await page.selectOption('[data-testid="filters"] select[name="type"]', 'fail');
    await page.click('[data-testid="filters"] button[type="submit"]');
    await waitFor(() => /status=failed/.test(page.url()) && /type=fail\b/.test(page.url()), { timeoutMs: UI_TIMEOUT_MS, what: 'the filter in the URL' });
    const failed = await waitFor(
      async () => {
        const statuses = await rowStatuses(page);
        return statuses.length > 0 && statuses.every((s) => s === 'failed') ? statuses : null;
      },
      { timeoutMs: UI_TIMEOUT_MS, what: 'only failed operations listed' },
    );
    assert.ok(failed.length >= 1);

    await page.goto(`${url}/dashboard#/operations?q=dashboard-key-42`);
    await page.locator(`[data-testid="operations-table"] tr[data-id="${keyed}"]`).waitFor();
    assert.equal(await page.locator('[data-testid="operations-table"] tbody tr[data-id]').count(), 1, 'the key finds exactly its operation');

    // A link whose id is not valid percent-encoding (cut off, hand-edited) is an operation not found, not a broken app.
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${url}/dashboard#/operations/%E0%A4%A`);
    await page.goto(`${url}/dashboard#/operations`);
    await page.locator('[data-testid="operations-table"] tbody tr[data-id]').first().waitFor();
    assert.deepEqual(errors, [], 'no uncaught error');
    // `..` is no id: its page would ask for `/operations/..`, which a URL resolves to the API's root.
    for (const dots of ['..', '%2E%2E', '.']) {
      await page.goto(`${url}/dashboard#/operations/${dots}`);
      await page.getByRole('heading', { name: 'Not found' }).waitFor({ timeout: UI_TIMEOUT_MS });
    }
  });

  it("an operation's page follows it live: its timeline advances while it runs, then shows the result", async (t) => {
    const page = await newPage(t);
    if (page === null) return;
    hooks.replyWith({ status: 204 });
    const id = await submit(url, { type: 'sleep', input: { ms: 4000, steps: 4 }, webhook_url: hooks.url });
    await page.goto(`${url}/dashboard#/operations/${id}`);
    await page.locator('.live').waitFor();
    const timeline = page.locator('[data-testid="timeline"] li');
    await page.locator('[data-testid="timeline"] li[data-kind="claimed"]').waitFor();
    const early = await timeline.count();
    await page.locator('[data-testid="timeline"] li[data-kind="progress"]').first().waitFor();
    await page.locator('[data-testid="timeline"] li[data-kind="completed"]').waitFor();
    assert.ok((await timeline.count()) > early, 'the timeline grew while the page was open');
    await page.locator('section.operation[data-status="completed"]').waitFor();
    await page.locator('pre.json', { hasText: '"slept_ms": 4000' }).waitFor();
    // The webhook goes after the end, and its attempt joins the timeline and the deliveries.
    await page.locator('[data-testid="timeline"] li[data-kind="webhook_attempt"]').waitFor();
    await page.locator('.delivery .state-delivered').waitFor();
    await screenshot(page, 'operation');
    const kinds = await timeline.evaluateAll((items) => items.map((li) => li.getAttribute('data-kind')));
    assert.equal(kinds[0], 'created');
    assert.ok(kinds.indexOf('claimed') < kinds.indexOf('completed'), kinds.join(','));
  });

  it('dead letters: a dead webhook delivery is replayed from its row, and others by a filter after a dry run', STORE_INDEPENDENT, async (t) => {
    const page = await newPage(t);
    if (page === null) return;
    hooks.replyWith({ status: 500, body: 'down' });
    const id = await submit(url, { type: 'echo', input: { hook: true }, webhook_url: hooks.url });
    // And one to a port nothing listens on: it stays dead (replayed in bulk below, it dies again).
    const nobody = await submit(url, { type: 'echo', input: { hook: 'nobody' }, webhook_url: 'http://127.0.0.1:1/hook' });
    const dead = await waitFor(async () => (await request(url, 'GET', `/operations/${id}/deliveries`)).body.items.find((d: any) => d.state === 'dead'), {
      timeoutMs: 10_000,
      what: 'its delivery dead after the short schedule',
    });
    hooks.replyWith({ status: 204 });
    await page.goto(`${url}/dashboard#/dead-letters`);
    const row = page.locator(`[data-testid="deliveries-table"] tr[data-id="${dead.id}"]`);
    await row.getByRole('button', { name: 'Replay' }).click();
    await row.waitFor({ state: 'detached' });
    const delivered = await waitFor(
      async () => (await request(url, 'GET', `/operations/${id}/deliveries`)).body.items.find((d: any) => d.id === dead.id && d.state === 'delivered'),
      { timeoutMs: 10_000, what: 'the replay delivered' },
    );
    assert.equal(delivered.attempts.at(-1).trigger, 'manual');

    // In bulk, by URL: the dry run counts the one dead delivery to that URL, then it is replayed.
    await waitFor(async () => (await request(url, 'GET', `/operations/${nobody}/deliveries`)).body.items.some((d: any) => d.state === 'dead'), {
      timeoutMs: 10_000,
      what: 'the other delivery dead',
    });
    const deliveries = page.locator('[data-testid="dead-deliveries"]');
    await deliveries.locator('input[name="url"]').fill('http://127.0.0.1:1/hook');
    await deliveries.locator('input[name="operation_type"]').fill('echo');
    await deliveries.locator('form button[type="submit"]').click();
    await deliveries.locator('[data-testid="bulk-replay_deliveries"] button', { hasText: 'Replay all matching' }).click();
    const dryRun = deliveries.locator('[data-testid="dry-run"]');
    await dryRun.getByText('Replay 1 dead delivery matching this filter?').waitFor();
    await dryRun.getByRole('button', { name: 'Replay 1' }).click();
    const done = deliveries.locator('[data-testid="bulk-status"][data-status="completed"]');
    await done.waitFor();
    assert.match((await done.textContent()) ?? '', /1 of 1 processed: 1 done/);
    const bulk = (await request(url, 'GET', '/bulk-actions')).body.items[0];
    assert.deepEqual([bulk.action, bulk.filter.url, bulk.filter.operation_type], ['replay_deliveries', 'http://127.0.0.1:1/hook', 'echo']);
  });

  it("a long error and webhook URL wrap on an operation's page: it never scrolls sideways, on a phone or a desktop", STORE_INDEPENDENT, async (t) => {
    const page = await newPage(t);
    if (page === null) return;
    hooks.replyWith({ status: 410 });
    const word = (n: number) => 'abcdef0123456789'.repeat(n);
    const id = await submit(url, {
      type: 'fail',
      input: { permanent: true, message: `upstream refused https://storage.example.com/${word(40)}.png?X-Amz-Signature=${word(8)}` },
      webhook_url: `${hooks.url}/callback?token=${word(30)}`,
    });
    await page.goto(`${url}/dashboard#/operations/${id}`);
    await page.locator('section.operation[data-status="failed"]').waitFor();
    await page.locator('.delivery').first().waitFor();
    for (const width of [390, 760, 800, 1280]) {
      await page.setViewportSize({ width, height: 900 });
      const { scroll, client } = await page.locator('html').evaluate((root) => ({ scroll: root.scrollWidth, client: root.clientWidth }));
      assert.ok(scroll <= client, `at ${width} px the page is ${scroll} px wide in a window of ${client}`);
    }
  });

  it("an operation's page shows what it was submitted with: a later run_at, a priority, a concurrency key", STORE_INDEPENDENT, async (t) => {
    const page = await newPage(t);
    if (page === null) return;
    const runAt = new Date(Date.now() + 3_600_000).toISOString();
    const id = await submit(url, { type: 'sleep', input: {}, run_at: runAt, priority: 7, concurrency_key: 'customer-9' });
    await page.goto(`${url}/dashboard#/operations/${id}`);
    const facts = page.locator('section.operation dl.facts');
    await facts.locator('dt', { hasText: 'runs at' }).waitFor();
    const text = await facts.innerText();
    assert.match(text, /priority\s+7/);
    assert.match(text, /concurrency key\s+customer-9/);
    await request(url, 'POST', `/operations/${id}/cancel`);
  });

  it("an operation's Delete asks first, then removes it and goes back to the list; a running one offers none", STORE_INDEPENDENT, async (t) => {
    const page = await newPage(t);
    if (page === null) return;
    const running = await submit(url, { type: 'sleep', input: { ms: 5000, steps: 5 } });
    await waitFor(async () => (await statusOf(url, running)) === 'processing', { timeoutMs: 10_000, what: 'the sleep running' });
    await page.goto(`${url}/dashboard#/operations/${running}`);
    await page.locator('section.operation .actions button', { hasText: 'Cancel' }).waitFor();
    assert.equal(await page.locator('section.operation .actions button', { hasText: 'Delete' }).count(), 0, 'nothing to delete while it runs');
    await request(url, 'POST', `/operations/${running}/cancel`);

    const id = await submit(url, { type: 'echo', input: { keep: 'me not' } });
    await waitFor(async () => (await statusOf(url, id)) === 'completed', { timeoutMs: 10_000, what: 'the echo completed' });
    await page.goto(`${url}/dashboard#/operations/${id}`);
    const actions = page.locator('section.operation .actions');
    const focused = () => page.evaluate(() => ((globalThis as any).document.activeElement?.textContent as string | undefined) ?? null);
    // From the keyboard: the question takes focus to its safe answer, and the answer gives it back.
    await actions.getByRole('button', { name: 'Delete…' }).focus();
    await page.keyboard.press('Enter');
    await actions.getByText('Delete this operation, its result and its history for good?').waitFor();
    await waitFor(async () => (await focused()) === 'Keep', { timeoutMs: UI_TIMEOUT_MS, what: 'focus on Keep' });
    assert.equal(await actions.getByRole('button', { name: 'Keep' }).getAttribute('aria-describedby'), 'delete-question');
    await page.keyboard.press('Enter');
    await actions.getByRole('button', { name: 'Delete…' }).waitFor();
    await waitFor(async () => (await focused()) === 'Delete…', { timeoutMs: UI_TIMEOUT_MS, what: 'focus back on Delete…' });
    assert.equal(await statusOf(url, id), 'completed', 'Keep deletes nothing');

    await actions.getByRole('button', { name: 'Delete…' }).click();
    await actions.getByRole('button', { name: 'Delete', exact: true }).click();
    await page.waitForURL(/#\/operations$/, { timeout: UI_TIMEOUT_MS });
    assert.equal((await request(url, 'GET', `/operations/${id}`)).status, 404);

    // Retried elsewhere after the page read it: the server refuses the delete (not terminal) and the page says why.
    const retried = await submit(url, { type: 'sleep', input: { ms: 5000, steps: 5 } });
    await request(url, 'POST', `/operations/${retried}/cancel`);
    await waitFor(async () => (await statusOf(url, retried)) === 'cancelled', { timeoutMs: 10_000, what: 'the sleep cancelled' });
    await page.goto(`${url}/dashboard#/operations/${retried}`);
    await actions.getByRole('button', { name: 'Delete…' }).click();
    assert.equal((await request(url, 'POST', `/operations/${retried}/retry`)).status, 202);
    await actions.getByRole('button', { name: 'Delete', exact: true }).click();
    const refusal = page.locator('section.operation p.error');
    await refusal.waitFor({ timeout: UI_TIMEOUT_MS });
    assert.match((await refusal.textContent()) ?? '', /terminal|conflict/i);
    assert.match(page.url(), new RegExp(`#/operations/${retried}$`), 'still on its page');
    assert.notEqual((await request(url, 'GET', `/operations/${retried}`)).status, 404);
    await request(url, 'POST', `/operations/${retried}/cancel`);
  });

  it("an operation's Retry the server refuses keeps saying why, after the page reads the operation again", STORE_INDEPENDENT, async (t) => {
    const page = await newPage(t);
    if (page === null) return;
    // Reporting progress as it runs again: a change that contradicts nothing the refusal says.
    const id = await submit(url, { type: 'sleep', input: { ms: 5000, steps: 50 } });
    await request(url, 'POST', `/operations/${id}/cancel`);
    await waitFor(async () => (await statusOf(url, id)) === 'cancelled', { timeoutMs: 10_000, what: 'the operation cancelled' });
    await page.goto(`${url}/dashboard#/operations/${id}`);
    const retry = page.locator('section.operation .actions button', { hasText: 'Retry' });
    await retry.waitFor();
    // Retried elsewhere meanwhile, and running again: this page's Retry (of what it still shows cancelled) is refused.
    assert.equal((await request(url, 'POST', `/operations/${id}/retry`)).status, 202);
    await retry.click();
    const refusal = page.locator('section.operation p.error');
    await refusal.waitFor({ timeout: UI_TIMEOUT_MS });
    // The page reads the operation again after every action, and as its progress moves; the refusal stays until an
    // action goes through or the status changes: it is there once the page shows a later progress than it had.
    const progress = page.locator('section.operation dl.facts .progress');
    const progressOf = () => progress.getAttribute('title', { timeout: 1_000 }).catch(() => null);
    const shown = await progressOf();
    // A screen reader is told it is a progress bar, and how far it is.
    const [role, title, spoken, now] = await progress.evaluate((bar) =>
      ['role', 'title', 'aria-valuetext', 'aria-valuenow'].map((name) => bar.getAttribute(name) ?? ''),
    );
    assert.equal(role, 'progressbar');
    assert.equal(spoken, title);
    assert.ok(Math.abs(Number(now) - Number.parseFloat(spoken!)) <= 0.5, `${now} for ${spoken}`);
    await waitFor(
      async () => {
        const now = await progressOf();
        return now !== null && now !== shown;
      },
      { timeoutMs: UI_TIMEOUT_MS, what: 'the page shows a later progress' },
    );
    assert.match((await refusal.textContent()) ?? '', /not_redrivable|conflict|failed or cancelled/);
    // Until the operation changes again, which the refusal (naming the status it met) would contradict.
    await request(url, 'POST', `/operations/${id}/cancel`);
    await refusal.waitFor({ state: 'detached', timeout: UI_TIMEOUT_MS });
  });

  it('dead letters: a bulk retry of the failed operations a filter matches, after a dry run shows how many', STORE_INDEPENDENT, async (t) => {
    const page = await newPage(t);
    if (page === null) return;
    // One attempt each, so each fails at once; which type the filter names keeps the other tests' failures out.
    const ids = await Promise.all([1, 2, 3].map(() => submit(url, { type: 'flaky', input: { failures: 1 }, max_attempts: 1 })));
    await waitFor(async () => (await Promise.all(ids.map((id) => statusOf(url, id)))).every((s) => s === 'failed'), {
      timeoutMs: 10_000,
      what: 'three failed flaky operations',
    });
    await page.goto(`${url}/dashboard#/dead-letters?type=flaky`);
    await waitFor(async () => (await rowStatuses(page, '[data-testid="failed-operations"] [data-testid="operations-table"]')).length === 3, {
      timeoutMs: UI_TIMEOUT_MS,
      what: 'the three listed',
    });
    // By keyboard: Enter asks, focus goes to the question's Cancel, Escape withdraws it and focus comes back.
    const focused = () => page.locator(':focus').textContent({ timeout: UI_TIMEOUT_MS });
    await page.focus('[data-testid="bulk-retry"] button');
    await page.keyboard.press('Enter');
    const dryRun = page.locator('[data-testid="bulk-retry"] [data-testid="dry-run"]');
    await dryRun.getByText('3 failed operations', { exact: false }).waitFor();
    await waitFor(async () => (await focused()) === 'Cancel', { timeoutMs: UI_TIMEOUT_MS, what: "focus on the question's Cancel" });
    await page.keyboard.press('Escape');
    await dryRun.waitFor({ state: 'detached' });
    await waitFor(async () => (await focused()) === 'Retry all matching…', { timeoutMs: UI_TIMEOUT_MS, what: 'focus back on the button' });
    await page.keyboard.press('Enter');
    await dryRun.getByText('3 failed operations', { exact: false }).waitFor();
    await screenshot(page, 'dead-letters');
    await dryRun.getByRole('button', { name: 'Retry 3' }).click();
    const done = page.locator('[data-testid="bulk-retry"] [data-testid="bulk-status"][data-status="completed"]');
    await done.waitFor();
    assert.match((await done.textContent()) ?? '', /3 of 3 processed: 3 done/);
    const bulk = (await request(url, 'GET', '/bulk-actions')).body.items[0];
    assert.equal(bulk.action, 'retry');
    // Over every tenant (no keys, no tenant filter) and so no other tenant's: the recent actions need no tenant column.
    assert.equal(bulk.tenant, null);
    await page.reload();
    await page.locator(`[data-testid="bulk-actions"] code`, { hasText: bulk.id }).waitFor({ timeout: UI_TIMEOUT_MS });
    assert.equal(await page.locator('[data-testid="bulk-actions"] [data-testid="tenant"]').count(), 0);
    assert.deepEqual(
      { type: bulk.filter.type, status: bulk.filter.status, total: bulk.total, succeeded: bulk.succeeded },
      {
        type: 'flaky',
        status: 'failed',
        total: 3,
        succeeded: 3,
      },
    );
    for (const id of ids) {
      const history = (await request(url, 'GET', `/operations/${id}/history`)).body.items as Array<{ kind: string; bulk_action_id?: string }>;
      assert.ok(
        history.some((e) => e.kind === 'redriven' && e.bulk_action_id === bulk.id),
        `${id} was redriven by the bulk action`,
      );
    }
  });

  it('dead letters: every failed operation and dead delivery can be reached, a page at a time', STORE_INDEPENDENT, async (t) => {
    const page = await newPage(t);
    if (page === null) return;
    // One more than a page (25) of failures of a type no other test fails.
    const ids = await Promise.all(Array.from({ length: 26 }, (_, i) => submit(url, { type: 'fail_first_run', input: { key: `paged-${i}` } })));
    await waitFor(async () => (await Promise.all(ids.map((id) => statusOf(url, id)))).every((s) => s === 'failed'), {
      timeoutMs: 15_000,
      what: 'twenty-six failed operations',
    });
    await page.goto(`${url}/dashboard#/dead-letters?type=fail_first_run`);
    const section = page.locator('[data-testid="failed-operations"]');
    const rows = () => rowStatuses(page, '[data-testid="failed-operations"] [data-testid="operations-table"]');
    await waitFor(async () => (await rows()).length === 25, { timeoutMs: UI_TIMEOUT_MS, what: 'the first page' });
    await section.getByRole('button', { name: 'Next' }).click();
    await waitFor(async () => (await rows()).length === 1, { timeoutMs: UI_TIMEOUT_MS, what: 'the one on the second page' });
    assert.equal(await section.getByRole('button', { name: 'Next' }).isDisabled(), true, 'no page after it');
    await section.getByRole('button', { name: 'Previous' }).click();
    await waitFor(async () => (await rows()).length === 25, { timeoutMs: UI_TIMEOUT_MS, what: 'the first page again' });
  });

  it('the operations list keeps its page in the address: Back from an operation, or a reload, comes back to it', STORE_INDEPENDENT, async (t) => {
    const page = await newPage(t);
    if (page === null) return;
    // Two more than a page (25) of a type no other test submits.
    const ids = await Promise.all(Array.from({ length: 27 }, (_, i) => submit(url, { type: 'progress_text', input: { message: `paged ${i}` } })));
    await waitFor(async () => (await Promise.all(ids.map((id) => statusOf(url, id)))).every((s) => s === 'completed'), {
      timeoutMs: 15_000,
      what: 'twenty-seven completed operations',
    });
    const rows = () => page.locator('[data-testid="operations-table"] tbody tr[data-id]');
    const onSecondPage = async () => waitFor(async () => (await rows().count()) === 2, { timeoutMs: UI_TIMEOUT_MS, what: 'the two on the second page' });
    await page.goto(`${url}/dashboard#/operations?type=progress_text`);
    await waitFor(async () => (await rows().count()) === 25, { timeoutMs: UI_TIMEOUT_MS, what: 'the first page' });
    await page.getByRole('button', { name: 'Next' }).click();
    await onSecondPage();
    assert.match(page.url(), /[?&]pages=/, 'the page is in the address');
    await page.reload();
    await onSecondPage();
    await rows().first().locator('a').first().click();
    await page.waitForURL(/#\/operations\/op_/);
    await page.goBack();
    await onSecondPage();
    await page.getByRole('button', { name: 'Previous' }).click();
    await waitFor(async () => (await rows().count()) === 25, { timeoutMs: UI_TIMEOUT_MS, what: 'the first page again' });
  });

  it('a result that is not one JSON value (lines of JSON) is offered to download, not an error', STORE_INDEPENDENT, async (t) => {
    const page = await newPage(t);
    if (page === null) return;
    const id = await submit(url, { type: 'csv', input: { content_type: 'application/x-ndjson', body: '{"a":1}\n{"a":2}\n' } });
    await waitFor(async () => (await statusOf(url, id)) === 'completed', { timeoutMs: 10_000, what: 'the result' });
    await page.goto(`${url}/dashboard#/operations/${id}`);
    await page.getByRole('button', { name: 'Download' }).waitFor();
    assert.match((await page.locator('body').textContent()) ?? '', /application\/x-ndjson, 16 bytes/);
    assert.doesNotMatch((await page.locator('body').textContent()) ?? '', /Unexpected|JSON at position/);
  });

  it('dead letters: a confirmation is for the filter it counted; changing the filter withdraws it', STORE_INDEPENDENT, async (t) => {
    const page = await newPage(t);
    if (page === null) return;
    await page.goto(`${url}/dashboard#/dead-letters?type=echo`);
    await page.click('[data-testid="bulk-retry"] button');
    const dryRun = page.locator('[data-testid="bulk-retry"] [data-testid="dry-run"]');
    await dryRun.waitFor();
    const before = (await request(url, 'GET', '/bulk-actions')).body.items.length;
    // The question counted echo's failures: asked under another filter, confirming would have run that one.
    await page.evaluate("location.hash = '#/dead-letters?type=flaky'");
    await dryRun.waitFor({ state: 'detached', timeout: UI_TIMEOUT_MS });
    await page.locator('[data-testid="bulk-retry"] button', { hasText: 'Retry all matching' }).waitFor();
    assert.equal((await request(url, 'GET', '/bulk-actions')).body.items.length, before, 'nothing ran');
  });

  it('task types: schemas, limits and observed durations', STORE_INDEPENDENT, async (t) => {
    const page = await newPage(t);
    if (page === null) return;
    await page.goto(`${url}/dashboard#/task-types`);
    const row = page.locator('[data-testid="task-types-table"] tr[data-type="hang"]');
    await row.waitFor();
    assert.match((await row.textContent()) ?? '', /1 s/, 'its timeout');
    await page.locator('details.schema', { hasText: 'sleep' }).locator('summary').click();
    await page.locator('details.schema[open] pre.json', { hasText: '"steps"' }).waitFor();
    await screenshot(page, 'task-types');
  });
});

describe('dashboard: with API keys', STORE_INDEPENDENT, () => {
  const KEY_ALPHA = 'alpha-dash-key-4Rt7Yp2Qw9Zx';
  const KEY_BETA = 'beta-dash-key-8Hn3Vb6Mc1Lk';
  const KEY_ADMIN = 'ops-dash-key-5Gf2Dj7Ks0Pa';
  let server: ServerProcess;
  let alphaOp: string;
  let betaOp: string;

  before(async () => {
    const keysFile = writeTenantsAndAdminKeys(scratch.path, { alpha: KEY_ALPHA, beta: KEY_BETA, admin: KEY_ADMIN });
    server = await startServer({ args: ['--api-keys-file', keysFile] });
    alphaOp = await submit(server.url, { type: 'echo', input: { of: 'alpha' } }, { authorization: `Bearer ${KEY_ALPHA}` });
    betaOp = await submit(server.url, { type: 'echo', input: { of: 'beta' } }, { authorization: `Bearer ${KEY_BETA}` });
  });
  after(async () => {
    await server?.stop();
  });

  /** Signs in on the key form; every URL the page asks for is recorded. */
  async function signIn(page: Page, key: string): Promise<string[]> {
    const urls: string[] = [];
    page.on('request', (r) => urls.push(r.url()));
    await page.goto(`${server.url}/dashboard#/operations`);
    await page.locator('[data-testid="key-form"] input[name="key"]').fill(key);
    await page.locator('[data-testid="key-form"] button[type="submit"]').click();
    return urls;
  }

  it("asks for a key; a tenant's key lists its own operations and is refused another tenant's", async (t) => {
    const page = await newPage(t);
    if (page === null) return;
    await page.goto(`${server.url}/dashboard`);
    await page.locator('[data-testid="key-form"]').waitFor();
    // The page knew the server takes keys: it asked for one without a request the browser would log as a 401.
    assert.deepEqual(failedRequests.get(page), [], 'no request failed before the key form');
    // The form is small: a short picture of it.
    await page.setViewportSize({ width: 1280, height: 300 });
    await screenshot(page, 'sign-in');
    await page.setViewportSize({ width: 1280, height: 860 });
    const urls = await signIn(page, KEY_ALPHA);
    await page.locator('[data-testid="whoami"]', { hasText: 'alpha' }).waitFor();
    await page.locator(`[data-testid="operations-table"] tr[data-id="${alphaOp}"]`).waitFor();
    assert.equal(await page.locator(`[data-testid="operations-table"] tr[data-id="${betaOp}"]`).count(), 0, "beta's operation is not listed");

    await page.goto(`${server.url}/dashboard#/operations/${betaOp}`);
    await page.locator('.error', { hasText: 'not_found' }).waitFor();
    assert.equal(await page.locator('section.operation[data-status]').count(), 0, "beta's operation is not shown");
    assert.equal(await page.evaluate(() => sessionStorage.getItem('asyncops.dashboard.key')), KEY_ALPHA, 'the key is kept for the tab');
    assert.deepEqual(
      urls.filter((u) => u.includes(KEY_ALPHA)),
      [],
      'the key is never in a URL',
    );
  });

  it("a tenant filter an admin key left in the tab does not hold a tenant key's pages (it would be refused, with no control to clear it)", async (t) => {
    const page = await newPage(t);
    if (page === null) return;
    await page.goto(`${server.url}/dashboard`);
    await page.evaluate(() => sessionStorage.setItem('asyncops.dashboard.tenant', 'beta'));
    await signIn(page, KEY_ALPHA);
    await page.locator(`[data-testid="operations-table"] tr[data-id="${alphaOp}"]`).waitFor();
    assert.equal(await page.locator('.error', { hasText: 'forbidden' }).count(), 0);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('asyncops.dashboard.tenant')), null, 'the filter is let go');
  });

  it('a key holding a character no header can carry (a pasted zero-width space) is refused by the form, which stays usable', async (t) => {
    const page = await newPage(t);
    if (page === null) return;
    await page.goto(`${server.url}/dashboard`);
    await signIn(page, `${KEY_ADMIN}\u200b`);
    await page.locator('[data-testid="key-form"] .error', { hasText: 'not an API key' }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'nothing kept');
    await signIn(page, KEY_ADMIN);
    await page.locator('header.top').waitFor();
  });

  it('a wrong key brings the form back with a message', async (t) => {
    const page = await newPage(t);
    if (page === null) return;
    await signIn(page, 'not-a-key-at-all-000');
    await page.locator('[data-testid="key-form"] .error', { hasText: 'not accepted' }).waitFor();
  });

  it("an admin key sees every tenant's operations, and narrows them by tenant", async (t) => {
    const page = await newPage(t);
    if (page === null) return;
    await signIn(page, KEY_ADMIN);
    await page.locator('[data-testid="whoami"] .badge.admin').waitFor();
    await page.locator(`[data-testid="operations-table"] tr[data-id="${alphaOp}"]`).waitFor();
    await page.locator(`[data-testid="operations-table"] tr[data-id="${betaOp}"]`).waitFor();
    // A list of every tenant names each row's.
    assert.equal(await page.locator(`[data-testid="operations-table"] tr[data-id="${alphaOp}"] [data-testid="tenant"]`).textContent(), 'alpha');
    assert.equal(await page.locator(`[data-testid="operations-table"] tr[data-id="${betaOp}"] [data-testid="tenant"]`).textContent(), 'beta');
    // So does the list of recent bulk actions: one of alpha's, and one of the admin's over every tenant.
    const bulk = (key: string) =>
      request(server.url, 'POST', '/bulk-actions', {
        body: { action: 'retry', filter: { type: 'nothing-of-this-type' } },
        headers: { authorization: `Bearer ${key}` },
      });
    assert.equal((await bulk(KEY_ALPHA)).status, 202);
    assert.equal((await bulk(KEY_ADMIN)).status, 202);
    await page.goto(`${server.url}/dashboard#/dead-letters`);
    const bulkTenants = page.locator('[data-testid="bulk-actions"] [data-testid="tenant"]');
    await bulkTenants.first().waitFor();
    assert.deepEqual((await bulkTenants.allTextContents()).sort(), ['alpha', 'every tenant']);
    await page.goto(`${server.url}/dashboard#/operations`);
    // Pasted with spaces around it: the tenant it names.
    await page.locator('.tenant-filter input[name="tenant"]').fill(' beta ');
    await page.locator('.tenant-filter button').click();
    await page.locator(`[data-testid="operations-table"] tr[data-id="${alphaOp}"]`).waitFor({ state: 'detached' });
    await page.locator(`[data-testid="operations-table"] tr[data-id="${betaOp}"]`).waitFor();
    assert.equal(await page.locator('[data-testid="operations-table"] [data-testid="tenant"]').count(), 0, 'one tenant: no column');
    // Another tenant's operation, followed live: the admin key's stream token opens its stream.
    const running = await submit(server.url, { type: 'sleep', input: { ms: 3000, steps: 3 } }, { authorization: `Bearer ${KEY_ALPHA}` });
    await page.goto(`${server.url}/dashboard#/operations/${running}`);
    await page.locator('.live').waitFor();
    await page.locator('section.operation[data-status="completed"]').waitFor();
    await page.locator('[data-testid="timeline"] li[data-kind="completed"]').waitFor();
  });
});
