/**
 * The gateway end to end: real server-everything over stdio, SSE and streamable HTTP, our
 * fixture server over stdio and HTTP, a broken server beside them, and the SDK client on /mcp.
 */
import { request } from 'node:http';
import { ProtocolError, type Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningNexus } from '../src/server.js';
import { connectClient, firstText, startTestNexus } from './helpers/nexus.js';
import { EVERYTHING, FIXTURE_SERVER, startEverything, startFixtureHttp, type Spawned } from './helpers/processes.js';

const TRANSPORTS = ['stdio', 'http', 'sse', 'auto_http', 'auto_sse'] as const;

let nexus: RunningNexus;
let client: Client;
const started: Spawned[] = [];

beforeAll(async () => {
  const [sse, http, fixtureHttp] = await Promise.all([startEverything('sse'), startEverything('streamableHttp'), startFixtureHttp()]);
  started.push(sse, http, fixtureHttp);
  nexus = await startTestNexus(`
    [mcp.servers.stdio]
    cmd = ["node", "${EVERYTHING}", "stdio"]

    [mcp.servers.http]
    url = "${http.url}"
    protocol = "streamable-http"

    [mcp.servers.sse]
    url = "${sse.url}"
    protocol = "sse"

    [mcp.servers.auto_http]
    url = "${http.url}"

    [mcp.servers.auto_sse]
    url = "${sse.url}"

    [mcp.servers.fixture]
    cmd = ["node", "${FIXTURE_SERVER}", "stdio"]

    [mcp.servers.fixture_http]
    url = "${fixtureHttp.url}"
    auth.token = "s3cret-token"
    headers = { X-Team = "platform" }

    [mcp.servers.broken]
    cmd = ["/nonexistent/command/for/nexus/tests"]
  `);
  client = await connectClient(nexus);
});

afterAll(async () => {
  await client?.close();
  await nexus?.close();
  await Promise.all(started.map((server) => server.kill()));
});

async function execute(name: string, args: Record<string, unknown> = {}) {
  return client.callTool({ name: 'execute', arguments: { name, arguments: args } });
}

async function search(keywords: string[]) {
  const result = await client.callTool({ name: 'search', arguments: { keywords } });
  return (result.structuredContent as { results: { name: string; score: number; input_schema: unknown }[] }).results;
}

async function expectProtocolError(promise: Promise<unknown>, code: number): Promise<ProtocolError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ProtocolError);
  expect((error as ProtocolError).code).toBe(code);
  return error as ProtocolError;
}

describe('downstream connections', () => {
  it('connects every working transport, with autodetection for remotes without a protocol', () => {
    // The broken one is retried in the background: failed between attempts, connecting during one.
    const states = Object.fromEntries(nexus.registry.all().map((ds) => [ds.name, ds.state.status.replace('connecting', 'failed')]));
    expect(states).toEqual({
      stdio: 'ready',
      http: 'ready',
      sse: 'ready',
      auto_http: 'ready',
      auto_sse: 'ready',
      fixture: 'ready',
      fixture_http: 'ready',
      broken: 'failed',
    });
  });

  it('records why a broken server was skipped', () => {
    const broken = nexus.registry.get('broken');
    expect(broken?.state).toMatchObject({ status: expect.stringMatching(/failed|connecting/), reason: expect.stringContaining('ENOENT') });
  });

  it('follows paginated tools/list to the end', () => {
    const names = nexus.registry.get('fixture')?.catalog.tools.map((tool) => tool.name) ?? [];
    expect(names).toHaveLength(37);
    expect(names).toContain('paged_tool_11');
  });

  it('sends the static token and headers to a remote server', async () => {
    const headers = JSON.parse(firstText(await execute('fixture_http__show_headers'))) as Record<string, string>;
    // Echoed back, the configured token is redacted: only configured secrets are.
    expect(headers['authorization']).toBe('Bearer [redacted]');
    expect(headers['x-team']).toBe('platform');
  });
});

