/**
 * The semantic stage of `search` against an embeddings endpoint served by the test: a real HTTP
 * server speaking the OpenAI embeddings API, whose vectors put words of one "concept" together,
 * so a query can be near a tool it shares no word with.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'smol-toml';
import { ConfigError, parseConfig } from '../src/config/load.js';
import type { RunningNexus } from '../src/server.js';
import { capturedLogger } from './helpers/logs.js';
import { closedAfterEach, servingSomething } from './helpers/nexus.js';
import { FIXTURE_SERVER } from './helpers/processes.js';

/** Words that mean one thing to the fixture's "model"; any other word lands in a hashed bucket. */
const CONCEPTS = [
  ['arithmetic', 'adds', 'numbers', 'sum'],
  ['parrot', 'echoes', 'repeat'],
];
const BUCKETS = 16;
const API_KEY = 'emb-secret-key-0123456789';

function embedding(text: string): number[] {
  const vector = new Array<number>(CONCEPTS.length + BUCKETS).fill(0);
  for (const word of text
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean)) {
    const concept = CONCEPTS.findIndex((group) => group.includes(word));
    if (concept >= 0) vector[concept] = (vector[concept] as number) + 1;
    else {
      let hash = 0;
      for (const char of word) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
      vector[CONCEPTS.length + (hash % BUCKETS)] = (vector[CONCEPTS.length + (hash % BUCKETS)] as number) + 0.05;
    }
  }
  return vector;
}

type Mode = 'ok' | 'fail' | 'hang';

/** The fixture endpoint: every request's inputs and headers are kept; `mode` says how it answers. */
async function startEmbeddings() {
  const requests: { inputs: string[]; headers: IncomingHttpHeaders }[] = [];
  /**
   * `refuse`: inputs holding it get a 413; `overflow`: inputs holding it get a vector past float
   * range; `extraDimensions`: every vector gets that many more (another model behind the URL).
   */
  const state: {
    mode: Mode;
    refuse?: string;
    overflow?: string;
    extraDimensions?: number;
    alternateSizes?: boolean;
    /** The next request's answer is made at once but kept in `held` until the test sends it. */
    holdNext?: boolean;
  } = { mode: 'ok' };
  const held: (() => void)[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { input: string[]; model: string };
      requests.push({ inputs: body.input, headers: request.headers });
      if (state.mode === 'hang') return;
      if (state.refuse !== undefined && body.input.some((text) => text.includes(state.refuse as string))) {
        response.writeHead(413, { 'content-type': 'application/json' });
        return response.end(JSON.stringify({ error: { message: 'input too long' } }));
      }
      if (state.mode === 'fail') {
        response.writeHead(500, { 'content-type': 'application/json' });
        return response.end(JSON.stringify({ error: { message: `overloaded; your key ${API_KEY} is fine` } }));
      }
      if (state.alternateSizes) state.extraDimensions = state.extraDimensions ? 0 : 8;
      const vector = (text: string) =>
        state.overflow !== undefined && text.includes(state.overflow)
          ? embedding(text).map(() => 1e39)
          : [...embedding(text), ...new Array<number>(state.extraDimensions ?? 0).fill(0.01)];
      const answer = JSON.stringify({ object: 'list', data: body.input.map((text, index) => ({ index, embedding: vector(text) })) });
      const send = () => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(answer);
      };
      if (!state.holdNext) return send();
      state.holdNext = false;
      held.push(send);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    requests,
    state,
    held,
    inputs: () => requests.flatMap((request) => request.inputs),
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

const { nexusWith, clientOf } = closedAfterEach();
const endpoints: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  await Promise.all(endpoints.splice(0).map((endpoint) => endpoint.close()));
});

async function endpoint() {
  const started = await startEmbeddings();
  endpoints.push(started);
  return started;
}

const CATALOG_SERVER = fileURLToPath(new URL('../bench/search/catalog-server.mjs', import.meta.url));
const fixtureServer = `[mcp.servers.fx]\ncmd = ["node", ${JSON.stringify(FIXTURE_SERVER)}]\n`;
const embeddingsConfig = (url: string, extra = '') =>
  `[mcp.search.embeddings]\nurl = "${url}"\nmodel = "fixture-model"\napi_key = "${API_KEY}"\n${extra}\n${fixtureServer}`;

async function embedded(nexus: RunningNexus): Promise<void> {
  while ((nexus.registry.embeddingsPending ?? 0) > 0) await new Promise((resolve) => setTimeout(resolve, 20));
}

async function search(nexus: RunningNexus, ...keywords: string[]): Promise<string[]> {
  const client = await clientOf(nexus);
  const result = await client.callTool({ name: 'search', arguments: { keywords } });
  return (result.structuredContent as { results: { name: string }[] }).results.map((found) => found.name);
}

