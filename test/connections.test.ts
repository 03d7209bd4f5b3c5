/**
 * [server.limits] against real sockets: slow clients are ended, and connections are limited
 * overall and per client address, so one client cannot hold every file descriptor.
 */
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningNexus } from '../src/server.js';
import { parse } from 'smol-toml';
import { parseConfig } from '../src/config/load.js';
import { startNexus } from '../src/server.js';
import { capturedLogger } from './helpers/logs.js';
import { connectClient, servingSomething, startTestNexus } from './helpers/nexus.js';
import { bigAnswerRequest, FIXTURE_SERVER } from './helpers/processes.js';

const running: RunningNexus[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  sockets.splice(0).forEach((socket) => socket.destroy());
  await Promise.all(running.splice(0).map((nexus) => nexus.close()));
});

async function nexusWith(limits: string, extra = ''): Promise<{ nexus: RunningNexus; port: number }> {
  const nexus = await startTestNexus(`[server.limits]\n${limits}\n${extra}`);
  running.push(nexus);
  return { nexus, port: Number(new URL(nexus.url).port) };
}

/** A raw connection to nexus from `from` (any 127.x address is this machine), open and idle. */
function open(port: number, from = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress: from });
    sockets.push(socket);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves with how long `socket` stayed open (from now) and what nexus wrote on it. */
function closed(socket: Socket): Promise<{ ms: number; received: string }> {
  const started = performance.now();
  let received = '';
  socket.on('data', (chunk) => (received += String(chunk)));
  socket.on('error', () => undefined);
  return new Promise((resolve) => socket.once('close', () => resolve({ ms: performance.now() - started, received })));
}

/** GET /health from `from`: the status, or the error's code when the connection was refused. */
function health(port: number, from = '127.0.0.1'): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request({ port, host: '127.0.0.1', path: '/health', localAddress: from, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    req.end();
  });
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

describe('slow clients', () => {
  it('are ended when their headers do not arrive in read_header_timeout', async () => {
    const { port } = await nexusWith('read_header_timeout = "300ms"\nread_timeout = "5s"');
    const socket = await open(port);
    const done = closed(socket);
    socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const drip = setInterval(() => socket.writable && socket.write('X-Drip: 1\r\n'), 100);
    const { ms, received } = await done;
    clearInterval(drip);
    expect(ms).toBeLessThan(2_000);
    expect(received).toMatch(/^HTTP\/1.1 408/);
  });

  it('are ended when a body drips in slower than read_timeout allows, and nobody else notices', async () => {
    const { port } = await nexusWith('read_header_timeout = "300ms"\nread_timeout = "800ms"');
    const socket = await open(port);
    const done = closed(socket);
    socket.write('POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
    const drip = setInterval(() => socket.writable && socket.write('1\r\n \r\n'), 200);
    expect(await health(port)).toBe(200);
    const { ms } = await done;
    clearInterval(drip);
    expect(ms).toBeLessThan(3_000);
  });

  it('idle keep-alive connections are closed after idle_timeout', async () => {
    const { port } = await nexusWith('idle_timeout = "300ms"');
    const socket = await open(port);
    const done = closed(socket);
    socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const { ms, received } = await done;
    expect(received).toMatch(/^HTTP\/1.1 200/);
    expect(ms).toBeGreaterThan(250);
    expect(ms).toBeLessThan(2_000);
  });
});

describe('answers a client does not read', () => {
  it('are dropped with the connection after send_timeout, freeing what they held', async () => {
    const { port } = await nexusWith('send_timeout = "1s"', `[mcp.servers.fixture]\ncmd = ["node", "${FIXTURE_SERVER}", "stdio"]`);
    const socket = await open(port);
    const done = closed(socket);
    socket.pause(); // read nothing for a while
    socket.write(bigAnswerRequest(20_000_000));
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    socket.resume();
    // What the kernel buffered arrives, then the end: nexus dropped the rest of the answer.
    const { received } = await done;
    expect(received.length).toBeGreaterThan(0);
    expect(received.length).toBeLessThan(20_000_000);
  });

  it('a client that reads slowly but steadily gets the whole answer', async () => {
    const { port } = await nexusWith('send_timeout = "2s"', `[mcp.servers.fixture]\ncmd = ["node", "${FIXTURE_SERVER}", "stdio"]`);
    const socket = await open(port);
    let received = 0;
    // Pauses of 20 ms after every chunk: the answer drains for seconds after nexus's one write of it,
    // the kernel taking more of it now and then.
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      socket.pause();
      setTimeout(() => socket.resume(), 20);
    });
    socket.write(bigAnswerRequest(20_000_000));
    await expect.poll(() => received, { timeout: 25_000, interval: 100 }).toBeGreaterThan(20_000_000);
    expect(socket.destroyed).toBe(false);
  });

  it('a slow call, with nothing to send yet, is not cut by send_timeout', async () => {
    const { nexus } = await nexusWith('send_timeout = "500ms"', `[mcp.servers.fixture]\ncmd = ["node", "${FIXTURE_SERVER}", "stdio"]`);
    const client = await connectClient(nexus);
    try {
      const result = await client.callTool({ name: 'execute', arguments: { name: 'fixture__wait_for_cancel', arguments: { ms: 1_500 } } });
      expect(JSON.stringify(result)).toContain('waited');
    } finally {
      await client.close();
    }
  });
});

