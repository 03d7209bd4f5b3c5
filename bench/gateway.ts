/**
 * `npm run bench`: what the gateway adds, side by side in one run, everything on loopback.
 *
 * 1. `echo` through the same SDK client: direct to server-everything over streamable HTTP,
 *    through nexus to it (HTTP) and to a stdio server-everything, through mcp-proxy (a popular
 *    stdio-to-HTTP bridge) to stdio server-everything, and our minimal stateless JSON fixture
 *    direct, through nexus (also through a nexus with a secret configured, which checks every
 *    answer for it) and through a bare 50-line proxy (bench/bare-proxy.mjs: the floor for one
 *    more hop). p50/p99 at concurrency 1, throughput at 16 and 64. nexus and the proxies run
 *    as their own processes, as users run them.
 * 2. Time to ready with 1 and with 20 stdio servers, with the CPU nexus and the servers spent.
 * 3. `search` end to end through a nexus process holding 1k, 10k and 100k tools, beside `ping`
 *    through the same process, that process's RSS, and its time from start to ready.
 * 4. `tools/list` of 10k tools listed directly.
 * 5. `execute` with telemetry off, on with sampling 0, and on with sampling 1.
 * Every figure comes with its ratio to its baseline. Medians over many calls after a warm-up.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { parse } from 'smol-toml';
import { parseConfig } from '../src/config/load.js';
import { freshSignalFetch, latencies, quantile, throughput } from './measure.js';
import { CALLS, cleanups, interleavedLatencies, nexusProcess, ROUNDS, track, WARM_UP } from './harness.js';
import { silentLogger } from '../src/log.js';
import { MAX_KEYWORD_LENGTH, MAX_KEYWORDS } from '../src/mcp/gateway.js';
import { startNexus } from '../src/server.js';
import {
  childPids,
  EVERYTHING,
  FIXTURE_SERVER,
  freePort,
  spawnNode,
  startEverything,
  startFixtureHttp,
  startOnOwnPort,
  waitForPort,
} from '../test/helpers/processes.js';

const fmt = (n: number, digits = 3) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

interface Target {
  label: string;
  baseline: string;
  url: string;
  tool: string;
  /** Called by its own `server__tool` name (expose_tools), not through `execute`. */
  direct?: boolean;
}

async function connect(url: string): Promise<Client> {
  const client = new Client({ name: 'bench', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { fetch: freshSignalFetch }));
  cleanups.push(() => client.close());
  return client;
}

/** Direct targets call the tool itself; through a gateway the call goes through `execute`. */
function caller(client: Client, tool: string, direct = false): () => Promise<unknown> {
  const params =
    tool.includes('__') && !direct
      ? { name: 'execute', arguments: { name: tool, arguments: { message: 'hi' } } }
      : { name: tool, arguments: { message: 'hi' } };
  return () => client.request({ method: 'tools/call', params });
}

