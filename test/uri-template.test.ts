/** Routing resource reads by template: RFC 6570 operators, and linear time on hostile URIs. */
import { describe, expect, it } from 'vitest';
import { compileUriTemplate, templatesOverlap } from '../src/mcp/downstreams/uri-template.js';

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

describe('templatesOverlap', () => {
  it('says whether one URI could match both templates', () => {
    expect(templatesOverlap('file:///{+path}', 'file:///logs/{name}')).toBe(true);
    expect(templatesOverlap('fixture://items/{id}', 'fixture://items/{key}')).toBe(true);
    expect(templatesOverlap('fixture://items/{id}', 'fixture://files/{+path}')).toBe(false);
    // A simple expression never spans "/", a reserved one may.
    expect(templatesOverlap('db://{table}', 'db://a/{b}')).toBe(false);
    expect(templatesOverlap('db://{+rest}', 'db://a/{b}')).toBe(true);
    expect(templatesOverlap('a://x{?q}', 'a://x')).toBe(true);
  });

  it('compares long templates quickly, and takes very long ones to overlap', () => {
    const long = `x://${'{a}'.repeat(2000)}/`;
    expect(templatesOverlap(long, `x://${'b'.repeat(100)}`)).toBe(false);
    expect(templatesOverlap(long, `x://${'b'.repeat(1000)}`)).toBe(true);
  });
});
