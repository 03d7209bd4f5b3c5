/** Which server a resource URI belongs to when several servers could answer for it (resource-directory.ts). */
import { describe, expect, it } from 'vitest';
import type { Downstream } from '../src/mcp/downstreams/downstream.js';
import { ResourceDirectory } from '../src/mcp/downstreams/resource-directory.js';
import { compileUriTemplate } from '../src/mcp/downstreams/uri-template.js';

/** What a directory reads of a server: its name and lists. */
const server = (name: string, resources: string[], templates: string[] = []) =>
  ({
    name,
    catalog: {
      resources: resources.map((uri) => ({ uri, name: uri })),
      resourceTemplates: templates.map((uriTemplate) => ({ uriTemplate, name: uriTemplate })),
    },
  }) as unknown as Downstream;

const directory = (...servers: Downstream[]) => new ResourceDirectory(servers, compileUriTemplate);

/** `server:uri` of the owner, or what the lookup said instead. */
function owner(found: ResourceDirectory, uri: string): string {
  const lookup = found.lookup(uri);
  return lookup && 'downstream' in lookup ? `${lookup.downstream.name}:${lookup.uri}` : JSON.stringify(lookup);
}

describe('ResourceDirectory', () => {
  it('leaves URIs one server offers as they are, and qualifies those two offer', () => {
    const found = directory(server('a', ['x://notes/1', 'x://only-a']), server('b', ['x://notes/1']));
    expect(found.resources.map((resource) => resource.uri)).toEqual(['x://a/notes/1', 'x://only-a', 'x://b/notes/1']);
    expect(owner(found, 'x://only-a')).toBe('a:x://only-a');
    expect(owner(found, 'x://b/notes/1')).toBe('b:x://notes/1');
    expect(found.lookup('x://notes/1')).toEqual({ ambiguous: ['x://a/notes/1', 'x://b/notes/1'] });
  });

  it("lets no server take another's qualified URI by listing it as its own", () => {
    const found = directory(server('a', ['x://notes/1']), server('b', ['x://notes/1']), server('evil', ['x://a/notes/1']));
    const shown = found.resources.map((resource) => resource.uri);
    expect(new Set(shown).size).toBe(shown.length);
    expect(owner(found, 'x://a/notes/1')).toBe('a:x://notes/1');
    expect(owner(found, 'x://evil/a/notes/1')).toBe('evil:x://a/notes/1');
  });

  it("sends a URI only its shown template matches to that template's server, whatever server its host is named like", () => {
    const found = directory(server('weather', [], ['ui://app/{view}']), server('app', ['ui://settings']));
    expect(owner(found, 'ui://app/settings')).toBe('weather:ui://app/settings');
    expect(owner(found, 'ui://settings')).toBe('app:ui://settings');
  });

  it("qualifies a template another server's resource or template could collide with, and both sides", () => {
    const found = directory(server('files', [], ['file:///{+path}']), server('logs', ['file:///var/log/x'], ['file:///logs/{name}']));
    expect(found.templates.map((template) => template.uriTemplate)).toEqual(['file://files//{+path}', 'file://logs//logs/{name}']);
    expect(found.resources.map((resource) => resource.uri)).toEqual(['file://logs//var/log/x']);
    expect(owner(found, 'file://files//etc/hosts')).toBe('files:file:///etc/hosts');
    expect(owner(found, 'file://logs//logs/today')).toBe('logs:file:///logs/today');
    expect(found.templateOwner('file://logs//logs/{name}')).toMatchObject({ uriTemplate: 'file:///logs/{name}' });
    expect(found.clientUri('logs', 'file:///logs/today')).toBe('file://logs//logs/today');
  });

  it('qualifies as many rounds as collisions with qualified forms take, listing and routing every resource', () => {
    // a and b share x://p; c lists a's qualified form; a lists c's; and so on, five rounds deep.
    const a = server('a', ['x://p', 'x://c/a/p', 'x://c/a/c/a/p'], ['x://c/a/c/a/{id}']);
    const found = directory(a, server('b', ['x://p']), server('c', ['x://a/p', 'x://a/c/a/p']));
    const shown = [...found.resources.map((resource) => resource.uri), ...found.templates.map((template) => template.uriTemplate)];
    expect(shown).toHaveLength(7);
    expect(new Set(shown).size).toBe(7);
    for (const uri of found.resources.map((resource) => resource.uri)) {
      const lookup = found.lookup(uri);
      expect(lookup && 'downstream' in lookup ? found.clientUri(lookup.downstream.name, lookup.uri) : lookup).toBe(uri);
    }
  });

  it('stops comparing after its budget, qualifying what is left, so odd templates cannot hold up nexus', () => {
    const a = server(
      'a',
      [],
      Array.from({ length: 100 }, (_, k) => `{+p}${'a'.repeat(450)}${k}`),
    );
    const b = server(
      'b',
      [],
      Array.from({ length: 100 }, (_, k) => `${'a'.repeat(450)}b${k}`),
    );
    const found = directory(a, b);
    // None of these overlap: only a spent budget qualifies any of them.
    const qualified = found.templates.filter((template) => /^[ab]\//.test(template.uriTemplate));
    expect(qualified.length).toBeGreaterThan(0);
    for (const { uriTemplate } of found.templates) expect(found.templateOwner(uriTemplate)).toBeDefined();
  });
});
