/** One configured MCP server: its connection, its lists (tools, prompts, resources) and its state. */
import type {
  CallToolRequestParams,
  Client,
  CallToolResult,
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
import { redactUrls } from '../../redact.js';
import { NEXUS_VERSION } from '../../version.js';
import { DownstreamClient } from './client.js';
import { remoteTransport, stdioTransport, type OpenedTransport, type RemoteProtocol } from './transport.js';

export interface Catalog {
  tools: readonly Tool[];
  prompts: readonly Prompt[];
  resources: readonly Resource[];
  resourceTemplates: readonly ResourceTemplate[];
}

export const EMPTY_CATALOG: Catalog = Object.freeze({ tools: [], prompts: [], resources: [], resourceTemplates: [] });

export type DownstreamState =
  | { status: 'connecting' }
  | { status: 'ready' }
  | { status: 'failed'; reason: string }
  | { status: 'closed' };

export interface DownstreamOptions {
  connectTimeoutMs: number;
  globalHeaders: Readonly<Record<string, string>>;
  logger: Logger;
  /** For `auth.type = "forward"` servers: the caller's token this connection carries. */
  bearerToken?: string;
  /** Called whenever this server's catalog is replaced. */
  onCatalog: (downstream: Downstream) => void;
}

/** Thrown for calls to a server that is not connected; the gateway turns it into a JSON-RPC error. */
export class DownstreamUnavailableError extends Error {}

/** Pages of a list that a server may return before we call it broken. */
const MAX_LIST_PAGES = 1000;

interface Connection {
  client: Client;
  opened: OpenedTransport;
}

export class Downstream {
  state: DownstreamState = { status: 'connecting' };
  catalog: Catalog = EMPTY_CATALOG;
  private connection: Connection | undefined;
  /** The connect under way, if any; close() aborts and awaits it so no child is left behind. */
  private connecting: Promise<void> | undefined;
  private readonly stop = new AbortController();
  private readonly log: Logger;

  constructor(
    readonly name: string,
    readonly config: DownstreamConfig,
    private readonly options: DownstreamOptions,
  ) {
    this.log = options.logger.child({ server: name });
  }

  /** Connects and fetches the lists. Never throws: a failure is recorded in `state` and logged. */
  connect(): Promise<void> {
    this.connecting ??= this.tryProtocols().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  async callTool(params: CallToolRequestParams, options: RequestOptions): Promise<CallToolResult> {
    // The raw request, not client.callTool(): a gateway passes results through unchanged
    // instead of validating them against the tool's output schema.
    return this.client().request({ method: 'tools/call', params }, options) as Promise<CallToolResult>;
  }

  async getPrompt(params: GetPromptRequestParams, options: RequestOptions): Promise<GetPromptResult> {
    return this.client().getPrompt(params, options);
  }

  async readResource(params: ReadResourceRequestParams, options: RequestOptions): Promise<ReadResourceResult> {
    return this.client().readResource(params, { ...options, cacheMode: 'bypass' });
  }

  async close(): Promise<void> {
    this.state = { status: 'closed' };
    this.stop.abort();
    await this.connecting;
    const connection = this.connection;
    this.connection = undefined;
    if (connection) await this.closeConnection(connection);
  }

  /** The error for a call while this server is not ready. */
  unavailable(): DownstreamUnavailableError {
    const why = this.state.status === 'failed' ? `: ${this.state.reason}` : ` (${this.state.status})`;
    return new DownstreamUnavailableError(`server '${this.name}' is unavailable${why}`);
  }

  private client(): Client {
    if (this.state.status !== 'ready' || !this.connection) throw this.unavailable();
    return this.connection.client;
  }

  private async tryProtocols(): Promise<void> {
    this.state = { status: 'connecting' };
    const timeout = AbortSignal.timeout(this.options.connectTimeoutMs);
    const signal = AbortSignal.any([timeout, this.stop.signal]);
    const errors: string[] = [];
    for (const protocol of this.protocolsToTry()) {
      if (this.stop.signal.aborted) return;
      try {
        const { connection, catalog } = await this.connectWith(protocol, signal);
        if (this.stop.signal.aborted) return void (await this.closeConnection(connection));
        this.connection = connection;
        this.state = { status: 'ready' };
        this.setCatalog(catalog);
        this.log.info({ tools: catalog.tools.length, transport: protocol ?? 'stdio' }, 'downstream ready');
        return;
      } catch (error) {
        errors.push(`${protocol ?? 'stdio'}: ${timeout.aborted ? 'connect timed out' : describeError(error)}`);
      }
    }
    if (this.stop.signal.aborted) return;
    this.state = { status: 'failed', reason: errors.join('; ') };
    this.log.warn({ reason: this.state.reason }, 'downstream failed to connect; skipping it');
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
        ? stdioTransport(config)
        : remoteTransport(config, protocol ?? 'streamable-http', this.options.globalHeaders, this.options.bearerToken);
    const client = new DownstreamClient(
      { name: 'nexus', version: NEXUS_VERSION },
      {
        listMaxPages: MAX_LIST_PAGES,
        listChanged: {
          tools: { onChanged: (error, tools) => this.onListChanged(client, 'tools', error, tools) },
          prompts: { onChanged: (error, prompts) => this.onListChanged(client, 'prompts', error, prompts) },
          resources: { onChanged: (error, items) => this.onListChanged(client, 'resources', error, items) },
        },
      },
    );
    client.onerror = (error) => this.log.warn({ err: describeError(error) }, 'downstream transport error (skipped)');
    client.onclose = () => this.onClosed(client);
    const connection = { client, opened };
    try {
      await client.connect(opened.transport, { signal, timeout: this.options.connectTimeoutMs });
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
    const options = { signal, timeout: this.options.connectTimeoutMs, cacheMode: 'bypass' as const };
    const tools = capabilities.tools ? client.listTools(undefined, options).then((r) => r.tools) : [];
    const [prompts, resources, resourceTemplates] = await Promise.all([
      this.optionalList('prompts', capabilities.prompts, () => client.listPrompts(undefined, options).then((r) => r.prompts)),
      this.optionalList('resources', capabilities.resources, () => client.listResources(undefined, options).then((r) => r.resources)),
      this.resourceTemplates(client, capabilities.resources !== undefined, options),
    ]);
    return { tools: await tools, prompts, resources, resourceTemplates };
  }

  private resourceTemplates(
    client: Client,
    advertised: boolean,
    options: RequestOptions,
  ): Promise<Catalog['resourceTemplates']> {
    return this.optionalList('resource templates', advertised, () =>
      client.listResourceTemplates(undefined, { ...options, cacheMode: 'bypass' }).then((r) => r.resourceTemplates),
    );
  }

  private async optionalList<T>(kind: string, advertised: unknown, list: () => Promise<readonly T[]>): Promise<readonly T[]> {
    if (!advertised) return [];
    try {
      return await list();
    } catch (error) {
      this.log.warn({ err: describeError(error) }, `listing ${kind} failed; serving the server without them`);
      return [];
    }
  }

  private setCatalog(catalog: Catalog): void {
    this.catalog = catalog;
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
      void this.resourceTemplates(client, true, { timeout: this.options.connectTimeoutMs }).then((resourceTemplates) => {
        if (client === this.connection?.client) this.setCatalog({ ...this.catalog, resourceTemplates });
      });
    }
  }

  private onClosed(client: Client): void {
    if (client !== this.connection?.client || this.state.status !== 'ready') return;
    this.state = { status: 'failed', reason: 'connection closed' };
    this.log.warn('downstream connection closed');
  }

  private async closeConnection({ client, opened }: Connection): Promise<void> {
    try {
      await client.close();
    } catch (error) {
      this.log.debug({ err: String(error) }, 'error while closing downstream');
    } finally {
      await opened.release();
    }
  }
}

/** An error's message (and its cause's), with URLs stripped of credentials and queries. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return redactUrls(String(error));
  const cause = (error as { cause?: unknown }).cause;
  const text = cause instanceof Error && !error.message.includes(cause.message) ? `${error.message} (${cause.message})` : error.message;
  return redactUrls(text);
}
