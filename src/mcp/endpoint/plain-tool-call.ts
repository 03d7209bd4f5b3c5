/**
 * The lean way in for the request that matters most: a 2025-era client calling `search` or
 * `execute` with nothing unusual about it. It is answered as one JSON body (which such a client
 * must accept) without building the SDK's per-request server and response stream, the largest
 * cost left on the hot path (docs/performance.md). The test is strict: anything the SDK would
 * answer differently (another method, a batch, progress asked for, a 2026-era envelope, a header
 * it would refuse, params it would reject) goes to the SDK, which stays the one place that knows
 * the protocol's corners.
 */
import { ProtocolErrorCode, SUPPORTED_PROTOCOL_VERSIONS, type CallToolResult } from '@modelcontextprotocol/server';
import { errorResponse, isObject, resultResponse } from '../protocol/jsonrpc.js';

export interface PlainToolCall {
  id: string | number;
  /** `search`, `execute`, or (the servers' tools listed directly) a server's tool as `server__tool`. */
  name: string;
  arguments: Record<string, unknown>;
  /** The request's `_meta` (no progress token, no reserved keys: those go to the SDK). */
  meta: Record<string, unknown> | undefined;
}

export interface RequestHeaders {
  accept: string | undefined;
  contentType: string | undefined;
  protocolVersion: string | undefined;
}

/** The members a plain JSON-RPC request may have (the SDK's request schema is strict). */
const REQUEST_KEYS = new Set(['jsonrpc', 'id', 'method', 'params']);
/** The params of a plain call: anything more (a task, say) is for the SDK to judge. */
const PARAM_KEYS = new Set(['name', 'arguments', '_meta']);
/** Results that are not plain tool results, which the SDK leaves without `content`. */
const OTHER_RESULT_KINDS = ['task', 'inputRequests', 'requestState'];
/** `_meta` keys in a reserved MCP namespace, which the SDK validates. */
const RESERVED_META = /(^|\.)(modelcontextprotocol|mcp)[./]/;

/** What the SDK's transport accepts as a JSON Content-Type: application/json, any parameters. */
function isJsonContentType(value: string | undefined): boolean {
  const [type, ...parameters] = (value ?? '').split(';');
  return (
    type?.trim().toLowerCase() === 'application/json' &&
    parameters.every((parameter) => /^[ \t]*[!#$%&'*+.^`|~\w-]+=("[^"]*"|[!#$%&'*+.^`|~\w-]+)[ \t]*$/.test(parameter))
  );
}

/**
 * The call, when `body` and the headers are a plain tool call the SDK would serve; else undefined.
 * `directTools`: the servers' tools are listed directly, and called by their `server__tool` names.
 */
export function plainToolCall(body: unknown, headers: RequestHeaders, directTools = false): PlainToolCall | undefined {
  // The SDK's 2025-era transport refuses anything else with 406, 415 or 400.
  const { accept, contentType, protocolVersion } = headers;
  if (!accept?.includes('application/json') || !accept.includes('text/event-stream')) return undefined;
  if (!isJsonContentType(contentType)) return undefined;
  if (protocolVersion !== undefined && !SUPPORTED_PROTOCOL_VERSIONS.includes(protocolVersion.replace(/^[ \t]+|[ \t]+$/g, '')))
    return undefined;
  if (!isObject(body) || body['jsonrpc'] !== '2.0' || body['method'] !== 'tools/call') return undefined;
  if (Object.keys(body).some((key) => !REQUEST_KEYS.has(key))) return undefined;
  const id = body['id'];
  if (typeof id !== 'string' && !Number.isSafeInteger(id)) return undefined;
  const params = body['params'];
  if (!isObject(params) || Object.keys(params).some((key) => !PARAM_KEYS.has(key))) return undefined;
  const name = params['name'];
  const args = params['arguments'];
  const ours = name === 'search' || name === 'execute' || (directTools && typeof name === 'string' && name.includes('__'));
  if (!ours || (args !== undefined && !isObject(args))) return undefined;
  const meta = params['_meta'];
  if (meta !== undefined && (!isObject(meta) || 'progressToken' in meta || Object.keys(meta).some((key) => RESERVED_META.test(key)))) {
    return undefined;
  }
  return { id: id as string | number, name: name as string, arguments: args ?? {}, meta: meta as Record<string, unknown> | undefined };
}

/**
 * The JSON-RPC response to a call, as the SDK's server would give it: a result without `content`
 * gets an empty one, and an error keeps its code (-32002 becomes -32602, as the SDK maps it),
 * message and data.
 */
export async function answer(call: PlainToolCall, run: (call: PlainToolCall) => Promise<CallToolResult>): Promise<Record<string, unknown>> {
  try {
    const result = await run(call);
    const contentless = result.content === undefined && !OTHER_RESULT_KINDS.some((key) => key in result);
    return resultResponse(call.id, contentless ? { ...result, content: [] } : result);
  } catch (thrown) {
    const error = (thrown ?? {}) as { code?: unknown; message?: unknown; data?: unknown };
    const code = Number.isSafeInteger(error.code)
      ? error.code === -32002
        ? -32602
        : (error.code as number)
      : ProtocolErrorCode.InternalError;
    const message = typeof error.message === 'string' ? error.message : 'Internal error';
    return errorResponse(call.id, code, message, error.data);
  }
}
