/**
 * Rate limits, in memory and shared through a real redis-server: HTTP-level (global, per IP) and
 * execute-level (per server, per tool), window resets, two instances sharing one Redis, key
 * prefixes, a password, Redis down at start and killed mid-run.
 */
import { Client, ProtocolError, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Redis } from 'ioredis';
import { parse } from 'smol-toml';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { silentLogger, type Logger } from '../src/log.js';
import { startNexus, StartupError, type RunningNexus } from '../src/server.js';
import { capturedLogger } from './helpers/logs.js';
import { FIXTURE_SERVER } from './helpers/processes.js';
import { makeCerts } from './helpers/certs.js';
import { startRedis, type RedisOptions, type TestRedis } from './helpers/redis.js';
import { servingSomething } from './helpers/nexus.js';

const running: RunningNexus[] = [];
const redises: TestRedis[] = [];
const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(running.splice(0).map((nexus) => nexus.close()));
  await Promise.all(redises.splice(0).map((redis) => redis.kill()));
});

const FIXTURE = `
  [mcp.servers.fixture]
  cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
`;

async function nexusWith(toml: string, logger: Logger = silentLogger): Promise<RunningNexus> {
  const nexus = await startNexus(parseConfig(parse(servingSomething(toml)), 'test.toml'), {
    logger,
    listenAddress: { host: '127.0.0.1', port: 0 },
  });
  running.push(nexus);
  await nexus.ready;
  return nexus;
}

/** The keys a Redis server holds that match `pattern`, through a connection closed afterwards. */
async function redisKeys(server: TestRedis, pattern: string): Promise<string[]> {
  const connection = new Redis(server.port, '127.0.0.1', { password: new URL(server.url).password || undefined });
  try {
    return await connection.keys(pattern);
  } finally {
    connection.disconnect();
  }
}

async function redis(options: RedisOptions = {}): Promise<TestRedis> {
  const server = await startRedis(options);
  redises.push(server);
  return server;
}

