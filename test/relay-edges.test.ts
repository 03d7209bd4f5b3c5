/**
 * Edges of the server-to-client relay (see relay.test.ts for the main paths): the SSE transport,
 * a client that cancels or a server that dies while a request is open, call_timeout paused while
 * the client answers, a 2026-era client without a capability, and an answer nobody waits for.
 */
import { readFile } from 'node:fs/promises';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningNexus } from '../src/server.js';
import { closedAfterEach, firstText } from './helpers/nexus.js';
import { AUDIENCE, ISSUER, JwksServer, signingKey, token } from './helpers/jwks.js';
import { modernRequest } from './helpers/modern.js';
import { startRedis } from './helpers/redis.js';
import { childPids, EVERYTHING, FIXTURE_SERVER, isAlive, ROOT, startEverything, startOnOwnPort } from './helpers/processes.js';

const { nexusWith: start, started } = closedAfterEach();
/** Clients are closed before nexus (this hook runs first): an open client connection would hold nexus's shutdown for its grace. */
const clients: { close(): Promise<unknown> }[] = [];
afterEach(() => Promise.all(clients.splice(0).map((client) => client.close())));
const track = <T extends { close(): Promise<unknown> }>(client: T): T => (clients.push(client), client);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const fixtureStdio = (extra = '') => `
[mcp.servers.fixture]
cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
${extra}
`;

type Capabilities = ConstructorParameters<typeof ClientV1>[1] extends infer O ? (O extends { capabilities?: infer C } ? C : never) : never;
type SamplingHandler = Parameters<typeof ClientV1.prototype.setRequestHandler<typeof CreateMessageRequestSchema>>[1];
type ElicitationHandler = Parameters<typeof ClientV1.prototype.setRequestHandler<typeof ElicitRequestSchema>>[1];

const sampled = (text: string) => ({ model: 'edge-model', role: 'assistant' as const, content: { type: 'text' as const, text } });

/** A 2025-era client (SDK v1) whose sampling and elicitation handlers a test gives. */
async function legacyClient(
  nexus: RunningNexus,
  capabilities: Capabilities,
  handlers: { sampling?: SamplingHandler; elicitation?: ElicitationHandler } = {},
) {
  const client = track(new ClientV1({ name: 'edge-v1', version: '1.0.0' }, { capabilities }));
  if (handlers.sampling) client.setRequestHandler(CreateMessageRequestSchema, handlers.sampling);
  if (handlers.elicitation) client.setRequestHandler(ElicitRequestSchema, handlers.elicitation);
  await client.connect(new TransportV1(new URL(`${nexus.url}/mcp`)));
  return client;
}

const execute = (
  client: ClientV1,
  name: string,
  args: Record<string, unknown> = {},
  options?: { signal?: AbortSignal; timeout?: number },
) => client.callTool({ name: 'execute', arguments: { name, arguments: args } }, undefined, { timeout: 10_000, ...options });

/** What a call came to: its result, or its error's message. */
const outcomeOf = (call: Promise<unknown>) =>
  call.then(
    (result) => ({ result, error: undefined }),
    (error: unknown) => ({ result: undefined, error: error instanceof Error ? error.message : String(error) }),
  );

const until = async (check: () => boolean | Promise<boolean>, ms = 5_000) => {
  for (const deadline = Date.now() + ms; !(await check());) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(20);
  }
};

/** The stdio fixture servers this process (the in-process nexus) has started. */
async function fixtureChildren(): Promise<number[]> {
  const pids: number[] = [];
  for (const pid of await childPids(process.pid)) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(FIXTURE_SERVER)) pids.push(pid);
  }
  return pids;
}

