// The metrics registry without a server: the queue-depth gauge has a sample for every registered type and status
// (zeros included) and none when the store fails or does not answer in time; the process defaults keep their standard names; the Grafana dashboard in
// docs/ queries only metrics a scrape has.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Metrics, STORE_READ_WITHIN_MS } from '../../src/http/metrics.ts';
import type { Store } from '../../src/store/store.ts';

type Counts = Awaited<ReturnType<Store['operationCounts']>>;

function storeAnswering(counts: () => Promise<Counts>): Store {
  return { operationCounts: counts, deliveryCounts: async () => [{ state: 'dead', count: 2 }] } as unknown as Store;
}

const samplesOf = (text: string, name: string) => text.split('\n').filter((line) => line.startsWith(`${name}{`));

describe('Metrics', () => {
  it('reports every status of every registered type, 0 where nothing is stored', async () => {
    const metrics = new Metrics(
      storeAnswering(async () => [
        { type: 'echo', status: 'completed', count: 2 },
        { type: 'gone', status: 'failed', count: 1 },
      ]),
      () => ['echo', 'report'],
    );
    const samples = samplesOf(await metrics.registry.metrics(), 'asyncops_operations');
    assert.equal(samples.length, 2 * 5 + 1, samples.join('\n'));
    assert.ok(samples.includes('asyncops_operations{type="echo",status="pending"} 0'));
    assert.ok(samples.includes('asyncops_operations{type="report",status="pending"} 0'));
    assert.ok(samples.includes('asyncops_operations{type="echo",status="completed"} 2'));
    assert.ok(samples.includes('asyncops_operations{type="gone",status="failed"} 1'), 'a stored type no longer registered still shows');
  });

  it('leaves the gauge out, rather than reporting zeros, while the store does not answer', async () => {
    let up = true;
    const metrics = new Metrics(
      storeAnswering(async () => {
        if (!up) throw new Error('connection refused');
        return [{ type: 'echo', status: 'pending', count: 4 }];
      }),
      () => ['echo'],
    );
    assert.ok(samplesOf(await metrics.registry.metrics(), 'asyncops_operations').includes('asyncops_operations{type="echo",status="pending"} 4'));
    up = false;
    const text = await metrics.registry.metrics();
    assert.deepEqual(samplesOf(text, 'asyncops_operations'), []);
    assert.match(text, /^process_resident_memory_bytes \d+/m, 'the other metrics still scrape');
  });

  it('leaves the gauge out when the store holds its read past STORE_READ_WITHIN_MS; the scrapes meanwhile share that read', async () => {
    // A table locked by a migration: the read neither answers nor fails until the lock goes, each one holding a
    // connection of the pool meanwhile.
    let reads = 0;
    let release: (counts: Counts) => void = () => {};
    const metrics = new Metrics(
      storeAnswering(() => {
        reads++;
        return new Promise<Counts>((resolve) => (release = resolve));
      }),
      () => ['echo'],
    );
    const started = performance.now();
    const text = await metrics.registry.metrics();
    const tookMs = performance.now() - started;
    assert.deepEqual(samplesOf(text, 'asyncops_operations'), []);
    assert.ok(samplesOf(text, 'asyncops_webhook_deliveries').includes('asyncops_webhook_deliveries{state="dead"} 2'), 'what the store did answer is there');
    assert.ok(tookMs >= STORE_READ_WITHIN_MS - 50 && tookMs < STORE_READ_WITHIN_MS + 2_000, `answered after ${Math.round(tookMs)} ms`);
    const second = metrics.registry.metrics();
    release([{ type: 'echo', status: 'pending', count: 7 }]);
    assert.ok(samplesOf(await second, 'asyncops_operations').includes('asyncops_operations{type="echo",status="pending"} 7'), 'the read it joined answered');
    assert.equal(reads, 1, 'the second scrape joined the read still under way');
    await metrics.registry.metrics();
    assert.equal(reads, 2, 'a scrape after it ended reads again');
  });

  it('keeps the standard process_* and nodejs_* names, without the gauges named like counters', async () => {
    const text = await new Metrics(storeAnswering(async () => [])).registry.metrics();
    assert.match(text, /^# TYPE process_cpu_seconds_total counter$/m);
    assert.match(text, /^# TYPE nodejs_active_handles gauge$/m);
    assert.doesNotMatch(text, /^# TYPE nodejs_active_(handles|requests|resources)_total /m);
    assert.doesNotMatch(text, /asyncops_(process|nodejs)_/);
  });

  it("reports undelivered webhooks by state, 0 where none, and this node's worker slots", async () => {
    const metrics = new Metrics(
      storeAnswering(async () => []),
      () => [],
      () => ({ used: 3, available: 5 }),
    );
    const text = await metrics.registry.metrics();
    assert.deepEqual(samplesOf(text, 'asyncops_webhook_deliveries'), [
      'asyncops_webhook_deliveries{state="pending"} 0',
      'asyncops_webhook_deliveries{state="retrying"} 0',
      'asyncops_webhook_deliveries{state="dead"} 2',
    ]);
    assert.deepEqual(samplesOf(text, 'asyncops_worker_slots'), ['asyncops_worker_slots{state="used"} 3', 'asyncops_worker_slots{state="available"} 5']);
    const apiOnly = await new Metrics(storeAnswering(async () => [])).registry.metrics();
    assert.deepEqual(samplesOf(apiOnly, 'asyncops_worker_slots'), [], 'a node without workers has no slots to report');
  });

  it('the Grafana dashboard in docs/ queries only metrics a scrape has', async () => {
    const dashboard = JSON.parse(readFileSync(new URL('../../docs/grafana-dashboard.json', import.meta.url), 'utf8')) as {
      panels: Array<{ targets?: Array<{ expr: string }> }>;
    };
    const text = await new Metrics(
      storeAnswering(async () => []),
      () => [],
      () => ({ used: 0, available: 1 }),
    ).registry.metrics();
    const exposed = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    const queried = new Set(
      dashboard.panels.flatMap((panel) =>
        (panel.targets ?? []).flatMap((t) => [...t.expr.matchAll(/\b(?:asyncops|nodejs|process)_[a-z0-9_]+/g)].map((m) => m[0])),
      ),
    );
    assert.ok(queried.size >= 10, `read the dashboard's queries (${queried.size})`);
    for (const name of queried) assert.ok(exposed.has(name.replace(/_(bucket|count|sum)$/, '')), `${name} is not in a scrape`);
  });
});
