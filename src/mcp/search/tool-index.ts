/**
 * The tool index behind `search`: BM25F over each tool's name, title, description, server name,
 * parameter names and parameter descriptions (with their allowed values). Words of a request in
 * plain language that name no tool ("what", "do", "please") are dropped from the query. Each other
 * word counts through its best variant:
 * - the word itself, after splitting (snake/camel/kebab), lower-casing and light stemming;
 * - a synonym from a small table of tool verbs and nouns (remove/delete, repo/repository, ...);
 * - a known word within one typo of it (words of five letters or more);
 * - a known word it is the start of (words of four letters or more);
 * each at a lower weight than the word itself. A tool's score is scaled by the share of the query
 * it matches, each word counted by its IDF (matching the rare words matters more than matching
 * many common ones); by a factor when the query names the tool's server ("... in Linear"); and,
 * a little, by whether its annotations agree with the query (destructiveHint for "delete ...",
 * readOnlyHint for "what ..."). Ties are broken by name, so a query always gives the same order.
 * Each server's entries are replaced as a whole and synchronously, so a search sees either the
 * old or the new tools of a server, never a mix.
 */
import type { Tool } from '@modelcontextprotocol/client';
import { fieldCount, InvertedIndex, type PostingList } from './inverted-index.js';
import { stem } from './stem.js';
import { synonymsOf } from './synonyms.js';
import { tokenize } from './tokenize.js';
import { keepBest } from './top-k.js';
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