describe('connection limits', () => {
  it('one address gets max_connections_per_ip connections; one more is answered 503; other addresses are served', async () => {
    const { port } = await nexusWith('max_connections_per_ip = 3');
    const held = await Promise.all([open(port), open(port), open(port)]);
    const extra = await open(port);
    const answer = closed(extra);
    extra.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const { received } = await answer;
    expect(received).toMatch(/^HTTP\/1.1 503/);
    expect(received).toContain('too_many_connections');
    expect(await health(port, '127.0.0.2')).toBe(200);
    held[0]?.destroy();
    await settle();
    expect(await health(port)).toBe(200);
  });

  it('a refused connection is closed at once, so one address churning refusals cannot fill max_connections', async () => {
    const { port } = await nexusWith('max_connections = 40\nmax_connections_per_ip = 10');
    await Promise.all(Array.from({ length: 10 }, () => open(port)));
    const { ms } = await closed(await open(port));
    expect(ms).toBeLessThan(500);
    // The same address reopens every refused connection at once, 30 at a time, while another asks for /health.
    let churning = true;
    const churn = async () => {
      while (churning) await closed(await open(port)).catch(() => undefined);
    };
    const attackers = Array.from({ length: 30 }, churn);
    const answers = [];
    for (let i = 0; i < 20; i++) answers.push(await health(port, '127.0.0.2'));
    churning = false;
    await Promise.all(attackers);
    expect(answers).toEqual(Array(20).fill(200));
  });

  it('past max_connections, new connections are closed at once, and a downstream still works', async () => {
    const { nexus, port } = await nexusWith(
      'max_connections = 20\nmax_connections_per_ip = 100',
      `[mcp.servers.fixture]\ncmd = ["node", "${FIXTURE_SERVER}", "stdio"]`,
    );
    // An attacker opens far more slow connections than allowed: nexus keeps at most 20.
    const attempts = await Promise.all(Array.from({ length: 60 }, (_, i) => open(port, `127.0.1.${i + 1}`)));
    const outcomes = await Promise.all(attempts.map((socket) => Promise.race([closed(socket), settle().then(() => 'open')])));
    expect(outcomes.filter((outcome) => outcome === 'open').length).toBe(20);
    // The process still has descriptors for its own work: the stdio server answers.
    const result = await nexus.registry.get('fixture')?.callTool({ name: 'add_numbers', arguments: { a: 2, b: 3 } }, {});
    expect(result?.structuredContent).toEqual({ sum: 5 });
    sockets.splice(0).forEach((socket) => socket.destroy());
    await settle();
    expect(await health(port)).toBe(200);
  });
});

it('warns at start when the open-file limit leaves no room for max_connections', async () => {
  const { logger, text } = capturedLogger('warn');
  const config = parseConfig(parse(servingSomething('[server.limits]\nmax_connections = 100000000')), 'test.toml');
  running.push(await startNexus(config, { logger, listenAddress: { host: '127.0.0.1', port: 0 } }));
  expect(text()).toContain('the open-file limit leaves little room beside server.limits.max_connections');
  const quiet = capturedLogger('warn');
  const plain = parseConfig(parse(servingSomething('')), 'test.toml');
  running.push(await startNexus(plain, { logger: quiet.logger, listenAddress: { host: '127.0.0.1', port: 0 } }));
  expect(quiet.text()).not.toContain('open-file limit');
});
