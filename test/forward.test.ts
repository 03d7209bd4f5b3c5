/**
 * `auth.type = "forward"`: the caller's validated token goes to that server only, connections are
 * cached per token (bounded, idle-expiring, closed when dropped) and never shared between tokens.
 */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { parse } from 'smol-toml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configWarnings, parseConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { startNexus, type RunningNexus } from '../src/server.js';
import { AUDIENCE, ISSUER, JwksServer, signingKey, token, type SigningKey } from './helpers/jwks.js';
import { firstText } from './helpers/nexus.js';
import { createServer as createNetServer } from 'node:net';
import { FIXTURE_SERVER, freePort, startFixtureHttp, type Spawned } from './helpers/processes.js';

const jwks = new JwksServer();
const started: (Spawned & { url: string })[] = [];
const running: RunningNexus[] = [];
const clients: Client[] = [];
let alice: string;
let bob: string;
let key: SigningKey;

beforeAll(async () => {
  key = await signingKey('k1');
  jwks.keys = [key];
  await jwks.start();
  [alice, bob] = await Promise.all([token(key, { sub: 'alice' }), token(key, { sub: 'bob' })]);
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(running.splice(0).map((nexus) => nexus.close()));
  await Promise.all(started.splice(0).map((server) => server.kill()));
});
afterAll(() => jwks.stop());

async function setUp(cache = '', options: { personalUrl?: string; connectTimeoutMs?: number } = {}) {
  const [personal, shared] = await Promise.all([startFixtureHttp(), startFixtureHttp()]);
  started.push(personal, shared);
  const personalUrl = options.personalUrl ?? personal.url;
  const toml = `
    [server.oauth]
    url = "${jwks.url}"
    expected_issuer = "${ISSUER}"
    expected_audience = "${AUDIENCE}"
    [mcp]
    ${cache}
    [mcp.servers.personal]
    url = "${personalUrl}"
    protocol = "streamable-http"
    auth = { type = "forward" }
    [mcp.servers.shared]
    url = "${shared.url}"
    protocol = "streamable-http"
    auth.token = "static-secret"
    [mcp.servers.local]
    cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
  `;
  const nexus = await startNexus(parseConfig(parse(toml), 'test.toml'), {
    logger: silentLogger,
    listenAddress: { host: '127.0.0.1', port: 0 },
    connectTimeoutMs: options.connectTimeoutMs,
  });
  running.push(nexus);
  await nexus.ready;
  return nexus;
}

async function clientFor(nexus: RunningNexus, bearer: string): Promise<Client> {
  const client = new Client({ name: 'caller', version: '1' });
  const requestInit = { headers: { authorization: `Bearer ${bearer}` } };
  await client.connect(new StreamableHTTPClientTransport(new URL(`${nexus.url}/mcp`), { requestInit }));
  clients.push(client);
  return client;
}

async function execute(client: Client, name: string): Promise<string> {
  return firstText(await client.callTool({ name: 'execute', arguments: { name, arguments: {} } }));
}

async function authorizationSeenBy(client: Client, server: string): Promise<string | undefined> {
  return (JSON.parse(await execute(client, `${server}__show_headers`)) as Record<string, string>)['authorization'];
}

describe('forwarding the caller token', () => {
  it("sends the caller's token to forward servers and only there", async () => {
    const nexus = await setUp();
    const client = await clientFor(nexus, alice);
    expect(await authorizationSeenBy(client, 'personal')).toBe(`Bearer ${alice}`);
    // The shared server got its configured token, which nexus redacts where a server echoes it (a
    // caller's own token would show in clear).
    expect(await authorizationSeenBy(client, 'shared')).toBe('Bearer [redacted]');
  });

  it('makes forward servers searchable for a caller, beside stdio and static servers', async () => {
    const nexus = await setUp();
    const client = await clientFor(nexus, alice);
    const result = await client.callTool({ name: 'search', arguments: { keywords: ['show', 'headers'] } });
    const names = (result.structuredContent as { results: { name: string }[] }).results.map((r) => r.name);
    expect(names).toEqual(expect.arrayContaining(['personal__show_headers', 'shared__show_headers', 'local__show_headers']));
    expect(
      firstText(await client.callTool({ name: 'execute', arguments: { name: 'local__add_numbers', arguments: { a: 1, b: 1 } } })),
    ).toBe('2');
  });

  it("lists forward servers' tools directly for a caller whose token reaches them (expose_tools), and calls them with it", async () => {
    const nexus = await setUp('expose_tools = "direct"');
    const client = await clientFor(nexus, alice);
    const names: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor === undefined ? {} : { cursor });
      names.push(...page.tools.map((tool) => tool.name));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    expect(names).toEqual(expect.arrayContaining(['personal__show_headers', 'shared__show_headers', 'local__show_headers']));
    const headers = firstText(await client.callTool({ name: 'personal__show_headers', arguments: {} }));
    expect((JSON.parse(headers) as Record<string, string>)['authorization']).toBe(`Bearer ${alice}`);
  });

  it('never lets two callers in parallel see each other’s token', async () => {
    const nexus = await setUp();
    const [a, b] = await Promise.all([clientFor(nexus, alice), clientFor(nexus, bob)]);
    const calls = Array.from({ length: 40 }, (_, i) => {
      const [client, expected] = i % 2 === 0 ? [a, alice] : [b, bob];
      return authorizationSeenBy(client, 'personal').then((seen) => seen === `Bearer ${expected}`);
    });
    expect(await Promise.all(calls)).toEqual(Array.from({ length: 40 }, () => true));
  });
});

