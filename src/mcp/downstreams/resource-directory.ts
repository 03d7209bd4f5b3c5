/**
 * The resources and resource templates a caller sees, and which server each URI they send
 * belongs to. A URI only one server offers is shown as that server gave it. Where another
 * server could answer for the same URI (it lists it too, or has a template that matches it, or
 * two servers' templates could match one URI), each is shown qualified: the server's name
 * becomes the URI's authority, the rest follows it (`ui://app/view` of `weather` is
 * `ui://weather/app/view`); and so is anything that then collides with a qualified form. So no
 * two servers' shown resources and templates can name one URI: every resource stays reachable,
 * the scheme is kept (MCP Apps look for `ui://`), and no server receives a read meant for another.
 *
 * A URI the client sends goes to the server that shows it, or whose shown template matches it.
 */
import type { Resource, ResourceTemplateType } from '@modelcontextprotocol/client';
import type { Downstream } from './downstream.js';
import { templatesOverlap, type UriMatcher } from './uri-template.js';

/** A URI's scheme and the `//` of an authority, which the qualified form keeps in front. */
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:(\/\/)?/;

/** `uri` of `server` in qualified form: the server's name as the authority, the original rest after it. */
function qualifyUri(server: string, uri: string): string {
  const prefix = SCHEME.exec(uri)?.[0] ?? '';
  return `${prefix}${server}/${uri.slice(prefix.length)}`;
}

/** The original of `uri`, qualified for `server`; undefined if it is not. */
function unqualifyFor(server: string, uri: string): string | undefined {
  const prefix = SCHEME.exec(uri)?.[0] ?? '';
  return uri.startsWith(`${server}/`, prefix.length) ? prefix + uri.slice(prefix.length + server.length + 1) : undefined;
}

/** A template's text before its first expression: every URI it matches starts so. */
function literalPrefix(template: string): string {
  const brace = template.indexOf('{');
  return brace < 0 ? template : template.slice(0, brace);
}

/** Whether URIs starting with `a` and with `b` can be the same (a cheap test before the real one). */
function mayMeet(a: string, b: string): boolean {
  return a.startsWith(b) || b.startsWith(a);
}

export interface ResourceOwner {
  downstream: Downstream;
  /** The URI as the server knows it. */
  uri: string;
}

type Lookup = ResourceOwner | { ambiguous: string[] } | undefined;

/** Steps the comparisons of one directory may take (tens of milliseconds); past them, whatever is left is qualified. */
const BUILD_BUDGET = 2_000_000;

/** One resource or template of one server, and how the caller is shown it. */
interface Item {
  downstream: Downstream;
  template: boolean;
  original: string;
  shown: string;
  prefix: string;
}

export class ResourceDirectory {
  /** What the caller lists, in server order then each server's own order. */
  readonly resources: Resource[] = [];
  readonly templates: ResourceTemplateType[] = [];
  /** Resources by the URI the caller is shown. */
  private readonly byShownUri = new Map<string, Item>();
  /** Templates by the text the caller is shown. */
  private readonly byShownTemplate = new Map<string, Item>();
  /** Shown templates by their literal prefix, and the lengths those prefixes have (longest first), for lookups. */
  private readonly byPrefix = new Map<string, Item[]>();
  private prefixLengths: number[] = [];
  /** Each server's resources by their own URI, and its templates. */
  private readonly byServer = new Map<string, { resources: Map<string, Item>; templates: Item[] }>();
  /** Exact URIs -> the servers listing them (for a helpful error when one URI is several servers'). */
  private readonly listedBy = new Map<string, Item[]>();
  private readonly items: Item[] = [];
  private budget = BUILD_BUDGET;

  constructor(
    downstreams: readonly Downstream[],
    private readonly matcher: (template: string) => UriMatcher,
  ) {
    for (const downstream of downstreams) {
      for (const { uri } of downstream.catalog.resources) this.items.push(item(downstream, uri, false));
      for (const { uriTemplate } of downstream.catalog.resourceTemplates) this.items.push(item(downstream, uriTemplate, true));
    }
    // Qualify whatever another server could also answer for, then whatever collides with a
    // qualified form (a server listing `ui://weather/x` beside weather's qualified `ui://x`),
    // until nothing does. Qualified forms of two servers never collide (their authorities differ),
    // so each round qualifies something or is the last; a spent budget qualifies all that is left.
    for (;;) {
      const colliding = this.colliding();
      for (const entry of colliding) {
        entry.shown = qualifyUri(entry.downstream.name, entry.original);
        entry.prefix = literalPrefix(entry.shown);
      }
      if (colliding.length === 0) break;
    }
    let at = 0;
    for (const downstream of downstreams) {
      for (const resource of downstream.catalog.resources) this.show(this.items[at++] as Item, resource, 'uri', this.resources);
      for (const template of downstream.catalog.resourceTemplates)
        this.show(this.items[at++] as Item, template, 'uriTemplate', this.templates);
    }
    this.prefixLengths = [...new Set([...this.byPrefix.keys()].map((prefix) => prefix.length))].sort((a, b) => b - a);
  }

