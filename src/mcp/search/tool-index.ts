/**
 * The tool index behind `search`: MiniSearch (BM25) over each tool's name, title, description,
 * server name and parameter names. Each server's entries are replaced as a whole, so a search
 * sees either the old or the new tools of a server, never a mix.
 */
import MiniSearch from 'minisearch';
import type { Tool } from '@modelcontextprotocol/client';
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

const FIELDS = ['name', 'title', 'description', 'server', 'params'] as const;
const BOOST = { name: 3, title: 2, description: 1, server: 1.5, params: 0.7 };
export const MAX_RESULTS = 10;

export class ToolIndex {
  private readonly engine = new MiniSearch<Doc>({
    fields: [...FIELDS],
    tokenize,
    // tokenize() already lower-cases.
    processTerm: (term) => term,
    searchOptions: {
      boost: BOOST,
      combineWith: 'OR',
      prefix: (term) => term.length >= 4,
      // One typo in words of five letters or more. MiniSearch counts a swap of two letters as two
      // edits, so words of eight or more may differ by two.
      fuzzy: (term) => (term.length >= 8 ? 2 : term.length >= 5 ? 1 : false),
    },
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
    const query = keywords.join(' ').trim();
    if (query === '') return [];
    return this.engine
      .search(query)
      .slice(0, limit)
      .flatMap((hit) => {
        const entry = this.byName.get(hit.id as string);
        if (!entry) return [];
        return [
          {
            name: entry.name,
            description: entry.tool.description ?? '',
            input_schema: entry.tool.inputSchema,
            score: Math.round(hit.score * 1000) / 1000,
          },
        ];
      });
  }
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
