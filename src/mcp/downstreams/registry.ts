/**
 * Owns every downstream and the catalog built from them: the tool index, prompts by
 * `server__prompt`, and resources by URI. Created once per nexus and handed to the gateway.
 */
import type { Prompt, Tool } from '@modelcontextprotocol/client';
import type { McpConfig, RemoteServerConfig } from '../../config/schema.js';
import type { Logger } from '../../log.js';
import type { Redactor } from '../../redact.js';
import { AccessPolicy, OPEN_VIEW, type ToolView } from '../access/policy.js';
import { EmbeddingsClient } from '../search/embeddings-client.js';
import { hybridSearch, type SemanticStage } from '../search/hybrid.js';
import { SemanticIndex } from '../search/semantic-index.js';
import { ToolIndex, type SearchResult } from '../search/tool-index.js';
import { Downstream, EMPTY_CATALOG, type Catalog } from './downstream.js';
import type { Telemetry } from '../../telemetry/telemetry.js';
import { ForwardedSessions } from './forwarded.js';
import { ResourceDirectory } from './resource-directory.js';
import { compileUriTemplate, type UriMatcher } from './uri-template.js';

/** One server as /status shows it. */
interface ServerStatus {
  name: string;
  status: string;
  transport?: string;
  tools: number;
  reason?: string;
  attempt?: number;
  retry_in_ms?: number;
}

export interface StatusReport {
  /** `ok` when every shared server is ready. */
  status: 'ok' | 'degraded';
  servers: ServerStatus[];
  /** `auth.type = "forward"` servers, connected per caller, and how many callers are connected. */
  forwarded: { servers: string[]; sessions: number };
}

export interface RegistryOptions {
  logger: Logger;
  /** Replaces nexus's secrets in what servers say. */
  redactor: Redactor;
  /** Overrides every server's `connect_timeout` (tests). */
  connectTimeoutMs?: number;
  /** Told each time a shared server's tool list is indexed. */
  onTools?: (server: string, tools: string[]) => void;
  /** The configured groups (`validation.group_values`): each gets its view ready from the start. */
  groups?: readonly string[];
  /** Told when the prompts or resources (with their templates) nexus shows have changed. */
  /** The list that changed, and for tools the server whose tools did (a listener that may not use it need not hear). */
  onListChanged?: (list: 'tools' | 'prompts' | 'resources', server?: string) => void;
  /** A log message a server sent outside any call nexus could tell it belonged to. */
  onLog?: (server: string, params: Record<string, unknown>) => void;
  /** A server says a resource changed that nexus subscribed to. */
  onResourceUpdated?: (server: string, params: { uri: string } & Record<string, unknown>) => void;
  /** Spans and metrics of the requests sent to servers; none when telemetry is off. */
  telemetry?: Telemetry;
}

/** Whether two lists of a server's tools are the same (a re-listing gives new objects). */
function sameTools(a: readonly Tool[], b: readonly Tool[]): boolean {
  return a.length === b.length && JSON.stringify(a) === JSON.stringify(b);
}

/** The tools `view` may use of those of `downstreams` that are up, named `server__tool`. */
export function directTools(downstreams: Iterable<Downstream>, view: ToolView): Tool[] {
  return [...downstreams]
    .filter((ds) => ds.state.status === 'ready')
    .flatMap((ds) =>
      ds.catalog.tools.filter((tool) => view.tool(ds.name, tool.name)).map((tool) => ({ ...tool, name: `${ds.name}__${tool.name}` })),
    );
}

export class DownstreamRegistry {
  /** Every tool of the shared servers. */
  readonly index = new ToolIndex();
  readonly policy: AccessPolicy;
  /** Embeddings of the shared servers' tools, when `[mcp.search.embeddings]` is configured. */
  private readonly semantic: SemanticStage | undefined;
  /**
   * With access rules, one index per distinct view, holding only the tools that view may use, so
   * a search never sees (or counts, or scores against) a tool its caller cannot run.
   */
  private readonly views = new Map<string, { view: ToolView; index: ToolIndex }>();
  /** Connections of `auth.type = "forward"` servers, per caller token; none without such servers. */
  readonly forwarded: ForwardedSessions | undefined;
  /** Every configured server's name, forward servers included. */
  readonly serverNames: readonly string[];
  private readonly downstreams = new Map<string, Downstream>();
  /** The tool list each server's index entries were built from. */
  private readonly indexedTools = new Map<string, Downstream['catalog']['tools']>();
  /** Compiled resource templates, by template text. */
  private readonly templates = new Map<string, UriMatcher>();
  private readonly onTools: RegistryOptions['onTools'];
  private readonly onListChanged: RegistryOptions['onListChanged'];
  /** Counts the changes of the tools listed directly: a page cursor names the list it is of. */
  toolsGeneration = 0;
  /** Servers whose connection was lost: their tools are out of the direct lists until they are back. */
  private readonly lost = new Set<string>();
  /** Each view's direct tools, built on first use and dropped when any server's tools change or it comes or goes. */
  private readonly directLists = new Map<string, Tool[]>();
  /** Each view's resources, built on first use and dropped when any server's resources change. */
  private readonly directories = new Map<string, ResourceDirectory>();
  /** The prompt and resource lists last announced, per server, to tell which changed. */
  private readonly announced = new Map<string, Pick<Catalog, 'prompts' | 'resources' | 'resourceTemplates'>>();

