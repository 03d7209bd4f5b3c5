/** Builds the SDK client transport for one configured downstream server. */
import type { ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import type { Transport } from '@modelcontextprotocol/client';
import { SSEClientTransport, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { DirectHttp } from './direct-http.js';
import { createPool, poolFetch, type Pool } from '../../net/http-client.js';
import { descendantsOf, terminate, terminatePids } from './process-tree.js';
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

export function stdioTransport(config: StdioServerConfig): OpenedTransport {
  const [command, ...args] = config.cmd as [string, ...string[]];
  const stderrFd = typeof config.stderr === 'object' ? openSync(config.stderr.file, 'a') : undefined;
  const transport = new StdioClientTransport({
    command,
    args,
    // Like a shell (and the original nexus), the child inherits our environment plus its own `env`.
    env: { ...definedEnv(process.env), ...config.env },
    cwd: config.cwd,
    stderr: stderrFd ?? (config.stderr === 'inherit' ? 'inherit' : 'ignore'),
  });
  // The SDK forgets its child as soon as it starts closing it (and does not wait when a
  // connect fails), so we keep hold of it to make sure it, and what it started, are gone.
  let child: ChildProcess | undefined;
  const start = transport.start.bind(transport);
  transport.start = async () => {
    const started = start();
    // The SDK spawns synchronously inside start(): take the child now, so a shutdown that comes
    // before the spawn has been confirmed still finds it.
    child = (transport as unknown as { _process?: ChildProcess })._process;
    await started;
  };
  return {
    transport,
    shutdown: async (closeClient) => {
      const family = child?.pid === undefined ? [] : descendantsOf(child.pid);
      await closeClient();
      if (child) await terminate(child);
      await terminatePids(family);
      if (stderrFd !== undefined) closeSync(stderrFd);
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

function definedEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined) out[key] = value;
  return out;
}
