/**
 * What passes through nexus unchanged: a request's `_meta` (custom keys, trace context) to the
 * server, and a tool's whole definition in search results.
 */
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningNexus } from '../src/server.js';
import { closedAfterEach, firstText, identifiedBy } from './helpers/nexus.js';
import { modernFetch, modernRequest } from './helpers/modern.js';
import { FIXTURE_SERVER, startFixtureHttp } from './helpers/processes.js';

const { nexusWith: start, started } = closedAfterEach();
const clients: { close(): Promise<unknown> }[] = [];
afterEach(async () => void (await Promise.all(clients.splice(0).map((client) => client.close()))));

/** A 2025-era client (SDK v1) of `nexus`, closed after the test. */
async function legacyClient(nexus: RunningNexus, headers: Record<string, string> = {}): Promise<ClientV1> {
  const client = new ClientV1({ name: 'v1', version: '1' });
  clients.push(client);
  await client.connect(new TransportV1(new URL(`${nexus.url}/mcp`), { requestInit: { headers } }));
  return client;
}

/** A client on the SDK v2, 2026-07-28 when `modern`, closed after the test. */
async function v2Client(nexus: RunningNexus, modern = false): Promise<ClientV2> {
  const client = new ClientV2({ name: 'v2', version: '1' }, modern ? { versionNegotiation: { mode: 'auto' } } : {});
  clients.push(client);
  await client.connect(new TransportV2(new URL(`${nexus.url}/mcp`)));
  return client;
}

const META = {
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  tracestate: 'vendor=value',
  baggage: 'team=search',
  'example.com/request': { custom: true },
};

async function servers() {
  const http = started(await startFixtureHttp());
  return start(`
    [mcp.servers.local]
    cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
    [mcp.servers.remote]
    url = "${http.url}"
  `);
}

describe("a request's _meta", () => {
  it('reaches stdio and HTTP servers unchanged, from a 2025-era and a 2026-era client', async () => {
    const nexus = await servers();
    const [legacy, modern] = await Promise.all([legacyClient(nexus), v2Client(nexus, true)]);
    for (const server of ['local', 'remote']) {
      const params = { name: 'execute', arguments: { name: `${server}__show_meta` }, _meta: META };
      for (const result of [await legacy.callTool(params), await modern.callTool(params)]) {
        const seen = JSON.parse(firstText(result)) as Record<string, unknown>;
        expect(seen).toMatchObject(META);
      }
    }
  });
});

describe('search results', () => {
  it("carry the tool's title, annotations, icons, output schema and _meta beside the original's fields", async () => {
    const nexus = await servers();
    const client = await v2Client(nexus);
    const result = await client.callTool({ name: 'search', arguments: { keywords: ['annotated', 'lookup'] } });
    const found = (result.structuredContent as { results: Record<string, unknown>[] }).results.find(
      (tool) => tool['name'] === 'local__annotated_lookup',
    );
    expect(found).toMatchObject({
      name: 'local__annotated_lookup',
      description: expect.stringContaining('Looks something up') as unknown,
      input_schema: { type: 'object' },
      score: expect.any(Number) as unknown,
      title: 'Annotated lookup',
      annotations: { readOnlyHint: true, destructiveHint: false, openWorldHint: false },
      icons: [{ src: 'https://example.test/lookup.png', mimeType: 'image/png' }],
      output_schema: { type: 'object', properties: { found: { type: 'boolean' } } },
      _meta: { ui: { resourceUri: 'ui://fixture/lookup' } },
    });
    // The text copy says the same.
    expect(JSON.parse(firstText(result))).toEqual(result.structuredContent);
  });
});

describe('server names', () => {
  it('a server whose name ends in "_" has its tools and prompts reachable', async () => {
    const nexus = await start(`[mcp.servers.srv_]\ncmd = ["node", "${FIXTURE_SERVER}", "stdio"]\n`);
    const client = await legacyClient(nexus);
    const prompts = (await client.listPrompts()).prompts.map((prompt) => prompt.name);
    expect(prompts).toContain('srv___greeting');
    const prompt = await client.getPrompt({ name: 'srv___greeting', arguments: { who: 'Ada' } });
    expect(JSON.stringify(prompt.messages)).toContain('Hello, Ada!');
    const echoed = await client.callTool({ name: 'execute', arguments: { name: 'srv___echo', arguments: { message: 'hi' } } });
    expect(firstText(echoed)).toBe('Echo: hi');
  });
});

