// Spans in-process: W3C headers read strictly; with no SDK a carrier passes through unchanged (a no-op child keeps its
// parent's context); with the SDK and its in-memory exporter the create, process and webhook spans have the parents,
// links, kinds and attributes the messaging and HTTP conventions give them; when the SDK starts, and when it refuses.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { tracingRequested } from '../../src/config/otel.ts';
import { parseTraceHeaders } from '../../src/domain/trace-context.ts';
import { startTracingSdk } from '../../src/telemetry/sdk.ts';
import {
  carrierFromHeaders,
  contextWithSpan,
  endCreateSpan,
  endProcessSpan,
  endWebhookSpan,
  runInContext,
  startCreateSpan,
  startProcessSpan,
  startWebhookSpan,
  traceHeaders,
} from '../../src/telemetry/tracing.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE}-${PARENT}-01`;

describe('W3C trace context headers', () => {
  it('keeps a valid traceparent (and its tracestate), and ignores what the specification says is invalid', () => {
    assert.deepEqual(parseTraceHeaders(TRACEPARENT, 'a=1,b=2'), { traceparent: TRACEPARENT, tracestate: 'a=1,b=2' });
    assert.deepEqual(parseTraceHeaders(` ${TRACEPARENT} `, undefined), { traceparent: TRACEPARENT, tracestate: null });
    // A later version may add fields; it is read as version 00.
    assert.deepEqual(parseTraceHeaders(`01-${TRACE}-${PARENT}-01-extra`, undefined), { traceparent: TRACEPARENT, tracestate: null });
    for (const bad of [
      `ff-${TRACE}-${PARENT}-01`,
      `00-${'0'.repeat(32)}-${PARENT}-01`,
      `00-${TRACE}-${'0'.repeat(16)}-01`,
      `00-${TRACE.toUpperCase()}-${PARENT}-01`,
      `00-${TRACE}-${PARENT}-01-extra`,
      `00-${TRACE}-${PARENT}`,
      'garbage',
    ]) {
      assert.equal(parseTraceHeaders(bad, 'a=1'), null, bad);
    }
    assert.equal(parseTraceHeaders(TRACEPARENT, 'x'.repeat(513))?.tracestate, null, 'an overlong tracestate is dropped, the parent kept');
    assert.deepEqual(carrierFromHeaders({ traceparent: TRACEPARENT, tracestate: ['a=1', 'b=2'] }), { traceparent: TRACEPARENT, tracestate: 'a=1,b=2' });
    assert.equal(carrierFromHeaders({}), null);
  });

  it('starts the SDK for --otel or an OTLP endpoint, never when the specification switches it off', () => {
    assert.equal(tracingRequested(false, {}), false);
    assert.equal(tracingRequested(true, {}), true);
    assert.equal(tracingRequested(false, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), true);
    assert.equal(tracingRequested(false, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }), true);
    assert.equal(tracingRequested(false, { OTEL_EXPORTER_OTLP_ENDPOINT: ' ' }), false);
    assert.equal(tracingRequested(true, { OTEL_SDK_DISABLED: 'true' }), false);
    assert.equal(tracingRequested(true, { OTEL_TRACES_EXPORTER: 'none' }), false);
  });
});

describe('spans without an SDK', () => {
  it('cost nothing but pass the creating context through: the operation keeps the caller’s, its first attempt continues it', () => {
    const parent = { traceparent: TRACEPARENT, tracestate: 'k=v' };
    const create = startCreateSpan('report', parent);
    assert.deepEqual(create.carrier, parent);
    assert.equal(create.span.isRecording(), false);
    endCreateSpan(create.span, { operationId: 'op_1', replayed: false });
    assert.equal(startCreateSpan('report', null).carrier, null, 'no parent, no SDK: nothing to keep');
    const process = startProcessSpan({ id: 'op_1', type: 'report', attempt: 1, trace: parent }, 'w1');
    assert.equal(process.spanContext().traceId, TRACE);
    assert.deepEqual(traceHeaders(process), { traceparent: TRACEPARENT, tracestate: 'k=v' });
    assert.deepEqual(traceHeaders(startProcessSpan({ id: 'op_1', type: 'report', attempt: 2, trace: parent }, 'w1')), {}, 'a retry starts afresh');
  });
});

