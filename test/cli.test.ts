/** The built `nexus` binary: flags, env, config errors, health, graceful shutdown, and a hard kill. */
import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  childPids,
  EVERYTHING,
  FIXTURE_SERVER,
  freePort,
  waitForPort,
  isAlive,
  NEXUS_BIN,
  nexusChildren,
  pidsWith,
  spawnNode,
  type Spawned,
} from './helpers/processes.js';
import { servingSomething } from './helpers/nexus.js';

const running: Spawned[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((nexus) => nexus.kill('SIGKILL')));
});

async function writeConfig(toml: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nexus-cli-'));
  const file = join(dir, 'nexus.toml');
  await writeFile(file, servingSomething(toml));
  return file;
}

function nexus(args: string[], env: NodeJS.ProcessEnv = {}): Spawned {
  const spawned = spawnNode([NEXUS_BIN, '--log-style', 'json', ...args], { NEXUS_LOG: 'info', ...env });
  running.push(spawned);
  return spawned;
}

/** Waits until the output contains `text`, or fails with the output so far. */
async function waitForOutput(spawned: Spawned, text: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!spawned.output().includes(text)) {
    if (Date.now() > deadline || spawned.child.exitCode !== null) {
      throw new Error(`did not see ${JSON.stringify(text)}; output:\n${spawned.output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Runs nexus expecting a startup failure; returns its output. */
async function failedRun(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const spawned = nexus(args, env);
  expect(await spawned.exited).toBe(1);
  const output = spawned.output();
  expect(output).not.toMatch(/^\s+at /m); // no stack trace
  return output;
}

describe('startup errors', () => {
  it('a missing config file', async () => {
    const output = await failedRun(['--config', '/nonexistent/nexus.toml']);
    expect(output.trim()).toBe('nexus: /nonexistent/nexus.toml: config file not found');
  });

  it('each config error names file, key path and problem', async () => {
    const cases: [string, string][] = [
      ['[mcp\n', 'TOML syntax error at line 1'],
      ['[server]\nlisten_adress = "127.0.0.1:1"', 'server.listen_adress: unknown key'],
      ['[mcp]\nenabled = 1', 'mcp.enabled: wrong type: expected boolean'],
      ['[mcp.servers.x]\ncmd = []', 'mcp.servers.x.cmd: cmd must not be empty'],
      ['[mcp.servers.x]\nurl = "nope"', 'mcp.servers.x.url: bad URL: not an absolute http(s) URL'],
      ['[mcp.servers.x]\ncmd = ["{{ env.NEXUS_CLI_UNSET }}"]', 'mcp.servers.x.cmd[0]: environment variable NEXUS_CLI_UNSET is not defined'],
    ];
    for (const [toml, expected] of cases) {
      const file = await writeConfig(toml);
      const output = await failedRun(['-c', file]);
      expect(output).toContain(`nexus: ${file}: `);
      expect(output).toContain(expected);
    }
  });

  it('a listen address in use', async () => {
    const blocker = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => blocker.once('listening', resolve));
    const { port } = blocker.address() as { port: number };
    try {
      const file = await writeConfig(`[server]\nlisten_address = "127.0.0.1:${port}"`);
      const output = await failedRun(['-c', file]);
      expect(output).toContain(`server.listen_address: address 127.0.0.1:${port} is already in use`);
    } finally {
      blocker.close();
    }
  });

  it('a bad --listen-address', async () => {
    const file = await writeConfig('');
    const output = await failedRun(['-c', file, '--listen-address', 'nowhere']);
    expect(output).toContain('expected HOST:PORT');
  });

  it('a --listen-address in use is reported against the flag, not the file', async () => {
    const blocker = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => blocker.once('listening', resolve));
    const { port } = blocker.address() as { port: number };
    try {
      const output = await failedRun(['-c', await writeConfig(''), '-l', `127.0.0.1:${port}`]);
      expect(output.trim()).toBe(`nexus: --listen-address: address 127.0.0.1:${port} is already in use`);
    } finally {
      blocker.close();
    }
  });
});

describe('flags and environment', () => {
  it('--version and --help', async () => {
    const version = nexus(['--version']);
    expect(await version.exited).toBe(0);
    expect(version.output().trim()).toMatch(/^\d+\.\d+\.\d+/);
    const help = nexus(['--help']);
    expect(await help.exited).toBe(0);
    for (const flag of ['--config', '--listen-address', '--log', '--log-style', '--version']) {
      expect(help.output()).toContain(flag);
    }
  });

  it('--listen-address beats server.listen_address', async () => {
    const [filePort, flagPort] = [await freePort(), await freePort()];
    const file = await writeConfig(`[server]\nlisten_address = "127.0.0.1:${filePort}"`);
    const spawned = nexus(['-c', file, '-l', `127.0.0.1:${flagPort}`]);
    await waitForOutput(spawned, 'nexus listening');
    expect(spawned.output()).toContain(`"url":"http://127.0.0.1:${flagPort}"`);
    expect((await fetch(`http://127.0.0.1:${flagPort}/health`)).status).toBe(200);
    await expect(fetch(`http://127.0.0.1:${filePort}/health`)).rejects.toThrow();
  });

  it('NEXUS_CONFIG_PATH and NEXUS_LISTEN_ADDRESS work like the flags', async () => {
    const port = await freePort();
    const file = await writeConfig('[server.health]\npath = "/alive"');
    const spawned = nexus([], { NEXUS_CONFIG_PATH: file, NEXUS_LISTEN_ADDRESS: `127.0.0.1:${port}` });
    await waitForOutput(spawned, 'nexus listening');
    expect(await (await fetch(`http://127.0.0.1:${port}/alive`)).json()).toEqual({ status: 'healthy' });
  });

  it('--log off prints nothing', async () => {
    const port = await freePort();
    const file = await writeConfig('');
    const spawned = nexus(['-c', file, '-l', `127.0.0.1:${port}`, '--log', 'off']);
    await waitForPort(port);
    expect(spawned.output()).toBe('');
  });
});

