/** CORS (permissive by default, exact and glob origins, credentials, private network) and CSRF. */
import { afterEach, describe, expect, it } from 'vitest';
import { allowedOrigins, originMatcher } from '../src/http/cors.js';
import type { RunningNexus } from '../src/server.js';
import { startTestNexus } from './helpers/nexus.js';

const running: RunningNexus[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((nexus) => nexus.close()));
});

async function nexusWith(toml: string): Promise<RunningNexus> {
  const nexus = await startTestNexus(toml);
  running.push(nexus);
  return nexus;
}

const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'browser', version: '1' } },
});

function preflight(nexus: RunningNexus, origin: string, extra: Record<string, string> = {}) {
  return fetch(`${nexus.url}/mcp`, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type, mcp-protocol-version',
      ...extra,
    },
  });
}

function post(nexus: RunningNexus, headers: Record<string, string> = {}) {
  return fetch(`${nexus.url}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: INITIALIZE,
  });
}

describe('CORS without a [server.cors] table', () => {
  it('is permissive for local pages: the requested method and headers', async () => {
    const nexus = await nexusWith('');
    const response = await preflight(nexus, 'http://localhost:6274');
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(response.headers.get('access-control-allow-methods')).toBe('POST');
    expect(response.headers.get('access-control-allow-headers')).toBe('content-type, mcp-protocol-version');
    const actual = await post(nexus, { origin: 'http://127.0.0.1:3000' });
    expect(actual.status).toBe(200);
    expect(actual.headers.get('access-control-allow-origin')).toBe('*');
    expect(actual.headers.get('access-control-expose-headers')).toContain('mcp-session-id');
  });

  it('refuses pages of other sites on a loopback listener, at the preflight and at the request', async () => {
    const nexus = await nexusWith('');
    expect((await preflight(nexus, 'https://evil.example')).headers.get('access-control-allow-origin')).toBeNull();
    const response = await post(nexus, { origin: 'https://evil.example' });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: 'forbidden_origin' });
    expect((await post(nexus)).status).toBe(200); // no Origin: not a browser page
  });

  it('allows any origin on other listeners', () => {
    expect(allowedOrigins(undefined, false)('https://anything.example')).toBe(true);
    expect(allowedOrigins(undefined, true)('https://anything.example')).toBe(false);
    expect(allowedOrigins(undefined, true)('http://[::1]:8000')).toBe(true);
  });
});

describe('CORS with a [server.cors] table', () => {
  const TABLE = `
    [server.cors]
    allow_origins = ["https://app.example.com", "https://*.tools.example.com"]
    max_age = "10m"
  `;

  it('answers an allowed origin with its own name and the MCP defaults', async () => {
    const nexus = await nexusWith(TABLE);
    const response = await preflight(nexus, 'https://app.example.com');
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(response.headers.get('vary')).toContain('Origin');
    expect(response.headers.get('access-control-allow-methods')).toBe('GET, POST, DELETE, OPTIONS');
    expect(response.headers.get('access-control-allow-headers')).toContain('mcp-protocol-version');
    expect(response.headers.get('access-control-max-age')).toBe('600');
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('matches glob origins, and nothing else', async () => {
    const nexus = await nexusWith(TABLE);
    const allow = async (origin: string) => (await preflight(nexus, origin)).headers.get('access-control-allow-origin');
    expect(await allow('https://a.tools.example.com')).toBe('https://a.tools.example.com');
    expect(await allow('https://a.b.tools.example.com')).toBe('https://a.b.tools.example.com');
    expect(await allow('https://tools.example.com.evil.org')).toBeNull();
    expect(await allow('https://evil.org')).toBeNull();
    expect(await allow('http://app.example.com')).toBeNull();
  });

  it('refuses a request from an origin it does not allow, without CORS headers', async () => {
    const nexus = await nexusWith(TABLE);
    const response = await post(nexus, { origin: 'https://evil.org' });
    expect(response.status).toBe(403);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('treats only * and ? as glob characters', () => {
    const allowed = originMatcher(['http://[::1]:8080', 'https://app?.example.com']);
    expect(allowed('http://[::1]:8080')).toBe(true);
    expect(allowed('http://1:8080')).toBe(false);
    expect(allowed('https://app2.example.com')).toBe(true);
    expect(allowed('https://app2xexample.com')).toBe(false);
  });

  it('matches origins without regard to case, as schemes and hosts are', () => {
    const allowed = originMatcher(['HTTPS://App.Example.com', 'https://*.Tools.example.com']);
    expect(allowed('https://app.example.com')).toBe(true);
    expect(allowed('https://a.tools.example.com')).toBe(true);
  });

  it('honours methods, headers, expose headers, credentials and private network', async () => {
    const nexus = await nexusWith(`
      [server.cors]
      allow_origins = ["https://app.example.com"]
      allow_methods = ["POST"]
      allow_headers = ["content-type", "x-custom"]
      expose_headers = ["x-trace"]
      allow_credentials = true
      allow_private_network = true
    `);
    const response = await preflight(nexus, 'https://app.example.com', { 'access-control-request-private-network': 'true' });
    expect(response.headers.get('access-control-allow-methods')).toBe('POST');
    expect(response.headers.get('access-control-allow-headers')).toBe('content-type, x-custom');
    expect(response.headers.get('access-control-allow-credentials')).toBe('true');
    expect(response.headers.get('access-control-allow-private-network')).toBe('true');
    const actual = await post(nexus, { origin: 'https://app.example.com' });
    expect(actual.headers.get('access-control-expose-headers')).toBe('x-trace');
    expect(actual.headers.get('access-control-allow-credentials')).toBe('true');
  });

  it('does not allow private network access unless configured', async () => {
    const nexus = await nexusWith(TABLE);
    const response = await preflight(nexus, 'https://app.example.com', { 'access-control-request-private-network': 'true' });
    expect(response.headers.get('access-control-allow-private-network')).toBeNull();
  });

  it('refuses a table that combines credentials with a wildcard', async () => {
    await expect(nexusWith('[server.cors]\nallow_origins = "*"\nallow_credentials = true')).rejects.toThrow(
      'server.cors.allow_origins: "*" cannot be combined with allow_credentials = true',
    );
  });
});

describe('CSRF', () => {
  it('requires the header on MCP requests when enabled', async () => {
    const nexus = await nexusWith('[server.csrf]\nenabled = true');
    const refused = await post(nexus);
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: 'csrf_header_missing' });
    expect((await post(nexus, { 'x-nexus-csrf-protection': '1' })).status).toBe(200);
  });

  it('lets preflights and health checks through, and honours a custom header name', async () => {
    const nexus = await nexusWith('[server.csrf]\nenabled = true\nheader_name = "X-Requested-By"');
    expect((await preflight(nexus, 'https://app.example.com')).status).toBe(204);
    expect((await fetch(`${nexus.url}/health`)).status).toBe(200);
    expect((await post(nexus, { 'x-nexus-csrf-protection': '1' })).status).toBe(403);
    expect((await post(nexus, { 'x-requested-by': 'app' })).status).toBe(200);
  });

  it('is off by default', async () => {
    const nexus = await nexusWith('');
    expect((await post(nexus)).status).toBe(200);
  });
});
