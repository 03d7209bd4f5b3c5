/**
 * OAuth2 resource server against a real JWKS served over HTTP: every rejection case, issuer and
 * audience, key rotation, JWKS down and back, metadata, and routes that stay public.
 */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { base64url, SignJWT } from 'jose';
import { parse } from 'smol-toml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { startNexus, type RunningNexus } from '../src/server.js';
import { AUDIENCE, ISSUER, JwksServer, signingKey, token, type SigningKey } from './helpers/jwks.js';
import { FIXTURE_SERVER } from './helpers/processes.js';

const jwks = new JwksServer();
let rsa: SigningKey;
let ec: SigningKey;
const running: RunningNexus[] = [];

beforeAll(async () => {
  [rsa, ec] = await Promise.all([signingKey('rsa-1'), signingKey('ec-1', 'ES256')]);
  jwks.keys = [rsa, ec];
  await jwks.start();
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((nexus) => nexus.close()));
  if (!jwks.keys.includes(rsa)) jwks.keys = [rsa, ec];
});
afterAll(() => jwks.stop());

async function nexusWithOAuth(extra = '', options: { jwksRefetchCooldownMs?: number } = {}): Promise<RunningNexus> {
  const toml = `
    [server.oauth]
    url = "${jwks.url}"
    expected_issuer = "${ISSUER}"
    expected_audience = "${AUDIENCE}"
    ${extra}
    [server.oauth.protected_resource]
    resource = "https://nexus.example.test"
    authorization_servers = ["${ISSUER}"]
    [mcp.servers.fixture]
    cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
  `;
  const nexus = await startNexus(parseConfig(parse(toml), 'test.toml'), {
    logger: silentLogger,
    listenAddress: { host: '127.0.0.1', port: 0 },
    jwksRefetchCooldownMs: options.jwksRefetchCooldownMs ?? 0,
  });
  running.push(nexus);
  await nexus.ready;
  return nexus;
}

const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
});

function post(nexus: RunningNexus, authorization?: string) {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  if (authorization !== undefined) headers['authorization'] = authorization;
  return fetch(`${nexus.url}/mcp`, { method: 'POST', headers, body: INITIALIZE });
}

async function expectRejected(response: Response, description: string): Promise<void> {
  expect(response.status).toBe(401);
  expect(response.headers.get('www-authenticate')).toBe(
    'Bearer resource_metadata="https://nexus.example.test/.well-known/oauth-protected-resource"',
  );
  expect(await response.json()).toEqual({ error: 'invalid_token', error_description: description });
}

describe('valid tokens', () => {
  it('lets a signed, current token with the right issuer and audience through (RSA and EC)', async () => {
    const nexus = await nexusWithOAuth();
    expect((await post(nexus, `Bearer ${await token(rsa)}`)).status).toBe(200);
    expect((await post(nexus, `Bearer ${await token(ec)}`)).status).toBe(200);
  });

  it('accepts an audience list that contains the expected audience', async () => {
    const nexus = await nexusWithOAuth();
    expect((await post(nexus, `Bearer ${await token(rsa, { aud: ['other', AUDIENCE] })}`)).status).toBe(200);
  });

  it('serves an SDK client that sends the token', async () => {
    const nexus = await nexusWithOAuth();
    const client = new Client({ name: 't', version: '1' });
    const headers = { authorization: `Bearer ${await token(rsa)}` };
    await client.connect(new StreamableHTTPClientTransport(new URL(`${nexus.url}/mcp`), { requestInit: { headers } }));
    const result = await client.callTool({ name: 'execute', arguments: { name: 'fixture__add_numbers', arguments: { a: 1, b: 2 } } });
    expect(result.content).toEqual([{ type: 'text', text: '3' }]);
    await client.close();
  });
});