/** The order of results: best score first, ties broken by name (so a query always gives one order). */
export function byRank(a: Pick<SearchResult, 'name' | 'score'>, b: Pick<SearchResult, 'name' | 'score'>): number {
  return b.score - a.score || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/** The ranking's knobs, with the values the search benchmark was tuned with. */
export interface RankingOptions {
  /** Weight of a match in each field: name, title, description, server, parameter names, parameter descriptions. */
  fieldBoost: readonly [number, number, number, number, number, number];
  /** BM25 length normalisation per field (0: none, 1: full). */
  fieldB: readonly [number, number, number, number, number, number];
  k1: number;
  synonymWeight: number;
  typoWeight: number;
  prefixWeight: number;
  /** How strongly the share of query words a tool matches scales its score. */
  coveragePower: number;
  /** Coverage counts each query word by its IDF (rare words say more) rather than as one. */
  coverageByIdf: boolean;
  /** Factor for the tools of a server the query names (its name, or a word of it). */
  serverNamedBoost: number;
  /**
   * Factor for a tool whose annotations agree with what the query asks for (destructiveHint for
   * "delete ...", readOnlyHint for "what/list/show ..."); a tool that disagrees gets its inverse.
   */
  hintBoost: number;
}

const DEFAULT_RANKING: RankingOptions = {
  fieldBoost: [3, 2, 1, 1.5, 0.7, 0.3],
  fieldB: [0.5, 0.5, 0.75, 0, 0.5, 0.75],
  k1: 1.2,
  synonymWeight: 0.6,
  typoWeight: 0.8,
  prefixWeight: 0.4,
  coveragePower: 1,
  coverageByIdf: true,
  serverNamedBoost: 3,
  hintBoost: 1.1,
};

/** What a tool's annotations say it does, kept per slot for the ranking. */
const enum Hint {
  None = 0,
  ReadOnly = 1,
  Destructive = 2,
}

/** Query words that ask to destroy, to change, or only to look. */
const DESTRUCTIVE_WORDS = new Set(
  'delete remove drop erase destroy purge wipe trash cancel kill terminate revoke unlink discard'.split(' '),
);
const WRITING_WORDS = new Set(
  'create add new make update edit change set send post write move rename upload insert put push schedule book save store append replace merge close open assign invite share reply archive'.split(
    ' ',
  ),
);
const LOOKING_WORDS = new Set(
  'what which who whom where when how list show find get read search look see view check count is are did does whether'.split(' '),
);

/** What the query asks for, by its words: Destructive, ReadOnly (only looking), or None. */
function intentOf(words: readonly string[]): Hint {
  if (words.some((word) => DESTRUCTIVE_WORDS.has(word))) return Hint.Destructive;
  if (words.some((word) => WRITING_WORDS.has(word))) return Hint.None;
  return words.some((word) => LOOKING_WORDS.has(word)) ? Hint.ReadOnly : Hint.None;
}

function hintOf(tool: Tool): Hint {
  if (tool.annotations?.destructiveHint === true && tool.annotations.readOnlyHint !== true) return Hint.Destructive;
  return tool.annotations?.readOnlyHint === true ? Hint.ReadOnly : Hint.None;
}

const SERVER_FIELD = 3;
/** Field lengths (in words) whose weights are computed ahead, per change; longer fields are rare. */
const LENGTHS_TABLED = 256;

const FIELDS = 6;
const MIN_TYPO_LENGTH = 5;
const MIN_PREFIX_LENGTH = 4;
/**
 * Unknown words of one query looked up by typo. Each such lookup compares the word with the whole
 * vocabulary, so a hostile query of thousands of made-up words would hold the event loop; later
 * unknown words still match as prefixes, just not by typo.
 */
const MAX_TYPO_SCANS = 8;
/**
 * Distinct words of one query that are ranked; the rest are ignored. Each walks the postings of
 * its variants, thousands of tools for a common word at scale: a query of a thousand real words
 * would hold the event loop for tens of milliseconds. Requests in plain words have a dozen.
 */
const MAX_QUERY_WORDS = 32;

/** Words too common to say anything about a tool. */
const STOPWORDS = new Set(
  'a an the to of for in on with and or by from at as is are be this that it its into via my me i you your can will about some any'.split(
    ' ',
  ),
);

/**
 * Words of a request in plain language that say nothing about which tool ("what time is it now",
 * "do I need", "can you please"): dropped from queries only, so a tool named `need_help` or a
 * description that uses them is still found by its other words.
 */
const QUERY_FILLER = new Set(
  'what which who whom whose when where why how do does did done is am was were been being have has had should could would shall may might must please let lets us we our ours they them their there here just also ever still yet too very really right again lately currently much many any every each whether if then than so'.split(
    ' ',
  ),
);

/** The words of a query that a search ranks by: no stopwords or filler, one per stem, the first 32. */
export function rankedWords(said: readonly string[]): string[] {
  return [
    ...new Map(said.filter((word) => !STOPWORDS.has(word) && !QUERY_FILLER.has(word)).map((word) => [stemOf(word), word])).values(),
  ].slice(0, MAX_QUERY_WORDS);
}

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

function terms(text: string): string[] {
  return tokenize(text.length > MAX_INDEXED_CHARS ? text.slice(0, MAX_INDEXED_CHARS) : text).filter((word) => !STOPWORDS.has(word));
}

/** What of a tool is indexed, besides its name and its server's. */
function indexedText(tool: Tool) {
  const properties = tool.inputSchema?.properties;
  const parameters = properties && typeof properties === 'object' ? properties : {};
  return {
    title: titleOf(tool),
    description: tool.description ?? '',
    parameterNames: Object.keys(parameters).join(' '),
    parameters: parameterText(parameters),
  };
}

/**
 * The words a tool is indexed by, field by field: name, title, description, its server's name
 * (`serverTerms`, from `serverTermsOf`), parameter names, parameter descriptions and values.
 */
export function indexedFields(tool: Tool, serverTerms: readonly string[]): (readonly string[])[] {
  const text = indexedText(tool);
  return [terms(tool.name), terms(text.title), terms(text.description), serverTerms, terms(text.parameterNames), terms(text.parameters)];
}

/** The words of a server's name, as its tools are indexed by them. */
export function serverTermsOf(server: string): string[] {
  return terms(server);
}

function titleOf(tool: Tool): string {
  return tool.title ?? tool.annotations?.title ?? '';
}

/** Whether two definitions of a tool are indexed alike (the rest of a definition, e.g. its output schema, may differ). */
function sameIndexedText(a: Tool, b: Tool): boolean {
  if (a === b) return true;
  // The cheap parts first: a changed tool usually differs there, and its parameters need not be read.
  if ((a.description ?? '') !== (b.description ?? '') || titleOf(a) !== titleOf(b)) return false;
  const [x, y] = [indexedText(a), indexedText(b)];
  return x.parameterNames === y.parameterNames && x.parameters === y.parameters;
}

/** The descriptions and allowed values of a tool's parameters, one level deep. */
function parameterText(properties: object): string {
  const parts: string[] = [];
  let length = 0;
  const add = (text: string) => {
    parts.push(text);
    length += text.length + 1;
  };
  for (const schema of Object.values(properties) as unknown[]) {
    if (!schema || typeof schema !== 'object') continue;
    const { description, enum: allowed } = schema as { description?: unknown; enum?: unknown };
    if (typeof description === 'string') add(description.slice(0, 500));
    if (Array.isArray(allowed))
      add(
        allowed
          .slice(0, 100)
          .filter((value) => typeof value === 'string')
          .join(' '),
      );
    // What is past the indexing limit would be cut anyway: stop building it.
    if (length > MAX_INDEXED_CHARS) break;
  }
  return parts.join(' ');
}

/** One way a query word can match: a stem and how much a match through it counts. */
interface Variant {
  stem: string;
  weight: number;
}

export class ToolIndex {
  private readonly index = new InvertedIndex(FIELDS, stemOf);
  private readonly slots: (IndexedTool | undefined)[] = [];
  private readonly slotsByServer = new Map<string, number[]>();
  private readonly slotByName = new Map<string, number>();
  private hints = new Uint8Array(0);
  /**
   * What one occurrence of a term adds to BM25F's tf, by field and by the field's length in words
   * (below LENGTHS_TABLED): the field boost over the length normalisation. It depends on average
   * field lengths, so any change drops it; the next search computes it again, 1,536
   * values, not one per tool and field (600,000 at 100,000 tools, which took longer than the search).
   */
  private lengthWeights: Float64Array | undefined;
  /**
   * Per posting list, each posting's saturated BM25F term frequency, computed when a search first
   * walks the list after a change; a search then costs one multiply per posting.
   */
  private readonly saturated = new Map<PostingList, Float32Array>();
  /** Per-slot arrays a search accumulates into, kept between searches and zeroed where written. */
  private scratch = newScratch(0);

  constructor(private readonly ranking: RankingOptions = DEFAULT_RANKING) {}

  /**
   * Replaces every entry of `server` with `tools`. A name listed twice keeps its last tool. A tool
   * whose indexed text is what it was keeps its postings (its definition is still replaced), so a
   * server that lists 2,000 tools again with one changed costs the indexing of one tool.
   */
  setServerTools(server: string, tools: readonly Tool[]): void {
    const listed = new Map(tools.map((tool) => [tool.name, tool]));
    const slots: number[] = [];
    const gone: number[] = [];
    for (const slot of this.slotsByServer.get(server) ?? []) {
      const old = this.slots[slot] as IndexedTool;
      const tool = listed.get(old.tool.name);
      if (tool !== undefined && sameIndexedText(old.tool, tool)) {
        this.place(slot, { ...old, tool });
        listed.delete(tool.name);
        slots.push(slot);
      } else {
        this.slotByName.delete(old.name);
        this.slots[slot] = undefined;
        gone.push(slot);
      }
    }
    if (gone.length === 0 && listed.size === 0) return;
    this.lengthWeights = undefined;
    this.saturated.clear();
    this.index.removeAll(gone);
    const serverTerms = serverTermsOf(server);
    for (const tool of listed.values()) {
      const slot = this.index.add(indexedFields(tool, serverTerms));
      this.place(slot, { name: `${server}__${tool.name}`, server, tool });
      slots.push(slot);
    }
    this.slotsByServer.set(server, slots);
  }

  /** Puts `entry` in `slot`, with what a search keeps of it per slot. */
  private place(slot: number, entry: IndexedTool): void {
    this.slots[slot] = entry;
    this.slotByName.set(entry.name, slot);
    if (slot >= this.hints.length) {
      const grown = new Uint8Array(Math.max(64, slot * 2));
      grown.set(this.hints);
      this.hints = grown;
    }
    this.hints[slot] = hintOf(entry.tool);
  }

  get(name: string): IndexedTool | undefined {
    const slot = this.slotByName.get(name);
    return slot === undefined ? undefined : this.slots[slot];
  }

  /** The tool named `name` as a search result with `score`; undefined when there is none. */
  result(name: string, score: number): SearchResult | undefined {
    const entry = this.get(name);
    return entry && resultOf(entry.name, entry.tool, score);
  }

  get size(): number {
    return this.slotByName.size;
  }

  search(keywords: readonly string[], limit = MAX_RESULTS): SearchResult[] {
    const said = keywords.flatMap(tokenize);
    const intent = intentOf(said);
    const words = rankedWords(said);
    if (words.length === 0 || this.index.documentCount === 0) return [];
    if (this.scratch.scores.length < this.index.slotCount)
      this.scratch = newScratch(Math.max(this.index.slotCount, this.scratch.scores.length * 2));
    const { scores, covered, serverNamed, best, touched, wordSlots } = this.scratch;
    const { coveragePower, coverageByIdf, serverNamedBoost, hintBoost } = this.ranking;
    const hints = this.hints;
    let candidates = 0;
    let coverable = 0;
    const typos = { scansLeft: MAX_TYPO_SCANS };
    for (const word of words) {
      const variants = this.variants(word, typos);
      const written = this.bestPerTool(variants, best, wordSlots, serverNamed);
      if (written === 0) continue;
      const weight = coverageByIdf ? this.idfOf(variants) : 1;
      coverable += weight;
      for (let i = 0; i < written; i++) {
        const slot = wordSlots[i] as number;
        if (covered[slot] === 0) touched[candidates++] = slot;
        scores[slot] = (scores[slot] as number) + (best[slot] as number);
        covered[slot] = (covered[slot] as number) + weight;
        best[slot] = 0;
      }
    }
    // The final score (scaled by keyword coverage) replaces the sum, once per candidate.
    for (let i = 0; i < candidates; i++) {
      const slot = touched[i] as number;
      const named = serverNamed[slot] === 1 ? serverNamedBoost : 1;
      const hint = hints[slot] as Hint;
      const agreed = intent === Hint.None || hint === Hint.None ? 1 : hint === intent ? hintBoost : 1 / hintBoost;
      scores[slot] = (scores[slot] as number) * ((covered[slot] as number) / coverable) ** coveragePower * named * agreed;
    }
    const top = this.topK(touched.subarray(0, candidates), scores, limit);
    for (let i = 0; i < candidates; i++) {
      const slot = touched[i] as number;
      scores[slot] = 0;
      covered[slot] = 0;
      serverNamed[slot] = 0;
    }
    return top;
  }

  /** The `k` best candidates by score, ties broken by name, as results; without sorting them all. */
  private topK(candidates: Uint32Array, scores: Float64Array, k: number): SearchResult[] {
    const nameOf = (slot: number) => this.slots[slot]?.name ?? '';
    const better = (a: number, b: number) => {
      const scoreA = scores[a] as number;
      const scoreB = scores[b] as number;
      return scoreA > scoreB || (scoreA === scoreB && nameOf(a) < nameOf(b));
    };
    const best: number[] = [];
    for (const slot of candidates) keepBest(best, slot, k, better);
    return best.flatMap((slot) => {
      const entry = this.slots[slot];
      return entry ? [resultOf(entry.name, entry.tool, Math.round((scores[slot] as number) * 1000) / 1000)] : [];
    });
  }

  /**
   * The stems a query word may match, each with its weight; the word itself first. An unknown
   * word is compared with every word of the index while `typos` has scans left, and uses one.
   */
  private variants(word: string, typos: { scansLeft: number }): Variant[] {
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
    if (
      typos.scansLeft > 0 &&
      word.length >= MIN_TYPO_LENGTH &&
      this.index.stemOf(word) === undefined &&
      this.index.postingsOf(own) === undefined
    ) {
      typos.scansLeft--;
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
   * `best` (all zeros on entry); the slots it wrote go into `slots`, and their number is returned.
   */
  private bestPerTool(variants: Variant[], best: Float64Array, slots: Uint32Array, serverNamed: Uint8Array): number {
    const documents = this.index.documentCount;
    let written = 0;
    for (const { stem: stemmed, weight } of variants) {
      const postings = this.index.postingsOf(stemmed);
      if (!postings) continue;
      const idf = Math.log(1 + (documents - postings.size + 0.5) / (postings.size + 0.5));
      const saturated = this.saturatedOf(postings);
      const factor = weight * idf;
      const listed = postings.slots;
      const own = weight === 1;
      for (let i = 0; i < postings.size; i++) {
        const slot = listed[i] as number;
        if (own && fieldCount(postings.counts[i] as number, SERVER_FIELD) !== 0) serverNamed[slot] = 1;
        const score = factor * (saturated[i] as number);
        const previous = best[slot] as number;
        if (previous === 0 && score > 0) slots[written++] = slot;
        if (score > previous) best[slot] = score;
      }
    }
    return written;
  }

  /** How much a query word says: the IDF of its rarest variant in the index. */
  private idfOf(variants: Variant[]): number {
    let fewest = Infinity;
    for (const { stem: stemmed } of variants) fewest = Math.min(fewest, this.index.postingsOf(stemmed)?.size ?? Infinity);
    const documents = this.index.documentCount;
    return Math.log(1 + (documents - fewest + 0.5) / (fewest + 0.5));
  }

  /** tf·(k1 + 1)/(tf + k1) of each posting, with tf the field-weighted, length-normalised count. */
  private saturatedOf(postings: PostingList): Float32Array {
    let values = this.saturated.get(postings);
    if (values) return values;
    const { k1 } = this.ranking;
    const tabled = (this.lengthWeights ??= this.computeLengthWeights());
    const lengths = this.index.fieldLengths; // FIELDS per slot: the index was made with FIELDS fields
    values = new Float32Array(postings.size);
    for (let i = 0; i < postings.size; i++) {
      const packed = postings.counts[i] as number;
      let tf = 0;
      for (let field = 0, base = (postings.slots[i] as number) * FIELDS; field < FIELDS; field++) {
        const count = fieldCount(packed, field);
        if (count === 0) continue;
        const length = lengths[base + field] as number;
        tf += count * (length < LENGTHS_TABLED ? (tabled[field * LENGTHS_TABLED + length] as number) : this.lengthWeight(field, length));
      }
      values[i] = (tf * (k1 + 1)) / (tf + k1);
    }
    this.saturated.set(postings, values);
    return values;
  }

  /** What one occurrence counts in `field` of a tool whose field is `length` words long. */
  private lengthWeight(field: number, length: number): number {
    const b = this.ranking.fieldB[field] ?? 0;
    return (this.ranking.fieldBoost[field] ?? 0) / (1 - b + (b * length) / (this.index.averageFieldLength(field) || 1));
  }

  private computeLengthWeights(): Float64Array {
    const weights = new Float64Array(FIELDS * LENGTHS_TABLED);
    for (let field = 0; field < FIELDS; field++) {
      for (let length = 0; length < LENGTHS_TABLED; length++) weights[field * LENGTHS_TABLED + length] = this.lengthWeight(field, length);
    }
    return weights;
  }
}

/** Per-slot arrays for one search; `touched` and `wordSlots` list slots, the others are indexed by slot. */
function newScratch(size: number) {
  return {
    scores: new Float64Array(size),
    /** Per slot: the query words it matched, each counted by its weight. */
    covered: new Float64Array(size),
    serverNamed: new Uint8Array(size),
    best: new Float64Array(size),
    touched: new Uint32Array(size),
    wordSlots: new Uint32Array(size),
  };
}
