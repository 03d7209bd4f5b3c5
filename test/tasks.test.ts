/**
 * Tasks through nexus, side by side with the same server called directly: a tool that runs only
 * as a task runs for every client; a 2025-era client's tasks start on the tool's server and are
 * polled, fetched, listed and cancelled under nexus's ids; a 2026-era client declaring the tasks
 * extension gets them in that revision's shape.
 */
import { fileURLToPath } from 'node:url';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, CreateTaskResultSchema, ElicitRequestSchema, McpError } from '@modelcontextprotocol/sdk/types.js';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningNexus } from '../src/server.js';
import { balancer } from './helpers/balancer.js';
import { closedAfterEach, firstText, startTestNexus } from './helpers/nexus.js';
import { startRedis } from './helpers/redis.js';
import { modernRequest } from './helpers/modern.js';
import { EVERYTHING, startOnOwnPort, type Spawned } from './helpers/processes.js';

const TASK_SERVER = fileURLToPath(new URL('./fixtures/task-server.mjs', import.meta.url));
const TASKS = { extensions: { 'io.modelcontextprotocol/tasks': {} } };

let nexus: RunningNexus;
let modernServer: Spawned;
const clients: { close(): Promise<unknown> }[] = [];

beforeAll(async () => {
  // The same task server over HTTP, which nexus speaks 2026-07-28 with: its tasks are the extension's.
  modernServer = await startOnOwnPort(TASK_SERVER);
  nexus = await startTestNexus(`
    [mcp.servers.tasks]
    cmd = ["node", "${TASK_SERVER}"]
    [mcp.servers.modern]
    url = "http://127.0.0.1:${(modernServer as Spawned & { port: number }).port}/mcp"
    [mcp.servers.everything]
    cmd = ["node", "${EVERYTHING}", "stdio"]
  `);
});
afterAll(async () => {
  await nexus?.close();
  await modernServer?.kill();
});
afterEach(async () => void (await Promise.all(clients.splice(0).map((client) => client.close()))));

/** A 2025-era client (SDK v1) of the shared nexus that says its name is Ada when asked. */
const legacyClient = (): Promise<ClientV1> => legacyClientOf(nexus);

/** A 2025-era client (SDK v1) of `of` that says its name is Ada when asked. */
async function legacyClientOf(of: RunningNexus): Promise<ClientV1> {
  const client = new ClientV1({ name: 'v1', version: '1' }, { capabilities: { elicitation: {} } });
  client.setRequestHandler(ElicitRequestSchema, () => ({ action: 'accept', content: { name: 'Ada' } }));
  clients.push(client);
  await client.connect(new TransportV1(new URL(`${of.url}/mcp`)));
  return client;
}

/** The task server itself, over stdio. */
async function directClient(): Promise<ClientV1> {
  const client = new ClientV1({ name: 'direct', version: '1' });
  clients.push(client);
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [TASK_SERVER], stderr: 'ignore' }));
  return client;
}

const execute = (name: string, args: Record<string, unknown> = {}) => ({ name: 'execute', arguments: { name, arguments: args } });
const taskLog = async (client: ClientV1, server = 'tasks') =>
  JSON.parse(firstText(await client.callTool(execute(`${server}__task_log`)))) as { started: number; cancelled: number };