describe('search with embeddings', () => {
  it('finds a tool that shares no word with the query, which lexical search cannot', async () => {
    const fixture = await endpoint();
    const lexical = await nexusWith(fixtureServer);
    expect(await search(lexical, 'arithmetic')).not.toContain('fx__add_numbers');
    const hybrid = await nexusWith(embeddingsConfig(fixture.url));
    await embedded(hybrid);
    expect((await search(hybrid, 'arithmetic'))[0]).toBe('fx__add_numbers');
    // The model and the key go to the endpoint as configured.
    expect(fixture.requests[0]?.headers.authorization).toBe(`Bearer ${API_KEY}`);
  });

  it('still ranks an exact name first', async () => {
    const fixture = await endpoint();
    const hybrid = await nexusWith(embeddingsConfig(fixture.url));
    await embedded(hybrid);
    expect((await search(hybrid, 'echo'))[0]).toBe('fx__echo');
  });

  it('embeds each tool once, on a change only the changed tools, and never for execute', async () => {
    const fixture = await endpoint();
    const hybrid = await nexusWith(embeddingsConfig(fixture.url));
    await embedded(hybrid);
    const tools = hybrid.registry.index.size;
    expect(tools).toBeGreaterThan(20);
    expect(fixture.inputs()).toHaveLength(tools);
    expect(new Set(fixture.inputs()).size).toBe(tools);
    const client = await clientOf(hybrid);
    const before = fixture.requests.length;
    for (let i = 0; i < 5; i++) await client.callTool({ name: 'execute', arguments: { name: 'fx__echo', arguments: { message: 'hi' } } });
    await client.callTool({ name: 'execute', arguments: { name: 'fx__relist_tools', arguments: {} } });
    // Whatever list_changed does reaches the index first; then nothing new may have been asked for.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(fixture.requests.length).toBe(before);
    await client.callTool({ name: 'execute', arguments: { name: 'fx__add_tool', arguments: { name: 'parrot_tool' } } });
    await expect.poll(() => fixture.requests.length, { timeout: 5_000 }).toBe(before + 1);
    await embedded(hybrid);
    expect(fixture.requests.at(-1)?.inputs).toEqual([expect.stringContaining('parrot_tool')]);
  });

  it('asks for a query embedding once, then uses it from its cache', async () => {
    const fixture = await endpoint();
    const hybrid = await nexusWith(embeddingsConfig(fixture.url));
    await embedded(hybrid);
    await search(hybrid, 'sum', 'of figures');
    await search(hybrid, 'sum', 'of figures');
    expect(fixture.inputs().filter((input) => input === 'sum of figures')).toHaveLength(1);
  });

  it('answers lexically when the endpoint fails, says so without its key, and pauses before asking again', async () => {
    const fixture = await endpoint();
    const log = capturedLogger('warn');
    const hybrid = await nexusWith(embeddingsConfig(fixture.url), log.logger);
    await embedded(hybrid);
    fixture.state.mode = 'fail';
    expect((await search(hybrid, 'echo', 'back'))[0]).toBe('fx__echo');
    expect(log.text()).toContain('embeddings endpoint failed');
    expect(log.text()).toContain('answered 500');
    expect(log.text()).not.toContain(API_KEY);
    const asked = fixture.requests.length;
    expect((await search(hybrid, 'add', 'numbers'))[0]).toBe('fx__add_numbers');
    expect(fixture.requests.length).toBe(asked);
  });

  it('leaves out a tool whose text the endpoint refuses, embeds the others, and still finds it lexically first', async () => {
    const fixture = await endpoint();
    fixture.state.refuse = 'Adds two numbers';
    const hybrid = await nexusWith(embeddingsConfig(fixture.url));
    await embedded(hybrid);
    const refused = fixture.inputs().filter((input) => input.includes('Adds two numbers'));
    expect(refused.length).toBeGreaterThan(0);
    expect(new Set(fixture.requests.flatMap((request) => (request.inputs.length === 1 ? request.inputs : [])))).toContain(refused[0]);
    // Every other tool got its vector; the refused one ranks as lexical search ranks it.
    expect((await search(hybrid, 'add', 'numbers'))[0]).toBe('fx__add_numbers');
  });

  it('refuses vectors it cannot scale, and answers with finite scores', async () => {
    const fixture = await endpoint();
    const hybrid = await nexusWith(embeddingsConfig(fixture.url));
    await embedded(hybrid);
    fixture.state.overflow = 'echo';
    const client = await clientOf(hybrid);
    const result = await client.callTool({ name: 'search', arguments: { keywords: ['echo'] } });
    const results = (result.structuredContent as { results: { name: string; score: unknown }[] }).results;
    expect(results[0]?.name).toBe('fx__echo');
    for (const found of results) expect(Number.isFinite(found.score)).toBe(true);
  });

  it('embeds every tool again when the endpoint starts answering vectors of another size (its model changed)', async () => {
    const fixture = await endpoint();
    const log = capturedLogger('warn');
    const hybrid = await nexusWith(embeddingsConfig(fixture.url), log.logger);
    await embedded(hybrid);
    const tools = fixture.inputs().length;
    fixture.state.extraDimensions = 8;
    // The first query of the new size finds the tools' vectors outdated: lexical meanwhile.
    await search(hybrid, 'parrot');
    await embedded(hybrid);
    expect(fixture.inputs().length).toBeGreaterThanOrEqual(2 * tools);
    expect(log.text()).toContain('changed vector size');
    expect((await search(hybrid, 'arithmetic', 'please'))[0]).toBe('fx__add_numbers');
  });

  it('takes an answer of the old model, to a query asked before the model changed, for outdated rather than a change back', async () => {
    const fixture = await endpoint();
    const hybrid = await nexusWith(embeddingsConfig(fixture.url, 'timeout = "20s"'));
    await embedded(hybrid);
    fixture.state.holdNext = true;
    const early = search(hybrid, 'parrot');
    await expect.poll(() => fixture.held.length).toBe(1);
    fixture.state.extraDimensions = 8;
    await search(hybrid, 'arithmetic', 'now'); // the new size: every tool is embedded again
    await embedded(hybrid);
    const asked = fixture.inputs().length;
    fixture.held.pop()?.(); // the old model's answer arrives last
    await early;
    await embedded(hybrid);
    expect(fixture.inputs().length).toBe(asked);
    expect((await search(hybrid, 'arithmetic', 'please'))[0]).toBe('fx__add_numbers');
  });

  it('pauses between re-embeddings when the endpoint keeps changing vector size', async () => {
    const fixture = await endpoint();
    // More tools than one batch holds, so a round of embedding takes several answers.
    const many = `[mcp.servers.many]\ncmd = ["node", ${JSON.stringify(CATALOG_SERVER)}, "everything"]\nenv = { CATALOG_TOOLS = "200" }\n`;
    const hybrid = await nexusWith(`${embeddingsConfig(fixture.url)}\n${many}`);
    await embedded(hybrid);
    fixture.state.alternateSizes = true;
    const before = fixture.requests.length;
    expect((await search(hybrid, 'add', 'numbers'))[0]).toBe('fx__add_numbers');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    // Without a pause every answer would start another round at once: hundreds in this time.
    expect(fixture.requests.length - before).toBeLessThan(10);
    expect((await search(hybrid, 'add', 'numbers'))[0]).toBe('fx__add_numbers');
  });

  it('asks once for a query that several searches wait on', async () => {
    const fixture = await endpoint();
    const hybrid = await nexusWith(embeddingsConfig(fixture.url, 'timeout = "300ms"'));
    await embedded(hybrid);
    fixture.state.mode = 'hang';
    const client = await clientOf(hybrid);
    await Promise.all(Array.from({ length: 5 }, () => client.callTool({ name: 'search', arguments: { keywords: ['sum', 'please'] } })));
    expect(fixture.inputs().filter((input) => input === 'sum please')).toHaveLength(1);
  });

  it('does not wait longer than its timeout for a query embedding', async () => {
    const fixture = await endpoint();
    const hybrid = await nexusWith(embeddingsConfig(fixture.url, 'timeout = "200ms"'));
    await embedded(hybrid);
    fixture.state.mode = 'hang';
    expect((await search(hybrid, 'add', 'numbers'))[0]).toBe('fx__add_numbers');
    expect(fixture.requests.at(-1)?.inputs).toEqual(['add numbers']);
  });

  it('searches lexically while the endpoint is unreachable from the start', async () => {
    const fixture = await endpoint();
    await fixture.close();
    const hybrid = await nexusWith(embeddingsConfig(fixture.url));
    expect((await search(hybrid, 'add', 'numbers'))[0]).toBe('fx__add_numbers');
    expect(hybrid.registry.embeddingsPending).toBeGreaterThan(0);
  });
});

