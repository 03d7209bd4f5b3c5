/**
 * Telemetry of the requests nexus sends to a server: a client span (named by method and target,
 * as the semantic conventions name them) and `mcp.client.operation.duration`. The request itself
 * carries the span's trace context, in `_meta` and (remote servers) HTTP headers.
 */
import { isJSONRPCRequest, type Transport } from '@modelcontextprotocol/client';
import type { DownstreamConfig } from '../../config/schema.js';
import { withTraceMeta } from '../../telemetry/propagation.js';
import { secondsSince, type Attributes, type Telemetry } from '../../telemetry/telemetry.js';
import { mcpErrorType } from '../protocol/error-type.js';

/** What a request to a server is: its method, and the tool, prompt or resource it names. */
export interface Requested {
  method: string;
  target?: string;
}

/** Where a server is, as span attributes (worked out once per server). */
export function peerOf(config: DownstreamConfig): Attributes {
  if (config.kind === 'stdio') return { 'network.transport': 'pipe' };
  const url = new URL(config.url);
  return {
    'network.transport': 'tcp',
    'server.address': url.hostname,
    'server.port': Number(url.port) || (url.protocol === 'https:' ? 443 : 80),
  };
}

export function observeRequest<T>(
  telemetry: Telemetry,
  server: string,
  peer: Attributes,
  { method, target }: Requested,
  send: () => Promise<T>,
): Promise<T> {
  const start = performance.now();
  const named = method === 'tools/call' ? { 'gen_ai.tool.name': target } : method === 'prompts/get' ? { 'gen_ai.prompt.name': target } : {};
  const attributes = {
    'mcp.method.name': method,
    'mcp.server.name': server,
    ...named,
    ...(method.startsWith('resources/') && { 'mcp.resource.uri': target }),
    ...peer,
  };
  return telemetry.span(`${method} ${target ?? server}`, { kind: 'client', attributes }, async (span) => {
    let failure: string | undefined;
    try {
      const result = await send();
      if ((result as { isError?: unknown } | null)?.isError === true) span.fail((failure = 'tool_error'));
      return result;
    } catch (error) {
      span.fail((failure = mcpErrorType(error)), error instanceof Error ? error.message : undefined);
      throw error;
    } finally {
      telemetry.record('mcp.client.operation.duration', secondsSince(start), {
        'mcp.method.name': method,
        'mcp.server.name': server,
        ...named,
        ...(failure && { 'error.type': failure }),
      });
    }
  });
}

/** Requests sent on `transport` carry the active span's trace context in their `_meta` (those outside a span, nothing). */
export function traceRequests(transport: Transport): void {
  const send = transport.send.bind(transport);
  transport.send = (message, options) => {
    if (!isJSONRPCRequest(message)) return send(message, options);
    const meta = message.params?._meta;
    const traced = withTraceMeta(meta);
    return send(traced === meta ? message : { ...message, params: { ...message.params, _meta: traced } }, options);
  };
}
