// Owns: the error a standard OTEL_* variable this server cannot follow raises. Its own module, so that the package's
// public declarations, which name it, never reach the SDK starter's, whose types come from the optional peers.

/** A standard OTEL_* variable this server cannot follow: a setting's mistake, which the CLI reports as a usage error. */
export class TracingSettingError extends Error {
  override name = 'TracingSettingError';
}
