/** Pins the search pipeline on small cases: stemming, synonyms, typos, coverage and ties. */
import type { Tool } from '@modelcontextprotocol/client';
import { describe, expect, it } from 'vitest';
import { scoreQuery } from '../bench/search/metrics.js';
import { stem } from '../src/mcp/search/stem.js';
import { synonymsOf } from '../src/mcp/search/synonyms.js';
import { ToolIndex } from '../src/mcp/search/tool-index.js';
import { withinOneTypo } from '../src/mcp/search/typo.js';

function tool(name: string, description: string, params: string[] = []): Tool {
  const properties = Object.fromEntries(params.map((param) => [param, { type: 'string' }]));
  return { name, description, inputSchema: { type: 'object', properties } };
}

function top(index: ToolIndex, ...keywords: string[]): string[] {
  return index.search(keywords).map((result) => result.name);
}

describe('stem', () => {
  it('brings plurals, -ing, -ed and a final e together', () => {
    const same = (...words: string[]) => expect(new Set(words.map(stem)).size, words.join('/')).toBe(1);
    same('delete', 'deletes', 'deleted', 'deleting');
    same('file', 'files');
    same('create', 'creates', 'created', 'creating');
    same('run', 'runs', 'running');
    same('copy', 'copies', 'copied');
    same('search', 'searches', 'searching');
    same('issue', 'issues');
  });

  it('leaves short words, words with digits and -ss/-us/-is endings alone', () => {
    expect(stem('get')).toBe('get');
    expect(stem('s3')).toBe('s3');
    expect(stem('ec2s')).toBe('ec2s');
    expect(stem('access')).toBe('access');
    expect(stem('status')).toBe('status');
    expect(stem('analysis')).toBe('analysis');
  });
});

describe('withinOneTypo', () => {
  it('accepts one inserted, missing, wrong or swapped letter', () => {
    expect(withinOneTypo('screnshot', 'screenshot')).toBe(true);
    expect(withinOneTypo('screeenshot', 'screenshot')).toBe(true);
    expect(withinOneTypo('screansot', 'screenshot')).toBe(false);
    expect(withinOneTypo('serach', 'search')).toBe(true);
    expect(withinOneTypo('seacrh', 'search')).toBe(true);
    expect(withinOneTypo('saerch', 'search')).toBe(true);
    expect(withinOneTypo('reserch', 'research')).toBe(true);
  });

  it('rejects two typos, and a swap of letters that are not neighbours', () => {
    expect(withinOneTypo('sraech', 'search')).toBe(false);
    expect(withinOneTypo('shearc', 'search')).toBe(false);
    expect(withinOneTypo('serch', 'searches')).toBe(false);
  });
});

describe('synonyms', () => {
  it('relate common tool verbs and nouns both ways', () => {
    expect(synonymsOf('remove')).toContainEqual(['delete']);
    expect(synonymsOf('deleting')).toContainEqual(['remove']);
    expect(synonymsOf('repo')).toContainEqual(['repository']);
    expect(synonymsOf('folders')).toContainEqual(['directory']);
  });

  it('expand abbreviations into all their words', () => {
    expect(synonymsOf('pr')).toContainEqual(['pull', 'request']);
    expect(synonymsOf('pull')).toEqual([]);
  });
});

