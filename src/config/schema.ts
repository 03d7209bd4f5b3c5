/**
 * The nexus.toml contract (SPEC §2) as zod schemas. Types everywhere else derive from these.
 * Every table is strict: an unknown key is an error, so a typo never silently disables a setting.
 */
import { z } from 'zod';
import { describeIssue } from './issues.js';
import { byteSize, duration, headerName, httpUrl, listenAddress, positiveInt, urlPath } from './primitives.js';
import { telemetrySection } from './telemetry-schema.js';

export { listenAddress, type ListenAddress } from './primitives.js';

/** The largest answer read from a downstream for one request, unless a server says otherwise. */
const DEFAULT_MAX_RESULT_SIZE = 32 * 2 ** 20;

/** `"*"` or a list of which each entry must be `what`: a value a browser could never send is a mistake. */
const allOrListOf = (entry: z.ZodString) => z.union([z.literal('*'), z.array(entry)], { error: 'expected "*" or a list of strings' });
/** An origin as browsers send it (`scheme://host[:port]`, no path), with `*` or `?` as globs; or "null". */
const corsOrigin = z
  .string()
  .regex(
    /^(null|[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/\s]+)$/,
    'must be an origin such as "https://app.example.com" (a scheme and host, no path)',
  );
const httpMethod = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be an HTTP method such as "POST"');
const quota = z.strictObject({ limit: positiveInt, interval: duration });

/**
 * Static headers for remote servers. The original's form is a list of rules
 * (`[[...headers]] rule = "insert"`); a plain `{ Name = "value" }` table is accepted too.
 */
const staticHeaders = z
  .union([z.record(headerName, z.string()), z.array(z.strictObject({ rule: z.literal('insert'), name: headerName, value: z.string() }))], {
    error: 'headers must be a table of strings or a list of { rule = "insert", name = "...", value = "..." }',
  })
  .transform((value) => (Array.isArray(value) ? Object.fromEntries(value.map((rule) => [rule.name, rule.value])) : value));

const serverRateLimit = z.strictObject({
  limit: positiveInt,
  interval: duration,
  tools: z.record(z.string(), quota).default({}),
});

/** Groups that may (`allow`) or may not (`deny`) use a server or tool; `allow = []` means nobody. */
const accessRule = {
  allow: z.array(z.string().min(1)).optional(),
  deny: z.array(z.string().min(1)).optional(),
};

/** Keys every server has, whatever its transport. */
const commonServerKeys = {
  rate_limits: serverRateLimit.optional(),
  ...accessRule,
  /** Per-tool access rules; a tool's rule replaces its server's. */
  tools: z.record(z.string().min(1), z.strictObject(accessRule)).default({}),
  /** How long one call may run without progress; a timed-out call is cancelled downstream. */
  call_timeout: duration.default(60_000),
  /** How long connecting (and listing) may take before the attempt counts as failed. */
  connect_timeout: duration.default(30_000),
  /** The largest message read from this server (`mcp.max_result_size` when absent). */
  max_result_size: byteSize.optional(),
  /** What this server's `roots/list` is answered with; when absent, the calling client answers it. */
  roots: z.array(z.string().regex(/^[A-Za-z][A-Za-z0-9+.-]*:/, 'must be a URI, e.g. file:///home/me/project')).optional(),
};

const stdioServer = z.strictObject({
  cmd: z
    .array(z.string())
    .min(1, 'cmd must not be empty: give at least the executable')
    .refine((cmd) => cmd[0] !== '', 'the executable (first element of cmd) must not be empty'),
  env: z.record(z.string(), z.string()).default({}),
  cwd: z.string().optional(),
  stderr: z
    .union([z.enum(['null', 'inherit', 'pipe']), z.strictObject({ file: z.string().min(1) })], {
      error: 'stderr must be "null", "inherit", "pipe" or { file = "path" }',
    })
    .default('null'),
  ...commonServerKeys,
});

