/** One configured MCP server: its connection, its lists (tools, prompts, resources) and its state. */
import { ProtocolError, SdkError, SdkErrorCode, SdkHttpError } from '@modelcontextprotocol/client';
import { z } from 'zod';
import type {
  CallToolRequestParams,
  Client,
  CallToolResult,
  CompleteRequestParams,
  CompleteResult,
  GetPromptRequestParams,
  GetPromptResult,
  Prompt,
  ReadResourceRequestParams,
  ReadResourceResult,
  RequestOptions,
  Resource,
  ResourceTemplateType as ResourceTemplate,
  Tool,
} from '@modelcontextprotocol/client';
import type { DownstreamConfig } from '../../config/schema.js';
import type { Logger } from '../../log.js';
import { redactUrls, type Redactor } from '../../redact.js';
import { ThrottledWarnings } from '../../throttled-warnings.js';
import { NEXUS_VERSION } from '../../version.js';
import { nestedDeeperThan } from '../../json-depth.js';
import { BodyTooLargeError } from '../../net/body-limits.js';
import { isServerRequest, SERVER_REQUESTS, type CallPeer } from './call-peer.js';
import { DownstreamClient, unwrapTaskHandle } from './client.js';
import { RELATED_TASK, TASKS_EXTENSION, type TaskShape } from '../protocol/tasks.js';
import { failureKind, pingShowsSessionGone } from './failures.js';
import { tooLargeError } from './oversized.js';
import { observeRequest, peerOf, traceRequests, type Requested } from './observe-request.js';
import { remoteTransport } from './remote-transport.js';
import type { Attributes, Telemetry } from '../../telemetry/telemetry.js';
import { stdioTransport, type OpenedTransport, type RemoteProtocol } from './transport.js';

export interface Catalog {
  tools: readonly Tool[];
  prompts: readonly Prompt[];
  resources: readonly Resource[];
  resourceTemplates: readonly ResourceTemplate[];
}

export const EMPTY_CATALOG: Catalog = Object.freeze({ tools: [], prompts: [], resources: [], resourceTemplates: [] });

/**
 * `failed`: a connect attempt failed; `restarting`: a working connection was lost. Both are
 * retried at `retryAt` (ms since the epoch); `attempt` counts the failures in a row.
 */
export type DownstreamState =
  | { status: 'connecting'; attempt: number; /** why the previous attempt failed */ reason?: string }
  | { status: 'ready' }
  | { status: 'failed' | 'restarting'; reason: string; attempt: number; retryAt: number }
  | { status: 'closed' };

/** Retry delays: 0.5 s, doubling, capped at 30 s; a server up for a minute starts over. */
const BACKOFF = { firstMs: 500, maxMs: 30_000, resetAfterMs: 60_000 };

function backoffDelay(attempt: number): number {
  return Math.min(BACKOFF.firstMs * 2 ** (attempt - 1), BACKOFF.maxMs);
}

export interface DownstreamOptions {
  /** Overrides the server's `connect_timeout` (tests). */
  connectTimeoutMs?: number;
  /** `mcp.max_result_size`: the largest message read from a server that does not set its own. */
  defaultMaxResultBytes: number;
  /** Replaces nexus's secrets (and a forward server's caller token) in what this server says. */
  redactor: Redactor;
  globalHeaders: Readonly<Record<string, string>>;
  logger: Logger;
  /** For `auth.type = "forward"` servers: the caller's token this connection carries. */
  bearerToken?: string;
  /** Called whenever this server's catalog is replaced. */
  onCatalog: (downstream: Downstream) => void;
  /** Called when a working connection is lost (its tools cannot be called until it is back). */
  onLost?: (downstream: Downstream) => void;
  /** Spans and metrics of the requests sent, and of restarts; none when telemetry is off. */
  telemetry?: Telemetry;
  /** A log message the server sent outside any call it was serving (or when nexus cannot tell which). */
  onLog?: (downstream: Downstream, params: Record<string, unknown>) => void;
  /** The server says a resource it was subscribed to changed. */
  onResourceUpdated?: (downstream: Downstream, params: { uri: string } & Record<string, unknown>) => void;
}

