/**
 * `npm run bench:search`: search quality and speed, side by side with a plain BM25 baseline.
 *
 * Quality: every catalog server is served unchanged by a stdio fixture behind real nexus, and
 * each query goes through the SDK client to `search`. The baseline is MiniSearch with its
 * defaults over name + description, on the same catalog and queries.
 * Speed: the index in-process at 1k and 10k tools (the catalog repeated under other server
 * names): build time, search p50/p99, and the heap the index holds.
 *
 * Two query sets: queries.json, against which the ranking was tuned, and queries-heldout.json,
 * written separately and never used for tuning, which shows how well the tuning generalises.
 *
 * Flags: --explain=<query id | misses> prints both rankings; --quality-only skips speed;
 * --embeddings[=<url>] adds search with the semantic stage, against an OpenAI-compatible endpoint
 * (EMBEDDINGS_MODEL, EMBEDDINGS_API_KEY, EMBEDDINGS_WEIGHT), or a local sentence encoder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Client, StreamableHTTPClientTransport, type Tool } from '@modelcontextprotocol/client';
import MiniSearch from 'minisearch';
import { parseConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log.js';
import { stem } from '../../src/mcp/search/stem.js';
import { indexedFields, rankedWords, serverTermsOf, ToolIndex } from '../../src/mcp/search/tool-index.js';
import { tokenize } from '../../src/mcp/search/tokenize.js';
import { startNexus } from '../../src/server.js';
import { mean, scoreQuery, type QueryScores } from './metrics.js';

interface Catalog {
  servers: { name: string; package: string; version: string; tools: Tool[] }[];
}
interface Query {
  id: string;
  kind: string;
  keywords: string[];
  expected: string[];
}

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const catalog = JSON.parse(readFileSync(here('./catalog.json'), 'utf8')) as Catalog;
const loadQueries = (file: string) => JSON.parse(readFileSync(here(file), 'utf8')) as Query[];
/** Each set: its title, its queries, and whether its goal is on task queries alone (the task sets) or on all. */
const querySets: [string, Query[], 'task' | 'all'][] = [
  ['tuning set (queries.json)', loadQueries('./queries.json'), 'all'],
  ['held-out set (queries-heldout.json)', loadQueries('./queries-heldout.json'), 'all'],
  ['task queries, tuning split (queries-tasks-tuning.json)', loadQueries('./queries-tasks-tuning.json'), 'task'],
  ['task queries, checking split (queries-tasks-checking.json)', loadQueries('./queries-tasks-checking.json'), 'task'],
];
/** Every query, for the speed runs. */
const queries = querySets.flatMap(([, set]) => set);
const args = new Map(process.argv.slice(2).map((arg) => arg.replace(/^--/, '').split('=') as [string, string]));

type Ranker = (keywords: string[]) => Promise<string[]> | string[];

/**
 * Real nexus over HTTP, one stdio fixture per catalog server. `extra` adds config (access rules:
 * `serverRule` gives each server's rule lines) and `groups` names a client per group to rank as.
 */
async function nexusRankers(
  access?: {
    identity: string;
    serverRule: (server: string, i: number) => string;
    groups: string[];
  },
  extra = '',
): Promise<{ rankers: Map<string, Ranker>; close: () => Promise<void> }> {
  const servers = catalog.servers
    .map(
      (server, i) =>
        `[mcp.servers.${server.name}]\ncmd = ["node", ${JSON.stringify(here('./catalog-server.mjs'))}, "${server.name}"]\n${access?.serverRule(server.name, i) ?? ''}`,
    )
    .join('\n');
  const config = parseConfig((await import('smol-toml')).parse(`${access?.identity ?? ''}\n${extra}\n${servers}`), 'bench');
  const nexus = await startNexus(config, { logger: silentLogger, listenAddress: { host: '127.0.0.1', port: 0 } });
  await nexus.ready;
  // With embeddings, every tool's vector first (the endpoint may take a while).
  while ((nexus.registry.embeddingsPending ?? 0) > 0) await new Promise((resolve) => setTimeout(resolve, 200));
  const failed = nexus.registry.all().filter((ds) => ds.state.status !== 'ready');
  if (failed.length > 0) throw new Error(`catalog servers failed: ${failed.map((ds) => ds.name).join(', ')}`);
  const clients: Client[] = [];
  const rankers = new Map<string, Ranker>();
  for (const group of access?.groups ?? ['']) {
    const client = new Client({ name: 'bench', version: '1' });
    const headers: Record<string, string> = group ? { 'x-client-id': `bench-${group}`, 'x-group': group } : {};
    await client.connect(new StreamableHTTPClientTransport(new URL(`${nexus.url}/mcp`), { requestInit: { headers } }));
    clients.push(client);
    rankers.set(group, async (keywords) => {
      const result = await client.callTool({ name: 'search', arguments: { keywords } });
      return (result.structuredContent as { results: { name: string }[] }).results.map((r) => r.name);
    });
  }
  return {
    rankers,
    close: async () => {
      await Promise.all(clients.map((client) => client.close()));
      await nexus.close();
    },
  };
}

