/**
 * Downstream resilience with real processes: a killed stdio child, an HTTP server stopped and
 * started again on its port, a crash loop, a server that never answers, a server that starts
 * after nexus, list_changed, call_timeout, and the status endpoint.
 */
import { randomUUID } from 'node:crypto';
import { ProtocolError, type Client } from '@modelcontextprotocol/client';
import { describe, expect, it } from 'vitest';
import { parse } from 'smol-toml';
import { parseConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { startNexus, type RunningNexus } from '../src/server.js';
import { capturedLogger } from './helpers/logs.js';
import { closedAfterEach, firstText } from './helpers/nexus.js';
import { FIXTURE_SERVER, freePort, pidsWith, spawnNode, startFixtureHttp, waitForPort } from './helpers/processes.js';

const { nexusWith, clientOf: clientFor, started: startedServer } = closedAfterEach();

/** The tool's text, or the JSON-RPC error it got. */
async function run(client: Client, name: string, args: Record<string, unknown> = {}): Promise<string | ProtocolError> {
  return client.callTool({ name: 'execute', arguments: { name, arguments: args } }).then(firstText, (error: ProtocolError) => error);
}

function status(nexus: RunningNexus, server: string) {
  return nexus.registry.statusReport().servers.find((entry) => entry.name === server);
}

describe('a stdio server that dies', () => {
  it('is restarted: calls fail fast meanwhile, then succeed again', async () => {
    const marker = `marker-${randomUUID()}`;
    const nexus = await nexusWith(`[mcp.servers.fixture]\ncmd = ["node", "${FIXTURE_SERVER}", "stdio", "${marker}"]`);
    const client = await clientFor(nexus);
    expect(await run(client, 'fixture__add_numbers', { a: 1, b: 1 })).toBe('2');
    const [pid] = await pidsWith(marker);
    process.kill(pid as number, 'SIGKILL');
    await expect.poll(() => status(nexus, 'fixture')?.status).toBe('restarting');
    const meanwhile = await run(client, 'fixture__add_numbers', { a: 1, b: 1 });
    expect(meanwhile).toBeInstanceOf(ProtocolError);
    expect((meanwhile as ProtocolError).code).toBe(-32603);
    expect((meanwhile as ProtocolError).message).toMatch(/server 'fixture' is unavailable: .*retrying in \d+ s \(attempt 2\)/);
    await expect.poll(() => run(client, 'fixture__add_numbers', { a: 2, b: 2 }), { timeout: 10_000 }).toBe('4');
    expect((await pidsWith(marker)).length).toBe(1);
  });

  it('is noticed as gone even when a helper it started keeps its stdout open', async () => {
    const marker = `marker-${randomUUID()}`;
    const keeper = `keeper-${randomUUID()}`;
    const nexus = await nexusWith(
      `[mcp.servers.fixture]\ncmd = ["node", "${FIXTURE_SERVER}", "stdio", "${marker}"]\nenv = { FIXTURE_STDOUT_KEEPER = "${keeper}" }`,
    );
    try {
      await expect.poll(() => pidsWith(keeper)).toHaveLength(1);
      const [pid] = await pidsWith(marker);
      process.kill(pid as number, 'SIGKILL');
      // Its stdout never closes (the keeper holds it): the exit alone must end the connection.
      await expect.poll(() => status(nexus, 'fixture')?.status, { timeout: 3_000 }).toBe('restarting');
    } finally {
      for (const pid of await pidsWith(keeper)) process.kill(pid, 'SIGKILL');
    }
  });

  it('backs off when it crash-loops, logging one line per attempt', async () => {
    const logs = capturedLogger('info');
    const nexus = await nexusWith(`[mcp.servers.crasher]\ncmd = ["node", "-e", "process.exit(1)"]`, logs.logger);
    await new Promise((resolve) => setTimeout(resolve, 3_200));
    const attempt = status(nexus, 'crasher')?.attempt ?? 0;
    // 0.5 s, 1 s, 2 s, 4 s apart: about three attempts in 3.2 s, never dozens.
    expect(attempt).toBeGreaterThanOrEqual(2);
    expect(attempt).toBeLessThanOrEqual(4);
    expect(logs.text().match(/downstream failed; will retry/g)?.length).toBe(attempt);
    expect(status(nexus, 'crasher')).toMatchObject({ status: 'failed', retry_in_ms: expect.any(Number) });
  });
});

describe('a remote server that goes away', () => {
  it('is reconnected when it comes back on its port', async () => {
    const port = await freePort();
    const first = await startFixtureHttp({}, 'http', port);
    startedServer(first);
    const nexus = await nexusWith(`[mcp.servers.remote]\nurl = "${first.url}"\nprotocol = "streamable-http"`);
    const client = await clientFor(nexus);
    expect(await run(client, 'remote__add_numbers', { a: 1, b: 2 })).toBe('3');
    await first.kill('SIGKILL');
    expect(await run(client, 'remote__add_numbers', { a: 1, b: 2 })).toBeInstanceOf(ProtocolError);
    expect(status(nexus, 'remote')?.status).toMatch(/restarting|failed/);
    const second = await startFixtureHttp({}, 'http', port);
    startedServer(second);
    await expect.poll(() => run(client, 'remote__add_numbers', { a: 3, b: 4 }), { timeout: 15_000 }).toBe('7');
  });

  it('recovers a stateful session after the server restarts (404 on the old session)', async () => {
    const port = await freePort();
    const everything = () => {
      const spawned = spawnNode(
        [
          '--import',
          `${process.cwd()}/test/fixtures/loopback.mjs`,
          'node_modules/@modelcontextprotocol/server-everything/dist/index.js',
          'streamableHttp',
        ],
        { PORT: String(port) },
      );
      startedServer(spawned);
      return waitForPort(port).then(() => spawned);
    };
    const first = await everything();
    const nexus = await nexusWith(`[mcp.servers.everything]\nurl = "http://127.0.0.1:${port}/mcp"\nprotocol = "streamable-http"`);
    const client = await clientFor(nexus);
    expect(await run(client, 'everything__echo', { message: 'before' })).toBe('Echo: before');
    await first.kill('SIGKILL');
    await everything();
    await expect.poll(() => run(client, 'everything__echo', { message: 'after' }), { timeout: 15_000 }).toBe('Echo: after');
  });

  it('is connected when it starts after nexus', async () => {
    const port = await freePort();
    const nexus = await nexusWith(`[mcp.servers.late]\nurl = "http://127.0.0.1:${port}/mcp"\nprotocol = "streamable-http"`);
    expect(status(nexus, 'late')?.status).toBe('failed');
    const late = await startFixtureHttp({}, 'http', port);
    startedServer(late);
    await expect.poll(() => status(nexus, 'late')?.status, { timeout: 10_000 }).toBe('ready');
    const client = await clientFor(nexus);
    expect(await run(client, 'late__add_numbers', { a: 5, b: 5 })).toBe('10');
  });
});

describe('a server that never answers initialize', () => {
  it('is timed out and tried again, not given up', async () => {
    const nexus = await nexusWith(`
      [mcp.servers.silent]
      cmd = ["node", "-e", "setInterval(() => {}, 1000)"]
      connect_timeout = "300ms"
    `);
    expect(status(nexus, 'silent')).toMatchObject({ status: 'failed', reason: 'stdio: connect timed out', attempt: 1 });
    await expect.poll(() => status(nexus, 'silent')?.attempt, { timeout: 5_000 }).toBeGreaterThanOrEqual(2);
  });
});

describe('servers that misbehave', () => {
  const RAW = `${process.cwd()}/test/fixtures/raw-server.mjs`;

  it('keeps the usable tools of a list with malformed and huge definitions', async () => {
    const logs = capturedLogger('warn');
    const nexus = await nexusWith(`[mcp.servers.raw]\ncmd = ["node", "${RAW}"]`, logs.logger);
    expect(status(nexus, 'raw')).toMatchObject({ status: 'ready', tools: 5 });
    const names = () => nexus.registry.get('raw')?.catalog.tools.map((tool) => tool.name);
    expect(names()).toEqual(['grow', 'good_tool', 'no_schema', 'huge_tool', 'nested_tool']);
    expect(logs.text()).toContain('"tools":["odd_schema","(unnamed)","(unnamed)"]');
    const client = await clientFor(nexus);
    const result = await client.callTool({ name: 'search', arguments: { keywords: ['enormous', 'lorem'] } });
    expect((result.structuredContent as { results: { name: string }[] }).results[0]?.name).toBe('raw__huge_tool');
    expect(await run(client, 'raw__huge_tool')).toBe('huge_tool ran');
    expect(await run(client, 'raw__no_schema')).toBe('no_schema ran');
    // A refresh after tools/list_changed reads the (still partly malformed) list as leniently.
    expect(await run(client, 'raw__grow')).toBe('grown');
    await expect.poll(names).toContain('grown_tool');
    expect(names()).toHaveLength(6);
  });

  // 1,000 lines of 5 KB each on a child's stdout, as a server that logs JSON to stdout prints them,
  // or as one that sends answers to requests nobody made.
  it.each([
    ['log lines (JSON, not JSON-RPC)', { level: 'info', msg: 'x'.repeat(5_000) }, 'not a JSON-RPC message'],
    ['answers to requests never made', { jsonrpc: '2.0', id: 'nobody', result: { x: 'x'.repeat(5_000) } }, 'downstream transport error'],
  ])('logs %s briefly and rate-limited, and keeps serving the server', async (_case, garbage, warning) => {
    const logs = capturedLogger('warn');
    const nexus = await nexusWith(
      `[mcp.servers.noisy]\ncmd = ["node", "${FIXTURE_SERVER}", "stdio"]\nenv = { FIXTURE_STDOUT_GARBAGE = '${JSON.stringify(garbage)}', FIXTURE_STDOUT_GARBAGE_TIMES = "1000" }`,
      logs.logger,
    );
    const client = await clientFor(nexus);
    expect(await run(client, 'noisy__add_numbers', { a: 5, b: 5 })).toBe('10');
    // Closing ends the transport's rate-limit window, which logs how many lines it held back.
    await nexus.close();
    const entries = logs
      .text()
      .trim()
      .split('\n')
      .map((entry) => JSON.parse(entry) as { msg: string; server?: string; suppressed?: number });
    expect(entries.length).toBeLessThanOrEqual(6);
    expect(logs.text().length).toBeLessThan(6_000);
    expect(entries.filter((entry) => entry.msg.includes(warning))).toHaveLength(5);
  });

  it.each([
    ['x', 2_000_000],
    ['{', 600_000],
  ])('never holds up other requests while it reads a flood of stdout noise (lines of "%s")', async (line, times) => {
    // Megabytes of one-character lines before the server even answers initialize: nexus listens
    // meanwhile. "{" could begin a message, so each of those lines costs a failed parse.
    const config = parseConfig(
      parse(
        `[mcp.servers.noisy]\ncmd = ["node", "${FIXTURE_SERVER}", "stdio"]\nenv = { FIXTURE_STDOUT_GARBAGE = "${line}", FIXTURE_STDOUT_GARBAGE_TIMES = "${times}" }`,
      ),
      'test.toml',
    );
    const begun = performance.now();
    const nexus = await startNexus(config, { logger: silentLogger, listenAddress: { host: '127.0.0.1', port: 0 }, startupGraceMs: 0 });
    let worst = 0;
    let answered = 0;
    let flooding = true;
    void nexus.ready.then(() => (flooding = false));
    try {
      while (flooding) {
        const started = performance.now();
        expect((await fetch(`${nexus.url}/health`)).status).toBe(200);
        worst = Math.max(worst, performance.now() - started);
        answered++;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const flood = performance.now() - begun;
      expect(nexus.registry.get('noisy')?.state.status).toBe('ready');
      // Answered all along: no wait was more than a small part of the flood (a loop held by the
      // reading would make one wait as long as the flood), whatever the machine's speed.
      expect(answered).toBeGreaterThanOrEqual(5);
      expect(worst).toBeLessThan(flood / 4);
    } finally {
      await nexus.close();
    }
  });

  it('says how many lines of stdout noise it did not log', async () => {
    const logs = capturedLogger('warn');
    const nexus = await nexusWith(
      `[mcp.servers.noisy]\ncmd = ["node", "${FIXTURE_SERVER}", "stdio"]\nenv = { FIXTURE_STDOUT_GARBAGE = "not JSON", FIXTURE_STDOUT_GARBAGE_TIMES = "1000" }`,
      logs.logger,
    );
    await nexus.close();
    expect(logs.text()).toContain('"server":"noisy","suppressed":995,"msg":"995 more skipped lines of stdout not logged"');
  });

  it('retries a server that answers initialize with an error', async () => {
    const nexus = await nexusWith(`[mcp.servers.refuser]\ncmd = ["node", "${RAW}"]\nenv = { RAW_INITIALIZE = "error" }`);
    expect(status(nexus, 'refuser')).toMatchObject({ status: 'failed', reason: expect.stringContaining('initialize refused on purpose') });
    await expect.poll(() => status(nexus, 'refuser')?.attempt, { timeout: 5_000 }).toBeGreaterThanOrEqual(2);
  });
});

describe('tool lists and timeouts', () => {
  const FIXTURE = (extra = '') => `[mcp.servers.fixture]\ncmd = ["node", "${FIXTURE_SERVER}", "stdio"]\n${extra}`;

  it('re-indexes a server that announces tools/list_changed', async () => {
    const nexus = await nexusWith(FIXTURE());
    const client = await clientFor(nexus);
    const search = async () => {
      const result = await client.callTool({ name: 'search', arguments: { keywords: ['brand', 'new', 'gadget'] } });
      return (result.structuredContent as { results: { name: string }[] }).results.map((r) => r.name);
    };
    expect(await search()).not.toContain('fixture__brand_new_gadget');
    expect(await run(client, 'fixture__add_tool', { name: 'brand_new_gadget' })).toBe('added brand_new_gadget');
    await expect.poll(search).toContain('fixture__brand_new_gadget');
    expect(await run(client, 'fixture__brand_new_gadget')).toBe('brand_new_gadget ran');
  });

  it('cancels a call past call_timeout downstream and says so', async () => {
    const nexus = await nexusWith(FIXTURE('call_timeout = "400ms"'));
    const client = await clientFor(nexus);
    const outcome = await run(client, 'fixture__wait_for_cancel', { ms: 5_000 });
    expect(outcome).toBeInstanceOf(ProtocolError);
    expect((outcome as ProtocolError).message).toMatch(/request to server 'fixture' failed: .*timed out/i);
    await expect.poll(() => run(client, 'fixture__cancellations')).toBe('1');
    expect(status(nexus, 'fixture')?.status).toBe('ready'); // a timeout is not a lost connection
  });

  it('lets progress notifications extend call_timeout', async () => {
    const nexus = await nexusWith(FIXTURE('call_timeout = "400ms"'));
    const client = await clientFor(nexus);
    // Six steps 250 ms apart: 1.5 s in all, but never 400 ms without progress.
    expect(await run(client, 'fixture__count_up', { steps: 6, delay_ms: 250 })).toBe('counted to 6');
  });
});

describe('the status endpoint', () => {
  it('reports each server over HTTP', async () => {
    const nexus = await nexusWith(`
      [mcp.servers.fixture]
      cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
      [mcp.servers.broken]
      cmd = ["/nonexistent/command"]
    `);
    type Report = { status: string; servers: { name: string; status: string }[] };
    const report = async () => (await (await fetch(`${nexus.url}/status`)).json()) as Report;
    // Between attempts the broken server is 'failed'; during one it is briefly 'connecting'.
    await expect.poll(async () => (await report()).servers[1]?.status).toBe('failed');
    const { status: overall, servers } = await report();
    expect(overall).toBe('degraded');
    expect(servers).toEqual([
      { name: 'fixture', status: 'ready', transport: 'stdio', tools: 37 },
      expect.objectContaining({ name: 'broken', tools: 0, attempt: expect.any(Number), reason: expect.stringContaining('ENOENT') }),
    ]);
  });
});
