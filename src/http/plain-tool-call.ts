/**
 * The lean way in for the request that matters most: a 2025-era client calling `search` or
 * `execute` with nothing unusual about it. It is answered as one JSON body (which such a client
 * must accept) without building the SDK's per-request server and response stream, the largest
 * cost left on the hot path (docs/performance.md). The test is strict: anything the SDK would
 * answer differently (another method, a batch, progress asked for, a 2026-era envelope, a header
 * it would refuse, params it would reject) goes to the SDK, which stays the one place that knows
 * the protocol's corners.
 */
import {
  PROTOCOL_VERSION_META_KEY,
  ProtocolErrorCode,
  SUPPORTED_PROTOCOL_VERSIONS,
  type CallToolResult,
} from '@modelcontextprotocol/server';

export interface PlainToolCall {
  id: string | number;
  name: 'search' | 'execute';
  arguments: Record<string, unknown>;
}

export interface RequestHeaders {
  accept: string | undefined;
  contentType: string | undefined;
  protocolVersion: string | undefined;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** The call, when `body` and the headers are a plain tool call the SDK would serve; else undefined. */
export function plainToolCall(body: unknown, headers: RequestHeaders): PlainToolCall | undefined {
  // The SDK's 2025-era transport refuses anything else with 406, 415 or 400.
  const { accept, contentType, protocolVersion } = headers;
  if (!accept?.includes('application/json') || !accept.includes('text/event-stream')) return undefined;
  if (!contentType || !/^application\/json\s*(;|$)/i.test(contentType)) return undefined;
  if (protocolVersion !== undefined && !SUPPORTED_PROTOCOL_VERSIONS.includes(protocolVersion.trim())) return undefined;
  if (!isObject(body) || body['jsonrpc'] !== '2.0' || body['method'] !== 'tools/call') return undefined;
  const id = body['id'];
  if (typeof id !== 'string' && !Number.isInteger(id)) return undefined;
  const params = body['params'];
  if (!isObject(params)) return undefined;
  const name = params['name'];
  const args = params['arguments'] ?? {};
  if ((name !== 'search' && name !== 'execute') || !isObject(args)) return undefined;
  const meta = params['_meta'];
  if (meta !== undefined && (!isObject(meta) || 'progressToken' in meta || PROTOCOL_VERSION_META_KEY in meta)) return undefined;
  return { id: id as string | number, name, arguments: args };
}

/** The JSON-RPC response to a call: its result, or its error worded as the SDK's server words it. */
export async function answer(
  call: PlainToolCall,
  run: (call: PlainToolCall) => Promise<CallToolResult>,
): Promise<Record<string, unknown>> {
  try {
    return { jsonrpc: '2.0', id: call.id, result: await run(call) };
  } catch (thrown) {
    const error = (thrown ?? {}) as { code?: unknown; message?: unknown; data?: unknown };
    const code = Number.isSafeInteger(error.code) ? error.code : ProtocolErrorCode.InternalError;
    const message = typeof error.message === 'string' ? error.message : 'Internal error';
    return { jsonrpc: '2.0', id: call.id, error: { code, message, ...(error.data !== undefined && { data: error.data }) } };
  }
}