/**
 * Per-group views against no rules, end to end. Access rules give group `almost` every tool but
 * one (a separate index of 387 tools: a view that admits everything shares the full index, so it
 * would measure nothing) and `half` the tools of every other server. `almost` must rank as no
 * rules do once the hidden tool is taken out; latencies are interleaved over rounds so drift falls
 * on all alike. (`half` returns other tools, with other schemas to send, so it is shown, not judged.)
 */
async function printViews(plain: Ranker): Promise<number> {
  const first = catalog.servers[0] as Catalog['servers'][number];
  const hidden = `${first.name}__${first.tools[0]?.name}`;
  const access = {
    identity:
      '[server.client_identification]\nenabled = true\nclient_id.http_header = "x-client-id"\ngroup_id.http_header = "x-group"\n[server.client_identification.validation]\ngroup_values = ["almost", "half"]\n',
    serverRule: (server: string, i: number) =>
      [
        i % 2 === 1 ? 'deny = ["half"]' : '',
        server === first.name ? `[mcp.servers.${server}.tools.${first.tools[0]?.name}]\ndeny = ["almost"]` : '',
      ].join('\n'),
    groups: ['almost', 'half'],
  };
  const ruled = await nexusRankers(access);
  try {
    const almost = ruled.rankers.get('almost') as Ranker;
    const half = ruled.rankers.get('half') as Ranker;
    let same = 0;
    for (const query of queries) {
      const expected = (await plain(query.keywords)).filter((name) => name !== hidden);
      const got = (await almost(query.keywords)).slice(0, expected.length);
      if (JSON.stringify(expected) === JSON.stringify(got)) same++;
    }
    const rankers: [string, Ranker][] = [
      ['no rules', plain],
      ['view: almost', almost],
      ['view: half', half],
    ];
    const times = new Map<string, number[]>(rankers.map(([label]) => [label, []]));
    for (let round = 0; round < 5; round++) {
      for (const [label, rank] of rankers) {
        for (const query of queries) {
          const start = performance.now();
          await rank(query.keywords);
          times.get(label)?.push(performance.now() - start);
        }
      }
    }
    const p50 = (label: string) =>
      percentile(
        (times.get(label) ?? []).sort((a, b) => a - b),
        50,
      );
    console.log(
      `\nPer-group views, end to end (${queries.length} queries x 5 interleaved rounds, ${catalogDocs(catalog.servers).length} tools)\n`,
    );
    for (const [label] of rankers)
      console.log(`${pad(label, 18)}p50 ${fmt(p50(label))} ms   ${fmt(p50(label) / p50('no rules'), 3)}x no rules`);
    console.log(`rankings of "almost" (all but ${hidden}) as no rules without that tool: ${same} of ${queries.length} queries`);
    return p50('view: almost') / p50('no rules');
  } finally {
    await ruled.close();
  }
}

function catalogDocs(servers: Catalog['servers']) {
  return servers.flatMap((server) =>
    server.tools.map((tool) => ({ id: `${server.name}__${tool.name}`, name: tool.name, description: tool.description ?? '' })),
  );
}

/** The baseline: MiniSearch defaults over name + description. */
function baselineRanker(servers: Catalog['servers']): Ranker {
  const index = new MiniSearch({ fields: ['name', 'description'] });
  index.addAll(catalogDocs(servers));
  return (keywords) =>
    index
      .search(keywords.join(' '))
      .slice(0, 10)
      .map((hit) => String(hit.id));
}

type Evaluation = Map<string, { ranked: string[]; scores: QueryScores }>;

async function evaluate(rank: Ranker, set: Query[]): Promise<Evaluation> {
  const out: Evaluation = new Map();
  for (const query of set) {
    const ranked = await rank(query.keywords);
    out.set(query.id, { ranked, scores: scoreQuery(ranked, query.expected) });
  }
  return out;
}

const fmt = (n: number, digits = 3) => n.toFixed(digits);
const pad = (text: string, width: number) => text.padEnd(width);
const padStart = (text: string, width: number) => text.padStart(width);

