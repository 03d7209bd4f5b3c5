/**
 * The upstream MCP server that clients see: two tools (`search`, `execute`) plus aggregated
 * prompts and resources. A fresh low-level Server is built per HTTP request (the SDK requires
 * it for stateless serving); all state lives in the registry and the relay, so any instance can
 * serve any call.
 */
import {
  CLIENT_CAPABILITIES_META_KEY,
  isInputRequiredResult,
  LOG_LEVEL_META_KEY,
  MissingRequiredClientCapabilityError,
  ProtocolError,
  ProtocolErrorCode,
  ResourceNotFoundError,
  Server,
  type AuthInfo,
  type CallToolRequestParams,
  type CallToolResult,
  type ClientCapabilities,
  type InputRequiredResult,
  type RequestOptions,
  type Result,
  type ServerContext,
  type Tool,
} from '@modelcontextprotocol/server';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { ClientIdentity } from '../context.js';
import type { ExecuteLimits } from '../ratelimit/execute-limits.js';
import { callerOf, SESSION_HEADER, sessionCapabilities } from '../session.js';
import { NEXUS_VERSION } from '../version.js';
import { CallTimer } from './call-timer.js';
import { DownstreamUnavailableError, NO_TIMEOUT, timeoutError, type Downstream } from './downstreams/downstream.js';
import type { ForwardedSession } from './downstreams/forwarded.js';
import { directTools, type DownstreamRegistry } from './downstreams/registry.js';
import type { ResourceDirectory, ResourceOwner } from './downstreams/resource-directory.js';
import type { ToolView } from './access/policy.js';
import { InFlightCalls } from './in-flight.js';
import { metaToPassOn } from './protocol/meta.js';
import { McpObserver } from './observe.js';
import type { Attributes, Telemetry } from '../telemetry/telemetry.js';
import { CallRelay, MAX_INPUT_ROUNDS } from './relay/call-relay.js';
import { LISTEN_STREAM, type Evicted } from './relay/subscriptions.js';
import { isLoggingLevel, type ClientLink, type ProtocolEra } from './relay/client-link.js';
import type { Relay } from './relay/relay.js';
import { byRank, MAX_RESULTS, type IndexedTool, type SearchResult } from './search/tool-index.js';
import { full, TaskDirectory } from './tasks/task-directory.js';
import { TaskRelay, type TaskMethod } from './tasks/task-relay.js';
import { TASKS_EXTENSION, taskOf, type TaskShape } from './protocol/tasks.js';

/** An assistant sends a handful of keywords; these bounds keep a hostile search cheap. */
export const MAX_KEYWORDS = 50;
export const MAX_KEYWORD_LENGTH = 200;
/** How long a search waits for a caller's forward servers still connecting. */
const FORWARD_SEARCH_WAIT_MS = 2_000;

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

export interface GatewayOptions {
  registry: DownstreamRegistry;
  enableStructuredContent: boolean;
  /** What `tools/list` shows (`mcp.expose_tools`): search and execute, the servers' tools directly, or both. */
  exposeTools: 'search' | 'direct' | 'both';
  /** Per-server and per-tool limits on `execute`; none when no server has `rate_limits`. */
  executeLimits?: ExecuteLimits;
  relay: Relay;
  /** Spans and metrics of the requests served; none when telemetry is off. */
  telemetry?: Telemetry;
}

/** A 2026-era retry of a call: the client's answers to the input requests, and the state it echoes. */
export interface Retry {
  inputResponses: Record<string, unknown>;
  requestState: string | undefined;
}

/**
 * How long a 2026-era client may keep nexus's lists (`ttlMs`, `cacheScope`). `search` and `execute`
 * change only with nexus's configuration; prompts and resources change whenever a server's do, and
 * differ by group (so never `public`). A resource read keeps the server's own hint when it gives one.
 */
const CACHE_HINTS = {
  'tools/list': { ttlMs: 300_000, cacheScope: 'private' },
  'prompts/list': { ttlMs: 0, cacheScope: 'private' },
  'resources/list': { ttlMs: 0, cacheScope: 'private' },
  'resources/templates/list': { ttlMs: 0, cacheScope: 'private' },
  'resources/read': { ttlMs: 0, cacheScope: 'private' },
} as const;

/** With the servers' tools listed directly, nexus's list changes whenever theirs do: never kept. */
const DIRECT_CACHE_HINTS = { ...CACHE_HINTS, 'tools/list': { ttlMs: 0, cacheScope: 'private' } } as const;

/** Tools one `tools/list` page holds when the servers' tools are listed directly. */
const TOOLS_PAGE_SIZE = 500;

/** A downstream's own requestState, as nexus hands it to the client: marked, so a retry finds its way back. */
const DOWNSTREAM_STATE = 'downstream:';

/**
 * What a call needs to know of its request, whichever way it came in: through the SDK's server
 * (contextOf) or nexus's lean path for plain tool calls (endpoint/plain-tool-call.ts).
 */
export interface CallContext {
  /** The caller's validated bearer token (OAuth on), which forward servers receive. */
  token: string | undefined;
  /** Who is calling, with client identification on: their group decides what they may use. */
  client: ClientIdentity | undefined;
  /** callerOf() the request: its notifications/cancelled find the call, and only it may answer for the call. */
  caller: string | undefined;
  requestId: string | number;
  /** Aborted when the client goes away or cancels. */
  signal: AbortSignal;
  /** How to reach the client while the call runs: progress, log messages, the server's requests. */
  link: ClientLink;
  /** Set on a 2026-era client's retry of a call that needed input. */
  retry?: Retry;
  /** The request's `_meta` to pass on to the server (metaToPassOn()), if any. */
  meta?: Record<string, unknown>;
  /**
   * The client takes a task for this call: a 2025-era request asked for one (with its ttl), or a
   * 2026-era client declared the tasks extension (tasks/task-relay.ts).
   */
  task?: { ttl?: number };
}

