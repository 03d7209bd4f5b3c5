/**
 * One caller's failing call is that call's failure: the shared connection to the server stays up,
 * and another client calling the same server at the same time loses nothing. Each attack is run
 * against real servers while a victim client measures its own success rate.
 */
import { randomUUID } from 'node:crypto';
import { ProtocolError, type Client } from '@modelcontextprotocol/client';
import { describe, expect, it } from 'vitest';
import type { RunningNexus } from '../src/server.js';
import { closedAfterEach, firstText } from './helpers/nexus.js';
import { FIXTURE_SERVER, pidsWith, ROOT, startOnOwnPort, type Spawned } from './helpers/processes.js';

const { nexusWith, clientOf, started: startedServer } = closedAfterEach();

/** The tool's text, or the JSON-RPC error it got. */
function execute(client: Client, name: string, args: Record<string, unknown> = {}): Promise<string | ProtocolError> {
  return client.callTool({ name: 'execute', arguments: { name, arguments: args } }).then(firstText, (error: ProtocolError) => error);
}

/**
 * `rounds` times: the attacker's call, then the victim's, both through nexus. Returns how many of
 * the victim's calls succeeded and the attacker's errors.
 */
async function underAttack(attack: () => Promise<unknown>, victim: () => Promise<unknown>, rounds = 15) {
  const errors: unknown[] = [];
  let succeeded = 0;
  for (let round = 0; round < rounds; round++) {
    errors.push(await attack());
    if (!((await victim()) instanceof ProtocolError)) succeeded++;
  }
  return { succeeded, errors };
}

describe('an HTTP error status for one call', () => {
  async function oddServer(): Promise<Spawned & { url: string }> {
    const spawned = await startOnOwnPort(`${ROOT}test/fixtures/odd-http-server.mjs`);
    startedServer(spawned);
    return { ...spawned, url: `http://127.0.0.1:${spawned.port}/mcp` };
  }

  it.each(['status_413', 'status_401'])('(%s) fails that call only: the session stays, the victim loses nothing', async (tool) => {
    const odd = await oddServer();
    const nexus = await nexusWith(`[mcp.servers.odd]\nurl = "${odd.url}"\nprotocol = "streamable-http"`);
    const [attacker, victim] = await Promise.all([clientOf(nexus), clientOf(nexus)]);
    const { succeeded, errors } = await underAttack(
      () => execute(attacker, `odd__${tool}`),
      () => execute(victim, 'odd__ok'),
    );
    expect(succeeded).toBe(15);
    const status = tool.slice('status_'.length);
    for (const error of errors) {
      expect(error).toBeInstanceOf(ProtocolError);
      expect((error as ProtocolError).code).toBe(-32603);
      expect((error as ProtocolError).message).toContain(`request to server 'odd' failed: the server answered HTTP ${status}`);
      // The error page is quoted, not relayed whole.
      expect((error as ProtocolError).message.length).toBeLessThan(700);
    }
    const counts = JSON.parse((await execute(victim, 'odd__counts')) as string) as { initializations: number };
    expect(counts.initializations).toBe(1);
    expect(nexus.registry.get('odd')?.state.status).toBe('ready');
  });

  it.each([
    ['reset', 'the connection of one request reset, as by a proxy'],
    ['throttle_all', 'a proxy answering 429 to everything, the ping included, for a moment'],
  ])('(%s: %s) keeps the session: a call in flight and the next ones are served', async (tool) => {
    const odd = await oddServer();
    const nexus = await nexusWith(`[mcp.servers.odd]\nurl = "${odd.url}"\nprotocol = "streamable-http"`);
    const [attacker, victim] = await Promise.all([clientOf(nexus), clientOf(nexus)]);
    const inFlight = execute(victim, 'odd__slow');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await execute(attacker, `odd__${tool}`)).toBeInstanceOf(ProtocolError);
    expect(await inFlight).toBe('slow');
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await execute(victim, 'odd__ok')).toBe('ok');
    const counts = JSON.parse((await execute(victim, 'odd__counts')) as string) as { initializations: number };
    expect(counts.initializations).toBe(1);
  });

  it('keeps the session when the ping that checks it is only slow (queued behind busy calls)', async () => {
    const odd = await oddServer();
    const nexus = await nexusWith(`[mcp.servers.odd]\nurl = "${odd.url}"\nprotocol = "streamable-http"`);
    const [attacker, victim] = await Promise.all([clientOf(nexus), clientOf(nexus)]);
    expect(await execute(attacker, 'odd__status_413_slow_pings')).toBeInstanceOf(ProtocolError);
    // The ping waits 6 s, past the check's 5 s: not an answer, but not a lost session either.
    await new Promise((resolve) => setTimeout(resolve, 6_500));
    expect(await execute(victim, 'odd__ok')).toBe('ok');
    const counts = JSON.parse((await execute(victim, 'odd__counts')) as string) as { initializations: number };
    expect(counts.initializations).toBe(1);
  });

  it('(404, the session is gone) reconnects: the next call runs on a new session', async () => {
    const odd = await oddServer();
    const nexus = await nexusWith(`[mcp.servers.odd]\nurl = "${odd.url}"\nprotocol = "streamable-http"`);
    const client = await clientOf(nexus);
    const gone = await execute(client, 'odd__session_gone');
    expect((gone as ProtocolError).message).toContain('the server answered HTTP 404');
    await expect.poll(() => execute(client, 'odd__ok'), { timeout: 10_000 }).toBe('ok');
    const counts = JSON.parse((await execute(client, 'odd__counts')) as string) as { initializations: number };
    expect(counts.initializations).toBe(2);
  });
});

