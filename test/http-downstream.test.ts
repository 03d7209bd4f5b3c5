/**
 * Tool calls to a streamable-HTTP server take nexus's own lean path (one POST on the session the
 * SDK client opened). Against our stateful fixture (sessions, SSE answers, resumable streams):
 * the path is really taken, and everything the SDK client did on it still holds: progress,
 * cancellation, call_timeout, notifications on the call's stream, resumed streams, a lost session.
 */
import { Client, ProtocolError, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningNexus } from '../src/server.js';
import { firstText, startTestNexus } from './helpers/nexus.js';
import { FIXTURE_SERVER, ROOT, startFixtureHttp, startOnOwnPort, type Spawned } from './helpers/processes.js';

let fixture: Spawned & { url: string };
let nexus: RunningNexus;
let client: Client;

beforeAll(async () => {
  fixture = await startFixtureHttp({}, 'http-stateful');
  nexus = await startTestNexus(`
    [mcp.servers.remote]
    url = "${fixture.url}"
    protocol = "streamable-http"
    call_timeout = "1s"
    [mcp.servers.local]
    cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
  `);
  client = new Client({ name: 'http-downstream', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${nexus.url}/mcp`)));
});

afterAll(async () => {
  await client?.close();
  await nexus?.close();
  await fixture?.kill();
});

const run = (name: string, args: Record<string, unknown> = {}) =>
  client.callTool({ name: 'execute', arguments: { name, arguments: args } }).then(firstText, (error: ProtocolError) => error);

describe('tool calls to a streamable-HTTP server', () => {
  it('go by the lean path (its own request ids), while stdio calls go through the SDK client', async () => {
    expect(Number(await run('remote__request_id'))).toBeGreaterThanOrEqual(2 ** 40);
    expect(Number(await run('local__request_id'))).toBeLessThan(2 ** 40);
    expect(await run('remote__echo', { message: 'hi' })).toBe('Echo: hi');
  });

  it('pass results and errors through unchanged', async () => {
    const sum = await client.callTool({ name: 'execute', arguments: { name: 'remote__add_numbers', arguments: { a: 2, b: 3 } } });
    expect(sum.structuredContent).toEqual({ sum: 5 });
    const soft = await client.callTool({ name: 'execute', arguments: { name: 'remote__fail_softly', arguments: {} } });
    expect(soft.isError).toBe(true);
    const hard = await run('remote__fail_hard');
    expect(hard).toBeInstanceOf(ProtocolError);
    expect(hard).toMatchObject({
      code: -32050,
      message: expect.stringContaining('fixture failure'),
      data: { detail: 'thrown on purpose' },
    });
  });

  it('relay progress under the caller’s token', async () => {
    const steps: number[] = [];
    const result = await client.callTool(
      { name: 'execute', arguments: { name: 'remote__count_up', arguments: { steps: 4, delay_ms: 10 } } },
      { onprogress: (progress) => steps.push(progress.progress) },
    );
    expect(firstText(result)).toBe('counted to 4');
    expect(steps).toEqual([1, 2, 3, 4]);
  });

  it('carry the caller’s cancellation to the server', async () => {
    const before = Number(await run('remote__cancellations'));
    const abort = new AbortController();
    const call = client.callTool(
      { name: 'execute', arguments: { name: 'remote__wait_for_cancel', arguments: { ms: 20_000 } } },
      { signal: abort.signal },
    );
    setTimeout(() => abort.abort('changed my mind'), 200);
    await expect(call).rejects.toThrow();
    await expect.poll(async () => Number(await run('remote__cancellations')), { timeout: 5_000 }).toBe(before + 1);
  });

  it('time out after call_timeout, cancel the call downstream, and keep the server ready', async () => {
    const before = Number(await run('remote__cancellations'));
    const outcome = await run('remote__wait_for_cancel', { ms: 5_000 });
    expect(outcome).toBeInstanceOf(ProtocolError);
    expect((outcome as ProtocolError).message).toMatch(/request to server 'remote' failed: .*timed out/i);
    await expect.poll(async () => Number(await run('remote__cancellations')), { timeout: 5_000 }).toBe(before + 1);
    expect(nexus.registry.get('remote')?.state.status).toBe('ready');
  });

  it('let progress extend call_timeout', async () => {
    // 1.5 s in all, never 1 s without progress.
    expect(await run('remote__count_up', { steps: 6, delay_ms: 250 })).toBe('counted to 6');
  });

  it('resume a stream the server ended before answering (Last-Event-ID), and only such a stream', async () => {
    const before = Number(await run('remote__resumptions'));
    expect(await run('remote__answer_after_dropping_stream')).toBe('answered on a resumed stream');
    expect(Number(await run('remote__resumptions'))).toBe(before + 1);
    // Answered streams end with an event id too; they must not be resumed (the fixture's retry hint is 50 ms).
    for (let i = 0; i < 5; i++) expect(await run('remote__echo', { message: String(i) })).toBe(`Echo: ${i}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(Number(await run('remote__resumptions'))).toBe(before + 1);
  });

  it('hand other messages on the call’s stream to the SDK client: list_changed re-indexes', async () => {
    expect(await run('remote__log_then_answer', { message: 'on the stream' })).toBe('logged');
    expect(await run('remote__add_tool', { name: 'fresh_http_gadget' })).toBe('added fresh_http_gadget');
    const found = async () => {
      const result = await client.callTool({ name: 'search', arguments: { keywords: ['fresh', 'http', 'gadget'] } });
      return firstText(result);
    };
    await expect.poll(found, { timeout: 5_000 }).toContain('remote__fresh_http_gadget');
    expect(await run('remote__fresh_http_gadget')).toBe('fresh_http_gadget ran');
  });
});