describe('a tool that runs only as a task', () => {
  it('runs through execute for clients that take no tasks, where directly it needs one', async () => {
    const direct = await directClient();
    const refused = await direct
      .request({ method: 'tools/call', params: { name: 'slow_echo', arguments: { text: 'hi' } } }, CallToolResultSchema)
      .catch((error: unknown) => error);
    expect((refused as McpError).code).toBe(-32601);
    const legacy = await legacyClient();
    expect(firstText(await legacy.callTool(execute('tasks__slow_echo', { text: 'hi' })))).toBe('echo: hi');
    const modern = new ClientV2({ name: 'v2', version: '1' }, { versionNegotiation: { mode: 'auto' } });
    clients.push(modern);
    await modern.connect(new TransportV2(new URL(`${nexus.url}/mcp`)));
    const result = await modern.callTool(execute('tasks__slow_echo', { text: 'modern' }));
    expect(firstText(result)).toBe('echo: modern');
    // The server's task is nexus's business: its id does not reach a client that took no task.
    expect(JSON.stringify(result)).not.toContain('related-task');
  });

  it("runs server-everything's research task to its report", async () => {
    const legacy = await legacyClient();
    const report = firstText(await legacy.callTool(execute('everything__simulate-research-query', { topic: 'gateways' })));
    expect(report).toContain('gateways');
  });

  it('is cancelled on its server when the client cancels the call', async () => {
    const legacy = await legacyClient();
    const before = await taskLog(legacy);
    const stop = new AbortController();
    const call = legacy.callTool(execute('tasks__long_job'), undefined, { signal: stop.signal }).catch((error: unknown) => error);
    await expect.poll(async () => (await taskLog(legacy)).started).toBe(before.started + 1);
    stop.abort();
    await call;
    await expect.poll(async () => (await taskLog(legacy)).cancelled).toBe(before.cancelled + 1);
  });
});

describe("a 2025-era client's tasks", () => {
  it("start on the tool's server and stream to the result, as they do directly", async () => {
    const direct = await directClient();
    const legacy = await legacyClient();
    const run = async (client: ClientV1, params: { name: string; arguments: Record<string, unknown> }) => {
      const seen: { type: string; taskId?: string; text?: string }[] = [];
      for await (const message of client.experimental.tasks.callToolStream(params, CallToolResultSchema, { task: { ttl: 60_000 } })) {
        if (message.type === 'taskCreated') seen.push({ type: message.type, taskId: message.task.taskId });
        if (message.type === 'result') seen.push({ type: message.type, text: firstText(message.result) });
        if (message.type === 'error') seen.push({ type: message.type, text: message.error.message });
      }
      return seen;
    };
    const directly = await run(direct, { name: 'slow_echo', arguments: { text: 'hi' } });
    const through = await run(legacy, execute('tasks__slow_echo', { text: 'hi' }));
    expect(directly.map(({ type, text }) => ({ type, text }))).toEqual([
      { type: 'taskCreated', text: undefined },
      { type: 'result', text: 'echo: hi' },
    ]);
    expect(through.map(({ type, text }) => ({ type, text }))).toEqual(directly.map(({ type, text }) => ({ type, text })));
    // Under nexus's own id, not the server's.
    expect(through[0]?.taskId).toMatch(/^nexus\.[0-9a-f]{12}\./);
  });

  it("are polled, listed and cancelled by their starter only, the cancel reaching the server's task", async () => {
    const legacy = await legacyClient();
    const other = await legacyClient();
    const before = await taskLog(legacy);
    const { task } = await legacy.request({ method: 'tools/call', params: execute('tasks__long_job') }, CreateTaskResultSchema, {
      task: { ttl: 60_000 },
    });
    expect(task).toMatchObject({ status: 'working', ttl: 60_000 });
    expect(await legacy.experimental.tasks.getTask(task.taskId)).toMatchObject({ taskId: task.taskId, status: 'working' });
    const listed = await legacy.experimental.tasks.listTasks();
    expect(listed.tasks.map((entry) => entry.taskId)).toContain(task.taskId);
    // Another client knows nothing of it, even with its id.
    await expect(other.experimental.tasks.getTask(task.taskId)).rejects.toThrow(/unknown task/);
    // An id naming an instance nobody runs is as unknown.
    await expect(legacy.experimental.tasks.getTask('nexus.000000000000.AAAAAAAAAAAAAAAA')).rejects.toThrow(/unknown task/);
    expect((await other.experimental.tasks.listTasks()).tasks).toEqual([]);
    expect(await legacy.experimental.tasks.cancelTask(task.taskId)).toMatchObject({ taskId: task.taskId, status: 'cancelled' });
    expect((await taskLog(legacy)).cancelled).toBe(before.cancelled + 1);
  });

  it('of a caller nexus cannot tell from others (no session, no token) are never listed: the id is the only key', async () => {
    const raw = async (method: string, params: Record<string, unknown>) => {
      const response = await fetch(`${nexus.url}/mcp`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2025-11-25',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
      });
      const text = await response.text();
      return JSON.parse(text.startsWith('{') ? text : (text.split('\n').find((line) => line.startsWith('data: ')) ?? '').slice(6)) as {
        result?: Record<string, unknown>;
      };
    };
    const started = await raw('tools/call', { ...execute('tasks__slow_echo', { text: 'mine' }), task: {} });
    const taskId = (started.result?.['task'] as { taskId: string }).taskId;
    expect((await raw('tasks/list', {})).result).toEqual({ tasks: [] });
    expect((await raw('tasks/get', { taskId })).result).toMatchObject({ taskId });
  });

  it('run as a task of nexus when the tool runs none, with its result fetched later', async () => {
    const legacy = await legacyClient();
    const { task } = await legacy.request({ method: 'tools/call', params: execute('tasks__task_log') }, CreateTaskResultSchema, {
      task: {},
    });
    const result = await legacy.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema);
    expect(JSON.parse(firstText(result))).toHaveProperty('started');
    expect(await legacy.experimental.tasks.getTask(task.taskId)).toMatchObject({ status: 'completed' });
  });
});

