/** The SDK client nexus uses for downstreams, with one ordering fix and its 2026-era envelope in reach. */
import { Client, type JSONRPCResponse } from '@modelcontextprotocol/client';

/**
 * SDK 2.4 dispatches notifications a microtask late but handles responses at once, so a
 * progress notification that arrives just before its result finds the progress handler
 * already gone and is dropped (seen with server-everything's long-running tool). Handling
 * responses one microtask later keeps the wire order: every notification that came first is
 * delivered first. See docs/decisions.md.
 */
export class DownstreamClient extends Client {
  protected override _onresponse(response: JSONRPCResponse): void {
    queueMicrotask(() => super._onresponse(response));
  }

  /** The `_meta` envelope this client attaches to a 2026-era request (none on a 2025-era session), for nexus's direct path. */
  outboundEnvelope(): Readonly<Record<string, unknown>> | undefined {
    return this._outboundMetaEnvelope();
  }
}