async function echoTable(): Promise<void> {
  const everything = track(await startEverything('streamableHttp'));
  const fixture = track(await startFixtureHttp());
  const proxyPort = await freePort();
  track(
    spawnNode([
      'node_modules/mcp-proxy/dist/bin/mcp-proxy.mjs',
      '--host',
      '127.0.0.1',
      '--port',
      String(proxyPort),
      '--server',
      'stream',
      '--',
      'node',
      EVERYTHING,
      'stdio',
    ]),
  );
  await waitForPort(proxyPort);
  const barePort = await freePort();
  track(spawnNode(['bench/bare-proxy.mjs', String(barePort), fixture.url]));
  await waitForPort(barePort);
  const nexus = await nexusProcess(`
    [mcp.servers.http]
    url = "${everything.url}"
    protocol = "streamable-http"
    [mcp.servers.stdio]
    cmd = ["node", "${EVERYTHING}", "stdio"]
    [mcp.servers.mini]
    url = "${fixture.url}"
    protocol = "streamable-http"
  `);
  // The minimal server alone behind two more nexus processes, alike but for a secret in one: it
  // checks every answer for it (redaction on). Compared with each other, not with the nexus above,
  // as a process of its own measures differently from one serving three servers.
  const alone = (extra = '') => nexusProcess(`[mcp.servers.mini]\nurl = "${fixture.url}"\nprotocol = "streamable-http"\n${extra}`);
  const plain = await alone();
  const redacting = await alone('auth.token = "bench-secret-token-0123456789"');
  // And one listing the servers' tools directly too, to call the same tool both ways.
  const both = await nexusProcess(`[mcp]\nexpose_tools = "both"\n[mcp.servers.mini]\nurl = "${fixture.url}"\nprotocol = "streamable-http"`);
  const targets: Target[] = [
    { label: 'everything HTTP, direct', baseline: 'everything HTTP, direct', url: everything.url, tool: 'echo' },
    { label: 'everything HTTP, via nexus', baseline: 'everything HTTP, direct', url: `${nexus.url}/mcp`, tool: 'http__echo' },
    { label: 'everything stdio, via nexus', baseline: 'everything HTTP, direct', url: `${nexus.url}/mcp`, tool: 'stdio__echo' },
    {
      label: 'everything stdio, via mcp-proxy',
      baseline: 'everything stdio, via nexus',
      url: `http://127.0.0.1:${proxyPort}/mcp`,
      tool: 'echo',
    },
    { label: 'minimal fixture, direct', baseline: 'minimal fixture, direct', url: fixture.url, tool: 'echo' },
    { label: 'minimal fixture, via nexus', baseline: 'minimal fixture, direct', url: `${nexus.url}/mcp`, tool: 'mini__echo' },
    { label: 'minimal fixture, nexus alone', baseline: 'minimal fixture, direct', url: `${plain.url}/mcp`, tool: 'mini__echo' },
    {
      label: 'minimal fixture, nexus alone, redacting',
      baseline: 'minimal fixture, nexus alone',
      url: `${redacting.url}/mcp`,
      tool: 'mini__echo',
    },
    { label: 'minimal fixture, nexus both, execute', baseline: 'minimal fixture, nexus alone', url: `${both.url}/mcp`, tool: 'mini__echo' },
    {
      label: 'minimal fixture, nexus both, direct tool',
      baseline: 'minimal fixture, nexus both, execute',
      url: `${both.url}/mcp`,
      tool: 'mini__echo',
      direct: true,
    },
    {
      label: 'minimal fixture, via bare proxy',
      baseline: 'minimal fixture, direct',
      url: `http://127.0.0.1:${barePort}/mcp`,
      tool: 'mini__echo',
    },
  ];
  await measureAndPrint('echo', targets);
}

/** Latency (interleaved rounds) and throughput of each target, printed with ratios to their baselines. */
async function measureAndPrint(title: string, targets: Target[]): Promise<void> {
  const calls = await Promise.all(targets.map(async (target) => caller(await connect(target.url), target.tool, target.direct)));
  const times = await interleavedLatencies(calls);
  const rows = new Map<string, { p50: number; p99: number; c16: number; c64: number }>();
  for (const [i, target] of targets.entries()) {
    const call = calls[i] as () => Promise<unknown>;
    const sorted = times[i] as number[];
    rows.set(target.label, {
      p50: quantile(sorted, 0.5),
      p99: quantile(sorted, 0.99),
      c16: await throughput(call, CALLS, 16),
      c64: await throughput(call, CALLS, 64),
    });
  }
  console.log(
    `\n${title}: ${CALLS} calls per path after ${WARM_UP} warm-up, latency at concurrency 1 measured in ${ROUNDS} interleaved rounds;`,
  );
  console.log('throughput (calls/s) at concurrency 16 and 64');
  console.log(`ratios are to the row named in "vs"\n`);
  console.log(
    `${'path'.padEnd(40)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'c16/s'.padStart(8)}${'c64/s'.padStart(8)}   vs (p50 ratio, +ms; c16 ratio)`,
  );
  for (const target of targets) {
    const row = rows.get(target.label);
    const base = rows.get(target.baseline);
    if (!row || !base) continue;
    const versus =
      target.baseline === target.label
        ? '-'
        : `${target.baseline} (${fmt(row.p50 / base.p50, 2)}x, ${row.p50 - base.p50 >= 0 ? '+' : ''}${fmt(row.p50 - base.p50)} ms; ${fmt(row.c16 / base.c16, 2)}x)`;
    console.log(
      `${target.label.padEnd(40)}${fmt(row.p50).padStart(9)}${fmt(row.p99).padStart(9)}${fmt(row.c16, 0).padStart(8)}${fmt(row.c64, 0).padStart(8)}   ${versus}`,
    );
  }
}

