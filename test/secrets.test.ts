/**
 * No secret reaches a log line or an error message: callers' bearer tokens (valid and refused)
 * and downstream `auth.token` values, with logging at trace level.
 */
import type { Client, ProtocolError } from '@modelcontextprotocol/client';
import { parse } from 'smol-toml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { startNexus } from '../src/server.js';
import { AUDIENCE, ISSUER, JwksServer, signingKey, token } from './helpers/jwks.js';
import { capturedLogger } from './helpers/logs.js';
import { connectClient, startTestNexus } from './helpers/nexus.js';
import { FIXTURE_SERVER, freePort, ROOT, startFixtureHttp, startOnOwnPort, type Spawned } from './helpers/processes.js';

const jwks = new JwksServer();
let fixture: Spawned & { url: string };
beforeAll(async () => {
  jwks.keys = [await signingKey('k1')];
  await jwks.start();
  fixture = await startFixtureHttp();
});
afterAll(async () => {
  await jwks.stop();
  await fixture.kill();
});

it('keeps tokens and downstream credentials out of logs and error messages', async () => {
  const captured = capturedLogger('trace');
  const DOWNSTREAM_SECRET = 'downstream-secret-7f3a9c';
  const WORKING_SECRET = 'working-secret-1b2c3d';
  const QUERY_SECRET = 'query-key-9e8d7c';
  const deadPort = await freePort();
  const config = parseConfig(
    parse(`
      ${oauth()}
      [mcp.servers.unreachable]
      url = "http://127.0.0.1:${deadPort}/mcp?api_key=${QUERY_SECRET}"
      auth.token = "${DOWNSTREAM_SECRET}"
      [mcp.servers.fixture]
      url = "${fixture.url}"
      auth.token = "${WORKING_SECRET}"
    `),
    'test.toml',
  );
  const nexus = await startNexus(config, {
    logger: captured.logger,
    listenAddress: { host: '127.0.0.1', port: 0 },
  });
  await nexus.ready;
  const key = jwks.keys[0] as Awaited<ReturnType<typeof signingKey>>;
  const valid = await token(key);
  const expired = await token(key, { exp: Math.floor(Date.now() / 1000) - 60 });
  const wrongAudience = await token(key, { aud: 'elsewhere' });
  const bodies: string[] = [];
  const call = async (authorization: string, body: unknown) => {
    const response = await fetch(`${nexus.url}/mcp`, {
      method: 'POST',
      headers: {
        authorization,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-06-18',
      },
      body: JSON.stringify(body),
    });
    bodies.push(await response.text());
  };
  const execute = (name: string) => ({
    jsonrpc: '2.0',
    id: 2,
    method: 'tools/call',
    params: { name: 'execute', arguments: { name, arguments: {} } },
  });
  try {
    await call(`Bearer ${valid}`, execute('fixture__show_headers'));
    await call(`Bearer ${valid}`, execute('unreachable__anything'));
    await call(`Bearer ${expired}`, execute('fixture__show_headers'));
    await call(`Bearer ${wrongAudience}`, execute('fixture__show_headers'));
    await call(`Bearer ${valid}x`, execute('fixture__show_headers'));
  } finally {
    await nexus.close();
  }
  expect(nexus.registry.get('unreachable')?.state.status).toBe('closed');
  const logs = captured.text();
  expect(logs).toContain('downstream failed; will retry'); // the logs did capture the failures
  expect(logs).toMatch(/"ip":"127\.0\.0\.1","reason":"token expired","msg":"request refused"/);
  // The working downstream did receive its token, and the caller sees it redacted where the server echoed it.
  expect(bodies[0]).toContain('Bearer [redacted]');
  const leaks = [valid, expired, wrongAudience, DOWNSTREAM_SECRET, WORKING_SECRET, QUERY_SECRET];
  for (const secret of leaks) expect(logs, 'logs').not.toContain(secret);
  for (const body of bodies) for (const secret of [DOWNSTREAM_SECRET, WORKING_SECRET, QUERY_SECRET]) expect(body).not.toContain(secret);
  for (const body of bodies.slice(1)) for (const secret of leaks) expect(body).not.toContain(secret);
});

const oauth = () => `
  [server.oauth]
  url = "${jwks.url}"
  expected_issuer = "${ISSUER}"
  expected_audience = "${AUDIENCE}"
`;

/**
 * Runs `use` with nexus logging everything into `captured`, the odd server (test/fixtures/odd-http-server.mjs)
 * configured as `odd` with `oddKeys` beside the rest of `toml`, and a client sending `headers`.
 */
