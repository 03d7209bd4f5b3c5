/**
 * The other side of one downstream call, as the downstream sees it: where the requests the server
 * makes while serving the call (sampling, elicitation, roots) and its log messages about it go.
 * The relay (mcp/relay/) implements it; downstreams know only this.
 */
/** The requests a server may make of the client while serving a call, which nexus relays. */
export const SERVER_REQUESTS = ['sampling/createMessage', 'elicitation/create', 'roots/list'] as const;
export type ServerRequestMethod = (typeof SERVER_REQUESTS)[number];

export function isServerRequest(method: unknown): method is ServerRequestMethod {
  return (SERVER_REQUESTS as readonly unknown[]).includes(method);
}

export interface CallPeer {
  /** A request the server made while serving the call; resolves with the answer's result. */
  ask(method: string, params: Record<string, unknown>, signal: AbortSignal): Promise<Record<string, unknown>>;
  /** A `notifications/message` the server sent while serving the call. */
  log(params: Record<string, unknown>): void;
  /** The call is still getting somewhere (a task it waits for is at work): its timeout starts again. */
  alive(): void;
}
