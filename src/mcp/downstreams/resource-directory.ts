/**
 * The resources and resource templates a caller sees, and which server each URI they send
 * belongs to. A URI only one server offers is shown as that server gave it. Where several
 * servers list the same URI, or have templates one URI could match, or one server's template
 * matches a URI another lists, each of them is shown qualified: the server's name becomes the
 * URI's authority, the rest follows it (`ui://app/view` of `weather` is `ui://weather/app/view`).
 * So every resource stays reachable, the scheme is kept (MCP Apps look for `ui://`), and no
 * server receives a read meant for another.
 *
 * A URI the client sends is looked up in this order: a URI exactly one server lists; a qualified
 * URI whose server has it; a URI exactly one server's templates match. Anything else is unknown,
 * or ambiguous when several servers could own it.
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

/** The server and original URI of a qualified URI, if it names one of `servers`. */
function unqualifyUri(uri: string, servers: ReadonlyMap<string, Downstream>): { downstream: Downstream; uri: string } | undefined {
  const prefix = SCHEME.exec(uri)?.[0] ?? '';
  const rest = uri.slice(prefix.length);
  const slash = rest.indexOf('/');
  const downstream = slash > 0 ? servers.get(rest.slice(0, slash)) : undefined;
  return downstream && { downstream, uri: prefix + rest.slice(slash + 1) };
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

export class ResourceDirectory {
  /** What the caller lists, in server order then each server's own order. */
  readonly resources: Resource[] = [];
  readonly templates: ResourceTemplateType[] = [];
  private readonly servers = new Map<string, Downstream>();
  /** Exact URIs -> the servers listing them. */
  private readonly listedBy = new Map<string, Downstream[]>();
  /** `server\0uri` of every resource and template shown qualified. */
  private readonly qualified = new Set<string>();
  /** Client-facing template text -> its server and original text. */
  private readonly templateOwners = new Map<string, { downstream: Downstream; uriTemplate: string }>();

  constructor(
    downstreams: readonly Downstream[],
    private readonly matcher: (template: string) => UriMatcher,
  ) {
    for (const downstream of downstreams) {
      this.servers.set(downstream.name, downstream);
      for (const { uri } of downstream.catalog.resources) {
        const owners = this.listedBy.get(uri) ?? [];
        if (!owners.includes(downstream)) owners.push(downstream);
        this.listedBy.set(uri, owners);
      }
    }
    for (const downstream of downstreams) {
      const others = downstreams.filter((other) => other !== downstream);
      for (const resource of downstream.catalog.resources) {
        const shared = (this.listedBy.get(resource.uri)?.length ?? 0) > 1;
        this.resources.push(this.shown(downstream, resource, 'uri', shared));
      }
      for (const template of downstream.catalog.resourceTemplates) {
        const text = template.uriTemplate;
        const matches = this.matcher(text);
        const prefix = literalPrefix(text);
        const shared = others.some(
          (other) =>
            other.catalog.resourceTemplates.some(
              ({ uriTemplate: theirs }) => mayMeet(prefix, literalPrefix(theirs)) && templatesOverlap(text, theirs),
            ) || other.catalog.resources.some(({ uri }) => uri.startsWith(prefix) && matches(uri)),
        );
        const shown = this.shown(downstream, template, 'uriTemplate', shared);
        this.templates.push(shown);
        this.templateOwners.set(shown.uriTemplate, { downstream, uriTemplate: text });
      }
    }
  }

  /** An item as the caller sees it: qualified when `shared`, and remembered as such. */
  private shown<T extends { uri: string } | { uriTemplate: string }>(
    downstream: Downstream,
    item: T,
    key: keyof T & string,
    shared: boolean,
  ): T {
    if (!shared) return item;
    const original = item[key] as string;
    this.qualified.add(`${downstream.name}\u0000${original}`);
    return { ...item, [key]: qualifyUri(downstream.name, original) };
  }

  /** The server and original URI of a URI the client sent. */
  lookup(uri: string): Lookup {
    const listed = this.listedBy.get(uri);
    if (listed?.length === 1) return { downstream: listed[0] as Downstream, uri };
    const qualified = unqualifyUri(uri, this.servers);
    if (qualified && this.offers(qualified.downstream, qualified.uri)) return qualified;
    const owners = listed ?? [...this.servers.values()].filter((downstream) => this.templateOf(downstream, uri) !== undefined);
    if (owners.length === 1) return { downstream: owners[0] as Downstream, uri };
    if (owners.length === 0) return undefined;
    return { ambiguous: owners.map((downstream) => qualifyUri(downstream.name, uri)) };
  }

  /** How the caller knows `uri` of `server`: qualified where it is shown so, else unchanged. */
  clientUri(server: string, uri: string): string {
    const downstream = this.servers.get(server);
    if (!downstream) return uri;
    const listed = downstream.catalog.resources.some((resource) => resource.uri === uri);
    const key = listed ? uri : this.templateOf(downstream, uri);
    return key !== undefined && this.qualified.has(`${server}\u0000${key}`) ? qualifyUri(server, uri) : uri;
  }

  /** The server and original text of a template as the caller saw it listed. */
  templateOwner(uriTemplate: string): { downstream: Downstream; uriTemplate: string } | undefined {
    return this.templateOwners.get(uriTemplate);
  }

  private offers(downstream: Downstream, uri: string): boolean {
    return downstream.catalog.resources.some((resource) => resource.uri === uri) || this.templateOf(downstream, uri) !== undefined;
  }

  /** The first of the server's templates that `uri` matches. */
  private templateOf(downstream: Downstream, uri: string): string | undefined {
    return downstream.catalog.resourceTemplates.find((template) => this.matcher(template.uriTemplate)(uri))?.uriTemplate;
  }
}