describe('spans with the SDK (in-memory exporter)', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  // In a hook, not the describe body: that runs while tests are collected, before the no-SDK ones above.
  before(() => {
    trace.setGlobalTracerProvider(provider);
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  });
  after(async () => {
    await provider.shutdown();
    trace.disable();
    context.disable();
    propagation.disable();
  });
  const finished = () => exporter.getFinishedSpans();

  it('create (PRODUCER) under the request; process (CONSUMER) under it; a handler span under that; the webhook (CLIENT) under the attempt', async () => {
    const create = startCreateSpan('report', { traceparent: TRACEPARENT, tracestate: null });
    endCreateSpan(create.span, { operationId: 'op_a', replayed: false });
    const process = startProcessSpan({ id: 'op_a', type: 'report', attempt: 1, trace: create.carrier }, 'worker-1');
    await runInContext(contextWithSpan(process), async () => {
      await Promise.resolve();
      trace.getTracer('library').startSpan('library call').end();
    });
    endProcessSpan(process, 'completed', null);
    const webhook = startWebhookSpan(
      { id: 'dlv_a', operationId: 'op_a', attemptCount: 1, manual: false, trace: { traceparent: traceHeaders(process).traceparent!, tracestate: null } },
      'https://hooks.example.com:8443/in?token=secret',
    );
    endWebhookSpan(webhook, { statusCode: 503, error: null, outcome: 'retrying' });

    const [c, library, p, w] = finished();
    assert.deepEqual([c!.name, c!.kind, c!.spanContext().traceId, c!.parentSpanContext?.spanId], ['create report', SpanKind.PRODUCER, TRACE, PARENT]);
    assert.deepEqual(c!.attributes, {
      'messaging.system': 'asyncops',
      'messaging.operation.type': 'create',
      'messaging.operation.name': 'create',
      'messaging.destination.name': 'report',
      'messaging.message.id': 'op_a',
    });
    assert.deepEqual([p!.name, p!.kind, p!.parentSpanContext?.spanId], ['process report', SpanKind.CONSUMER, c!.spanContext().spanId]);
    assert.equal(p!.attributes['messaging.client.id'], 'worker-1');
    assert.equal(p!.attributes['asyncops.attempt'], 1);
    assert.equal(library!.parentSpanContext?.spanId, p!.spanContext().spanId, 'a library span nests under the attempt');
    assert.deepEqual([w!.name, w!.kind, w!.parentSpanContext?.spanId], ['POST', SpanKind.CLIENT, p!.spanContext().spanId]);
    assert.equal(w!.attributes['url.full'], 'https://hooks.example.com:8443/in', 'the query (a token, maybe) is left out');
    assert.deepEqual([w!.attributes['server.port'], w!.attributes['http.response.status_code'], w!.attributes['error.type']], [8443, 503, '503']);
    assert.equal(w!.attributes['http.request.resend_count'], 1);
    assert.equal(w!.status.code, SpanStatusCode.ERROR);
    exporter.reset();
  });

  it('a retry and a replay start traces of their own, linked to where they came from; a failure is an error with its code', () => {
    const creation = { traceparent: TRACEPARENT, tracestate: null };
    const retry = startProcessSpan({ id: 'op_b', type: 'report', attempt: 2, trace: creation }, 'w');
    endProcessSpan(retry, 'failed', { code: 'timeout' });
    const replay = startWebhookSpan({ id: 'dlv_b', operationId: 'op_b', attemptCount: 8, manual: true, trace: creation }, 'http://[::1]/hook');
    endWebhookSpan(replay, { statusCode: null, error: 'timed out after 10000 ms', outcome: 'dead' });
    const refused = startCreateSpan(null, null);
    endCreateSpan(refused.span, { error: Object.assign(new Error('unknown task type'), { code: 'unknown_task_type' }) });
    const [r, w, c] = finished();
    for (const span of [r!, w!]) {
      assert.equal(span.parentSpanContext, undefined, `${span.name} is a root`);
      assert.notEqual(span.spanContext().traceId, TRACE);
      assert.deepEqual(
        span.links.map((l) => [l.context.traceId, l.context.spanId]),
        [[TRACE, PARENT]],
      );
    }
    assert.deepEqual([r!.status.code, r!.attributes['error.type'], r!.attributes['asyncops.outcome']], [SpanStatusCode.ERROR, 'timeout', 'failed']);
    assert.deepEqual([w!.attributes['error.type'], w!.attributes['server.address']], ['timeout', '::1']);
    assert.deepEqual([c!.name, c!.attributes['error.type'], c!.attributes['messaging.destination.name']], ['create', 'unknown_task_type', undefined]);
  });

  it('startTracingSdk leaves a provider registered first in place, and names what is wrong with a setting it cannot take', async () => {
    assert.equal(await startTracingSdk({ version: 'test', env: { OTEL_TRACES_EXPORTER: 'none' } }), null, 'the application’s provider is kept');
    assert.equal(await startTracingSdk({ version: 'test', env: { OTEL_SDK_DISABLED: 'true' } }), null);
    await assert.rejects(
      startTracingSdk({ version: 'test', env: { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' } }),
      /^TracingSettingError: OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" is not supported/,
    );
    await assert.rejects(
      startTracingSdk({ version: 'test', env: { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' } }),
      /^TracingSettingError: OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "grpc" is not supported/,
      'named by the variable it came from',
    );
    await assert.rejects(startTracingSdk({ version: 'test', env: { OTEL_TRACES_SAMPLER: 'sometimes' } }), /OTEL_TRACES_SAMPLER: "sometimes" is not one of/);
    await assert.rejects(
      startTracingSdk({ version: 'test', env: { OTEL_BSP_SCHEDULE_DELAY: 'soon' } }),
      /OTEL_BSP_SCHEDULE_DELAY: "soon" is not a whole number/,
    );
  });

  it('startTracingSdk logs what the exporter warns of while it is built (its own variables, read from the process)', async () => {
    const lines: string[] = [];
    const log = { warn: (line: string) => lines.push(line), error: (line: string) => lines.push(line) };
    process.env.OTEL_EXPORTER_OTLP_CERTIFICATE = '/nonexistent/asyncops-ca.pem';
    try {
      // The provider this file registered first stays: the SDK is built, then stands down (and lets go of the logger).
      assert.equal(await startTracingSdk({ version: 'test', env: {}, log }), null);
    } finally {
      delete process.env.OTEL_EXPORTER_OTLP_CERTIFICATE;
    }
    assert.ok(
      lines.some((line) => /^opentelemetry: .*certificate/i.test(line)),
      lines.join('\n'),
    );
  });
});