/** A server's task, as 2025-11-25 tasks describe it (the fields nexus reads; the rest passes through). */
const CREATED_TASK = z.looseObject({ task: z.looseObject({ taskId: z.string(), status: z.string() }) });
const ANY_RESULT = z.looseObject({});
/** What nexus asks a server about one of its tasks (2026-era servers take `tasks/update`, 2025-era ones `tasks/result`). */
export type ServerTaskMethod = 'tasks/get' | 'tasks/result' | 'tasks/cancel' | 'tasks/update';

/**
 * The client capabilities nexus declares to every server: what it can relay to its own clients
 * (mcp/relay/), and tasks (mcp/tasks/), which it runs to their end for clients that take none.
 * A server asks only what the calling client can take; the relay refuses the rest.
 */
const RELAY_CAPABILITIES = {
  sampling: { tools: {} },
  elicitation: { form: {}, url: {} },
  roots: { listChanged: true },
  extensions: { [TASKS_EXTENSION]: {} },
};

/** How long after a call is cancelled nexus will not guess which call a server's request belongs to. */
const ABANDONED_GRACE_MS = 5_000;

/** The SDK's timeout for a request whose call_timeout nexus keeps itself (setTimeout's longest). */
export const NO_TIMEOUT = 2_147_483_647;

/** Why a call that ran out of `call_timeout` failed, as the SDK says it. */
export function timeoutError(timeout: number): SdkError {
  return new SdkError(SdkErrorCode.RequestTimeout, 'Request timed out', { timeout });
}

/** Thrown for calls to a server that is not connected; the gateway turns it into a JSON-RPC error. */
export class DownstreamUnavailableError extends Error {}

/**
 * A call that failed other than with a JSON-RPC error from the server (a timeout, an HTTP status,
 * a broken connection); its message says why, clipped and with secrets redacted.
 */
class DownstreamCallError extends Error {}

/** Pages of a list that a server may return before we call it broken. */
const MAX_LIST_PAGES = 1000;

interface Connection {
  client: DownstreamClient;
  opened: OpenedTransport;
  /** A ping under way to see whether the session survived an HTTP error status. */
  checking?: Promise<void>;
}

/** How deep an answer may nest: far beyond real data, well within what JSON.stringify can write. */
const MAX_ANSWER_DEPTH = 1_000;

/** How long the ping that checks a session after an HTTP error status may take. */
const SESSION_CHECK_MS = 5_000;

export class Downstream {
  state: DownstreamState = { status: 'connecting', attempt: 1 };
  catalog: Catalog = EMPTY_CATALOG;
  private connection: Connection | undefined;
  /** The connect under way, if any; close() aborts and awaits it so no child is left behind. */
  private connecting: Promise<void> | undefined;
  private readonly stop = new AbortController();
  /** This server's logger (it names the server, and keeps a forward server's caller token out). */
  readonly log: Logger;
  private readonly connectTimeoutMs: number;
  private readonly maxResultBytes: number;
  /** For what the server answers (a forward server may show its caller the caller's own token). */
  private readonly redactor: Redactor;
  /** For why things failed, which is logged too: a forward server's caller token is redacted here. */
  private readonly errorRedactor: Redactor;
  /** The transport of the current (or last) connection. */
  transport: RemoteProtocol | 'stdio' | undefined;
  /** Failures in a row, for the backoff. */
  private failures = 0;
  private readySince = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  /** The calls under way, for the requests and log messages the server sends while serving them. */
  private readonly peers = new Set<CallPeer>();
  /** Requests the server sent on a call's own stream, by their id: their call is known exactly. */
  private readonly related = new Map<string | number, CallPeer>();
  /** The calls waiting for a task's result, by the server's task id: a request naming the task (`related-task`) is theirs. */
  private readonly taskWaiters = new Map<string, CallPeer>();
  /** Where the server is, as span attributes (telemetry only). */
  private peerAttributes: Attributes | undefined;
  /** When a call was last cancelled or timed out (ms since the epoch). */
  private abandonedAt = 0;

