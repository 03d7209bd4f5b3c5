/** The SDK client nexus uses for downstreams, with one ordering fix, its 2026-era envelope in reach, and task handles let through. */
import { Client, type CallToolResult, type JSONRPCResponse } from '@modelcontextprotocol/client';

/** Where a 2026-era task handle rides through the SDK, which takes no result of that type (see below). */
const TASK_HANDLE = 'nexus/task-handle';

/** The task handle a tool call's result carries through the SDK, or the result as it is. */
export function unwrapTaskHandle(result: CallToolResult): CallToolResult {
  const handle = result._meta?.[TASK_HANDLE];
  return handle !== null && typeof handle === 'object' ? (handle as CallToolResult) : result;
}

/**
 * SDK 2.4 dispatches notifications a microtask late but handles responses at once, so a
 * progress notification that arrives just before its result finds the progress handler
 * already gone and is dropped (seen with server-everything's long-running tool). Handling
 * responses one microtask later keeps the wire order: every notification that came first is
 * delivered first. See docs/decisions.md.
 */
export class DownstreamClient extends Client {
  protected override _onresponse(response: JSONRPCResponse): void {
    // SDK 2.4 refuses a 2026-era `resultType: "task"` answer (a server that took the tasks
    // extension nexus declares); it passes as an ordinary result carrying the handle instead.
    const result = 'result' in response ? (response.result as Record<string, unknown>) : undefined;
    const passed =
      result?.['resultType'] === 'task'
        ? { ...response, result: { resultType: 'complete', content: [], _meta: { [TASK_HANDLE]: result } } }
        : response;
    queueMicrotask(() => super._onresponse(passed as JSONRPCResponse));
  }

  /** Whether this client speaks 2026-07-28 or later with its server. */
  get modern(): boolean {
    return (this._negotiatedProtocolVersion ?? '') >= '2026-07-28';
  }

  /** The `_meta` envelope this client attaches to a 2026-era request (none on a 2025-era session), for nexus's direct path. */
  outboundEnvelope(): Readonly<Record<string, unknown>> | undefined {
    return this._outboundMetaEnvelope();
  }
}
