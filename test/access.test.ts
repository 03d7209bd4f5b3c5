/**
 * Client identification and access rules: who is calling (header or token claim), and which
 * tools, prompts and resources each group may see and run. Real fixture servers over stdio, a
 * real JWKS for the token case, and SDK clients sending the identity headers.
 */
import { Client, ProtocolError, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { McpConfig } from '../src/config/schema.js';
import { AccessPolicy } from '../src/mcp/access/policy.js';
import { ToolIndex } from '../src/mcp/search/tool-index.js';
import type { RunningNexus } from '../src/server.js';
import { AUDIENCE, ISSUER, JwksServer, signingKey, token, type SigningKey } from './helpers/jwks.js';
import { parse } from 'smol-toml';
import { parseConfig } from '../src/config/load.js';
import { startNexus } from '../src/server.js';
import { capturedLogger } from './helpers/logs.js';
import { firstText, identifiedBy, startTestNexus } from './helpers/nexus.js';
import { FIXTURE_SERVER, startFixtureHttp, type Spawned } from './helpers/processes.js';

const rules = (
  servers: Record<string, { allow?: string[]; deny?: string[]; tools?: Record<string, { allow?: string[]; deny?: string[] }> }>,
) =>
  ({ servers: Object.fromEntries(Object.entries(servers).map(([name, rule]) => [name, { tools: {}, ...rule }])) }) as unknown as McpConfig;

describe('AccessPolicy', () => {
  const policy = new AccessPolicy(
    rules({
      tickets: { allow: ['support', 'admin'] },
      db: { deny: ['support'], tools: { read: { allow: ['support'] }, drop: { allow: ['admin'], deny: ['admin'] } } },
      closed: { allow: [] },
      open: {},
    }),
  );

  it('lets a tool rule replace its server rule, deny win over allow, and allow = [] admit nobody', () => {
    expect(policy.mayUseTool('support', 'tickets', 'any')).toBe(true);
    expect(policy.mayUseTool('dba', 'tickets', 'any')).toBe(false);
    expect(policy.mayUseTool('support', 'db', 'write')).toBe(false);
    expect(policy.mayUseTool('support', 'db', 'read')).toBe(true); // the tool's allow replaces the server's deny
    expect(policy.mayUseTool('dba', 'db', 'read')).toBe(false); // ...and its allow list is now the whole rule
    expect(policy.mayUseTool('admin', 'db', 'drop')).toBe(false); // deny wins within a rule
    expect(policy.mayUseTool('admin', 'closed', 'any')).toBe(false);
    expect(policy.mayUseTool('dba', 'open', 'any')).toBe(true);
  });

  it('treats a caller without a group as named by no allow list and by no deny list', () => {
    expect(policy.mayUseServer(undefined, 'tickets')).toBe(false);
    expect(policy.mayUseServer(undefined, 'db')).toBe(true);
    expect(policy.mayUseTool(undefined, 'db', 'read')).toBe(false);
    expect(policy.mayUseServer(undefined, 'open')).toBe(true);
  });

  it('gives groups that decide every rule alike the same view, and others their own', () => {
    const sameAsDba = new AccessPolicy(rules({ tickets: { allow: ['support'] }, open: {} }));
    expect(sameAsDba.viewFor('dba').key).toBe(sameAsDba.viewFor('finance').key);
    expect(sameAsDba.viewFor('dba').key).not.toBe(sameAsDba.viewFor('support').key);
    expect(new AccessPolicy(rules({ open: {} })).restricted).toBe(false);
  });
});

const IDENTITY = identifiedBy(['support', 'admin', 'dba']);

const SERVERS = ['tickets', 'db', 'open', 'closed'];
const ACCESS_CONFIG = `${IDENTITY}
[mcp.servers.tickets]
cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
allow = ["support", "admin"]
[mcp.servers.db]
cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
deny = ["support"]
[mcp.servers.db.tools.echo]
allow = ["support", "admin"]
[mcp.servers.open]
cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
[mcp.servers.closed]
cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
allow = []
[mcp.servers.broken]
cmd = ["/nonexistent/command"]
allow = ["admin"]
`;

async function clientAs(nexus: RunningNexus, headers: Record<string, string>): Promise<Client> {
  const client = new Client({ name: 'access', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${nexus.url}/mcp`), { requestInit: { headers } }));
  return client;
}

const searchNames = async (client: Client, keywords: string[]) => {
  const result = await client.callTool({ name: 'search', arguments: { keywords } });
  return (result.structuredContent as { results: { name: string }[] }).results.map((r) => r.name);
};
const execute = (client: Client, name: string, args: Record<string, unknown> = {}) =>
  client.callTool({ name: 'execute', arguments: { name, arguments: args } }).then(firstText, (error: ProtocolError) => error);

describe('access rules, with identity from headers', () => {
  let nexus: RunningNexus;
  const clients: Record<string, Client> = {};
  beforeAll(async () => {
    nexus = await startTestNexus(ACCESS_CONFIG);
    clients['support'] = await clientAs(nexus, { 'x-client-id': 'ana', 'x-group': 'support' });
    clients['admin'] = await clientAs(nexus, { 'x-client-id': 'bo', 'x-group': 'admin' });
    clients['dba'] = await clientAs(nexus, { 'x-client-id': 'cy', 'x-group': 'dba' });
    clients['none'] = await clientAs(nexus, { 'x-client-id': 'dee' });
  });
  afterAll(async () => {
    await Promise.all(Object.values(clients).map((client) => client.close()));
    await nexus?.close();
  });

  const post = (headers: Record<string, string>) =>
    fetch(`${nexus.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });

  it('refuses a request without a client id (400 missing_client_id), and a group that is not configured (400 invalid_group)', async () => {
    const missing = await post({ 'x-group': 'support' });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: 'missing_client_id', error_description: expect.stringContaining('x-client-id') });
    const invalid = await post({ 'x-client-id': 'eve', 'x-group': 'hackers' });
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({ error: 'invalid_group' });
    expect((await post({ 'x-client-id': 'eve', 'x-group': 'dba' })).status).toBe(200);
  });

  it('lets search find only the tools the caller’s group may run', async () => {
    const visible = async (group: string) => {
      const names = await searchNames(clients[group] as Client, ['echo', 'input', 'string']);
      return SERVERS.filter((server) => names.includes(`${server}__echo`));
    };
    expect(await visible('support')).toEqual(['tickets', 'db', 'open']);
    expect(await visible('admin')).toEqual(['tickets', 'db', 'open']);
    expect(await visible('dba')).toEqual(['open']); // db__echo's own rule names only support and admin
    expect(await visible('none')).toEqual(['open']);
    const supportAdds = await searchNames(clients['support'] as Client, ['add', 'numbers']);
    expect(supportAdds).toContain('tickets__add_numbers');
    expect(supportAdds).not.toContain('db__add_numbers');
    expect(await searchNames(clients['dba'] as Client, ['add', 'numbers'])).toContain('db__add_numbers');
  });

  it('answers execute of a forbidden tool exactly as of an unknown one (-32601)', async () => {
    const forbidden = await execute(clients['support'] as Client, 'db__add_numbers', { a: 1, b: 2 });
    const unknown = await execute(clients['support'] as Client, 'db__no_such_tool');
    expect(forbidden).toBeInstanceOf(ProtocolError);
    expect(forbidden).toMatchObject({ code: -32601, message: 'Unknown tool: db__add_numbers' });
    expect(unknown).toMatchObject({ code: -32601, message: 'Unknown tool: db__no_such_tool' });
    expect(await execute(clients['support'] as Client, 'db__echo', { message: 'override' })).toBe('Echo: override');
    expect(await execute(clients['dba'] as Client, 'db__add_numbers', { a: 1, b: 2 })).toBe('3');
    expect(await execute(clients['dba'] as Client, 'tickets__echo', { message: 'x' })).toMatchObject({ code: -32601 });
    expect(await execute(clients['admin'] as Client, 'closed__echo', { message: 'x' })).toMatchObject({ code: -32601 });
  });

  it('says a server is down only to callers who may use it', async () => {
    const admin = await execute(clients['admin'] as Client, 'broken__echo', { message: 'x' });
    expect(admin).toMatchObject({ code: -32603, message: expect.stringContaining("server 'broken' is unavailable") });
    const support = await execute(clients['support'] as Client, 'broken__echo', { message: 'x' });
    expect(support).toMatchObject({ code: -32601, message: 'Unknown tool: broken__echo' });
  });

  it('shows prompts and resources by the server rule', async () => {
    const prompts = async (group: string) => (await (clients[group] as Client).listPrompts()).prompts.map((p) => p.name).sort();
    expect(await prompts('support')).toEqual(['open__greeting', 'tickets__greeting']);
    expect(await prompts('dba')).toEqual(['db__greeting', 'open__greeting']);
    const hidden = await (clients['support'] as Client)
      .getPrompt({ name: 'db__greeting', arguments: { who: 'x' } })
      .catch((error: unknown) => error);
    expect(hidden).toBeInstanceOf(ProtocolError);
    expect((hidden as ProtocolError).message).toContain('Unknown prompt: db__greeting');
    const resources = async (group: string) => (await (clients[group] as Client).listResources()).resources.length;
    expect(await resources('support')).toBe(2);
    expect(await resources('admin')).toBe(3);
    expect(await resources('none')).toBe(2);
  });

  it('shows each caller only the servers, and tool counts, of their view on /status, and names no server in initialize', async () => {
    type Report = { servers: { name: string; tools: number }[] };
    const status = async (headers: Record<string, string>) =>
      ((await (await fetch(`${nexus.url}/status`, { headers })).json()) as Report).servers;
    const support = await status({ 'x-client-id': 'ana', 'x-group': 'support' });
    expect(support.map((server) => server.name)).toEqual(['tickets', 'db', 'open']);
    expect(support.find((server) => server.name === 'db')?.tools).toBe(1); // only db__echo
    expect((await status({ 'x-client-id': 'bo', 'x-group': 'admin' })).map((server) => server.name)).toEqual([
      'tickets',
      'db',
      'open',
      'broken',
    ]);
    const instructions = (clients['support'] as Client).getInstructions() ?? '';
    for (const server of [...SERVERS, 'broken']) expect(instructions).not.toContain(server);
  });

  it('refuses a group header that is there but empty, rather than taking it for no group', async () => {
    const empty = await post({ 'x-client-id': 'eve', 'x-group': '  ' });
    expect(empty.status).toBe(400);
    expect(await empty.json()).toMatchObject({ error: 'invalid_group' });
  });

  it('searches each view with that view’s own statistics, not a filter over everyone’s', async () => {
    const view = nexus.registry.policy.viewFor('support');
    const alone = new ToolIndex();
    for (const server of SERVERS) {
      const tools = nexus.registry.get(server)?.catalog.tools ?? [];
      alone.setServerTools(
        server,
        tools.filter((tool) => view.tool(server, tool.name)),
      );
    }
    for (const keywords of [['echo'], ['add', 'numbers'], ['cancel', 'wait'], ['paged', 'tool']]) {
      expect(nexus.registry.indexFor(view).search(keywords)).toEqual(alone.search(keywords));
    }
  });

  it('keeps many parallel callers of different groups in their own views', async () => {
    const calls = Array.from({ length: 60 }, async (_, i) => {
      const group = ['support', 'dba', 'none'][i % 3] as string;
      const client = clients[group] as Client;
      if (i % 2 === 0) return { group, names: await searchNames(client, ['echo']) };
      return { group, outcome: await execute(client, 'tickets__echo', { message: String(i) }) };
    });
    for (const result of await Promise.all(calls)) {
      if (result.names) {
        const names = result.names;
        const servers = SERVERS.filter((server) => names.includes(`${server}__echo`));
        expect(servers).toEqual(result.group === 'support' ? ['tickets', 'db', 'open'] : ['open']);
      } else if (result.group === 'support') {
        expect(result.outcome).toMatch(/^Echo: \d+$/);
      } else {
        expect(result.outcome).toMatchObject({ code: -32601 });
      }
    }
  });
});

