// End to end, traces: servers export spans over OTLP/HTTP (JSON) to a receiver in the test, as they would to a collector.
// A submit with a traceparent, a handler's own span and the webhook make one tree; a retry starts a trace linked to the
// first; log lines carry the ids. On PostgreSQL the operation is created on an API node and run on a worker node (one
// trace across processes); on SQLite one node does both (separate processes meet only through the file's slow poll).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { E2E_STORE, freshStore, REPO_ROOT, startServer, type ServerProcess, type TestStore, STORE_INDEPENDENT } from '../support/server.ts';
import { request } from '../support/http.ts';
import { waitFor } from '../support/wait.ts';
import { WebhookReceiver } from '../support/webhook-receiver.ts';
import { KIND, OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.ts';

const TRACED_TASKS = join(REPO_ROOT, 'test/fixtures/traced-tasks.ts');
const crossNode = E2E_STORE === 'postgres';

let otlp: OtlpReceiver;
let hooks: WebhookReceiver;
let api: ServerProcess;
let worker: ServerProcess;
const servers: ServerProcess[] = [];
let store: TestStore | null = null;

const traceEnv = (service: string) => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
  OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
  OTEL_SERVICE_NAME: service,
  // Exported within a moment of ending, so the test waits on spans rather than on a 5 s batch.
  OTEL_BSP_SCHEDULE_DELAY: '20',
});

before(async () => {
  otlp = await OtlpReceiver.start();
  hooks = await WebhookReceiver.start();
  hooks.replyWith({ status: 204 });
  const args = ['--tasks', TRACED_TASKS, '--allow-private-webhooks', '--retry-base', '50ms', '--retry-max', '100ms'];
  if (crossNode) {
    store = freshStore('postgres');
    api = await startServer({ store: store.spec, args: [...args, '--no-workers'], env: traceEnv('api-node') });
    servers.push(api);
    worker = await startServer({ store: store.spec, command: 'worker', args, env: traceEnv('worker-node') });
    servers.push(worker);
  } else {
    api = await startServer({ args, env: traceEnv('one-node') });
    worker = api;
    servers.push(api);
  }
});

after(async () => {
  for (const server of servers) await server.stop();
  await store?.cleanup();
  await hooks?.close();
  await otlp?.close();
});

const hex = (length: number) => [...crypto.getRandomValues(new Uint8Array(length / 2))].map((b) => b.toString(16).padStart(2, '0')).join('');

async function submitTraced(input: Record<string, unknown>, traceparent: string): Promise<string> {
  const created = await request(api.url, 'POST', '/operations', { body: { type: 'traced', input, webhook_url: hooks.url }, headers: { traceparent } });
  assert.equal(created.status, 202, created.text);
  await waitFor(async () => (await request(api.url, 'GET', `/operations/${created.body.id}`)).body.status === 'completed', {
    timeoutMs: 15_000,
    what: 'the traced operation completed',
  });
  return created.body.id as string;
}

function spanWhere(what: string, match: (s: ReceivedSpan) => boolean): Promise<ReceivedSpan> {
  return waitFor(() => otlp.spans.find(match), { timeoutMs: 10_000, what });
}