  constructor(
    readonly name: string,
    readonly config: DownstreamConfig,
    private readonly options: DownstreamOptions,
  ) {
    this.log = options.logger.child({ server: name });
    this.connectTimeoutMs = options.connectTimeoutMs ?? config.connect_timeout;
    this.redactor = options.redactor;
    this.errorRedactor = options.bearerToken === undefined ? options.redactor : options.redactor.with([options.bearerToken]);
    this.maxResultBytes = config.max_result_size ?? options.defaultMaxResultBytes;
  }

  /**
   * Connects and fetches the lists; resolves after this attempt. Never throws: a failure is
   * recorded in `state`, logged, and retried with backoff until close().
   */
  connect(): Promise<void> {
    this.connecting ??= this.tryProtocols().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  /**
   * A 2026-era server may answer with an `input_required` result (InputRequiredResult) instead of
   * a result: it is returned as it is, for the gateway to pass on or fulfil.
   */
  async callTool(params: CallToolRequestParams, options: RequestOptions, peer?: CallPeer): Promise<CallToolResult> {
    // The raw request, not client.callTool(): a gateway passes results through unchanged
    // instead of validating them against the tool's output schema.
    return this.run(
      { method: 'tools/call', target: params.name },
      options,
      ({ client, opened }, guarded) =>
        opened.direct?.usableFor(params.name)
          ? (opened.direct.request('tools/call', params, guarded, peer && this.sameStream(peer)) as Promise<CallToolResult>)
          : client.request({ method: 'tools/call', params }, { ...guarded, allowInputRequired: true }).then(unwrapTaskHandle),
      peer,
    );
  }

  /**
   * How this server runs `tool` as a task (2025-11-25 tasks): `required`, `optional`, or
   * undefined when it does not (the tool says so, or the server offers no tasks for tool calls).
   */
  taskSupport(tool: Tool): 'required' | 'optional' | undefined {
    const support = tool.execution?.taskSupport;
    if (support !== 'required' && support !== 'optional') return undefined;
    return this.connection?.client.getServerCapabilities()?.tasks?.requests?.tools?.call ? support : undefined;
  }

  /** Whether nexus speaks 2026-07-28 with this server (whose tasks are then the extension's). */
  get modern(): boolean {
    return this.connection?.client.modern ?? false;
  }

  /** Starts `params` as a task on a 2025-era server; resolves with the task it created (its status, id, ttl). */
  async startTask(params: CallToolRequestParams, ttl: number | undefined, options: RequestOptions, peer?: CallPeer): Promise<TaskShape> {
    const task = ttl === undefined ? {} : { ttl };
    const created = await this.run(
      { method: 'tools/call', target: params.name },
      options,
      ({ client }, guarded) => client.request({ method: 'tools/call', params: { ...params, task } }, CREATED_TASK, guarded),
      peer,
    );
    return created.task;
  }

  /** A request about one of this server's tasks, its result as the server gave it. */
  async taskRequest(
    method: ServerTaskMethod,
    params: { taskId: string } & Record<string, unknown>,
    options: RequestOptions,
    peer?: CallPeer,
  ): Promise<Record<string, unknown>> {
    const waiting = method === 'tasks/result' && peer !== undefined && !this.taskWaiters.has(params.taskId);
    if (waiting) this.taskWaiters.set(params.taskId, peer);
    try {
      return await this.run({ method }, options, ({ client }, guarded) => client.request({ method, params }, ANY_RESULT, guarded), peer);
    } finally {
      if (waiting) this.taskWaiters.delete(params.taskId);
    }
  }

  async getPrompt(params: GetPromptRequestParams, options: RequestOptions, peer?: CallPeer): Promise<GetPromptResult> {
    return this.run(
      { method: 'prompts/get', target: params.name },
      options,
      ({ client }, guarded) => client.getPrompt(params, { ...guarded, allowInputRequired: true }),
      peer,
    );
  }

  async readResource(params: ReadResourceRequestParams, options: RequestOptions, peer?: CallPeer): Promise<ReadResourceResult> {
    return this.run(
      { method: 'resources/read', target: params.uri },
      options,
      ({ client }, guarded) => client.readResource(params, { ...guarded, cacheMode: 'bypass', allowInputRequired: true }),
      peer,
    );
  }

  /** Subscribes to (or unsubscribes from) a resource's updates; a no-op on a server that offers none. */
  async subscription(uri: string, subscribe: boolean, options: RequestOptions): Promise<void> {
    await this.run(
      { method: subscribe ? 'resources/subscribe' : 'resources/unsubscribe', target: uri },
      options,
      async ({ client }, guarded) => {
        if (!client.getServerCapabilities()?.resources?.subscribe) return;
        await (subscribe ? client.subscribeResource({ uri }, guarded) : client.unsubscribeResource({ uri }, guarded));
      },
    );
  }

  /** A completion of a prompt argument or resource template variable; none from a server that offers no completions. */
  async complete(params: CompleteRequestParams, options: RequestOptions): Promise<CompleteResult> {
    return this.run({ method: 'completion/complete' }, options, ({ client }, guarded) =>
      client.getServerCapabilities()?.completions
        ? client.request({ method: 'completion/complete', params }, guarded)
        : Promise.resolve({ completion: { values: [], hasMore: false } }),
    );
  }

  /**
   * What to do with a message that came on a call's own stream, besides its answer and progress:
   * a log message is the call's; a request is noted as the call's, then handled as any other.
   */
  private sameStream(peer: CallPeer): (message: { id?: unknown; method?: unknown; params?: unknown }) => boolean {
    return (message) => {
      if (message.method === 'notifications/message' && message.id === undefined) {
        peer.log(this.redactor.value((message.params ?? {}) as Record<string, unknown>));
        return true;
      }
      const { id, method } = message;
      if ((typeof id === 'string' || typeof id === 'number') && isServerRequest(method)) this.related.set(id, peer);
      return false;
    };
  }

  /** One request on the live connection, its progress messages redacted too, its outcome watched (and traced, with telemetry). */
  private run<T>(
    what: Requested,
    options: RequestOptions,
    request: (connection: Connection, options: RequestOptions) => Promise<T>,
    peer?: CallPeer,
  ): Promise<T> {
    const telemetry = this.options.telemetry;
    if (!telemetry) return this.runNow(options, request, peer);
    this.peerAttributes ??= peerOf(this.config);
    return observeRequest(telemetry, this.name, this.peerAttributes, what, () => this.runNow(options, request, peer));
  }

  private runNow<T>(
    options: RequestOptions,
    request: (connection: Connection, options: RequestOptions) => Promise<T>,
    peer?: CallPeer,
  ): Promise<T> {
    const connection = this.live();
    const { onprogress } = options;
    const guarded: RequestOptions =
      onprogress && this.redactor.active
        ? {
            ...options,
            onprogress: (progress) =>
              onprogress({ ...progress, ...(progress.message !== undefined && { message: this.redactor.text(progress.message) }) }),
          }
        : options;
    if (!peer) return this.watch(connection, request(connection, guarded), options);
    this.peers.add(peer);
    return this.watch(connection, request(connection, guarded), options).finally(() => {
      this.peers.delete(peer);
      for (const [id, owner] of this.related) if (owner === peer) this.related.delete(id);
      // Cancelled or timed out: the server may still be working on it, and ask for it later.
      if (options.signal?.aborted) this.abandonedAt = Date.now();
    });
  }

  /**
   * The call a request or log message that did not come on a call's own stream belongs to: the
   * only call under way, unless a call was abandoned moments ago (the server may still be serving
   * it, and what it sends may be for that call's client). Else why not.
   */
  private onlyCall(): CallPeer | string {
    if (this.peers.size !== 1) {
      return this.peers.size === 0
        ? 'no call is under way'
        : `${this.peers.size} calls are under way and the request did not come on the stream of one of them`;
    }
    if (Date.now() - this.abandonedAt < ABANDONED_GRACE_MS)
      return 'a call that may still be running on the server was cancelled moments ago';
    return this.peers.values().next().value as CallPeer;
  }

  /**
   * A request the server made of the client: `roots/list` from the server's `roots` when set, else
   * relayed to the client of the call it belongs to. Which call that is, the server's transport
   * tells when the request came on the call's own stream; otherwise it must be the only call
   * under way.
   */
  private async serverRequest(method: string, params: Record<string, unknown>, id: string | number, signal: AbortSignal) {
    const related = this.related.get(id);
    this.related.delete(id);
    if (method === 'roots/list' && this.config.roots) return { roots: this.config.roots.map((uri) => ({ uri })) };
    const peer = related ?? this.taskWaiter(params) ?? this.onlyCall();
    if (typeof peer === 'string')
      throw new ProtocolError(-32603, `nexus relays ${method} to the client of the call it belongs to, and ${peer}`);
    // What the server says reaches a client: nexus's secrets do not.
    return peer.ask(method, this.redactor.value(params), signal);
  }

  /** The call waiting for the task a message names (2025-11-25 tasks mark theirs `related-task`). */
  private taskWaiter(params: Record<string, unknown>): CallPeer | undefined {
    const related = (params['_meta'] as Record<string, { taskId?: unknown } | undefined> | undefined)?.[RELATED_TASK]?.taskId;
    return typeof related === 'string' ? this.taskWaiters.get(related) : undefined;
  }

  /** A log message outside a known call goes to listening clients; one during the only call (or about a task a call waits for), to its client. */
  private serverLog(params: Record<string, unknown>): void {
    const redacted = this.redactor.value(params);
    const peer = this.taskWaiter(params) ?? this.onlyCall();
    if (typeof peer === 'string') this.options.onLog?.(this, redacted);
    else peer.log(redacted);
  }

  async close(): Promise<void> {
    this.state = { status: 'closed' };
    clearTimeout(this.retryTimer);
    this.stop.abort();
    await this.connecting;
    const connection = this.connection;
    this.connection = undefined;
    if (connection) await this.closeConnection(connection);
  }

  /** The error for a call while this server is not ready: why, and when it is tried again. */
  unavailable(): DownstreamUnavailableError {
    const state = this.state;
    const why =
      state.status === 'failed' || state.status === 'restarting'
        ? `: ${state.reason}; retrying in ${Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000))} s (attempt ${state.attempt + 1})`
        : state.status === 'connecting' && state.reason
          ? `: ${state.reason}; connecting again now (attempt ${state.attempt})`
          : ` (${state.status})`;
    return new DownstreamUnavailableError(`server '${this.name}' is unavailable${why}`);
  }

  /**
   * Passes a call's outcome on. A lost connection starts a reconnect, if the call's connection is
   * still the current one (a late failure must not end its successor). An HTTP error status may be
   * about the call (a proxy's body limit) or about the session (a server that restarted answers
   * "not initialized"): a ping on the session tells which.
   */
  private async watch<T>(connection: Connection, call: Promise<T>, options: RequestOptions): Promise<T> {
    let result: T;
    try {
      result = await call;
    } catch (error) {
      if (connection === this.connection && !options.signal?.aborted) {
        const kind = failureKind(error);
        if (kind === 'lost') this.connectionLost(this.explain(error));
        else if (kind === 'check') this.checkSession(connection, this.explain(error));
      }
      throw this.callError(error);
    }
    // Relayed, an answer is serialised again, recursively: one nested past any real need fails here, clearly.
    if (nestedDeeperThan(result, MAX_ANSWER_DEPTH)) {
      throw new ProtocolError(-32603, `the answer of server '${this.name}' nests deeper than ${MAX_ANSWER_DEPTH} levels`, {
        server: this.name,
      });
    }
    return this.redactor.value(result);
  }

  /** A failed call's error as the gateway relays it: a JSON-RPC error as the server gave it, or why the call failed. */
  private callError(error: unknown): Error {
    if (error instanceof BodyTooLargeError) {
      const { code, message, data } = tooLargeError(this.name, error.limit);
      return new ProtocolError(code, message, data);
    }
    if (error instanceof ProtocolError)
      return new ProtocolError(error.code, this.redactor.text(error.message), this.redactor.value(error.data));
    return new DownstreamCallError(this.explain(error));
  }

  /**
   * Why a call or connect failed, fit to log and to tell a client: secrets redacted (a forward
   * server's caller token too) before the text is clipped, so no secret is ever cut in half.
   */
  private explain(error: unknown): string {
    const text = this.errorRedactor.text(errorText(error));
    return text.length > MAX_ERROR_TEXT ? `${text.slice(0, MAX_ERROR_TEXT)}…` : text;
  }

  /** Pings the session (one ping at a time); a ping that fails as a transport means it is gone. */
  private checkSession(connection: Connection, reason: string): void {
    if (connection.checking) return;
    connection.checking = connection.client
      .ping({ timeout: SESSION_CHECK_MS })
      .then(
        () => undefined,
        (error: unknown) => {
          if (pingShowsSessionGone(error) && connection === this.connection)
            this.connectionLost(`${reason}; then the session failed a ping`);
        },
      )
      .finally(() => (connection.checking = undefined));
  }

  /** A working connection is gone (child exited, server unreachable): reconnect with backoff. */
  private connectionLost(reason: string): void {
    if (this.state.status !== 'ready') return;
    const connection = this.connection;
    this.connection = undefined;
    if (connection) void this.closeConnection(connection);
    this.scheduleRetry('restarting', reason);
    this.options.telemetry?.record('nexus.downstream.restarts', 1, { 'mcp.server.name': this.name });
    this.options.onLost?.(this);
  }

  private scheduleRetry(status: 'failed' | 'restarting', reason: string): void {
    if (this.stop.signal.aborted) return;
    if (this.readySince && Date.now() - this.readySince >= BACKOFF.resetAfterMs) this.failures = 0;
    this.readySince = 0;
    this.failures++;
    const delay = backoffDelay(this.failures);
    this.state = { status, reason, attempt: this.failures, retryAt: Date.now() + delay };
    this.log.warn(
      { reason, attempt: this.failures, retry_in_ms: delay },
      status === 'failed' ? 'downstream failed; will retry' : 'downstream lost; will reconnect',
    );
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connect(), delay);
    this.retryTimer.unref();
  }