/** The caller as http/ hands it to the SDK's server: in its authInfo, when there is one. */
export interface CallerInfo {
  token: string | undefined;
  client: ClientIdentity | undefined;
}

/** The SDK's AuthInfo carrying a caller (its `token` field must be a string; ours may be absent). */
export function authInfoFor(caller: CallerInfo): AuthInfo | undefined {
  if (caller.token === undefined && caller.client === undefined) return undefined;
  return { token: caller.token ?? '', clientId: caller.client?.id ?? '', scopes: [], extra: { caller } };
}

/** The call context of a request the SDK's server serves, in the era it serves it. */
function contextOf(ctx: ServerContext, server: Server, era: ProtocolEra, relay: Relay): CallContext {
  const { token, client } = (ctx.http?.authInfo?.extra?.['caller'] as CallerInfo | undefined) ?? { token: undefined, client: undefined };
  const session = ctx.http?.req?.headers.get(SESSION_HEADER) ?? undefined;
  const caller = callerOf(session, token);
  const progressToken = ctx.mcpReq._meta?.progressToken;
  let link: ClientLink;
  if (era === 'modern') {
    // A 2026-era client says what it can take, and the log level it wants, in each request.
    const envelope = (ctx.mcpReq.envelope ?? {}) as Record<string, unknown>;
    const level = envelope[LOG_LEVEL_META_KEY];
    link = {
      era,
      capabilities: (envelope[CLIENT_CAPABILITIES_META_KEY] as ClientCapabilities | undefined) ?? {},
      logLevel: isLoggingLevel(level) ? level : undefined,
      progressToken,
      send: (message) => ('id' in message ? Promise.reject(new Error('no requests on a 2026-era stream')) : ctx.mcpReq.notify(message)),
    };
  } else {
    link = {
      era,
      capabilities: sessionCapabilities(session) as ClientCapabilities | undefined,
      logLevel: relay.logLevels.get(caller),
      progressToken,
      // A request goes on the stream of the POST it belongs to, with nexus's own id.
      send: (message) =>
        'id' in message
          ? (server.transport?.send(message, { relatedRequestId: ctx.mcpReq.id }) ?? Promise.reject(new Error('not connected')))
          : ctx.mcpReq.notify(message),
    };
  }
  const state = era === 'modern' ? ctx.mcpReq.requestState<unknown>() : undefined;
  const inputResponses = ctx.mcpReq.inputResponses;
  const meta = metaToPassOn(ctx.mcpReq._meta);
  const extensions = (link.capabilities as { extensions?: Record<string, unknown> } | undefined)?.extensions;
  return {
    ...(meta && { meta }),
    ...(era === 'modern' && extensions?.[TASKS_EXTENSION] !== undefined && { task: {} }),
    token,
    client,
    caller,
    requestId: ctx.mcpReq.id,
    signal: ctx.mcpReq.signal,
    link,
    ...((inputResponses !== undefined || typeof state === 'string') && {
      retry: { inputResponses: inputResponses ?? {}, requestState: typeof state === 'string' ? state : undefined },
    }),
  };
}

/** The JSON-RPC error code of a refused `execute` (SPEC §5). */
const RATE_LIMITED = -32000;

/**
 * Splits `server__name` into a configured server's name and the rest. Server names may end in `_`
 * (`srv_` makes `srv___tool`), so the split is not simply at the first `__`: the longest server
 * name that the qualified name starts with, followed by `__` and something, wins.
 */
function splitQualifiedName(name: string, servers: Iterable<string>): { server: string; name: string } | undefined {
  let best: string | undefined;
  for (const server of servers) {
    if (name.length > server.length + 2 && name.startsWith(`${server}__`) && server.length > (best?.length ?? -1)) best = server;
  }
  return best === undefined ? undefined : { server: best, name: name.slice(best.length + 2) };
}

const resultItemSchema = {
  type: 'object',
  properties: {
    name: { type: 'string', description: 'The name to pass to `execute` (server__tool).' },
    description: { type: 'string' },
    input_schema: { type: 'object', description: 'JSON Schema of the tool arguments.' },
    score: { type: 'number', description: 'Relevance; higher is better.' },
    title: { type: 'string', description: "The tool's display name, when it has one." },
    annotations: { type: 'object', description: 'Hints about the tool (readOnlyHint, destructiveHint, ...), when it has them.' },
    icons: { type: 'array', items: { type: 'object' }, description: "The tool's icons, when it has them." },
    output_schema: { type: 'object', description: 'JSON Schema of the structured result, when the tool declares one.' },
    execution: { type: 'object', description: 'How the tool runs (task support), when it says.' },
    _meta: { type: 'object', description: "The tool's _meta, when it has one." },
  },
  required: ['name', 'description', 'input_schema', 'score'],
};