describe(`traces from request to attempt to webhook${crossNode ? ', across an API node and a worker node on PostgreSQL' : ''}`, () => {
  it('one trace: the create span under the request, the process span under it, the handler span and the webhook under that', async () => {
    const traceId = hex(32);
    const callerSpan = hex(16);
    const id = await submitTraced({}, `00-${traceId}-${callerSpan}-01`);

    const create = await spanWhere('the create span', (s) => s.kind === KIND.producer && s.attributes['messaging.message.id'] === id);
    assert.equal(create.name, 'create traced');
    assert.equal(create.traceId, traceId, 'the request trace');
    assert.equal(create.parentSpanId, callerSpan, "a child of the caller's span");
    assert.equal(create.service, crossNode ? 'api-node' : 'one-node');
    assert.equal(create.attributes['messaging.system'], 'asyncops');
    assert.equal(create.attributes['messaging.destination.name'], 'traced');
    assert.equal(create.attributes['messaging.operation.type'], 'create');

    const process = await spanWhere('the process span', (s) => s.kind === KIND.consumer && s.attributes['messaging.message.id'] === id);
    assert.equal(process.name, 'process traced');
    assert.deepEqual([process.traceId, process.parentSpanId], [traceId, create.spanId], 'the first attempt continues the creating context');
    assert.equal(process.service, crossNode ? 'worker-node' : 'one-node');
    assert.equal(process.attributes['messaging.system'], 'asyncops');
    assert.equal(process.attributes['messaging.destination.name'], 'traced');
    assert.equal(process.attributes['messaging.operation.type'], 'process');
    assert.equal(process.attributes['asyncops.attempt'], 1);
    assert.equal(process.attributes['asyncops.outcome'], 'completed');
    assert.equal(process.statusCode, 0);

    const handler = await spanWhere('the handler span', (s) => s.name === 'handler work' && s.traceId === traceId);
    assert.equal(handler.parentSpanId, process.spanId, "the handler's own span nests under its attempt without code in the handler");

    const webhook = await spanWhere('the webhook span', (s) => s.kind === KIND.client && s.attributes['messaging.message.id'] === id);
    assert.deepEqual([webhook.name, webhook.traceId, webhook.parentSpanId], ['POST', traceId, process.spanId]);
    assert.equal(webhook.attributes['http.request.method'], 'POST');
    assert.equal(webhook.attributes['http.response.status_code'], 204);
    const received = await waitFor(() => hooks.received.find((r) => r.body.includes(id)), { what: 'the webhook' });
    assert.equal(received.headers.traceparent, `00-${traceId}-${webhook.spanId}-01`, 'the receiver gets the webhook span as its parent');

    const result = await request(api.url, 'GET', `/operations/${id}/result`);
    assert.deepEqual(result.body, { trace_id: traceId, active: true }, 'ctx.span is the attempt span, active while the handler runs');
    const line = await waitFor(() => worker.logs.find((l) => l.msg === 'traced handler ran' && l.operation_id === id), { what: 'the handler log line' });
    assert.deepEqual([line.attempt, line.trace_id, line.span_id], [1, traceId, process.spanId], 'ctx.log carries operation_id, attempt and the ids');
  });

  it('a retry starts a trace of its own, linked to the creating context; the failed attempt is an error', async () => {
    const traceId = hex(32);
    const id = await submitTraced({ failures: 1 }, `00-${traceId}-${hex(16)}-01`);
    const create = await spanWhere('the create span', (s) => s.kind === KIND.producer && s.attributes['messaging.message.id'] === id);
    const attempt = (n: number) =>
      spanWhere(
        `process span of attempt ${n}`,
        (s) => s.kind === KIND.consumer && s.attributes['messaging.message.id'] === id && s.attributes['asyncops.attempt'] === n,
      );
    const [first, second] = [await attempt(1), await attempt(2)];
    assert.deepEqual([first.traceId, first.parentSpanId], [traceId, create.spanId]);
    assert.equal(first.statusCode, 2, 'the failed attempt is an error');
    assert.equal(first.attributes['error.type'], 'handler_error');
    assert.equal(first.attributes['asyncops.outcome'], 'retried');
    assert.notEqual(second.traceId, traceId, 'the retry is a trace of its own');
    assert.equal(second.parentSpanId, '');
    assert.deepEqual(second.links, [{ traceId, spanId: create.spanId }], 'linked to the creating context');
    const failed = await waitFor(() => worker.logs.find((l) => l.msg === 'attempt failed' && l.operation_id === id), { what: 'the failure log line' });
    assert.deepEqual([failed.attempt, failed.trace_id, failed.span_id], [1, traceId, first.spanId]);
    // The webhook joins the attempt that ended the operation: the retry's trace.
    const webhook = await spanWhere('the webhook span', (s) => s.kind === KIND.client && s.attributes['messaging.message.id'] === id);
    assert.deepEqual([webhook.traceId, webhook.parentSpanId], [second.traceId, second.spanId]);
  });

  it("a redriven run's first attempt starts a trace of its own too, linked to the creating context", async () => {
    const traceId = hex(32);
    const created = await request(api.url, 'POST', '/operations', {
      body: { type: 'traced', input: { failures: 1 }, max_attempts: 1 },
      headers: { traceparent: `00-${traceId}-${hex(16)}-01` },
    });
    const id = created.body.id as string;
    await waitFor(async () => (await request(api.url, 'GET', `/operations/${id}`)).body.status === 'failed', { timeoutMs: 15_000, what: 'failed' });
    const create = await spanWhere('the create span', (s) => s.kind === KIND.producer && s.attributes['messaging.message.id'] === id);
    const isProcess = (s: ReceivedSpan) => s.kind === KIND.consumer && s.attributes['messaging.message.id'] === id && s.attributes['asyncops.attempt'] === 1;
    const first = await spanWhere('the first run', isProcess);
    assert.equal(first.traceId, traceId);
    assert.equal((await request(api.url, 'POST', `/operations/${id}/retry`)).status, 202);
    const redriven = await spanWhere('the redriven run', (s) => isProcess(s) && s.spanId !== first.spanId);
    assert.notEqual(redriven.traceId, traceId, 'not in the creating trace, which may have ended long before');
    assert.equal(redriven.parentSpanId, '');
    assert.deepEqual(redriven.links, [{ traceId, spanId: create.spanId }], 'linked to the creating context');
  });
});

