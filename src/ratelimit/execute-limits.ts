/**
 * Limits on `execute`, per downstream server: a tool with its own entry in
 * `rate_limits.tools` counts against that limit only; every other tool of the server shares the
 * server's limit. Servers without `rate_limits` are not limited.
 */
import { toQuota, type Decision, type Limiter, type LimiterStore } from './limiter.js';

export interface ServerRateLimits {
  limit: number;
  interval: number;
  tools: Readonly<Record<string, { limit: number; interval: number }>>;
}

export class ExecuteLimits {
  private readonly servers = new Map<string, { shared: Limiter; tools: Map<string, Limiter> }>();

  constructor(limits: ReadonlyMap<string, ServerRateLimits>, store: LimiterStore) {
    for (const [server, config] of limits) {
      const tools = new Map(
        Object.entries(config.tools).map(([tool, quota]) => [tool, store.limiter(`tool:${server}:${tool}`, toQuota(quota))]),
      );
      const shared = store.limiter(`server:${server}`, toQuota(config));
      this.servers.set(server, { shared, tools });
    }
  }

  /** Counts one call; undefined when the server has no limits. */
  async check(server: string, tool: string): Promise<Decision | undefined> {
    const limits = this.servers.get(server);
    if (!limits) return undefined;
    return (limits.tools.get(tool) ?? limits.shared).consume(server);
  }

  /** Tools named in a server's limits that it does not have (worth a warning, not an error). */
  unknownTools(server: string, tools: readonly string[]): string[] {
    const have = new Set(tools);
    return [...(this.servers.get(server)?.tools.keys() ?? [])].filter((tool) => !have.has(tool));
  }
}