describe('relay over the SSE transport', () => {
  it("a 2025-era client's sampling answer reaches a server behind SSE", async () => {
    const everything = started(await startEverything('sse'));
    const nexus = await start(`[mcp.servers.everything]\nurl = "${everything.url}"\nprotocol = "sse"\n`);
    const seen: unknown[] = [];
    const client = await legacyClient(nexus, { sampling: {} }, { sampling: (request) => (seen.push(request.params), sampled('via sse')) });
    const result = await execute(client, 'everything__trigger-sampling-request', { prompt: 'hello over sse', maxTokens: 5 });
    expect(seen).toHaveLength(1);
    expect(JSON.stringify(seen[0])).toContain('hello over sse');
    expect(JSON.stringify(result)).toContain('via sse');
  });
});

describe('a call that ends while the client is answering', () => {
  it('the client cancels its call: the open sampling request is cancelled too, and nexus serves on', async () => {
    const nexus = await start(fixtureStdio());
    let asked!: () => void;
    const wasAsked = new Promise<void>((resolve) => (asked = resolve));
    let handlerSignal: AbortSignal | undefined;
    const client = await legacyClient(
      nexus,
      { sampling: {} },
      {
        // Never answers: waits until it is told the request is over.
        sampling: (_request, extra) =>
          new Promise((_resolve, reject) => {
            handlerSignal = extra.signal;
            extra.signal.addEventListener('abort', () => reject(new Error('the sampling request was cancelled')));
            asked();
          }),
      },
    );
    const controller = new AbortController();
    const call = outcomeOf(execute(client, 'fixture__ask_client', { kind: 'sampling' }, { signal: controller.signal }));
    await wasAsked;
    const cancelledAt = Date.now();
    controller.abort(new Error('the user gave up'));
    const { result, error } = await call;
    expect(result).toBeUndefined();
    expect(error).toMatch(/gave up|cancel|abort/i);
    expect(Date.now() - cancelledAt).toBeLessThan(1_000);
    // nexus tells the client its request is over (notifications/cancelled for the relayed request).
    await until(() => handlerSignal?.aborted === true, 3_000);
    expect(firstText(await execute(client, 'fixture__echo', { message: 'still here' }))).toBe('Echo: still here');
  });

  it('the server dies while the client answers: a clear error, the server reconnected, later calls work', async () => {
    const nexus = await start(fixtureStdio());
    const [pid, ...others] = await fixtureChildren();
    expect(pid).toBeDefined();
    expect(others).toEqual([]);
    const client = await legacyClient(
      nexus,
      { sampling: {} },
      {
        sampling: async () => {
          process.kill(pid as number, 'SIGKILL');
          await sleep(300);
          return sampled('too late');
        },
      },
    );
    const startedAt = Date.now();
    const { result, error } = await outcomeOf(execute(client, 'fixture__ask_client', { kind: 'sampling' }));
    expect(result).toBeUndefined();
    expect(error).toMatch(/-32603.*request to server 'fixture' failed: .*closed/i);
    expect(error).not.toMatch(/timed out/i);
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    expect(isAlive(pid as number)).toBe(false);

    await until(() => nexus.registry.get('fixture')?.state.status === 'ready', 10_000);
    const [successor] = await fixtureChildren();
    expect(successor).toBeDefined();
    expect(successor).not.toBe(pid);
    expect(firstText(await execute(client, 'fixture__echo', { message: 'back again' }))).toBe('Echo: back again');
  });
});

describe('call_timeout and a client that is answering', () => {
  it('a call waiting for its client is not cut by call_timeout; a server that is slow is', async () => {
    const nexus = await start(fixtureStdio('call_timeout = "1s"'));
    const client = await legacyClient(
      nexus,
      { elicitation: {} },
      {
        elicitation: async () => {
          await sleep(2_500);
          return { action: 'accept', content: { name: 'Patient' } };
        },
      },
    );
    const answered = await execute(client, 'fixture__ask_client', { kind: 'elicitation' });
    expect(JSON.parse(firstText(answered))).toMatchObject({ rounds: 1, answer: { action: 'accept', content: { name: 'Patient' } } });

    // The control: the same call_timeout ends a call whose server takes too long.
    const startedAt = Date.now();
    const { result, error } = await outcomeOf(execute(client, 'fixture__wait_for_cancel', { ms: 3_000 }));
    expect(result).toBeUndefined();
    expect(error).toMatch(/timed out/i);
    expect(Date.now() - startedAt).toBeLessThan(2_500);
  });
});

