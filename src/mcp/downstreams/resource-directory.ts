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
export function qualifyUri(server: string, uri: string): string {
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

export type Lookup = ResourceOwner | { ambiguous: string[] } | undefined;

/** Steps the comparisons of one directory may take (about 20 ms); past them, what is left undecided is qualified. */
const BUILD_BUDGET = 2_000_000;
/** Rounds of qualifying what a qualified form now collides with; one or two settle any real lists. */
const MAX_ROUNDS = 4;

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
  /** Every server's items, in order. */
  private readonly items: Item[] = [];
  /** Exact URIs -> the servers listing them (for a helpful error when one URI is several servers'). */
  private readonly listedBy = new Map<string, Item[]>();
  private budget = BUILD_BUDGET;

  constructor(
    downstreams: readonly Downstream[],
    private readonly matcher: (template: string) => UriMatcher,
  ) {
    for (const downstream of downstreams) {
      for (const { uri } of downstream.catalog.resources) this.items.push(item(downstream, uri, false));
      for (const { uriTemplate } of downstream.catalog.resourceTemplates) this.items.push(item(downstream, uriTemplate, true));
    }
    // Qualify whatever another server could also answer for, then whatever now collides with a
    // qualified form (a server listing `ui://weather/x` beside weather's qualified `ui://x`).
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const colliding = this.items.filter((entry) => entry.shown === entry.original && this.collides(entry));
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
  }

  /** The server and original URI of a URI the client sent. */
  lookup(uri: string): Lookup {
    const listed = this.byShownUri.get(uri);
    if (listed) return { downstream: listed.downstream, uri: listed.original };
    const owners: ResourceOwner[] = [];
    for (const entry of this.byShownTemplate.values()) {
      if (!uri.startsWith(entry.prefix) || !this.matcher(entry.shown)(uri)) continue;
      const own = entry.shown === entry.original ? uri : unqualifyFor(entry.downstream.name, uri);
      if (own !== undefined && !owners.some((owner) => owner.downstream === entry.downstream))
        owners.push({ downstream: entry.downstream, uri: own });
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
    const entry =
      this.items.find((candidate) => candidate.downstream.name === server && !candidate.template && candidate.original === uri) ??
      this.items.find((candidate) => candidate.downstream.name === server && candidate.template && this.matcher(candidate.original)(uri));
    return entry && entry.shown !== entry.original ? qualifyUri(server, uri) : uri;
  }

  /** The server and original text of a template as the caller saw it listed. */
  templateOwner(uriTemplate: string): { downstream: Downstream; uriTemplate: string } | undefined {
    const entry = this.byShownTemplate.get(uriTemplate);
    return entry && { downstream: entry.downstream, uriTemplate: entry.original };
  }

  /** Whether another server's resource or template, as shown now, could be the same URI as `entry`. */
  private collides(entry: Item): boolean {
    return this.items.some((other) => {
      if (other.downstream === entry.downstream) return false;
      if (this.budget <= 0) return true;
      if (!entry.template && !other.template) return other.shown === entry.shown;
      if (entry.template && other.template) {
        if (!mayMeet(entry.prefix, other.prefix)) return false;
        this.budget -= (entry.shown.length + 1) * (other.shown.length + 1);
        return templatesOverlap(entry.shown, other.shown);
      }
      const [template, resource] = entry.template ? [entry, other] : [other, entry];
      if (!resource.shown.startsWith(template.prefix)) return false;
      this.budget -= resource.shown.length + template.shown.length;
      return this.matcher(template.shown)(resource.shown);
    });
  }

  /** Lists an item as the caller is shown it. */
  private show<T extends object>(entry: Item, original: T, key: 'uri' | 'uriTemplate', into: T[]): void {
    const index = entry.template ? this.byShownTemplate : this.byShownUri;
    // The same text twice from one server (or a collision left after every round): the first one shown wins.
    if (index.has(entry.shown)) return;
    index.set(entry.shown, entry);
    if (!entry.template) this.listedBy.set(entry.original, [...(this.listedBy.get(entry.original) ?? []), entry]);
    into.push(entry.shown === entry.original ? original : { ...original, [key]: entry.shown });
  }
}

function item(downstream: Downstream, original: string, template: boolean): Item {
  return { downstream, template, original, shown: original, prefix: literalPrefix(original) };
}
