/**
 * The MCP endpoint: reads and parses the JSON body once (a malformed one gets a JSON-RPC parse
 * error, -32700, and touches nothing else), takes a 2025-era client's answers to the server's
 * requests (relay/), answers a plain `search`/`execute` itself (plain-tool-call.ts), and hands
 * every other request to the SDK's stateless handler.
 *
 * Sessions are correlation ids, not state: an `initialize` answer gets a random Mcp-Session-Id
 * that carries what the client can receive (session.ts), so that any instance knows it, and a
 * later `notifications/cancelled` from the same client can name its own calls.
 */
import type { Context, Hono } from 'hono';
import {
  SUBSCRIPTION_ID_META_KEY,
  type CallToolResult,
  type ClientCapabilities,
  type JSONRPCResponse,
  type McpHttpHandler,
} from '@modelcontextprotocol/server';
import { authInfoFor, type CallContext } from '../gateway.js';
import type { Relay } from '../relay/relay.js';
import { callerOf, newSessionId, SESSION_HEADER, sessionCapabilities } from '../../session.js';
import { LegacyExchange } from './legacy-exchange.js';
import type { ListenStreams } from './listen-streams.js';
import type { AppEnv } from '../../http/app-env.js';
import type { ClientIdentity } from '../../context.js';
import { readBody } from '../../http/body.js';
import { nestedDeeperThan } from '../../json-depth.js';
import { answer, plainToolCall } from './plain-tool-call.js';
import { errorResponse, isObject, notification } from '../protocol/jsonrpc.js';
import { sseBytes } from './sse-stream.js';

/** Answers to the server's requests one POST may carry. */
const MAX_ANSWERS_PER_POST = 16;

/** Resources one `subscriptions/listen` may name: each may subscribe a server. */
const MAX_LISTENED_RESOURCES = 256;

/** The largest request body accepted, as the SDK's own handler does. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface McpRouteOptions {
  path: string;
  handler: McpHttpHandler;
  /** Awaited before serving, so early clients see the downstreams that come up quickly. */
  ready: Promise<void>;
  /** A client cancelled its request `requestId`; `caller` is its callerOf(). */
  onCancelled: (caller: string, requestId: string | number, reason: string | undefined) => void;
  /** Bodies nesting deeper are refused before anything reads them further (`server.limits.max_json_depth`). */
  maxJsonDepth: number;
  /** The servers' tools are listed directly (`mcp.expose_tools`), and called by their `server__tool` names. */
  directTools: boolean;
  /** Runs `search` or `execute` (or a direct tool) for a plain tool call, without the SDK's server. */
  callTool: (name: string, args: Record<string, unknown>, context: CallContext) => Promise<CallToolResult>;
  relay: Relay;
  /** 2025-era clients' GET streams. */
  listeners: ListenStreams;
  /** Whether a caller of `group` may use `server` (and so hear of it). */
  mayUse: (group: string | undefined, server: string) => boolean;
  /** Of the resources a 2026-era `subscriptions/listen` names, those the client may hear of. */
  listenable: (uris: readonly string[], client: ClientIdentity | undefined) => string[];
  /**
   * A 2026-era `subscriptions/listen` stream is open for these resources, until `ended`; `tell`
   * writes an update of one of them (by the URI the client named) on it.
   */
  onListen: (uris: readonly string[], client: ClientIdentity | undefined, ended: AbortSignal, tell: (uri: string) => void) => void;
}

interface JsonRpcMessage {
  id?: unknown;
  method?: unknown;
  params?: { requestId?: unknown; reason?: unknown; capabilities?: unknown; notifications?: { resourceSubscriptions?: unknown } };
}

/** The resource URIs a `subscriptions/listen` request names, if any. */
function listenedResources(message: JsonRpcMessage): string[] {
  const uris = message.method === 'subscriptions/listen' ? message.params?.notifications?.resourceSubscriptions : undefined;
  return Array.isArray(uris) ? uris.filter((uri): uri is string => typeof uri === 'string') : [];
}

/** Whether `message` is a JSON-RPC response (a client's answer to a server's request). */
function isResponse(message: JsonRpcMessage): message is JsonRpcMessage & JSONRPCResponse {
  return message !== null && typeof message === 'object' && message.method === undefined && ('result' in message || 'error' in message);
}

/** The id of a single request, to answer it by; null for a batch or a message without a usable id. */
function requestId(body: unknown): string | number | null {
  const id = isObject(body) ? body['id'] : undefined;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}

