/**
 * HTTP to remote servers (MCP downstreams, LLM providers) on node:http(s): one keep-alive agent
 * per server carrying its TLS settings, a raw request for the lean call paths, and a fetch() for
 * the SDK transports.
 *
 * Node's own HTTP client instead of the undici package: undici cost nexus about 7 MiB of
 * resident memory (docs/performance.md) at no gain in latency, and nothing here needs more.
 */
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import type { RemoteServerConfig } from '../config/schema.js';
import { traceHeaders } from '../telemetry/propagation.js';

/**
 * A server's keep-alive pools, one per scheme: a redirect or an SSE message endpoint may use the
 * other scheme than the configured URL. The server's TLS settings go with the https one.
 */
export interface Pool {
  http: HttpAgent;
  https: HttpsAgent;
}

/**
 * How long an idle pooled connection is kept. Setting it also makes Node honour a server's
 * `Keep-Alive: timeout=N` (closing our end a second early), which avoids reusing a connection the
 * server is closing (the "socket hang up" race); without it Node ignores the hint.
 */
const IDLE_SOCKET_MS = 30_000;

export function createPool(tls?: RemoteServerConfig['tls']): Pool {
  const read = (path: string | undefined) => (path ? readFileSync(path) : undefined);
  return {
    http: new HttpAgent({ keepAlive: true, timeout: IDLE_SOCKET_MS }),
    https: new HttpsAgent({
      keepAlive: true,
      timeout: IDLE_SOCKET_MS,
      ...(tls && {
        ca: read(tls.root_ca_cert_path),
        cert: read(tls.client_cert_path),
        key: read(tls.client_key_path),
        rejectUnauthorized: tls.verify_certs,
        ...(tls.accept_invalid_hostnames || !tls.verify_certs ? { checkServerIdentity: () => undefined } : {}),
      }),
    }),
  };
}

/** Closes a pool's connections, idle and busy: its server or provider is done with. */
export function destroyPool(pool: Pool): void {
  pool.http.destroy();
  pool.https.destroy();
}

export interface RawRequest {
  method: string;
  headers: OutgoingHttpHeaders;
  body?: string | Buffer;
  signal?: AbortSignal;
}

/** Sends one request through `pool`; resolves with the response head, its body still to read. */
export function send(pool: Pool, url: URL, { method, headers, body, signal }: RawRequest): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const secure = url.protocol === 'https:';
    // The active span's trace context goes with every request (none when tracing is off).
    const traced = traceHeaders();
    const request = (secure ? httpsRequest : httpRequest)(
      url,
      { method, headers: traced ? { ...headers, ...traced } : headers, agent: secure ? pool.https : pool.http, signal },
      resolve,
    );
    request.once('error', reject);
    request.end(body);
  });
}

/** A Content-Type's media type, lower-cased and without parameters ("text/event-stream"). */
export const mediaType = (header: string | undefined) => (header ?? '').split(';')[0]?.trim().toLowerCase();

type FetchLike = (url: string | URL, init?: RequestInit) => Promise<Response>;

/**
 * fetch() for the SDK transports over `pool`. Redirects are never followed here: the SDK asks
 * for `redirect: "manual"` and follows the ones its policy allows itself. Bodies come through
 * `readBody`, which decodes them (as fetch() does) and is the place to bound what is read.
 */
export function poolFetch(pool: Pool, readBody: (response: IncomingMessage) => Readable): FetchLike {
  return async (input, init) => {
    const headers: OutgoingHttpHeaders = {};
    new Headers(init?.headers).forEach((value, name) => (headers[name] = value));
    const method = init?.method ?? 'GET';
    const body = init?.body;
    if (body !== undefined && body !== null && typeof body !== 'string') throw new TypeError('only string bodies are supported');
    const response = await send(pool, new URL(input), { method, headers, body: body ?? undefined, signal: init?.signal ?? undefined });
    const status = response.statusCode ?? 0;
    const empty = method === 'HEAD' || status === 204 || status === 205 || status === 304;
    if (empty) response.resume();
    try {
      const responseHeaders = new Headers();
      for (let i = 0; i < response.rawHeaders.length; i += 2) {
        const name = response.rawHeaders[i] as string;
        // The body is handed on decoded: its encoding and length are no longer what these say.
        if (!empty && /^content-(encoding|length)$/i.test(name)) continue;
        responseHeaders.append(name, response.rawHeaders[i + 1] as string);
      }
      return new Response(empty ? null : (Readable.toWeb(readBody(response)) as ReadableStream<Uint8Array>), {
        status,
        statusText: response.statusMessage,
        headers: responseHeaders,
      });
    } catch (error) {
      // A status or header fetch() cannot represent: free the socket rather than hold it.
      response.destroy();
      throw error;
    }
  };
}
