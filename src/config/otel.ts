// Owns: whether the server starts the OpenTelemetry SDK: `--otel`, or the standard variables that say where traces go.
// Not here: starting it (telemetry/sdk.ts), what it reads once started. Invariant: OTEL_SDK_DISABLED=true and
// OTEL_TRACES_EXPORTER=none turn it off whatever else says so, as the specification has it.

type Env = Readonly<Record<string, string | undefined>>;

const set = (env: Env, name: string): string | undefined => {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
};

/** True when traces are to be exported: `--otel` (ASYNCOPS_OTEL), or an OTLP endpoint or a traces exporter named. */
export function tracingRequested(flag: boolean, env: Env = process.env): boolean {
  if (set(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return false;
  const exporter = set(env, 'OTEL_TRACES_EXPORTER')?.toLowerCase();
  if (exporter === 'none') return false;
  return (
    flag || exporter !== undefined || set(env, 'OTEL_EXPORTER_OTLP_ENDPOINT') !== undefined || set(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') !== undefined
  );
}
