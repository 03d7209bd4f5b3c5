/**
 * The other side of one downstream call, as the downstream sees it: where the requests the server
 * makes while serving the call (sampling, elicitation, roots) and its log messages about it go.
 * The relay (mcp/relay/) implements it; downstreams know only this.
 */
export interface CallPeer {
  /** A request the server made while serving the call; resolves with the answer's result. */
  ask(method: string, params: Record<string, unknown>, signal: AbortSignal): Promise<Record<string, unknown>>;
  /** A `notifications/message` the server sent while serving the call. */
  log(params: Record<string, unknown>): void;
}