describe('identity from token claims', () => {
  const jwks = new JwksServer();
  let key: SigningKey;
  let nexus: RunningNexus;
  let personal: Spawned & { url: string };
  let secret: Spawned & { url: string };
  beforeAll(async () => {
    key = await signingKey('k1');
    jwks.keys = [key];
    await jwks.start();
    personal = await startFixtureHttp();
    secret = await startFixtureHttp();
    nexus = await startTestNexus(`
      [server.oauth]
      url = "${jwks.url}"
      expected_issuer = "${ISSUER}"
      expected_audience = "${AUDIENCE}"
      [server.client_identification]
      enabled = true
      client_id.jwt_claim = "sub"
      group_id.jwt_claim = "org.team"
      [server.client_identification.validation]
      group_values = ["support", "dba"]
      [mcp.servers.tickets]
      cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
      allow = ["support"]
      [mcp.servers.open]
      cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
      [mcp.servers.personal]
      url = "${personal.url}"
      protocol = "streamable-http"
      auth = { type = "forward" }
      [mcp.servers.personal.tools.echo]
      allow = ["support"]
      [mcp.servers.secret]
      url = "${secret.url}"
      protocol = "streamable-http"
      auth = { type = "forward" }
      allow = ["support"]
    `);
  });
  afterAll(async () => {
    await nexus?.close();
    await personal?.kill();
    await secret?.kill();
    await jwks.stop();
  });

  const bearer = async (claims: Record<string, unknown>) => ({ authorization: `Bearer ${await token(key, claims)}` });

  it('reads the group from a dotted claim path and serves each team its view', async () => {
    const support = await clientAs(nexus, await bearer({ org: { team: 'support' } }));
    const dba = await clientAs(nexus, await bearer({ sub: 'user-2', org: { team: 'dba' } }));
    try {
      expect(await searchNames(support, ['echo'])).toContain('tickets__echo');
      expect(await searchNames(dba, ['echo'])).not.toContain('tickets__echo');
      expect(await execute(dba, 'tickets__echo', { message: 'x' })).toMatchObject({ code: -32601 });
      expect(await execute(support, 'tickets__echo', { message: 'ok' })).toBe('Echo: ok');
      // A claim whose own name has dots (namespaced claims) is read by that exact name first.
      const namespaced = await clientAs(nexus, await bearer({ sub: 'user-7', 'org.team': 'support' }));
      expect(await searchNames(namespaced, ['echo'])).toContain('tickets__echo');
      await namespaced.close();
    } finally {
      await support.close();
      await dba.close();
    }
  });

  it('applies tool rules to forward servers too, in each caller’s own session', async () => {
    const support = await clientAs(nexus, await bearer({ sub: 'user-3', org: { team: 'support' } }));
    const dba = await clientAs(nexus, await bearer({ sub: 'user-4', org: { team: 'dba' } }));
    try {
      expect(await searchNames(support, ['echo'])).toContain('personal__echo');
      expect(await execute(support, 'personal__echo', { message: 'mine' })).toBe('Echo: mine');
      const dbaSees = await searchNames(dba, ['echo', 'add', 'numbers']);
      expect(dbaSees).not.toContain('personal__echo');
      expect(dbaSees).toContain('personal__add_numbers');
      expect(await execute(dba, 'personal__echo', { message: 'x' })).toMatchObject({
        code: -32601,
        message: 'Unknown tool: personal__echo',
      });
      expect(await execute(dba, 'personal__add_numbers', { a: 2, b: 2 })).toBe('4');
    } finally {
      await support.close();
      await dba.close();
    }
  });

  it('refuses a group claim that is not one string (an array, an object, true, ""), and a blank client id', async () => {
    const post = async (claims: Record<string, unknown>) =>
      fetch(`${nexus.url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...(await bearer(claims)) },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
      });
    for (const team of [['dba'], { name: 'dba' }, true, '']) {
      const response = await post({ org: { team } });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: 'invalid_group' });
    }
    const blank = await post({ sub: '   ' });
    expect(await blank.json()).toMatchObject({ error: 'missing_client_id' });
  });

  it('never opens a forward server to a caller whose view may use nothing of it', async () => {
    const initializations = async () => {
      const result = await fetch(secret.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'initializations', arguments: {} } }),
      });
      const text = await result.text();
      const json = /^data: (.*)$/m.exec(text)?.[1] ?? text;
      return Number(JSON.parse(json).result.content[0].text);
    };
    const before = await initializations();
    const dba = await clientAs(nexus, await bearer({ sub: 'user-5', org: { team: 'dba' } }));
    const support = await clientAs(nexus, await bearer({ sub: 'user-6', org: { team: 'support' } }));
    try {
      expect(await searchNames(dba, ['echo'])).not.toContain('secret__echo');
      expect(await initializations()).toBe(before);
      expect(await searchNames(support, ['echo'])).toContain('secret__echo');
      expect(await initializations()).toBe(before + 1);
    } finally {
      await dba.close();
      await support.close();
    }
  });

  it('refuses a token without the client id claim, or with a team outside group_values', async () => {
    const post = async (claims: Record<string, unknown>) =>
      fetch(`${nexus.url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...(await bearer(claims)) },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
      });
    const noSub = await post({ sub: undefined });
    expect(noSub.status).toBe(400);
    expect(await noSub.json()).toMatchObject({ error: 'missing_client_id', error_description: expect.stringContaining('"sub"') });
    const badTeam = await post({ org: { team: 'hackers' } });
    expect(badTeam.status).toBe(400);
    expect(await badTeam.json()).toMatchObject({ error: 'invalid_group' });
    expect((await post({ org: { team: 'dba' } })).status).toBe(200);
  });
});