  constructor(config: McpConfig, options: RegistryOptions) {
    const connectTimeoutMs = options.connectTimeoutMs;
    this.onTools = options.onTools;
    this.onListChanged = options.onListChanged;
    this.policy = new AccessPolicy(config);
    const embeddings = config.search.embeddings;
    // With weight 0 the blend is lexical: no tool is sent anywhere.
    if (embeddings && embeddings.weight > 0) {
      const client = new EmbeddingsClient(embeddings, options.redactor);
      this.semantic = { index: new SemanticIndex(client, embeddings.timeout, options.logger), weight: embeddings.weight };
    }
    if (this.policy.restricted) {
      for (const group of [undefined, ...(options.groups ?? [])]) {
        const view = this.policy.viewFor(group);
        if (view.key !== OPEN_VIEW.key && !this.views.has(view.key)) this.views.set(view.key, { view, index: new ToolIndex() });
      }
    }
    const forward = new Map<string, RemoteServerConfig>();
    for (const [name, server] of Object.entries(config.servers)) {
      if (server.kind === 'remote' && server.auth && 'type' in server.auth) {
        forward.set(name, server);
        continue;
      }
      const downstream = new Downstream(name, server, {
        connectTimeoutMs,
        defaultMaxResultBytes: config.max_result_size,
        redactor: options.redactor,
        globalHeaders: config.headers,
        logger: options.logger,
        telemetry: options.telemetry,
        onCatalog: (changed) => {
          this.reindex(changed);
          this.announce(changed);
        },
        // Its tools cannot be called until it is back: they leave the lists of direct tools.
        onLost: (lost) => {
          this.lost.add(lost.name);
          if (lost.catalog.tools.length > 0) this.toolsChanged(lost.name);
        },
        onLog: (from, params) => options.onLog?.(from.name, params),
        onResourceUpdated: (from, params) => options.onResourceUpdated?.(from.name, params),
      });
      this.downstreams.set(name, downstream);
    }
    this.serverNames = Object.keys(config.servers);
    this.forwarded =
      forward.size === 0
        ? undefined
        : new ForwardedSessions(forward, {
            maxSize: config.downstream_cache.max_size,
            idleTimeoutMs: config.downstream_cache.idle_timeout,
            connectTimeoutMs,
            defaultMaxResultBytes: config.max_result_size,
            redactor: options.redactor,
            globalHeaders: config.headers,
            logger: options.logger,
            telemetry: options.telemetry,
            onToolsChanged: (server) => {
              this.toolsGeneration++;
              this.onListChanged?.('tools', server);
            },
          });
  }

  /**
   * Connects every downstream concurrently; one that fails is logged and skipped. Resolves
   * once each has connected or failed for the first time.
   */
  async start(): Promise<void> {
    await Promise.all(this.all().map((downstream) => downstream.connect()));
  }

  /** Tells listening clients which of a server's lists changed (a server coming up changes them all). */
  private announce({ name, catalog }: Downstream): void {
    const before = this.announced.get(name);
    this.announced.set(name, catalog);
    const changed = (list: 'prompts' | 'resources' | 'resourceTemplates') => (before?.[list] ?? EMPTY_CATALOG[list]) !== catalog[list];
    if (changed('prompts') && (before || catalog.prompts.length > 0)) this.onListChanged?.('prompts');
    if (changed('resources') || changed('resourceTemplates')) {
      this.directories.clear();
      if (before || catalog.resources.length + catalog.resourceTemplates.length > 0) this.onListChanged?.('resources');
    }
  }