describe('completions', () => {
  it('go to the server of the prompt or resource template, as if asked directly', async () => {
    const nexus = await servers();
    const client = await legacyClient(nexus);
    const prompt = await client.complete({ ref: { type: 'ref/prompt', name: 'remote__greeting' }, argument: { name: 'who', value: 'A' } });
    expect(prompt.completion.values).toEqual(['Ada', 'Alan']);
    // Both servers have this template, so it is listed under each server's name.
    const template = await client.complete({
      ref: { type: 'ref/resource', uri: 'fixture://remote/items/{id}' },
      argument: { name: 'id', value: '' },
    });
    expect(template.completion.values).toEqual(['1', '2', '3']);
    const unknown = await client
      .complete({ ref: { type: 'ref/prompt', name: 'nowhere__greeting' }, argument: { name: 'who', value: '' } })
      .catch((error: unknown) => error);
    expect(String(unknown)).toMatch(/Unknown reference: nowhere__greeting/);
  });
});

describe('resource subscriptions', () => {
  it("reach the resource's server once; updates reach every subscribed client; the last unsubscribe ends it", async () => {
    const nexus = await start(`[mcp.servers.local]\ncmd = ["node", "${FIXTURE_SERVER}", "stdio"]\n`);
    const subscriber = async () => {
      const client = await legacyClient(nexus);
      const updates: string[] = [];
      client.setNotificationHandler(ResourceUpdatedNotificationSchema, (notification) => void updates.push(notification.params.uri));
      return { client, updates };
    };
    const [a, b] = await Promise.all([subscriber(), subscriber()]);
    await new Promise((resolve) => setTimeout(resolve, 200)); // their GET streams open after initialize
    const uri = 'fixture://notes/readme';
    await a.client.subscribeResource({ uri });
    await b.client.subscribeResource({ uri });
    const subscribed = async () =>
      JSON.parse(firstText(await a.client.callTool({ name: 'execute', arguments: { name: 'local__subscribed' } })));
    expect(await subscribed()).toEqual([uri]);
    await a.client.callTool({ name: 'execute', arguments: { name: 'local__touch_resource', arguments: { uri } } });
    await expect.poll(() => [a.updates.length, b.updates.length]).toEqual([1, 1]);
    await a.client.unsubscribeResource({ uri });
    expect(await subscribed()).toEqual([uri]);
    await b.client.unsubscribeResource({ uri });
    expect(await subscribed()).toEqual([]);
  });

  it("of a 2026-era client's subscriptions/listen subscribe the server while the stream is open, and hear its updates", async () => {
    const nexus = await start(`[mcp.servers.local]\ncmd = ["node", "${FIXTURE_SERVER}", "stdio"]\n`);
    const uri = 'fixture://notes/readme';
    const client = await legacyClient(nexus);
    const subscribed = async () =>
      JSON.parse(firstText(await client.callTool({ name: 'execute', arguments: { name: 'local__subscribed' } }))) as string[];
    const stop = new AbortController();
    const response = await modernFetch(
      nexus.url,
      'subscriptions/listen',
      { notifications: { resourceSubscriptions: [uri] } },
      { signal: stop.signal },
    );
    const listening = reader(response);
    await expect.poll(subscribed).toEqual([uri]);
    await client.callTool({ name: 'execute', arguments: { name: 'local__touch_resource', arguments: { uri } } });
    await expect.poll(() => listening.text()).toContain(`"method":"notifications/resources/updated","params":{"uri":"${uri}"`);
    stop.abort();
    await listening.done;
    await expect.poll(subscribed).toEqual([]);
  });
});