function gatewayTools(structured: boolean): Tool[] {
  const search: Tool = {
    name: 'search',
    title: 'Search tools',
    description:
      'Search the tools of every MCP server behind this gateway. Give a few keywords describing what you ' +
      `need; returns up to ${MAX_RESULTS} tools, best first, each with the name to call with \`execute\`, ` +
      'its description and its input schema.',
    inputSchema: {
      type: 'object',
      properties: {
        keywords: { type: 'array', items: { type: 'string' }, description: 'Keywords describing the tool you need.' },
      },
      required: ['keywords'],
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
  };
  if (structured) {
    search.outputSchema = {
      type: 'object',
      properties: { results: { type: 'array', items: resultItemSchema } },
      required: ['results'],
    };
  }
  const execute: Tool = {
    name: 'execute',
    title: 'Execute a tool',
    description:
      'Run a tool found with `search`. `name` is the tool name exactly as search returned it ' +
      "(server__tool); `arguments` must match that tool's input schema (omit it for a tool without parameters).",
    inputSchema: {
      type: 'object',
      properties: {
        name: { type: 'string', description: 'The tool to run, as `server__tool`.' },
        arguments: { type: 'object', description: 'The arguments for the tool.', additionalProperties: true },
      },
      required: ['name'],
    },
    // Any call may run as a task (2025-11-25 tasks): the tool's server's own, or else nexus's.
    execution: { taskSupport: 'optional' },
  };
  return [search, execute];
}

/**
 * The best of two result lists. Scores from the shared index and a caller's forward-server index
 * come from different collections, so this is close to, not exactly, one index's ranking.
 */
function mergeResults(a: SearchResult[], b: SearchResult[]): SearchResult[] {
  return [...a, ...b].sort(byRank).slice(0, MAX_RESULTS);
}

function instructionsFor(servers: string[] | undefined, exposeTools: GatewayOptions['exposeTools']): string {
  const which = servers === undefined ? 'MCP servers' : `these MCP servers: ${servers.length > 0 ? servers.join(', ') : 'none configured'}`;
  const how = {
    search: 'Their tools are not listed directly: call `search` with keywords to find a tool, then `execute` with its name and arguments.',
    direct: 'Their tools are listed as `server__tool`.',
    both: 'Their tools are listed as `server__tool`; `search` finds them by keywords, and `execute` runs one by name.',
  }[exposeTools];
  return `Nexus is a gateway to ${which}. ${how}`;
}

export class Gateway {
  readonly inFlight = new InFlightCalls();
  private readonly tools: Tool[];
  private readonly instructions: string;

  private readonly taskDirectory: TaskDirectory;
  /** Open 2026-era listen streams naming resources, by their key in relay.subscriptions: how to tell each of an update. */
  private readonly listening = new Map<string, (uri: string) => void>();
  private readonly tasks: TaskRelay<CallContext>;
  private readonly observer: McpObserver | undefined;

  constructor(private readonly options: GatewayOptions) {
    const { telemetry, registry } = options;
    this.observer =
      telemetry &&
      new McpObserver(
        telemetry,
        (name) => registry.get(name) !== undefined,
        (server, tool) => registry.get(server)?.catalog.tools.some((known) => known.name === tool) ?? false,
      );
    this.taskDirectory = new TaskDirectory(options.relay.bus.instance);
    this.tasks = new TaskRelay(
      this.taskDirectory,
      (name) => options.registry.get(name),
      (downstream, call, run) => this.forward(downstream, call, run),
    );
    // Other instances' clients asking about this instance's tasks.
    options.relay.onTaskRequest = ({ method, taskId, inputResponses, caller }, link, signal) => {
      const call = { token: undefined, client: undefined, caller, requestId: `task:${randomUUID()}`, signal, link, task: {} };
      return this.taskRequest(method as TaskMethod, taskId, call, inputResponses);
    };
    this.tools = gatewayTools(options.enableStructuredContent);
    // With access rules, the names of servers are not everyone's to know.
    this.instructions = instructionsFor(
      options.registry.policy.restricted ? undefined : [...options.registry.serverNames],
      options.exposeTools,
    );
  }

  /** A new upstream server for one HTTP request, in the protocol era it serves. */
  createServer(era: ProtocolEra): Server {
    const { registry, relay } = this.options;
    const server = new Server(
      { name: 'nexus', title: 'Nexus MCP gateway', version: NEXUS_VERSION },
      {
        capabilities: {
          // Listing the servers' tools, nexus tells when they change.
          tools: this.options.exposeTools === 'search' ? {} : { listChanged: true },
          prompts: { listChanged: true },
          resources: { listChanged: true, subscribe: true },
          logging: {},
          completions: {},
          // Tasks: 2025-11-25 declares them so; the 2026-07-28 extension by its name.
          ...(era === 'legacy'
            ? { tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } } }
            : { extensions: { [TASKS_EXTENSION]: {} } }),
        },
        instructions: this.instructions,
        cacheHints: this.options.exposeTools === 'search' ? CACHE_HINTS : DIRECT_CACHE_HINTS,
      },
    );
    const context = (ctx: ServerContext) => contextOf(ctx, server, era, relay);
    // Each request in its span, with its metrics, when telemetry is on.
    const observed = <T>(method: string, ctx: ServerContext, target: Attributes, work: () => T): T | Promise<Awaited<T>> =>
      this.observer ? this.observer.request(method, context(ctx), target, work as () => Promise<Awaited<T>>) : work();
    server.setRequestHandler('tools/list', (request, ctx) =>
      observed('tools/list', ctx, {}, () =>
        this.options.exposeTools === 'search' ? { tools: this.tools } : this.listTools(request.params?.cursor, context(ctx)),
      ),
    );
    server.setRequestHandler('tools/call', (request, ctx) => {
      const call = context(ctx);
      const { task } = request.params as { task?: { ttl?: number } };
      if (era === 'legacy' && task) call.task = { ...(typeof task.ttl === 'number' && { ttl: task.ttl }) };
      return (this.resumed(call) as Promise<never> | undefined) ?? this.callTool(request.params.name, request.params.arguments ?? {}, call);
    });
    this.serveTasks(server, era, context, observed);
    // Prompts and resources of a server the caller may not use are as absent as unknown ones.
    server.setRequestHandler('prompts/list', (_request, ctx) =>
      observed('prompts/list', ctx, {}, () => ({ prompts: registry.prompts(this.viewOf(context(ctx))) })),
    );
    const promptName = (name: string) => ({ 'mcp.prompt.name': name, 'gen_ai.prompt.name': name });
    server.setRequestHandler('prompts/get', (request, ctx) =>
      observed('prompts/get', ctx, promptName(request.params.name), () => {
        const call = context(ctx);
        const resumed = this.resumed(call);
        if (resumed) return resumed as Promise<never>;
        const owner = this.promptOwner(request.params.name, call);
        if (!owner) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown prompt: ${request.params.name}`);
        const { downstream, name } = owner;
        const params = { name, arguments: request.params.arguments, ...(call.meta && { _meta: call.meta }) };
        return this.forward(downstream, call, (options, peer, retry) => downstream.getPrompt({ ...params, ...retry }, options, peer));
      }),
    );
    server.setRequestHandler('resources/list', (_request, ctx) =>
      observed('resources/list', ctx, {}, () => ({ resources: this.resourcesOf(context(ctx)).resources })),
    );
    server.setRequestHandler('resources/templates/list', (_request, ctx) =>
      observed('resources/templates/list', ctx, {}, () => ({ resourceTemplates: this.resourcesOf(context(ctx)).templates })),
    );
    const resourceUri = (uri: string) => ({ 'mcp.resource.uri': uri });
    server.setRequestHandler('resources/read', (request, ctx) =>
      observed('resources/read', ctx, resourceUri(request.params.uri), async () => {
        const call = context(ctx);
        const resumed = this.resumed(call);
        if (resumed) return resumed as Promise<never>;
        const asked = request.params.uri;
        const { downstream, uri } = this.resourceOwner(asked, call);
        const params = { uri, ...(call.meta && { _meta: call.meta }) };
        const result = await this.forward(downstream, call, (options, peer, retry) =>
          downstream.readResource({ ...params, ...retry }, options, peer),
        );
        // The contents name the resource as the client asked for it.
        if (asked === uri || !Array.isArray(result.contents)) return result;
        return { ...result, contents: result.contents.map((content) => (content.uri === uri ? { ...content, uri: asked } : content)) };
      }),
    );
    // The server of the resource is subscribed once, for its first subscriber, and unsubscribed after its last.
    server.setRequestHandler('resources/subscribe', (request, ctx) =>
      observed('resources/subscribe', ctx, resourceUri(request.params.uri), async () => {
        const call = context(ctx);
        const asked = request.params.uri;
        const { downstream, uri } = this.resourceOwner(asked, call);
        const { added, evicted } = relay.subscriptions.add(downstream.name, uri, call.caller ?? '', asked);
        if (evicted) void this.unsubscribeServer(evicted);
        if (added === 'full') throw new ProtocolError(-32603, 'nexus holds as many resource subscriptions as it may; try again later');
        if (added === 'first')
          await this.forward(downstream, call, (options) => downstream.subscription(uri, true, options).then(() => ({})));
        return {};
      }),
    );
    // By the URI the client subscribed with, wherever a list change since may have moved it.
    server.setRequestHandler('resources/unsubscribe', (request, ctx) =>
      observed('resources/unsubscribe', ctx, resourceUri(request.params.uri), async () => {
        const { caller } = context(ctx);
        await Promise.all(relay.subscriptions.forget(caller ?? '', request.params.uri).map((gone) => this.unsubscribeServer(gone)));
        return {};
      }),
    );
    // To the server of the prompt or resource template; one the caller may not use is as unknown as none.
    server.setRequestHandler('completion/complete', (request, ctx) =>
      observed('completion/complete', ctx, {}, () => {
        const call = context(ctx);
        const { ref, argument, context: completing } = request.params;
        const prompt = ref.type === 'ref/prompt' ? this.promptOwner(ref.name, call) : undefined;
        const template = ref.type === 'ref/resource' ? this.resourcesOf(call).templateOwner(ref.uri) : undefined;
        const downstream = prompt?.downstream ?? template?.downstream;
        if (!downstream)
          throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown reference: ${ref.type === 'ref/prompt' ? ref.name : ref.uri}`);
        const params = {
          ref: prompt ? { ...ref, name: prompt.name } : template ? { ...ref, uri: template.uriTemplate } : ref,
          argument,
          ...(completing && { context: completing }),
          ...(call.meta && { _meta: call.meta }),
        };
        return this.forward(downstream, call, (options) => downstream.complete(params, options));
      }),
    );
    // Applied by nexus to what it relays; a 2025-era client's level is remembered by its session.
    server.setRequestHandler('logging/setLevel', (request, ctx) =>
      observed('logging/setLevel', ctx, {}, () => {
        const { caller } = context(ctx);
        if (caller !== undefined) relay.logLevels.set(caller, request.params.level);
        return {};
      }),
    );
    return server;
  }

  /** Of the resource URIs a 2026-era client's `subscriptions/listen` names, those it may hear of (they name a resource it sees). */
  listenable(uris: readonly string[], client: ClientIdentity | undefined): string[] {
    const directory = this.directoryFor(client);
    return uris.filter((uri) => {
      const found = directory.lookup(uri);
      return found !== undefined && 'downstream' in found;
    });
  }

  /**
   * A 2026-era client's `subscriptions/listen` stream, open, naming resources: each one's server
   * is subscribed as for `resources/subscribe`, until the stream ends (`ended`); the servers'
   * updates of them are written on it with `tell` (resourceUpdated()).
   */
  listen(uris: readonly string[], client: ClientIdentity | undefined, ended: AbortSignal, tell: (uri: string) => void): void {
    const { relay } = this.options;
    const directory = this.directoryFor(client);
    const stream = `${LISTEN_STREAM}${randomUUID()}`;
    const toggle = ({ downstream, uri }: ResourceOwner, subscribe: boolean) =>
      downstream.subscription(uri, subscribe, { timeout: downstream.config.call_timeout }).catch((error: unknown) => {
        downstream.log.warn({ uri, reason: (error as Error).message }, subscribe ? 'subscribing failed' : 'unsubscribing failed');
      });
    // One subscription per URI named, so that one resource named twice is told of by both names.
    const held: [ResourceOwner, string][] = [];
    for (const [index, uri] of uris.entries()) {
      const found = directory.lookup(uri);
      if (!found || !('downstream' in found)) continue;
      const key = `${stream}#${index}`;
      const { added, evicted } = relay.subscriptions.add(found.downstream.name, found.uri, key, uri);
      if (evicted) void this.unsubscribeServer(evicted);
      if (added === 'full') {
        found.downstream.log.warn({ uri }, 'a subscriptions/listen stream is not subscribed: nexus holds all the subscriptions it may');
        continue;
      }
      held.push([found, key]);
      if (added === 'first') void toggle(found, true);
    }
    this.listening.set(stream, tell);
    const end = () => {
      this.listening.delete(stream);
      for (const [owner, key] of held) if (relay.subscriptions.remove(owner.downstream.name, owner.uri, key)) void toggle(owner, false);
    };
    if (ended.aborted) end();
    else ended.addEventListener('abort', end, { once: true });
  }

  /** A server's resource changed: the 2026-era listen streams subscribed to it hear of it, by the URI each named. */
  resourceUpdated(server: string, uri: string): void {
    for (const [key, clientUri] of this.options.relay.subscriptions.of(server, uri)) {
      if (key.startsWith(LISTEN_STREAM)) this.listening.get(key.slice(0, key.indexOf('#')))?.(clientUri);
    }
  }

  /** A resource nobody is subscribed to any more: its server need not tell of it. */
  private async unsubscribeServer({ server, uri }: Evicted): Promise<void> {
    const downstream = this.options.registry.get(server);
    await downstream?.subscription(uri, false, { timeout: downstream.config.call_timeout }).catch(() => undefined);
  }

  private directoryFor(client: ClientIdentity | undefined): ResourceDirectory {
    const { registry } = this.options;
    return registry.resourcesFor(registry.policy.viewFor(client?.group));
  }

  /** The server of a qualified prompt name, and the prompt's own name there; undefined if the caller may not use it, or it has no such prompt. */
  private promptOwner(qualifiedName: string, call: CallContext): { downstream: Downstream; name: string } | undefined {
    const { registry } = this.options;
    const qualified = splitQualifiedName(qualifiedName, registry.serverNames);
    const downstream = qualified && this.viewOf(call).server(qualified.server) ? registry.get(qualified.server) : undefined;
    if (!qualified || !downstream?.catalog.prompts.some((prompt) => prompt.name === qualified.name)) return undefined;
    return { downstream, name: qualified.name };
  }

  /** The resources the caller may see (resource-directory.ts). */
  private resourcesOf(call: CallContext): ResourceDirectory {
    return this.directoryFor(call.client);
  }

  /** The server and own URI of a resource URI the client sent; unknown or ambiguous ones are refused. */
  private resourceOwner(uri: string, call: CallContext): ResourceOwner {
    const found = this.resourcesOf(call).lookup(uri);
    if (!found) throw new ResourceNotFoundError(uri);
    if ('ambiguous' in found) {
      throw new ResourceNotFoundError(uri, `Resource ${uri} is offered by several servers; ask for one of: ${found.ambiguous.join(', ')}`);
    }
    return found;
  }

  /** A 2026-era retry of a call nexus parked for input: it goes on where it stopped. */
  private resumed(call: CallContext): Promise<Result> | undefined {
    const state = call.retry?.requestState;
    if (!this.options.relay.isOurs(state)) return undefined;
    return this.options.relay.resume(state, call.retry?.inputResponses ?? {}, call.link, call.caller, call.signal);
  }

  /**
   * nexus's tools and, listed directly (`expose_tools`), every tool the caller may use of the
   * servers that are up (their forward servers' too), a page at a time.
   */
  private async listTools(cursor: string | undefined, call: CallContext): Promise<{ tools: Tool[]; nextCursor?: string }> {
    const { registry } = this.options;
    // A cursor is `<generation>.<offset>`: one from before the tools changed would skip or repeat some.
    const [, generation, offset] = /^(\d{1,15})\.(\d{1,15})$/.exec(cursor ?? `${registry.toolsGeneration}.0`) ?? [];
    if (offset === undefined) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Invalid cursor: ${cursor}`);
    if (Number(generation) !== registry.toolsGeneration) {
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, 'Invalid cursor: the tool list changed since; list it again from the start');
    }
    const start = Number(offset);
    const view = this.viewOf(call);
    const shared = registry.toolsFor(view);
    const forwarded = await this.withForwardedSession(call, async (session) => {
      if (!session) return [];
      // A slow forward server must not hold up the list: its tools join once it has answered.
      await Promise.race([session.ready, delay(FORWARD_SEARCH_WAIT_MS)]);
      return directTools(session.downstreams.values(), view);
    });
    const own = this.options.exposeTools === 'both' ? this.tools : [];
    const all = own.length + shared.length + forwarded.length;
    const page = [...own, ...shared, ...forwarded].slice(start, start + TOOLS_PAGE_SIZE);
    const next = start + TOOLS_PAGE_SIZE < all ? `${registry.toolsGeneration}.${start + TOOLS_PAGE_SIZE}` : undefined;
    return { tools: this.pointingRight(page, call), ...(next !== undefined && { nextCursor: next }) };
  }

  /** `tools/call` of one of the two gateway tools, or (listed directly) of a server's tool by its `server__tool` name. */
  callTool(name: string, args: Record<string, unknown>, call: CallContext): Promise<CallToolResult> {
    return this.observer
      ? this.observer.toolCall(name, args, call, () => this.dispatchTool(name, args, call))
      : this.dispatchTool(name, args, call);
  }

  private dispatchTool(name: string, args: Record<string, unknown>, call: CallContext): Promise<CallToolResult> {
    if (name === 'search' && call.task && call.link.era === 'legacy')
      return Promise.resolve(this.localTask(call, (detached) => this.search(args, detached)));
    if (name === 'search') return this.search(args, call);
    if (name === 'execute') return this.execute(args, call);
    if (this.options.exposeTools !== 'search') return this.execute({ name, arguments: args }, call);
    throw new ProtocolError(ProtocolErrorCode.MethodNotFound, `Unknown tool: ${name}`);
  }

  /** What the caller may see and use, by their group. */
  private viewOf(call: CallContext): ToolView {
    return this.options.registry.policy.viewFor(call.client?.group);
  }

  /**
   * Runs `use` with the caller's forward-server session (when nexus has such servers and the caller
   * a token), held from the start: a session evicted while the call waits for it to connect stays
   * open until the call is done.
   */
  private async withForwardedSession<T>(call: CallContext, use: (session: ForwardedSession | undefined) => Promise<T>): Promise<T> {
    const session = call.token === undefined ? undefined : this.options.registry.forwarded?.forToken(call.token, this.viewOf(call));
    const release = session?.hold();
    try {
      return await use(session);
    } finally {
      release?.();
    }
  }

  private async search(args: Record<string, unknown>, call: CallContext): Promise<CallToolResult> {
    const keywords = args['keywords'];
    if (!Array.isArray(keywords) || !keywords.every((keyword) => typeof keyword === 'string')) {
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, '`keywords` must be an array of strings');
    }
    if (keywords.length > MAX_KEYWORDS || keywords.some((keyword) => keyword.length > MAX_KEYWORD_LENGTH)) {
      throw new ProtocolError(
        ProtocolErrorCode.InvalidParams,
        `give at most ${MAX_KEYWORDS} keywords of at most ${MAX_KEYWORD_LENGTH} characters each`,
      );
    }
    const results = await this.withForwardedSession(call, async (session) => {
      const shared = this.options.registry.search(this.viewOf(call), keywords);
      if (!session) return shared;
      // A slow forward server must not hold up the search: its tools join once it has answered.
      // Its wait runs alongside the shared search's own (the query's embedding), not after it.
      const [sharedResults] = await Promise.all([shared, Promise.race([session.ready, delay(FORWARD_SEARCH_WAIT_MS)])]);
      return mergeResults(sharedResults, session.index.search(keywords));
    });
    const shown = this.pointingRight(results, call);
    const result: CallToolResult = { content: [{ type: 'text', text: JSON.stringify({ results: shown }) }] };
    if (this.options.enableStructuredContent) result.structuredContent = { results: shown };
    return result;
  }

  /**
   * Tools whose MCP App (`_meta.ui.resourceUri`, or the older `_meta["ui/resourceUri"]`) is a
   * resource the caller sees qualified get that qualified URI, so that it reads their own server's.
   */
  private pointingRight<T extends { name: string; _meta?: Record<string, unknown> }>(results: T[], call: CallContext): T[] {
    const { registry } = this.options;
    return results.map((result) => {
      const meta = result._meta as { ui?: { resourceUri?: unknown }; 'ui/resourceUri'?: unknown } | undefined;
      const nested = meta?.ui?.resourceUri;
      const flat = meta?.['ui/resourceUri'];
      if (typeof nested !== 'string' && typeof flat !== 'string') return result;
      const server = splitQualifiedName(result.name, registry.serverNames)?.server ?? '';
      const directory = this.resourcesOf(call);
      const moved = (uri: unknown) => (typeof uri === 'string' ? directory.clientUri(server, uri) : uri);
      return {
        ...result,
        _meta: {
          ...meta,
          ...(typeof nested === 'string' && { ui: { ...meta?.ui, resourceUri: moved(nested) } }),
          ...(typeof flat === 'string' && { 'ui/resourceUri': moved(flat) }),
        },
      };
    });
  }

  private async execute(args: Record<string, unknown>, call: CallContext): Promise<CallToolResult> {
    const name = args['name'];
    const toolArgs = args['arguments'] ?? {};
    if (typeof name !== 'string') {
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, '`name` must be a string (server__tool)');
    }
    if (toolArgs === null || typeof toolArgs !== 'object' || Array.isArray(toolArgs)) {
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, '`arguments` must be an object');
    }
    const { registry } = this.options;
    const params = (entry: IndexedTool, retry: Partial<Retry> | undefined) => ({
      name: entry.tool.name,
      arguments: toolArgs as Record<string, unknown>,
      ...(call.meta && { _meta: call.meta }),
      ...retry,
    });
    const view = this.viewOf(call);
    const shared = registry.indexFor(view).get(name);
    const sharedDownstream = shared && registry.get(shared.server);
    if (shared && sharedDownstream) {
      await this.checkLimit(shared);
      return this.run(sharedDownstream, shared, call, params, true);
    }
    // Not a shared tool: perhaps one of the caller's forward servers has it.
    return this.withForwardedSession(call, async (session) => {
      await session?.ready;
      const entry = session?.index.get(name);
      const downstream = entry && session?.downstreams.get(entry.server);
      if (!entry || !downstream) {
        // A configured server that is down has no tools to find; say so rather than "unknown",
        // unless the caller may not use the tool (then it is as unknown as any).
        const qualified = splitQualifiedName(name, registry.serverNames);
        const server = qualified?.server ?? '';
        const down = registry.get(server) ?? session?.downstreams.get(server);
        if (down && down.state.status !== 'ready' && qualified && view.tool(server, qualified.name)) {
          throw this.toProtocolError(down, down.unavailable(), call.client);
        }
        throw new ProtocolError(ProtocolErrorCode.MethodNotFound, `Unknown tool: ${name}`);
      }
      await this.checkLimit(entry);
      // A forward server's connection is the caller's for a while only: its tasks are not handed out.
      return this.run(downstream, entry, call, params, false);
    });
  }

  /**
   * One tool call: as a task of its server's for a client that takes tasks (when `serverTasks`),
   * of nexus's for a 2025-era client asking for one on a tool that runs none, or run to its end
   * when the tool requires a task and the client takes none; else a plain call.
   */
  private run(
    downstream: Downstream,
    entry: IndexedTool,
    call: CallContext,
    params: (entry: IndexedTool, retry: Partial<Retry> | undefined) => CallToolRequestParams,
    serverTasks: boolean,
  ): Promise<CallToolResult> {
    const support = downstream.taskSupport(entry.tool);
    // A call that will start a task is refused before anything runs, not after, when there is no room.
    if (call.task && (call.link.era === 'legacy' || support) && !this.tasks.hasRoom(call)) throw full();
    // A 2025-era server that runs no task of this tool, for a 2025-era client asking for one: nexus runs it.
    if (call.task && call.link.era === 'legacy' && !support && !downstream.modern) {
      return Promise.resolve(this.localTask(call, (detached) => this.run(downstream, entry, detached, params, serverTasks)));
    }
    return this.forward<CallToolResult>(downstream, call, async (options, peer, retry) => {
      // A 2025-era server runs a task when asked; a 2026-era one when it chooses.
      const asked = support !== undefined && (call.task !== undefined || support === 'required');
      const outcome: Result = asked
        ? await downstream.startTask(params(entry, undefined), call.task?.ttl, options, peer)
        : await downstream.callTool(params(entry, retry), options, peer);
      const task = asked ? (outcome as TaskShape) : taskOf(outcome);
      if (task) return this.tasks.started(downstream, task, call, options, peer, serverTasks) as Promise<CallToolResult>;
      // A 2026-era server answered at once a 2025-era client that asked for a task: a task, over already.
      if (call.task && call.link.era === 'legacy')
        return this.tasks.startLocal(call, call.task.ttl, () => Promise.resolve(outcome as CallToolResult)) as CallToolResult;
      return outcome as CallToolResult;
    });
  }

  /** Runs `run` as nexus's own task, in a context of its own: the request that started it is over at once. */
  private localTask(call: CallContext, run: (detached: CallContext) => Promise<CallToolResult>): CallToolResult {
    return this.tasks.startLocal(call, call.task?.ttl, (signal) =>
      run({
        ...call,
        task: undefined,
        retry: undefined,
        signal,
        requestId: `task:${randomUUID()}`,
        // Nobody listens on a task's behalf: what the server says on the way is not relayed, and it cannot ask.
        link: {
          ...call.link,
          progressToken: undefined,
          send: (message) => ('id' in message ? Promise.reject(new Error('a task of nexus has no client to ask')) : Promise.resolve()),
        },
      }),
    ) as CallToolResult;
  }

  /** `tasks/*`, for tasks nexus handed out (tasks/task-relay.ts); a 2026-era client must have declared the extension. */
  private serveTasks(
    server: Server,
    era: ProtocolEra,
    context: (ctx: ServerContext) => CallContext,
    observed: <T>(method: string, ctx: ServerContext, target: Attributes, work: () => T) => T | Promise<Awaited<T>>,
  ): void {
    const taskParams = z.looseObject({ taskId: z.string() });
    const tasksFor = (ctx: ServerContext) => {
      const call = context(ctx);
      if (era === 'modern' && !call.task) {
        throw new MissingRequiredClientCapabilityError({ requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } } } as never);
      }
      return call;
    };
    // A task another instance holds is asked about there.
    const handle = (method: TaskMethod, taskId: string, ctx: ServerContext, inputResponses?: Record<string, unknown>) =>
      observed(method, ctx, { 'mcp.task.id': taskId }, () => {
        const call = tasksFor(ctx);
        const elsewhere = this.options.relay.taskElsewhere({ method, taskId, inputResponses, caller: call.caller }, call.link, call.signal);
        return elsewhere ?? this.taskRequest(method, taskId, call, inputResponses);
      });
    server.setRequestHandler('tasks/get', { params: taskParams }, (params, ctx) => handle('tasks/get', params.taskId, ctx));
    server.setRequestHandler('tasks/cancel', { params: taskParams }, (params, ctx) => handle('tasks/cancel', params.taskId, ctx));
    if (era === 'legacy') {
      server.setRequestHandler('tasks/result', { params: taskParams }, (params, ctx) => handle('tasks/result', params.taskId, ctx));
      // Lists the tasks this instance holds.
      const listParams = z.looseObject({ cursor: z.string().optional() }).optional();
      server.setRequestHandler('tasks/list', { params: listParams }, (params, ctx) =>
        observed('tasks/list', ctx, {}, () => this.tasks.list(params?.cursor, tasksFor(ctx))),
      );
    } else {
      // The SDK hands a request's `inputResponses` to the handler in its context, not its params.
      server.setRequestHandler('tasks/update', { params: taskParams }, (params, ctx) =>
        handle('tasks/update', params.taskId, ctx, ctx.mcpReq.inputResponses ?? {}),
      );
    }
  }

  /** A request about one of this instance's tasks. */
  private taskRequest(method: TaskMethod, taskId: string, call: CallContext, inputResponses?: Record<string, unknown>): Promise<Result> {
    if (method === 'tasks/get') return this.tasks.get(taskId, call);
    if (method === 'tasks/result') return this.tasks.result(taskId, call);
    if (method === 'tasks/cancel') return this.tasks.cancel(taskId, call);
    return this.tasks.update(taskId, inputResponses ?? {}, call);
  }

  /** Ends nexus's own tasks (shutting down). */
  close(): void {
    this.taskDirectory.close();
  }

  /** Counts a call against its server's or tool's limit; over it, a -32000 error saying when to retry. */
  private async checkLimit({ server, tool }: IndexedTool): Promise<void> {
    const decision = await this.options.executeLimits?.check(server, tool.name);
    if (decision && !decision.allowed) {
      throw new ProtocolError(RATE_LIMITED, 'Rate limit exceeded', {
        server,
        tool: tool.name,
        retry_after_seconds: Math.max(1, Math.ceil(decision.resetMs / 1000)),
      });
    }
  }

  /**
   * Runs one downstream request on behalf of the client: the client's cancellation aborts it,
   * downstream progress and log messages are relayed to the client (all of them before the result),
   * so are the server's requests to the client (call-relay.ts), and errors keep their JSON-RPC
   * code, message and data (transport failures become -32603 with the reason).
   *
   * For a 2026-era client the answer may be an `input_required` result: the server's requests for
   * the client to answer in its retry, the call parked in the meantime (relay.ts).
   */
  private forward<T extends Result>(
    downstream: Downstream,
    call: CallContext,
    run: (options: RequestOptions, peer: CallRelay, retry: Partial<Retry> | undefined) => Promise<T>,
  ): Promise<T> {
    // One controller ends the downstream call: the client going away or cancelling, or call_timeout.
    const controller = new AbortController();
    const { signal } = controller;
    const release = this.inFlight.track(call.caller, call.requestId, controller);
    const timeout = downstream.config.call_timeout;
    const timer = new CallTimer(timeout, () => controller.abort(timeoutError(timeout)));
    const peer = new CallRelay(call.link, {
      caller: call.caller,
      pending: this.options.relay.pending,
      pauseTimeout: () => timer.pause(),
      restartTimeout: () => timer.restart(),
    });
    let relayed = Promise.resolve();
    const options: RequestOptions = {
      signal,
      // call_timeout is kept by the timer above, which progress restarts and a client's answer pauses.
      timeout: NO_TIMEOUT,
      // Always asked for, so downstream progress extends the timeout even when the client gave no token.
      onprogress: (progress) => {
        timer.restart();
        relayed = relayed.then(() => peer.progress(progress)).catch(() => undefined);
      },
    };
    const running = (async () => {
      try {
        const result = await this.inputRounds(downstream, peer, signal, (retry) => run(options, peer, retry), call.retry);
        await relayed;
        return result;
      } catch (error) {
        throw this.toProtocolError(downstream, error, call.client);
      } finally {
        timer.stop();
        release();
        peer.end('the call is over');
      }
    })();
    const abort = (reason: unknown) => controller.abort(reason);
    if (call.link.era === 'modern') return this.options.relay.outcome({ relay: peer, running, abort }, call.signal) as Promise<T>;
    return followed(running, call.signal, abort);
  }

  /**
   * A 2026-era server's `input_required` answer: passed on to a 2026-era client (its requestState
   * marked as the server's), or fulfilled by nexus for a 2025-era client, which is asked each
   * request on its call's stream, and the call retried with the answers.
   */
  private async inputRounds<T extends Result>(
    downstream: Downstream,
    peer: CallRelay,
    signal: AbortSignal,
    run: (retry: Partial<Retry> | undefined) => Promise<T>,
    clientRetry: Retry | undefined,
  ): Promise<T> {
    const state = clientRetry?.requestState;
    const retry = clientRetry && {
      inputResponses: clientRetry.inputResponses,
      ...(state?.startsWith(DOWNSTREAM_STATE) && { requestState: state.slice(DOWNSTREAM_STATE.length) }),
    };
    let result: Result = await run(retry);
    for (let round = 1; isInputRequiredResult(result); round++) {
      const asked: InputRequiredResult = result;
      if (peer.link.era === 'modern') {
        return { ...asked, ...(asked.requestState !== undefined && { requestState: DOWNSTREAM_STATE + asked.requestState }) } as never;
      }
      if (round > MAX_INPUT_ROUNDS) {
        throw new ProtocolError(-32603, `server '${downstream.name}' asked for input more than ${MAX_INPUT_ROUNDS} times in one call`);
      }
      const inputResponses: Record<string, unknown> = {};
      for (const [key, request] of Object.entries(asked.inputRequests ?? {})) {
        const { method, params } = request as { method: string; params?: Record<string, unknown> };
        inputResponses[key] = await peer.ask(method, params ?? {}, signal);
      }
      result = await run({ inputResponses, ...(asked.requestState !== undefined && { requestState: asked.requestState }) });
    }
    return result as T;
  }

  private toProtocolError(downstream: Downstream, error: unknown, client?: ClientIdentity): ProtocolError {
    if (error instanceof ProtocolError) return new ProtocolError(error.code, error.message, error.data);
    const reason =
      error instanceof DownstreamUnavailableError
        ? error.message
        : `request to server '${downstream.name}' failed: ${error instanceof Error ? error.message : String(error)}`;
    downstream.log.warn({ reason, client_id: client?.id, group: client?.group }, 'downstream request failed');
    return new ProtocolError(ProtocolErrorCode.InternalError, reason, { server: downstream.name });
  }
}

/** A call that the client's `signal` aborts, until it is over. */
async function followed<T>(running: Promise<T>, signal: AbortSignal, abort: (reason: unknown) => void): Promise<T> {
  const onAbort = () => abort(signal.reason);
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await running;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
