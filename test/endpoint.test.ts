/**
 * The endpoint and the downstream options around the core path: protocol versions, scale-out
 * without sticky sessions, connect timeouts, stdio env/cwd/stderr, a misbehaving child, SSE
 * message_url, and the mcp table's switches.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'smol-toml';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { startNexus, type RunningNexus } from '../src/server.js';
import { connectClient, firstText, startTestNexus } from './helpers/nexus.js';
import { FIXTURE_SERVER, startEverything, type Spawned } from './helpers/processes.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function nexusFor(toml: string): Promise<RunningNexus> {
  const nexus = await startTestNexus(toml);
  cleanups.push(() => nexus.close());
  return nexus;
}

function track<T extends Spawned>(spawned: T): T {
  cleanups.push(() => spawned.kill());
  return spawned;
}

const FIXTURE = `
  [mcp.servers.fixture]
  cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
`;

/** One JSON-RPC POST, as a client without an SDK would send it. */
async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  const data = text.startsWith('{') ? text : (text.match(/^data: (.*)$/m)?.[1] ?? 'null');
  return { status: response.status, headers: response.headers, json: JSON.parse(data) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

function initialize(protocolVersion: string) {
  return {
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion, capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
  };
}

describe('protocol versions', () => {
  it.each(['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25'])('initializes and calls tools with %s', async (version) => {
    const nexus = await nexusFor(FIXTURE);
    const init = await post(`${nexus.url}/mcp`, initialize(version));
    expect(init.status).toBe(200);
    expect(init.json['result']).toMatchObject({ protocolVersion: version, serverInfo: { name: 'nexus' } });
    const call = await post(
      `${nexus.url}/mcp`,
      {
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'execute', arguments: { name: 'fixture__add_numbers', arguments: { a: 1, b: 2 } } },
      },
      { 'mcp-protocol-version': version, 'mcp-session-id': init.headers.get('mcp-session-id') ?? '' },
    );
    expect(call.json['result']).toMatchObject({ content: [{ type: 'text', text: '3' }] });
  });
});

