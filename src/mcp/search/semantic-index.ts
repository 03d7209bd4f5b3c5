/**
 * The optional semantic stage of `search`: an embedding per tool, asked of a configured
 * OpenAI-compatible endpoint in the background whenever a server's tools change, and the tools
 * nearest a query's embedding. Off the hot paths by construction:
 * - tools are embedded in batches by one background loop; `execute` never waits for it, and a
 *   search uses whatever vectors exist (a tool without one yet is found lexically);
 * - vectors are cached by the text they were made of, so a server that lists the same tools
 *   again, restarts, or changes one tool costs at most the changed tools;
 * - a query's embedding is cached too, waited for at most `timeout`, and after a failure not asked
 *   for again for a while: with the endpoint down, search is lexical and as fast as without it.
 */
import type { Tool } from '@modelcontextprotocol/client';
import type { Logger } from '../../log.js';
import { ThrottledWarnings } from '../../throttled-warnings.js';
import { EmbeddingsError, type EmbeddingsClient } from './embeddings-client.js';
import { keepBest } from './top-k.js';

/**
 * Texts per request to the endpoint (OpenAI takes up to 2,048; smaller batches fail smaller).
 * A batch the endpoint refuses (a 4xx other than auth and rate limits) is halved until the text
 * it refuses is found alone, and left out; the rest go on.
 */
const BATCH = 64;
/** How long a batch may take before it counts as failed. */
const BATCH_TIMEOUT_MS = 60_000;
/** After a failure: wait 1 s, doubling up to a minute, before the next batch or query embedding. */
const FIRST_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 60_000;
/** Query embeddings kept (the most recently used). */
const QUERY_CACHE = 1_000;
/** Characters of a tool's text that are embedded: models take a few thousand tokens at most. */
const MAX_TEXT_CHARS = 4_000;

export interface SemanticMatch {
  name: string;
  similarity: number;
}

/** What a tool is embedded as: its name, title, description and parameter names. */
function embeddingText(name: string, tool: Tool): string {
  const properties = tool.inputSchema?.properties;
  const parameters = properties && typeof properties === 'object' ? Object.keys(properties).join(', ') : '';
  const title = tool.title ?? tool.annotations?.title;
  const text = [`${name}${title ? `: ${title}` : ''}`, tool.description?.trim(), parameters && `Parameters: ${parameters}`]
    .filter(Boolean)
    .join('\n');
  return text.length > MAX_TEXT_CHARS ? text.slice(0, MAX_TEXT_CHARS) : text;
}

export class SemanticIndex {
  /** Vector per embedded text: the cache that makes re-listing cheap. */
  private readonly vectors = new Map<string, Float32Array>();
  /** Per server, each tool's qualified name and the text it is embedded as. */
  private readonly textsByServer = new Map<string, Map<string, string>>();
  /** How many tools, across servers, are embedded as each text. */
  private readonly uses = new Map<string, number>();
  /** Texts waiting for a vector, in the order they came. */
  private readonly waiting = new Set<string>();
  private readonly queries = new Map<string, Float32Array>();
  /** Query embeddings asked for and not answered yet: one request per query, however many search it. */
  private readonly asking = new Map<string, Promise<Float32Array | undefined>>();
  /** The size of the vectors held; a vector of another size means the endpoint's model changed. */
  private dimensions: number | undefined;
  /** Counts changes of model: an answer to a request made before the last one may be of the old model. */
  private generation = 0;
  private pumping = false;
  private closed = false;
  private batchSize = BATCH;
  /** Tool and query embeddings back off apart: slow queries must not hold up the tools, nor the reverse. */
  private readonly backoff = { tools: new Backoff(), queries: new Backoff() };
  private readonly warnings: ThrottledWarnings;

  constructor(
    private readonly client: EmbeddingsClient,
    private readonly queryTimeoutMs: number,
    private readonly log: Logger,
  ) {
    this.warnings = new ThrottledWarnings(log, 'embeddings warnings', 3, 60_000);
  }