  private live(): Connection {
    if (this.state.status !== 'ready' || !this.connection) throw this.unavailable();
    return this.connection;
  }

  private async tryProtocols(): Promise<void> {
    const previous = this.state;
    const reason = previous.status === 'failed' || previous.status === 'restarting' ? previous.reason : undefined;
    this.state = { status: 'connecting', attempt: this.failures + 1, ...(reason ? { reason } : {}) };
    const timeout = AbortSignal.timeout(this.connectTimeoutMs);
    const signal = AbortSignal.any([timeout, this.stop.signal]);
    const errors: string[] = [];
    for (const protocol of this.protocolsToTry()) {
      if (this.stop.signal.aborted) return;
      try {
        const { connection, catalog } = await this.connectWith(protocol, signal);
        if (this.stop.signal.aborted) return void (await this.closeConnection(connection));
        this.connection = connection;
        this.transport = protocol ?? 'stdio';
        this.state = { status: 'ready' };
        this.readySince = Date.now();
        this.setCatalog(catalog);
        this.log.info({ tools: catalog.tools.length, transport: protocol ?? 'stdio' }, 'downstream ready');
        return;
      } catch (error) {
        errors.push(`${protocol ?? 'stdio'}: ${timeout.aborted ? 'connect timed out' : this.explain(error)}`);
      }
    }
    this.scheduleRetry('failed', errors.join('; '));
  }

