/**
 * The tool index behind `search`: BM25F over each tool's name, title, description, server name
 * and parameter names. Each word of a query counts through its best variant:
 * - the word itself, after splitting (snake/camel/kebab), lower-casing and light stemming;
 * - a synonym from a small table of tool verbs and nouns (remove/delete, repo/repository, ...);
 * - a known word within one typo of it (words of five letters or more);
 * - a known word it is the start of (words of four letters or more);
 * each at a lower weight than the word itself. Tools that match more of the query's words rank
 * first; ties are broken by name, so a query always gives the same order.
 * Each server's entries are replaced as a whole and synchronously, so a search sees either the
 * old or the new tools of a server, never a mix.
 */
import type { Tool } from '@modelcontextprotocol/client';
import { fieldCount, InvertedIndex } from './inverted-index.js';
import { stem } from './stem.js';
import { synonymsOf } from './synonyms.js';
import { tokenize } from './tokenize.js';
import { withinOneTypo } from './typo.js';

export interface IndexedTool {
  /** `server__tool`, the name `execute` takes. */
  name: string;
  server: string;
  tool: Tool;
}

/**
 * One tool found: the original's fields (name, description, input_schema, score), and the rest of
 * the tool's definition where it has it, so a client loses nothing it would see listing the tool
 * itself (a title to show, hints such as destructiveHint to ask before acting, icons, the output
 * schema, task support, and `_meta` such as an MCP App's `ui.resourceUri`).
 */
export interface SearchResult {
  name: string;
  description: string;
  input_schema: Tool['inputSchema'];
  score: number;
  title?: string;
  annotations?: Tool['annotations'];
  icons?: Tool['icons'];
  output_schema?: Tool['outputSchema'];
  execution?: Tool['execution'];
  _meta?: Tool['_meta'];
}

/** A tool as a search result. */
function resultOf(name: string, tool: Tool, score: number): SearchResult {
  const { title, annotations, icons, outputSchema, execution, _meta } = tool;
  return {
    name,
    description: tool.description ?? '',
    input_schema: tool.inputSchema,
    score,
    ...(title !== undefined && { title }),
    ...(annotations !== undefined && { annotations }),
    ...(icons !== undefined && { icons }),
    ...(outputSchema !== undefined && { output_schema: outputSchema }),
    ...(execution !== undefined && { execution }),
    ...(_meta !== undefined && { _meta }),
  };
}

export const MAX_RESULTS = 10;

/** The ranking's knobs, with the values the search benchmark was tuned with. */
export interface RankingOptions {
  /** Weight of a match in each field: name, title, description, server, parameter names. */
  fieldBoost: readonly [number, number, number, number, number];
  /** BM25 length normalisation per field (0: none, 1: full). */
  fieldB: readonly [number, number, number, number, number];
  k1: number;
  synonymWeight: number;
  typoWeight: number;
  prefixWeight: number;
  /** How strongly the share of query words a tool matches scales its score. */
  coveragePower: number;
}

export const DEFAULT_RANKING: RankingOptions = {
  fieldBoost: [3, 2, 1, 1.5, 0.7],
  fieldB: [0.5, 0.5, 0.75, 0, 0.5],
  k1: 1.2,
  synonymWeight: 0.6,
  typoWeight: 0.8,
  prefixWeight: 0.4,
  coveragePower: 1,
};

const FIELDS = 5;
const MIN_TYPO_LENGTH = 5;
const MIN_PREFIX_LENGTH = 4;

/** Words too common to say anything about a tool. */
const STOPWORDS = new Set(
  'a an the to of for in on with and or by from at as is are be this that it its into via my me i you your can will about some any'.split(
    ' ',
  ),
);

/** Stemming is the costly step of indexing and words repeat a lot, so stems are remembered. */
const stems = new Map<string, string>();
function stemOf(word: string): string {
  let found = stems.get(word);
  if (found === undefined) {
    found = stem(word);
    if (stems.size < 100_000) stems.set(word, found);
  }
  return found;
}

