/** Builds the client transport for one configured downstream server: our own for stdio, the SDK's for remote servers. */
import type { Transport } from '@modelcontextprotocol/client';
import { SSEClientTransport, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { DirectHttp } from './direct-http.js';
import { createPool, poolFetch, type Pool } from '../../net/http-client.js';
import { StdioTransport, type StdioOptions } from './stdio.js';
import type { RemoteServerConfig, StdioServerConfig } from '../../config/schema.js';

export type RemoteProtocol = 'streamable-http' | 'sse';

/** A transport plus whatever must end with it (a child and its descendants, a session, a pool). */
export interface OpenedTransport {
  transport: Transport;
  /** For streamable HTTP: the lean path for tool calls on the session `transport` opens. */
  direct?: DirectHttp;
  /** Ends the connection: runs `closeClient`, then makes sure nothing it used is left behind. */
  shutdown(closeClient: () => Promise<void>): Promise<void>;
}

/** How long closing a remote session may take before we go on without it. */
const SESSION_CLOSE_MS = 1_000;

/** A stdio server: our own transport, which ends the child's whole process group when closed. */
export function stdioTransport(config: StdioServerConfig, options: StdioOptions): OpenedTransport {
  const transport = new StdioTransport(config, options);
  return {
    transport,
    // Closing the client closes the transport, unless the client never got as far as holding it.
    shutdown: async (closeClient) => {
      await closeClient();
      await transport.close();
    },
  };
}

/**
 * `bearerToken` is the caller's token for `auth.type = "forward"` servers; other servers send
 * their static `auth.token`, if any.
 */
export function remoteTransport(
  config: RemoteServerConfig,
  protocol: RemoteProtocol,
  globalHeaders: Readonly<Record<string, string>>,
  bearerToken?: string,
): OpenedTransport {
  const headers: Record<string, string> = { ...globalHeaders, ...config.headers };
  const token = bearerToken ?? (config.auth && 'token' in config.auth ? config.auth.token : undefined);
  if (token !== undefined) headers['Authorization'] = `Bearer ${token}`;
  const pool = createPool(config.tls);
  const fetch = remoteFetch(pool, protocol === 'sse' ? config.message_url : undefined);
  const url = new URL(config.url);
  const requestInit = { headers };
  const transport =
    protocol === 'sse'
      ? new SSEClientTransport(url, { requestInit, fetch, eventSourceInit: { fetch } })
      : new StreamableHTTPClientTransport(url, { requestInit, fetch });
  const direct = transport instanceof StreamableHTTPClientTransport ? new DirectHttp(pool, url, headers, transport) : undefined;
  return {
    transport,
    direct,
    shutdown: async (closeClient) => {
      direct?.close();
      // Tell a streamable-HTTP server the session is over (a DELETE), without waiting long.
      if (transport instanceof StreamableHTTPClientTransport && transport.sessionId !== undefined) {
        const timeout = new Promise((resolve) => setTimeout(resolve, SESSION_CLOSE_MS).unref());
        await Promise.race([transport.terminateSession().catch(() => undefined), timeout]);
      }
      await closeClient();
      pool.http.destroy();
      pool.https.destroy();
    },
  };
}

type FetchLike = (url: string | URL, init?: RequestInit) => Promise<Response>;

/**
 * The SDK transports' fetch: our pool, a fresh signal per request (the transports reuse one
 * long-lived signal, which piles up abort listeners on Node 20), and for SSE an optional fixed
 * message endpoint in place of the one the server announces (its session query is kept).
 */
function remoteFetch(pool: Pool, messageUrl: string | undefined): FetchLike {
  const fetch = poolFetch(pool);
  return (input, init) => {
    let target = input;
    if (messageUrl && init?.method === 'POST') {
      const announced = new URL(input);
      const fixed = new URL(messageUrl);
      announced.searchParams.forEach((value, key) => fixed.searchParams.set(key, value));
      target = fixed;
    }
    const signal = init?.signal ? AbortSignal.any([init.signal]) : undefined;
    return fetch(target, { ...init, signal });
  };
}