  /** Replaces `server`'s tools; the ones whose text has no vector yet are embedded in the background. */
  setServerTools(server: string, tools: readonly Tool[]): void {
    const texts = new Map(tools.map((tool) => [`${server}__${tool.name}`, embeddingText(tool.name, tool)]));
    const before = this.textsByServer.get(server);
    this.textsByServer.set(server, texts);
    for (const text of texts.values()) {
      this.uses.set(text, (this.uses.get(text) ?? 0) + 1);
      if (!this.vectors.has(text)) this.waiting.add(text);
    }
    for (const text of before?.values() ?? []) {
      const left = (this.uses.get(text) as number) - 1;
      if (left > 0) this.uses.set(text, left);
      else {
        this.uses.delete(text);
        this.waiting.delete(text);
      }
    }
    this.forgetUnused();
    void this.pump();
  }

  /** Texts still waiting for a vector (none once the endpoint has caught up). */
  get pending(): number {
    return this.waiting.size;
  }

  /** How many tools have a vector: progress, for logs and tests. */
  get embedded(): number {
    let count = 0;
    for (const texts of this.textsByServer.values()) for (const text of texts.values()) if (this.vectors.has(text)) count++;
    return count;
  }

  /** The query's embedding, or undefined when the endpoint is failing or slower than the timeout. */
  async queryVector(query: string): Promise<Float32Array | undefined> {
    const cached = this.queries.get(query);
    if (cached) {
      // Most recently used last: the first entry is the one to evict.
      this.queries.delete(query);
      this.queries.set(query, cached);
      return cached;
    }
    if (this.backoff.queries.paused || this.closed) return undefined;
    let asked = this.asking.get(query);
    if (!asked) {
      asked = this.ask(query).finally(() => this.asking.delete(query));
      this.asking.set(query, asked);
    }
    return asked;
  }

  private async ask(query: string): Promise<Float32Array | undefined> {
    try {
      const generation = this.generation;
      const [vector] = (await this.client.embed([query], AbortSignal.timeout(this.queryTimeoutMs))) as [Float32Array];
      this.backoff.queries.succeeded();
      if (this.outdated(generation, vector.length)) return undefined;
      this.sizeSeen(vector.length);
      this.queries.set(query, vector);
      if (this.queries.size > QUERY_CACHE) this.queries.delete(this.queries.keys().next().value as string);
      return vector;
    } catch (error) {
      this.failed(this.backoff.queries, error as Error, 'searches are lexical until a query embedding comes in time again');
      return undefined;
    }
  }

  /** The `k` tools most similar to `query` among those `visible` accepts, most similar first. */
  nearest(query: Float32Array, k: number, visible: (name: string) => boolean): SemanticMatch[] {
    const best: SemanticMatch[] = [];
    for (const texts of this.textsByServer.values()) {
      for (const [name, text] of texts) {
        const vector = this.vectors.get(text);
        if (!vector || vector.length !== query.length || !visible(name)) continue;
        const similarity = dot(query, vector);
        // Most tools do not make the cut: they are turned away before a match is made of them.
        if (best.length === k && similarity <= (best[k - 1] as SemanticMatch).similarity) continue;
        keepBest(best, { name, similarity }, k, (a, b) => a.similarity > b.similarity);
      }
    }
    return best;
  }

  /** The similarity of one tool (`server__tool`) to `query`, or undefined when it has no vector (yet). */
  similarity(query: Float32Array, name: string, server: string): number | undefined {
    const text = this.textsByServer.get(server)?.get(name);
    const vector = text === undefined ? undefined : this.vectors.get(text);
    return vector && vector.length === query.length ? dot(query, vector) : undefined;
  }

  close(): void {
    this.closed = true;
    this.client.close();
  }

