/**
 * `mcp.expose_tools`: every downstream tool listed as `server__tool` and called by that name, with
 * everything `execute` does (access rules, limits, progress, the relay, tasks), side by side with
 * the same servers called directly.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, McpError, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningNexus } from '../src/server.js';
import { closedAfterEach, firstText, identifiedBy } from './helpers/nexus.js';
import { EVERYTHING, FIXTURE_SERVER, pidsWith, startEverything } from './helpers/processes.js';

const TASK_SERVER = fileURLToPath(new URL('./fixtures/task-server.mjs', import.meta.url));
const { nexusWith: start, started } = closedAfterEach();
const clients: { close(): Promise<unknown> }[] = [];
afterEach(async () => void (await Promise.all(clients.splice(0).map((client) => client.close()))));

async function legacyClient(url: string, headers: Record<string, string> = {}): Promise<ClientV1> {
  const client = new ClientV1({ name: 'v1', version: '1' });
  clients.push(client);
  await client.connect(new TransportV1(new URL(url), { requestInit: { headers } }));
  return client;
}

async function modernClient(nexus: RunningNexus, options: ConstructorParameters<typeof ClientV2>[1] = {}): Promise<ClientV2> {
  const client = new ClientV2({ name: 'v2', version: '1' }, { versionNegotiation: { mode: 'auto' }, ...options });
  clients.push(client);
  await client.connect(new TransportV2(new URL(`${nexus.url}/mcp`)));
  return client;
}

/** Every tool of a list, through every page. */
async function allTools(client: ClientV1): Promise<{ name: string }[]> {
  const tools: { name: string }[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listTools(cursor === undefined ? {} : { cursor });
    tools.push(...page.tools);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return tools;
}

describe('expose_tools = "direct"', () => {
  it("lists server-everything's tools over all three transports as server__tool, each as the server defines it, and calls them", async () => {
    const [sse, http] = await Promise.all([startEverything('sse'), startEverything('streamableHttp')]);
    started(sse);
    started(http);
    const nexus = await start(`
      [mcp]
      expose_tools = "direct"
      [mcp.servers.stdio]
      cmd = ["node", "${EVERYTHING}", "stdio"]
      [mcp.servers.http]
      url = "${http.url}"
      [mcp.servers.sse]
      url = "${sse.url}"
    `);
    const direct = await legacyClient(http.url);
    const own = (await direct.listTools()).tools;
    const legacy = await legacyClient(`${nexus.url}/mcp`);
    const modern = await modernClient(nexus);
    const echo = own.find((tool) => tool.name === 'echo');
    // The whole definition, as the server gives it, but for the name; a 2026-07-28 client's has no
    // `execution` (that revision's tools carry none).
    const { execution: _execution, ...modernEcho } = echo ?? {};
    for (const [listed, expected] of [
      [(await legacy.listTools()).tools, echo],
      [(await modern.listTools()).tools, modernEcho],
    ] as const) {
      const names = listed.map((tool) => tool.name);
      expect(names).not.toContain('search');
      expect(names).not.toContain('execute');
      for (const server of ['stdio', 'http', 'sse']) expect(names).toContain(`${server}__echo`);
      expect(listed.find((tool) => tool.name === 'http__echo')).toEqual({ ...expected, name: 'http__echo' });
    }
    for (const server of ['stdio', 'http', 'sse']) {
      const params = { name: `${server}__echo`, arguments: { message: 'hi' } };
      expect(firstText(await legacy.callTool(params))).toBe(
        firstText(await direct.callTool({ name: 'echo', arguments: { message: 'hi' } })),
      );
      expect(firstText(await modern.callTool(params))).toContain('hi');
    }
    // Progress reaches the caller, as through execute.
    let progress = 0;
    await legacy.callTool({ name: 'stdio__trigger-long-running-operation', arguments: { duration: 1, steps: 3 } }, undefined, {
      onprogress: () => void progress++,
    });
    expect(progress).toBe(3);
  });

  it('shows search and execute beside the servers\' tools with "both", and only them by default', async () => {
    const both = await start(`[mcp]\nexpose_tools = "both"\n[mcp.servers.fixture]\ncmd = ["node", "${FIXTURE_SERVER}", "stdio"]\n`);
    const names = (await allTools(await legacyClient(`${both.url}/mcp`))).map((tool) => tool.name);
    expect(names.slice(0, 2)).toEqual(['search', 'execute']);
    expect(names).toContain('fixture__echo');
    const plain = await start(`[mcp.servers.fixture]\ncmd = ["node", "${FIXTURE_SERVER}", "stdio"]\n`);
    const client = await legacyClient(`${plain.url}/mcp`);
    expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['search', 'execute']);
    await expect(client.callTool({ name: 'fixture__echo', arguments: { message: 'x' } })).rejects.toThrow(/Unknown tool: fixture__echo/);
  });

  it('lists and lets call each group only its own tools', async () => {
    const nexus = await start(`${identifiedBy(['support', 'admin'])}
      [mcp]
      expose_tools = "direct"
      [mcp.servers.tickets]
      cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
      allow = ["support", "admin"]
      [mcp.servers.tickets.tools.add_numbers]
      allow = ["admin"]
      [mcp.servers.db]
      cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
      allow = ["admin"]
    `);
    const support = await legacyClient(`${nexus.url}/mcp`, { 'x-client-id': 'ana', 'x-group': 'support' });
    const admin = await legacyClient(`${nexus.url}/mcp`, { 'x-client-id': 'bo', 'x-group': 'admin' });
    const supportNames = (await allTools(support)).map((tool) => tool.name);
    expect(supportNames).toContain('tickets__echo');
    expect(supportNames).not.toContain('tickets__add_numbers');
    expect(supportNames.some((name) => name.startsWith('db__'))).toBe(false);
    const adminNames = (await allTools(admin)).map((tool) => tool.name);
    expect(adminNames).toContain('tickets__add_numbers');
    expect(adminNames).toContain('db__echo');
    await expect(support.callTool({ name: 'db__echo', arguments: { message: 'x' } })).rejects.toThrow(/Unknown tool: db__echo/);
    await expect(support.callTool({ name: 'tickets__add_numbers', arguments: { a: 1, b: 2 } })).rejects.toThrow(/Unknown tool/);
    expect(firstText(await admin.callTool({ name: 'tickets__add_numbers', arguments: { a: 1, b: 2 } }))).toBe('3');
  });

  it("counts direct calls against the server's rate limit, as execute's", async () => {
    const nexus = await start(`
      [mcp]
      expose_tools = "direct"
      [mcp.servers.fixture]
      cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
      rate_limits = { limit = 2, interval = "60s" }
    `);
    const client = await legacyClient(`${nexus.url}/mcp`);
    await client.callTool({ name: 'fixture__echo', arguments: { message: '1' } });
    await client.callTool({ name: 'execute', arguments: { name: 'fixture__echo', arguments: { message: '2' } } });
    const refused = await client.callTool({ name: 'fixture__echo', arguments: { message: '3' } }).catch((error: unknown) => error);
    expect((refused as McpError).code).toBe(-32000);
  });

  it('pages a list of 2,000 tools in a stable order, and refuses a cursor it did not give', async () => {
    const nexus = await start(`
      [mcp]
      expose_tools = "direct"
      [mcp.servers.big]
      cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
      env = { FIXTURE_PAGE_TOOLS = "2000", FIXTURE_PAGE_SIZE = "100" }
    `);
    const client = await legacyClient(`${nexus.url}/mcp`);
    const first = await client.listTools();
    expect(first.tools).toHaveLength(500);
    expect(first.nextCursor).toBeDefined();
    const names = (await allTools(client)).map((tool) => tool.name);
    expect(names.length).toBeGreaterThan(2_000);
    expect(new Set(names).size).toBe(names.length);
    expect((await allTools(client)).map((tool) => tool.name)).toEqual(names);
    await expect(client.listTools({ cursor: 'nope' })).rejects.toThrow(/Invalid cursor/);
  });

  it('refuses a cursor from before the list changed, rather than skip or repeat tools', async () => {
    const nexus = await start(`
      [mcp]
      expose_tools = "direct"
      [mcp.servers.big]
      cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
      env = { FIXTURE_PAGE_TOOLS = "600", FIXTURE_PAGE_SIZE = "100" }
    `);
    const client = await legacyClient(`${nexus.url}/mcp`);
    const { nextCursor } = await client.listTools();
    await client.callTool({ name: 'big__add_tool', arguments: { name: 'late_tool' } });
    await expect.poll(async () => (await client.listTools()).nextCursor !== nextCursor).toBe(true);
    await expect(client.listTools({ cursor: nextCursor as string })).rejects.toThrow(/changed since/);
    for (const odd of ['1e2', ' 1', '', '0x10']) await expect(client.listTools({ cursor: odd })).rejects.toThrow(/Invalid cursor/);
  });

  it('tells only the listeners who may use a server of its changes, and none of a list that did not change', async () => {
    const nexus = await start(`${identifiedBy(['ops', 'other'])}
      [mcp]
      expose_tools = "direct"
      [mcp.servers.noisy]
      cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
      allow = ["ops"]
    `);
    const heard = { ops: 0, other: 0 };
    const listen = async (group: 'ops' | 'other') => {
      const client = await legacyClient(`${nexus.url}/mcp`, { 'x-client-id': group, 'x-group': group });
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => void heard[group]++);
      return client;
    };
    const ops = await listen('ops');
    await listen('other');
    await new Promise((resolve) => setTimeout(resolve, 300)); // the listening streams open after connecting
    await ops.callTool({ name: 'noisy__relist_tools', arguments: {} });
    await ops.callTool({ name: 'noisy__add_tool', arguments: { name: 'late_tool' } });
    // The re-listing came first: had it been told, ops would have heard twice.
    await expect.poll(() => heard.ops).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(heard).toEqual({ ops: 1, other: 0 });
  });

  it('tells listening clients of both eras when a server adds a tool, and when one goes down and comes back', async () => {
    const marker = `marker-${randomUUID()}`;
    const nexus = await start(`
      [mcp]
      expose_tools = "direct"
      [mcp.servers.fixture]
      cmd = ["node", "${FIXTURE_SERVER}", "stdio", "${marker}"]
    `);
    const legacy = await legacyClient(`${nexus.url}/mcp`);
    let legacyHeard = 0;
    legacy.setNotificationHandler(ToolListChangedNotificationSchema, () => void legacyHeard++);
    let modernHeard = 0;
    await modernClient(nexus, { listChanged: { tools: { autoRefresh: false, onChanged: () => void modernHeard++ } } });
    await new Promise((resolve) => setTimeout(resolve, 300)); // the listening streams open after connecting
    await legacy.callTool({ name: 'fixture__add_tool', arguments: { name: 'late_tool' } });
    await expect.poll(() => [legacyHeard, modernHeard]).toEqual([1, 1]);
    await expect.poll(async () => (await allTools(legacy)).map((tool) => tool.name)).toContain('fixture__late_tool');
    const [pid] = await pidsWith(marker);
    process.kill(pid as number, 'SIGKILL');
    // Down: its tools leave the list; back: they return.
    await expect.poll(() => legacyHeard).toBeGreaterThanOrEqual(2);
    await expect.poll(async () => (await allTools(legacy)).length, { timeout: 10_000 }).toBeGreaterThan(0);
    await expect.poll(() => [legacyHeard >= 3, modernHeard >= 3]).toEqual([true, true]);
  });

  it("runs a tool that requires a task, and hands a task-taking client the server's task", async () => {
    const nexus = await start(`[mcp]\nexpose_tools = "direct"\n[mcp.servers.tasks]\ncmd = ["node", "${TASK_SERVER}"]\n`);
    const client = await legacyClient(`${nexus.url}/mcp`);
    const listed = (await client.listTools()).tools.find((tool) => tool.name === 'tasks__slow_echo');
    expect(listed?.execution).toEqual({ taskSupport: 'required' });
    const seen: string[] = [];
    for await (const message of client.experimental.tasks.callToolStream(
      { name: 'tasks__slow_echo', arguments: { text: 'hi' } },
      CallToolResultSchema,
      { task: { ttl: 60_000 } },
    )) {
      seen.push(message.type === 'result' ? firstText(message.result) : message.type);
    }
    expect(seen[0]).toBe('taskCreated');
    expect(seen.at(-1)).toBe('echo: hi');
  });
});