function ping(nexus: RunningNexus, headers: Record<string, string> = {}) {
  return fetch(`${nexus.url}/mcp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-06-18',
      ...headers,
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
  });
}

async function statuses(nexus: RunningNexus, count: number, headers: Record<string, string> = {}): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push((await ping(nexus, headers)).status);
  return out;
}

async function client(nexus: RunningNexus): Promise<Client> {
  const c = new Client({ name: 'limits', version: '1' });
  await c.connect(new StreamableHTTPClientTransport(new URL(`${nexus.url}/mcp`)));
  clients.push(c);
  return c;
}

async function execute(c: Client, name: string): Promise<'ok' | ProtocolError> {
  return c.callTool({ name: 'execute', arguments: { name, arguments: { a: 1, b: 1 } } }).then(
    () => 'ok' as const,
    (error: ProtocolError) => error,
  );
}

/** nexus trusting X-Real-IP (so each test client can be its own address), with `limits` in [server.rate_limits]. */
const perAddress = (limits: string) => nexusWith(`[server.client_ip]\nx_real_ip = true\n[server.rate_limits]\n${limits}`);

describe('HTTP limits in memory', () => {
  it('limits all callers together, with RateLimit headers and 429 + Retry-After; health is exempt', async () => {
    const nexus = await nexusWith('[server.rate_limits]\nglobal = { limit = 3, interval = "60s" }');
    const responses = [await ping(nexus), await ping(nexus), await ping(nexus)];
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(responses.map((r) => r.headers.get('ratelimit-remaining'))).toEqual(['2', '1', '0']);
    expect(responses[0]?.headers.get('ratelimit-limit')).toBe('3');
    expect(Number(responses[0]?.headers.get('ratelimit-reset'))).toBeGreaterThan(0);
    const refused = await ping(nexus);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get('ratelimit-remaining')).toBe('0');
    expect(await refused.json()).toMatchObject({ error: 'rate_limited' });
    expect((await fetch(`${nexus.url}/health`)).status).toBe(200);
  });

  it('limits each IP on its own', async () => {
    const nexus = await perAddress('per_ip = { limit = 2, interval = "60s" }');
    expect(await statuses(nexus, 3, { 'x-real-ip': '203.0.113.1' })).toEqual([200, 200, 429]);
    expect(await statuses(nexus, 2, { 'x-real-ip': '203.0.113.2' })).toEqual([200, 200]);
  });

  it('a request refused by one limit uses up nothing of the other: one client cannot lock out everyone', async () => {
    const nexus = await perAddress('per_ip = { limit = 2, interval = "60s" }\nglobal = { limit = 5, interval = "60s" }');
    // One client hammers: its own limit refuses it, and the global budget is barely touched.
    expect(await statuses(nexus, 20, { 'x-real-ip': '203.0.113.1' })).toEqual([200, 200, ...Array(18).fill(429)]);
    expect(await statuses(nexus, 2, { 'x-real-ip': '203.0.113.2' })).toEqual([200, 200]);
    expect(await statuses(nexus, 2, { 'x-real-ip': '203.0.113.3' })).toEqual([200, 429]);
  });

  it('counts IPv6 clients by their /64 network, so a new address is not a new budget', async () => {
    const nexus = await perAddress('per_ip = { limit = 2, interval = "60s" }');
    const outcomes = [];
    for (let i = 1; i <= 4; i++) outcomes.push(...(await statuses(nexus, 1, { 'x-real-ip': `2001:db8:1:2::${i}` })));
    expect(outcomes).toEqual([200, 200, 429, 429]);
    expect(await statuses(nexus, 1, { 'x-real-ip': '2001:db8:1:3::1' })).toEqual([200]);
  });

  it('counts junk in a trusted address header against the socket address, not as new clients', async () => {
    const nexus = await perAddress('per_ip = { limit = 2, interval = "60s" }');
    const outcomes = [];
    for (let i = 0; i < 5; i++) outcomes.push(...(await statuses(nexus, 1, { 'x-real-ip': `junk-${i}-${'x'.repeat(4000)}` })));
    expect(outcomes).toEqual([200, 200, 429, 429, 429]);
  });

  it('a client refused by the global limit keeps its own points for later', async () => {
    const nexus = await perAddress('per_ip = { limit = 2, interval = "60s" }\nglobal = { limit = 1, interval = "1s" }');
    expect(await statuses(nexus, 1, { 'x-real-ip': '203.0.113.1' })).toEqual([200]);
    expect(await statuses(nexus, 2, { 'x-real-ip': '203.0.113.2' })).toEqual([429, 429]);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await statuses(nexus, 1, { 'x-real-ip': '203.0.113.2' })).toEqual([200]);
  });

  it('opens a new window when the interval has passed', async () => {
    const nexus = await nexusWith('[server.rate_limits]\nglobal = { limit = 1, interval = "500ms" }');
    expect(await statuses(nexus, 2)).toEqual([200, 429]);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await statuses(nexus, 1)).toEqual([200]);
  });

  it('costs nothing when switched off: no limits, no headers', async () => {
    const nexus = await nexusWith('[server.rate_limits]\nenabled = false\nglobal = { limit = 1, interval = "60s" }');
    const responses = [await ping(nexus), await ping(nexus)];
    expect(responses.map((r) => r.status)).toEqual([200, 200]);
    expect(responses[1]?.headers.get('ratelimit-limit')).toBeNull();
  });
});

describe('execute limits', () => {
  const LIMITED = `
    [mcp.servers.fixture]
    cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
    rate_limits = { limit = 2, interval = "60s", tools = { add_numbers = { limit = 1, interval = "60s" }, no_such_tool = { limit = 1, interval = "1s" } } }
  `;

  it('gives a tool with its own entry its own limit, and lets the other tools share the server limit', async () => {
    const nexus = await nexusWith(LIMITED);
    const c = await client(nexus);
    expect(await execute(c, 'fixture__add_numbers')).toBe('ok');
    const refused = await execute(c, 'fixture__add_numbers');
    expect(refused).toBeInstanceOf(ProtocolError);
    expect((refused as ProtocolError).code).toBe(-32000);
    expect((refused as ProtocolError).message).toBe('Rate limit exceeded');
    expect((refused as ProtocolError).data).toMatchObject({
      server: 'fixture',
      tool: 'add_numbers',
      retry_after_seconds: expect.any(Number),
    });
    expect(await execute(c, 'fixture__fail_softly')).toBe('ok');
    expect(await execute(c, 'fixture__cancellations')).toBe('ok');
    expect(((await execute(c, 'fixture__fail_softly')) as ProtocolError).data).toMatchObject({ tool: 'fail_softly' });
  });

  it('warns about tools named in the limits that the server does not have', async () => {
    const logs = capturedLogger('warn');
    await nexusWith(LIMITED, logs.logger);
    expect(logs.text()).toContain('"tools":["no_such_tool"]');
    expect(logs.text()).toContain('rate_limits.tools names tools this server does not have');
  });
});

describe('limits shared through Redis', () => {
  const withRedis = (server: TestRedis, extra = '') => `
    [server.rate_limits]
    storage = { type = "redis", url = "${server.url}" ${extra} }
    global = { limit = 4, interval = "60s" }
    ${FIXTURE}
  `;

  it('holds a global limit across two instances', async () => {
    const server = await redis();
    const [a, b] = await Promise.all([nexusWith(withRedis(server)), nexusWith(withRedis(server))]);
    expect([...(await statuses(a, 2)), ...(await statuses(b, 2))]).toEqual([200, 200, 200, 200]);
    expect([(await ping(a)).status, (await ping(b)).status]).toEqual([429, 429]);
  });

  it('keeps counts apart under different key prefixes', async () => {
    const server = await redis();
    const a = await nexusWith(withRedis(server, ', key_prefix = "team-a:"'));
    const b = await nexusWith(withRedis(server, ', key_prefix = "team-b:"'));
    expect(await statuses(a, 5)).toEqual([200, 200, 200, 200, 429]);
    expect(await statuses(b, 4)).toEqual([200, 200, 200, 200]);
    const keys = await redisKeys(server, '*');
    expect(keys.some((key) => key.startsWith('team-a:'))).toBe(true);
    expect(keys.some((key) => key.startsWith('team-b:'))).toBe(true);
  });

  it('works with a password, and names the key when it cannot reach Redis at start', async () => {
    const server = await redis({ password: 's3cret-pass' });
    const nexus = await nexusWith(withRedis(server));
    expect(await statuses(nexus, 1)).toEqual([200]);
    const wrong = server.url.replace('s3cret-pass', 'wrong-pass');
    const error = await nexusWith(withRedis({ ...server, url: wrong })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StartupError);
    expect((error as StartupError).source).toBe('server.rate_limits.storage.url');
    expect((error as StartupError).message).not.toContain('wrong-pass');
  });

  it('talks to Redis over TLS: a private CA, insecure, and mutual TLS', async () => {
    const certs = makeCerts();
    const serverTls = { cert: certs.server.cert, key: certs.server.key, ca: certs.ca.cert };
    const plain = await redis({ tls: { ...serverTls, requireClientCert: false } });
    expect(plain.url).toMatch(/^rediss:/);
    const trusted = await nexusWith(withRedis(plain, `, tls = { enabled = true, ca_cert_path = "${certs.ca.cert}" }`));
    expect(await statuses(trusted, 1)).toEqual([200]);
    const insecure = await nexusWith(withRedis(plain, ', tls = { enabled = true, insecure = true }'));
    expect(await statuses(insecure, 1)).toEqual([200]);
    expect(await nexusWith(withRedis(plain)).catch((e: unknown) => e)).toBeInstanceOf(StartupError);

    const mutual = await redis({ tls: { ...serverTls, requireClientCert: true } });
    const clientCert = `client_cert_path = "${certs.client.cert}", client_key_path = "${certs.client.key}"`;
    const withCert = await nexusWith(withRedis(mutual, `, tls = { enabled = true, ca_cert_path = "${certs.ca.cert}", ${clientCert} }`));
    expect(await statuses(withCert, 1)).toEqual([200]);
    const withoutCert = withRedis(mutual, `, tls = { enabled = true, ca_cert_path = "${certs.ca.cert}" }`);
    expect(await nexusWith(withoutCert).catch((e: unknown) => e)).toBeInstanceOf(StartupError);
  });

  it('refuses to start when Redis is unreachable', async () => {
    const server = await redis();
    await server.kill();
    const error = await nexusWith(withRedis(server)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StartupError);
    expect((error as StartupError).message).toMatch(/^cannot reach Redis/);
  });

  it('falls back to memory limits when Redis dies, logs it once, and uses Redis again when it is back', async () => {
    const server = await redis();
    const logs = capturedLogger('info');
    const nexus = await nexusWith(withRedis(server, ', response_timeout = "500ms"'), logs.logger);
    expect(await statuses(nexus, 1)).toEqual([200]);
    await server.kill();
    // Still answering, now limited per instance in memory (a fresh window of 4).
    expect(await statuses(nexus, 5)).toEqual([200, 200, 200, 200, 429]);
    expect(logs.text().match(/Redis unavailable/g)?.length).toBe(1);
    await server.restart();
    await expect.poll(() => logs.text().includes('Redis is back'), { timeout: 10_000 }).toBe(true);
    expect(await statuses(nexus, 1)).toEqual([200]);
    const keys = await redisKeys(server, 'nexus:rate_limit:*');
    expect(keys.length).toBeGreaterThan(0);
  });
});
