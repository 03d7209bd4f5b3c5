/**
 * The upstream MCP server that clients see: two tools (`search`, `execute`) plus aggregated
 * prompts and resources. A fresh low-level Server is built per HTTP request (the SDK requires
 * it for stateless serving); all state lives in the registry, so any instance can serve any call.
 */
import {
  ProtocolError,
  ProtocolErrorCode,
  ResourceNotFoundError,
  Server,
  type AuthInfo,
  type CallToolResult,
  type RequestOptions,
  type ServerContext,
  type Tool,
} from '@modelcontextprotocol/server';
import type { ClientIdentity } from '../context.js';
import type { ExecuteLimits } from '../ratelimit/execute-limits.js';
import { callerKey, SESSION_HEADER } from '../session.js';
import { NEXUS_VERSION } from '../version.js';
import { DownstreamUnavailableError, type Downstream } from './downstreams/downstream.js';
import type { ForwardedSession } from './downstreams/forwarded.js';
import type { DownstreamRegistry } from './downstreams/registry.js';
import type { ToolView } from './access.js';
import { InFlightCalls } from './in-flight.js';
import { MAX_RESULTS, type IndexedTool, type SearchResult } from './search/tool-index.js';

/** An assistant sends a handful of keywords; these bounds keep a hostile search cheap. */
export const MAX_KEYWORDS = 50;
export const MAX_KEYWORD_LENGTH = 200;
/** How long a search waits for a caller's forward servers still connecting. */
export const FORWARD_SEARCH_WAIT_MS = 2_000;

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

export interface GatewayOptions {
  registry: DownstreamRegistry;
  enableStructuredContent: boolean;
  /** Per-server and per-tool limits on `execute`; none when no server has `rate_limits`. */
  executeLimits?: ExecuteLimits;
}

/**
 * What a call needs to know of its request, whichever way it came in: through the SDK's server
 * (contextOf) or nexus's lean path for plain tool calls (endpoint/plain-tool-call.ts).
 */
export interface CallContext {
  /** The caller's validated bearer token (OAuth on), which forward servers receive. */
  token: string | undefined;
  /** Who is calling, with client identification on: their group decides what they may use. */
  client: ClientIdentity | undefined;
  /** callerKey() of the caller's session, when it has one: its notifications/cancelled find the call. */
  caller: string | undefined;
  requestId: string | number;
  /** Aborted when the client goes away or cancels. */
  signal: AbortSignal;
  /** Progress from the downstream is relayed under this token, when the client gave one. */
  progressToken: string | number | undefined;
  notifyProgress(params: { progressToken: string | number; progress: number; total?: number; message?: string }): Promise<void>;
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

function contextOf(ctx: ServerContext): CallContext {
  const { token, client } = (ctx.http?.authInfo?.extra?.['caller'] as CallerInfo | undefined) ?? { token: undefined, client: undefined };
  const session = ctx.http?.req?.headers.get(SESSION_HEADER) ?? undefined;
  return {
    token,
    client,
    caller: session === undefined ? undefined : callerKey(session, token),
    requestId: ctx.mcpReq.id,
    signal: ctx.mcpReq.signal,
    progressToken: ctx.mcpReq._meta?.progressToken,
    notifyProgress: (params) => ctx.mcpReq.notify({ method: 'notifications/progress', params }),
  };
}

/** The JSON-RPC error code of a refused `execute` (SPEC §5). */
export const RATE_LIMITED = -32000;

/** Splits `server__name` at the first `__`. */
export function splitQualifiedName(name: string): { server: string; name: string } | undefined {
  const at = name.indexOf('__');
  if (at <= 0 || at + 2 >= name.length) return undefined;
  return { server: name.slice(0, at), name: name.slice(at + 2) };
}

const resultItemSchema = {
  type: 'object',
  properties: {
    name: { type: 'string', description: 'The name to pass to `execute` (server__tool).' },
    description: { type: 'string' },
    input_schema: { type: 'object', description: 'JSON Schema of the tool arguments.' },
    score: { type: 'number', description: 'Relevance; higher is better.' },
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
  };
  return [search, execute];
}

/**
 * The best of two result lists. Scores from the shared index and a caller's forward-server index
 * come from different collections, so this is close to, not exactly, one index's ranking.
 */
function mergeResults(a: SearchResult[], b: SearchResult[]): SearchResult[] {
  return [...a, ...b].sort((x, y) => y.score - x.score || (x.name < y.name ? -1 : x.name > y.name ? 1 : 0)).slice(0, MAX_RESULTS);
}

function instructionsFor(servers: string[] | undefined): string {
  const which = servers === undefined ? 'MCP servers' : `these MCP servers: ${servers.length > 0 ? servers.join(', ') : 'none configured'}`;
  return (
    `Nexus is a gateway to ${which}. ` +
    'Their tools are not listed directly: call `search` with keywords to find a tool, then `execute` ' +
    'with its name and arguments.'
  );
}

export class Gateway {
  readonly inFlight = new InFlightCalls();
  private readonly tools: Tool[];
  private readonly instructions: string;

  constructor(private readonly options: GatewayOptions) {
    this.tools = gatewayTools(options.enableStructuredContent);
    // With access rules, the names of servers are not everyone's to know.
    this.instructions = instructionsFor(options.registry.policy.restricted ? undefined : [...options.registry.serverNames]);
  }