/**
 * What telemetry costs an `execute`: the minimal fixture behind nexus processes alike but for
 * `[telemetry]`: off, on with sampling 0 (metrics and logs exported, no span recorded), and on
 * with sampling 1 (every span exported too), all exporting to an OTLP/gRPC sink of their own.
 */
async function telemetryTable(): Promise<void> {
  const fixture = track(await startFixtureHttp());
  const sink = track(await startOnOwnPort('bench/otlp-sink.mjs'));
  const server = `[mcp.servers.mini]\nurl = "${fixture.url}"\nprotocol = "streamable-http"\n`;
  const telemetry = (sampling: number) => `
    [telemetry.exporters.otlp]
    enabled = true
    endpoint = "http://127.0.0.1:${sink.port}"
    [telemetry.tracing]
    sampling = ${sampling}
  `;
  const off = await nexusProcess(server);
  const unsampled = await nexusProcess(`${server}${telemetry(0)}`);
  const sampled = await nexusProcess(`${server}${telemetry(1)}`);
  const baseline = 'telemetry off';
  await measureAndPrint('telemetry', [
    { label: baseline, baseline, url: `${off.url}/mcp`, tool: 'mini__echo' },
    { label: 'telemetry on, sampling 0', baseline, url: `${unsampled.url}/mcp`, tool: 'mini__echo' },
    { label: 'telemetry on, sampling 1', baseline, url: `${sampled.url}/mcp`, tool: 'mini__echo' },
  ]);
}

/** A nexus process serving the harvested catalog repeated to about `tools` tools. */
function catalogNexus(tools: number, mcp = ''): ReturnType<typeof nexusProcess> {
  const catalog = JSON.parse(readFileSync(new URL('./search/catalog.json', import.meta.url), 'utf8')) as {
    servers: { name: string; tools: unknown[] }[];
  };
  const total = catalog.servers.reduce((n, server) => n + server.tools.length, 0);
  const repeat = Math.max(1, Math.round(tools / total));
  return nexusProcess(
    `[mcp]\n${mcp}\n` +
      catalog.servers
        .map(
          (server) =>
            `[mcp.servers.${server.name}]\ncmd = ["node", "bench/search/catalog-server.mjs", "${server.name}"]\nenv = { CATALOG_REPEAT = "${repeat}" }`,
        )
        .join('\n'),
  );
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 1024;
}

const FLOODS = 30;

/** The most a caller may put in one search: every keyword at full length, of words `word` gives. */
function floodKeywords(word: () => string): string[] {
  return Array.from({ length: MAX_KEYWORDS }, () => {
    let keyword = word();
    while (keyword.length < MAX_KEYWORD_LENGTH - 30) keyword += ` ${word()}`;
    return keyword.slice(0, MAX_KEYWORD_LENGTH);
  });
}

