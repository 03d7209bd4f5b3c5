/**
 * Trace context on the way out: HTTP headers for remote MCP servers and LLM providers, and the
 * `_meta` keys of MCP requests (`traceparent`, `tracestate`, `baggage`, as the 2026-07-28
 * revision carries them), for every downstream, stdio included.
 *
 * The OpenTelemetry module installs the reader when tracing starts; until then (and always
 * with tracing off) both functions return undefined at the cost of one check, and nothing of
 * OpenTelemetry is loaded. The reader looks at the active span only, so requests nexus makes on
 * its own (connecting, listing tools) carry nothing.
 */
type Reader = () => Record<string, string> | undefined;

let activeContext: Reader | undefined;

export function installTraceReader(reader: Reader): void {
  activeContext = reader;
}

/** Headers carrying the active span's context, if a span is active. */
export function traceHeaders(): Record<string, string> | undefined {
  return activeContext?.();
}

const META_KEYS = ['traceparent', 'tracestate', 'baggage'] as const;

/**
 * `meta` with the active span's context in place of the caller's (the span continues the
 * caller's trace), or `meta` itself when no span is active.
 */
export function withTraceMeta<T extends object | undefined>(meta: T): T | Record<string, unknown> {
  const headers = activeContext?.();
  if (!headers) return meta;
  const traced: Record<string, unknown> = { ...meta };
  for (const key of META_KEYS) if (headers[key] !== undefined) traced[key] = headers[key];
  return traced;
}