describe('what nexus owes 2026-07-28 clients as an intermediary', () => {
  it('caching hints on its lists: search and execute for minutes, prompts and resources not at all, never shared', async () => {
    const nexus = await start(`[mcp.servers.local]\ncmd = ["node", "${FIXTURE_SERVER}", "stdio"]\n`);
    const tools = await modernRequest(nexus.url, 'tools/list', {});
    expect(tools.result).toMatchObject({ ttlMs: 300_000, cacheScope: 'private' });
    const prompts = await modernRequest(nexus.url, 'prompts/list', {});
    expect(prompts.result).toMatchObject({ ttlMs: 0, cacheScope: 'private' });
  });

  it('answers ping in 2025-era sessions; to a 2026-07-28 client, which has no ping, it is unknown, as from the server itself', async () => {
    const nexus = await start(`[mcp.servers.local]\ncmd = ["node", "${FIXTURE_SERVER}", "stdio"]\n`);
    const legacy = await legacyClient(nexus);
    expect(await legacy.ping()).toEqual({});
    const http = started(await startFixtureHttp());
    const direct = await modernRequest(http.url.replace(/\/mcp$/, ''), 'ping', {});
    const through = await modernRequest(nexus.url, 'ping', {});
    expect([direct.error?.code, through.error?.code]).toEqual([-32601, -32601]);
  });

  it('refuses a request whose Mcp-Name header says another tool than its body', async () => {
    const nexus = await start(`[mcp.servers.local]\ncmd = ["node", "${FIXTURE_SERVER}", "stdio"]\n`);
    const params = { name: 'search', arguments: { keywords: ['echo'] } };
    const mismatched = await modernRequest(nexus.url, 'tools/call', params, { headers: { 'mcp-name': 'execute' } });
    expect(mismatched.error?.code).toBe(-32020);
    const matched = await modernRequest(nexus.url, 'tools/call', params);
    expect(matched.result).toBeDefined();
  });
});

const IDENTITY = identifiedBy(['support', 'admin']);

/** Reads a streaming response's text as it comes, until it ends. */
function reader(response: Response): { text: () => string; done: Promise<unknown> } {
  let text = '';
  const decoder = new TextDecoder();
  const done = (async () => {
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) text += decoder.decode(chunk);
  })().catch(() => undefined);
  return { text: () => text, done };
}

describe('subscriptions/listen that subscribes nothing', () => {
  it('one the SDK refuses leaves no server subscribed', async () => {
    const nexus = await start(`[mcp.servers.local]\ncmd = ["node", "${FIXTURE_SERVER}", "stdio"]\n`);
    const client = await legacyClient(nexus);
    const subscribed = async () =>
      JSON.parse(firstText(await client.callTool({ name: 'execute', arguments: { name: 'local__subscribed' } }))) as string[];
    const uri = 'fixture://notes/readme';
    const invalid = await modernFetch(nexus.url, 'subscriptions/listen', {
      notifications: { resourceSubscriptions: [uri], toolsListChanged: 'yes' },
    });
    expect(await invalid.text()).toContain('-32602');
    const oldEra = await modernFetch(
      nexus.url,
      'subscriptions/listen',
      { notifications: { resourceSubscriptions: [uri] } },
      {
        headers: { 'mcp-protocol-version': '2025-11-25' },
      },
    );
    expect(oldEra.status).toBe(400);
    await oldEra.text();
    expect(await subscribed()).toEqual([]);
  });

  it("one naming a server's resource its group may not use hears nothing of it", async () => {
    const nexus = await start(`${IDENTITY}
      [mcp.servers.secret]
      cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
      allow = ["admin"]
      [mcp.servers.open]
      cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
      env = { FIXTURE_NO_TEMPLATES = "1" }
    `);
    const admin = await legacyClient(nexus, { 'x-client-id': 'bo', 'x-group': 'admin' });
    const stop = new AbortController();
    const listening = reader(
      await modernFetch(
        nexus.url,
        'subscriptions/listen',
        { notifications: { resourceSubscriptions: ['fixture://secret/notes/readme', 'fixture://notes/readme'] } },
        { signal: stop.signal, headers: { 'x-client-id': 'ana', 'x-group': 'support' } },
      ),
    );
    // Acknowledged for the resource it may hear of only: the one it sees, open's (which only it, of what it sees, lists).
    await expect.poll(() => listening.text()).toContain('"resourceSubscriptions":["fixture://notes/readme"]');
    const touch = (server: string) =>
      admin.callTool({ name: 'execute', arguments: { name: `${server}__touch_resource`, arguments: { uri: 'fixture://notes/readme' } } });
    await admin.subscribeResource({ uri: 'fixture://secret/notes/readme' });
    expect(firstText(await touch('secret'))).toBe('told');
    expect(firstText(await touch('open'))).toBe('told');
    // secret's update came first, had it come at all.
    await expect.poll(() => listening.text()).toContain('"uri":"fixture://notes/readme"');
    stop.abort();
    await listening.done;
    expect(listening.text()).not.toContain('secret');
    expect(listening.text().split('notifications/resources/updated').length - 1).toBe(1);
  });
});