  /** stdio has one way; a remote without `protocol` tries streamable HTTP, then SSE. */
  private protocolsToTry(): (RemoteProtocol | undefined)[] {
    const config = this.config;
    if (config.kind === 'stdio') return [undefined];
    if (config.protocol) return [config.protocol];
    return config.message_url ? ['sse'] : ['streamable-http', 'sse'];
  }

  /** Opens one connection and fetches its lists; on failure it closes what it opened. */
  private async connectWith(
    protocol: RemoteProtocol | undefined,
    signal: AbortSignal,
  ): Promise<{ connection: Connection; catalog: Catalog }> {
    const config = this.config;
    const opened =
      config.kind === 'stdio'
        ? stdioTransport(config, { server: this.name, logger: this.log, maxResultBytes: this.maxResultBytes })
        : remoteTransport(config, protocol ?? 'streamable-http', {
            globalHeaders: this.options.globalHeaders,
            bearerToken: this.options.bearerToken,
            server: this.name,
            maxResultBytes: this.maxResultBytes,
            logger: this.log,
          });
    const client = new DownstreamClient(
      { name: 'nexus', version: NEXUS_VERSION },
      {
        capabilities: RELAY_CAPABILITIES,
        // A remote server that speaks 2026-07-28 is spoken to in it: only then can a stateless
        // server ask its client anything (input_required rounds). stdio stays on the 2025 handshake.
        ...(config.kind === 'remote' && { versionNegotiation: { mode: 'auto' as const } }),
        listMaxPages: MAX_LIST_PAGES,
        listChanged: {
          // Tools are re-listed by us, leniently, as at connect (the SDK's refresh is strict).
          tools: {
            autoRefresh: false,
            onChanged: () =>
              void this.listTools(client, { timeout: this.connectTimeoutMs }).then(
                (tools) => this.onListChanged(client, 'tools', null, tools),
                (error: Error) => this.onListChanged(client, 'tools', error, null),
              ),
          },
          prompts: { onChanged: (error, prompts) => this.onListChanged(client, 'prompts', error, prompts) },
          resources: { onChanged: (error, items) => this.onListChanged(client, 'resources', error, items) },
        },
      },
    );
    // Rate-limited: a server can send stray messages (answers to nothing, unknown progress tokens) at will.
    const errors = new ThrottledWarnings(this.log, 'downstream transport errors');
    client.onerror = (error) => errors.warn({ err: this.explain(error) }, 'downstream transport error (skipped)');
    client.onclose = () => this.onClosed(client);
    for (const method of SERVER_REQUESTS) {
      client.setRequestHandler(
        method,
        (request, ctx) =>
          // The SDK checks the client's answer against the method's result schema.
          this.serverRequest(method, (request.params ?? {}) as Record<string, unknown>, ctx.mcpReq.id, ctx.mcpReq.signal) as Promise<never>,
      );
    }
    client.setNotificationHandler('notifications/message', (notification) => this.serverLog(notification.params));
    client.setNotificationHandler('notifications/resources/updated', (notification) =>
      this.options.onResourceUpdated?.(this, this.redactor.value(notification.params)),
    );
    if (opened.direct) opened.direct.envelope = () => client.outboundEnvelope();
    if (this.options.telemetry) traceRequests(opened.transport);
    const connection = { client, opened };
    try {
      await client.connect(opened.transport, { signal, timeout: this.connectTimeoutMs });
      return { connection, catalog: await this.fetchCatalog(client, signal) };
    } catch (error) {
      await this.closeConnection(connection);
      throw error;
    }
  }