const downstreamTls = z.strictObject({
  verify_certs: z.boolean().default(true),
  accept_invalid_hostnames: z.boolean().default(false),
  root_ca_cert_path: z.string().optional(),
  client_cert_path: z.string().optional(),
  client_key_path: z.string().optional(),
});

const remoteServer = z.strictObject({
  url: httpUrl,
  protocol: z.enum(['streamable-http', 'sse'], { error: 'invalid protocol: use "streamable-http" or "sse"' }).optional(),
  message_url: httpUrl.optional(),
  auth: z
    .union([z.strictObject({ token: z.string().min(1) }), z.strictObject({ type: z.literal('forward') })], {
      error: 'auth must be { token = "..." } or { type = "forward" }',
    })
    .optional(),
  tls: downstreamTls.optional(),
  headers: staticHeaders.default({}),
  ...commonServerKeys,
});

export type StdioServerConfig = z.output<typeof stdioServer> & { kind: 'stdio' };
export type RemoteServerConfig = z.output<typeof remoteServer> & { kind: 'remote' };
export type DownstreamConfig = StdioServerConfig | RemoteServerConfig;

/** A server table is stdio when it has `cmd`, remote when it has `url`. */
const downstream = z.unknown().transform((value, ctx): DownstreamConfig => {
  const table = value !== null && typeof value === 'object' && !Array.isArray(value) ? value : undefined;
  const isStdio = table !== undefined && 'cmd' in table;
  if (!isStdio && !(table !== undefined && 'url' in table)) {
    ctx.addIssue({ code: 'custom', message: 'a server needs either `cmd` (stdio) or `url` (remote)' });
    return z.NEVER;
  }
  const parsed = (isStdio ? stdioServer : remoteServer).safeParse(value);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const { path, problem } = describeIssue(issue);
      ctx.addIssue({ code: 'custom', message: problem, path });
    }
    return z.NEVER;
  }
  return { ...parsed.data, kind: isStdio ? 'stdio' : 'remote' } as DownstreamConfig;
});

const serverName = z
  .string()
  .regex(/^[A-Za-z0-9_-]+$/, 'server names may only use letters, digits, "_" and "-"')
  .refine((name) => !name.includes('__'), 'server names must not contain "__" (it separates server and tool)');