describe("a 2026-era client's tasks (the tasks extension)", () => {
  it('come as a task handle, polled with tasks/get to the result, and cancelled', async () => {
    const options = { capabilities: TASKS };
    const started = await modernRequest(nexus.url, 'tools/call', execute('modern__slow_echo', { text: 'hi' }), options);
    expect(started.result).toMatchObject({ resultType: 'task', status: 'working', ttlMs: 60_000 });
    const taskId = started.result?.['taskId'] as string;
    const done = async () =>
      (await modernRequest(nexus.url, 'tasks/get', { taskId }, { ...options, headers: { 'mcp-name': taskId } })).result;
    await expect.poll(async () => (await done())?.['status']).toBe('completed');
    expect(await done()).toMatchObject({ resultType: 'complete', result: { content: [{ type: 'text', text: 'echo: hi' }] } });

    const long = await modernRequest(nexus.url, 'tools/call', execute('modern__long_job'), options);
    const longId = long.result?.['taskId'] as string;
    const cancelled = await modernRequest(nexus.url, 'tasks/cancel', { taskId: longId }, { ...options, headers: { 'mcp-name': longId } });
    expect(cancelled.result).toMatchObject({ resultType: 'complete' });
    const after = await modernRequest(nexus.url, 'tasks/get', { taskId: longId }, { ...options, headers: { 'mcp-name': longId } });
    expect(after.result).toMatchObject({ status: 'cancelled' });
  });

  it('of a 2025-era server, which asks for input where such a client never looks, are run to their end for it instead', async () => {
    const modern = new ClientV2(
      { name: 'v2', version: '1' },
      { capabilities: { ...TASKS, elicitation: { form: {} } }, versionNegotiation: { mode: 'auto' } },
    );
    modern.setRequestHandler('elicitation/create', () => ({ action: 'accept', content: { name: 'Grace' } }));
    clients.push(modern);
    await modern.connect(new TransportV2(new URL(`${nexus.url}/mcp`)));
    expect(firstText(await modern.callTool(execute('tasks__ask_name')))).toBe('Hello, Grace!');
  });

  it('are refused to a client without the extension, and tasks/result and tasks/list are not of this revision', async () => {
    const without = await modernRequest(nexus.url, 'tasks/get', { taskId: 'x' }, { headers: { 'mcp-name': 'x' } });
    expect(without.error?.code).toBe(-32021);
    const result = await modernRequest(nexus.url, 'tasks/result', { taskId: 'x' }, { capabilities: TASKS, headers: { 'mcp-name': 'x' } });
    expect(result.error?.code).toBe(-32601);
  });
});