describe('the 2026-07-28 era (per-request envelope)', () => {
  it('serves a modern client: tools, progress, cancellation, prompts and resources', async () => {
    const { Client, StreamableHTTPClientTransport } = await import('@modelcontextprotocol/client');
    const nexus = await nexusFor(FIXTURE);
    const client = new Client({ name: 'modern', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${nexus.url}/mcp`)));
    cleanups.push(() => client.close());
    expect(client.getProtocolEra()).toBe('modern');
    expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['search', 'execute']);

    const seen: number[] = [];
    const counted = await client.callTool(
      { name: 'execute', arguments: { name: 'fixture__count_up', arguments: { steps: 3 } } },
      { onprogress: (progress) => seen.push(progress.progress) },
    );
    expect(firstText(counted)).toBe('counted to 3');
    expect(seen).toEqual([1, 2, 3]);

    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    await expect(
      client.callTool(
        { name: 'execute', arguments: { name: 'fixture__wait_for_cancel', arguments: { ms: 20_000 } } },
        { signal: controller.signal },
      ),
    ).rejects.toThrow();
    await expect
      .poll(async () => firstText(await client.callTool({ name: 'execute', arguments: { name: 'fixture__cancellations' } })))
      .toBe('1');

    expect((await client.listPrompts()).prompts.map((prompt) => prompt.name)).toEqual(['fixture__greeting']);
    const read = await client.readResource({ uri: 'fixture://items/9' });
    expect(read.contents[0]).toMatchObject({ text: 'contents of fixture://items/9' });
  });
});

describe('scale-out', () => {
  it('a session begun on one instance is served by another (no sticky sessions)', async () => {
    const [a, b] = await Promise.all([nexusFor(FIXTURE), nexusFor(FIXTURE)]);
    const init = await post(`${a.url}/mcp`, initialize('2025-06-18'));
    const session = init.headers.get('mcp-session-id');
    expect(session).toMatch(/^[0-9a-f-]{36}\.[a-z]*$/);
    const call = await post(
      `${b.url}/mcp`,
      { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'search', arguments: { keywords: ['add', 'numbers'] } } },
      { 'mcp-protocol-version': '2025-06-18', 'mcp-session-id': session ?? '' },
    );
    expect(call.json['result']['structuredContent']['results'][0]['name']).toBe('fixture__add_numbers');
  });
});

describe('downstream start-up', () => {
  /** The fixture beside a child that never answers `initialize`, started with `options`. */
  async function withSilentServer(options: { connectTimeoutMs?: number; startupGraceMs?: number }) {
    const config = parseConfig(
      parse(`${FIXTURE}
        [mcp.servers.silent]
        cmd = ["node", "-e", "setInterval(() => {}, 1000)"]
      `),
      'test.toml',
    );
    const nexus = await startNexus(config, { logger: silentLogger, listenAddress: { host: '127.0.0.1', port: 0 }, ...options });
    cleanups.push(() => nexus.close());
    const addOnFixture = async (a: number, b: number) => {
      const client = await connectClient(nexus);
      cleanups.push(() => client.close());
      return firstText(await client.callTool({ name: 'execute', arguments: { name: 'fixture__add_numbers', arguments: { a, b } } }));
    };
    return { nexus, silent: () => nexus.registry.get('silent')?.state, addOnFixture };
  }

  it('a server that never answers is given up after the connect timeout; the rest serve and /health never waits', async () => {
    const { nexus, silent, addOnFixture } = await withSilentServer({ connectTimeoutMs: 1_500 });
    expect((await fetch(nexus.healthUrl as string)).status).toBe(200);
    expect(silent()?.status).toBe('connecting');
    await nexus.ready;
    expect(silent()).toMatchObject({ status: 'failed', reason: 'stdio: connect timed out', attempt: 1 });
    expect(await addOnFixture(2, 2)).toBe('4');
  });

  it('answers MCP requests after a short grace while a slow server is still connecting', async () => {
    const { silent, addOnFixture } = await withSilentServer({ startupGraceMs: 1_000 });
    expect(await addOnFixture(1, 1)).toBe('2');
    expect(silent()?.status).toBe('connecting');
  });

  it('keeps the tools of a server that cannot list its resource templates', async () => {
    const nexus = await nexusFor(`
      [mcp.servers.partial]
      cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
      env = { FIXTURE_NO_TEMPLATES = "1" }
    `);
    const partial = nexus.registry.get('partial');
    expect(partial?.state.status).toBe('ready');
    expect(partial?.catalog.tools.length).toBeGreaterThan(0);
    expect(partial?.catalog.resources.map((resource) => resource.uri)).toEqual(['fixture://notes/readme']);
    expect(partial?.catalog.resourceTemplates).toEqual([]);
  });

  it('gives stdio servers their env and cwd, and sends stderr to a file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nexus-stdio-'));
    const nexus = await nexusFor(`
      [mcp.servers.fixture]
      cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
      env = { FIXTURE_GREETING = "hello from env", FIXTURE_STDERR_LINE = "fixture says hi on stderr" }
      cwd = "${dir}"
      stderr = { file = "${dir}/stderr.log" }
    `);
    const client = await connectClient(nexus);
    cleanups.push(() => client.close());
    const result = await client.callTool({
      name: 'execute',
      arguments: { name: 'fixture__show_env', arguments: { name: 'FIXTURE_GREETING' } },
    });
    expect(JSON.parse(firstText(result))).toEqual({ value: 'hello from env', cwd: dir });
    expect(await readFile(join(dir, 'stderr.log'), 'utf8')).toContain('fixture says hi on stderr');
  });

  it('skips garbage a child prints on stdout and keeps serving it', async () => {
    const nexus = await nexusFor(`
      [mcp.servers.noisy]
      cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
      env = { FIXTURE_STDOUT_GARBAGE = "this line is not JSON-RPC" }
    `);
    expect(nexus.registry.get('noisy')?.state.status).toBe('ready');
    const client = await connectClient(nexus);
    cleanups.push(() => client.close());
    const result = await client.callTool({ name: 'execute', arguments: { name: 'noisy__add_numbers', arguments: { a: 5, b: 5 } } });
    expect(firstText(result)).toBe('10');
  });

  it('uses SSE when only message_url is given, posting to that endpoint', async () => {
    const sse = track(await startEverything('sse'));
    const nexus = await nexusFor(`
      [mcp.servers.remote]
      url = "${sse.url}"
      message_url = "${sse.url.replace(/\/sse$/, '/message')}"
    `);
    const client = await connectClient(nexus);
    cleanups.push(() => client.close());
    const result = await client.callTool({
      name: 'execute',
      arguments: { name: 'remote__echo', arguments: { message: 'via message_url' } },
    });
    expect(firstText(result)).toBe('Echo: via message_url');
  });
});

describe('the mcp table', () => {
  it('serves at a custom path', async () => {
    const nexus = await nexusFor(`[mcp]\npath = "/gateway/mcp"\n${FIXTURE}`);
    const client = await connectClient(nexus, '/gateway/mcp');
    cleanups.push(() => client.close());
    expect((await client.listTools()).tools).toHaveLength(2);
    expect((await fetch(`${nexus.url}/mcp`, { method: 'POST' })).status).toBe(404);
  });

  it('serves no MCP endpoint when disabled, health still answers', async () => {
    const nexus = await nexusFor('[mcp]\nenabled = false');
    expect((await fetch(`${nexus.url}/mcp`, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`${nexus.url}/health`)).status).toBe(200);
  });

  it('leaves out structured content and the output schema when enable_structured_content is false', async () => {
    const nexus = await nexusFor(`[mcp]\nenable_structured_content = false\n${FIXTURE}`);
    const client = await connectClient(nexus);
    cleanups.push(() => client.close());
    const { tools } = await client.listTools();
    expect(tools.find((tool) => tool.name === 'search')?.outputSchema).toBeUndefined();
    const result = await client.callTool({ name: 'search', arguments: { keywords: ['add'] } });
    expect(result.structuredContent).toBeUndefined();
    expect(JSON.parse(firstText(result)).results[0].name).toBe('fixture__add_numbers');
  });
});
