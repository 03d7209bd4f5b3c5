/** Child processes for tests: free ports, waiting for a port, and killing what we start by pid. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { WATCHDOG_NAME } from '../../src/mcp/downstreams/watchdog.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const FIXTURE_SERVER = `${ROOT}test/fixtures/fixture-server.mjs`;
const LOOPBACK_PRELOAD = `${ROOT}test/fixtures/loopback.mjs`;
export const EVERYTHING = `${ROOT}node_modules/@modelcontextprotocol/server-everything/dist/index.js`;
export const NEXUS_BIN = `${ROOT}dist/cli.js`;

/**
 * A raw HTTP/1.1 request for nexus's MCP endpoint: `execute` of the stdio fixture's big_answer
 * (as `fixture`), for tests that write to a socket themselves and watch how it is answered.
 */
export function bigAnswerRequest(bytes: number): string {
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: { name: 'execute', arguments: { name: 'fixture__big_answer', arguments: { bytes } } },
  });
  return `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`port ${port} did not open within ${timeoutMs} ms`);
}

export interface Spawned {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): Promise<number | string>;
}

export function spawnNode(args: string[], env: NodeJS.ProcessEnv = {}): Spawned {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  return {
    child,
    output: () => output,
    exited,
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** server-everything over SSE or streamable HTTP, bound to 127.0.0.1 on a free port. */
export async function startEverything(mode: 'sse' | 'streamableHttp'): Promise<Spawned & { url: string }> {
  const port = await freePort();
  const spawned = spawnNode(['--import', LOOPBACK_PRELOAD, EVERYTHING, mode], { PORT: String(port) });
  await waitForPort(port);
  return { ...spawned, url: `http://127.0.0.1:${port}/${mode === 'sse' ? 'sse' : 'mcp'}` };
}

/**
 * Our fixture server over streamable HTTP on a free port: stateless with JSON answers (`http`),
 * the same over TLS given FIXTURE_TLS_* env (`https`), or with sessions and SSE (`http-stateful`).
 */
export async function startFixtureHttp(
  env: NodeJS.ProcessEnv = {},
  mode: 'http' | 'https' | 'http-stateful' = 'http',
  port?: number,
): Promise<Spawned & { url: string }> {
  port ??= await freePort();
  const spawned = spawnNode([FIXTURE_SERVER, mode, String(port)], env);
  await waitForPort(port);
  return { ...spawned, url: `${mode === 'https' ? 'https' : 'http'}://127.0.0.1:${port}/mcp` };
}

/**
 * A fixture script of ours started on port 0, so no other process can take its port between our
 * choosing it and its binding it; resolves with the port it reports ("listening on <port>").
 */
export async function startOnOwnPort(script: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 15_000): Promise<Spawned & { port: number }> {
  const spawned = spawnNode([script, '0'], env);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const port = /listening on (\d+)/.exec(spawned.output())?.[1];
    if (port) return { ...spawned, port: Number(port) };
    if (spawned.child.exitCode !== null || Date.now() > deadline) {
      await spawned.kill();
      throw new Error(`${script} did not start: ${spawned.output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Pids of the live children of `pid` (Linux /proc). */
export async function childPids(pid: number): Promise<number[]> {
  const { readdir, readFile } = await import('node:fs/promises');
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid && fields[0] !== 'Z') pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

/**
 * The children of a nexus process: its stdio servers, and the watchdog that ends them should nexus
 * be killed (see src/mcp/downstreams/watchdog.ts), if it has started one.
 */
export async function nexusChildren(pid: number): Promise<{ servers: number[]; watchdog: number | undefined }> {
  const { readFile } = await import('node:fs/promises');
  const servers: number[] = [];
  let watchdog: number | undefined;
  for (const child of await childPids(pid)) {
    const cmdline = await readFile(`/proc/${child}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(WATCHDOG_NAME)) watchdog = child;
    else servers.push(child);
  }
  return { servers, watchdog };
}

/** Whether `pid` is a running process: a zombie (dead, not yet reaped) does not count. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Pids of live processes whose command line contains `marker` (Linux /proc). */
export async function pidsWith(marker: string): Promise<number[]> {
  const { readdir, readFile } = await import('node:fs/promises');
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(marker) && isAlive(Number(entry))) pids.push(Number(entry));
  }
  return pids;
}
