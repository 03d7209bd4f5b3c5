/**
 * How nexus reaches the client of one call while the call runs, whatever the client's protocol
 * era: what it declared it can receive, the log level it asked for, and a way to send it messages
 * related to the call. The MCP endpoint builds one per request; the relay uses it.
 */
import type { ClientCapabilities, JSONRPCNotification, JSONRPCRequest, LoggingLevel } from '@modelcontextprotocol/server';
import type { ServerRequestMethod } from '../downstreams/call-peer.js';

export type ProtocolEra = 'legacy' | 'modern';

export interface ClientLink {
  /**
   * `legacy` (2025-era): a server-to-client request is written on the call's stream and answered
   * by a later POST. `modern` (2026-07-28): it comes back to the client in an `input_required`
   * result, answered by the client's retry.
   */
  readonly era: ProtocolEra;
  /** What the client declared it can receive; undefined when nexus cannot know (a 2025-era client without a nexus session). */
  readonly capabilities: ClientCapabilities | undefined;
  /** The least severe log message the client wants; undefined: all of them. */
  readonly logLevel: LoggingLevel | undefined;
  /** The progress token the client gave this request, under which the call's progress is relayed. */
  readonly progressToken: string | number | undefined;
  /** Sends a message related to the call: a notification, or (legacy) a request. */
  send(message: JSONRPCNotification | JSONRPCRequest): Promise<void>;
}

/**
 * Why `capabilities` cannot take a `method` request with `params`, or undefined when it can. A
 * 2025-06 client declared elicitation as `{}`, which means form mode.
 */
export function missingCapability(
  method: ServerRequestMethod,
  params: Record<string, unknown>,
  capabilities: ClientCapabilities,
): string | undefined {
  switch (method) {
    case 'sampling/createMessage':
      if (!capabilities.sampling) return 'sampling';
      return params['tools'] !== undefined && !capabilities.sampling.tools ? 'sampling.tools' : undefined;
    case 'elicitation/create': {
      const elicitation = capabilities.elicitation;
      if (!elicitation) return 'elicitation';
      const url = params['mode'] === 'url';
      if (url) return elicitation.url ? undefined : 'elicitation.url';
      return elicitation.form || !elicitation.url ? undefined : 'elicitation.form';
    }
    case 'roots/list':
      return capabilities.roots ? undefined : 'roots';
  }
}

const SEVERITY: Record<LoggingLevel, number> = {
  debug: 0,
  info: 1,
  notice: 2,
  warning: 3,
  error: 4,
  critical: 5,
  alert: 6,
  emergency: 7,
};

export function isLoggingLevel(value: unknown): value is LoggingLevel {
  return typeof value === 'string' && Object.hasOwn(SEVERITY, value);
}

/** Whether a message at `level` reaches a client that asked for `wanted` and up. */
export function logPasses(level: unknown, wanted: LoggingLevel | undefined): boolean {
  if (wanted === undefined) return true;
  return isLoggingLevel(level) ? SEVERITY[level] >= SEVERITY[wanted] : true;
}
