// Owns: asyncops's spans, made through @opentelemetry/api alone: the `create` span of a submit (PRODUCER), the `process`
// span of an attempt (CONSUMER) and the HTTP client span of a webhook attempt, as the messaging and HTTP conventions name
// them, and turning a stored W3C carrier into a parent or a link and back. Not here: installing an SDK (sdk.ts), when a
// span starts or ends (runtime/, webhooks/). Invariant: with no SDK registered every call is the API's no-op, and a
// carrier passes through unchanged (a no-op child keeps its parent's context), so an operation still carries the trace
// it was created in.

import {
  context,
  createTraceState,
  isSpanContextValid,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
  type Tracer,
} from '@opentelemetry/api';
import packageJson from '../../package.json' with { type: 'json' };
import { parseTraceHeaders, traceparentParts, type TraceCarrier } from '../domain/trace-context.ts';

/** `messaging.system` of every create and process span: asyncops is the messaging system. */
export const MESSAGING_SYSTEM = 'asyncops';

let tracerOf: Tracer | undefined;
/** Taken lazily: a proxy that follows a provider registered later (the SDK starts after imports). */
function tracer(): Tracer {
  tracerOf ??= trace.getTracer('asyncops', packageJson.version);
  return tracerOf;
}

/** The remote span context a carrier names. */
export function spanContextOf(carrier: TraceCarrier): SpanContext {
  const { traceId, spanId, flags } = traceparentParts(carrier);
  return {
    traceId,
    spanId,
    traceFlags: flags,
    isRemote: true,
    ...(carrier.tracestate === null ? {} : { traceState: createTraceState(carrier.tracestate) }),
  };
}

/** A span's context as a carrier to store or send; null when it has none (no SDK and no parent). */
export function carrierOf(span: Span): TraceCarrier | null {
  const sc = span.spanContext();
  if (!isSpanContextValid(sc)) return null;
  const state = sc.traceState?.serialize() ?? '';
  return { traceparent: `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`, tracestate: state === '' ? null : state };
}

/** `traceparent` and `tracestate` from request headers; null when absent or malformed (ignored, as the specification says). */
export function carrierFromHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): TraceCarrier | null {
  const parent = headers.traceparent;
  if (parent === undefined || Array.isArray(parent)) return null;
  const state = headers.tracestate;
  // Several tracestate headers are one list (RFC 9110 field lines combine with commas).
  return parseTraceHeaders(parent, Array.isArray(state) ? state.join(',') : state);
}

/** The headers that carry a span's context onward (a webhook request); none without a context. */
export function traceHeaders(span: Span): Record<string, string> {
  const carrier = carrierOf(span);
  if (carrier === null) return {};
  return carrier.tracestate === null ? { traceparent: carrier.traceparent } : { traceparent: carrier.traceparent, tracestate: carrier.tracestate };
}

/** `trace_id` and `span_id` for log lines written in a span's context; none without one. */
export function traceLogFields(span: Span): { trace_id?: string; span_id?: string } {
  const sc = span.spanContext();
  return isSpanContextValid(sc) ? { trace_id: sc.traceId, span_id: sc.spanId } : {};
}

/** The context a handler runs in: its attempt's span as the active one. */
export function contextWithSpan(span: Span): Context {
  return trace.setSpan(ROOT_CONTEXT, span);
}

/** Runs `fn` with `ctx` active, so spans made inside (a handler's libraries) nest under it when an SDK is registered. */
export function runInContext<T>(ctx: Context, fn: () => T): T {
  return context.with(ctx, fn);
}

/**
 * The `create` span of a submit (PRODUCER, `create {type}`; `create` for a type not registered), child of the span active in the caller (an embedder's own
 * HTTP instrumentation) or else of the request's `traceparent`. `carrier` is what the operation keeps: this span's
 * context, or the parent's as it came when no SDK records spans.
 */
export function startCreateSpan(type: string | null, parent: TraceCarrier | null): { readonly span: Span; readonly carrier: TraceCarrier | null } {
  const active = context.active();
  const parentContext =
    trace.getSpan(active) !== undefined ? active : parent === null ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, spanContextOf(parent));
  const attributes: Attributes = { 'messaging.system': MESSAGING_SYSTEM, 'messaging.operation.type': 'create', 'messaging.operation.name': 'create' };
  // An unknown type is what a client sent: kept out of the name and attributes, which must stay few.
  if (type !== null) attributes['messaging.destination.name'] = type;
  const span = tracer().startSpan(type === null ? 'create' : `create ${type}`, { kind: SpanKind.PRODUCER, attributes }, parentContext);
  return { span, carrier: carrierOf(span) };
}

/** Ends a create span: the operation's id, or the error that refused the submit (its code as `error.type`). */
export function endCreateSpan(span: Span, outcome: { readonly operationId: string; readonly replayed: boolean } | { readonly error: unknown }): void {
  if ('operationId' in outcome) {
    span.setAttribute('messaging.message.id', outcome.operationId);
    if (outcome.replayed) span.setAttribute('asyncops.idempotent_replay', true);
  } else {
    failSpan(span, errorType(outcome.error), outcome.error);
  }
  span.end();
}