  /** The server and original URI of a URI the client sent. */
  lookup(uri: string): Lookup {
    const listed = this.byShownUri.get(uri);
    if (listed) return { downstream: listed.downstream, uri: listed.original };
    const owners: ResourceOwner[] = [];
    for (const length of this.prefixLengths) {
      if (length > uri.length) continue;
      for (const entry of this.byPrefix.get(uri.slice(0, length)) ?? []) {
        if (owners.some((owner) => owner.downstream === entry.downstream) || !this.matcher(entry.shown)(uri)) continue;
        const own = entry.shown === entry.original ? uri : unqualifyFor(entry.downstream.name, uri);
        if (own !== undefined) owners.push({ downstream: entry.downstream, uri: own });
      }
    }
    if (owners.length === 1) return owners[0];
    // A URI several servers list (or could answer for) is shown under each one's name.
    const choices =
      owners.length > 1
        ? owners.map(({ downstream }) => qualifyUri(downstream.name, uri))
        : (this.listedBy.get(uri) ?? []).map((entry) => entry.shown);
    return choices.length > 0 ? { ambiguous: choices } : undefined;
  }

  /** How the caller knows `uri` of `server`: qualified where it is shown so, else unchanged. */
  clientUri(server: string, uri: string): string {
    const own = this.byServer.get(server);
    const entry = own?.resources.get(uri) ?? own?.templates.find((template) => this.matcher(template.original)(uri));
    return entry && entry.shown !== entry.original ? qualifyUri(server, uri) : uri;
  }

  /** The server and original text of a template as the caller saw it listed. */
  templateOwner(uriTemplate: string): { downstream: Downstream; uriTemplate: string } | undefined {
    const entry = this.byShownTemplate.get(uriTemplate);
    return entry && { downstream: entry.downstream, uriTemplate: entry.original };
  }

  /** The items shown as their server gives them that another server's, as shown now, could be the same URI as. */
  private colliding(): Item[] {
    const resourceServers = new Map<string, Set<Downstream>>();
    const templates: Item[] = [];
    const resources: Item[] = [];
    for (const entry of this.items) {
      if (entry.template) templates.push(entry);
      else {
        resources.push(entry);
        resourceServers.set(entry.shown, (resourceServers.get(entry.shown) ?? new Set()).add(entry.downstream));
      }
    }
    this.budget -= this.items.length;
    return this.items.filter((entry) => {
      if (entry.shown !== entry.original) return false;
      if (this.budget <= 0) return true;
      if (!entry.template && (resourceServers.get(entry.shown)?.size ?? 0) > 1) return true;
      return entry.template
        ? templates.some((other) => this.overlapping(entry, other)) || resources.some((other) => this.matching(entry, other))
        : templates.some((other) => this.matching(other, entry));
    });
  }

  /** Whether two servers' templates could match one URI (charged to the budget). */
  private overlapping(entry: Item, other: Item): boolean {
    if (other.downstream === entry.downstream) return false;
    this.budget -= 1;
    if (!mayMeet(entry.prefix, other.prefix)) return false;
    this.budget -= (entry.shown.length + 1) * (other.shown.length + 1);
    return this.budget <= 0 || templatesOverlap(entry.shown, other.shown);
  }

  /** Whether a server's template matches another server's resource (charged to the budget). */
  private matching(template: Item, resource: Item): boolean {
    if (template.downstream === resource.downstream) return false;
    this.budget -= 1;
    if (!resource.shown.startsWith(template.prefix)) return false;
    this.budget -= resource.shown.length + template.shown.length;
    return this.budget <= 0 || this.matcher(template.shown)(resource.shown);
  }

  /** Lists an item as the caller is shown it; a server's second listing of the same text is left out. */
  private show<T extends object>(entry: Item, original: T, key: 'uri' | 'uriTemplate', into: T[]): void {
    const index = entry.template ? this.byShownTemplate : this.byShownUri;
    if (index.has(entry.shown)) return;
    index.set(entry.shown, entry);
    const own = this.byServer.get(entry.downstream.name) ?? { resources: new Map<string, Item>(), templates: [] };
    this.byServer.set(entry.downstream.name, own);
    if (entry.template) {
      own.templates.push(entry);
      pushTo(this.byPrefix, entry.prefix, entry);
    } else {
      own.resources.set(entry.original, entry);
      pushTo(this.listedBy, entry.original, entry);
    }
    into.push(entry.shown === entry.original ? original : { ...original, [key]: entry.shown });
  }
}

function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const values = map.get(key);
  if (values) values.push(value);
  else map.set(key, [value]);
}

function item(downstream: Downstream, original: string, template: boolean): Item {
  return { downstream, template, original, shown: original, prefix: literalPrefix(original) };
}