describe('rejected requests', () => {
  it('without a token, or with a malformed Authorization header', async () => {
    const nexus = await nexusWithOAuth();
    const good = await token(rsa);
    await expectRejected(await post(nexus), 'missing bearer token');
    for (const header of [good, `Basic ${good}`, 'Bearer', 'Bearer ', `Bearer  ${good}`, `Bearer ${good} extra`]) {
      await expectRejected(await post(nexus, header), 'malformed Authorization header');
    }
  });

  it('expired, without expiry, not yet valid, wrong issuer, wrong audience', async () => {
    const nexus = await nexusWithOAuth();
    const now = Math.floor(Date.now() / 1000);
    const forever = await new SignJWT({ sub: 'user-1', iss: ISSUER, aud: AUDIENCE })
      .setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' })
      .sign(rsa.privateKey);
    await expectRejected(await post(nexus, `Bearer ${forever}`), 'token has no expiry');
    await expectRejected(await post(nexus, `Bearer ${await token(rsa, { exp: now - 10 })}`), 'token expired');
    await expectRejected(await post(nexus, `Bearer ${await token(rsa, { nbf: now + 600 })}`), 'token not valid yet');
    await expectRejected(await post(nexus, `Bearer ${await token(rsa, { iss: 'https://evil.test' })}`), 'unexpected token issuer');
    await expectRejected(await post(nexus, `Bearer ${await token(rsa, { aud: 'someone-else' })}`), 'unexpected token audience');
  });

  it('alg none, HMAC signed with the public key, a tampered signature, an unknown kid', async () => {
    const nexus = await nexusWithOAuth();
    const payload = { sub: 'user-1', iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 300 };
    const none = `${base64url.encode(JSON.stringify({ alg: 'none', kid: 'rsa-1' }))}.${base64url.encode(JSON.stringify(payload))}.`;
    await expectRejected(await post(nexus, `Bearer ${none}`), 'token algorithm not allowed');
    const publicKeyBytes = new TextEncoder().encode(JSON.stringify(rsa.publicJwk));
    const hmac = await new SignJWT(payload).setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' }).sign(publicKeyBytes);
    await expectRejected(
      await post(nexus, `Bearer ${hmac}`),
      'token algorithm not allowed: HS256 is HMAC, whose key anyone reading the JWKS could sign with',
    );
    const good = await token(rsa);
    const tampered = `${good.slice(0, -4)}${good.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
    await expectRejected(await post(nexus, `Bearer ${tampered}`), 'invalid token signature');
    const stranger = await signingKey('not-in-jwks');
    await expectRejected(await post(nexus, `Bearer ${await token(stranger)}`), 'no key in the JWKS matches the token');
  });
});

describe('the JWKS', () => {
  it('picks up a rotated key when a token names a new kid', async () => {
    const nexus = await nexusWithOAuth();
    expect((await post(nexus, `Bearer ${await token(rsa)}`)).status).toBe(200);
    const rotated = await signingKey('rsa-2');
    jwks.keys = [rotated];
    expect((await post(nexus, `Bearer ${await token(rotated)}`)).status).toBe(200);
  });

  it('re-fetches for unknown key ids at most once per cooldown', async () => {
    const nexus = await nexusWithOAuth('', { jwksRefetchCooldownMs: 60_000 });
    expect((await post(nexus, `Bearer ${await token(rsa)}`)).status).toBe(200);
    const before = jwks.fetches;
    const strangers = await Promise.all(Array.from({ length: 5 }, (_, i) => signingKey(`made-up-${i}`)));
    for (const stranger of strangers) expect((await post(nexus, `Bearer ${await token(stranger)}`)).status).toBe(401);
    expect(jwks.fetches - before).toBeLessThanOrEqual(1);
  });

  it('refreshes every poll_interval, so a removed key stops working', async () => {
    const nexus = await nexusWithOAuth('poll_interval = "100ms"');
    expect((await post(nexus, `Bearer ${await token(ec)}`)).status).toBe(200);
    jwks.keys = [rsa];
    await expect.poll(async () => (await post(nexus, `Bearer ${await token(ec)}`)).status, { timeout: 5_000 }).toBe(401);
  });

  it('answers 503 JSON while the JWKS cannot be fetched, and recovers when it is back', async () => {
    const nexus = await nexusWithOAuth();
    await jwks.stop();
    try {
      const response = await post(nexus, `Bearer ${await token(rsa)}`);
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({
        error: 'temporarily_unavailable',
        error_description: 'cannot fetch the JWKS to validate tokens',
      });
    } finally {
      await jwks.start();
    }
    expect((await post(nexus, `Bearer ${await token(rsa)}`)).status).toBe(200);
  });

  it('does not fetch the JWKS for every request while it has no keys', async () => {
    const nexus = await nexusWithOAuth('', { jwksRefetchCooldownMs: 60_000 });
    jwks.failing = true;
    const before = jwks.fetches;
    try {
      const statuses = [];
      for (let i = 0; i < 10; i++) statuses.push((await post(nexus, `Bearer ${await token(rsa)}`)).status);
      expect(statuses).toEqual(Array.from({ length: 10 }, () => 503));
    } finally {
      jwks.failing = false;
    }
    expect(jwks.fetches - before).toBe(1);
  });

  it('keeps validating with the keys it has while the JWKS is down', async () => {
    const nexus = await nexusWithOAuth('poll_interval = "100ms"');
    expect((await post(nexus, `Bearer ${await token(rsa)}`)).status).toBe(200);
    await jwks.stop();
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await post(nexus, `Bearer ${await token(rsa)}`)).status).toBe(200);
    } finally {
      await jwks.start();
    }
  });
});

describe('cancellation', () => {
  it("lets a caller cancel only their own calls, even knowing another caller's session id", async () => {
    const nexus = await nexusWithOAuth();
    const [alice, eve] = await Promise.all([token(rsa, { sub: 'alice' }), token(rsa, { sub: 'eve' })]);
    const rpc = (bearer: string, body: unknown, session?: string) =>
      fetch(`${nexus.url}/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${bearer}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2025-06-18',
          ...(session ? { 'mcp-session-id': session } : {}),
        },
        body: JSON.stringify(body),
      });
    const call = (id: number, name: string, args = {}) => ({
      jsonrpc: '2.0',
      id,
      method: 'tools/call',
      params: { name: 'execute', arguments: { name, arguments: args } },
    });
    const cancel = (requestId: number) => ({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId } });
    const cancellations = async () => {
      const text = await (await rpc(alice, call(99, 'fixture__cancellations'))).text();
      return Number(/"text":"(\d+)"/.exec(text)?.[1]);
    };
    const session = (await post(nexus, `Bearer ${alice}`)).headers.get('mcp-session-id') ?? '';
    const before = await cancellations();
    const running = rpc(alice, call(5, 'fixture__wait_for_cancel', { ms: 4_000 }), session).then((r) => r.text());
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await rpc(eve, cancel(5), session)).status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await cancellations()).toBe(before);
    expect((await rpc(alice, cancel(5), session)).status).toBe(202);
    await expect.poll(cancellations).toBe(before + 1);
    await running;
  });
});

describe('public routes', () => {
  it('serves health and the protected-resource metadata without a token', async () => {
    const nexus = await nexusWithOAuth();
    expect((await fetch(`${nexus.url}/health`)).status).toBe(200);
    for (const path of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']) {
      const response = await fetch(`${nexus.url}${path}`);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ resource: 'https://nexus.example.test', authorization_servers: [ISSUER] });
    }
  });

  it('answers CORS preflights before auth', async () => {
    const nexus = await nexusWithOAuth();
    const response = await fetch(`${nexus.url}/mcp`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' },
    });
    expect(response.status).toBe(204);
  });
});
