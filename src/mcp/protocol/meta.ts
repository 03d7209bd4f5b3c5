/**
 * What of a client's request `_meta` nexus passes on to the server it forwards the request to:
 * everything (custom keys, `traceparent`, `tracestate`, `baggage`) but what belongs to the hop
 * itself: the progress token (nexus gives each downstream request its own) and the protocol's
 * reserved `io.modelcontextprotocol/` keys (nexus's connection has its own envelope).
 */
const HOP_KEY = /^(progressToken$|io\.modelcontextprotocol\/)/;

export function metaToPassOn(meta: unknown): Record<string, unknown> | undefined {
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return undefined;
  let passed: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(meta)) {
    if (!HOP_KEY.test(key)) (passed ??= {})[key] = value;
  }
  return passed;
}