describe('subscriptions/listen across groups', () => {
  it('a stream hears only of the server its own group sees under the URI it named, even when another group sees another server there', async () => {
    const nexus = await start(`${IDENTITY}
      [mcp.servers.secret]
      cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
      allow = ["admin"]
      [mcp.servers.open]
      cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
      allow = ["support"]
    `);
    const uri = 'fixture://notes/readme';
    const admin = await legacyClient(nexus, { 'x-client-id': 'bo', 'x-group': 'admin' });
    const stop = new AbortController();
    const listen = async (who: string, group: string) =>
      reader(
        await modernFetch(
          nexus.url,
          'subscriptions/listen',
          { notifications: { resourceSubscriptions: [uri] } },
          {
            signal: stop.signal,
            headers: { 'x-client-id': who, 'x-group': group },
          },
        ),
      );
    // Each group sees one of the two servers, under the same bare URI.
    const [adminStream, supportStream] = [await listen('bo', 'admin'), await listen('ana', 'support')];
    await expect.poll(() => supportStream.text()).toContain('acknowledged');
    const touch = (server: string) =>
      admin.callTool({ name: 'execute', arguments: { name: `${server}__touch_resource`, arguments: { uri } } });
    await expect.poll(async () => firstText(await touch('secret'))).toBe('told');
    await expect.poll(() => adminStream.text()).toContain('notifications/resources/updated');
    // Written to every stream at once, had it been: a moment is plenty for it to arrive.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(supportStream.text()).not.toContain('notifications/resources/updated');
    const support = await legacyClient(nexus, { 'x-client-id': 'ana', 'x-group': 'support' });
    expect(firstText(await support.callTool({ name: 'execute', arguments: { name: 'open__touch_resource', arguments: { uri } } }))).toBe(
      'told',
    );
    await expect.poll(() => supportStream.text()).toContain('notifications/resources/updated');
    stop.abort();
    await Promise.all([adminStream.done, supportStream.done]);
    expect(supportStream.text()).toContain('"io.modelcontextprotocol/subscriptionId":1');
  });
});