  /** A new upstream server for one HTTP request. */
  createServer(): Server {
    const { registry } = this.options;
    const server = new Server(
      { name: 'nexus', title: 'Nexus MCP gateway', version: NEXUS_VERSION },
      {
        capabilities: { tools: {}, prompts: {}, resources: {} },
        instructions: this.instructions,
      },
    );
    server.setRequestHandler('tools/list', () => ({ tools: this.tools }));
    server.setRequestHandler('tools/call', (request, ctx) =>
      this.callTool(request.params.name, request.params.arguments ?? {}, contextOf(ctx)),
    );
    // Prompts and resources of a server the caller may not use are as absent as unknown ones.
    server.setRequestHandler('prompts/list', (_request, ctx) => ({ prompts: registry.prompts(this.viewOf(contextOf(ctx))) }));
    server.setRequestHandler('prompts/get', (request, ctx) => {
      const call = contextOf(ctx);
      const qualified = splitQualifiedName(request.params.name);
      const downstream = qualified && this.viewOf(call).server(qualified.server) ? registry.get(qualified.server) : undefined;
      if (!qualified || !downstream?.catalog.prompts.some((prompt) => prompt.name === qualified.name)) {
        throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown prompt: ${request.params.name}`);
      }
      const params = { ...request.params, name: qualified.name };
      return this.forward(downstream, call, (options) => downstream.getPrompt(params, options));
    });
    server.setRequestHandler('resources/list', (_request, ctx) => ({ resources: registry.resources(this.viewOf(contextOf(ctx))) }));
    server.setRequestHandler('resources/templates/list', (_request, ctx) => ({
      resourceTemplates: registry.resourceTemplates(this.viewOf(contextOf(ctx))),
    }));
    server.setRequestHandler('resources/read', (request, ctx) => {
      const call = contextOf(ctx);
      const downstream = registry.serverForResource(request.params.uri, this.viewOf(call));
      if (!downstream) throw new ResourceNotFoundError(request.params.uri);
      return this.forward(downstream, call, (options) => downstream.readResource(request.params, options));
    });
    return server;
  }

  /** `tools/call` of one of the two gateway tools. */
  callTool(name: string, args: Record<string, unknown>, call: CallContext): Promise<CallToolResult> {
    if (name === 'search') return this.search(args, call);
    if (name === 'execute') return this.execute(args, call);
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
    const shared = this.options.registry.indexFor(this.viewOf(call)).search(keywords);
    const results = await this.withForwardedSession(call, async (session) => {
      if (!session) return shared;
      // A slow forward server must not hold up the search: its tools join once it has answered.
      await Promise.race([session.ready, delay(FORWARD_SEARCH_WAIT_MS)]);
      return mergeResults(shared, session.index.search(keywords));
    });
    const result: CallToolResult = { content: [{ type: 'text', text: JSON.stringify({ results }) }] };
    if (this.options.enableStructuredContent) result.structuredContent = { results };
    return result;
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
    const params = (entry: IndexedTool) => ({ name: entry.tool.name, arguments: toolArgs as Record<string, unknown> });
    const view = this.viewOf(call);
    const shared = registry.indexFor(view).get(name);
    const sharedDownstream = shared && registry.get(shared.server);
    if (shared && sharedDownstream) {
      await this.checkLimit(shared);
      return this.forward(sharedDownstream, call, (options) => sharedDownstream.callTool(params(shared), options));
    }
    // Not a shared tool: perhaps one of the caller's forward servers has it.
    return this.withForwardedSession(call, async (session) => {
      await session?.ready;
      const entry = session?.index.get(name);
      const downstream = entry && session?.downstreams.get(entry.server);
      if (!entry || !downstream) {
        // A configured server that is down has no tools to find; say so rather than "unknown",
        // unless the caller may not use the tool (then it is as unknown as any).
        const qualified = splitQualifiedName(name);
        const server = qualified?.server ?? '';
        const down = registry.get(server) ?? session?.downstreams.get(server);
        if (down && down.state.status !== 'ready' && qualified && view.tool(server, qualified.name)) {
          throw this.toProtocolError(down, down.unavailable(), call.client);
        }
        throw new ProtocolError(ProtocolErrorCode.MethodNotFound, `Unknown tool: ${name}`);
      }
      await this.checkLimit(entry);
      return this.forward(downstream, call, (options) => downstream.callTool(params(entry), options));
    });
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
   * downstream progress is relayed under the client's progress token (all of it before the
   * result), and errors keep their JSON-RPC code, message and data (transport failures become
   * -32603 with the reason).
   */
  private async forward<T>(
    downstream: Downstream,
    { caller, client, requestId, signal: clientSignal, progressToken, notifyProgress }: CallContext,
    call: (options: RequestOptions) => Promise<T>,
  ): Promise<T> {
    const { signal, release } = this.inFlight.track(caller, requestId, clientSignal);
    let relayed = Promise.resolve();
    const options: RequestOptions = {
      signal,
      // The server's call_timeout; each progress notification from the downstream restarts it.
      timeout: downstream.config.call_timeout,
      resetTimeoutOnProgress: true,
      // Always asked for, so downstream progress extends the timeout even when the client
      // gave no token; relayed only when it did.
      onprogress: (progress) => {
        if (progressToken === undefined) return;
        relayed = relayed.then(() => notifyProgress({ ...progress, progressToken })).catch(() => undefined);
      },
    };
    try {
      const result = await call(options);
      await relayed;
      return result;
    } catch (error) {
      throw this.toProtocolError(downstream, error, client);
    } finally {
      release();
    }
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
