import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { PermanentError } from '../../src/domain/errors.ts';
import { TaskRegistry } from '../../src/runtime/registry.ts';
import type { TaskContext } from '../../src/runtime/task.ts';
import report, { type ReportInput } from '../../src/tasks/report.ts';
import { parseDateRange, PRODUCTS, REGIONS, type SalesReport } from '../../src/tasks/report-compute.ts';
import { builtInTasks } from '../../src/tasks/index.ts';
import { DEFAULT_TENANT } from '../../src/domain/operation.ts';
import { openStore, settled, startPool, submit } from '../support/worker-pool.ts';
import { INVALID_SPAN_CONTEXT, ROOT_CONTEXT, trace } from '@opentelemetry/api';

interface Recorded {
  ctx: TaskContext;
  progress: Array<{ fraction: number; message: string | undefined }>;
  controller: AbortController;
}

function context(): Recorded {
  const controller = new AbortController();
  const progress: Recorded['progress'] = [];
  const ctx: TaskContext = {
    signal: controller.signal,
    progress: (fraction, message) => progress.push({ fraction, message }),
    attempt: 1,
    operationId: 'op_test',
    log: pino({ level: 'silent' }),
    span: trace.wrapSpanContext(INVALID_SPAN_CONTEXT),
    traceContext: ROOT_CONTEXT,
  };
  return { ctx, progress, controller };
}

/** The report as the attempt stores it (made on its worker thread), read back: JSON as the value, a CSV as its text. */
async function run(input: ReportInput, recorded = context()): Promise<unknown> {
  const stored = (await report.run(input, recorded.ctx)) as { contentType: string; body: Uint8Array };
  const text = Buffer.from(stored.body).toString('utf8');
  return stored.contentType === 'application/json' ? JSON.parse(text) : { contentType: stored.contentType, body: text };
}

const cents = (value: number): number => Math.round(value * 100);