  /** Re-indexes a server's tools when its tool list changed (not its prompts or resources), or it came up. */
  private reindex({ name, catalog }: Downstream): void {
    const before = this.indexedTools.get(name);
    const back = this.lost.delete(name);
    if (before === catalog.tools && !back) return;
    // The same tools again (a server re-listing them, or a catalog copied for another list's sake).
    const same = before !== undefined && sameTools(before, catalog.tools);
    if (back || !same) {
      if (catalog.tools.length > 0 || before !== undefined) this.toolsChanged(name);
      else this.directLists.clear();
    }
    this.indexedTools.set(name, catalog.tools);
    if (same) return;
    this.index.setServerTools(name, catalog.tools);
    this.semantic?.index.setServerTools(name, catalog.tools);
    for (const { view, index } of this.views.values()) {
      index.setServerTools(
        name,
        catalog.tools.filter((tool) => view.tool(name, tool.name)),
      );
    }
    this.onTools?.(
      name,
      catalog.tools.map((tool) => tool.name),
    );
  }

  /** A server's tools, as listed directly, changed: the lists are built again, and listeners told. */
  private toolsChanged(server: string): void {
    this.directLists.clear();
    this.toolsGeneration++;
    this.onListChanged?.('tools', server);
  }

  /** Tools still waiting for an embedding; undefined without `[mcp.search.embeddings]`. */
  get embeddingsPending(): number | undefined {
    return this.semantic?.index.pending;
  }

  /** `search` over the shared servers' tools that `view` may use: lexical, blended with embeddings when configured. */
  search(view: ToolView, keywords: readonly string[]): Promise<SearchResult[]> {
    return hybridSearch(this.indexFor(view), keywords, this.semantic);
  }

  /** The index a caller with `view` searches and executes from. */
  indexFor(view: ToolView): ToolIndex {
    if (view.key === OPEN_VIEW.key) return this.index;
    const found = this.views.get(view.key);
    if (!found) throw new Error(`no index for view ${view.key}`);
    return found.index;
  }

  get(name: string): Downstream | undefined {
    return this.downstreams.get(name);
  }

  all(): Downstream[] {
    return [...this.downstreams.values()];
  }

  /** The servers `view` may use (their prompts and resources follow the server's rule). */
  visible(view: ToolView): Downstream[] {
    return this.all().filter((ds) => view.server(ds.name));
  }

  /** Every prompt the servers last listed (a server that is down keeps its list), as `server__prompt`. */
  prompts(view: ToolView): Prompt[] {
    return this.visible(view).flatMap((ds) => ds.catalog.prompts.map((prompt) => ({ ...prompt, name: `${ds.name}__${prompt.name}` })));
  }

  /**
   * Every tool `view` may use of the servers that are up, as `server__tool` with the rest of its
   * definition: servers in config order, each server's tools in its own.
   */
  toolsFor(view: ToolView): Tool[] {
    let tools = this.directLists.get(view.key);
    if (!tools) {
      tools = directTools(this.visible(view), view);
      this.directLists.set(view.key, tools);
    }
    return tools;
  }

  /** The resources and templates `view` sees, and whose each URI is (resource-directory.ts). */
  resourcesFor(view: ToolView): ResourceDirectory {
    let directory = this.directories.get(view.key);
    if (!directory) this.directories.set(view.key, (directory = new ResourceDirectory(this.visible(view), (text) => this.matcher(text))));
    return directory;
  }

  private matcher(template: string): UriMatcher {
    let matcher = this.templates.get(template);
    if (!matcher) this.templates.set(template, (matcher = compileUriTemplate(template)));
    return matcher;
  }

  /** Each server `view` may use anything of, with the number of its tools that view may run. */
  statusReport(view: ToolView = OPEN_VIEW): StatusReport {
    const servers = this.all()
      .filter((ds) => view.anything(ds.name))
      .map((ds): ServerStatus => {
        const { state } = ds;
        const tools = ds.catalog.tools.filter((tool) => view.tool(ds.name, tool.name)).length;
        const entry: ServerStatus = { name: ds.name, status: state.status, transport: ds.transport, tools };
        if (state.status === 'failed' || state.status === 'restarting') {
          Object.assign(entry, { reason: state.reason, attempt: state.attempt, retry_in_ms: Math.max(0, state.retryAt - Date.now()) });
        } else if (state.status === 'connecting') {
          Object.assign(entry, { attempt: state.attempt, ...(state.reason ? { reason: state.reason } : {}) });
        }
        return entry;
      });
    const shared = new Set(this.downstreams.keys());
    return {
      status: servers.every((server) => server.status === 'ready') ? 'ok' : 'degraded',
      servers,
      forwarded: {
        servers: this.serverNames.filter((name) => !shared.has(name) && view.anything(name)),
        sessions: this.forwarded?.size ?? 0,
      },
    };
  }

  async close(): Promise<void> {
    this.semantic?.index.close();
    await Promise.all([...this.all().map((downstream) => downstream.close()), this.forwarded?.close()]);
  }
}
