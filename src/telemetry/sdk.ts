// Owns: starting and stopping the OpenTelemetry SDK in this process when asked (--otel, OTEL_EXPORTER_OTLP_ENDPOINT): the
// packages loaded by dynamic import only then, the standard OTEL_* variables read, the globals registered. Not here: the
// spans (tracing.ts), deciding whether to start (config/otel.ts). Invariant: nothing of the SDK is loaded unless this
// runs; a missing package or a value the SDK cannot take is one Error naming what to do, before anything starts.

import { context, diag, DiagLogLevel, propagation, trace, type DiagLogger } from '@opentelemetry/api';
import { TracingSettingError } from './tracing-setting-error.ts';

/** The SDK's packages (peer dependencies, loaded only here): what `npm install` needs when one is missing. */
export const OTEL_SDK_PACKAGES = [
  '@opentelemetry/sdk-trace',
  '@opentelemetry/core',
  '@opentelemetry/resources',
  '@opentelemetry/context-async-hooks',
  '@opentelemetry/exporter-trace-otlp-proto',
] as const;

export interface TracingSdk {
  /** Exports what is still buffered, then stops; the globals go back to the API's no-ops. */
  shutdown(): Promise<void>;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Starts a tracer provider exporting as the OTEL_* variables say: OTEL_TRACES_EXPORTER (`otlp`, the default, `console`
 * or `none`), OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL (`http/protobuf`, the default, or `http/json`), the exporter's own
 * endpoint, headers, timeout and compression variables, OTEL_TRACES_SAMPLER[_ARG], OTEL_BSP_*, OTEL_SERVICE_NAME and
 * OTEL_RESOURCE_ATTRIBUTES. Resolves null when OTEL_SDK_DISABLED is true, or another provider was registered first (an
 * embedding application's own), which is then left to do the work.
 */
export async function startTracingSdk(options: {
  readonly version: string;
  readonly env?: Env;
  /** Where the SDK's own warnings go (a span export that failed, a collector that does not answer): none without one. */
  readonly log?: { warn(message: string): void; error(message: string): void };
}): Promise<TracingSdk | null> {
  const env = options.env ?? process.env;
  if (value(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return null;
  const exporters = (value(env, 'OTEL_TRACES_EXPORTER') ?? 'otlp').split(',').map((name) => name.trim().toLowerCase());
  for (const name of exporters) {
    if (!['otlp', 'console', 'none'].includes(name)) throw new TracingSettingError(`OTEL_TRACES_EXPORTER: "${name}" is not one of otlp, console, none`);
  }
  // Named by the variable it came from: the traces one wins over the general one.
  const protocolVariable =
    value(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = value(env, protocolVariable) ?? 'http/protobuf';
  if (exporters.includes('otlp') && protocol !== 'http/protobuf' && protocol !== 'http/json') {
    throw new TracingSettingError(`${protocolVariable}: "${protocol}" is not supported; use http/protobuf (the default, port 4318) or http/json`);
  }
  if (exporters.includes('otlp')) checkExporterSettings(env);
  const sampler = samplerSpec(env);
  const batch = {
    scheduledDelayMillis: count(env, 'OTEL_BSP_SCHEDULE_DELAY'),
    exportTimeoutMillis: count(env, 'OTEL_BSP_EXPORT_TIMEOUT'),
    maxQueueSize: count(env, 'OTEL_BSP_MAX_QUEUE_SIZE'),
    maxExportBatchSize: count(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE'),
  };

  const [sdk, core, resources, hooks] = await Promise.all([
    load(() => import('@opentelemetry/sdk-trace')),
    load(() => import('@opentelemetry/core')),
    load(() => import('@opentelemetry/resources')),
    load(() => import('@opentelemetry/context-async-hooks')),
  ]);
  // Once the packages loaded (a missing one throws), before the exporters are built: they warn while being built too
  // (a certificate file they cannot read).
  const diagSet = options.log !== undefined && diag.setLogger(diagLogger(options.log), DiagLogLevel.WARN);
  const spanProcessors: Array<InstanceType<typeof sdk.BatchSpanProcessor>> = [];
  for (const name of exporters) {
    if (name === 'none') continue;
    const exporter =
      name === 'console'
        ? jsonLinesExporter(core, (line) => process.stderr.write(line))
        : protocol === 'http/json'
          ? new (await load(() => import('@opentelemetry/exporter-trace-otlp-http'), '@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter()
          : new (await load(() => import('@opentelemetry/exporter-trace-otlp-proto'))).OTLPTraceExporter();
    const defined = Object.fromEntries(Object.entries(batch).filter(([, v]) => v !== undefined));
    spanProcessors.push(new sdk.BatchSpanProcessor({ exporter, ...defined }));
  }
  const ratio = sampler.arg ?? 1;
  const root = sampler.kind.endsWith('always_off')
    ? new sdk.AlwaysOffSampler()
    : sampler.kind.endsWith('traceidratio')
      ? new sdk.TraceIdRatioBasedSampler(ratio)
      : new sdk.AlwaysOnSampler();
  const provider = new sdk.TracerProvider({
    // The standard detectors' service name is unknown_service:node; asyncops names itself unless OTEL_SERVICE_NAME does.
    resource: resources
      .defaultResource()
      .merge(resources.resourceFromAttributes({ 'service.name': 'asyncops', 'service.version': options.version }))
      .merge(resources.detectResources({ detectors: [resources.envDetector] })),
    sampler: sampler.kind.startsWith('parentbased_') ? new sdk.ParentBasedSampler({ root }) : root,
    spanProcessors,
  });
  if (!trace.setGlobalTracerProvider(provider)) {
    await provider.shutdown();
    if (diagSet) diag.disable();
    return null;
  }
  context.setGlobalContextManager(new hooks.AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new core.CompositePropagator({ propagators: [new core.W3CTraceContextPropagator(), new core.W3CBaggagePropagator()] }));
  let stopped: Promise<void> | null = null;
  return {
    shutdown() {
      stopped ??= provider.shutdown().finally(() => {
        trace.disable();
        if (diagSet) diag.disable();
        context.disable();
        propagation.disable();
      });
      return stopped;
    },
  };
}

const SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'];

function samplerSpec(env: Env): { kind: string; arg: number | undefined } {
  const kind = (value(env, 'OTEL_TRACES_SAMPLER') ?? 'parentbased_always_on').toLowerCase();
  if (!SAMPLERS.includes(kind)) throw new TracingSettingError(`OTEL_TRACES_SAMPLER: "${kind}" is not one of ${SAMPLERS.join(', ')}`);
  const raw = value(env, 'OTEL_TRACES_SAMPLER_ARG');
  if (raw === undefined || !kind.endsWith('traceidratio')) return { kind, arg: undefined };
  const arg = Number(raw);
  if (!(arg >= 0 && arg <= 1)) throw new TracingSettingError(`OTEL_TRACES_SAMPLER_ARG: "${raw}" is not a ratio between 0 and 1`);
  return { kind, arg };
}

/**
 * The exporter's own variables, which it would read leniently: an endpoint that is no URL fell back to localhost:4318,
 * a timeout or compression it cannot read was ignored, all without a word.
 */
function checkExporterSettings(env: Env): void {
  for (const name of ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_ENDPOINT']) {
    const endpoint = value(env, name);
    if (endpoint === undefined) continue;
    const url = URL.canParse(endpoint) ? new URL(endpoint) : null;
    if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new TracingSettingError(`${name}: "${endpoint.slice(0, 100)}" is not an http(s) URL (such as http://collector:4318)`);
    }
  }
  for (const name of ['OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', 'OTEL_EXPORTER_OTLP_TIMEOUT']) {
    const timeout = count(env, name);
    if (timeout === 0) throw new TracingSettingError(`${name}: a timeout must be at least 1 ms`);
  }
  for (const name of ['OTEL_EXPORTER_OTLP_TRACES_COMPRESSION', 'OTEL_EXPORTER_OTLP_COMPRESSION']) {
    const compression = value(env, name);
    if (compression !== undefined && compression !== 'gzip' && compression !== 'none') {
      throw new TracingSettingError(`${name}: "${compression.slice(0, 40)}" is not one of gzip, none`);
    }
  }
}

/** The SDK's diagnostics at warn and above, as log lines. */
function diagLogger(log: { warn(message: string): void; error(message: string): void }): DiagLogger {
  const line = (args: unknown[]) => `opentelemetry: ${args.map(describeDiagArgument).join(' ')}`;
  const ignore = () => {};
  return {
    error: (message, ...args) => log.error(line([message, ...args])),
    warn: (message, ...args) => log.warn(line([message, ...args])),
    info: ignore,
    debug: ignore,
    verbose: ignore,
  };
}

/** An error's message: the SDK hands some over as the JSON of the error, stack and all. */
function describeDiagArgument(arg: unknown): string {
  if (arg instanceof Error) return arg.message;
  const text = String(arg);
  if (!text.startsWith('{')) return text;
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    return typeof parsed.message === 'string' ? parsed.message : text;
  } catch {
    return text;
  }
}

/** A variable as set: unset and empty (or blank) are both unset, as the specification says. */
function value(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim();
  return raw === undefined || raw === '' ? undefined : raw;
}

function count(env: Env, name: string): number | undefined {
  const raw = value(env, name);
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw)) throw new TracingSettingError(`${name}: "${raw}" is not a whole number`);
  return Number(raw);
}

async function load<T>(importer: () => Promise<T>, name?: string): Promise<T> {
  try {
    return await importer();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ERR_MODULE_NOT_FOUND') throw error;
    const packages = name === undefined ? OTEL_SDK_PACKAGES.join(' ') : name;
    throw new Error(`tracing needs the OpenTelemetry SDK, which is not installed: npm install ${packages}`);
  }
}

type Core = typeof import('@opentelemetry/core');
type ReadableSpan = import('@opentelemetry/sdk-trace').ReadableSpan;
type SpanExporter = import('@opentelemetry/sdk-trace').SpanExporter;

/**
 * OTEL_TRACES_EXPORTER=console: each span as one JSON line (the fields the SDK's ConsoleSpanExporter shows) written by
 * `write`, stderr: the SDK's own writes multi-line objects with console.dir onto stdout, between the log's JSON lines,
 * which a log shipper then cannot read.
 */
export function jsonLinesExporter(core: Pick<Core, 'hrTimeToMicroseconds' | 'ExportResultCode'>, write: (line: string) => void): SpanExporter {
  const lineOf = (span: ReadableSpan) =>
    JSON.stringify({
      resource: { attributes: span.resource.attributes },
      instrumentationScope: span.instrumentationScope,
      traceId: span.spanContext().traceId,
      parentSpanId: span.parentSpanContext?.spanId,
      traceState: span.spanContext().traceState?.serialize(),
      name: span.name,
      id: span.spanContext().spanId,
      kind: span.kind,
      timestamp: core.hrTimeToMicroseconds(span.startTime),
      duration: core.hrTimeToMicroseconds(span.duration),
      attributes: span.attributes,
      status: span.status,
      events: span.events,
      links: span.links,
    });
  return {
    export(spans, done) {
      write(spans.map((span) => `${lineOf(span)}\n`).join(''));
      done({ code: core.ExportResultCode.SUCCESS });
    },
    shutdown: async () => {},
    forceFlush: async () => {},
  };
}