describe('an answer over max_result_size', () => {
  async function oddNexus(limit = '1MiB') {
    const spawned = await startOnOwnPort(`${ROOT}test/fixtures/odd-http-server.mjs`);
    startedServer(spawned);
    const url = `http://127.0.0.1:${spawned.port}/mcp`;
    const nexus = await nexusWith(`[mcp.servers.odd]\nurl = "${url}"\nprotocol = "streamable-http"\nmax_result_size = "${limit}"`);
    return { nexus, attacker: await clientOf(nexus), victim: await clientOf(nexus) };
  }

  const tooLarge = (error: unknown) => {
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).code).toBe(-32603);
    expect((error as ProtocolError).message).toBe(
      "the answer of server 'odd' is larger than the limit of 1 MiB (max_result_size) and was dropped",
    );
  };

  it.each(['big_json', 'big_sse'])('(%s) fails that call at once and nothing else', async (tool) => {
    const { nexus, attacker, victim } = await oddNexus();
    expect(await execute(attacker, `odd__${tool}`, { bytes: 1024 * 1024 - 200 })).toMatch(/^[js]+$/);
    const { succeeded, errors } = await underAttack(
      () => execute(attacker, `odd__${tool}`, { bytes: 3 * 1024 * 1024 }),
      () => execute(victim, 'odd__ok'),
      5,
    );
    expect(succeeded).toBe(5);
    errors.forEach(tooLarge);
    expect(nexus.registry.get('odd')?.state.status).toBe('ready');
  });

  it('stops reading a line that never ends: the call fails, the server is cut off', async () => {
    const { attacker, victim } = await oddNexus();
    const started = performance.now();
    tooLarge(await execute(attacker, 'odd__endless_sse'));
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(await execute(victim, 'odd__ok')).toBe('ok');
    // nexus read about 1 MiB and dropped the connection: the server could not write much more.
    const { endless_bytes: sent } = JSON.parse((await execute(victim, 'odd__counts')) as string) as { endless_bytes: number };
    expect(sent).toBeLessThan(16 * 1024 * 1024);
  });

  it('fails a read through the SDK client (resources) the same way', async () => {
    const { victim } = await oddNexus();
    const small = await victim.readResource({ uri: 'odd://big?bytes=1000' });
    expect((small.contents[0] as { text: string }).text).toHaveLength(1000);
    tooLarge(await victim.readResource({ uri: `odd://big?bytes=${3 * 1024 * 1024}` }).catch((error: unknown) => error));
    expect(await execute(victim, 'odd__ok')).toBe('ok');
  });
});

