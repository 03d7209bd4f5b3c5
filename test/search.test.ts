/** The first search index: tokenizing, fields, typo tolerance and per-server replacement. */
import type { Tool } from '@modelcontextprotocol/client';
import { describe, expect, it } from 'vitest';
import { ToolIndex } from '../src/mcp/search/tool-index.js';
import { tokenize } from '../src/mcp/search/tokenize.js';

function tool(name: string, description: string, params: string[] = [], title?: string): Tool {
  const properties = Object.fromEntries(params.map((param) => [param, { type: 'string' }]));
  return { name, description, title, inputSchema: { type: 'object', properties } };
}

function names(index: ToolIndex, ...keywords: string[]): string[] {
  return index.search(keywords).map((result) => result.name);
}

describe('tokenize', () => {
  it('splits snake_case, camelCase, kebab-case and punctuation, lower-cased', () => {
    expect(tokenize('read_file')).toEqual(['read', 'file']);
    expect(tokenize('createPullRequest')).toEqual(['create', 'pull', 'request']);
    expect(tokenize('get-tiny-image')).toEqual(['get', 'tiny', 'image']);
    expect(tokenize('HTTPServer2Go')).toEqual(['http', 'server2', 'go']);
    expect(tokenize('Echoes back, the INPUT!')).toEqual(['echoes', 'back', 'the', 'input']);
  });

  it('keeps plural acronyms whole', () => {
    expect(tokenize('List URLs, APIs and IDs')).toEqual(['list', 'urls', 'apis', 'and', 'ids']);
    expect(tokenize('getURLs')).toEqual(['get', 'urls']);
    expect(tokenize('XMLHttpRequest')).toEqual(['xml', 'http', 'request']);
  });
});

describe('ToolIndex', () => {
  const index = new ToolIndex();
  index.setServerTools('github', [
    tool('create_pull_request', 'Open a new pull request in a repository', ['owner', 'repo', 'title']),
    tool('search_code', 'Search code across repositories', ['query']),
  ]);
  index.setServerTools('filesystem', [
    tool('read_file', 'Read the complete contents of a file', ['path']),
    tool('listDirectory', 'List the entries of a directory', ['path'], 'List directory'),
  ]);

  it('matches words inside snake_case and camelCase names', () => {
    expect(names(index, 'pull')[0]).toBe('github__create_pull_request');
    expect(names(index, 'directory')[0]).toBe('filesystem__listDirectory');
  });

  it('is case-insensitive', () => {
    expect(names(index, 'READ', 'FILE')[0]).toBe('filesystem__read_file');
  });

  it('tolerates one typo in longer words', () => {
    expect(names(index, 'directroy')[0]).toBe('filesystem__listDirectory');
    expect(names(index, 'reqest')[0]).toBe('github__create_pull_request');
  });

  it('looks at the server name and parameter names', () => {
    expect(names(index, 'github')).toEqual(expect.arrayContaining(['github__create_pull_request', 'github__search_code']));
    expect(names(index, 'owner')[0]).toBe('github__create_pull_request');
  });

  it('returns the description, input schema and a positive score', () => {
    const [first] = index.search(['read', 'file']);
    expect(first).toMatchObject({
      name: 'filesystem__read_file',
      description: 'Read the complete contents of a file',
      input_schema: { type: 'object', properties: { path: { type: 'string' } } },
    });
    expect(first?.score).toBeGreaterThan(0);
  });

  it('returns at most 10 results', () => {
    const big = new ToolIndex();
    big.setServerTools(
      'many',
      Array.from({ length: 30 }, (_, i) => tool(`note_${i}`, 'Writes a note')),
    );
    expect(big.search(['note'])).toHaveLength(10);
  });

  it('replaces one server without touching the others', () => {
    const local = new ToolIndex();
    local.setServerTools('a', [tool('alpha', 'first letter')]);
    local.setServerTools('b', [tool('beta', 'second letter')]);
    local.setServerTools('a', [tool('gamma', 'third letter')]);
    expect(names(local, 'letter').sort()).toEqual(['a__gamma', 'b__beta']);
    expect(local.get('a__alpha')).toBeUndefined();
    expect(local.size).toBe(2);
  });

  it('keeps the last of two tools a server lists under one name, refresh after refresh', () => {
    const local = new ToolIndex();
    local.setServerTools('a', [tool('same', 'old one'), tool('same', 'new one')]);
    expect(local.size).toBe(1);
    expect(local.get('a__same')?.tool.description).toBe('new one');
    local.setServerTools('a', [tool('same', 'newer one'), tool('same', 'newest one')]);
    expect(local.size).toBe(1);
    expect(names(local, 'newest')).toEqual(['a__same']);
  });
});