describe('ranking', () => {
  const index = new ToolIndex();
  index.setServerTools('fs', [
    tool('delete_file', 'Delete a file from disk', ['path']),
    tool('read_file', 'Read the contents of a file', ['path']),
    tool('list_directory', 'List entries in a directory', ['path']),
    tool('move_file', 'Move or rename a file', ['source', 'destination']),
  ]);
  index.setServerTools('github', [
    tool('create_pull_request', 'Create a new pull request', ['owner', 'repo', 'head', 'base']),
    tool('create_issue', 'Create a new issue in a repository', ['owner', 'repo', 'title']),
    tool('search_repositories', 'Search for GitHub repositories', ['query']),
  ]);
  index.setServerTools('browser', [
    tool('take_screenshot', 'Take a screenshot of the current page', ['fullPage']),
    tool('navigate', 'Navigate the browser to a URL', ['url']),
  ]);

  it('finds a tool through a synonym of its verb', () => {
    expect(top(index, 'remove', 'file')[0]).toBe('fs__delete_file');
    expect(top(index, 'fetch', 'file', 'contents')[0]).toBe('fs__read_file');
  });

  it('finds a tool through a synonym of its noun, and an abbreviation', () => {
    expect(top(index, 'show', 'folder')[0]).toBe('fs__list_directory');
    expect(top(index, 'open', 'pr')[0]).toBe('github__create_pull_request');
    expect(top(index, 'find', 'repo')[0]).toBe('github__search_repositories');
  });

  it('matches other forms of a word', () => {
    expect(top(index, 'deleting', 'files')[0]).toBe('fs__delete_file');
    expect(top(index, 'screenshots')[0]).toBe('browser__take_screenshot');
  });

  it('forgives one typo in longer words, including a swap of two letters', () => {
    expect(top(index, 'screnshot')[0]).toBe('browser__take_screenshot');
    expect(top(index, 'direcotry')[0]).toBe('fs__list_directory');
  });

  it('ranks by the first 32 distinct words of a query and ignores the rest', () => {
    const madeUp = Array.from({ length: 31 }, (_, i) => `zq${i.toString(36)}x`);
    expect(top(index, ...madeUp, 'screenshot')).toEqual(['browser__take_screenshot']);
    expect(top(index, ...madeUp, 'zqlast', 'screenshot')).toEqual([]);
    // Repeats and other forms of a word count once.
    expect(top(index, ...madeUp, ...madeUp, 'screenshots', 'screenshot')).toEqual(['browser__take_screenshot']);
  });

  it('looks up at most eight unknown words of a query by typo, so a flood of made-up words stays cheap', () => {
    const madeUp = Array.from({ length: 8 }, (_, i) => `zzqx${'abcdefgh'[i]}vw`);
    // Within the first eight unknown words the typo is forgiven; after them it is not.
    expect(top(index, ...madeUp.slice(0, 7), 'screnshot')).toEqual(['browser__take_screenshot']);
    expect(top(index, ...madeUp, 'screnshot')).toEqual([]);
    // Known words and prefixes still count wherever they stand.
    expect(top(index, ...madeUp, 'screenshot')[0]).toBe('browser__take_screenshot');
    expect(top(index, ...madeUp, 'screen')[0]).toBe('browser__take_screenshot');
  });

  it('ranks tools that match more of the words first', () => {
    expect(top(index, 'create', 'issue')[0]).toBe('github__create_issue');
    expect(top(index, 'create', 'pull', 'request')[0]).toBe('github__create_pull_request');
  });

  it('does not let synonyms of one word count as several words', () => {
    // "remove" reaches delete (synonym) and, through "move", nothing else: delete_file must
    // beat move_file, which only shares the word "file".
    const [first, second] = index.search(['remove', 'file']);
    expect(first?.name).toBe('fs__delete_file');
    expect(first?.score).toBeGreaterThan(second?.score ?? 0);
  });

  it('ignores stopwords, and answers nothing for nothing', () => {
    expect(top(index, 'take', 'a', 'screenshot', 'of', 'the', 'page')[0]).toBe('browser__take_screenshot');
    expect(top(index, 'the', 'of')).toEqual([]);
    expect(top(index)).toEqual([]);
  });

  it('breaks ties by name, so results are deterministic', () => {
    const tied = new ToolIndex();
    tied.setServerTools('b', [tool('note', 'Writes a note')]);
    tied.setServerTools('a', [tool('note', 'Writes a note')]);
    expect(top(tied, 'note')).toEqual(['a__note', 'b__note']);
  });

  it('replaces one server while searches of the others stay the same', () => {
    const before = index.search(['screenshot']);
    index.setServerTools('fs', [tool('delete_file', 'Delete a file from disk', ['path'])]);
    expect(top(index, 'read', 'file')).not.toContain('fs__read_file');
    expect(index.search(['screenshot']).map((r) => r.name)).toEqual(before.map((r) => r.name));
  });

  it('after servers come, change and go, ranks exactly as an index built from scratch', () => {
    // Postings are compacted in place and slots reused: any posting left behind or lost shows
    // up as a different score or order than a fresh index holding the same tools.
    const words = 'read write delete list file note issue page query table user message image run stop'.split(' ');
    const toolsOf = (seed: number, count: number) =>
      Array.from({ length: count }, (_, i) =>
        tool(
          `${words[(seed + i) % words.length]}_${words[(seed * 7 + i * 3) % words.length]}_${i}`,
          `${words[(seed + i * 5) % words.length]} the ${words[(i + seed * 3) % words.length]}`,
          [words[(seed + i) % 4] as string],
        ),
      );
    const changing = new ToolIndex();
    for (let server = 0; server < 12; server++) changing.setServerTools(`s${server}`, toolsOf(server, 40));
    for (const server of [3, 7, 0, 11]) changing.setServerTools(`s${server}`, []);
    for (const server of [7, 5, 3]) changing.setServerTools(`s${server}`, toolsOf(server + 20, 25 + server));
    const fresh = new ToolIndex();
    const final = new Map<number, Tool[]>();
    for (let server = 0; server < 12; server++) final.set(server, toolsOf(server, 40));
    for (const server of [3, 7, 0, 11]) final.delete(server);
    for (const server of [7, 5, 3]) final.set(server, toolsOf(server + 20, 25 + server));
    for (const [server, tools] of [...final].sort(([a], [b]) => b - a)) fresh.setServerTools(`s${server}`, tools);
    expect(changing.size).toBe(fresh.size);
    for (const query of [['read', 'file'], ['delete note'], ['issue'], ['query table user'], ['stop', 'run', 'image']]) {
      expect(changing.search(query, 50), query.join(' ')).toEqual(fresh.search(query, 50));
    }
  });

  it('re-indexes only what changed when a server lists its tools again, and ranks and shows them as new', () => {
    const first = Array.from({ length: 30 }, (_, i) =>
      tool(`tool_${i}`, `${['read', 'delete', 'list'][i % 3]} the ${['file', 'note', 'page', 'issue'][i % 4]} number ${i}`, ['path']),
    );
    const again = first.map((listed, i): Tool => {
      if (i === 3) return { ...listed, description: 'archive the old messages' }; // new text
      if (i === 4) return { ...listed, annotations: { destructiveHint: true } }; // same text, new hint
      if (i === 5) return { ...listed, outputSchema: { type: 'object', properties: { done: { type: 'boolean' } } } };
      if (i === 6) return tool(listed.name, listed.description ?? '', ['path', 'recursive']); // a parameter more
      if (i === 7)
        return { ...listed, inputSchema: { type: 'object', properties: { path: { type: 'string', description: 'folder to archive' } } } };
      return { ...listed };
    });
    again.splice(8, 1); // one gone
    again.push(tool('tool_new', 'archive a page', ['page'])); // one new
    const changing = new ToolIndex();
    changing.setServerTools('other', [tool('archive_all', 'archive every note')]);
    changing.setServerTools('s', first);
    changing.setServerTools('s', again);
    const fresh = new ToolIndex();
    fresh.setServerTools('other', [tool('archive_all', 'archive every note')]);
    fresh.setServerTools('s', again);
    expect(changing.size).toBe(fresh.size);
    for (const query of [['archive'], ['delete', 'note'], ['read file'], ['recursive'], ['folder'], ['number', '8'], ['page']]) {
      expect(changing.search(query, 50), query.join(' ')).toEqual(fresh.search(query, 50));
    }
    expect(changing.get('s__tool_5')?.tool.outputSchema).toEqual(again[5]?.outputSchema);
    expect(changing.get('s__tool_8')).toBeUndefined();
  });
});

describe('benchmark metrics', () => {
  it('scores a ranking against one or several right answers', () => {
    expect(scoreQuery(['a', 'b', 'c'], ['a'])).toEqual({ recall1: 1, recall5: 1, hit5: 1, reciprocalRank: 1, ndcg10: 1 });
    const second = scoreQuery(['x', 'a'], ['a']);
    expect(second.recall1).toBe(0);
    expect(second.reciprocalRank).toBe(0.5);
    expect(second.ndcg10).toBeCloseTo(1 / Math.log2(3));
    const several = scoreQuery(['a', 'x', 'b'], ['a', 'b', 'c']);
    expect(several.recall5).toBeCloseTo(2 / 3);
    expect(several.hit5).toBe(1);
    expect(scoreQuery(['v', 'w', 'x', 'y', 'z', 'a'], ['a', 'b']).hit5).toBe(0);
    expect(scoreQuery(['x'], ['a'])).toEqual({ recall1: 0, recall5: 0, hit5: 0, reciprocalRank: 0, ndcg10: 0 });
  });
});
