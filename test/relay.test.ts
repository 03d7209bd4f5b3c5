/**
 * Server-to-client traffic through nexus: the server's requests (sampling, elicitation, roots)
 * reach the client of the call they belong to, in its protocol era, and log messages and list
 * changes reach the clients that listen.
 */
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  PromptListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningNexus } from '../src/server.js';
import { closedAfterEach, firstText } from './helpers/nexus.js';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { EVERYTHING, FIXTURE_SERVER, startEverything, startFixtureHttp } from './helpers/processes.js';
import { balancer, type Fetch } from './helpers/balancer.js';
import { startRedis } from './helpers/redis.js';

const { nexusWith: start, started } = closedAfterEach();
const fixtureStdio = (extra = '') => `
[mcp.servers.fixture]
cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
${extra}
`;
// Clients close before nexus (hooks registered later run first): an open client stream would hold nexus's shutdown.
const clients: { close(): Promise<unknown> }[] = [];
afterEach(async () => void (await Promise.all(clients.splice(0).map((client) => client.close()))));
const track = <T extends { close(): Promise<unknown> }>(client: T): T => (clients.push(client), client);

const everythingStdio = `
[mcp.servers.everything]
cmd = ["node", "${EVERYTHING}", "stdio"]
`;

type Capabilities = ConstructorParameters<typeof ClientV1>[1] extends infer O ? (O extends { capabilities?: infer C } ? C : never) : never;

/** A 2025-era client (SDK v1) that answers sampling, elicitation and roots as a test says. */
async function legacyClient(nexus: RunningNexus, capabilities: Capabilities, name = 'v1-client', fetch?: Fetch) {
  const client = track(new ClientV1({ name, version: '1.0.0' }, { capabilities }));
  const seen = { sampling: [] as unknown[], elicitation: [] as unknown[], roots: 0, logs: [] as unknown[] };
  if (capabilities?.sampling) {
    client.setRequestHandler(CreateMessageRequestSchema, (request) => {
      seen.sampling.push(request.params);
      return { model: `${name}-model`, role: 'assistant', content: { type: 'text', text: `sampled by ${name}` } };
    });
  }
  if (capabilities?.elicitation) {
    client.setRequestHandler(ElicitRequestSchema, (request) => {
      seen.elicitation.push(request.params);
      return { action: 'accept', content: { name: 'Ada', check: true } };
    });
  }
  if (capabilities?.roots) {
    client.setRequestHandler(ListRootsRequestSchema, () => {
      seen.roots++;
      return { roots: [{ uri: 'file:///tmp/project', name: 'project' }] };
    });
  }
  client.setNotificationHandler(LoggingMessageNotificationSchema, (notification) => void seen.logs.push(notification.params));
  await client.connect(new TransportV1(new URL(`${nexus.url}/mcp`), fetch ? { fetch } : undefined));
  return { client, seen };
}

const execute = (client: ClientV1, name: string, args: Record<string, unknown> = {}) =>
  client.callTool({ name: 'execute', arguments: { name, arguments: args } });

describe('server-to-client requests, 2025-era client', () => {
  it('a sampling request reaches the client of the call and its answer goes back', async () => {
    const nexus = await start(everythingStdio);
    const { client, seen } = await legacyClient(nexus, { sampling: {} });
    const result = await execute(client, 'everything__trigger-sampling-request', { prompt: 'hello', maxTokens: 5 });
    expect(seen.sampling).toHaveLength(1);
    expect(JSON.stringify(result)).toContain('sampled by v1-client');
  });
});