export interface ProcessSpanOperation {
  readonly id: string;
  readonly type: string;
  readonly attempt: number;
  readonly trace?: TraceCarrier | null | undefined;
  readonly redrivenAt?: number | null | undefined;
}

/**
 * The `process` span of one attempt (CONSUMER, `process {type}`). The first attempt continues the creating context; a
 * later one (a retry, or a run after its lease expired), and any attempt of a run an operator redrove, starts a trace of
 * its own with a link to it, as a redelivered message does in the messaging conventions.
 */
export function startProcessSpan(operation: ProcessSpanOperation, workerId: string): Span {
  const attributes: Attributes = {
    'messaging.system': MESSAGING_SYSTEM,
    'messaging.operation.type': 'process',
    'messaging.operation.name': 'process',
    'messaging.destination.name': operation.type,
    'messaging.message.id': operation.id,
    'messaging.client.id': workerId,
    'asyncops.attempt': operation.attempt,
  };
  const firstOfFirstRun = operation.attempt === 1 && (operation.redrivenAt ?? null) === null;
  return startFromStored(`process ${operation.type}`, SpanKind.CONSUMER, attributes, operation.trace, firstOfFirstRun);
}

/**
 * A span in the stored trace: its child when `continueTrace`, otherwise the root of a trace of its own with a link to
 * it (a retry, a replay). Without a stored trace, a root without links.
 */
function startFromStored(name: string, kind: SpanKind, attributes: Attributes, carrier: TraceCarrier | null | undefined, continueTrace: boolean): Span {
  const stored = carrier === null || carrier === undefined ? null : spanContextOf(carrier);
  if (stored !== null && continueTrace) return tracer().startSpan(name, { kind, attributes }, trace.setSpanContext(ROOT_CONTEXT, stored));
  return tracer().startSpan(name, { kind, attributes, root: true, links: stored === null ? [] : [{ context: stored }] }, ROOT_CONTEXT);
}

/** Ends an attempt's span with how it ended; a failure (retried or not) is an error, its code the `error.type`. */
export function endProcessSpan(span: Span, outcome: string, error: { readonly code: string } | null): void {
  span.setAttribute('asyncops.outcome', outcome);
  if (outcome === 'failed' || outcome === 'retried' || outcome === 'lost') failSpan(span, error?.code ?? outcome);
  span.end();
}

/** Records a thrown error on a span (an exception event), without ending it. */
export function recordException(span: Span, error: unknown): void {
  if (span.isRecording()) span.recordException(error instanceof Error ? error : String(error));
}

export interface WebhookSpanDelivery {
  readonly id: string;
  readonly operationId: string;
  /** Attempts made before this one. */
  readonly attemptCount: number;
  /** A replay someone asked for: it starts a trace of its own, linked to the delivery's. */
  readonly manual: boolean;
  readonly trace?: TraceCarrier | null | undefined;
}

/**
 * A webhook attempt's HTTP client span (`POST`): a child of the delivery's trace (the attempt that ended the operation),
 * or for a replay the root of a trace of its own with a link to it. The URL's query is left out: it may carry a token.
 */
export function startWebhookSpan(delivery: WebhookSpanDelivery, target: string): Span {
  const attributes: Attributes = { 'http.request.method': 'POST', 'messaging.message.id': delivery.operationId, 'asyncops.delivery.id': delivery.id };
  const url = URL.parse(target);
  if (url !== null) {
    attributes['url.full'] = `${url.origin}${url.pathname}`;
    attributes['server.address'] = url.hostname.replace(/^\[(.*)\]$/, '$1');
    attributes['server.port'] = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  }
  if (delivery.attemptCount > 0) attributes['http.request.resend_count'] = delivery.attemptCount;
  return startFromStored('POST', SpanKind.CLIENT, attributes, delivery.trace, !delivery.manual);
}

/** Ends a webhook span with the receiver's answer: `error.type` is its status from 400 on, or what went wrong without one. */
export function endWebhookSpan(span: Span, result: { readonly statusCode: number | null; readonly error: string | null; readonly outcome: string }): void {
  span.setAttribute('asyncops.delivery.outcome', result.outcome);
  if (result.statusCode !== null) span.setAttribute('http.response.status_code', result.statusCode);
  if (result.statusCode !== null && result.statusCode >= 400) failSpan(span, String(result.statusCode));
  else if (result.statusCode === null) failSpan(span, webhookErrorType(result.error), result.error ?? undefined);
  span.end();
}

function webhookErrorType(error: string | null): string {
  if (error === null) return '_OTHER';
  if (error.startsWith('timed out')) return 'timeout';
  if (error.startsWith('refused')) return 'refused';
  if (error.startsWith('aborted')) return 'aborted';
  return 'connection_error';
}

function errorType(error: unknown): string {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.name : '_OTHER';
}

function failSpan(span: Span, type: string, error?: unknown): void {
  span.setAttribute('error.type', type);
  const message = error instanceof Error ? error.message : typeof error === 'string' ? error : undefined;
  span.setStatus(message === undefined ? { code: SpanStatusCode.ERROR } : { code: SpanStatusCode.ERROR, message });
}
