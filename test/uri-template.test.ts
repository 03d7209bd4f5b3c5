/** Routing resource reads by template: RFC 6570 operators, and linear time on hostile URIs. */
import { describe, expect, it } from 'vitest';
import { compileUriTemplate } from '../src/mcp/downstreams/uri-template.js';

const matches = (template: string, uri: string) => compileUriTemplate(template)(uri);

describe('compileUriTemplate', () => {
  it('matches simple expressions within one path segment', () => {
    expect(matches('fixture://items/{id}', 'fixture://items/42')).toBe(true);
    expect(matches('fixture://items/{id}', 'fixture://items/4/2')).toBe(false);
    expect(matches('fixture://items/{id}', 'fixture://other/42')).toBe(false);
    expect(matches('db://{schema}/{table}', 'db://public/users')).toBe(true);
  });

  it('lets reserved expansions ({+x}, {#x}) span segments', () => {
    expect(matches('file:///{+path}', 'file:///a/b/c.txt')).toBe(true);
    expect(matches('file:///{path}', 'file:///a/b/c.txt')).toBe(false);
    expect(matches('doc://{id}{#section}', 'doc://7#intro/part')).toBe(true);
  });

  it('handles path, label and query operators', () => {
    expect(matches('repo://x{/segments}', 'repo://x/a/b')).toBe(true);
    expect(matches('img://pic{.ext}', 'img://pic.png')).toBe(true);
    expect(matches('search://q{?term,page}', 'search://q?term=a&page=2')).toBe(true);
    expect(matches('search://q{?term}', 'search://q#frag')).toBe(false);
  });

  it('answers in linear time when many expressions sit side by side', () => {
    const uri = `x://${'a'.repeat(5000)}/`;
    expect(matches('x://{a}{b}{c}{d}{e}{f}', uri)).toBe(false);
    expect(matches('x://{+a}/{+b}/{+c}/{+d}/{+e}z', `x://${'/'.repeat(5000)}`)).toBe(false);
  });
});