  /** Embeds the waiting texts, a batch at a time, one request in flight; backs off after failures. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.waiting.size > 0 && !this.closed) {
        const pause = this.backoff.tools.remainingMs;
        if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause).unref());
        const batch: string[] = [];
        for (const text of this.waiting) if (batch.push(text) >= this.batchSize) break;
        try {
          const generation = this.generation;
          const vectors = await this.client.embed(batch, AbortSignal.timeout(BATCH_TIMEOUT_MS));
          const size = (vectors[0] as Float32Array).length;
          // Its texts are waiting again since the change: they are asked of the new model.
          if (this.outdated(generation, size)) continue;
          const changed = this.sizeSeen(size);
          batch.forEach((text, i) => {
            this.waiting.delete(text);
            this.vectors.set(text, vectors[i] as Float32Array);
          });
          // A change of model pauses like a failure: an endpoint whose sizes keep changing must
          // not have every tool sent to it again and again without a break.
          if (changed) this.backoff.tools.failed();
          else this.backoff.tools.succeeded();
          this.batchSize = Math.min(BATCH, this.batchSize * 2);
        } catch (error) {
          if (this.closed) break;
          if (!refused(error)) this.failed(this.backoff.tools, error as Error, 'tools are embedded again after a pause');
          else if (batch.length > 1) this.batchSize = Math.ceil(batch.length / 2);
          else {
            this.waiting.delete(batch[0] as string);
            this.warnings.warn(
              { err: (error as Error).message },
              "the embeddings endpoint refuses a tool's text; that tool is found lexically only",
            );
          }
        }
      }
      if (this.waiting.size === 0 && this.vectors.size > 0) this.log.debug({ tools: this.embedded }, 'tool embeddings up to date');
    } finally {
      this.pumping = false;
    }
  }

  /**
   * A vector of a new size means the endpoint now runs another model: the vectors held compare
   * with none of its answers, so every tool is embedded again (searches are lexical meanwhile).
   */
  private sizeSeen(dimensions: number): boolean {
    const changed = this.dimensions !== undefined && this.dimensions !== dimensions;
    if (changed) {
      this.generation++;
      this.vectors.clear();
      this.queries.clear();
      for (const text of this.uses.keys()) this.waiting.add(text);
      this.warnings.warn(
        { was: this.dimensions, now: dimensions },
        'the embeddings endpoint changed vector size; every tool is embedded again',
      );
      void this.pump();
    }
    this.dimensions = dimensions;
    return changed;
  }

  /** An answer of the old model, to a request made before the model changed: not a change back. */
  private outdated(generation: number, dimensions: number): boolean {
    return generation !== this.generation && dimensions !== this.dimensions;
  }

  private failed(backoff: Backoff, error: Error, consequence: string): void {
    if (this.closed) return;
    backoff.failed();
    this.warnings.warn({ err: error.message }, `embeddings endpoint failed; ${consequence}`);
  }

  /** Drops vectors no tool uses any more, once they outnumber the ones in use (a server gone for good). */
  private forgetUnused(): void {
    if (this.vectors.size <= 2 * this.uses.size + 1_000) return;
    for (const text of this.vectors.keys()) if (!this.uses.has(text)) this.vectors.delete(text);
  }
}

/** Whether the endpoint refused what it was sent (rather than failing, or refusing who sent it). */
function refused(error: unknown): boolean {
  const status = error instanceof EmbeddingsError ? error.status : undefined;
  return status !== undefined && status >= 400 && status < 500 && ![401, 403, 408, 429].includes(status);
}

/** After a failure, wait 1 s, doubling up to a minute; a success starts over. */
class Backoff {
  private failures = 0;
  private until = 0;

  get paused(): boolean {
    return Date.now() < this.until;
  }

  get remainingMs(): number {
    return this.until - Date.now();
  }

  failed(): void {
    this.failures++;
    this.until = Date.now() + Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (this.failures - 1));
  }

  succeeded(): void {
    this.failures = 0;
    this.until = 0;
  }
}

function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] as number) * (b[i] as number);
  return sum;
}