/** Text beyond this is not indexed: a tool with a megabyte of description must not bloat the index. */
const MAX_INDEXED_CHARS = 20_000;

function terms(text: string): [string, string][] {
  return tokenize(text.length > MAX_INDEXED_CHARS ? text.slice(0, MAX_INDEXED_CHARS) : text)
    .filter((word) => !STOPWORDS.has(word))
    .map((word) => [word, stemOf(word)]);
}

/** One way a query word can match: a stem and how much a match through it counts. */
interface Variant {
  stem: string;
  weight: number;
}

export class ToolIndex {
  private readonly index = new InvertedIndex(FIELDS);
  private readonly slots: (IndexedTool | undefined)[] = [];
  private readonly slotsByServer = new Map<string, number[]>();
  private readonly slotByName = new Map<string, number>();
  /**
   * Per slot and field, what one occurrence of a term adds to BM25F's tf: the field boost over
   * the length normalisation. It depends on average field lengths, so any change drops it and the
   * next search computes it again (once per change, not per posting per search).
   */
  private termWeights: Float64Array | undefined;

  constructor(private readonly ranking: RankingOptions = DEFAULT_RANKING) {}

  /** Replaces every entry of `server` with `tools`. A name listed twice keeps its last tool. */
  setServerTools(server: string, tools: readonly Tool[]): void {
    this.termWeights = undefined;
    for (const slot of this.slotsByServer.get(server) ?? []) {
      const old = this.slots[slot];
      if (old) this.slotByName.delete(old.name);
      this.slots[slot] = undefined;
      this.index.remove(slot);
    }
    const unique = new Map(tools.map((tool) => [tool.name, tool]));
    const serverTerms = terms(server);
    const slots: number[] = [];
    for (const tool of unique.values()) {
      const entry = { name: `${server}__${tool.name}`, server, tool };
      const properties = tool.inputSchema?.properties;
      const slot = this.index.add([
        terms(tool.name),
        terms(tool.title ?? tool.annotations?.title ?? ''),
        terms(tool.description ?? ''),
        serverTerms,
        terms(properties && typeof properties === 'object' ? Object.keys(properties).join(' ') : ''),
      ]);
      this.slots[slot] = entry;
      this.slotByName.set(entry.name, slot);
      slots.push(slot);
    }
    this.slotsByServer.set(server, slots);
  }

  get(name: string): IndexedTool | undefined {
    const slot = this.slotByName.get(name);
    return slot === undefined ? undefined : this.slots[slot];
  }

  get size(): number {
    return this.slotByName.size;
  }

  search(keywords: readonly string[], limit = MAX_RESULTS): SearchResult[] {
    const words = [...new Map(keywords.flatMap(terms).map(([word, stemmed]) => [stemmed, word])).values()];
    if (words.length === 0 || this.index.documentCount === 0) return [];
    const slotCount = this.index.slotCount;
    const scores = new Float64Array(slotCount);
    const matched = new Uint16Array(slotCount);
    const touched: number[] = [];
    const best = new Float64Array(slotCount);
    for (const word of words) {
      for (const slot of this.bestPerTool(this.variants(word), best)) {
        if (matched[slot] === 0) touched.push(slot);
        scores[slot] = (scores[slot] ?? 0) + (best[slot] ?? 0);
        matched[slot] = (matched[slot] ?? 0) + 1;
        best[slot] = 0;
      }
    }
    // The final score (scaled by keyword coverage) replaces the sum, once per candidate.
    const { coveragePower } = this.ranking;
    for (const slot of touched) scores[slot] = (scores[slot] ?? 0) * ((matched[slot] ?? 0) / words.length) ** coveragePower;
    const final = (slot: number) => scores[slot] ?? 0;
    return topK(touched, final, (slot) => this.slots[slot]?.name ?? '', limit).flatMap((slot) => {
      const entry = this.slots[slot];
      if (!entry) return [];
      return [resultOf(entry.name, entry.tool, Math.round(final(slot) * 1000) / 1000)];
    });
  }

