/**
 * Server-to-client requests sent to 2025-era clients and waiting for their answers, which come
 * as later POSTs, possibly to another instance (bus.ts).
 */
import { ProtocolError, type JSONRPCResponse } from '@modelcontextprotocol/server';
import { ownerOf, relayId, type RelayBus } from './bus.js';

interface Waiting {
  caller: string | undefined;
  settle: (response: JSONRPCResponse) => void;
}

export class PendingAnswers {
  private readonly waiting = new Map<string, Waiting>();

  constructor(private readonly bus: RelayBus) {}

  /** A new request id for `caller`, and the answer that will come for it. */
  add(caller: string | undefined): { id: string; answer: Promise<JSONRPCResponse>; forget: () => void } {
    const id = relayId(this.bus.instance);
    const answer = new Promise<JSONRPCResponse>((settle) => this.waiting.set(id, { caller, settle }));
    return { id, answer, forget: () => this.waiting.delete(id) };
  }

  /**
   * A response a client POSTed: settles its request here, or hands it to the instance that sent
   * the request. False when nobody waits for it (unknown, answered already, or another caller's).
   */
  async deliver(response: JSONRPCResponse, caller: string | undefined): Promise<boolean> {
    const owner = ownerOf(response.id);
    if (owner === undefined) return false;
    if (owner !== this.bus.instance) return this.bus.send(owner, { kind: 'answer', caller, response });
    return this.settle(response, caller);
  }

  /** Settles a request of this instance; false when nobody waits for it. */
  settle(response: JSONRPCResponse, caller: string | undefined): boolean {
    const id = String(response.id);
    const waiting = this.waiting.get(id);
    if (!waiting || waiting.caller !== caller) return false;
    this.waiting.delete(id);
    waiting.settle(response);
    return true;
  }
}

/** The result of an answer, or its error as a ProtocolError (the downstream gets it as the client gave it). */
export function resultOf(response: JSONRPCResponse): Record<string, unknown> {
  if ('error' in response) throw new ProtocolError(response.error.code, response.error.message, response.error.data);
  return response.result;
}
