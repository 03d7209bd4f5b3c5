/** Composes a running nexus from a Config: downstreams, gateway, HTTP app and listeners. */
import { readFileSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { createMcpHandler, type McpHttpHandler } from '@modelcontextprotocol/server';
import { Hono, type MiddlewareHandler } from 'hono';
import type { Config, LimitsConfig, ListenAddress } from './config/schema.js';
import type { AppEnv } from './http/app-env.js';
import { clientIdentification } from './http/client-identity.js';
import { clientIp } from './http/client-ip.js';
import { limitConnections, timeoutOptions, warnIfFewFiles } from './http/connections.js';
import { allowedOrigins, cors } from './http/cors.js';
import { csrf } from './http/csrf.js';
import { onAppError } from './http/errors.js';
import { mountHealth } from './http/health.js';
import { isLoopback, loopbackHostGuard, originGuard } from './http/host-guard.js';
import { ListenStreams } from './mcp/endpoint/listen-streams.js';
import { mountMcp } from './mcp/endpoint/route.js';
import { httpRateLimit } from './http/rate-limit.js';
import type { OAuthGuard } from './http/oauth.js';
import { redactingLogger, withAdditions, type Logger } from './log.js';
import { NO_TELEMETRY, startTelemetry, TelemetryConfigError, type Telemetry } from './telemetry/telemetry.js';
import { observeHttp } from './http/observe.js';
import { configuredSecrets } from './config/secrets.js';
import { Redactor } from './redact.js';
import { configWarnings } from './config/load.js';
import { DownstreamRegistry } from './mcp/downstreams/registry.js';
import { ExecuteLimits, type ServerRateLimits } from './ratelimit/execute-limits.js';
import { toQuota, type LimiterStore } from './ratelimit/limiter.js';
import { Gateway } from './mcp/gateway.js';
import { LocalBus, redisBus, type RelayBus } from './mcp/relay/bus.js';
import { Relay } from './mcp/relay/relay.js';
import { LlmRouter } from './llm/router.js';
import { mountAnthropicProxy } from './llm/anthropic-proxy.js';
import { LlmObserver } from './llm/observe.js';
import { hasTokenLimits, TokenLimits } from './llm/token-limits.js';

const DEFAULT_LISTEN_ADDRESS: ListenAddress = { host: '127.0.0.1', port: 8000 };
/** Each downstream's state, as JSON, behind the same auth as the MCP endpoint. */
const STATUS_PATH = '/status';
/** How long shutdown waits for in-flight requests before closing their connections. */
const SHUTDOWN_GRACE_MS = 5_000;
/**
 * How long MCP requests right after start wait for downstreams still connecting, so an early
 * client sees the servers that come up quickly; a slow server does not hold them longer.
 */
const DEFAULT_STARTUP_GRACE_MS = 5_000;

const DOWNSTREAM_STATES = ['connecting', 'ready', 'failed', 'restarting', 'closed'] as const;

export interface NexusOptions {
  logger: Logger;
  /** Beats `server.listen_address` (the CLI's --listen-address). */
  listenAddress?: ListenAddress;
  connectTimeoutMs?: number;
  startupGraceMs?: number;
  /** Least time between JWKS fetches caused by unknown key ids (tests shorten it). */
  jwksRefetchCooldownMs?: number;
  /** How often LLM providers' model lists are fetched again (tests shorten it). */
  llmDiscoveryIntervalMs?: number;
}

export interface RunningNexus {
  /** Base URL of the main listener, e.g. http://127.0.0.1:8000 */
  url: string;
  healthUrl: string | undefined;
  /** The Prometheus scrape endpoint (`telemetry.metrics.prometheus`), when enabled. */
  metricsUrl: string | undefined;
  registry: DownstreamRegistry;
  /** Resolves once every downstream has connected or failed for the first time. */
  ready: Promise<void>;
  close(): Promise<void>;
}

/**
 * A start-up failure outside the config file's syntax (an address in use, an unreadable
 * certificate): names where the setting came from, a config key path or a CLI flag. The CLI
 * reports it like a config error.
 */
export class StartupError extends Error {
  constructor(
    readonly source: string,
    message: string,
  ) {
    super(message);
  }
}

function listenFailure(address: ListenAddress, code: string | undefined, source: string): StartupError {
  const problem =
    code === 'EADDRINUSE'
      ? `address ${formatAddress(address)} is already in use`
      : `cannot listen on ${formatAddress(address)} (${code ?? 'unknown error'})`;
  return new StartupError(source, problem);
}

function formatAddress({ host, port }: ListenAddress): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The store for rate limits, when any are configured and not switched off. */
async function rateLimitStore(config: Config, logger: Logger, telemetry: Telemetry | undefined): Promise<LimiterStore | undefined> {
  const limits = config.server.rate_limits;
  if (limits?.enabled === false) return undefined;
  const anyServerLimits = Object.values(config.mcp.servers).some((server) => server.rate_limits);
  if (!limits?.global && !limits?.per_ip && !anyServerLimits && !hasTokenLimits(config.llm)) return undefined;
  const storage = limits?.storage ?? { type: 'memory' as const };
  // Loaded only when limits are on: the Redis client alone is several MiB of resident memory.
  const { memoryStore, redisStore } = await import('./ratelimit/stores.js');
  if (storage.type === 'memory') return memoryStore();
  try {
    return await redisStore(storage, logger, telemetry);
  } catch (error) {
    throw new StartupError('server.rate_limits.storage.url', (error as Error).message);
  }
}

/**
 * How instances hand each other relay traffic: Redis when `mcp.relay.redis_url` is set, or the
 * rate limits' Redis when they have one (instances that share limits are one deployment).
 */
async function relayBus(config: Config, logger: Logger): Promise<RelayBus> {
  const storage = config.server.rate_limits?.storage;
  const explicit = config.mcp.relay.redis_url;
  const redis =
    explicit !== undefined
      ? { url: explicit, tls: undefined, connection_timeout: 5_000, response_timeout: 1_000 }
      : storage?.type === 'redis'
        ? storage
        : undefined;
  if (redis === undefined) return new LocalBus();
  const { redisOptions } = await import('./ratelimit/stores.js');
  try {
    return await redisBus(redis.url, redisOptions(redis), logger);
  } catch (error) {
    throw new StartupError(config.mcp.relay.redis_url ? 'mcp.relay.redis_url' : 'server.rate_limits.storage.url', (error as Error).message);
  }
}

function serverRateLimits(config: Config): Map<string, ServerRateLimits> {
  return new Map(Object.entries(config.mcp.servers).flatMap(([name, server]) => (server.rate_limits ? [[name, server.rate_limits]] : [])));
}

export async function startNexus(config: Config, options: NexusOptions): Promise<RunningNexus> {
  // Nothing nexus logs (or exports) may hold a configured secret, whoever echoed it.
  const redactor = new Redactor(configuredSecrets(config));
  const telemetry = await startTelemetry(config.telemetry, redactingLogger(options.logger, redactor), redactor).catch((error: unknown) => {
    throw error instanceof TelemetryConfigError ? new StartupError(error.key, error.message) : error;
  });
  try {
    return await serve(config, options, redactor, telemetry);
  } catch (error) {
    // A start that fails after telemetry began leaves nothing of it running (its Prometheus listener included).
    await telemetry.shutdown();
    throw error;
  }
}

async function serve(config: Config, options: NexusOptions, redactor: Redactor, telemetry: Telemetry): Promise<RunningNexus> {
  const logger = redactingLogger(withAdditions(options.logger, telemetry.logging), redactor);
  // What the parts that measure are given: nothing at all when telemetry is off.
  const observed = telemetry === NO_TELEMETRY ? undefined : telemetry;
  // Keys the original accepts that do less here (nexus check lists them too).
  for (const [key, warning] of configWarnings(config)) logger.warn({ key }, warning);
  const store = await rateLimitStore(config, logger, observed);
  const executeLimits = store && new ExecuteLimits(serverRateLimits(config), store);
  const warnedServers = new Set<string>();
  const listen = options.listenAddress ?? config.server.listen_address ?? DEFAULT_LISTEN_ADDRESS;
  const health = config.server.health;
  const healthApart = health.enabled && health.listen !== undefined;

  const identification = config.server.client_identification;
  const listeners = new ListenStreams();
  const relay = new Relay(await relayBus(config, logger), logger);
  // Set once the MCP handler exists; list changes before that have no listener to tell.
  const modern: { notify?: McpHttpHandler['notify'] } = {};
  const registry = new DownstreamRegistry(config.mcp, {
    onListChanged: (list, server) => {
      // nexus's own tool list changes with the servers' only when it lists their tools.
      if (list === 'tools' && config.mcp.expose_tools === 'search') return;
      listeners.listChanged(list, server);
      if (list === 'tools') modern.notify?.toolsChanged();
      else if (list === 'prompts') modern.notify?.promptsChanged();
      else modern.notify?.resourcesChanged();
    },
    onLog: (server, params) => listeners.log(server, params),
    onResourceUpdated: (server, params) => {
      listeners.resourceUpdated(params, relay.subscriptions.of(server, params.uri));
      gateway.resourceUpdated(server, params.uri);
    },
    logger,
    redactor,
    connectTimeoutMs: options.connectTimeoutMs,
    groups: identification?.enabled ? identification.validation.group_values : [],
    telemetry: observed,
    onTools: (server, tools) => {
      if (warnedServers.has(server)) return;
      const unknownLimits = executeLimits?.unknownTools(server, tools) ?? [];
      const unknownRules = registry.policy.unknownRuledTools(server, tools);
      if (unknownLimits.length > 0)
        logger.warn({ server, tools: unknownLimits }, 'rate_limits.tools names tools this server does not have');
      // A rule on a misspelt (or server__tool qualified) name protects nothing: say so.
      if (unknownRules.length > 0) logger.warn({ server, tools: unknownRules }, 'access rules name tools this server does not have');
      if (unknownLimits.length > 0 || unknownRules.length > 0) warnedServers.add(server);
    },
  });
  // Each shared server's state, as a gauge per state (1 for the one it is in), for alerting on a server that is down.
  observed?.gauge('nexus.downstream.state', (report) => {
    for (const downstream of registry.all())
      for (const state of DOWNSTREAM_STATES)
        report(downstream.state.status === state ? 1 : 0, { 'mcp.server.name': downstream.name, state });
  });
  const tokenLimits = store && config.llm && hasTokenLimits(config.llm) ? new TokenLimits(config.llm, store) : undefined;
  const llm = config.llm?.enabled
    ? new LlmRouter(config.llm, logger, tokenLimits, {
        maxJsonDepth: config.server.limits.max_json_depth,
        redactor,
        observer: observed && new LlmObserver(observed),
      })
    : undefined;
  // Downstreams start connecting (and LLM providers are asked for their models) once the
  // listeners are up: a nexus that cannot bind starts nothing.
  let listening!: () => void;
  const ready = new Promise<void>((resolve) => (listening = resolve))
    .then(() => Promise.all([registry.start(), llm?.start(options.llmDiscoveryIntervalMs)]))
    .then(() => {
      const counts = registry.all().map((ds) => `${ds.name}=${ds.state.status}`);
      logger.info({ tools: registry.index.size, downstreams: counts.join(' ') }, 'downstreams connected');
    });
  const startupGrace = new Promise<void>((resolve) => setTimeout(resolve, options.startupGraceMs ?? DEFAULT_STARTUP_GRACE_MS).unref());
  const gateway = new Gateway({
    registry,
    enableStructuredContent: config.mcp.enable_structured_content,
    exposeTools: config.mcp.expose_tools,
    executeLimits,
    relay,
    telemetry: observed,
  });
  const handler = createMcpHandler(({ era }) => gateway.createServer(era), {
    legacy: 'stateless',
    onerror: (error) => logger.debug({ err: error.message }, 'mcp handler error'),
  });
  modern.notify = handler.notify;

  const oauth: OAuthGuard | undefined = config.server.oauth
    ? new (await import('./http/oauth.js')).OAuthGuard({
        config: config.server.oauth,
        logger,
        refetchCooldownMs: options.jwksRefetchCooldownMs,
      })
    : undefined;

  // Middleware order, as in the original: CORS -> CSRF -> auth -> client identity -> rate limits -> handler.
  const app = new Hono<AppEnv>();
  app.onError(onAppError(logger));
  const origins = allowedOrigins(config.server.cors, isLoopback(listen.host));
  app.use('*', cors(config.server.cors, origins));
  if (health.enabled && !healthApart) mountHealth(app, health.path);
  oauth?.mountMetadata(app, config.mcp.path);
  // The MCP endpoint, /status and the LLM routes share one chain: host and origin checks, CSRF,
  // auth, client identity, limits.
  const proxy = config.llm?.enabled && config.llm.proxy.anthropic.enabled ? config.llm.proxy.anthropic : undefined;
  const proxyRoutes = proxy && `${proxy.path}/*`;
  const guarded = [
    ...(config.mcp.enabled ? [config.mcp.path, STATUS_PATH] : []),
    ...(llm?.paths ?? []),
    ...(proxyRoutes ? [proxyRoutes] : []),
  ];
  if (guarded.length > 0) {
    const guard = (middleware: MiddlewareHandler<AppEnv>) => guarded.forEach((path) => app.use(path, middleware));
    if (observed) guard(observeHttp(observed));
    if (isLoopback(listen.host)) guard(loopbackHostGuard());
    guard(originGuard(origins));
    guard(clientIp(config.server.client_ip));
    if (config.server.csrf?.enabled) guard(csrf(config.server.csrf.header_name));
    // The Anthropic proxy takes nexus's token in Proxy-Authorization too: Authorization may be the client's Anthropic credential.
    if (oauth) guarded.forEach((path) => app.use(path, oauth.middleware({ proxyAuthorization: path === proxyRoutes })));
    if (identification?.enabled) guard(clientIdentification(identification, logger));
    const { global, per_ip: perIp } = config.server.rate_limits ?? {};
    if (store && (global || perIp)) {
      guard(
        httpRateLimit({
          global: global && store.limiter('global', toQuota(global)),
          perIp: perIp && store.limiter('per_ip', toQuota(perIp)),
        }),
      );
    }
  }
  llm?.mount(app);
  const anthropicProxy =
    proxy &&
    mountAnthropicProxy(app, {
      path: proxy.path,
      baseUrl: proxy.base_url,
      ownHeaders: [
        ...(config.server.csrf?.enabled ? [config.server.csrf.header_name] : []),
        ...[identification?.client_id, identification?.group_id].flatMap((source) =>
          source && 'http_header' in source ? [source.http_header] : [],
        ),
      ],
      logger,
      redactor,
    });
  if (config.mcp.enabled) {
    app.get(STATUS_PATH, (c) => c.json(registry.statusReport(registry.policy.viewFor(c.get('client')?.group))));
    mountMcp(app, {
      path: config.mcp.path,
      handler,
      ready: Promise.race([ready, startupGrace]),
      onCancelled: (caller, requestId, reason) => gateway.inFlight.cancel(caller, requestId, reason),
      maxJsonDepth: config.server.limits.max_json_depth,
      callTool: (name, args, context) => gateway.callTool(name, args, context),
      directTools: config.mcp.expose_tools !== 'search',
      relay,
      listeners,
      mayUse: (group, server) => registry.policy.viewFor(group).server(server),
      listenable: (uris, client) => gateway.listenable(uris, client),
      onListen: (uris, client, ended, tell) => gateway.listen(uris, client, ended, tell),
    });
  }

  const servers: HttpServer[] = [];
  const closeAll = async () => {
    oauth?.close();
    // GET streams only listen: they end at once rather than hold shutdown for its grace.
    listeners.close();
    await Promise.all(servers.map(closeGracefully));
    await handler.close();
    gateway.close();
    await relay.close();
    await registry.close();
    llm?.close();
    anthropicProxy?.close();
    await store?.close();
    await telemetry.shutdown();
  };
  try {
    const tls = readTls(config.server.tls);
    const limits = config.server.limits;
    warnIfFewFiles(limits, logger);
    servers.push(await listenOn(app, listen, options.listenAddress ? '--listen-address' : 'server.listen_address', tls, limits, logger));
    if (healthApart && health.listen) {
      const healthApp = new Hono<AppEnv>();
      mountHealth(healthApp, health.path);
      servers.push(await listenOn(healthApp, health.listen, 'server.health.listen', tls, limits, logger));
    }
  } catch (error) {
    await closeAll();
    throw error;
  }

  const [main, healthServer] = servers.map(urlOf);
  logger.info(
    { url: main, servers: registry.all().length, ...(telemetry.scrapeUrl && { metrics: telemetry.scrapeUrl }) },
    'nexus listening',
  );
  listening();
  return {
    url: main as string,
    healthUrl: health.enabled ? `${healthServer ?? main}${health.path}` : undefined,
    metricsUrl: telemetry.scrapeUrl,
    registry,
    ready,
    close: closeAll,
  };
}

/** PEM certificate and key for serving HTTPS, read once at start. */
interface TlsFiles {
  cert: Buffer;
  key: Buffer;
}

function readTls(tls: Config['server']['tls']): TlsFiles | undefined {
  if (!tls) return undefined;
  const read = (path: string, key: string) => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new StartupError(`server.tls.${key}`, `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    }
  };
  return { cert: read(tls.certificate, 'certificate'), key: read(tls.key, 'key') };
}

function listenOn(
  app: Hono<AppEnv>,
  address: ListenAddress,
  source: string,
  tls: TlsFiles | undefined,
  limits: LimitsConfig,
  logger: Logger,
): Promise<HttpServer> {
  const serverOptions = { ...timeoutOptions(limits), ...tls };
  const server = (
    tls
      ? createAdaptorServer({ fetch: app.fetch, createServer: createHttpsServer, serverOptions })
      : createAdaptorServer({ fetch: app.fetch, serverOptions })
  ) as HttpServer;
  limitConnections(server, limits, logger);
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(listenFailure(address, error.code, source)));
    server.listen(address.port, address.host, () => resolve(server));
  });
}

function urlOf(server: HttpServer): string {
  const { address, port } = server.address() as AddressInfo;
  const scheme = server instanceof HttpsServer ? 'https' : 'http';
  return `${scheme}://${address.includes(':') ? `[${address}]` : address}:${port}`;
}

/** Stops accepting, lets in-flight requests finish (bounded), then drops what is left. */
function closeGracefully(server: HttpServer): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    const timer = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}