describe('health', () => {
  async function start(toml: string): Promise<number> {
    const port = await freePort();
    const spawned = nexus(['-c', await writeConfig(toml), '-l', `127.0.0.1:${port}`]);
    await waitForOutput(spawned, 'nexus listening');
    return port;
  }

  it('answers 200 {"status":"healthy"} by default', async () => {
    const port = await start('');
    const response = await fetch(`http://127.0.0.1:${port}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'healthy' });
  });

  it('is 404 when disabled', async () => {
    const port = await start('[server.health]\nenabled = false');
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(404);
  });

  it('can listen on an address of its own', async () => {
    const healthPort = await freePort();
    const port = await start(`[server.health]\nlisten = "127.0.0.1:${healthPort}"`);
    expect((await fetch(`http://127.0.0.1:${healthPort}/health`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(404);
  });
});

describe('shutdown', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('%s ends every child process and exits 0', async (signal) => {
    const port = await freePort();
    const file = await writeConfig(`
      [mcp.servers.everything]
      cmd = ["node", "${EVERYTHING}", "stdio"]
      [mcp.servers.fixture]
      cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
    `);
    const spawned = nexus(['-c', file, '-l', `127.0.0.1:${port}`]);
    await waitForOutput(spawned, 'downstreams connected');
    const { servers, watchdog } = await nexusChildren(spawned.child.pid as number);
    expect(servers).toHaveLength(2);
    expect(watchdog).toBeDefined();
    spawned.child.kill(signal);
    expect(await spawned.exited).toBe(0);
    expect(servers.filter(isAlive)).toEqual([]);
    // The watchdog, left with nothing to end, exits with nexus.
    await expect.poll(() => isAlive(watchdog as number)).toBe(false);
  });

  it('ends the whole process tree: wrapped servers and children that ignore SIGTERM, in the group or not', async () => {
    const port = await freePort();
    const file = await writeConfig(`
      [mcp.servers.wrapped]
      cmd = ["sh", "-c", "node ${FIXTURE_SERVER} stdio; true"]
      env = { FIXTURE_STUBBORN_CHILD = "1", FIXTURE_STRAY_CHILD = "1" }
    `);
    const spawned = nexus(['-c', file, '-l', `127.0.0.1:${port}`]);
    await waitForOutput(spawned, 'downstreams connected');
    const tree = async (pid: number): Promise<number[]> => {
      const children = await childPids(pid);
      return [...children, ...(await Promise.all(children.map(tree))).flat()];
    };
    const servers = async () => {
      const { servers } = await nexusChildren(spawned.child.pid as number);
      return [...servers, ...(await Promise.all(servers.map(tree))).flat()];
    };
    let family: number[] = [];
    // sh, the fixture under it, and the fixture's two stubborn children (one in a group of its own).
    await expect.poll(async () => (family = await servers()).length).toBe(4);
    spawned.child.kill('SIGTERM');
    expect(await spawned.exited).toBe(0);
    expect(family.filter(isAlive)).toEqual([]);
  });

  it('SIGKILL: the watchdog ends the servers, even one that ignores stdin EOF and a child that ignores SIGTERM', async () => {
    const port = await freePort();
    const marker = `marker-${randomUUID()}`;
    const file = await writeConfig(`
      [mcp.servers.stubborn]
      cmd = ["node", "${FIXTURE_SERVER}", "stdio", "${marker}"]
      env = { FIXTURE_KEEP_RUNNING = "1", FIXTURE_STUBBORN_CHILD = "1" }
    `);
    const spawned = nexus(['-c', file, '-l', `127.0.0.1:${port}`]);
    try {
      await waitForOutput(spawned, 'downstreams connected');
      // The server and its stubborn child both carry the marker.
      await expect.poll(async () => (await pidsWith(marker)).length).toBe(2);
      const { watchdog } = await nexusChildren(spawned.child.pid as number);
      spawned.child.kill('SIGKILL');
      await spawned.exited;
      // A second to exit on EOF, then SIGTERM, then SIGKILL for the stubborn child 2 s later.
      await expect.poll(() => pidsWith(marker), { timeout: 8_000 }).toEqual([]);
      expect(watchdog).toBeDefined();
      // It may wait out the grace period: a dead server nobody reaps (here, init does not) still
      // counts as a member of its group.
      await expect.poll(() => isAlive(watchdog as number), { timeout: 5_000 }).toBe(false);
    } finally {
      for (const pid of await pidsWith(marker)) process.kill(pid, 'SIGKILL');
    }
  });

  it('shuts down cleanly while a downstream is still starting', async () => {
    const port = await freePort();
    // A child that never answers initialize: nexus must still end it on shutdown.
    const file = await writeConfig(`
      [mcp.servers.silent]
      cmd = ["node", "-e", "setInterval(() => {}, 1000)"]
    `);
    const spawned = nexus(['-c', file, '-l', `127.0.0.1:${port}`]);
    await waitForOutput(spawned, 'nexus listening');
    let children: number[] = [];
    await expect.poll(async () => (children = (await nexusChildren(spawned.child.pid as number)).servers).length).toBe(1);
    spawned.child.kill('SIGTERM');
    expect(await spawned.exited).toBe(0);
    expect(children.filter(isAlive)).toEqual([]);
  });
});