  /**
   * Tools are required; prompts, resources and templates are optional extras, so a server
   * that advertises one but cannot list it keeps its tools (and we log what failed).
   */
  private async fetchCatalog(client: Client, signal: AbortSignal): Promise<Catalog> {
    const capabilities = client.getServerCapabilities() ?? {};
    const options = { signal, timeout: this.connectTimeoutMs, cacheMode: 'bypass' as const };
    // One Promise.all: a failing tools/list must not sit unhandled while the others finish.
    const [tools, prompts, resources, resourceTemplates] = await Promise.all([
      capabilities.tools ? this.listTools(client, options) : [],
      this.optionalList('prompts', capabilities.prompts, () => client.listPrompts(undefined, options).then((r) => r.prompts)),
      this.optionalList('resources', capabilities.resources, () => client.listResources(undefined, options).then((r) => r.resources)),
      this.resourceTemplates(client, capabilities.resources !== undefined, options),
    ]);
    return { tools, prompts, resources, resourceTemplates };
  }

  /**
   * Every page of tools/list, read leniently: a tool the index cannot use (no name, no object
   * schema) is skipped with a warning instead of failing the whole list, as the SDK would.
   */
  private async listTools(client: Client, options: RequestOptions): Promise<Tool[]> {
    const tools: Tool[] = [];
    const skipped: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_LIST_PAGES; page++) {
      const params = cursor === undefined ? {} : { cursor };
      const result = await client.request({ method: 'tools/list', params }, LENIENT_TOOLS_PAGE, options);
      for (const raw of result.tools) {
        const tool = usableTool(raw);
        if (tool) tools.push(tool);
        else skipped.push(typeof (raw as { name?: unknown })?.name === 'string' ? (raw as { name: string }).name : '(unnamed)');
      }
      cursor = result.nextCursor;
      if (cursor === undefined) break;
    }
    if (skipped.length > 0) this.log.warn({ tools: skipped }, 'skipped tools with a malformed definition');
    return tools;
  }

  private resourceTemplates(client: Client, advertised: boolean, options: RequestOptions): Promise<Catalog['resourceTemplates']> {
    return this.optionalList('resource templates', advertised, () =>
      client.listResourceTemplates(undefined, { ...options, cacheMode: 'bypass' }).then((r) => r.resourceTemplates),
    );
  }

  private async optionalList<T>(kind: string, advertised: unknown, list: () => Promise<readonly T[]>): Promise<readonly T[]> {
    if (!advertised) return [];
    try {
      return await list();
    } catch (error) {
      this.log.warn({ err: this.explain(error) }, `listing ${kind} failed; serving the server without them`);
      return [];
    }
  }

  private setCatalog(catalog: Catalog): void {
    this.catalog = this.redactor.value(catalog);
    this.options.onCatalog(this);
  }

  private onListChanged<K extends 'tools' | 'prompts' | 'resources'>(
    client: Client,
    kind: K,
    error: Error | null,
    items: Catalog[K] | null,
  ): void {
    if (client !== this.connection?.client) return;
    if (error || !items) {
      this.log.warn({ err: error?.message }, `refreshing ${kind} failed`);
      return;
    }
    this.log.info({ [kind]: items.length }, `${kind} list changed`);
    this.setCatalog({ ...this.catalog, [kind]: items });
    // Templates have no notification of their own: they change with the resources.
    if (kind === 'resources') {
      void this.resourceTemplates(client, true, { timeout: this.connectTimeoutMs }).then((resourceTemplates) => {
        if (client === this.connection?.client) this.setCatalog({ ...this.catalog, resourceTemplates });
      });
    }
  }

  private onClosed(client: Client): void {
    if (client === this.connection?.client) this.connectionLost('connection closed');
  }

  private async closeConnection({ client, opened }: Connection): Promise<void> {
    await opened.shutdown(() =>
      client.close().catch((error: unknown) => this.log.debug({ err: this.explain(error) }, 'error while closing downstream')),
    );
  }
}