describe('server-to-client requests, 2025-era client (more)', () => {
  it('an elicitation reaches the client and its answer goes back', async () => {
    const nexus = await start(everythingStdio);
    const { client, seen } = await legacyClient(nexus, { elicitation: {} });
    const result = await execute(client, 'everything__trigger-elicitation-request');
    expect(seen.elicitation).toHaveLength(1);
    expect(JSON.stringify(result)).toContain('Ada');
  });

  it('a client without the capability: the server gets a clear error, the client nothing', async () => {
    const nexus = await start(fixtureStdio());
    const { client, seen } = await legacyClient(nexus, { elicitation: {} });
    const result = await execute(client, 'fixture__ask_client', { kind: 'sampling' });
    expect(seen.sampling).toHaveLength(0);
    expect(JSON.stringify(result)).toMatch(/did not declare the sampling capability/);
  });

  it("roots/list is answered from the server's `roots` when set, else by the calling client", async () => {
    const configured = await start(fixtureStdio('roots = ["file:///srv/configured"]'));
    const first = await legacyClient(configured, { roots: {} });
    expect(firstText(await execute(first.client, 'fixture__ask_client', { kind: 'roots' }))).toContain('file:///srv/configured');
    expect(first.seen.roots).toBe(0);

    const relayed = await start(fixtureStdio());
    const second = await legacyClient(relayed, { roots: {} });
    expect(firstText(await execute(second.client, 'fixture__ask_client', { kind: 'roots' }))).toContain('file:///tmp/project');
    expect(second.seen.roots).toBe(1);
  });

  it('log messages during a call reach its client, at the level it set', async () => {
    const nexus = await start(fixtureStdio());
    const { client, seen } = await legacyClient(nexus, {});
    await execute(client, 'fixture__log_levels');
    expect(seen.logs.map((log) => (log as { level: string }).level)).toEqual(['debug', 'info', 'warning', 'error']);
    seen.logs.length = 0;
    await client.setLoggingLevel('warning');
    await execute(client, 'fixture__log_levels');
    expect(seen.logs.map((log) => (log as { level: string }).level)).toEqual(['warning', 'error']);
  });

  it('two clients at once: each sampling request goes to the client whose call made it', async () => {
    const everything = started(await startEverything('streamableHttp'));
    const nexus = await start(`[mcp.servers.everything]\nurl = "${everything.url}"\n`);
    const [a, b] = await Promise.all([legacyClient(nexus, { sampling: {} }, 'alice'), legacyClient(nexus, { sampling: {} }, 'bob')]);
    const runs = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        execute(i % 2 ? b.client : a.client, 'everything__trigger-sampling-request', { prompt: `p${i}` }),
      ),
    );
    runs.forEach((result, i) => expect(JSON.stringify(result)).toContain(`sampled by ${i % 2 ? 'bob' : 'alice'}`));
    expect([a.seen.sampling.length, b.seen.sampling.length]).toEqual([3, 3]);
  });

  it('a 2026-era server asking for input: nexus asks the 2025-era client and retries the call', async () => {
    const fixture = started(await startFixtureHttp());
    const nexus = await start(`[mcp.servers.fixture]\nurl = "${fixture.url}"\n`);
    const { client, seen } = await legacyClient(nexus, { elicitation: {} });
    const result = await execute(client, 'fixture__ask_client', { kind: 'elicitation', rounds: 2 });
    expect(seen.elicitation).toHaveLength(2);
    expect(JSON.parse(firstText(result))).toMatchObject({ rounds: 2, answer: { action: 'accept', content: { name: 'Ada' } } });
  });
});

/** A 2026-era client (SDK v2), which answers the server's requests in its retries. */
async function modernClient(nexus: RunningNexus, name = 'v2-client', fetch?: Fetch) {
  const client = track(
    new ClientV2(
      { name, version: '1.0.0' },
      { capabilities: { sampling: {}, elicitation: { form: {} }, roots: {} }, versionNegotiation: { mode: 'auto' } },
    ),
  );
  const seen = { sampling: 0, elicitation: 0 };
  client.setRequestHandler('sampling/createMessage', () => {
    seen.sampling++;
    return { model: `${name}-model`, role: 'assistant', content: { type: 'text', text: `sampled by ${name}` } };
  });
  client.setRequestHandler('elicitation/create', () => {
    seen.elicitation++;
    return { action: 'accept', content: { name: 'Grace' } };
  });
  client.setRequestHandler('roots/list', () => ({ roots: [{ uri: 'file:///modern' }] }));
  await client.connect(new TransportV2(new URL(`${nexus.url}/mcp`), fetch ? { fetch } : undefined));
  return { client, seen };
}

describe('server-to-client requests, 2026-era client', () => {
  it('speaks 2026-07-28 to nexus', async () => {
    const nexus = await start(fixtureStdio());
    const { client } = await modernClient(nexus);
    expect(client.getNegotiatedProtocolVersion?.()).toBe('2026-07-28');
  });

  it("a 2025-era server's sampling request comes back as input_required and the retry answers it", async () => {
    const nexus = await start(everythingStdio);
    const { client, seen } = await modernClient(nexus);
    const result = await client.callTool({
      name: 'execute',
      arguments: { name: 'everything__trigger-sampling-request', arguments: { prompt: 'x' } },
    });
    expect(seen.sampling).toBe(1);
    expect(JSON.stringify(result)).toContain('sampled by v2-client');
  });

  it("a 2026-era server's own input_required passes through, rounds and all", async () => {
    const fixture = started(await startFixtureHttp());
    const nexus = await start(`[mcp.servers.fixture]\nurl = "${fixture.url}"\n`);
    const { client, seen } = await modernClient(nexus);
    const result = await client.callTool({
      name: 'execute',
      arguments: { name: 'fixture__ask_client', arguments: { kind: 'elicitation', rounds: 3 } },
    });
    expect(seen.elicitation).toBe(3);
    expect(JSON.parse(firstText(result))).toMatchObject({ rounds: 3, answer: { action: 'accept', content: { name: 'Grace' } } });
  });
});

