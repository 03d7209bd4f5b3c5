/**
 * Access rules (`allow` / `deny` on a server and on its tools): which groups may see and run
 * what. A tool's own rule, when it has one, replaces its server's; within a rule `deny` wins over
 * `allow`; an `allow` list admits only the groups it names (`allow = []`: nobody, and a caller
 * without a group is never named); a rule with neither admits everyone. Prompts and resources
 * follow the server's rule.
 */
import type { McpConfig } from '../../config/schema.js';

interface Rule {
  allow?: readonly string[];
  deny?: readonly string[];
}

interface ServerRules extends Rule {
  tools: Readonly<Record<string, Rule>>;
}

const hasRule = (rule: Rule | undefined): boolean => rule?.allow !== undefined || rule?.deny !== undefined;

function admits(rule: Rule, group: string | undefined): boolean {
  if (group !== undefined && rule.deny?.includes(group)) return false;
  if (rule.allow !== undefined) return group !== undefined && rule.allow.includes(group);
  return true;
}

/**
 * What one group may see: callers whose groups decide every rule alike share a view (and, in
 * the registry, one search index), named by `key`.
 */
export interface ToolView {
  key: string;
  tool(server: string, tool: string): boolean;
  /** The server's own rule: its prompts and resources, and tools without a rule of their own. */
  server(server: string): boolean;
  /** Whether the view may use anything of the server at all (its rule, or some tool's). */
  anything(server: string): boolean;
}

/** Everything visible: the view when no rule is configured. */
export const OPEN_VIEW: ToolView = { key: '*', tool: () => true, server: () => true, anything: () => true };

export class AccessPolicy {
  private readonly servers = new Map<string, ServerRules>();
  private readonly views = new Map<string | undefined, ToolView>();
  /** Whether any rule is configured; without one every caller has the open view. */
  readonly restricted: boolean;

  constructor(config: McpConfig) {
    for (const [name, server] of Object.entries(config.servers)) {
      this.servers.set(name, { allow: server.allow, deny: server.deny, tools: server.tools });
    }
    this.restricted = [...this.servers.values()].some(
      (rules) => hasRule(rules) || Object.values(rules.tools).some((rule) => hasRule(rule)),
    );
  }

  /** The view of a caller in `group` (undefined: a caller without one). */
  viewFor(group: string | undefined): ToolView {
    if (!this.restricted) return OPEN_VIEW;
    let view = this.views.get(group);
    if (!view) {
      view = {
        key: this.decisions(group),
        tool: (server, tool) => this.mayUseTool(group, server, tool),
        server: (server) => this.mayUseServer(group, server),
        anything: (server) =>
          this.mayUseServer(group, server) || this.ruledTools(server).some((tool) => this.mayUseTool(group, server, tool)),
      };
      this.views.set(group, view);
    }
    return view;
  }

  mayUseServer(group: string | undefined, server: string): boolean {
    const rules = this.servers.get(server);
    return !rules || admits(rules, group);
  }

  mayUseTool(group: string | undefined, server: string, tool: string): boolean {
    const rules = this.servers.get(server);
    if (!rules) return true;
    const own = rules.tools[tool];
    return admits(own && hasRule(own) ? own : rules, group);
  }

  /** Tools of `server` that have a rule of their own. */
  ruledTools(server: string): string[] {
    return Object.keys(this.servers.get(server)?.tools ?? {});
  }

  /** Tool rules of `server` that name none of `tools` (a typo, or a qualified name), to warn of. */
  unknownRuledTools(server: string, tools: readonly string[]): string[] {
    return this.ruledTools(server).filter((tool) => !tools.includes(tool));
  }

  /** Every rule's outcome for `group`, in a fixed order: equal strings mean equal views. */
  private decisions(group: string | undefined): string {
    const marks: string[] = [];
    for (const [name, rules] of this.servers) {
      marks.push(this.mayUseServer(group, name) ? '1' : '0');
      for (const tool of Object.keys(rules.tools)) marks.push(this.mayUseTool(group, name, tool) ? '1' : '0');
    }
    // A view that every rule admits sees what no rules would show: it shares the open view's key.
    return marks.includes('0') ? marks.join('') : OPEN_VIEW.key;
  }
}