describe('a streamable-HTTP server that loses its session', () => {
  it('fails the call with the server’s answer, reconnects, and serves the next calls', async () => {
    const port = Number(new URL(fixture.url).port);
    await fixture.kill();
    fixture = await startFixtureHttp({}, 'http-stateful', port);
    // The new process knows no session: its 404 fails this call and starts a reconnect.
    const lost = await run('remote__echo', { message: 'lost' });
    expect(lost).toBeInstanceOf(ProtocolError);
    expect((lost as ProtocolError).message).toMatch(/request to server 'remote' failed: the server answered HTTP 4\d\d/);
    await expect.poll(() => run('remote__echo', { message: 'back' }), { timeout: 10_000 }).toBe('Echo: back');
    expect(Number(await run('remote__request_id'))).toBeGreaterThanOrEqual(2 ** 40);
  });
});

/** Our hand-written server with odd but legal streams (test/fixtures/odd-http-server.mjs). */
async function startOddServer(env: NodeJS.ProcessEnv = {}): Promise<Spawned & { url: string }> {
  const spawned = await startOnOwnPort(`${ROOT}test/fixtures/odd-http-server.mjs`, env);
  return { ...spawned, url: `http://127.0.0.1:${spawned.port}/mcp` };
}

describe('a server with odd streams, through the lean path', () => {
  let odd: Spawned & { url: string };
  let oddNexus: RunningNexus;
  let oddClient: Client;
  beforeAll(async () => {
    odd = await startOddServer();
    oddNexus = await startTestNexus(`[mcp.servers.odd]\nurl = "${odd.url}"\nprotocol = "streamable-http"\ncall_timeout = "800ms"`);
    oddClient = new Client({ name: 'odd', version: '1' });
    await oddClient.connect(new StreamableHTTPClientTransport(new URL(`${oddNexus.url}/mcp`)));
  });
  afterAll(async () => {
    await oddClient?.close();
    await oddNexus?.close();
    await odd?.kill();
  });
  const oddRun = (name: string, onprogress?: () => void) =>
    oddClient
      .callTool({ name: 'execute', arguments: { name, arguments: {} } }, onprogress && { onprogress })
      .then(firstText, (error: ProtocolError) => error);
  const counts = async () => JSON.parse((await oddRun('odd__counts')) as string) as { gets: number; cancels: number };

  it('keeps resuming a stream the server keeps closing, as the SDK does', async () => {
    const before = await counts();
    expect(await oddRun('odd__poll')).toBe('polled answer');
    expect((await counts()).gets).toBe(before.gets + 3);
  });

  it('waits for call_timeout, not fails at once, when a stream ends unanswered or a request gets 202; the server stays ready', async () => {
    const before = await counts();
    const [dropped, accepted, slow] = await Promise.all([oddRun('odd__drop_no_id'), oddRun('odd__accepted'), oddRun('odd__slow')]);
    for (const outcome of [dropped, accepted]) {
      expect(outcome).toBeInstanceOf(ProtocolError);
      expect((outcome as ProtocolError).message).toMatch(/timed out/i);
    }
    // The slow call (1.5 s, beyond call_timeout) shares the connection: it times out on its own,
    // and none of the three is taken for a lost connection.
    expect(slow).toBeInstanceOf(ProtocolError);
    expect(oddNexus.registry.get('odd')?.state.status).toBe('ready');
    await expect.poll(async () => (await counts()).cancels, { timeout: 5_000 }).toBe(before.cancels + 3);
    expect(await oddRun('odd__ok')).toBe('ok');
  });

  it('ignores progress that comes after the answer', async () => {
    let late = 0;
    expect(await oddRun('odd__late_progress', () => late++)).toBe('late');
    expect(await oddRun('odd__late_progress')).toBe('late');
    expect(late).toBe(0);
  });

  it('words a -32002 error as the SDK server does (-32602), on the lean path and the SDK path alike', async () => {
    const lean = await oddRun('odd__not_found');
    const sdk = await oddRun('odd__not_found', () => undefined);
    expect(lean).toMatchObject({ code: -32602, message: expect.stringContaining('no such thing') });
    expect(sdk).toMatchObject({ code: (lean as ProtocolError).code, message: (lean as ProtocolError).message });
  });

  it('follows a same-origin redirect of the endpoint (e.g. /mcp to /mcp/)', async () => {
    const redirecting = await startOddServer({ ODD_REDIRECT: '1' });
    const nexus = await startTestNexus(`[mcp.servers.odd]\nurl = "${redirecting.url}"\nprotocol = "streamable-http"`);
    const client = new Client({ name: 'odd-redirect', version: '1' });
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(`${nexus.url}/mcp`)));
      for (let i = 0; i < 3; i++) {
        const result = await client.callTool({ name: 'execute', arguments: { name: 'odd__ok', arguments: {} } });
        expect(firstText(result)).toBe('ok');
      }
      expect(nexus.registry.get('odd')?.state.status).toBe('ready');
    } finally {
      await client.close();
      await nexus.close();
      await redirecting.kill();
    }
  });
});
