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

/** A key path and what is wrong there (or, for a warning, what nexus will do about it). */
export type Finding = [keyPath: string, problem: string];

/** Rules across tables that the schema cannot say: every problem, and every warning. */
function crossTableFindings(config: Config): { problems: Finding[]; warnings: Finding[] } {
  const warnings: Finding[] = [];
  for (const [name, downstream] of Object.entries(config.mcp.servers)) {
    // The original loads this: forwarding simply has no token to forward.
    if (downstream.kind === 'remote' && downstream.auth && 'type' in downstream.auth && !config.server.oauth) {
      warnings.push([
        `mcp.servers.${name}.auth.type`,
        'forwarding without [server.oauth] has no validated token to forward: the server gets none',
      ]);
    }
  }
  const identification = config.server.client_identification;
  if (identification?.enabled && !config.server.oauth) {
    for (const key of ['client_id', 'group_id'] as const) {
      if (identification[key] && 'jwt_claim' in identification[key]) {
        warnings.push([
          `server.client_identification.${key}.jwt_claim`,
          key === 'client_id'
            ? 'reading a token claim needs [server.oauth], which validates the token: without it no caller has a client id, and every request is refused (400)'
            : 'reading a token claim needs [server.oauth], which validates the token: without it no caller has a group',
        ]);
      }
    }
  }
  if (identification?.enabled && identification.group_id && identification.validation.group_values.length === 0) {
    warnings.push([
      'server.client_identification.validation.group_values',
      "not set: no rule or limit can name a group, so callers' groups are not read",
    ]);
  }
  const problems = [...clientIdentificationProblems(config), ...tokenLimitProblems(config)];
  const mcpServes = config.mcp.enabled && Object.keys(config.mcp.servers).length > 0;
  const llmServes = config.llm?.enabled === true && (Object.keys(config.llm.providers).length > 0 || config.llm.proxy.anthropic.enabled);
  // As the original refuses it: a nexus with nothing behind it is a config that lost its servers.
  if (!mcpServes && !llmServes) {
    problems.push([
      '',
      'nothing to serve: configure at least one [mcp.servers.<name>] or [llm.providers.<name>] (or enable [llm.proxy.anthropic])',
    ]);
  }
  for (const [name, protocol] of Object.entries(config.llm?.enabled ? config.llm.protocols : {})) {
    if (protocol.enabled && config.mcp.enabled && protocol.path === config.mcp.path) {
      problems.push([`llm.protocols.${name}.path`, 'the same path as mcp.path: give the LLM endpoint its own']);
    }
  }
  const proxy = config.llm?.enabled ? config.llm.proxy.anthropic : undefined;
  if (proxy?.enabled) {
    // Routes under one path would shadow the other's.
    const taken = [
      ...(config.mcp.enabled ? [['mcp.path', config.mcp.path]] : []),
      ...Object.entries(config.llm?.protocols ?? {}).flatMap(([name, protocol]) =>
        protocol.enabled ? [[`llm.protocols.${name}.path`, protocol.path]] : [],
      ),
    ];
    for (const [key, path] of taken) {
      if (overlaps(proxy.path, path as string))
        problems.push(['llm.proxy.anthropic.path', `overlaps ${key} ("${path}"): give the proxy a path of its own`]);
    }
  }
  if (config.server.rate_limits?.storage.type === 'redis') {
    // The Redis store expires windows in whole seconds.
    for (const [path, interval] of quotaIntervals(config)) {
      if (interval % 1000 !== 0) problems.push([path, 'with Redis storage, rate-limit intervals must be whole seconds']);
    }
  }
  return { problems, warnings };
}

const CREDENTIAL_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie']);

/**
 * Client identification needs the list of valid groups when it reads a group, and access rules
 * that name groups need identification with a group and name only valid groups. `allow = []`
 * names none: it shuts a server or tool for everyone.
 */