const until = async (check: () => boolean, ms = 5_000) => {
  for (const deadline = Date.now() + ms; !check();) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

describe('log messages to a 2026-era client', () => {
  it('reach it during a call, at the level its request names', async () => {
    const nexus = await start(fixtureStdio());
    const logs: string[] = [];
    const client = track(new ClientV2({ name: 'logs', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } }));
    client.setNotificationHandler('notifications/message', (notification) => void logs.push(notification.params.level));
    await client.connect(new TransportV2(new URL(`${nexus.url}/mcp`)));
    const call = (meta: Record<string, unknown>) =>
      client.callTool({ name: 'execute', arguments: { name: 'fixture__log_levels' }, _meta: meta });
    await call({});
    expect(logs).toEqual(['debug', 'info', 'warning', 'error']);
    logs.length = 0;
    await call({ 'io.modelcontextprotocol/logLevel': 'warning' });
    expect(logs).toEqual(['warning', 'error']);
  });
});

describe('listening clients', () => {
  it('a 2025-era client hears of list changes and of log messages outside a call on its GET stream', async () => {
    const nexus = await start(fixtureStdio());
    const { client, seen } = await legacyClient(nexus, {});
    let changes = 0;
    client.setNotificationHandler(PromptListChangedNotificationSchema, () => void changes++);
    await new Promise((resolve) => setTimeout(resolve, 200)); // the GET stream opens after initialize
    await execute(client, 'fixture__add_prompt', { name: 'farewell' });
    await until(() => changes === 1);
    expect((await client.listPrompts()).prompts.map((prompt) => prompt.name)).toContain('fixture__farewell');
    await execute(client, 'fixture__log_later', { message: 'after the call' });
    await until(() => seen.logs.length === 1);
    expect(seen.logs[0]).toMatchObject({ level: 'info', data: 'after the call' });
  });

  it('a 2026-era client hears of list changes through subscriptions/listen', async () => {
    const nexus = await start(fixtureStdio());
    let changes = 0;
    const client = track(
      new ClientV2(
        { name: 'listener', version: '1.0.0' },
        { versionNegotiation: { mode: 'auto' }, listChanged: { prompts: { onChanged: () => void changes++ } } },
      ),
    );
    await client.connect(new TransportV2(new URL(`${nexus.url}/mcp`)));
    await new Promise((resolve) => setTimeout(resolve, 200));
    await client.callTool({ name: 'execute', arguments: { name: 'fixture__add_prompt', arguments: { name: 'farewell' } } });
    await until(() => changes >= 1);
  });
});

describe('scale-out: answers that reach another instance', () => {
  const pair = async (redisUrl: string | undefined) => {
    const relay = redisUrl ? `[mcp.relay]\nredis_url = "${redisUrl}"\n` : '';
    return Promise.all([start(everythingStdio + relay), start(everythingStdio + relay)]);
  };

  it('instances sharing Redis hand each other the answers, for both eras', async () => {
    const redis = started(await startRedis());
    const [a, b] = await pair(redis.url);
    const answers = (body: string) => body.includes('"result"') && !body.includes('"method"');
    const toB = balancer(a, b, answers);
    const legacy = await legacyClient(a, { sampling: {} }, 'legacy', toB);
    expect(JSON.stringify(await execute(legacy.client, 'everything__trigger-sampling-request', { prompt: 'x' }))).toContain(
      'sampled by legacy',
    );
    expect(toB.moved).toBe(1);

    const retries = (body: string) => body.includes('"inputResponses"');
    const retriesToB = balancer(a, b, retries);
    const modern = await modernClient(a, 'modern', retriesToB);
    const result = await modern.client.callTool({
      name: 'execute',
      arguments: { name: 'everything__trigger-sampling-request', arguments: { prompt: 'y' } },
    });
    expect(JSON.stringify(result)).toContain('sampled by modern');
    expect([legacy.seen.sampling.length, modern.seen.sampling, retriesToB.moved]).toEqual([1, 1, 1]);
  });

  it('without Redis, an answer that reaches another instance gets a clear error', async () => {
    const [a, b] = await pair(undefined);
    const retries = (body: string) => body.includes('"inputResponses"');
    const modern = await modernClient(a, 'modern', balancer(a, b, retries));
    const outcome = await modern.client
      .callTool({ name: 'execute', arguments: { name: 'everything__trigger-sampling-request', arguments: { prompt: 'y' } } })
      .catch((error: unknown) => error);
    expect(String(outcome)).toMatch(/held by another nexus instance.*mcp\.relay\.redis_url/);
  });
});