async function withOddServer(
  oddKeys: string,
  toml: string,
  headers: Record<string, string>,
  use: (client: Client, logs: () => string) => Promise<void>,
): Promise<void> {
  const captured = capturedLogger('trace');
  const odd = await startOnOwnPort(`${ROOT}test/fixtures/odd-http-server.mjs`);
  const odds = `[mcp.servers.odd]\nurl = "http://127.0.0.1:${odd.port}/mcp"\nprotocol = "streamable-http"\n${oddKeys}`;
  const nexus = await startTestNexus(`${toml}\n${odds}`, captured.logger).catch(async (error: unknown) => {
    await odd.kill();
    throw error;
  });
  let client: Client | undefined;
  try {
    client = await connectClient(nexus, '/mcp', headers);
    await use(client, captured.text);
  } finally {
    await client?.close();
    await nexus.close();
    await odd.kill();
  }
}

it('redacts configured secrets that servers echo back, in results, errors, lists and logs', async () => {
  // Starting with "n": after a line feed, JSON writes the rest of it as "\\n…".
  const TOKEN = 'nodd-server-token-5e6f7a';
  const HEADER_KEY = 'header-api-key-0a1b2c';
  const ENV_SECRET = 'stdio-env-secret-3d4e5f';
  const local = `
    [mcp.servers.local]
    cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
    env = { SERVICE_API_TOKEN = "${ENV_SECRET}", SERVICE_REGION = "eu-central-region" }
  `;
  const odd = `auth.token = "${TOKEN}"\nheaders = { X-Api-Key = "${HEADER_KEY}", X-Team = "platform-team-name" }`;
  await withOddServer(odd, local, {}, async (client, logs) => {
    const run = (name: string, args: Record<string, unknown> = {}) =>
      client.callTool({ name: 'execute', arguments: { name, arguments: args } }).then(
        (result) => JSON.stringify(result),
        (error: ProtocolError) => JSON.stringify({ message: error.message, data: error.data }),
      );
    const rejected = await run('odd__echo_auth_error');
    expect(rejected).toContain('rejected Bearer [redacted]');
    expect(rejected).toContain('"x-api-key":"[redacted]"');
    expect(rejected).toContain('platform-team-name'); // only credentials are secrets
    const unauthorized = await run('odd__echo_auth_401');
    expect(unauthorized).toContain('the credentials Bearer [redacted] are not valid here');
    expect(await run('odd__echo_auth_escaped')).toContain(`escaped\\n${TOKEN.slice(1)} then [redacted]`);
    const progress: string[] = [];
    const onprogress = ({ message }: { message?: string }) => void progress.push(message ?? '');
    await client.callTool({ name: 'execute', arguments: { name: 'odd__echo_auth_progress', arguments: {} } }, { onprogress });
    expect(progress).toEqual(['as Bearer [redacted]']);
    const variable = await run('local__show_env', { name: 'SERVICE_API_TOKEN' });
    expect(variable).toContain('[redacted]');
    expect(await run('local__show_env', { name: 'SERVICE_REGION' })).toContain('eu-central-region');
    // A tool whose definition holds a secret is listed with it redacted.
    await run('local__add_tool', { name: `leaky_${ENV_SECRET}` });
    const search = async () => JSON.stringify(await client.callTool({ name: 'search', arguments: { keywords: ['leaky'] } }));
    await expect.poll(search).toContain('leaky_[redacted]');
    for (const text of [rejected, unauthorized, variable, await search(), logs()]) {
      for (const secret of [TOKEN, HEADER_KEY, ENV_SECRET]) expect(text).not.toContain(secret);
    }
    expect(logs()).toContain('downstream request failed'); // the failures were logged
  });
});

it("keeps a caller's token out of the logs when a forward server echoes it", async () => {
  const caller = await token(jwks.keys[0] as Awaited<ReturnType<typeof signingKey>>, { sub: 'echoed' });
  await withOddServer('auth = { type = "forward" }', oauth(), { authorization: `Bearer ${caller}` }, async (client, logs) => {
    const failed = await client
      .callTool({ name: 'execute', arguments: { name: 'odd__echo_auth_401', arguments: {} } })
      .catch((error: ProtocolError) => error.message);
    // Error texts are logged: the caller's token is redacted there too (before the text is clipped).
    expect(failed).toContain('the credentials Bearer [redacted] are not valid here');
    expect(logs()).toContain('downstream request failed');
    expect(logs()).not.toContain(caller.slice(0, 20));
  });
});
