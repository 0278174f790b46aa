// Owns: the W3C Trace Context an operation and a delivery keep (`traceparent` and `tracestate`, as the headers carry them)
// and reading those headers strictly. Not here: spans (telemetry/), storing it (store/). Invariant: a carrier held here
// is valid version-00 text, so whatever reads it back (any node, any version) can use it as it is.

/** The creating trace context of an operation, or the parent of a delivery's spans: W3C `traceparent` and `tracestate`. */
export interface TraceCarrier {
  /** `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, lower case. */
  readonly traceparent: string;
  readonly tracestate: string | null;
}

// W3C Trace Context level 1: a later version may append fields after a dash, which a version-00 reader ignores.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
/** The longest tracestate kept: the specification's 32 list members of at most 256 characters each would be 8 kB. */
export const TRACESTATE_MAX = 512;

/**
 * A traceparent header as the specification says to read it (version ff, all-zero ids and a version-00 value with more
 * fields are invalid): null when it is not one, so a malformed header is ignored rather than refused. A tracestate
 * is kept only beside a valid traceparent, and dropped when it is too long or not printable ASCII.
 */
export function parseTraceHeaders(traceparent: string | undefined, tracestate: string | undefined): TraceCarrier | null {
  if (traceparent === undefined) return null;
  const match = TRACEPARENT.exec(traceparent.trim());
  if (match === null) return null;
  const [, version, traceId, spanId, flags, rest] = match;
  if (version === 'ff' || traceId === ZERO_TRACE || spanId === ZERO_SPAN) return null;
  if (version === '00' && rest !== undefined) return null;
  const state = tracestate?.trim();
  const keepState = state !== undefined && state.length > 0 && state.length <= TRACESTATE_MAX && /^[\x20-\x7e]+$/.test(state);
  return { traceparent: `00-${traceId}-${spanId}-${flags}`, tracestate: keepState ? state : null };
}

/** The ids and flags of a carrier's traceparent (valid by construction). */
export function traceparentParts(carrier: TraceCarrier): { readonly traceId: string; readonly spanId: string; readonly flags: number } {
  const [, traceId = ZERO_TRACE, spanId = ZERO_SPAN, flags = '00'] = carrier.traceparent.split('-');
  return { traceId, spanId, flags: Number.parseInt(flags, 16) };
}