describe('the per-token connection cache', () => {
  const initializations = async (client: Client) => Number(await execute(client, 'personal__initializations'));

  it('connects once per token and reuses the connection', async () => {
    const nexus = await setUp();
    const a = await clientFor(nexus, alice);
    expect(await initializations(a)).toBe(1);
    await execute(a, 'personal__show_headers');
    expect(await initializations(a)).toBe(1);
    const b = await clientFor(nexus, bob);
    expect(await initializations(b)).toBe(2);
    expect(nexus.registry.forwarded?.size).toBe(2);
  });

  it('keeps at most max_size tokens, closing the least recently used', async () => {
    const nexus = await setUp('downstream_cache = { max_size = 1 }');
    const forwarded = nexus.registry.forwarded;
    const aliceSession = forwarded?.forToken(alice);
    await aliceSession?.ready;
    const personal = aliceSession?.downstreams.get('personal');
    expect(personal?.state.status).toBe('ready');
    const b = await clientFor(nexus, bob);
    expect(await initializations(b)).toBe(2);
    expect(forwarded?.size).toBe(1);
    await expect.poll(() => personal?.state.status).toBe('closed');
    const a = await clientFor(nexus, alice);
    expect(await initializations(a)).toBe(3);
  });

  it('closes a token’s connections after idle_timeout', async () => {
    const nexus = await setUp('downstream_cache = { idle_timeout = "300ms" }');
    const a = await clientFor(nexus, alice);
    expect(await initializations(a)).toBe(1);
    await expect.poll(() => nexus.registry.forwarded?.size, { timeout: 5_000 }).toBe(0);
    expect(await initializations(a)).toBe(2);
  });
});

describe('forward servers that misbehave', () => {
  it('do not hold up shared tools, and searches wait for them only briefly', async () => {
    const silent = createNetServer(() => undefined); // accepts connections, never answers
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as { port: number }).port;
      const nexus = await setUp('', { personalUrl: `http://127.0.0.1:${port}/mcp`, connectTimeoutMs: 20_000 });
      const client = await clientFor(nexus, alice);
      expect(
        firstText(await client.callTool({ name: 'execute', arguments: { name: 'local__add_numbers', arguments: { a: 2, b: 2 } } })),
      ).toBe('4');
      const result = await client.callTool({ name: 'search', arguments: { keywords: ['add', 'numbers'] } });
      expect((result.structuredContent as { results: { name: string }[] }).results[0]?.name).toBe('local__add_numbers');
      const personal = nexus.registry.forwarded?.forToken(alice).downstreams.get('personal');
      expect(personal?.state.status).toBe('connecting'); // both answered while it was still connecting
    } finally {
      silent.close();
    }
  });

  it('are tried again for a caller whose first connect failed', async () => {
    const port = await freePort();
    const nexus = await setUp('', { personalUrl: `http://127.0.0.1:${port}/mcp` });
    const client = await clientFor(nexus, alice);
    const first = await client
      .callTool({ name: 'execute', arguments: { name: 'personal__show_headers', arguments: {} } })
      .catch((e: Error) => e);
    expect(String(first)).toContain("server 'personal' is unavailable");
    const late = await startFixtureHttp({}, 'http', port);
    started.push(late);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await expect
      .poll(async () => authorizationSeenBy(client, 'personal').catch(() => undefined), { timeout: 5_000 })
      .toBe(`Bearer ${alice}`);
  });

  it('keep a call running when its session is evicted, and close after it', async () => {
    const nexus = await setUp('downstream_cache = { max_size = 1 }');
    const a = await clientFor(nexus, alice);
    const waiting = a.callTool({ name: 'execute', arguments: { name: 'personal__wait_for_cancel', arguments: { ms: 800 } } });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const aliceSession = nexus.registry.forwarded?.forToken(alice);
    const personal = aliceSession?.downstreams.get('personal');
    const b = await clientFor(nexus, bob);
    await execute(b, 'personal__show_headers'); // evicts alice's session
    expect(firstText(await waiting)).toBe('waited');
    await expect.poll(() => personal?.state.status).toBe('closed');
  });

  it('never fail a call whose session is evicted while it waits for the session to connect', async () => {
    const nexus = await setUp('downstream_cache = { max_size = 2 }');
    const tokens = await Promise.all(Array.from({ length: 24 }, (_, i) => token(key, { sub: `caller-${i}` })));
    const call = (bearer: string, tool: string) =>
      fetch(`${nexus.url}/mcp`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'tools/call',
          params: { name: tool, arguments: { name: 'personal__echo', arguments: { message: 'hi' }, keywords: ['echo'] } },
        }),
      }).then((response) => response.json() as Promise<{ result?: { content: { text: string }[] }; error?: unknown }>);
    // Every caller at once: each new token evicts an older one whose calls are still waiting.
    const answers = await Promise.all(tokens.flatMap((bearer) => [call(bearer, 'execute'), call(bearer, 'search')]));
    expect(answers.filter((answer) => answer.error !== undefined)).toEqual([]);
    expect(answers.filter((_, i) => i % 2 === 0).map((answer) => answer.result?.content[0]?.text)).toEqual(tokens.map(() => 'Echo: hi'));
    await expect.poll(() => nexus.registry.forwarded?.size).toBeLessThanOrEqual(2);
  });
});

describe('configuration', () => {
  it('loads forwarding without [server.oauth], as the original does, and warns that no token will be forwarded', () => {
    const toml = '[mcp.servers.x]\nurl = "http://127.0.0.1:1/mcp"\nauth = { type = "forward" }';
    expect(configWarnings(parseConfig(parse(toml), 'test.toml'))).toEqual([
      ['mcp.servers.x.auth.type', 'forwarding without [server.oauth] has no validated token to forward: the server gets none'],
    ]);
  });
});