describe('identity in the logs', () => {
  it('names the client and group in log lines about their calls and refusals', async () => {
    const logs = capturedLogger('info');
    const toml = `${IDENTITY}[mcp.servers.fixture]\ncmd = ["node", "${FIXTURE_SERVER}", "stdio"]\ncall_timeout = "300ms"\n[mcp.servers.fixture.tools.fixture__echo]\ndeny = ["support"]\n`;
    const config = parseConfig(parse(toml), 'test.toml');
    const nexus = await startNexus(config, { logger: logs.logger, listenAddress: { host: '127.0.0.1', port: 0 } });
    const client = await clientAs(nexus, { 'x-client-id': 'ana', 'x-group': 'support' });
    try {
      await nexus.ready;
      // A rule on a name the server does not have (here, the qualified name) protects nothing: a warning says so.
      const warning = logs
        .text()
        .split('\n')
        .find((line) => line.includes('access rules name tools this server does not have'));
      expect(JSON.parse(warning ?? '{}')).toMatchObject({ server: 'fixture', tools: ['fixture__echo'] });
      expect(await execute(client, 'fixture__wait_for_cancel', { ms: 2_000 })).toBeInstanceOf(ProtocolError);
      const failure = logs
        .text()
        .split('\n')
        .find((line) => line.includes('downstream request failed'));
      expect(JSON.parse(failure ?? '{}')).toMatchObject({ server: 'fixture', client_id: 'ana', group: 'support' });
      await fetch(`${nexus.url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-client-id': 'eve', 'x-group': 'hackers' },
        body: '{}',
      });
      const refusal = logs
        .text()
        .split('\n')
        .find((line) => line.includes('request refused'));
      expect(JSON.parse(refusal ?? '{}')).toMatchObject({ client_id: 'eve', reason: 'invalid group' });
    } finally {
      await client.close();
      await nexus.close();
    }
  });
});