describe('an answer nested past any real need', () => {
  it('fails that call with a clear error; one within bounds is relayed', async () => {
    const spawned = startedServer(await startOnOwnPort(`${ROOT}test/fixtures/odd-http-server.mjs`));
    const nexus = await nexusWith(`[mcp.servers.odd]\nurl = "http://127.0.0.1:${spawned.port}/mcp"\nprotocol = "streamable-http"`);
    const client = await clientOf(nexus);
    expect(await execute(client, 'odd__deep_answer', { levels: 900 })).toBe('deep');
    const error = await execute(client, 'odd__deep_answer', { levels: 5_000 });
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).message).toBe("the answer of server 'odd' nests deeper than 1000 levels");
    expect(await execute(client, 'odd__ok')).toBe('ok');
  });
});

describe('a request nested deeper than max_json_depth', () => {
  /** `{"deep": [[[…"x"…]]]}` nested `levels` deep, as text: JSON.stringify could not make it. */
  const deepJson = (levels: number) => `{"deep":${'['.repeat(levels)}"x"${']'.repeat(levels)}}`;

  /** POSTs a raw JSON-RPC request (`params` already JSON text) as a 2025-era client would. */
  async function post(nexus: RunningNexus, method: string, params: string) {
    const response = await fetch(`${nexus.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: `{"jsonrpc":"2.0","id":"attack","method":"${method}","params":${params}}`,
    });
    return { status: response.status, body: (await response.json()) as { id: unknown; error?: { code: number; message: string } } };
  }

  it('is refused at the door: the shared stdio server and its other callers are untouched', async () => {
    const marker = `marker-${randomUUID()}`;
    const nexus = await nexusWith(`[mcp.servers.fixture]\ncmd = ["node", "${FIXTURE_SERVER}", "stdio", "${marker}"]`);
    const victim = await clientOf(nexus);
    const [pid] = await pidsWith(marker);
    const params = `{"name":"execute","arguments":{"name":"fixture__echo","arguments":${deepJson(6_000)}}}`;
    const { succeeded, errors } = await underAttack(
      () => post(nexus, 'tools/call', params),
      () => execute(victim, 'fixture__add_numbers', { a: 1, b: 2 }),
    );
    expect(succeeded).toBe(15);
    for (const error of errors) {
      expect(error).toEqual({
        status: 400,
        body: {
          jsonrpc: '2.0',
          id: 'attack',
          error: { code: -32600, message: 'Invalid Request: the body nests deeper than 64 levels (server.limits.max_json_depth)' },
        },
      });
    }
    expect(await pidsWith(marker)).toEqual([pid]);
  });

  it.each([
    ['resources/read', `{"uri":"file:///x","_meta":${deepJson(6_000)}}`],
    ['prompts/get', `{"name":"fixture__p","_meta":${deepJson(6_000)}}`],
  ])('in the _meta of %s is refused the same way', async (method, params) => {
    const nexus = await nexusWith(`[mcp.servers.fixture]\ncmd = ["node", "${FIXTURE_SERVER}", "stdio"]`);
    const { status, body } = await post(nexus, method, params);
    expect(status).toBe(400);
    expect(body.error?.code).toBe(-32600);
  });

  it('nested within the limit passes through', async () => {
    const nexus = await nexusWith(
      `[server.limits]\nmax_json_depth = 70\n[mcp.servers.fixture]\ncmd = ["node", "${FIXTURE_SERVER}", "stdio"]`,
    );
    // The envelope takes 4 levels (request, params, execute's arguments, the tool's arguments), "deep" the rest.
    const fits = await post(
      nexus,
      'tools/call',
      `{"name":"execute","arguments":{"name":"fixture__echo","arguments":{"message":"hi","deep":${'['.repeat(66)}${']'.repeat(66)}}}}`,
    );
    expect(fits.status).toBe(200);
    expect(JSON.stringify(fits.body)).toContain('Echo: hi');
    const over = await post(
      nexus,
      'tools/call',
      `{"name":"execute","arguments":{"name":"fixture__echo","arguments":{"message":"hi","deep":${'['.repeat(67)}${']'.repeat(67)}}}}`,
    );
    expect(over.status).toBe(400);
  });
});

describe('a stdio server', () => {
  /** nexus with the fixture over stdio, a marker in its command line, and the child's pid. */
  async function stdioFixture(limits = ''): Promise<{ nexus: RunningNexus; pid: () => Promise<number[]> }> {
    const marker = `marker-${randomUUID()}`;
    const nexus = await nexusWith(`${limits}\n[mcp.servers.fixture]\ncmd = ["node", "${FIXTURE_SERVER}", "stdio", "${marker}"]`);
    return { nexus, pid: () => pidsWith(marker) };
  }

  /** The victim's calls, one after another, until `attack` settles (three at least); those that failed. */
  async function alongside(victim: Client, attack: Promise<unknown>): Promise<unknown[]> {
    let settled = false;
    void attack.finally(() => (settled = true));
    const outcomes: unknown[] = [];
    while (!settled || outcomes.length < 3) outcomes.push(await execute(victim, 'fixture__add_numbers', { a: 2, b: 3 }));
    return outcomes.filter((outcome) => outcome !== '5');
  }

  it('answering one call with more than max_result_size fails that call at once; the child and other calls go on', async () => {
    const { nexus, pid } = await stdioFixture();
    const before = await pid();
    const [attacker, victim] = await Promise.all([clientOf(nexus), clientOf(nexus)]);
    const started = Date.now();
    // 40 MB: over the default of 32 MiB. The answer's id is at its very end, as the SDK writes it.
    const attack = execute(attacker, 'fixture__big_answer', { bytes: 40_000_000 });
    expect(await alongside(victim, attack)).toEqual([]);
    const error = await attack;
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).message).toContain(
      "the answer of server 'fixture' is larger than the limit of 32 MiB (max_result_size)",
    );
    expect(Date.now() - started).toBeLessThan(10_000); // at once, not a timeout
    expect(await pid()).toEqual(before);
    expect(nexus.registry.get('fixture')?.state.status).toBe('ready');
  });

  it('answering with 20 MB, within max_result_size, is served whole', async () => {
    const { nexus, pid } = await stdioFixture();
    const before = await pid();
    const client = await clientOf(nexus);
    const answer = await execute(client, 'fixture__big_answer', { bytes: 20_000_000 });
    expect(typeof answer === 'string' && answer.length).toBe(20_000_000);
    expect(await pid()).toEqual(before);
  });

  it('a request that cannot be serialised (nested 10,000 deep) fails alone; the child and other calls go on', async () => {
    // The depth limit would refuse it at the door: raised here, to reach the transport.
    const { nexus, pid } = await stdioFixture('[server.limits]\nmax_json_depth = 20000');
    const before = await pid();
    const victim = await clientOf(nexus);
    // Written by hand: JSON.parse reads this depth, JSON.stringify cannot write it.
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    const body = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute","arguments":{"name":"fixture__echo","arguments":{"message":${deep}}}}}`;
    const attack = fetch(`${nexus.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
      body,
    }).then((response) => response.text());
    expect(await alongside(victim, attack)).toEqual([]);
    expect(await attack).toContain('the request could not be serialised');
    expect(await pid()).toEqual(before);
    expect(nexus.registry.get('fixture')?.state.status).toBe('ready');
  });
});