describe('[mcp.search.embeddings] config', () => {
  const error = (toml: string) => {
    try {
      parseConfig(parse(servingSomething(toml)), 'nexus.toml', {});
    } catch (caught) {
      expect(caught).toBeInstanceOf(ConfigError);
      return (caught as Error).message;
    }
    throw new Error('the config was accepted');
  };

  it('names the key and the problem', () => {
    expect(error('[mcp.search.embeddings]\nurl = "http://127.0.0.1:1/v1"\nmodel = "m"\nweight = 2')).toBe(
      'nexus.toml: mcp.search.embeddings.weight: must be between 0.0 and 1.0',
    );
    expect(error('[mcp.search.embeddings]\nurl = "ftp://x"\nmodel = "m"')).toBe(
      'nexus.toml: mcp.search.embeddings.url: bad URL: must be http or https',
    );
    expect(error('[mcp.search.embeddings]\nurl = "http://127.0.0.1:1/v1"')).toContain('mcp.search.embeddings.model');
    expect(error('[mcp.search]\nembedings = {}')).toContain('mcp.search');
  });

  it('is off unless configured', () => {
    const config = parseConfig(parse(servingSomething('')), 'nexus.toml', {});
    expect(config.mcp.search.embeddings).toBeUndefined();
  });
});