/** Words no tool has, new each time (each is looked up by typo, if any is). */
const madeUpWord = () =>
  Array.from({ length: 5 + Math.floor(Math.random() * 6) }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join('');

/** Words of the catalog's descriptions (each walks the postings of every tool that has it). */
function realWords(): () => string {
  const catalog = JSON.parse(readFileSync(new URL('./search/catalog.json', import.meta.url), 'utf8')) as {
    servers: { tools: { description?: string }[] }[];
  };
  const words = [
    ...new Set(
      catalog.servers.flatMap((server) => server.tools.flatMap((tool) => (tool.description ?? '').toLowerCase().split(/[^a-z]+/))),
    ),
  ].filter((word) => word.length >= 3);
  return () => words[Math.floor(Math.random() * words.length)] as string;
}

/**
 * Search end to end, side by side with a `ping` through the same process and client (the HTTP and
 * protocol cost without any search), and the process's RSS against the 1k row.
 */
async function searchTable(): Promise<void> {
  const queries = (JSON.parse(readFileSync(new URL('./search/queries.json', import.meta.url), 'utf8')) as { keywords: string[] }[]).map(
    (q) => q.keywords,
  );
  console.log('\nsearch end to end through a nexus process (HTTP, SDK client), every tuning query in turn;');
  console.log('"ping" is the same process and client answering ping; RSS ratio is to the 1k row;');
  console.log(
    `"made-up" and "real" are p50s of the largest search a caller may send (${MAX_KEYWORDS} keywords of ${MAX_KEYWORD_LENGTH} characters), of made-up words and of the catalog's words\n`,
  );
  console.log(
    `${'tools'.padEnd(8)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'ping p50'.padStart(10)}   ${'vs ping'.padEnd(18)}${'made-up'.padStart(9)}${'real'.padStart(9)}${'RSS MiB'.padStart(9)}   vs 1k   ready s`,
  );
  let firstRss: number | undefined;
  const realWord = realWords();
  for (const size of [1_000, 10_000, 100_000]) {
    // Start to ready: every server up and its tools indexed (every catalog server, one process each).
    const starting = performance.now();
    const nexus = await catalogNexus(size);
    const ready = (performance.now() - starting) / 1000;
    const client = await connect(`${nexus.url}/mcp`);
    let i = 0;
    const search = () =>
      client.request({ method: 'tools/call', params: { name: 'search', arguments: { keywords: queries[i++ % queries.length] } } });
    const [searchTimes = [], pingTimes = []] = await interleavedLatencies([search, () => client.ping()]);
    // A few are enough: each is costly by design, and it is its order of magnitude that matters.
    const flood = (word: () => string) =>
      latencies(
        () => client.request({ method: 'tools/call', params: { name: 'search', arguments: { keywords: floodKeywords(word) } } }),
        FLOODS,
      );
    const madeUpFlood = await flood(madeUpWord);
    const realFlood = await flood(realWord);
    const [p50, p99] = [quantile(searchTimes, 0.5), quantile(searchTimes, 0.99)];
    const ping = { p50: quantile(pingTimes, 0.5) };
    const rss = rssMiB(nexus.pid);
    firstRss ??= rss;
    const versusPing = `${fmt(p50 / ping.p50, 2)}x, +${fmt(p50 - ping.p50)} ms`;
    console.log(
      `${String(size).padEnd(8)}${fmt(p50).padStart(9)}${fmt(p99).padStart(9)}${fmt(ping.p50).padStart(10)}   ${versusPing.padEnd(18)}${fmt(quantile(madeUpFlood, 0.5)).padStart(9)}${fmt(quantile(realFlood, 0.5)).padStart(9)}${fmt(rss, 1).padStart(9)}   ${fmt(rss / firstRss, 2)}x   ${fmt(ready, 1).padStart(7)}`,
    );
    await client.close();
    await nexus.stop();
  }
}

const SCALE_SERVERS = 50;
const SCALE_TOOLS = 2_000;

/** `[mcp.servers.*]` (or the spawn arguments) of the scale run's servers: 50 of 2,000 tools each. */
const scaleServer = (i: number) => ({
  name: `scale${i}`,
  cmd: ['node', 'bench/search/catalog-server.mjs', 'everything'],
  env: { CATALOG_TOOLS: String(SCALE_TOOLS) },
});

/**
 * Start to ready with 50 stdio servers of 2,000 tools each (100,000 tools), beside the floor: the
 * same 50 servers started at once by this process, each listing all its tools over bare JSON-RPC.
 * What nexus adds over that floor is its own start and the indexing.
 */
async function scaleStartupTable(): Promise<void> {
  const servers = Array.from({ length: SCALE_SERVERS }, (_, i) => scaleServer(i + 1));
  console.log(`
start to ready with ${SCALE_SERVERS} stdio servers of ${SCALE_TOOLS} tools each (median of 3)
`);
  const direct: number[] = [];
  const nexusTimes: number[] = [];
  const nexusCpu: number[] = [];
  for (let round = 0; round < 3; round++) {
    const started = performance.now();
    await Promise.all(servers.map((server) => listOverStdio(server.cmd, server.env)));
    direct.push(performance.now() - started);

    const starting = performance.now();
    const nexus = await nexusProcess(
      `[mcp]\n` +
        servers
          .map((server) => `[mcp.servers.${server.name}]\ncmd = ${JSON.stringify(server.cmd)}\nenv = ${tomlTable(server.env)}`)
          .join('\n'),
    );
    nexusTimes.push(performance.now() - starting);
    nexusCpu.push(cpuMs(nexus.pid));
    await nexus.stop();
  }
  const floor = quantile(direct, 0.5) / 1000;
  const ours = quantile(nexusTimes, 0.5) / 1000;
  console.log(`${'servers listed directly (the floor)'.padEnd(40)}${fmt(floor, 2).padStart(8)} s`);
  console.log(
    `${'nexus start to ready'.padEnd(40)}${fmt(ours, 2).padStart(8)} s   ${fmt(ours / floor, 2)}x, +${fmt(ours - floor, 2)} s; nexus CPU ${fmt(quantile(nexusCpu, 0.5) / 1000, 2)} s`,
  );
}

/**
 * Starts a stdio server, initializes it and lists all its tools with bare JSON-RPC lines (no SDK,
 * no schema checks): the least any client has to wait for. Kills the server when done.
 */
async function listOverStdio(cmd: string[], env: Record<string, string>): Promise<void> {
  const [command, ...args] = cmd as [string, ...string[]];
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'ignore'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  let id = 0;
  const request = async (method: string, params: object) => {
    child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params })}\n`);
    for (;;) {
      const { value, done } = await lines.next();
      if (done) throw new Error(`${cmd.join(' ')} closed its output`);
      const message = JSON.parse(value as string) as { id?: number; result?: { nextCursor?: string } };
      if (message.id === id) return message.result ?? {};
    }
  };
  try {
    await request('initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } });
    child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`);
    let cursor: string | undefined;
    do cursor = (await request('tools/list', cursor === undefined ? {} : { cursor })).nextCursor;
    while (cursor !== undefined);
  } finally {
    child.kill('SIGKILL');
  }
}