describe('tools/list', () => {
  it('lists exactly search and execute', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(['search', 'execute']);
  });

  it('names the servers in the instructions', () => {
    expect(client.getInstructions()).toContain('stdio, http, sse');
  });
});

describe('search', () => {
  it.each(TRANSPORTS)('finds echo on the %s server', async (server) => {
    const names = (await search(['echo'])).map((result) => result.name);
    expect(names).toContain(`${server}__echo`);
  });

  it('returns the input schema and a score, at most 10 results, best first', async () => {
    const results = await search(['echo', 'message']);
    expect(results.length).toBeGreaterThan(0);
    expect(results.length).toBeLessThanOrEqual(10);
    expect(results[0]?.input_schema).toMatchObject({ type: 'object', properties: { message: expect.any(Object) } });
    const scores = results.map((result) => result.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
  });

  it('returns the same results as text content for clients that ignore structured content', async () => {
    const result = await client.callTool({ name: 'search', arguments: { keywords: ['echo'] } });
    expect(JSON.parse(firstText(result))).toEqual(result.structuredContent);
  });

  it('finds tools that only a later tools/list page had', async () => {
    expect((await search(['paged_tool_11'])).map((result) => result.name)).toContain('fixture__paged_tool_11');
  });

  it('answers empty keywords and no match with empty results', async () => {
    expect(await search([])).toEqual([]);
    expect(await search(['zzqqxxyy'])).toEqual([]);
  });

  it('rejects keywords that are not a list of strings', async () => {
    await expectProtocolError(client.callTool({ name: 'search', arguments: { keywords: 'echo' } }), -32602);
  });

  it('bounds how many keywords a search may carry, and how long each may be', async () => {
    const many = Array.from({ length: 51 }, (_, i) => `word${i}`);
    await expectProtocolError(client.callTool({ name: 'search', arguments: { keywords: many } }), -32602);
    await expectProtocolError(client.callTool({ name: 'search', arguments: { keywords: ['x'.repeat(201)] } }), -32602);
    expect(await search(Array.from({ length: 50 }, () => 'echo'))).not.toEqual([]);
  });
});

describe('execute', () => {
  it.each(TRANSPORTS)('round-trips echo on the %s server', async (server) => {
    const result = await execute(`${server}__echo`, { message: `hello over ${server}` });
    expect(firstText(result)).toBe(`Echo: hello over ${server}`);
  });

  it('serves 64 concurrent executes across transports', async () => {
    const calls = Array.from({ length: 64 }, (_, i) => {
      const server = TRANSPORTS[i % TRANSPORTS.length];
      return execute(`${server}__echo`, { message: `call ${i}` }).then(firstText);
    });
    const texts = await Promise.all(calls);
    expect(texts).toEqual(Array.from({ length: 64 }, (_, i) => `Echo: call ${i}`));
  });

  it('passes structured content through unchanged', async () => {
    const result = await execute('fixture__add_numbers', { a: 2, b: 40 });
    expect(result.structuredContent).toEqual({ sum: 42 });
    expect(firstText(result)).toBe('42');
  });

  it('answers an unknown tool or server with -32601 naming it', async () => {
    const unknownTool = await expectProtocolError(execute('stdio__no_such_tool'), -32601);
    expect(unknownTool.message).toContain('stdio__no_such_tool');
    const unknownServer = await expectProtocolError(execute('nowhere__echo'), -32601);
    expect(unknownServer.message).toContain('nowhere__echo');
    await expectProtocolError(execute('no_separator'), -32601);
    await expectProtocolError(client.callTool({ name: 'not_a_gateway_tool', arguments: {} }), -32601);
  });

  it('rejects a call without a name or with non-object arguments', async () => {
    await expectProtocolError(client.callTool({ name: 'execute', arguments: { arguments: {} } }), -32602);
    await expectProtocolError(client.callTool({ name: 'execute', arguments: { name: 'stdio__echo', arguments: 'hello' } }), -32602);
  });

  it('passes the downstream verdict on bad arguments through', async () => {
    const error = await expectProtocolError(execute('fixture__add_numbers', { a: 'two', b: 3 }), -32602);
    expect(error.message).toContain('a and b must be numbers');
    const echo = await execute('stdio__echo', {}).then(
      (result) => ({ isError: result.isError, text: firstText(result) }),
      (caught: ProtocolError) => ({ code: caught.code, text: caught.message }),
    );
    expect(echo).toSatisfy((outcome: { isError?: boolean; code?: number }) => outcome.isError === true || outcome.code === -32602);
  });

  it('passes a downstream isError result through', async () => {
    const result = await execute('fixture__fail_softly');
    expect(result.isError).toBe(true);
    expect(firstText(result)).toBe('this tool failed on purpose');
  });

  it('passes downstream JSON-RPC errors through with code, message and data', async () => {
    const error = await expectProtocolError(execute('fixture__fail_hard'), -32050);
    expect(error.message).toBe('fixture failure');
    expect(error.data).toEqual({ detail: 'thrown on purpose' });
  });

  it('answers a call to a server that failed to connect with why it is unavailable', async () => {
    const error = await expectProtocolError(execute('broken__anything'), -32603);
    expect(error.message).toContain("server 'broken' is unavailable");
    expect(error.message).toContain('ENOENT');
  });

  it('relays downstream progress notifications during a long tool', async () => {
    const seen: { progress: number; total?: number }[] = [];
    const result = await client.callTool(
      { name: 'execute', arguments: { name: 'fixture__count_up', arguments: { steps: 4 } } },
      { onprogress: (progress) => seen.push(progress) },
    );
    expect(firstText(result)).toBe('counted to 4');
    expect(seen.map((p) => p.progress)).toEqual([1, 2, 3, 4]);
    expect(seen.every((p) => p.total === 4)).toBe(true);
  });

  it('relays progress from server-everything over every transport', async () => {
    for (const server of ['stdio', 'http', 'sse']) {
      const seen: number[] = [];
      await client.callTool(
        {
          name: 'execute',
          arguments: { name: `${server}__trigger-long-running-operation`, arguments: { duration: 0.3, steps: 3 } },
        },
        { onprogress: (progress) => seen.push(progress.progress) },
      );
      expect(seen, server).toEqual([1, 2, 3]);
    }
  });

  it("carries a client's cancellation to the downstream", async () => {
    const before = Number(firstText(await execute('fixture__cancellations')));
    const controller = new AbortController();
    const call = client.callTool(
      { name: 'execute', arguments: { name: 'fixture__wait_for_cancel', arguments: { ms: 20_000 } } },
      { signal: controller.signal },
    );
    setTimeout(() => controller.abort(), 300);
    await expect(call).rejects.toThrow();
    await expect.poll(async () => Number(firstText(await execute('fixture__cancellations'))), { timeout: 5_000 }).toBe(before + 1);
  });
});

describe('prompts and resources', () => {
  it('aggregates prompts as server__prompt and routes prompts/get', async () => {
    const { prompts } = await client.listPrompts();
    const names = prompts.map((prompt) => prompt.name);
    expect(names).toContain('fixture__greeting');
    expect(names).toContain('stdio__simple-prompt');
    const result = await client.getPrompt({ name: 'fixture__greeting', arguments: { who: 'Ada' } });
    expect(result.messages[0]?.content).toEqual({ type: 'text', text: 'Hello, Ada!' });
  });

  it('rejects an unknown prompt', async () => {
    await expectProtocolError(client.getPrompt({ name: 'fixture__nope' }), -32602);
  });

  it('aggregates resources (qualified by server where two servers list the same URI) and routes reads to the server that listed them', async () => {
    const { resources } = await client.listResources();
    expect(resources.map((resource) => resource.uri)).toContain('fixture://fixture/notes/readme');
    const read = await client.readResource({ uri: 'fixture://fixture/notes/readme' });
    expect(read.contents[0]).toMatchObject({ text: 'contents of fixture://notes/readme' });
  });

  it('routes reads that match a resource template', async () => {
    const { resourceTemplates } = await client.listResourceTemplates();
    expect(resourceTemplates.map((template) => template.uriTemplate)).toContain('fixture://fixture_http/items/{id}');
    const read = await client.readResource({ uri: 'fixture://fixture_http/items/42' });
    expect(read.contents[0]).toMatchObject({ text: 'contents of fixture://items/42' });
    const file = await client.readResource({ uri: 'fixture://fixture/files/docs/guide.md' });
    expect(file.contents[0]).toMatchObject({ text: 'contents of fixture://files/docs/guide.md' });
  });

  it('answers an unknown resource with resource-not-found (-32602 with the uri, as the spec says)', async () => {
    const error = await expectProtocolError(client.readResource({ uri: 'nowhere://at/all' }), -32602);
    expect(error.data).toEqual({ uri: 'nowhere://at/all' });
  });
});

describe('the HTTP endpoint', () => {
  it('answers a malformed body with a JSON-RPC parse error and keeps serving', async () => {
    const response = await fetch(`${nexus.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: '{"jsonrpc": "2.0", "id": 1, "method": ',
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700 } });
    expect(firstText(await execute('stdio__echo', { message: 'still here' }))).toBe('Echo: still here');
  });

  it('serves clients of the v1 SDK too', async () => {
    const { Client: V1Client } = await import('@modelcontextprotocol/sdk/client/index.js');
    const { StreamableHTTPClientTransport: V1Transport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
    const v1 = new V1Client({ name: 'v1-client', version: '1.0.0' });
    await v1.connect(new V1Transport(new URL(`${nexus.url}/mcp`)));
    try {
      const { tools } = await v1.listTools();
      expect(tools.map((tool) => tool.name)).toEqual(['search', 'execute']);
      const result = await v1.callTool({ name: 'execute', arguments: { name: 'sse__echo', arguments: { message: 'v1' } } });
      expect(firstText(result)).toBe('Echo: v1');
    } finally {
      await v1.close();
    }
  });

  it('refuses requests whose Host is not loopback on a loopback listener', async () => {
    const statusFor = async (host: string) => {
      return new Promise<number>((resolve, reject) => {
        const req = request(`${nexus.url}/mcp`, { method: 'POST', headers: { host, 'content-type': 'application/json' } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end('{}');
      });
    };
    expect(await statusFor('evil.example')).toBe(403);
    expect(await statusFor('127.evil.example')).toBe(403);
    expect(await statusFor('127.0.0.1.evil.example:80')).toBe(403);
    expect(await statusFor(new URL(nexus.url).host)).not.toBe(403);
    expect(await statusFor(`localhost:${new URL(nexus.url).port}`)).not.toBe(403);
  });

  it('answers a body over 4 MiB with 413 and a JSON-RPC error, and keeps serving', async () => {
    const response = await fetch(`${nexus.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(5 * 1024 * 1024) } }),
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32600 } });
    expect(firstText(await execute('stdio__echo', { message: 'after 413' }))).toBe('Echo: after 413');
  });

  it('counts a chunked body (no Content-Length) as it streams: small is served, over 4 MiB is 413', async () => {
    const post = (body: string) =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        const url = new URL(`${nexus.url}/mcp`);
        const req = request(
          url,
          { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' } },
          (res) => {
            let text = '';
            res.on('data', (chunk) => (text += chunk));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          },
        );
        req.on('error', reject);
        // Written in pieces, so Node sends Transfer-Encoding: chunked and no Content-Length.
        for (let i = 0; i < body.length; i += 64 * 1024) req.write(body.slice(i, i + 64 * 1024));
        req.end();
      });
    const small = await post(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'ping' }));
    expect(small.status).toBe(200);
    expect(small.text).toContain('"id":7');
    const big = await post(JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'ping', params: { pad: 'x'.repeat(5 * 1024 * 1024) } }));
    expect(big.status).toBe(413);
    expect(JSON.parse(big.text)).toMatchObject({ jsonrpc: '2.0', error: { code: -32600 } });
  });
});
