/**
 * The tool index behind `search`: BM25 (MiniSearch) over each tool's name, title, description,
 * server name and parameter names, with:
 * - words split at snake_case, camelCase and kebab-case, lower-cased and lightly stemmed;
 * - each query word also looked up through a small synonym table, at a lower weight;
 * - one typo forgiven in longer words, and prefixes of longer words matched;
 * - a bonus for tools that match more of the query's words, counted per word the caller gave
 *   (a word matched through two synonyms still counts once);
 * - ties broken by name, so the same query always gives the same order.
 * Each server's entries are replaced as a whole and synchronously, so a search sees either the
 * old or the new tools of a server, never a mix.
 */
import MiniSearch, { type Query } from 'minisearch';
import type { Tool } from '@modelcontextprotocol/client';
import { stem } from './stem.js';
import { synonymsOf, SYNONYM_WEIGHT } from './synonyms.js';
import { tokenize } from './tokenize.js';

export interface IndexedTool {
  /** `server__tool`, the name `execute` takes. */
  name: string;
  server: string;
  tool: Tool;
}

export interface SearchResult {
  name: string;
  description: string;
  input_schema: Tool['inputSchema'];
  score: number;
}

interface Doc {
  id: string;
  name: string;
  title: string;
  description: string;
  server: string;
  params: string;
}

export const MAX_RESULTS = 10;
const FIELDS = ['name', 'title', 'description', 'server', 'params'] as const;
/** How much a match in each field counts, relative to the description. */
export const FIELD_BOOST: Record<(typeof FIELDS)[number], number> = {
  name: 3,
  title: 2,
  description: 1,
  server: 1.5,
  params: 0.7,
};

/** Words too common to say anything about a tool. */
const STOPWORDS = new Set(
  'a an the to of for in on with and or by from at as is are be this that it its into via my me i you your can will'.split(' '),
);

/** The index's one term pipeline, for documents and queries alike. */
function processTerm(term: string): string | null {
  return STOPWORDS.has(term) ? null : stem(term);
}

/** One typo in words of five letters or more; two in words of eight or more (a swap is two). */
function fuzziness(term: string): number | false {
  return term.length >= 8 ? 2 : term.length >= 5 ? 1 : false;
}

export class ToolIndex {
  private readonly engine = new MiniSearch<Doc>({
    fields: [...FIELDS],
    tokenize,
    processTerm,
    searchOptions: { boost: FIELD_BOOST, combineWith: 'OR' },
  });
  private readonly byServer = new Map<string, IndexedTool[]>();
  private readonly byName = new Map<string, IndexedTool>();

  /** Replaces every entry of `server` with `tools`. A name listed twice keeps its last tool. */
  setServerTools(server: string, tools: readonly Tool[]): void {
    for (const old of this.byServer.get(server) ?? []) {
      this.engine.discard(old.name);
      this.byName.delete(old.name);
    }
    const entries = new Map<string, IndexedTool>();
    for (const tool of tools) entries.set(tool.name, { name: `${server}__${tool.name}`, server, tool });
    for (const entry of entries.values()) {
      this.byName.set(entry.name, entry);
      this.engine.add(toDoc(entry));
    }
    this.byServer.set(server, [...entries.values()]);
  }

  get(name: string): IndexedTool | undefined {
    return this.byName.get(name);
  }

  get size(): number {
    return this.byName.size;
  }

  search(keywords: readonly string[], limit = MAX_RESULTS): SearchResult[] {
    const words = queryWords(keywords);
    if (words.length === 0) return [];
    const { query, wordOf } = buildQuery(words);
    const ranked = this.engine.search(query).map((hit) => {
      // MiniSearch multiplies by the number of query terms matched; count the caller's words
      // instead, so synonyms of one word do not add up to several.
      const matchedWords = new Set(hit.queryTerms.map((term) => wordOf.get(term)));
      return { id: hit.id as string, score: (hit.score / hit.queryTerms.length) * matchedWords.size };
    });
    ranked.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return ranked.slice(0, limit).flatMap(({ id, score }) => {
      const entry = this.byName.get(id);
      if (!entry) return [];
      return [
        {
          name: entry.name,
          description: entry.tool.description ?? '',
          input_schema: entry.tool.inputSchema,
          score: Math.round(score * 1000) / 1000,
        },
      ];
    });
  }
}

/** The distinct words of a query, split like tool names, without stopwords. */
function queryWords(keywords: readonly string[]): string[] {
  const words = keywords.flatMap((keyword) => tokenize(keyword)).filter((word) => processTerm(word) !== null);
  return [...new Map(words.map((word) => [stem(word), word])).values()];
}

/**
 * One OR query: each word as written (with typo and prefix tolerance), and each of its
 * synonyms exactly, at a lower weight. `wordOf` maps every processed term back to its word.
 */
function buildQuery(words: string[]): { query: Query; wordOf: Map<string, string> } {
  const wordOf = new Map<string, string>();
  const queries: Query[] = [];
  for (const word of words) {
    const own = stem(word);
    wordOf.set(own, word);
    queries.push({ queries: [word], fuzzy: fuzziness, prefix: (term: string) => term.length >= 4 });
    const seen = new Set([own]);
    for (const synonym of synonymsOf(word)) {
      const stems = synonym.map(stem);
      const key = stems.join(' ');
      if (seen.has(key)) continue;
      seen.add(key);
      for (const term of stems) if (!wordOf.has(term)) wordOf.set(term, word);
      queries.push({
        queries: [synonym.join(' ')],
        combineWith: 'AND',
        boostTerm: () => SYNONYM_WEIGHT,
      });
    }
  }
  return { query: { combineWith: 'OR', queries }, wordOf };
}

function toDoc({ name, server, tool }: IndexedTool): Doc {
  const properties = tool.inputSchema?.properties;
  return {
    id: name,
    name: tool.name,
    title: tool.title ?? tool.annotations?.title ?? '',
    description: tool.description ?? '',
    server,
    params: properties && typeof properties === 'object' ? Object.keys(properties).join(' ') : '',
  };
}