const tomlTable = (entries: Record<string, string>) =>
  `{ ${Object.entries(entries)
    .map(([key, value]) => `${key} = ${JSON.stringify(value)}`)
    .join(', ')} }`;

/** CPU milliseconds a process has used so far (Linux /proc; clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

/**
 * Time to ready with 1 and 20 stdio servers (our SDK fixture, a Node process each), in process.
 * Beside the wall time: the CPU nexus itself spent, and the CPU the servers spent starting,
 * since on 2 cores twenty Node processes booting at once bound the wall time.
 */
async function startupTable(): Promise<void> {
  const timeToReady = async (servers: number) => {
    const toml = Array.from({ length: servers }, (_, i) => `[mcp.servers.s${i}]\ncmd = ["node", "${FIXTURE_SERVER}", "stdio"]`).join('\n');
    const runs: { wall: number; own: number; children: number }[] = [];
    for (let run = 0; run < 3; run++) {
      const existing = new Set(await childPids(process.pid));
      const cpu = process.cpuUsage();
      const start = performance.now();
      const nexus = await startNexus(parseConfig(parse(toml), 'bench'), {
        logger: silentLogger,
        listenAddress: { host: '127.0.0.1', port: 0 },
      });
      await nexus.ready;
      const wall = performance.now() - start;
      const { user, system } = process.cpuUsage(cpu);
      const started = (await childPids(process.pid)).filter((pid) => !existing.has(pid));
      runs.push({ wall, own: (user + system) / 1000, children: started.reduce((sum, pid) => sum + cpuMs(pid), 0) });
      await nexus.close();
    }
    const median = (key: 'wall' | 'own' | 'children') =>
      quantile(
        runs.map((r) => r[key]).sort((a, b) => a - b),
        0.5,
      );
    return { wall: median('wall'), own: median('own'), children: median('children') };
  };
  const one = await timeToReady(1);
  const twenty = await timeToReady(20);
  console.log('\nstartup to ready, in process (median of 3): wall time, CPU of nexus itself, CPU of the servers it started\n');
  console.log(`${''.padEnd(18)}${'wall ms'.padStart(9)}${'nexus CPU ms'.padStart(14)}${'servers CPU ms'.padStart(16)}`);
  console.log(`1 stdio server    ${fmt(one.wall, 0).padStart(9)}${fmt(one.own, 0).padStart(14)}${fmt(one.children, 0).padStart(16)}`);
  console.log(
    `20 stdio servers  ${fmt(twenty.wall, 0).padStart(9)}${fmt(twenty.own, 0).padStart(14)}${fmt(twenty.children, 0).padStart(16)}`,
  );
  console.log(
    `ratio 20 / 1      ${fmt(twenty.wall / one.wall, 2).padStart(8)}x${fmt(twenty.own / one.own, 2).padStart(13)}x${fmt(twenty.children / one.children, 2).padStart(15)}x`,
  );
}