describe('resources two servers both offer', () => {
  it('are listed and read qualified by server, each from its own; an MCP App points at its own', async () => {
    const http = started(await startFixtureHttp({ FIXTURE_NAME: 'b', FIXTURE_APP: '1' }));
    const direct = new ClientV2({ name: 'direct', version: '1' });
    clients.push(direct);
    await direct.connect(new TransportV2(new URL(http.url)));
    const nexus = await start(`
      [mcp.servers.a]
      cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
      env = { FIXTURE_NAME = "a", FIXTURE_APP = "1" }
      [mcp.servers.b]
      url = "${http.url}"
    `);
    const [legacy, modern] = await Promise.all([legacyClient(nexus), v2Client(nexus, true)]);
    // Directly, the server knows its resource by its own URI.
    expect((await direct.readResource({ uri: 'fixture://notes/readme' })).contents[0]).toMatchObject({
      uri: 'fixture://notes/readme',
      text: 'contents of fixture://notes/readme (from b)',
    });
    for (const client of [legacy, modern]) {
      const { resources } = await client.listResources();
      expect(resources.map((resource) => resource.uri)).toEqual([
        'fixture://a/notes/readme',
        'ui://a/fixture/lookup',
        'fixture://b/notes/readme',
        'ui://b/fixture/lookup',
      ]);
      const { resourceTemplates } = await client.listResourceTemplates();
      expect(resourceTemplates.map((template) => template.uriTemplate)).toEqual([
        'fixture://a/items/{id}',
        'fixture://a/files/{+path}',
        'fixture://b/items/{id}',
        'fixture://b/files/{+path}',
      ]);
      for (const server of ['a', 'b']) {
        const uri = `fixture://${server}/notes/readme`;
        const read = await client.readResource({ uri });
        expect(read.contents[0]).toMatchObject({ uri, text: `contents of fixture://notes/readme (from ${server})` });
        const item = await client.readResource({ uri: `fixture://${server}/items/7` });
        expect(item.contents[0]).toMatchObject({ text: `contents of fixture://items/7 (from ${server})` });
        const completed = await client.complete({
          ref: { type: 'ref/resource', uri: `fixture://${server}/items/{id}` },
          argument: { name: 'id', value: '' },
        });
        expect(completed.completion.values).toEqual(['1', '2', '3']);
      }
      // The URI as either server gives it belongs to both: nexus names the choices rather than pick one.
      const ambiguous = await client.readResource({ uri: 'fixture://notes/readme' }).catch((error: Error) => error);
      expect((ambiguous as Error).message).toContain('fixture://a/notes/readme, fixture://b/notes/readme');
      // Each server's MCP App tool points at its own server's view.
      const found = await client.callTool({ name: 'search', arguments: { keywords: ['annotated', 'lookup'] } });
      const results = (JSON.parse(firstText(found)) as { results: { name: string; _meta?: { ui?: { resourceUri?: string } } }[] }).results;
      for (const server of ['a', 'b']) {
        const uri = results.find((result) => result.name === `${server}__annotated_lookup`)?._meta?.ui?.resourceUri;
        expect(uri).toBe(`ui://${server}/fixture/lookup`);
        expect((await client.readResource({ uri: uri as string })).contents[0]).toMatchObject({
          text: `contents of ui://fixture/lookup (from ${server})`,
        });
      }
    }
  });

  it('leave a URI only one server offers as it is, and subscriptions by a qualified URI hear of it by that URI', async () => {
    const nexus = await start(`
      [mcp.servers.a]
      cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
      env = { FIXTURE_NAME = "a", FIXTURE_APP = "1" }
      [mcp.servers.b]
      cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
      env = { FIXTURE_NAME = "b", FIXTURE_NO_TEMPLATES = "1" }
    `);
    const client = await legacyClient(nexus);
    const updates: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (notification) => void updates.push(notification.params.uri));
    const { resources } = await client.listResources();
    expect(resources.map((resource) => resource.uri)).toEqual([
      'fixture://a/notes/readme',
      'ui://fixture/lookup',
      'fixture://b/notes/readme',
    ]);
    // a's templates are b's no longer: nobody else's URI matches them, so they stay as a gives them.
    const { resourceTemplates } = await client.listResourceTemplates();
    expect(resourceTemplates.map((template) => template.uriTemplate)).toEqual(['fixture://items/{id}', 'fixture://files/{+path}']);
    expect((await client.readResource({ uri: 'ui://fixture/lookup' })).contents[0]).toMatchObject({ uri: 'ui://fixture/lookup' });
    await new Promise((resolve) => setTimeout(resolve, 200)); // the GET stream opens after initialize
    await client.subscribeResource({ uri: 'fixture://b/notes/readme' });
    await client.callTool({ name: 'execute', arguments: { name: 'b__touch_resource', arguments: { uri: 'fixture://notes/readme' } } });
    await expect.poll(() => updates).toEqual(['fixture://b/notes/readme']);
  });
});