describe('a 2026-era client without a capability', () => {
  it("the server's sampling request gets an error naming the missing capability", async () => {
    const nexus = await start(fixtureStdio());
    const client = track(
      new ClientV2(
        { name: 'edge-v2', version: '1.0.0' },
        { capabilities: { elicitation: { form: {} } }, versionNegotiation: { mode: 'auto' } },
      ),
    );
    await client.connect(new TransportV2(new URL(`${nexus.url}/mcp`)));
    expect(client.getNegotiatedProtocolVersion?.()).toBe('2026-07-28');
    const { result, error } = await outcomeOf(
      client.callTool({ name: 'execute', arguments: { name: 'fixture__ask_client', arguments: { kind: 'sampling' } } }),
    );
    expect(error ?? JSON.stringify(result)).toMatch(/did not declare the sampling capability/);
  });
});

describe('an answer nobody waits for', () => {
  it('gets HTTP 400 with a JSON-RPC error saying so', async () => {
    const nexus = await start(fixtureStdio());
    const response = await fetch(`${nexus.url}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-06-18',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 'nexus.0123456789ab.xxxxxxxx', result: {} }),
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { jsonrpc: string; error?: { code: number; message: string } };
    expect(body.jsonrpc).toBe('2.0');
    expect(body.error?.code).toBe(-32600);
    expect(body.error?.message).toMatch(/nobody is waiting for this answer/);
  });
});

describe('only the caller who started a call may answer for it (OAuth on)', () => {
  const jwks = new JwksServer();
  let alice: string;
  let mallory: string;
  beforeAll(async () => {
    const key = await signingKey('k1');
    jwks.keys = [key];
    await jwks.start();
    [alice, mallory] = await Promise.all([token(key, { sub: 'alice' }), token(key, { sub: 'mallory' })]);
  });
  afterAll(() => jwks.stop());

  it("a 2026-era retry with another caller's token finds no parked call", async () => {
    const nexus = await start(`
      [server.oauth]
      url = "${jwks.url}"
      expected_issuer = "${ISSUER}"
      expected_audience = "${AUDIENCE}"
      [mcp.servers.everything]
      cmd = ["node", "${EVERYTHING}", "stdio"]
    `);
    let stolen = 0;
    // Alice's retry (the request that carries her answers) goes out with Mallory's token.
    const fetchAs = (input: string | URL | Request, init?: RequestInit) => {
      const retry = typeof init?.body === 'string' && init.body.includes('"inputResponses"');
      if (retry) stolen++;
      const headers = new Headers(init?.headers);
      headers.set('authorization', `Bearer ${retry ? mallory : alice}`);
      return fetch(input, { ...init, headers });
    };
    const client = track(
      new ClientV2({ name: 'alice', version: '1.0.0' }, { capabilities: { sampling: {} }, versionNegotiation: { mode: 'auto' } }),
    );
    client.setRequestHandler('sampling/createMessage', () => sampled('from alice'));
    await client.connect(new TransportV2(new URL(`${nexus.url}/mcp`), { fetch: fetchAs }));
    const outcome = await client
      .callTool({ name: 'execute', arguments: { name: 'everything__trigger-sampling-request', arguments: { prompt: 'x' } } })
      .catch((error: unknown) => error);
    expect(stolen).toBe(1);
    expect(String(outcome)).toMatch(/Invalid or expired requestState: it is unknown or has expired/);
  });
});

describe('which call a request belongs to, when the transport does not say', () => {
  it("a request from a server still working on a call its client cancelled never reaches another client's call", async () => {
    const nexus = await start(`[mcp.servers.raw]\ncmd = ["node", "${ROOT}test/fixtures/raw-stdio-server.mjs"]\n`);
    const client = async (name: string) => {
      const c = track(new ClientV1({ name, version: '1' }, { capabilities: { elicitation: {} } }));
      const seen: string[] = [];
      c.setRequestHandler(ElicitRequestSchema, (request) => (seen.push(String(request.params.message)), { action: 'decline' as const }));
      await c.connect(new TransportV1(new URL(`${nexus.url}/mcp`)));
      return { c, seen };
    };
    const [alice, bob] = await Promise.all([client('alice'), client('bob')]);
    const gaveUp = await alice.c
      .callTool({ name: 'execute', arguments: { name: 'raw__ask_after_cancel', arguments: { secret: "alice's account" } } }, undefined, {
        signal: AbortSignal.timeout(150),
      })
      .catch((error: unknown) => error);
    expect(gaveUp).toBeInstanceOf(Error);
    // Bob's is the only call under way when the server asks its question about Alice's.
    await bob.c.callTool({ name: 'execute', arguments: { name: 'raw__slow', arguments: { ms: 700 } } });
    expect(bob.seen).toEqual([]);
    expect(alice.seen).toEqual([]);
  });

  it("requests a server sends on calls' own streams are forgotten with their calls", async () => {
    const server = started(await startOnOwnPort(`${ROOT}test/fixtures/pinging-http-server.mjs`));
    const nexus = await start(`[mcp.servers.ping]\nurl = "http://127.0.0.1:${server.port}/mcp"\nprotocol = "streamable-http"\n`);
    const client = track(new ClientV2({ name: 'c', version: '1' }));
    await client.connect(new TransportV2(new URL(`${nexus.url}/mcp`)));
    for (let i = 0; i < 50; i++) await client.callTool({ name: 'execute', arguments: { name: 'ping__t', arguments: {} } });
    // White-box: what the downstream remembers of its calls' streams (it once kept every request id).
    const related = (nexus.registry.get('ping') as unknown as { related: Map<unknown, unknown> }).related;
    expect(related.size).toBe(0);
  });
});

/** A raw 2026-07-28 call of `execute`, for what the SDK client does not let a test do (retry elsewhere, give up). */
const modernExecute = (url: string, params: Record<string, unknown>, signal?: AbortSignal) =>
  modernRequest(url, 'tools/call', { name: 'execute', ...params }, { signal, capabilities: { sampling: {} } });

describe('a retry that reaches another instance', () => {
  it('is cancelled on the instance holding the call when its client gives up', async () => {
    const redis = started(await startRedis());
    const toml = `[mcp.servers.raw]\ncmd = ["node", "${ROOT}test/fixtures/raw-stdio-server.mjs"]\n[mcp.relay]\nredis_url = "${redis.url}"\n`;
    const [a, b] = await Promise.all([start(toml), start(toml)]);
    const call = { arguments: { name: 'raw__ask_then_wait', arguments: { ms: 20_000 } } };
    const first = await modernExecute(a.url, call);
    const inputRequests = first.result?.['inputRequests'] as Record<string, unknown>;
    const answer = { role: 'assistant', model: 'm', content: { type: 'text', text: 'ok' } };
    const retry = {
      ...call,
      requestState: first.result?.['requestState'],
      inputResponses: { [Object.keys(inputRequests)[0] as string]: answer },
    };
    const giveUp = new AbortController();
    const retried = modernExecute(b.url, retry, giveUp.signal).catch((error: unknown) => error);
    await sleep(600);
    giveUp.abort();
    await retried;
    await sleep(500);
    const count = await modernExecute(a.url, { arguments: { name: 'raw__cancellations' } });
    expect(firstText(count.result)).toBe('1');
  });

  it('a batch of more answers than a client could owe is refused whole', async () => {
    const nexus = await start(fixtureStdio());
    const answers = Array.from({ length: 17 }, (_, i) => ({ jsonrpc: '2.0', id: `nexus.0123456789ab.answer${i}`, result: {} }));
    const response = await fetch(`${nexus.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' },
      body: JSON.stringify(answers),
    });
    expect(response.status).toBe(400);
    expect(JSON.stringify(await response.json())).toMatch(/at most 16 answers in one batch/);
  });
});