/** Rounds of the tools/list table (a whole list of 10,000 tools is a few hundred milliseconds). */
const LIST_WARM_UP = 5;
const LIST_ROUNDS = 40;

/**
 * `tools/list` through a nexus process listing the servers' tools directly (expose_tools), first
 * page and every page, beside ping through the same process; and how many bytes a page is.
 */
async function directListTable(): Promise<void> {
  console.log('\ntools/list with expose_tools = "direct" (HTTP, SDK client): the first page, and all pages in turn;');
  console.log('"ping" is the same process and client answering ping\n');
  console.log(
    `${'tools'.padEnd(8)}${'page p50'.padStart(10)}${'all p50'.padStart(10)}${'ping p50'.padStart(10)}   ${'page vs ping'.padEnd(18)}${'pages'.padStart(6)}${'KiB/page'.padStart(10)}`,
  );
  for (const size of [1_000, 10_000]) {
    const nexus = await catalogNexus(size, 'expose_tools = "direct"');
    const client = await connect(`${nexus.url}/mcp`);
    let pages = 0;
    let bytes = 0;
    const firstPage = () => client.request({ method: 'tools/list', params: {} });
    const allPages = async () => {
      let cursor: string | undefined;
      [pages, bytes] = [0, 0];
      do {
        const page = await client.request({ method: 'tools/list', params: cursor === undefined ? {} : { cursor } });
        pages++;
        bytes += JSON.stringify(page).length;
        cursor = page.nextCursor;
      } while (cursor !== undefined);
    };
    // Whole lists are large: fewer rounds than the other tables, taking turns all the same.
    const paths = [firstPage, allPages, () => client.ping()];
    for (const path of paths) for (let i = 0; i < LIST_WARM_UP; i++) await path();
    const [pageTimes = [], allTimes = [], pingTimes = []] = paths.map((): number[] => []);
    for (let round = 0; round < LIST_ROUNDS; round++) {
      for (const [i, path] of paths.entries()) {
        const started = performance.now();
        await path();
        [pageTimes, allTimes, pingTimes][i]?.push(performance.now() - started);
      }
    }
    for (const times of [pageTimes, allTimes, pingTimes]) times.sort((a, b) => a - b);
    const [page, all, ping] = [quantile(pageTimes, 0.5), quantile(allTimes, 0.5), quantile(pingTimes, 0.5)];
    console.log(
      `${String(size).padEnd(8)}${fmt(page).padStart(10)}${fmt(all).padStart(10)}${fmt(ping).padStart(10)}   ${`${fmt(page / ping, 2)}x, +${fmt(page - ping)} ms`.padEnd(18)}${String(pages).padStart(6)}${fmt(bytes / pages / 1024, 0).padStart(10)}`,
    );
    await client.close();
    await nexus.stop();
  }
}

/** Every table, or those named on the command line (`npm run bench -- list`). */
const TABLES = {
  echo: echoTable,
  startup: startupTable,
  search: searchTable,
  'startup-scale': scaleStartupTable,
  list: directListTable,
  telemetry: telemetryTable,
};
const chosen = process.argv.slice(2).filter((name): name is keyof typeof TABLES => name in TABLES);
try {
  for (const [name, table] of Object.entries(TABLES))
    if (chosen.length === 0 || chosen.includes(name as keyof typeof TABLES)) await table();
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
}
