/**
 * No secret reaches a log line or an error message: callers' bearer tokens (valid and refused)
 * and downstream `auth.token` values, with logging at trace level.
 */
import { parse } from 'smol-toml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { startNexus } from '../src/server.js';
import { AUDIENCE, ISSUER, JwksServer, signingKey, token } from './helpers/jwks.js';
import { capturedLogger } from './helpers/logs.js';
import { freePort, startFixtureHttp, type Spawned } from './helpers/processes.js';

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
      [server.oauth]
      url = "${jwks.url}"
      expected_issuer = "${ISSUER}"
      expected_audience = "${AUDIENCE}"
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
  // The working downstream did receive its token (so the scan below is meaningful).
  expect(bodies[0]).toContain(WORKING_SECRET);
  const leaks = [valid, expired, wrongAudience, DOWNSTREAM_SECRET, WORKING_SECRET, QUERY_SECRET];
  for (const secret of leaks) expect(logs, 'logs').not.toContain(secret);
  for (const body of bodies.slice(1)) for (const secret of leaks) expect(body).not.toContain(secret);
});