export function mountMcp(app: Hono<AppEnv>, options: McpRouteOptions): void {
  const { path, handler, ready, onCancelled, maxJsonDepth, callTool, relay } = options;
  app.all(path, async (c) => {
    await ready;
    if (c.req.method === 'GET' && c.req.header('accept')?.includes('text/event-stream')) return listen(c, options);
    if (c.req.method !== 'POST') return handler.fetch(c.req.raw);
    const text = await readBody(c, MAX_BODY_BYTES);
    if (text === undefined) {
      return c.json(errorResponse(null, -32600, `Request body is larger than ${MAX_BODY_BYTES} bytes`), 413);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (error) {
      const reason = error instanceof Error ? error.message : 'invalid JSON';
      return c.json(errorResponse(null, -32700, `Parse error: ${reason}`), 400);
    }
    if (nestedDeeperThan(body, maxJsonDepth)) {
      const message = `Invalid Request: the body nests deeper than ${maxJsonDepth} levels (server.limits.max_json_depth)`;
      return c.json(errorResponse(requestId(body), -32600, message), 400);
    }
    const messages = (Array.isArray(body) ? body : [body]) as JsonRpcMessage[];
    const session = c.req.header(SESSION_HEADER);
    const caller = c.get('caller');
    const key = callerOf(session, caller?.token);
    if (messages.length > 0 && messages.every(isResponse) && messages.some((message) => relay.isOurs(message.id))) {
      // Answers to the server's requests: each goes to the call waiting for it, on whichever instance.
      // A client has a handful open at a time; a flood of them would be a flood of Redis messages.
      if (messages.length > MAX_ANSWERS_PER_POST) {
        return c.json(errorResponse(null, -32600, `Invalid Request: at most ${MAX_ANSWERS_PER_POST} answers in one batch`), 400);
      }
      const delivered = await Promise.all(messages.map((message) => relay.pending.deliver(message, key)));
      if (delivered.every(Boolean)) return c.body(null, 202);
      const message = 'Invalid Request: nobody is waiting for this answer (the request is unknown, answered already, or over)';
      return c.json(errorResponse(null, -32600, message), 400);
    }
    // Only JSON requests (what the SDK will accept) may cancel, and only the caller's own calls.
    if (session !== undefined && c.req.header('content-type')?.includes('application/json')) {
      for (const message of messages) {
        const requestId = message?.params?.requestId;
        if (message?.method === 'notifications/cancelled' && (typeof requestId === 'string' || typeof requestId === 'number')) {
          const reason = message.params?.reason;
          onCancelled(key as string, requestId, typeof reason === 'string' ? reason : undefined);
        }
      }
    }
    const call = plainToolCall(
      body,
      {
        accept: c.req.header('accept'),
        contentType: c.req.header('content-type'),
        protocolVersion: c.req.header('mcp-protocol-version'),
      },
      options.directTools,
    );
    const client = c.get('client');
    if (call) {
      const exchange = new LegacyExchange();
      const context: CallContext = {
        token: caller?.token,
        client,
        caller: key,
        requestId: call.id,
        signal: c.req.raw.signal,
        ...(call.meta && Object.keys(call.meta).length > 0 && { meta: call.meta }),
        link: {
          era: 'legacy',
          capabilities: sessionCapabilities(session) as ClientCapabilities | undefined,
          logLevel: relay.logLevels.get(key),
          progressToken: undefined,
          send: (message) => exchange.send(message),
        },
      };
      void answer(call, () => callTool(call.name, call.arguments, context)).then((message) => exchange.finish(message as never));
      const answered = await exchange.answer;
      return 'json' in answered ? c.json(answered.json) : answered.stream;
    }
    // The validated caller's token (for forward servers) and identity reach the gateway in the SDK's authInfo.
    const authInfo = authInfoFor({ token: caller?.token, client });
    const listened = messages.length === 1 ? listenedResources(messages[0] as JsonRpcMessage) : [];
    if (listened.length > MAX_LISTENED_RESOURCES) {
      const message = `Invalid params: a subscription may name at most ${MAX_LISTENED_RESOURCES} resources`;
      return c.json(errorResponse(requestId(body), -32602, message), 400);
    }
    if (listened.length > 0) return listenToResources(c, body as JsonRpcMessage, listened, options, authInfo);
    const response = await handler.fetch(c.req.raw, { parsedBody: body, authInfo });
    const initialize = messages.find((message) => message?.method === 'initialize');
    if (initialize && !response.headers.has(SESSION_HEADER))
      response.headers.set(SESSION_HEADER, newSessionId(initialize.params?.capabilities));
    return response;
  });
}

/**
 * A 2026-era `subscriptions/listen` naming resources: the SDK serves the stream, told only of
 * those the client may hear of; while it is open, their servers are subscribed.
 */
async function listenToResources(
  c: Context<AppEnv>,
  message: JsonRpcMessage,
  uris: string[],
  { handler, listenable, onListen }: McpRouteOptions,
  authInfo: ReturnType<typeof authInfoFor>,
): Promise<Response> {
  const client = c.get('client');
  const visible = listenable(uris, client);
  const notifications = { ...message.params?.notifications, resourceSubscriptions: visible };
  const response = await handler.fetch(c.req.raw, { parsedBody: { ...message, params: { ...message.params, notifications } }, authInfo });
  // Refused, or nothing to listen for: no stream, no subscription.
  if (!response.body || visible.length === 0 || !response.headers.get('content-type')?.includes('text/event-stream')) return response;
  const ended = new AbortController();
  c.req.raw.signal.addEventListener('abort', () => ended.abort(), { once: true });
  // nexus writes the resources' updates itself, on this stream only: the SDK's publishing is by URI
  // alone, and one URI may be one server's for this caller and another's for a caller of another group.
  let stream!: TransformStreamDefaultController<Uint8Array>;
  const body = response.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({ start: (controller) => void (stream = controller), flush: () => ended.abort() }),
  );
  const subscriptionId = message.id as string | number;
  const tell = (uri: string) => {
    if (ended.signal.aborted) return;
    const params = { uri, _meta: { [SUBSCRIPTION_ID_META_KEY]: subscriptionId } };
    try {
      stream.enqueue(sseBytes(notification('notifications/resources/updated', params)));
    } catch {
      ended.abort();
    }
  };
  onListen(visible, client, ended.signal, tell);
  return new Response(body, response);
}

/** A 2025-era client's GET stream: what nexus pushes outside any call (list changes, servers' log messages). */
function listen(c: Context<AppEnv>, { listeners, relay, mayUse }: McpRouteOptions): Response {
  const session = c.req.header(SESSION_HEADER);
  const key = callerOf(session, c.get('caller')?.token);
  const group = c.get('client')?.group;
  const stream = listeners.open({
    caller: key,
    mayUse: (server) => mayUse(group, server),
    logLevel: () => relay.logLevels.get(key),
    signal: c.req.raw.signal,
  });
  return stream ?? c.json(errorResponse(null, -32603, 'Too many open listening streams; try again later'), 503);
}