describe("a 2026-era server's tasks (nexus takes the extension)", () => {
  it('run to their end for clients that take no tasks, its questions put to the client', async () => {
    const legacy = await legacyClient();
    expect(firstText(await legacy.callTool(execute('modern__slow_echo', { text: 'hi' })))).toBe('echo: hi');
    expect(firstText(await legacy.callTool(execute('modern__maybe_task', { text: 'now' })))).toBe('echo: now');
    // Asked on the 2026-era server's task (tasks/get, tasks/update), and on the 2025-era one's tasks/result stream.
    expect(firstText(await legacy.callTool(execute('modern__ask_name')))).toBe('Hello, Ada!');
    expect(firstText(await legacy.callTool(execute('tasks__ask_name')))).toBe('Hello, Ada!');
    const modern = new ClientV2(
      { name: 'v2', version: '1' },
      { capabilities: { elicitation: { form: {} } }, versionNegotiation: { mode: 'auto' } },
    );
    modern.setRequestHandler('elicitation/create', () => ({ action: 'accept', content: { name: 'Grace' } }));
    clients.push(modern);
    await modern.connect(new TransportV2(new URL(`${nexus.url}/mcp`)));
    expect(firstText(await modern.callTool(execute('modern__ask_name')))).toBe('Hello, Grace!');
  });

  it('are handed to a 2025-era client in its shape: polled, fetched and cancelled', async () => {
    const legacy = await legacyClient();
    const slow = await legacy.request(
      { method: 'tools/call', params: execute('modern__slow_echo', { text: 'far' }) },
      CreateTaskResultSchema,
      {
        task: {},
      },
    );
    expect(slow.task).toMatchObject({ status: 'working', ttl: 60_000 });
    expect(firstText(await legacy.experimental.tasks.getTaskResult(slow.task.taskId, CallToolResultSchema))).toBe('echo: far');
    expect(await legacy.experimental.tasks.getTask(slow.task.taskId)).toMatchObject({ status: 'completed', ttl: 60_000 });
    const long = await legacy.request({ method: 'tools/call', params: execute('modern__long_job') }, CreateTaskResultSchema, { task: {} });
    expect(await legacy.experimental.tasks.cancelTask(long.task.taskId)).toMatchObject({ status: 'cancelled' });
    // The server answered this one at once: the client that asked for a task gets one, over already.
    const now = await legacy.request(
      { method: 'tools/call', params: execute('modern__maybe_task', { text: 'now' }) },
      CreateTaskResultSchema,
      {
        task: {},
      },
    );
    expect(firstText(await legacy.experimental.tasks.getTaskResult(now.task.taskId, CallToolResultSchema))).toBe('echo: now');
  });

  it('are handed to a 2026-era client as they are: its questions in tasks/get, its answers by tasks/update', async () => {
    const options = { capabilities: TASKS };
    const started = await modernRequest(nexus.url, 'tools/call', execute('modern__ask_name'), options);
    const taskId = started.result?.['taskId'] as string;
    const named = { ...options, headers: { 'mcp-name': taskId } };
    await expect
      .poll(async () => (await modernRequest(nexus.url, 'tasks/get', { taskId }, named)).result?.['status'])
      .toBe('input_required');
    const asking = await modernRequest(nexus.url, 'tasks/get', { taskId }, named);
    expect(asking.result).toMatchObject({ taskId, inputRequests: { name: { method: 'elicitation/create' } } });
    const answer = { name: { action: 'accept', content: { name: 'Lin' } } };
    expect((await modernRequest(nexus.url, 'tasks/update', { taskId, inputResponses: answer }, named)).result).toBeDefined();
    await expect.poll(async () => (await modernRequest(nexus.url, 'tasks/get', { taskId }, named)).result?.['status']).toBe('completed');
    expect((await modernRequest(nexus.url, 'tasks/get', { taskId }, named)).result).toMatchObject({
      result: { content: [{ type: 'text', text: 'Hello, Lin!' }] },
    });
  });
});

