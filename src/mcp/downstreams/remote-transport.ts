/** The SDK's client transports for remote servers (streamable HTTP, SSE), on our pools and under max_result_size. */
import type { IncomingMessage } from 'node:http';
import { pipeline, type Readable } from 'node:stream';
import type { Transport } from '@modelcontextprotocol/client';
import { isJSONRPCRequest, SSEClientTransport, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { RemoteServerConfig } from '../../config/schema.js';
import type { Logger } from '../../log.js';
import { boundedBody, decodedBody, SseSizeGuard } from '../../net/body-limits.js';
import { createPool, destroyPool, mediaType, poolFetch, type Pool } from '../../net/http-client.js';
import { DirectHttp } from './direct-http.js';
import { sseFrame } from '../protocol/jsonrpc.js';
import { eventData, messageId, SentIds, tooLargeAnswer } from './oversized.js';
import type { OpenedTransport, RemoteProtocol } from './transport.js';

/** How long closing a remote session may take before we go on without it. */
const SESSION_CLOSE_MS = 1_000;

export interface RemoteOptions {
  globalHeaders: Readonly<Record<string, string>>;
  /** For `auth.type = "forward"` servers: the caller's token; other servers send their `auth.token`, if any. */
  bearerToken?: string;
  /** The server's name, for errors and logs. */
  server: string;
  /** The largest message read from the server (`max_result_size`). */
  maxResultBytes: number;
  logger: Logger;
}

export function remoteTransport(config: RemoteServerConfig, protocol: RemoteProtocol, options: RemoteOptions): OpenedTransport {
  const headers: Record<string, string> = { ...options.globalHeaders, ...config.headers };
  const token = options.bearerToken ?? (config.auth && 'token' in config.auth ? config.auth.token : undefined);
  if (token !== undefined) headers['Authorization'] = `Bearer ${token}`;
  const pool = createPool(config.tls);
  const sent = new SentIds();
  const fetch = remoteFetch(pool, protocol === 'sse' ? config.message_url : undefined, (response) =>
    boundedMessages(response, sent, options),
  );
  const url = new URL(config.url);
  const requestInit = { headers };
  const transport =
    protocol === 'sse'
      ? new SSEClientTransport(url, { requestInit, fetch, eventSourceInit: { fetch } })
      : new StreamableHTTPClientTransport(url, { requestInit, fetch });
  recordRequests(transport, sent);
  const direct =
    transport instanceof StreamableHTTPClientTransport ? new DirectHttp(pool, url, headers, transport, options.maxResultBytes) : undefined;
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
      destroyPool(pool);
    },
  };
}

/** Notes the id of every request the SDK client sends on `transport`, so an oversized answer to one can fail it. */
function recordRequests(transport: Transport, sent: SentIds): void {
  const send = transport.send.bind(transport);
  transport.send = (message, sendOptions) => {
    if (isJSONRPCRequest(message)) sent.add(message.id);
    return send(message, sendOptions);
  };
}

/**
 * A server's answer to one HTTP request, read under `max_result_size`: a JSON body as a whole, an
 * event stream event by event (an oversized event that answers one of our requests is replaced by
 * the error for that request; any other is dropped and logged).
 */
function boundedMessages(response: IncomingMessage, sent: SentIds, { server, maxResultBytes, logger }: RemoteOptions): Readable {
  if (mediaType(response.headers['content-type']) !== 'text/event-stream') return boundedBody(response, maxResultBytes);
  const replace = (head: Buffer, tail: Buffer): Buffer | undefined => {
    const id = messageId(eventData(head.toString()), tail.toString());
    if (id !== undefined && sent.take(id)) return Buffer.from(sseFrame(tooLargeAnswer(id, server, maxResultBytes)));
    logger.warn({ server, max_result_size: maxResultBytes }, 'dropped a message from the server larger than max_result_size');
    return undefined;
  };
  return pipeline(decodedBody(response), new SseSizeGuard(maxResultBytes, replace), () => undefined);
}

type FetchLike = (url: string | URL, init?: RequestInit) => Promise<Response>;

/**
 * The SDK transports' fetch: our pool, bodies read through `readBody`, a fresh signal per request
 * (the transports reuse one long-lived signal, which piles up abort listeners on Node 20), and for
 * SSE an optional fixed message endpoint in place of the one the server announces (its session
 * query is kept).
 */
function remoteFetch(pool: Pool, messageUrl: string | undefined, readBody: (response: IncomingMessage) => Readable): FetchLike {
  const fetch = poolFetch(pool, readBody);
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