  /** The stems a query word may match, each with its weight; the word itself first. */
  private variants(word: string): Variant[] {
    const { synonymWeight, typoWeight, prefixWeight } = this.ranking;
    const own = stemOf(word);
    const variants = new Map<string, number>([[own, 1]]);
    const offer = (stemmed: string, weight: number) => {
      if ((variants.get(stemmed) ?? 0) < weight) variants.set(stemmed, weight);
    };
    for (const synonym of synonymsOf(word)) {
      // Multi-word synonyms ("pr" -> pull request) count each word at a share of the weight.
      for (const part of synonym) offer(stemOf(part), synonymWeight / synonym.length);
    }
    if (word.length >= MIN_TYPO_LENGTH && this.index.stemOf(word) === undefined && this.index.postingsOf(own) === undefined) {
      for (const known of this.index.words()) {
        if (withinOneTypo(word, known)) offer(this.index.stemOf(known) as string, typoWeight);
      }
    }
    if (word.length >= MIN_PREFIX_LENGTH) {
      for (const longer of this.index.wordsStartingWith(word)) offer(this.index.stemOf(longer) as string, prefixWeight);
    }
    return [...variants].map(([stemmed, weight]) => ({ stem: stemmed, weight }));
  }

  /**
   * BM25F score of each tool for one query word, the best of the word's variants, written into
   * `best` (all zeros on entry); returns the slots it wrote.
   */
  private bestPerTool(variants: Variant[], best: Float64Array): number[] {
    const { k1 } = this.ranking;
    const weights = (this.termWeights ??= this.computeTermWeights());
    const documents = this.index.documentCount;
    const slots: number[] = [];
    for (const { stem: stemmed, weight } of variants) {
      const postings = this.index.postingsOf(stemmed);
      if (!postings) continue;
      const idf = Math.log(1 + (documents - postings.size + 0.5) / (postings.size + 0.5));
      for (const [slot, packed] of postings) {
        let tf = 0;
        for (let field = 0, base = slot * FIELDS; field < FIELDS; field++) {
          const count = fieldCount(packed, field);
          if (count !== 0) tf += count * (weights[base + field] as number);
        }
        const score = weight * idf * ((tf * (k1 + 1)) / (tf + k1));
        const previous = best[slot] as number;
        if (previous === 0) slots.push(slot);
        if (score > previous) best[slot] = score;
      }
    }
    return slots;
  }

  private computeTermWeights(): Float64Array {
    const { fieldBoost, fieldB } = this.ranking;
    const weights = new Float64Array(this.index.slotCount * FIELDS);
    for (let slot = 0; slot < this.index.slotCount; slot++) {
      for (let field = 0; field < FIELDS; field++) {
        const average = this.index.averageFieldLength(field) || 1;
        const b = fieldB[field] ?? 0;
        weights[slot * FIELDS + field] = (fieldBoost[field] ?? 0) / (1 - b + (b * this.index.fieldLength(slot, field)) / average);
      }
    }
    return weights;
  }
}

/** The `k` best slots by score, ties broken by name; without sorting every candidate. */
function topK(slots: number[], score: (slot: number) => number, name: (slot: number) => string, k: number): number[] {
  const better = (a: number, b: number) => score(a) > score(b) || (score(a) === score(b) && name(a) < name(b));
  const best: number[] = [];
  for (const slot of slots) {
    if (best.length === k && !better(slot, best[k - 1] as number)) continue;
    let at = best.length === k ? k - 1 : best.length;
    while (at > 0 && better(slot, best[at - 1] as number)) at--;
    best.splice(at, 0, slot);
    if (best.length > k) best.pop();
  }
  return best;
}
