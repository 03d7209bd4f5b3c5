/** Reads nexus.toml into a frozen, validated Config, or throws a ConfigError a user can act on. */
import { readFile } from 'node:fs/promises';
import { parse as parseToml, TomlError } from 'smol-toml';
import { expandEnv, UndefinedEnvError } from './env.js';
import { describeIssue } from './issues.js';
import { configSchema, type Config } from './schema.js';

/** A problem in the config file: names the file, the key path and the problem. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly keyPath: string,
    readonly problem: string,
  ) {
    super(`${file}: ${keyPath ? `${keyPath}: ` : ''}${problem}`);
    this.name = 'ConfigError';
  }
}

/** Rules across tables that the schema cannot say: returns [key path, problem]. */
function crossTableProblem(config: Config): [string, string] | undefined {
  for (const [name, downstream] of Object.entries(config.mcp.servers)) {
    if (downstream.kind === 'remote' && downstream.auth && 'type' in downstream.auth && !config.server.oauth) {
      return [`mcp.servers.${name}.auth.type`, 'forwarding needs [server.oauth], which validates the tokens it forwards'];
    }
  }
  const identityProblem = clientIdentificationProblem(config) ?? tokenLimitProblem(config);
  if (identityProblem) return identityProblem;
  if (config.server.rate_limits?.storage.type === 'redis') {
    // The Redis store expires windows in whole seconds.
    for (const [path, interval] of quotaIntervals(config)) {
      if (interval % 1000 !== 0) return [path, 'with Redis storage, rate-limit intervals must be whole seconds'];
    }
  }
  return undefined;
}

const CREDENTIAL_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie']);

/**
 * Client identification needs what it reads (a token claim needs OAuth; a group needs the list of
 * valid groups), and access rules that name groups need identification with a group and name
 * only valid groups. `allow = []` names none: it shuts a server or tool for everyone.
 */
function clientIdentificationProblem(config: Config): [string, string] | undefined {
  const identification = config.server.client_identification;
  const on = identification?.enabled === true;
  if (on && !config.server.oauth) {
    for (const key of ['client_id', 'group_id'] as const) {
      if (identification[key] && 'jwt_claim' in identification[key]) {
        return [
          `server.client_identification.${key}.jwt_claim`,
          'reading a token claim needs [server.oauth], which validates the token; or use http_header',
        ];
      }
    }
  }
  for (const key of ['client_id', 'group_id'] as const) {
    const source = identification?.[key];
    if (source && 'http_header' in source && CREDENTIAL_HEADERS.has(source.http_header.toLowerCase())) {
      return [
        `server.client_identification.${key}.http_header`,
        'must not be a credentials header: its value would be logged as an identity',
      ];
    }
  }
  const groups = identification?.validation.group_values ?? [];
  if (on && identification.group_id && groups.length === 0) {
    return ['server.client_identification.validation.group_values', 'list the valid groups: group_id is set'];
  }
  for (const [name, server] of Object.entries(config.mcp.servers)) {
    const rules: [string, { allow?: string[]; deny?: string[] }][] = [
      [`mcp.servers.${name}`, server],
      ...Object.entries(server.tools).map(([tool, rule]): [string, { allow?: string[]; deny?: string[] }] => [
        `mcp.servers.${name}.tools.${tool}`,
        rule,
      ]),
    ];
    for (const [path, rule] of rules) {
      for (const key of ['allow', 'deny'] as const) {
        const named = rule[key] ?? [];
        if (named.length === 0) continue;
        if (!on || !identification.group_id) {
          return [`${path}.${key}`, 'rules that name groups need [server.client_identification] enabled, with a group_id'];
        }
        const unknown = named.find((group) => !groups.includes(group));
        if (unknown !== undefined) return [`${path}.${key}`, `"${unknown}" is not in server.client_identification.validation.group_values`];
      }
    }
  }
  return undefined;
}

type TokenLimitConfig = { interval: number; groups: Record<string, { interval: number }> };

