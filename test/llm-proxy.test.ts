/**
 * `[llm.proxy.anthropic]`, the original's plain pass-through for clients with their own Anthropic
 * credential (Claude Code pointed at it with ANTHROPIC_BASE_URL): the official client against an
 * Anthropic fixture through nexus, bytes compared both ways, with and without nexus's OAuth.
 */
import { readFileSync } from 'node:fs';
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOutcome, nexusWith, startVendorFixture, type VendorFixture } from './helpers/llm.js';
import { AUDIENCE, ISSUER, JwksServer, signingKey, token, type SigningKey } from './helpers/jwks.js';
import { ROOT } from './helpers/processes.js';
import type { RunningNexus } from '../src/server.js';

let fixture: VendorFixture;
const opened: RunningNexus[] = [];
const jwks = new JwksServer();
let key: SigningKey;

beforeAll(async () => {
  fixture = await startVendorFixture('anthropic');
  key = await signingKey('proxy-1');
  jwks.keys = [key];
  await jwks.start();
});
afterAll(async () => {
  await Promise.all(opened.map((nexus) => nexus.close()));
  await fixture?.kill();
  await jwks.stop();
});

const upstream = () => new URL(fixture.url).origin;

/** nexus's OAuth, against the test's JWKS. */
const oauthToml = () => `
[server.oauth]
url = "${jwks.url}"
expected_issuer = "${ISSUER}"
expected_audience = "${AUDIENCE}"
`;

async function proxyNexus(extra = ''): Promise<RunningNexus> {
  const nexus = await nexusWith(`
[llm.proxy.anthropic]
enabled = true
base_url = "${upstream()}"
${extra}
`);
  opened.push(nexus);
  return nexus;
}

describe('[llm.proxy.anthropic] config', () => {
  it("loads the original's form alone (it is something to serve), and refuses a path another route has", () => {
    expect(loadOutcome('[llm.proxy.anthropic]\nenabled = true')).toBe('loaded');
    expect(loadOutcome('[llm.proxy.anthropic]\nenabled = true\npath = "/llm"')).toMatch(
      /llm\.proxy\.anthropic\.path: overlaps llm\.protocols\.openai\.path \("\/llm\/openai"\)/,
    );
    expect(loadOutcome('[llm.proxy.anthropic]\nenabled = false')).toMatch(/nothing to serve/);
  });
});

describe('the Anthropic proxy', () => {
  it('passes a request on byte for byte, query and client credential included, and the answer back as it came', async () => {
    const nexus = await proxyNexus();
    const body = '{ "model": "replay-anthropic-thinking", "max_tokens": 5, "messages": [], "x_future": 1.0 }';
    const response = await fetch(`${nexus.url}/proxy/anthropic/v1/messages?beta=true`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-api-key': 'sk-ant-the-clients-own',
        'anthropic-version': '2023-06-01',
        'anthropic-beta': 'context-1m-2025-08-07',
        'x-provider-api-key': 'not-for-anthropic',
      },
      body,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('request-id')).toBe('req_anthropic-thinking');
    expect(await response.text()).toBe(readFileSync(`${ROOT}test/fixtures/replay/anthropic-thinking.json`, 'utf8'));
    const received = await fixture.last();
    expect(received.url).toBe('/v1/messages?beta=true');
    expect(received.raw).toBe(body);
    expect(received.headers).toMatchObject({
      'x-api-key': 'sk-ant-the-clients-own',
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'context-1m-2025-08-07',
    });
    expect(received.headers['x-provider-api-key']).toBeUndefined();
  });

  it('serves the official client: streams, counts tokens and lists models through it', async () => {
    const nexus = await proxyNexus();
    const client = new Anthropic({ baseURL: `${nexus.url}/proxy/anthropic`, apiKey: 'sk-ant-the-clients-own', maxRetries: 0 });
    const message = await client.messages
      .stream({ model: 'claude-fixture', max_tokens: 10, messages: [{ role: 'user', content: 'hi there' }] })
      .finalMessage();
    expect(message.content).toMatchObject([{ type: 'text', text: 'echo: hi there' }]);
    expect(message.model).toBe('claude-fixture');
    const counted = await client.messages.countTokens({ model: 'claude-fixture', messages: [{ role: 'user', content: 'a b' }] });
    expect(counted.input_tokens).toBeGreaterThan(100);
    expect((await fixture.last()).url).toBe('/v1/messages/count_tokens');
    const models = await client.models.list();
    expect(models.data.map((model) => model.id)).toEqual(['claude-fixture', 'claude-other']);
  });

  it('takes nexus’s token in Proxy-Authorization and keeps it, so Authorization can be the client’s for Anthropic', async () => {
    const nexus = await proxyNexus(oauthToml());
    const nexusToken = await token(key);
    const send = (headers: Record<string, string>) =>
      fetch(`${nexus.url}/proxy/anthropic/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: '{"model":"claude-fixture","max_tokens":5,"messages":[{"role":"user","content":"x"}]}',
      });
    expect((await send({ authorization: 'Bearer the-clients-anthropic-oauth' })).status).toBe(401);
    const through = await send({ 'proxy-authorization': `Bearer ${nexusToken}`, authorization: 'Bearer the-clients-anthropic-oauth' });
    expect(through.status).toBe(200);
    let received = await fixture.last();
    expect(received.headers['authorization']).toBe('Bearer the-clients-anthropic-oauth');
    expect(received.headers['proxy-authorization']).toBeUndefined();
    // nexus's token alone, in Authorization: accepted, and not sent on.
    expect((await send({ authorization: `Bearer ${nexusToken}`, 'x-api-key': 'sk-ant-own' })).status).toBe(200);
    received = await fixture.last();
    expect(received.headers['authorization']).toBeUndefined();
    expect(received.headers['x-api-key']).toBe('sk-ant-own');
  });

  it('sends nothing anywhere but under base_url, and a nexus token in no header on', async () => {
    const nexus = await proxyNexus(oauthToml());
    const nexusToken = await token(key);
    const before = (await fixture.requests()).length;
    // An encoded prefix is no prefix: it would have cut into the upstream's host.
    for (const path of ['/prox%79/anthropic/v1/messages', '/proxy/anthrop%69c/v1/messages']) {
      const response = await fetch(`${nexus.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${nexusToken}` },
        body: '{}',
      });
      expect(response.status).toBe(404);
    }
    expect((await fixture.requests()).length).toBe(before);
    // An empty Proxy-Authorization: the token came in Authorization, and stays here.
    const response = await fetch(`${nexus.url}/proxy/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'proxy-authorization': '', authorization: `Bearer ${nexusToken}` },
      body: '{"model":"claude-fixture","max_tokens":5,"messages":[{"role":"user","content":"x"}]}',
    });
    expect(response.status).toBe(200);
    expect((await fixture.last()).headers['authorization']).toBeUndefined();
  });

  it('answers a clear error when the upstream cannot be reached', async () => {
    const nexus = await nexusWith('[llm.proxy.anthropic]\nenabled = true\nbase_url = "http://127.0.0.1:9"');
    opened.push(nexus);
    const response = await fetch(`${nexus.url}/proxy/anthropic/v1/messages`, { method: 'POST', body: '{}' });
    expect(response.status).toBe(502);
    expect(await response.json()).toEqual({ type: 'error', error: { type: 'api_error', message: 'could not reach http://127.0.0.1:9' } });
  });
});
