/**
 * A downstream message over `max_result_size` is dropped while it is read, never held whole. When
 * it answers one of our requests, that request fails at once with a JSON-RPC error put in the
 * answer's place (the call is not left waiting for its timeout); the connection stays up for
 * everyone else. Which request it answered is read from the message's first and last bytes: a
 * top-level `id` is near the start (`{"jsonrpc":"2.0","id":7,...`) or at the very end
 * (`...,"id":7}`, as the TypeScript SDK writes answers).
 */
import type { JSONRPCErrorResponse } from '@modelcontextprotocol/client';
import { formatBytes } from '../../net/body-limits.js';
import { errorResponse } from '../protocol/jsonrpc.js';

type Id = string | number;

const ID = String.raw`(-?\d+|"(?:[^"\\]|\\.){0,256}")`;
const ID_AT_START = new RegExp(String.raw`^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*${ID}\s*[,}]`);
const ID_AT_END = new RegExp(String.raw`[{,]\s*"id"\s*:\s*${ID}\s*\}\s*$`);

/** The top-level id of the JSON-RPC message starting with `head` and ending with `tail`, if either shows it. */
export function messageId(head: string, tail: string): Id | undefined {
  const found = ID_AT_START.exec(head)?.[1] ?? ID_AT_END.exec(tail)?.[1];
  if (found === undefined) return undefined;
  try {
    const id = JSON.parse(found) as unknown;
    return typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)) ? id : undefined;
  } catch {
    return undefined;
  }
}

/** The JSON text of an SSE event's head: what follows its first `data:` field. */
export function eventData(head: string): string {
  const at = /(?:^|[\r\n])data:/.exec(head);
  if (!at) return '';
  const start = at.index + at[0].length;
  return head.slice(head[start] === ' ' ? start + 1 : start);
}

/** The JSON-RPC error a request gets when the server's answer to it was over the limit. */
export function tooLargeError(server: string, limit: number): JSONRPCErrorResponse['error'] {
  return {
    code: -32603,
    message: `the answer of server '${server}' is larger than the limit of ${formatBytes(limit)} (max_result_size) and was dropped`,
    data: { server, max_result_size: limit },
  };
}

/** The error response put in place of an oversized answer to request `id`. */
export function tooLargeAnswer(id: Id, server: string, limit: number): JSONRPCErrorResponse {
  const { code, message, data } = tooLargeError(server, limit);
  return errorResponse(id, code, message, data);
}

/**
 * The ids of requests sent on one connection and not yet answered, as far as the sender can tell:
 * bounded, so ids whose answers were never seen (the oldest) are forgotten rather than piling up.
 */
export class SentIds {
  private readonly ids = new Set<Id>();
  constructor(private readonly max = 10_000) {}

  add(id: Id): void {
    this.ids.add(id);
    if (this.ids.size > this.max) this.ids.delete(this.ids.values().next().value as Id);
  }

  /** Whether `id` was sent and not yet settled; it is settled by this call. */
  take(id: Id): boolean {
    return this.ids.delete(id);
  }

  delete(id: Id): void {
    this.ids.delete(id);
  }
}