const LENIENT_TOOLS_PAGE = z.looseObject({ tools: z.array(z.unknown()), nextCursor: z.string().optional() });

/** A listed tool as the gateway can use it, or undefined: it needs a name and an object schema. */
function usableTool(raw: unknown): Tool | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const tool = raw as Record<string, unknown>;
  const schema = tool['inputSchema'];
  if (typeof tool['name'] !== 'string' || tool['name'] === '') return undefined;
  if (schema === undefined) return { ...tool, inputSchema: { type: 'object' } } as Tool;
  if (schema === null || typeof schema !== 'object' || (schema as { type?: unknown }).type !== 'object') return undefined;
  return tool as Tool;
}

/** Room for an error text in a log line or a client's error (a server may answer an error with a whole page). */
const MAX_ERROR_TEXT = 500;

/** An error's message (and its cause's), with URLs stripped of credentials and queries. */
function errorText(error: unknown): string {
  if (error instanceof SdkHttpError) return httpErrorText(error);
  if (!(error instanceof Error)) return redactUrls(String(error));
  const cause = (error as { cause?: unknown }).cause;
  return redactUrls(
    cause instanceof Error && !error.message.includes(cause.message) ? `${error.message} (${cause.message})` : error.message,
  );
}

/** An HTTP error status as the server gave it: the status, and what it said. */
function httpErrorText(error: SdkHttpError): string {
  const said = typeof error.data.text === 'string' ? error.data.text.trim() : '';
  return redactUrls(`the server answered HTTP ${error.status}${error.statusText ? ` ${error.statusText}` : ''}${said ? `: ${said}` : ''}`);
}
