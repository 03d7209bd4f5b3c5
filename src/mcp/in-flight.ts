/**
 * Downstream calls under way, by caller (see callerKey) and JSON-RPC request id, so that a client's
 * `notifications/cancelled` (which older clients send as a separate POST, possibly to any
 * instance) can abort the call it names. Best effort: a cancel that lands on another instance
 * finds nothing here, and the call runs to its end there.
 */
export class InFlightCalls {
  private readonly calls = new Map<string, AbortController>();

  /** Registers a call, which a cancel aborts through `controller`; returns its release. */
  track(caller: string | undefined, requestId: string | number, controller: AbortController): () => void {
    if (caller === undefined) return () => undefined;
    const key = keyOf(caller, requestId);
    this.calls.set(key, controller);
    return () => {
      if (this.calls.get(key) === controller) this.calls.delete(key);
    };
  }

  cancel(caller: string, requestId: string | number, reason?: string): boolean {
    const controller = this.calls.get(keyOf(caller, requestId));
    controller?.abort(reason ?? 'cancelled by the client');
    return controller !== undefined;
  }
}

function keyOf(caller: string, requestId: string | number): string {
  return `${caller}\u0000${typeof requestId}:${requestId}`;
}
