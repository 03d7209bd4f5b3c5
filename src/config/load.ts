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
  if (config.server.rate_limits?.storage.type === 'redis') {
    // The Redis store expires windows in whole seconds.
    for (const [path, interval] of quotaIntervals(config)) {
      if (interval % 1000 !== 0) return [path, 'with Redis storage, rate-limit intervals must be whole seconds'];
    }
  }
  return undefined;
}

function quotaIntervals(config: Config): [string, number][] {
  const limits = config.server.rate_limits;
  const out: [string, number][] = [];
  if (limits?.global) out.push(['server.rate_limits.global.interval', limits.global.interval]);
  if (limits?.per_ip) out.push(['server.rate_limits.per_ip.interval', limits.per_ip.interval]);
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
  return path
    .map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i === 0 ? '' : '.'}${String(part)}`))
    .join('');
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
