/**
 * The hot path to a streamable-HTTP server: a `tools/call` sent as one POST on the session the
 * SDK client opened, through the server's keep-alive pool, its answer read as JSON or SSE.
 *
 * The SDK client's own request path builds a WHATWG Request, Headers and streams per call and
 * checks every message against its schemas; that was most of what nexus added to a call (see
 * docs/performance.md). The SDK client stays in charge of everything else: the handshake, the
 * lists, the standalone GET stream. Messages on a call's stream other than its own response and
 * progress (log messages, list changes, requests from the server) are handed to it as if its
 * transport had read them.
 */
import { isJSONRPCNotification, isJSONRPCRequest, ProtocolError, SdkError, SdkErrorCode, SdkHttpError, SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/client';
import type { RequestOptions, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { IncomingMessage } from 'node:http';
import { readText, send, type Pool } from './http-client.js';
import { SseParser } from './sse.js';

/** The SDK client's default request timeout, for a call that names none. */
const DEFAULT_TIMEOUT_MS = 60_000;
/** Times a stream that ended before its response is resumed (with Last-Event-ID), as the SDK does. */
const MAX_RESUMPTIONS = 2;
const DEFAULT_RESUME_DELAY_MS = 1_000;

/** Ids of our own requests: far above the SDK client's counter, so the two never meet on one session. */
let nextId = 2 ** 40;

interface Incoming {
  id?: unknown;
  method?: unknown;
  params?: { progressToken?: unknown; progress?: number; total?: number; message?: string };
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

export class DirectHttp {
  private baseHeaders: Record<string, string> | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly url: URL,
    /** The configured headers (and Authorization), as the SDK transport sends them. */
    private readonly configured: Readonly<Record<string, string>>,
    private readonly transport: StreamableHTTPClientTransport,
  ) {
  }

  /** Only 2025-era sessions: a 2026-era exchange carries per-request envelopes the SDK owns. */
  get usable(): boolean {
    const version = this.transport.protocolVersion;
    return version !== undefined && SUPPORTED_PROTOCOL_VERSIONS.includes(version);
  }

  /** Sends one request and resolves with its result; errors match what the SDK client throws. */
  request(method: string, params: Record<string, unknown>, options: RequestOptions): Promise<unknown> {
    const id = nextId++;
    const body = JSON.stringify({ jsonrpc: '2.0', id, method, params: { ...params, _meta: { ...(params['_meta'] as object), progressToken: id } } });
    return new Promise((resolve, reject) => {
      const http = new AbortController();
      const timeoutMs = options.timeout ?? DEFAULT_TIMEOUT_MS;
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      const settle = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        outcome();
      };
      // As the SDK does: tell the server, stop reading, and fail the call.
      const cancel = (reason: unknown) =>
        settle(() => {
          http.abort();
          const params = { requestId: id, reason: String(reason) };
          this.transport.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params }).catch(() => undefined);
          reject(reason instanceof SdkError ? reason : new SdkError(SdkErrorCode.RequestTimeout, String(reason)));
        });
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => cancel(new SdkError(SdkErrorCode.RequestTimeout, 'Request timed out', { timeout: timeoutMs })), timeoutMs);
      };
      const onAbort = () => cancel(options.signal?.reason);
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      arm();
      const onMessage = (message: Incoming): void => {
        if (message.id === id && message.method === undefined) {
          settle(() => {
            if (message.error) return reject(new ProtocolError(message.error.code, message.error.message, message.error.data));
            const result = message.result;
            if (result !== null && typeof result === 'object' && !Array.isArray(result)) return resolve(result);
            // A gateway passes a result through as the server sent it, but it must be an object.
            reject(new SdkError(SdkErrorCode.InvalidResult, `Invalid result for ${method}: not an object`));
          });
        } else if (message.method === 'notifications/progress' && message.params?.progressToken === id) {
          if (options.resetTimeoutOnProgress) arm();
          const { progress = 0, total, message: text } = message.params;
          options.onprogress?.({ progress, ...(total !== undefined && { total }), ...(text !== undefined && { message: text }) });
        } else if (isJSONRPCNotification(message) || isJSONRPCRequest(message)) {
          this.transport.onmessage?.(message);
        }
      };
      this.exchange(body, http.signal, onMessage, () => settled).then(
        () => settle(() => reject(new SdkError(SdkErrorCode.ConnectionClosed, 'the server ended the stream without answering'))),
        (error: unknown) => settle(() => reject(error)),
      );
    });
  }

  /** POSTs `body` and reads what comes back, resuming an SSE stream that ends before `answered()`. */
  private async exchange(
    body: string,
    signal: AbortSignal,
    onMessage: (message: Incoming) => void,
    answered: () => boolean,
  ): Promise<void> {
    const headers = this.headers();
    let response = await send(this.pool, this.url, { method: 'POST', headers: { ...headers, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body, signal });
    for (let resumptions = 0; ; resumptions++) {
      const status = response.statusCode ?? 0;
      const contentType = response.headers['content-type'] ?? '';
      if (status < 200 || status >= 300) {
        const text = await readText(response).catch(() => '');
        throw new SdkHttpError(SdkErrorCode.ClientHttpNotImplemented, `Error POSTing to endpoint: ${text}`, { status, text });
      }
      if (contentType.startsWith('application/json')) {
        const data = JSON.parse(await readText(response)) as Incoming | Incoming[];
        for (const message of Array.isArray(data) ? data : [data]) onMessage(message);
        return;
      }
      if (!contentType.startsWith('text/event-stream')) {
        response.resume();
        throw new SdkError(SdkErrorCode.ClientHttpUnexpectedContent, `Unexpected content type: ${contentType}`, { contentType });
      }
      const { lastEventId, retryMs } = await readEvents(response, onMessage);
      if (answered() || lastEventId === undefined || resumptions === MAX_RESUMPTIONS || signal.aborted) return;
      await new Promise((resolve) => setTimeout(resolve, retryMs ?? DEFAULT_RESUME_DELAY_MS));
      response = await send(this.pool, this.url, { method: 'GET', headers: { ...headers, accept: 'text/event-stream', 'last-event-id': lastEventId }, signal });
    }
  }

  /** The configured headers plus the session's, fixed once the session exists. */
  private headers(): Record<string, string> {
    if (this.baseHeaders) return this.baseHeaders;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(this.configured)) headers[name.toLowerCase()] = value;
    const session = this.transport.sessionId;
    const version = this.transport.protocolVersion;
    if (session !== undefined) headers['mcp-session-id'] = session;
    if (version !== undefined) headers['mcp-protocol-version'] = version;
    this.baseHeaders = headers;
    return headers;
  }
}

/** Every message of an SSE body, until it ends; the last event id and retry hint, for resuming. */
async function readEvents(
  body: IncomingMessage,
  onMessage: (message: Incoming) => void,
): Promise<{ lastEventId: string | undefined; retryMs: number | undefined }> {
  const parser = new SseParser();
  let lastEventId: string | undefined;
  let retryMs: number | undefined;
  body.setEncoding('utf8');
  for await (const chunk of body) {
    for (const event of parser.feed(chunk as string)) {
      lastEventId = event.id ?? lastEventId;
      retryMs = event.retry ?? retryMs;
      if (event.event !== 'message' || event.data === '') continue;
      // Like the SDK transport, a message that is not JSON is skipped, not fatal to the call.
      let message: Incoming;
      try {
        message = JSON.parse(event.data) as Incoming;
      } catch {
        continue;
      }
      onMessage(message);
    }
  }
  return { lastEventId, retryMs };
}
