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
import {
  isJSONRPCNotification,
  isJSONRPCRequest,
  ProtocolError,
  SdkError,
  SdkErrorCode,
  SdkHttpError,
  SUPPORTED_PROTOCOL_VERSIONS,
} from '@modelcontextprotocol/client';
import type { RequestOptions, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { decodedBody, readText } from '../../net/body-limits.js';
import { mediaType, send, type Pool } from '../../net/http-client.js';
import { SseParser, sseEvents } from '../../net/sse.js';
import { isObject, notification } from '../protocol/jsonrpc.js';
import { withTraceMeta } from '../../telemetry/propagation.js';

/** The SDK client's default request timeout, for a call that names none. */
const DEFAULT_TIMEOUT_MS = 60_000;
/** The wait before resuming a stream when the server gives no `retry:`, and the most it may ask. */
const DEFAULT_RESUME_DELAY_MS = 1_000;
const MAX_RESUME_DELAY_MS = 30_000;
/** The most of an error status's body read, for its message (an error page is not an answer). */
const MAX_ERROR_BODY_BYTES = 64 * 1024;
/** Same-origin 307/308 redirects followed, as the SDK transports do. */
const MAX_REDIRECTS = 5;

/** The 2026-07-28 revision: no session, and each request carries its own envelope and headers. */
const MODERN_VERSION = '2026-07-28';
/** Tool names sent as they are in the Mcp-Name header (anything else takes the SDK's path, which encodes it). */
const PLAIN_HEADER_VALUE = /^[\x21-\x7E](?:[\x20-\x7E]*[\x21-\x7E])?$/;

/** Ids of our own requests: far above the SDK client's counter, so the two never meet on one session. */
let nextId = 2 ** 40;

interface Incoming {
  id?: unknown;
  method?: unknown;
  params?: { progressToken?: unknown; progress?: number; total?: number; message?: string };
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

/** A wait that ends early (resolving false) when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export class DirectHttp {
  private baseHeaders: Record<string, string> | undefined;
  private closed = false;
  /**
   * The per-request `_meta` envelope of a 2026-era session (protocol version, client info and
   * capabilities), as the SDK client attaches it; set once the client exists.
   */
  envelope: (() => Readonly<Record<string, unknown>> | undefined) | undefined;
  /** How to end each call under way when the connection closes (a set, not listeners on one long-lived signal). */
  private readonly underway = new Set<() => void>();

  constructor(
    private readonly pool: Pool,
    /** The endpoint; moves with a same-origin redirect. */
    private url: URL,
    /** The configured headers (and Authorization), as the SDK transport sends them. */
    private readonly configured: Readonly<Record<string, string>>,
    private readonly transport: StreamableHTTPClientTransport,
    /** The largest answer read (`max_result_size`): the JSON body, or one event of a stream. */
    private readonly maxResultBytes: number,
  ) {}

  /** A 2025-era session, or a 2026-era one whose envelope the SDK client gives us. */
  get usable(): boolean {
    const version = this.transport.protocolVersion;
    if (this.closed || version === undefined) return false;
    return SUPPORTED_PROTOCOL_VERSIONS.includes(version) || (version === MODERN_VERSION && this.envelope?.() !== undefined);
  }

  /** Whether a tool call named `name` can go this way (a 2026-era request names its tool in a header). */
  usableFor(name: unknown): boolean {
    return (
      this.usable && (this.transport.protocolVersion !== MODERN_VERSION || (typeof name === 'string' && PLAIN_HEADER_VALUE.test(name)))
    );
  }

  /** Ends every call under way (the connection is closing). */
  close(): void {
    this.closed = true;
    for (const end of [...this.underway]) end();
  }

  /**
   * Sends one request and resolves with its result. Outcomes match the SDK client's: a stream
   * that ends unanswered is resumed if it can be, or else the call waits for its timeout.
   */
  request(
    method: string,
    params: Record<string, unknown>,
    options: RequestOptions,
    /** Sees every other message on the call's stream first; true when it handled it. */
    sameStream?: (message: Incoming) => boolean,
  ): Promise<unknown> {
    if (options.signal?.aborted) return Promise.reject(new SdkError(SdkErrorCode.RequestTimeout, String(options.signal.reason)));
    const id = nextId++;
    const modern = this.transport.protocolVersion === MODERN_VERSION;
    const body = JSON.stringify({
      jsonrpc: '2.0',
      id,
      method,
      params: {
        ...params,
        _meta: { ...(modern && this.envelope?.()), ...withTraceMeta(params['_meta'] as object | undefined), progressToken: id },
      },
    });
    // A 2026-era request names its method and tool in headers too, for routing by proxies.
    const perRequest = modern
      ? { 'mcp-method': method, ...(typeof params['name'] === 'string' && { 'mcp-name': params['name'] }) }
      : undefined;
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
        this.underway.delete(onClosed);
        outcome();
      };
      // As the SDK does: tell the server, stop reading, and fail the call.
      const cancel = (reason: unknown) =>
        settle(() => {
          http.abort();
          const params = { requestId: id, reason: String(reason) };
          this.transport.send(notification('notifications/cancelled', params)).catch(() => undefined);
          reject(reason instanceof SdkError ? reason : new SdkError(SdkErrorCode.RequestTimeout, String(reason)));
        });
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => cancel(new SdkError(SdkErrorCode.RequestTimeout, 'Request timed out', { timeout: timeoutMs })), timeoutMs);
      };
      const onAbort = () => cancel(options.signal?.reason);
      const onClosed = () =>
        settle(() => {
          http.abort();
          reject(new SdkError(SdkErrorCode.ConnectionClosed, 'Connection closed'));
        });
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.underway.add(onClosed);
      if (this.closed) return onClosed();
      arm();
      const onMessage = (message: Incoming): void => {
        if (settled) return;
        // An error with a null id, on this request's own exchange, is about this request.
        if ((message.id === id || (message.id === null && message.error)) && message.method === undefined) {
          settle(() => {
            if (message.error) return reject(new ProtocolError(message.error.code, message.error.message, message.error.data));
            const result = message.result;
            if (isObject(result)) return resolve(result);
            // A gateway passes a result through as the server sent it, but it must be an object.
            reject(new SdkError(SdkErrorCode.InvalidResult, `Invalid result for ${method}: not an object`));
          });
        } else if (message.method === 'notifications/progress' && message.params?.progressToken === id) {
          if (options.resetTimeoutOnProgress) arm();
          const { progress = 0, total, message: text } = message.params;
          options.onprogress?.({ progress, ...(total !== undefined && { total }), ...(text !== undefined && { message: text }) });
        } else if ((isJSONRPCNotification(message) || isJSONRPCRequest(message)) && !sameStream?.(message)) {
          this.transport.onmessage?.(message);
        }
      };
      // Ending unanswered is not an error by itself: the call then waits for its timeout.
      this.exchange(body, http.signal, onMessage, () => settled, perRequest).catch((error: unknown) => settle(() => reject(error)));
    });
  }

  /** POSTs `body` and reads what comes back, resuming an SSE stream that ends before `answered()`. */
  private async exchange(
    body: string,
    signal: AbortSignal,
    onMessage: (message: Incoming) => void,
    answered: () => boolean,
    perRequest?: Record<string, string>,
  ): Promise<void> {
    const headers = this.headers();
    let response = await this.post(
      body,
      { ...headers, ...perRequest, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      signal,
    );
    for (;;) {
      const status = response.statusCode ?? 0;
      const type = mediaType(response.headers['content-type']);
      if (status === 202) return void response.resume();
      if (status < 200 || status >= 300) {
        const text = await readText(response, MAX_ERROR_BODY_BYTES).catch(() => '');
        // A 2026-era server answers a request it refuses with a JSON-RPC error in an error status.
        const refused = perRequest && type === 'application/json' ? jsonRpcError(text) : undefined;
        if (refused) return onMessage(refused);
        const statusText = response.statusMessage;
        throw new SdkHttpError(SdkErrorCode.ClientHttpNotImplemented, `Error POSTing to endpoint: ${text}`, { status, statusText, text });
      }
      if (type === 'application/json') {
        const data = JSON.parse(await readText(response, this.maxResultBytes)) as Incoming | Incoming[];
        for (const message of Array.isArray(data) ? data : [data]) onMessage(message);
        return;
      }
      if (type !== 'text/event-stream') {
        response.resume();
        throw new SdkError(SdkErrorCode.ClientHttpUnexpectedContent, `Unexpected content type: ${type}`, { contentType: type });
      }
      const { lastEventId, retryMs } = await readEvents(decodedBody(response), onMessage, this.maxResultBytes);
      // As the SDK: resume for as long as the server keeps the stream resumable and answers the GET.
      if (answered() || lastEventId === undefined) return;
      if (!(await sleep(Math.min(retryMs ?? DEFAULT_RESUME_DELAY_MS, MAX_RESUME_DELAY_MS), signal))) return;
      response = await send(this.pool, this.url, {
        method: 'GET',
        headers: { ...headers, accept: 'text/event-stream', 'last-event-id': lastEventId },
        signal,
      });
      if (response.statusCode !== 200 || mediaType(response.headers['content-type']) !== 'text/event-stream') return void response.resume();
    }
  }

  /** The POST, following same-origin 307/308 redirects (and remembering where they lead). */
  private async post(body: string, headers: Record<string, string>, signal: AbortSignal): Promise<IncomingMessage> {
    for (let redirects = 0; ; redirects++) {
      const response = await send(this.pool, this.url, { method: 'POST', headers, body, signal });
      const location = response.headers.location;
      if ((response.statusCode !== 307 && response.statusCode !== 308) || !location || redirects === MAX_REDIRECTS) return response;
      const target = new URL(location, this.url);
      if (target.origin !== this.url.origin || target.username !== this.url.username || target.password !== this.url.password)
        return response;
      response.resume();
      this.url = target;
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
  body: Readable,
  onMessage: (message: Incoming) => void,
  maxEventBytes: number,
): Promise<{ lastEventId: string | undefined; retryMs: number | undefined }> {
  const parser = new SseParser();
  for await (const event of sseEvents(body, parser, maxEventBytes)) {
    if (event.event !== 'message') continue;
    // Like the SDK transport, a message that is not JSON is skipped, not fatal to the call.
    let message: Incoming;
    try {
      message = JSON.parse(event.data) as Incoming;
    } catch {
      continue;
    }
    onMessage(message);
  }
  return { lastEventId: parser.lastEventId, retryMs: parser.retry };
}

/** The JSON-RPC error response `text` holds, if it is one. */
function jsonRpcError(text: string): Incoming | undefined {
  try {
    const message = JSON.parse(text) as Incoming;
    return message !== null && typeof message === 'object' && message.error && typeof message.error.code === 'number' ? message : undefined;
  } catch {
    return undefined;
  }
}