describe('tasks that misbehave or last', () => {
  const { nexusWith, started } = closedAfterEach();

  it("a 2026-era server's task asking for input again and again is given up after 8 rounds", async () => {
    const legacy = await legacyClient();
    let asked = 0;
    legacy.setRequestHandler(ElicitRequestSchema, () => (asked++, { action: 'accept', content: { name: 'Ada' } }));
    const outcome = await legacy.callTool(execute('modern__ask_forever')).catch((error: unknown) => error);
    expect(String(outcome)).toMatch(/asked for input more than 8 times/);
    expect(asked).toBe(8);
  });

  it("a 2025-era server's task asking again and again asks as long as the client answers, and ends when it cancels", async () => {
    const legacy = await legacyClient();
    const before = await taskLog(legacy);
    const stop = new AbortController();
    let asked = 0;
    legacy.setRequestHandler(ElicitRequestSchema, () => {
      if (++asked === 20) stop.abort();
      return { action: 'accept', content: { name: 'Ada' } };
    });
    await legacy.callTool(execute('tasks__ask_forever'), undefined, { signal: stop.signal }).catch(() => undefined);
    await expect.poll(async () => (await taskLog(legacy)).cancelled).toBe(before.cancelled + 1);
    expect(asked).toBe(20);
  });

  it('a task still at work outlasts call_timeout', async () => {
    const modernServer = started(await startOnOwnPort(TASK_SERVER));
    const short = await nexusWith(`
      [mcp.servers.tasks]
      cmd = ["node", "${TASK_SERVER}"]
      call_timeout = "1s"
      [mcp.servers.modern]
      url = "http://127.0.0.1:${modernServer.port}/mcp"
      call_timeout = "1s"
    `);
    const client = new ClientV1({ name: 'v1', version: '1' });
    clients.push(client);
    await client.connect(new TransportV1(new URL(`${short.url}/mcp`)));
    for (const server of ['tasks', 'modern']) {
      const result = await client.callTool(execute(`${server}__long_job`, { seconds: 2.5 }));
      expect(firstText(result)).toBe('long job done');
    }
    // And after a question, answered on a 2025-era server's tasks/result stream.
    const asked = await legacyClientOf(short);
    expect(firstText(await asked.callTool(execute('tasks__ask_then_work', { seconds: 2.5 })))).toBe('Hello, Ada, after work!');
  });
});

describe('tasks on several instances', () => {
  const { nexusWith, started } = closedAfterEach();

  it("a task's requests that reach another instance are served by the one holding it, through Redis", async () => {
    const redis = started(await startRedis());
    const config = `
      [mcp.servers.tasks]
      cmd = ["node", "${TASK_SERVER}"]
      [mcp.relay]
      redis_url = "${redis.url}"
    `;
    const [a, b] = await Promise.all([nexusWith(config), nexusWith(config)]);
    const toB = balancer(a, b, (body) => body.includes('"method":"tasks/'));
    const client = new ClientV1({ name: 'v1', version: '1' }, { capabilities: { elicitation: {} } });
    client.setRequestHandler(ElicitRequestSchema, () => ({ action: 'accept', content: { name: 'Ada' } }));
    clients.push(client);
    await client.connect(new TransportV1(new URL(`${a.url}/mcp`), { fetch: toB }));
    const slow = await client.request(
      { method: 'tools/call', params: execute('tasks__slow_echo', { text: 'far' }) },
      CreateTaskResultSchema,
      {
        task: {},
      },
    );
    expect(firstText(await client.experimental.tasks.getTaskResult(slow.task.taskId, CallToolResultSchema))).toBe('echo: far');
    const long = await client.request({ method: 'tools/call', params: execute('tasks__long_job') }, CreateTaskResultSchema, { task: {} });
    expect(await client.experimental.tasks.getTask(long.task.taskId)).toMatchObject({ status: 'working' });
    expect(await client.experimental.tasks.cancelTask(long.task.taskId)).toMatchObject({ status: 'cancelled' });
    // The task's question reaches the client through the instance its tasks/result went to.
    const asking = await client.request({ method: 'tools/call', params: execute('tasks__ask_name') }, CreateTaskResultSchema, { task: {} });
    expect(firstText(await client.experimental.tasks.getTaskResult(asking.task.taskId, CallToolResultSchema))).toBe('Hello, Ada!');
    expect(toB.moved).toBe(4);
    expect((await taskLog(client)).cancelled).toBe(1);
  });
});