/** Every token limit of `[llm]`, with its key path. */
function tokenLimits(config: Config): [string, TokenLimitConfig][] {
  const out: [string, TokenLimitConfig][] = [];
  for (const [name, provider] of Object.entries(config.llm?.providers ?? {})) {
    if (provider.rate_limits) out.push([`llm.providers.${name}.rate_limits.per_user`, provider.rate_limits.per_user]);
    for (const [model, settings] of Object.entries(provider.models)) {
      if (settings.rate_limits) out.push([`llm.providers.${name}.models.${model}.rate_limits.per_user`, settings.rate_limits.per_user]);
    }
  }
  return out;
}

/** Token limits are per client: they need client identification, and name only its groups. */
function tokenLimitProblem(config: Config): [string, string] | undefined {
  const identification = config.server.client_identification;
  for (const [path, limit] of tokenLimits(config)) {
    if (!identification?.enabled) return [path, 'token limits are per client: they need [server.client_identification] enabled'];
    const unknown = Object.keys(limit.groups).find((group) => !identification.validation.group_values.includes(group));
    if (unknown !== undefined)
      return [`${path}.groups.${unknown}`, `"${unknown}" is not in server.client_identification.validation.group_values`];
  }
  return undefined;
}

function quotaIntervals(config: Config): [string, number][] {
  const limits = config.server.rate_limits;
  const out: [string, number][] = [];
  if (limits?.global) out.push(['server.rate_limits.global.interval', limits.global.interval]);
  if (limits?.per_ip) out.push(['server.rate_limits.per_ip.interval', limits.per_ip.interval]);
  for (const [path, limit] of tokenLimits(config)) {
    out.push([`${path}.interval`, limit.interval]);
    for (const [group, quota] of Object.entries(limit.groups)) out.push([`${path}.groups.${group}.interval`, quota.interval]);
  }
  for (const [name, server] of Object.entries(config.mcp.servers)) {
    if (!server.rate_limits) continue;
    out.push([`mcp.servers.${name}.rate_limits.interval`, server.rate_limits.interval]);
    for (const [tool, quota] of Object.entries(server.rate_limits.tools)) {
      out.push([`mcp.servers.${name}.rate_limits.tools.${tool}.interval`, quota.interval]);
    }
  }
  return out;
}

export function keyPath(path: readonly PropertyKey[]): string {
  return path.map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i === 0 ? '' : '.'}${String(part)}`)).join('');
}

/** Validates an already-parsed TOML tree; `file` is only used in error messages. */
export function parseConfig(tree: unknown, file: string, env: NodeJS.ProcessEnv = process.env): Config {
  let expanded: unknown;
  try {
    expanded = expandEnv(tree, env);
  } catch (error) {
    if (error instanceof UndefinedEnvError) throw new ConfigError(file, keyPath(error.path), error.message);
    throw error;
  }
  const result = configSchema.safeParse(expanded);
  if (!result.success) {
    const issue = result.error.issues[0];
    if (!issue) throw new ConfigError(file, '', 'invalid configuration');
    const { path, problem } = describeIssue(issue);
    throw new ConfigError(file, keyPath(path), problem);
  }
  const problem = crossTableProblem(result.data);
  if (problem) throw new ConfigError(file, ...problem);
  return deepFreeze(result.data);
}

/** Reads, parses and validates the config file at `file`. */
export async function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const problem = code === 'ENOENT' ? 'config file not found' : `cannot read config file (${code ?? String(error)})`;
    throw new ConfigError(file, '', problem);
  }
  let tree: unknown;
  try {
    tree = parseToml(text);
  } catch (error) {
    if (error instanceof TomlError) {
      const reason = error.message.split('\n')[0] ?? 'invalid TOML';
      throw new ConfigError(file, '', `TOML syntax error at line ${error.line}, column ${error.column}: ${reason}`);
    }
    throw error;
  }
  return parseConfig(tree, file, env);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}