function printQuality(title: string, set: Query[], ours: Evaluation, base: Evaluation, labels = 'nexus / base'): QueryScores {
  const kinds = [...new Set(set.map((q) => q.kind)), 'all'];
  console.log(`\n${title}: ${set.length} queries`);
  const header = ['kind', 'n', 'recall@1', 'recall@5', 'hit@5', 'MRR', 'nDCG@10'];
  console.log(
    `${pad(header[0] as string, 12)}${padStart(header[1] as string, 4)}  ${header
      .slice(2)
      .map((h) => padStart(h, 23))
      .join('')}`,
  );
  console.log(
    `${pad('', 16)}  ${header
      .slice(2)
      .map(() => padStart(`${labels}  (ratio)`, 23))
      .join('')}`,
  );
  let overall: QueryScores | undefined;
  for (const kind of kinds) {
    const ids = set.filter((q) => kind === 'all' || q.kind === kind).map((q) => q.id);
    const a = mean(ids.map((id) => ours.get(id)?.scores as QueryScores));
    const b = mean(ids.map((id) => base.get(id)?.scores as QueryScores));
    if (kind === 'all') overall = a;
    const cell = (x: number, y: number) => padStart(`${fmt(x)} / ${fmt(y)} (${y === 0 ? '  ∞ ' : fmt(x / y, 2)})`, 23);
    const row = (['recall1', 'recall5', 'hit5', 'reciprocalRank', 'ndcg10'] as const).map((m) => cell(a[m], b[m])).join('');
    console.log(`${pad(kind, 12)}${padStart(String(ids.length), 4)}  ${row}`);
  }
  return overall as QueryScores;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

/** The catalog repeated under other server names until it holds `size` tools. */
function syntheticServers(size: number): Catalog['servers'] {
  const out: Catalog['servers'] = [];
  let count = 0;
  for (let copy = 0; count < size; copy++) {
    for (const server of catalog.servers) {
      if (count >= size) break;
      const tools = server.tools.slice(0, size - count);
      out.push({ ...server, name: copy === 0 ? server.name : `${server.name}${copy}`, tools });
      count += tools.length;
    }
  }
  return out;
}

function heapUsed(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

interface SpeedRow {
  build: number;
  p50: number;
  p99: number;
  heapMiB: number;
}

function measure(build: () => { search: (keywords: string[]) => unknown }): SpeedRow {
  const builds: number[] = [];
  let index: ReturnType<typeof build> | undefined;
  const before = heapUsed();
  for (let i = 0; i < 3; i++) {
    // Dropped first, so the heap figure counts one index, not two.
    // eslint-disable-next-line no-useless-assignment
    index = undefined;
    const start = performance.now();
    index = build();
    builds.push(performance.now() - start);
  }
  const heapMiB = (heapUsed() - before) / 2 ** 20;
  const live = index as ReturnType<typeof build>;
  for (const query of queries) live.search(query.keywords); // warm-up
  const times: number[] = [];
  for (let round = 0; round < 10; round++) {
    for (const query of queries) {
      const start = performance.now();
      live.search(query.keywords);
      times.push(performance.now() - start);
    }
  }
  times.sort((a, b) => a - b);
  return { build: median(builds), p50: percentile(times, 50), p99: percentile(times, 99), heapMiB };
}

function printSpeed(): { p50At10k: number; buildAt10k: number } {
  console.log('\nSearch speed in-process (build: median of 3; search: every query, 10 rounds after a warm-up)\n');
  console.log(
    `${pad('tools', 8)}${pad('index', 10)}${padStart('build ms', 10)}${padStart('p50 ms', 10)}${padStart('p99 ms', 10)}${padStart('heap MiB', 10)}`,
  );
  let result = { p50At10k: NaN, buildAt10k: NaN };
  for (const size of [1_000, 10_000]) {
    const servers = syntheticServers(size);
    const ours = measure(() => {
      const index = new ToolIndex();
      for (const server of servers) index.setServerTools(server.name, server.tools);
      return index;
    });
    const base = measure(() => {
      const index = new MiniSearch({ fields: ['name', 'description'] });
      index.addAll(catalogDocs(servers));
      return { search: (keywords: string[]) => index.search(keywords.join(' ')).slice(0, 10) };
    });
    for (const [label, row] of [
      ['nexus', ours],
      ['baseline', base],
    ] as const) {
      console.log(
        `${pad(String(size), 8)}${pad(label, 10)}${padStart(fmt(row.build, 1), 10)}${padStart(fmt(row.p50), 10)}${padStart(fmt(row.p99), 10)}${padStart(fmt(row.heapMiB, 1), 10)}`,
      );
    }
    console.log(
      `${pad('', 8)}${pad('ratio', 10)}${padStart(fmt(ours.build / base.build, 2), 10)}${padStart(fmt(ours.p50 / base.p50, 2), 10)}${padStart(fmt(ours.p99 / base.p99, 2), 10)}${padStart(fmt(ours.heapMiB / base.heapMiB, 2), 10)}`,
    );
    if (size === 10_000) result = { p50At10k: ours.p50, buildAt10k: ours.build };
  }
  return result;
}

/**
 * A server of 2,000 tools listing them again (`list_changed`) among 50 such servers: the time to
 * update the index and answer the first search after it (which recomputes what the change
 * dropped), with nothing changed, one tool changed, and every tool changed (what any re-list
 * cost before unchanged tools kept their postings); and a 51st such server joining.
 */
function printRelist(): void {
  const SERVERS = 50;
  const TOOLS = 2_000;
  const all = catalog.servers.flatMap((server) => server.tools);
  const toolsOf = (round: number) =>
    Array.from({ length: TOOLS }, (_, i) => {
      const tool = all[i % all.length] as Tool;
      return { ...tool, name: `${tool.name}_${i}`, description: `${tool.description ?? ''} (${round})` };
    });
  const index = new ToolIndex();
  for (let i = 0; i < SERVERS; i++) index.setServerTools(`server${i}`, toolsOf(0));
  const probe = queries[0]?.keywords ?? ['file'];
  index.search(probe);
  /** `server` listing `tools()` (update + first search), median of 5; `after` runs untimed after each. */
  const time = (tools: () => Tool[], server = 'server0', after = () => {}) => {
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const listed = tools();
      const start = performance.now();
      index.setServerTools(server, listed);
      index.search(probe);
      times.push(performance.now() - start);
      after();
    }
    return median(times);
  };
  const same = time(() => toolsOf(0));
  let round = 0;
  const one = time(() => {
    const tools = toolsOf(0);
    tools[7] = { ...(tools[7] as Tool), description: `changed ${++round}` };
    return tools;
  });
  const every = time(() => toolsOf(++round));
  const joining = time(
    () => toolsOf(++round),
    'joining',
    () => index.setServerTools('joining', []),
  );
  console.log(`\nA server of ${TOOLS} tools listing them again, among ${SERVERS} such (update + first search, median of 5):`);
  console.log(`  nothing changed ${fmt(same, 1)} ms; one tool changed ${fmt(one, 1)} ms; every tool changed ${fmt(every, 1)} ms`);
  console.log(`  a new server of ${TOOLS} tools joining them: ${fmt(joining, 1)} ms`);
}

/** Each catalog tool's stems as the index has them: of its own fields, and of its server's name. */
const toolStems = new Map<string, { own: Set<string>; server: Set<string> }>(
  catalog.servers.flatMap((server) => {
    const serverStems = new Set(serverTermsOf(server.name).map(stem));
    return server.tools.map((tool) => [
      `${server.name}__${tool.name}`,
      { own: new Set(indexedFields(tool, []).flat().map(stem)), server: serverStems },
    ]);
  }),
);

/**
 * How many queries of `set` no lexical ranking can answer from the tools' own words: no word a
 * search ranks by is in any right tool's indexed text (exactly, after stemming; not through a
 * synonym, prefix or typo), or the only such words are of the server's name, which every tool of
 * the server is indexed by and which cannot tell them apart.
 */
function lexicallyOutOfReach(set: Query[]): { noWord: number; serverOnly: number } {
  let noWord = 0;
  let serverOnly = 0;
  for (const query of set) {
    const words = rankedWords(query.keywords.flatMap(tokenize)).map(stem);
    const shared = query.expected.map((name) => {
      const { own, server } = toolStems.get(name) as { own: Set<string>; server: Set<string> };
      return {
        any: words.some((word) => own.has(word) || server.has(word)),
        telling: words.some((word) => own.has(word) && !server.has(word)),
      };
    });
    if (!shared.some(({ any }) => any)) noWord++;
    else if (!shared.some(({ telling }) => telling)) serverOnly++;
  }
  return { noWord, serverOnly };
}

function explain(id: string, ours: Evaluation, base: Evaluation) {
  const query = queries.find((q) => q.id === id);
  if (!query) throw new Error(`no query ${id}`);
  console.log(`\n${id} (${query.kind}) ${JSON.stringify(query.keywords)} expects ${query.expected.join(', ')}`);
  for (const [label, results] of [
    ['nexus', ours],
    ['baseline', base],
  ] as const) {
    const ranked = results.get(id)?.ranked ?? [];
    console.log(`  ${label}: ${ranked.map((name) => (query.expected.includes(name) ? `[${name}]` : name)).join(' ')}`);
  }
}

const check = (ok: boolean) => (ok ? 'met' : 'NOT MET');

/**
 * The semantic stage: a nexus with `[mcp.search.embeddings]` pointing at `url`, or at a real
 * sentence encoder started here (bench/search/local-embeddings.mjs) when no URL is given, against
 * lexical search, on every set.
 */
async function printHybrid(url: string | undefined, lexical: Map<string, Evaluation>): Promise<void> {
  let endpoint = url;
  let local: ChildProcess | undefined;
  if (!endpoint) {
    local = spawn(process.execPath, [here('./local-embeddings.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [line] = (await once(createInterface({ input: local.stdout as Readable }), 'line')) as [string];
    endpoint = line.replace(/^listening /, '');
  }
  const model = process.env.EMBEDDINGS_MODEL ?? 'use-lite';
  const apiKey = process.env.EMBEDDINGS_API_KEY;
  const weight = Number(process.env.EMBEDDINGS_WEIGHT ?? 0.5);
  const started = performance.now();
  const hybrid = await nexusRankers(
    undefined,
    `[mcp.search.embeddings]\nurl = ${JSON.stringify(endpoint)}\nmodel = ${JSON.stringify(model)}\nweight = ${weight}\ntimeout = "30s"\n${apiKey ? `api_key = ${JSON.stringify(apiKey)}\n` : ''}`,
  );
  try {
    console.log(
      `\nWith embeddings (${local ? 'Universal Sentence Encoder Lite, local' : `${model} at ${endpoint}`}, weight ${weight}): every tool embedded in ${fmt((performance.now() - started) / 1000, 1)} s`,
    );
    const rank = hybrid.rankers.get('') as Ranker;
    for (const [title, set] of querySets) {
      const ours = await evaluate(rank, set);
      printQuality(`${title}, hybrid vs lexical`, set, ours, lexical.get(title) as Evaluation, 'hybr / lexi');
    }
  } finally {
    await hybrid.close();
    local?.kill();
  }
}

const nexus = await nexusRankers();
const nexusRank = nexus.rankers.get('') as Ranker;
try {
  console.log('\nSearch quality: nexus vs baseline (MiniSearch defaults over name + description)');
  console.log(`catalog: ${catalog.servers.length} servers, ${catalogDocs(catalog.servers).length} tools`);
  const baseline = baselineRanker(catalog.servers);
  const lexical = new Map<string, Evaluation>();
  for (const [title, set, goal] of querySets) {
    const ours = await evaluate(nexusRank, set);
    lexical.set(title, ours);
    const base = await evaluate(baseline, set);
    if (args.has('explain')) {
      const which = args.get('explain');
      const ids = which === 'misses' ? set.filter((q) => (ours.get(q.id)?.scores.recall5 ?? 0) < 1).map((q) => q.id) : [which as string];
      for (const id of ids.filter((id) => ours.has(id))) explain(id, ours, base);
    }
    const overall = printQuality(title, set, ours, base);
    if (goal === 'task') {
      console.log(
        `goal: task recall@5 >= 0.90: ${check(overall.recall5 >= 0.9)} (${fmt(overall.recall5)}; a right tool in the top 5 for ${fmt(overall.hit5)} of queries)`,
      );
      const { noWord, serverOnly } = lexicallyOutOfReach(set);
      console.log(
        `out of lexical reach: ${noWord} of ${set.length} share no word with any right tool, ${serverOnly} more only their server's name`,
      );
    } else
      console.log(
        `goals: recall@5 >= 0.90: ${check(overall.recall5 >= 0.9)} (${fmt(overall.recall5)}); MRR >= 0.75: ${check(overall.reciprocalRank >= 0.75)} (${fmt(overall.reciprocalRank)})`,
      );
  }
  if (args.has('embeddings')) await printHybrid(args.get('embeddings'), lexical);
  if (!args.has('quality-only')) {
    const speed = printSpeed();
    console.log(
      `\ngoals: p50 <= 1 ms at 10k tools: ${check(speed.p50At10k <= 1)} (${fmt(speed.p50At10k)} ms); build <= 500 ms at 10k tools: ${check(speed.buildAt10k <= 500)} (${fmt(speed.buildAt10k, 1)} ms)`,
    );
    printRelist();
    const viewRatio = await printViews(nexusRank);
    console.log(`goal: per-group views within a few percent of no rules: ${check(viewRatio <= 1.05)} (${fmt(viewRatio, 3)}x)`);
  }
} finally {
  await nexus.close();
}
