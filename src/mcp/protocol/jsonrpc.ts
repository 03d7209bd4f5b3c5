/** JSON-RPC 2.0 envelopes as nexus writes them, in one place (MCP's messages; the LLM routes speak HTTP). */
import type { JSONRPCErrorResponse, JSONRPCNotification, JSONRPCRequest, JSONRPCResultResponse } from '@modelcontextprotocol/server';

type Id = string | number;

/** A JSON object (not null, not an array): what a message, its params or a result must be. */
export const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);
type Params = Record<string, unknown>;

export function notification(method: string, params?: Params): JSONRPCNotification {
  return params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params };
}

export function request(id: Id, method: string, params: Params): JSONRPCRequest {
  return { jsonrpc: '2.0', id, method, params };
}

export function resultResponse(id: Id, result: Params): JSONRPCResultResponse {
  return { jsonrpc: '2.0', id, result };
}

/** An error answer; `id` is null when the request's own id could not be read. */
export function errorResponse(id: Id | null, code: number, message: string, data?: unknown): JSONRPCErrorResponse {
  return { jsonrpc: '2.0', id: id as Id, error: { code, message, ...(data !== undefined && { data }) } };
}

/** One message as a server-sent event, as MCP's streamable HTTP carries it. */
export function sseFrame(message: unknown): string {
  return `event: message\ndata: ${JSON.stringify(message)}\n\n`;
}