describe('report task', () => {
  it('is registered as a built-in with its route', () => {
    assert.ok(builtInTasks.includes(report));
    const registry = new TaskRegistry(builtInTasks);
    assert.equal(registry.byRoute('/reports')?.type, 'report');
  });

  it('gives the same result for the same input', async () => {
    const input: ReportInput = { type: 'sales_summary', date_range: '2026-03-01..2026-03-03' };
    assert.deepEqual(await run(input), await run(input));
  });

  it('has totals equal to the sums by day, by region and by product', async () => {
    const result = (await run({ type: 'sales_summary', date_range: '2026-01-30..2026-02-02' })) as SalesReport;
    assert.equal(result.report_type, 'sales_summary');
    assert.equal(result.currency, 'EUR');
    assert.deepEqual(
      result.by_day.map((d) => d.date),
      ['2026-01-30', '2026-01-31', '2026-02-01', '2026-02-02'],
    );
    assert.equal(result.by_region.length, REGIONS.length);
    assert.equal(result.by_product.length, PRODUCTS.length);
    assert.ok(result.totals.orders > 0 && result.totals.units >= result.totals.orders);
    for (const lines of [result.by_day, result.by_region, result.by_product]) {
      assert.equal(
        lines.reduce((s, l) => s + l.orders, 0),
        result.totals.orders,
      );
      assert.equal(
        lines.reduce((s, l) => s + l.units, 0),
        result.totals.units,
      );
      assert.equal(
        lines.reduce((s, l) => s + cents(l.revenue), 0),
        cents(result.totals.revenue),
      );
    }
  });

  it('ranks products by revenue for top_products and regions for sales_by_region', async () => {
    const top = (await run({ type: 'top_products', date_range: '2026-05-01..2026-05-02' })) as SalesReport;
    assert.ok(top.by_product.length <= 10);
    const revenues = top.by_product.map((p) => p.revenue);
    assert.deepEqual(
      revenues,
      [...revenues].sort((a, b) => b - a),
    );
    const regions = (await run({ type: 'sales_by_region', date_range: '2026-05-01..2026-05-02' })) as SalesReport;
    const regionRevenues = regions.by_region.map((r) => r.revenue);
    assert.deepEqual(
      regionRevenues,
      [...regionRevenues].sort((a, b) => b - a),
    );
  });

  it('renders CSV with one row for the total and each day, region and product', async () => {
    const input = { date_range: '2026-04-01..2026-04-02' };
    const json = (await run({ ...input, type: 'sales_summary' })) as SalesReport;
    const csv = (await run({ ...input, type: 'sales_summary', format: 'csv' })) as { contentType: string; body: string };
    assert.equal(csv.contentType, 'text/csv; charset=utf-8');
    const rows = csv.body.trimEnd().split('\r\n');
    assert.equal(rows[0], 'dimension,key,name,orders,units,revenue');
    assert.equal(rows[1], `total,2026-04-01..2026-04-02,,${json.totals.orders},${json.totals.units},${json.totals.revenue.toFixed(2)}`);
    assert.equal(rows.length, 1 + 1 + 2 + REGIONS.length + PRODUCTS.length);
    assert.ok(rows.some((r) => r.startsWith('product,P-100,Espresso beans 1 kg,')));
  });

  it('reports progress with a message, ending at 1', async () => {
    const recorded = context();
    await run({ type: 'sales_summary', date_range: '2026-02-01..2026-02-05' }, recorded);
    assert.ok(recorded.progress.length >= 5);
    const fractions = recorded.progress.map((p) => p.fraction);
    assert.deepEqual(
      fractions,
      [...fractions].sort((a, b) => a - b),
      'progress only grows',
    );
    assert.deepEqual(recorded.progress.at(-1), { fraction: 1, message: 'aggregated 2026-02-05' });
  });

  it('stops with the signal reason when aborted', async () => {
    const recorded = context();
    const reason = new Error('cancelled by the test');
    recorded.ctx.progress = (fraction) => {
      if (fraction > 0) recorded.controller.abort(reason);
    };
    await assert.rejects(run({ type: 'sales_summary', date_range: '2026-01-01..2026-06-28' }, recorded), (err) => err === reason);
  });

  it('computes on a worker thread: this event loop stays mostly idle while a report runs', { timeout: 60_000 }, async () => {
    // On the event loop (as it was, yielding between chunks) a report keeps its loop busy nearly all the time it runs;
    // here the loop only starts the thread and takes its progress messages.
    const before = performance.eventLoopUtilization();
    const recorded = context();
    await run({ type: 'sales_summary', date_range: '2026-01-01..2026-01-20' }, recorded);
    const { utilization } = performance.eventLoopUtilization(before);
    assert.equal(recorded.progress.at(-1)?.fraction, 1);
    assert.ok(utilization < 0.5, `event loop utilization ${utilization.toFixed(2)} while the report ran`);
  });

  it('refuses impossible, reversed and too long date ranges as permanent errors', async () => {
    for (const range of ['2026-02-30..2026-03-01', '2026-03-02..2026-03-01', '2025-01-01..2026-01-02']) {
      assert.throws(
        () => parseDateRange(range),
        (err) => err instanceof PermanentError && err.code === 'invalid_input',
        range,
      );
      await assert.rejects(run({ type: 'sales_summary', date_range: range }), PermanentError);
    }
    assert.deepEqual(parseDateRange('2026-01-01..2026-01-01'), { first: 20454, last: 20454 });
  });

  it('validates its input schema', () => {
    const registry = new TaskRegistry(builtInTasks);
    assert.deepEqual(registry.validateInput('report', { type: 'sales_summary', date_range: '2026-01-01..2026-06-28' }), []);
    const paths = (input: unknown): string[] => registry.validateInput('report', input).map((e) => e.path);
    assert.ok(paths({ type: 'sales_summary', date_range: '2026-01-01' }).includes('/input/date_range'));
    assert.ok(paths({ type: 'everything', date_range: '2026-01-01..2026-01-02' }).includes('/input/type'));
    assert.ok(paths({ type: 'sales_summary', date_range: '2026-01-01..2026-01-02', format: 'xml' }).includes('/input/format'));
    assert.ok(paths({ type: 'sales_summary', date_range: '2026-01-01..2026-01-02', extra: 1 }).includes('/input/extra'));
  });

  it('refuses impossible, reversed and too long date ranges on submit, naming /input/date_range', () => {
    const registry = new TaskRegistry(builtInTasks);
    const cases = [
      ['2026-02-30..2026-03-01', /does not exist/],
      ['2026-03-02..2026-03-01', /ends before it starts/],
      ['2025-01-01..2026-01-02', /spans more than 366 days/],
    ] as const;
    for (const [range, message] of cases) {
      const errors = registry.validateInput('report', { type: 'sales_summary', date_range: range });
      assert.equal(errors.length, 1, range);
      assert.equal(errors[0]?.path, '/input/date_range', range);
      assert.match(errors[0]?.message ?? '', message, range);
    }
    assert.deepEqual(registry.validateInput('report', { type: 'sales_summary', date_range: '2026-02-28..2026-03-01' }), []);
  });

  it('runs through a worker pool, storing progress and the CSV result', async (t) => {
    const store = await openStore(t);
    const progress: Array<number | null> = [];
    const write = store.operationProgress.bind(store);
    store.operationProgress = (params) => {
      progress.push(params.progress);
      return write(params);
    };
    startPool(t, store, builtInTasks);
    // A month takes a few hundred ms: long enough for progress writes, which are at most one per 200 ms.
    const op = await submit(store, 'report', { type: 'sales_summary', date_range: '2026-01-01..2026-01-31', format: 'csv' });
    const done = await settled(store, op.id, 10_000);
    assert.equal(done.status, 'completed');
    assert.ok(
      progress.some((p) => p !== null && p > 0),
      `progress was written while it ran: ${progress.join(', ')}`,
    );
    const result = await store.resultGet({ id: op.id, tenant: DEFAULT_TENANT });
    assert.equal(result?.contentType, 'text/csv; charset=utf-8');
    assert.match(String(result?.body), /^dimension,key,name,orders,units,revenue\r\ntotal,2026-01-01\.\.2026-01-31,/);
  });
});