describe('nexus check', () => {
  it('says a valid config is valid, with its warnings, and exits 0', async () => {
    const file = await writeConfig(
      `[server.client_identification]\nenabled = true\nclient_id.http_header = "x-id"\ngroup_id.http_header = "x-group"\n[mcp.servers.x]\ncmd = ["x"]\n`,
    );
    const spawned = nexus(['check', '-c', file]);
    expect(await spawned.exited).toBe(0);
    expect(spawned.output()).toContain(`warning: ${file}: server.client_identification.validation.group_values: not set`);
    expect(spawned.output()).toContain(`${file}: valid (1 warning)`);
  });

  it('lists every problem, not only the first, with its key path, and exits 1 without starting anything', async () => {
    const file = await writeConfig(
      '[server]\nlisten_adress = "127.0.0.1:1"\n[mcp]\nenabled = 1\n[mcp.servers.x]\ncmd = []\n[mcp.servers.y]\ncmd = ["y"]\nallow = ["ops"]\n',
    );
    const spawned = nexus(['check', '-c', file]);
    expect(await spawned.exited).toBe(1);
    const output = spawned.output();
    expect(output).toContain(`error: ${file}: server.listen_adress: unknown key`);
    expect(output).toContain(`error: ${file}: mcp.enabled: wrong type: expected boolean`);
    expect(output).toContain(`error: ${file}: mcp.servers.x.cmd: cmd must not be empty`);
    expect(output).toContain(`${file}: 3 problems`);
    expect(output).not.toMatch(/^\s+at /m);
    // A config that parses: the rules across tables are checked, all of them.
    const rules = await writeConfig('[mcp.servers.y]\ncmd = ["y"]\nallow = ["ops"]\n[mcp.servers.z]\ncmd = ["z"]\ndeny = ["dev"]\n');
    const second = nexus(['check', '-c', rules]);
    expect(await second.exited).toBe(1);
    expect(second.output()).toContain('mcp.servers.y.allow');
    expect(second.output()).toContain('mcp.servers.z.deny');
    const missing = nexus(['check', '-c', '/nonexistent/nexus.toml']);
    expect(await missing.exited).toBe(1);
    expect(missing.output()).toContain('error: /nonexistent/nexus.toml: config file not found');
  });

  it('reads the log style from NEXUS_LOG_STYLE, as the original does', async () => {
    const file = await writeConfig('[server]\nlisten_address = "127.0.0.1:0"\n');
    const spawned = spawnNode([NEXUS_BIN, '-c', file], { NEXUS_LOG: 'info', NEXUS_LOG_STYLE: 'json' });
    running.push(spawned);
    await waitForOutput(spawned, 'nexus listening');
    const line =
      spawned
        .output()
        .split('\n')
        .find((text) => text.includes('nexus listening')) ?? '';
    expect(() => JSON.parse(line)).not.toThrow();
  });
});

describe('nexus check with the config named before it', () => {
  it('checks the file -c names before `check`, not the default', async () => {
    const bad = await writeConfig('[mcp]\nenabled = 1\n');
    const spawned = spawnNode([NEXUS_BIN, '-c', bad, 'check'], {});
    running.push(spawned);
    expect(await spawned.exited).toBe(1);
    expect(spawned.output()).toContain(`error: ${bad}: mcp.enabled: wrong type`);
  });
});