function clientIdentificationProblems(config: Config): Finding[] {
  const problems: Finding[] = [];
  const identification = config.server.client_identification;
  const on = identification?.enabled === true;
  for (const key of ['client_id', 'group_id'] as const) {
    const source = identification?.[key];
    if (source && 'http_header' in source && CREDENTIAL_HEADERS.has(source.http_header.toLowerCase())) {
      problems.push([
        `server.client_identification.${key}.http_header`,
        'must not be a credentials header: its value would be logged as an identity',
      ]);
    }
  }
  const groups = identification?.validation.group_values ?? [];
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
          problems.push([`${path}.${key}`, 'rules that name groups need [server.client_identification] enabled, with a group_id']);
          continue;
        }
        if (groups.length === 0) {
          problems.push(['server.client_identification.validation.group_values', `list the valid groups: ${path}.${key} names some`]);
          continue;
        }
        const unknown = named.find((group) => !groups.includes(group));
        if (unknown !== undefined)
          problems.push([`${path}.${key}`, `"${unknown}" is not in server.client_identification.validation.group_values`]);
      }
    }
  }
  return problems;
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
function tokenLimitProblems(config: Config): Finding[] {
  const problems: Finding[] = [];
  const identification = config.server.client_identification;
  for (const [path, limit] of tokenLimits(config)) {
    if (!identification?.enabled) {
      problems.push([path, 'token limits are per client: they need [server.client_identification] enabled']);
      continue;
    }
    const unknown = Object.keys(limit.groups).find((group) => !identification.validation.group_values.includes(group));
    if (unknown !== undefined)
      problems.push([`${path}.groups.${unknown}`, `"${unknown}" is not in server.client_identification.validation.group_values`]);
  }
  return problems;
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

function keyPath(path: readonly PropertyKey[]): string {
  return path.map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i === 0 ? '' : '.'}${String(part)}`)).join('');
}

/** Everything wrong with a config (a valid one has no problems), and what nexus will warn of at start. */
export interface ConfigCheck {
  config: Config | undefined;
  problems: Finding[];
  warnings: Finding[];
}

/** Validates an already-parsed TOML tree, finding every problem rather than the first. */
/** Whether one path is the other or lies under it, segment by segment. */
const overlaps = (a: string, b: string) => {
  const [x, y] = [a.replace(/\/+$/, ''), b.replace(/\/+$/, '')];
  return x === y || x.startsWith(`${y}/`) || y.startsWith(`${x}/`) || x === '' || y === '';
};

export function checkConfig(tree: unknown, env: NodeJS.ProcessEnv = process.env): ConfigCheck {
  let expanded: unknown;
  try {
    expanded = expandEnv(tree, env);
  } catch (error) {
    if (error instanceof UndefinedEnvError) return { config: undefined, problems: [[keyPath(error.path), error.message]], warnings: [] };
    throw error;
  }
  const result = configSchema.safeParse(expanded);
  if (!result.success) {
    const problems = result.error.issues.map((issue): Finding => {
      const { path, problem } = describeIssue(issue);
      return [keyPath(path), problem];
    });
    return { config: undefined, problems: problems.length > 0 ? problems : [['', 'invalid configuration']], warnings: [] };
  }
  const found = crossTableFindings(result.data);
  // One rule broken in several places is said once; a warning about a key that is also a problem is not.
  const problems = unique(found.problems);
  const warnings = unique(found.warnings).filter(([path]) => !problems.some(([problemPath]) => problemPath === path));
  return { config: problems.length === 0 ? deepFreeze(result.data) : undefined, problems, warnings };
}

function unique(findings: Finding[]): Finding[] {
  const seen = new Set<string>();
  return findings.filter(([path, problem]) => !seen.has(`${path}\u0000${problem}`) && Boolean(seen.add(`${path}\u0000${problem}`)));
}

/** What nexus warns of at start about a valid config (keys the original accepts that do less here). */
export function configWarnings(config: Config): Finding[] {
  return crossTableFindings(config).warnings;
}

/** Validates an already-parsed TOML tree; `file` is only used in error messages. Throws the first problem. */
export function parseConfig(tree: unknown, file: string, env: NodeJS.ProcessEnv = process.env): Config {
  const { config, problems } = checkConfig(tree, env);
  const [first] = problems;
  if (first || !config) throw new ConfigError(file, ...(first ?? ['', 'invalid configuration']));
  return config;
}

/** Reads, parses and validates the config file at `file`. */
export async function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  return parseConfig(await readConfigTree(file), file, env);
}

/** Reads and checks the config file at `file` (`nexus check`): every problem, and the warnings. */
export async function checkConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Promise<ConfigCheck> {
  try {
    return checkConfig(await readConfigTree(file), env);
  } catch (error) {
    if (error instanceof ConfigError) return { config: undefined, problems: [[error.keyPath, error.problem]], warnings: [] };
    throw error;
  }
}

/** The config file's TOML, parsed; a file that cannot be read or parsed is a ConfigError. */
async function readConfigTree(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const problem = code === 'ENOENT' ? 'config file not found' : `cannot read config file (${code ?? String(error)})`;
    throw new ConfigError(file, '', problem);
  }
  try {
    return parseToml(text);
  } catch (error) {
    if (error instanceof TomlError) {
      const reason = error.message.split('\n')[0] ?? 'invalid TOML';
      throw new ConfigError(file, '', `TOML syntax error at line ${error.line}, column ${error.column}: ${reason}`);
    }
    throw error;
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}