const redisStorage = z.strictObject({
  type: z.literal('redis'),
  url: z.string().regex(/^rediss?:\/\//, 'bad URL: must start with redis:// or rediss://'),
  key_prefix: z.string().default('nexus:rate_limit:'),
  response_timeout: duration.default(1000),
  connection_timeout: duration.default(5000),
  pool: z
    .strictObject({
      max_size: positiveInt.default(16),
      min_idle: z.number().int().nonnegative().default(0),
      timeout_create: duration.optional(),
      timeout_wait: duration.optional(),
      timeout_recycle: duration.optional(),
    })
    .prefault({}),
  tls: z
    .strictObject({
      enabled: z.boolean().default(false),
      insecure: z.boolean().default(false),
      ca_cert_path: z.string().optional(),
      client_cert_path: z.string().optional(),
      client_key_path: z.string().optional(),
    })
    .optional(),
});

/** Where a caller's id or group comes from: a claim of their validated token (dotted path) or a header. */
const identitySource = z
  .union(
    [
      // The original's configs may also say which it is, with `source` or `type` (kept for them only).
      z.strictObject({ jwt_claim: z.string().min(1), source: z.literal('jwt_claim').optional(), type: z.literal('jwt_claim').optional() }),
      z.strictObject({ http_header: headerName, source: z.literal('http_header').optional(), type: z.literal('http_header').optional() }),
    ],
    { error: 'expected { jwt_claim = "..." } or { http_header = "..." }' },
  )
  .transform((source): { jwt_claim: string } | { http_header: string } =>
    'jwt_claim' in source ? { jwt_claim: source.jwt_claim } : { http_header: source.http_header },
  );

const clientIdentification = z.strictObject({
  enabled: z.boolean().default(false),
  client_id: identitySource.default({ jwt_claim: 'sub' }),
  group_id: identitySource.optional(),
  validation: z.strictObject({ group_values: z.array(z.string().min(1)).default([]) }).prefault({}),
});

const serverSection = z.strictObject({
  listen_address: listenAddress.optional(),
  tls: z.strictObject({ certificate: z.string(), key: z.string() }).optional(),
  health: z
    .strictObject({
      enabled: z.boolean().default(true),
      path: urlPath.default('/health'),
      listen: listenAddress.optional(),
    })
    .prefault({}),
  cors: z
    .strictObject({
      allow_origins: allOrListOf(corsOrigin).optional(),
      allow_methods: allOrListOf(httpMethod).optional(),
      allow_headers: allOrListOf(headerName).optional(),
      expose_headers: allOrListOf(headerName).optional(),
      allow_credentials: z.boolean().default(false),
      max_age: duration.optional(),
      allow_private_network: z.boolean().default(false),
    })
    .superRefine((cors, ctx) => {
      // Browsers refuse credentials with a wildcard, so this table could never work.
      if (!cors.allow_credentials) return;
      for (const key of ['allow_origins', 'allow_headers', 'allow_methods', 'expose_headers'] as const) {
        if (cors[key] === '*') {
          ctx.addIssue({ code: 'custom', path: [key], message: '"*" cannot be combined with allow_credentials = true' });
        }
      }
    })
    .optional(),
  csrf: z
    .strictObject({
      enabled: z.boolean().default(false),
      header_name: headerName.default('X-Nexus-CSRF-Protection'),
    })
    .optional(),
  oauth: z
    .strictObject({
      url: httpUrl,
      poll_interval: duration.optional(),
      expected_issuer: z.string().optional(),
      expected_audience: z.union([z.string(), z.array(z.string())], { error: 'expected a string or a list of strings' }).optional(),
      protected_resource: z.strictObject({ resource: httpUrl, authorization_servers: z.array(httpUrl).default([]) }).optional(),
    })
    .optional(),
  rate_limits: z
    .strictObject({
      // A table with limits in it is meant to limit: it is on unless it says otherwise.
      enabled: z.boolean().default(true),
      global: quota.optional(),
      per_ip: quota.optional(),
      storage: z
        .union([z.strictObject({ type: z.literal('memory') }), redisStorage], {
          error: 'storage must be { type = "memory" } or { type = "redis", url = "redis://..." }',
        })
        .default({ type: 'memory' }),
    })
    .optional(),
  client_ip: z
    .strictObject({
      x_real_ip: z.boolean().default(false),
      x_forwarded_for_trusted_hops: positiveInt.optional(),
    })
    .optional(),
  client_identification: clientIdentification.optional(),
  /** What one client may hold or send: connections, slow requests, nesting. */
  limits: z
    .strictObject({
      max_connections: positiveInt.default(1024),
      max_connections_per_ip: positiveInt.default(256),
      read_header_timeout: duration.default(10_000),
      read_timeout: duration.default(60_000),
      idle_timeout: duration.default(60_000),
      send_timeout: duration.default(30_000),
      max_json_depth: positiveInt.default(64),
    })
    .refine((limits) => limits.read_header_timeout <= limits.read_timeout, {
      message: 'read_header_timeout must not be longer than read_timeout (the headers are part of the request)',
      path: ['read_header_timeout'],
    })
    .prefault({}),
});

/**
 * The optional semantic stage of `search`: an OpenAI-compatible embeddings endpoint whose
 * similarities are blended with the lexical score. Off unless configured.
 */
const searchEmbeddings = z.strictObject({
  /** Base URL: nexus posts to `{url}/embeddings` (e.g. https://api.openai.com/v1). */
  url: httpUrl,
  model: z.string().min(1, 'must not be empty'),
  api_key: z.string().min(1, 'must not be empty').optional(),
  /** Asks models that can shorten their vectors (text-embedding-3-*) for this many dimensions. */
  dimensions: positiveInt.optional(),
  /** Share of the semantic similarity in a result's score; the rest is the lexical score. */
  weight: z.number().min(0, 'must be between 0.0 and 1.0').max(1, 'must be between 0.0 and 1.0').default(0.5),
  /** How long a search waits for its query's embedding before answering lexically. */
  timeout: duration.default(1_000),
});

const mcpSection = z.strictObject({
  enabled: z.boolean().default(true),
  path: urlPath.default('/mcp'),
  enable_structured_content: z.boolean().default(true),
  /** What `tools/list` shows: `search` and `execute`, every downstream tool as `server__tool`, or both. */
  expose_tools: z.enum(['search', 'direct', 'both']).default('search'),
  search: z.strictObject({ embeddings: searchEmbeddings.optional() }).prefault({}),
  max_result_size: byteSize.default(DEFAULT_MAX_RESULT_SIZE),
  headers: staticHeaders.default({}),
  downstream_cache: z.strictObject({ max_size: positiveInt.default(1000), idle_timeout: duration.default(600_000) }).prefault({}),
  servers: z
    .record(serverName, downstream)
    .default({})
    .superRefine((servers, ctx) => {
      // `a` and `a_` would both make `a___x` (a's `_x`, or a_'s `x`).
      for (const name of Object.keys(servers)) {
        if (name.endsWith('_') && Object.hasOwn(servers, name.slice(0, -1))) {
          const other = name.slice(0, -1);
          ctx.addIssue({
            code: 'custom',
            path: [name],
            message: `servers '${other}' and '${name}' would give tools the same names ('${name}__x' is also '${other}' with '_x'); rename one`,
          });
        }
      }
    }),
  /** Where instances hand each other the answers of server-to-client requests (scale-out). */
  relay: z
    .strictObject({
      redis_url: z
        .string()
        .regex(/^rediss?:\/\//, 'bad URL: must start with redis:// or rediss://')
        .optional(),
    })
    .prefault({}),
});

const regex = z.string().refine((source) => {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}, 'must be a valid regular expression');

/** Header rules for LLM providers, as in the original: each rule does one thing to one header (or a pattern). */
const nameOrPattern = { name: z.string().min(1).optional(), pattern: regex.optional() };
const oneOf = (rule: { name?: string; pattern?: string }) => rule.name !== undefined || rule.pattern !== undefined;
const llmHeaderRule = z.discriminatedUnion(
  'rule',
  [
    z
      .strictObject({ rule: z.literal('forward'), ...nameOrPattern, default: z.string().optional(), rename: headerName.optional() })
      .refine(oneOf, 'give name or pattern'),
    z.strictObject({ rule: z.literal('insert'), name: headerName, value: z.string() }),
    z.strictObject({ rule: z.literal('remove'), ...nameOrPattern }).refine(oneOf, 'give name or pattern'),
    z.strictObject({ rule: z.literal('rename_duplicate'), name: headerName, default: z.string().optional(), rename: headerName }),
  ],
  { error: 'expected a header rule: forward, insert, remove or rename_duplicate' },
);

const tokenLimit = z.strictObject({
  input_token_limit: positiveInt,
  interval: duration,
  groups: z.record(z.string(), z.strictObject({ input_token_limit: positiveInt, interval: duration })).default({}),
});

const llmModel = z.strictObject({
  /** The provider's own id for this model, when the name clients use differs. */
  rename: z.string().min(1).optional(),
  rate_limits: z.strictObject({ per_user: tokenLimit }).optional(),
  /** Header rules for this model, applied after the provider's (so they win for the same header). */
  headers: z.array(llmHeaderRule).default([]),
  /** The most tokens an answer may take when the request does not say (the original's Bedrock key; any provider here). */
  max_tokens: positiveInt.optional(),
});

const llmProvider = z
  .strictObject({
    type: z.enum(['openai', 'anthropic', 'google', 'bedrock'], { error: 'type must be "openai", "anthropic", "google" or "bedrock"' }),
    api_key: z.string().min(1).optional(),
    base_url: httpUrl.optional(),
    forward_token: z.boolean().default(false),
    // An empty filter matches every model: it says nothing, so it is more likely a mistake.
    model_filter: regex.refine((source) => source !== '', 'must not be empty (leave it out to offer every model)').optional(),
    models: z.record(z.string().min(1), llmModel).default({}),
    headers: z.array(llmHeaderRule).default([]),
    rate_limits: z.strictObject({ per_user: tokenLimit }).optional(),
    // Bedrock: region and credentials (else the AWS default chain).
    region: z.string().min(1).optional(),
    access_key_id: z.string().min(1).optional(),
    secret_access_key: z.string().min(1).optional(),
    session_token: z.string().min(1).optional(),
    profile: z.string().min(1).optional(),
  })
  .superRefine((provider, ctx) => {
    const aws = ['region', 'access_key_id', 'secret_access_key', 'session_token', 'profile'] as const;
    if (provider.type !== 'bedrock') {
      for (const key of aws)
        if (provider[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `${key} is for bedrock providers only` });
    } else if ((provider.access_key_id === undefined) !== (provider.secret_access_key === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [provider.access_key_id === undefined ? 'access_key_id' : 'secret_access_key'],
        message: 'access_key_id and secret_access_key go together',
      });
    } else if (provider.session_token !== undefined && provider.access_key_id === undefined) {
      ctx.addIssue({ code: 'custom', path: ['session_token'], message: 'session_token needs access_key_id and secret_access_key' });
    }
  });

/** The name a provider is addressed by: the part of `provider/model` before the first slash. */
const providerName = z.string().regex(/^[A-Za-z0-9_-]+$/, 'a provider name may use only letters, digits, "_" and "-"');

const llmProtocol = (path: string, enabled: boolean) =>
  z.strictObject({ enabled: z.boolean().default(enabled), path: urlPath.default(path) }).prefault({});

const llmSection = z.strictObject({
  enabled: z.boolean().default(true),
  protocols: z
    .strictObject({ openai: llmProtocol('/llm/openai', true), anthropic: llmProtocol('/llm/anthropic', false) })
    .prefault({})
    .superRefine(({ openai, anthropic }, ctx) => {
      if (openai.enabled && anthropic.enabled && openai.path === anthropic.path) {
        ctx.addIssue({
          code: 'custom',
          path: ['anthropic', 'path'],
          message: `the same path as protocols.openai.path: give each protocol its own`,
        });
      }
    }),
  providers: z.record(providerName, llmProvider).default({}),
  // The original's plain pass-through to Anthropic's API, for clients with keys of their own.
  proxy: z
    .strictObject({
      anthropic: z
        .strictObject({
          enabled: z.boolean().default(false),
          path: urlPath.default('/proxy/anthropic'),
          /** Where requests go (ours; the original always sends them to Anthropic). */
          base_url: httpUrl.default('https://api.anthropic.com'),
        })
        .prefault({}),
    })
    .prefault({}),
});

export const configSchema = z.strictObject({
  server: serverSection.prefault({}),
  mcp: mcpSection.prefault({}),
  llm: llmSection.optional(),
  telemetry: telemetrySection.prefault({}),
});

export type Config = z.output<typeof configSchema>;
export type McpConfig = Config['mcp'];
export type EmbeddingsConfig = z.output<typeof searchEmbeddings>;
export type LlmConfig = NonNullable<Config['llm']>;
export type LlmProviderConfig = LlmConfig['providers'][string];
export type ServerConfig = Config['server'];
export type LimitsConfig = ServerConfig['limits'];
export type ClientIdentificationConfig = NonNullable<ServerConfig['client_identification']>;
export type IdentitySource = ClientIdentificationConfig['client_id'];