describe('a collector that does not answer', STORE_INDEPENDENT, () => {
  it("is logged: the SDK's warnings and errors are log lines of the tracing component", async () => {
    const closed = await OtlpReceiver.start();
    const endpoint = closed.endpoint;
    await closed.close();
    // Each export gives up within a second (the default is 10 s, retries included), so the failures come soon.
    const server = await startServer({
      args: ['--tasks', TRACED_TASKS],
      env: { ...traceEnv('silent-collector'), OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_TIMEOUT: '1000' },
    });
    try {
      assert.equal((await request(server.url, 'POST', '/operations', { body: { type: 'traced', input: {} } })).status, 202);
      const line = await waitFor(() => server.logs.find((l) => l.component === 'tracing' && /^opentelemetry: /.test(String(l.msg))), {
        timeoutMs: 15_000,
        what: 'a log line saying the export failed',
      });
      assert.match(String(line.msg), /ECONNREFUSED/);
      // Spans still waiting when it stops: their export fails too, logged, and the stop is still a clean one.
      assert.equal((await request(server.url, 'POST', '/operations', { body: { type: 'traced', input: {} } })).status, 202);
      await server.stop();
      assert.equal(server.process.exitCode, 0, server.stderr());
      assert.ok(!server.logs.some((l) => /shutdown failed/.test(String(l.msg))), 'no failed shutdown logged');
    } finally {
      await server.stop();
    }
  });
});

describe('OTEL_TRACES_EXPORTER=console', STORE_INDEPENDENT, () => {
  it('writes each span as one JSON line on stderr, leaving stdout to the JSON log lines', async () => {
    const server = await startServer({ args: ['--tasks', TRACED_TASKS], env: { OTEL_TRACES_EXPORTER: 'console', OTEL_BSP_SCHEDULE_DELAY: '20' } });
    try {
      const created = await request(server.url, 'POST', '/operations', { body: { type: 'traced', input: {} }, headers: { prefer: 'wait=10' } });
      assert.equal(created.body.status, 'completed');
      const spans = await waitFor(
        () => {
          const lines = server
            .stderr()
            .split('\n')
            .filter((line) => line.startsWith('{'));
          const parsed = lines.map((line) => JSON.parse(line) as { name: string; traceId: string; id: string; parentSpanId?: string });
          return parsed.some((span) => span.name.startsWith('process ')) ? parsed : null;
        },
        { timeoutMs: 10_000, what: 'the process span on stderr' },
      );
      const process = spans.find((span) => span.name.startsWith('process '))!;
      assert.match(process.traceId, /^[0-9a-f]{32}$/);
      assert.ok(
        spans.some((span) => span.id === process.parentSpanId),
        'its parent, the create span, is written too',
      );
      assert.equal(
        server
          .stderr()
          .split('\n')
          .filter((line) => line !== '' && !line.startsWith('{')).length,
        0,
        `stderr holds only the span lines: ${server.stderr().slice(0, 500)}`,
      );
      assert.ok(
        server.logs.some((line) => line.msg === 'asyncops listening'),
        'the log lines are on stdout as ever',
      );
      assert.ok(!server.logs.some((line) => 'traceId' in line && 'duration' in line), 'no span among them');
    } finally {
      await server.stop();
    }
  });
});
