/** The config loader: defaults, env expansion, and every load error of SPEC §1. */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../src/config/duration.js';
import { ConfigError, loadConfig } from '../src/config/load.js';
import { servingSomething } from './helpers/nexus.js';

const ENV = { HOME: '/home/test', NEXUS_TEST_TOKEN: 'tok-123', NEXUS_TEST_PORT: '9123' };

async function load(toml: string, env: NodeJS.ProcessEnv = ENV) {
  const dir = await mkdtemp(join(tmpdir(), 'nexus-config-'));
  const file = join(dir, 'nexus.toml');
  await writeFile(file, servingSomething(toml));
  return loadConfig(file, env);
}

async function loadFailure(file: string): Promise<ConfigError> {
  const error = await loadConfig(file, ENV).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

async function loadError(toml: string): Promise<ConfigError> {
  const error = await load(toml).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as ConfigError).message).toContain('nexus.toml');
  return error as ConfigError;
}

describe('defaults', () => {
  it('a file with only a server gives the documented defaults', async () => {
    const config = await load('');
    expect(config.server.listen_address).toBeUndefined();
    expect(config.server.health).toEqual({ enabled: true, path: '/health' });
    expect(config.mcp).toMatchObject({
      enabled: true,
      path: '/mcp',
      enable_structured_content: true,
      servers: {},
      downstream_cache: { max_size: 1000, idle_timeout: 600_000 },
    });
  });

  it('fills in server defaults and tells stdio from remote servers', async () => {
    const config = await load(`
      [mcp.servers.local]
      cmd = ["node", "server.js"]
      [mcp.servers.remote]
      url = "https://example.com/mcp"
    `);
    expect(config.mcp.servers['local']).toMatchObject({ kind: 'stdio', cmd: ['node', 'server.js'], env: {}, stderr: 'null' });
    expect(config.mcp.servers['remote']).toMatchObject({ kind: 'remote', url: 'https://example.com/mcp', headers: {} });
  });

  it('returns a frozen config', async () => {
    const config = await load('[mcp]\npath = "/x"');
    expect(Object.isFrozen(config.mcp)).toBe(true);
  });
});

describe('values', () => {
  it('expands {{ env.X }} in every string, including arrays and tables', async () => {
    const config = await load(`
      [server]
      listen_address = "127.0.0.1:{{ env.NEXUS_TEST_PORT }}"
      [mcp.servers.local]
      cmd = ["node", "{{env.HOME}}/server.js"]
      env = { TOKEN = "{{ env.NEXUS_TEST_TOKEN }}" }
      [mcp.servers.remote]
      url = "https://example.com/mcp"
      auth.token = "{{ env.NEXUS_TEST_TOKEN }}"
    `);
    expect(config.server.listen_address).toEqual({ host: '127.0.0.1', port: 9123 });
    expect(config.mcp.servers['local']).toMatchObject({ cmd: ['node', '/home/test/server.js'], env: { TOKEN: 'tok-123' } });
    expect(config.mcp.servers['remote']).toMatchObject({ auth: { token: 'tok-123' } });
  });

  it('parses durations as strings, sums and whole seconds', async () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('60s')).toBe(60_000);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('soon')).toBeUndefined();
    const config = await load('[mcp.downstream_cache]\nidle_timeout = 90');
    expect(config.mcp.downstream_cache.idle_timeout).toBe(90_000);
  });

  it('accepts static headers as a table or as the original insert rules', async () => {
    const config = await load(`
      [mcp.servers.table]
      url = "http://127.0.0.1:1/mcp"
      headers = { X-One = "1" }
      [mcp.servers.rules]
      url = "http://127.0.0.1:1/mcp"
      [[mcp.servers.rules.headers]]
      rule = "insert"
      name = "X-Two"
      value = "2"
    `);
    expect(config.mcp.servers['table']).toMatchObject({ headers: { 'X-One': '1' } });
    expect(config.mcp.servers['rules']).toMatchObject({ headers: { 'X-Two': '2' } });
  });

  it('parses sizes in bytes, binary and decimal units, and limits with their defaults', async () => {
    const config = await load(`
      [mcp]
      max_result_size = "8MiB"
      [mcp.servers.a]
      cmd = ["a"]
      max_result_size = "1.5 KiB"
      [mcp.servers.b]
      cmd = ["b"]
      max_result_size = 1000
      [mcp.servers.c]
      url = "https://example.com/mcp"
      max_result_size = "10MB"
    `);
    expect(config.mcp.max_result_size).toBe(8 * 2 ** 20);
    expect(['a', 'b', 'c'].map((name) => config.mcp.servers[name]?.max_result_size)).toEqual([1536, 1000, 10_000_000]);
    expect((await load('')).mcp.max_result_size).toBe(32 * 2 ** 20);
    expect((await load('')).server.limits).toEqual({
      max_connections: 1024,
      max_connections_per_ip: 256,
      read_header_timeout: 10_000,
      read_timeout: 60_000,
      idle_timeout: 60_000,
      send_timeout: 30_000,
      max_json_depth: 64,
    });
  });

  it('parses IPv6 listen addresses', async () => {
    const config = await load('[server]\nlisten_address = "[::1]:8080"');
    expect(config.server.listen_address).toEqual({ host: '::1', port: 8080 });
  });
});

describe('load errors name the file, the key path and the problem', () => {
  it('missing file', async () => {
    const error = await loadFailure('/nonexistent/dir/nexus.toml');
    expect(error.message).toBe('/nonexistent/dir/nexus.toml: config file not found');
  });

  it('unreadable file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nexus-config-'));
    const error = await loadFailure(dir);
    expect(error.message).toContain('cannot read config file (EISDIR)');
  });

  it('TOML syntax error, with its line', async () => {
    const error = await loadError('[mcp]\npath = "/mcp"\nenabled = = true\n');
    expect(error.problem).toMatch(/^TOML syntax error at line 3, column \d+/);
  });

  it('unknown key', async () => {
    expect((await loadError('[server]\nlisten_adress = "127.0.0.1:1"')).keyPath).toBe('server.listen_adress');
    const inServer = await loadError('[mcp.servers.x]\ncmd = ["a"]\ncommand = "b"');
    expect(inServer.keyPath).toBe('mcp.servers.x.command');
    expect(inServer.problem).toBe('unknown key');
    expect((await loadError('[nope]\na = 1')).keyPath).toBe('nope');
  });

  it('wrong type', async () => {
    const error = await loadError('[mcp]\nenabled = "yes"');
    expect(error.keyPath).toBe('mcp.enabled');
    expect(error.problem).toBe('wrong type: expected boolean');
  });

  it('missing required key', async () => {
    const error = await loadError('[mcp.servers.x]\nurl = "http://127.0.0.1:1/sse"\nauth = {}');
    expect(error.keyPath).toBe('mcp.servers.x.auth');
  });

  it('bad duration', async () => {
    const error = await loadError('[mcp.downstream_cache]\nidle_timeout = "ten minutes"');
    expect(error.keyPath).toBe('mcp.downstream_cache.idle_timeout');
    expect(error.problem).toContain('bad duration "ten minutes"');
  });

  it('bad size, and limits that contradict each other', async () => {
    const size = await loadError('[mcp]\nmax_result_size = "32 parsecs"');
    expect(size.keyPath).toBe('mcp.max_result_size');
    expect(size.problem).toContain('bad size "32 parsecs"');
    expect((await loadError('[mcp.servers.x]\ncmd = ["a"]\nmax_result_size = 0')).keyPath).toBe('mcp.servers.x.max_result_size');
    const timeouts = await loadError('[server.limits]\nread_header_timeout = "30s"\nread_timeout = "10s"');
    expect(timeouts.keyPath).toBe('server.limits.read_header_timeout');
    expect(timeouts.problem).toContain('must not be longer than read_timeout');
    expect((await loadError('[server.limits]\nmax_json_depth = 0')).keyPath).toBe('server.limits.max_json_depth');
  });

  it('bad URL', async () => {
    const error = await loadError('[mcp.servers.x]\nurl = "not a url"');
    expect(error.keyPath).toBe('mcp.servers.x.url');
    expect(error.problem).toBe('bad URL: not an absolute http(s) URL');
    expect((await loadError('[mcp.servers.x]\nurl = "ftp://example.com/mcp"')).problem).toContain('must be http or https');
  });

  it('refuses credentials written into a URL', async () => {
    const error = await loadError('[mcp.servers.x]\nurl = "https://user:pass@example.com/mcp"');
    expect(error.problem).toBe('bad URL: credentials in URLs are not allowed (use auth.token or headers)');
  });

  it('never echoes a value that may hold a secret from the environment', async () => {
    const error = await loadError('[mcp.servers.x]\nurl = "token-{{ env.NEXUS_TEST_TOKEN }}"');
    expect(error.message).not.toContain('tok-123');
  });

  it('undefined {{ env.X }}', async () => {
    const error = await loadError('[mcp.servers.x]\ncmd = ["run", "{{ env.NEXUS_TEST_UNDEFINED }}"]');
    expect(error.keyPath).toBe('mcp.servers.x.cmd[1]');
    expect(error.problem).toBe('environment variable NEXUS_TEST_UNDEFINED is not defined');
  });

  it('empty cmd', async () => {
    const error = await loadError('[mcp.servers.x]\ncmd = []');
    expect(error.keyPath).toBe('mcp.servers.x.cmd');
    expect(error.problem).toContain('cmd must not be empty');
    expect((await loadError('[mcp.servers.x]\ncmd = [""]')).keyPath).toBe('mcp.servers.x.cmd');
  });

  it('invalid protocol', async () => {
    const error = await loadError('[mcp.servers.x]\nurl = "http://127.0.0.1:1/mcp"\nprotocol = "websocket"');
    expect(error.keyPath).toBe('mcp.servers.x.protocol');
    expect(error.problem).toContain('invalid protocol');
  });

  it('negative or zero limits', async () => {
    const zero = await loadError('[mcp.servers.x]\ncmd = ["a"]\nrate_limits = { limit = 0, interval = "1s" }');
    expect(zero.keyPath).toBe('mcp.servers.x.rate_limits.limit');
    expect(zero.problem).toBe('must be greater than zero');
    const negative = await loadError('[mcp.downstream_cache]\nmax_size = -5');
    expect(negative.keyPath).toBe('mcp.downstream_cache.max_size');
    expect((await loadError('[mcp.downstream_cache]\nidle_timeout = "0s"')).problem).toContain('bad duration');
  });

  it('bad listen address', async () => {
    const error = await loadError('[server]\nlisten_address = "localhost"');
    expect(error.keyPath).toBe('server.listen_address');
    expect(error.problem).toContain('expected HOST:PORT');
  });

  it('server names that cannot be split from their tools', async () => {
    const error = await loadError('[mcp.servers.my__server]\ncmd = ["a"]');
    expect(error.keyPath).toBe('mcp.servers.my__server');
    expect(error.problem).toContain('"__"');
    expect((await loadError('[mcp.servers."my server"]\ncmd = ["a"]')).problem).toContain('letters, digits');
  });

  it('values of the wrong shape get a message saying what fits', async () => {
    const stderr = await loadError('[mcp.servers.x]\ncmd = ["a"]\nstderr = "bogus"');
    expect(stderr.keyPath).toBe('mcp.servers.x.stderr');
    expect(stderr.problem).toBe('stderr must be "null", "inherit", "pipe" or { file = "path" }');
    const headers = await loadError('[mcp.servers.x]\nurl = "http://127.0.0.1:1/mcp"\nheaders = 5');
    expect(headers.problem).toContain('headers must be a table of strings');
    const interval = await loadError('[mcp.downstream_cache]\nidle_timeout = true');
    expect(interval.problem).toBe('wrong type: expected a duration such as "60s"');
  });

  it('a server with neither cmd nor url', async () => {
    const error = await loadError('[mcp.servers.x]\ncwd = "/tmp"');
    expect(error.keyPath).toBe('mcp.servers.x');
    expect(error.problem).toContain('either `cmd` (stdio) or `url` (remote)');
  });

  it('rate-limit intervals must be whole seconds with Redis storage', async () => {
    const error = await loadError(`
      [server.rate_limits]
      storage = { type = "redis", url = "redis://127.0.0.1:6379" }
      global = { limit = 5, interval = "1500ms" }
    `);
    expect(error.keyPath).toBe('server.rate_limits.global.interval');
    expect(error.problem).toBe('with Redis storage, rate-limit intervals must be whole seconds');
    const config = await load('[server.rate_limits]\nglobal = { limit = 5, interval = "1500ms" }');
    expect(config.server.rate_limits).toMatchObject({ enabled: true, global: { limit: 5, interval: 1500 } });
  });
});

describe('client identification and access rules', () => {
  const OAUTH = '[server.oauth]\nurl = "http://127.0.0.1:1/jwks.json"\n';
  const IDENTITY = `[server.client_identification]
enabled = true
client_id.http_header = "x-client-id"
group_id.http_header = "x-group"
[server.client_identification.validation]
group_values = ["support", "dba", "suspended"]
`;

  it('reads identity from claims (dotted paths) or headers, and rules on servers and tools', async () => {
    const config = await load(`${OAUTH}[server.client_identification]
enabled = true
client_id.jwt_claim = "sub"
group_id.jwt_claim = "user.plan"
[server.client_identification.validation]
group_values = ["free", "pro"]
[mcp.servers.db]
cmd = ["db-server"]
allow = ["pro"]
deny = ["free"]
[mcp.servers.db.tools.query]
allow = ["free", "pro"]
[mcp.servers.closed]
cmd = ["closed-server"]
allow = []
`);
    expect(config.server.client_identification).toMatchObject({
      enabled: true,
      client_id: { jwt_claim: 'sub' },
      group_id: { jwt_claim: 'user.plan' },
    });
    expect(config.mcp.servers['db']).toMatchObject({ allow: ['pro'], deny: ['free'], tools: { query: { allow: ['free', 'pro'] } } });
    expect(config.mcp.servers['closed']).toMatchObject({ allow: [] });
  });

  it('takes allow = [] without client identification: it shuts the server for everyone', async () => {
    const config = await load('[mcp.servers.x]\ncmd = ["x"]\nallow = []\n');
    expect(config.mcp.servers['x']?.allow).toEqual([]);
  });

  it.each([
    [
      'a rule naming groups without identification',
      '[mcp.servers.x]\ncmd = ["x"]\nallow = ["support"]\n',
      'mcp.servers.x.allow',
      'need [server.client_identification] enabled, with a group_id',
    ],
    [
      'a tool rule naming groups with identification but no group_id',
      '[server.client_identification]\nenabled = true\nclient_id.http_header = "x-id"\n[mcp.servers.x]\ncmd = ["x"]\n[mcp.servers.x.tools.t]\ndeny = ["support"]\n',
      'mcp.servers.x.tools.t.deny',
      'with a group_id',
    ],
    [
      'a group not in group_values',
      `${IDENTITY}[mcp.servers.x]\ncmd = ["x"]\ndeny = ["admins"]\n`,
      'mcp.servers.x.deny',
      '"admins" is not in server.client_identification.validation.group_values',
    ],
    [
      'a rule naming groups without group_values',
      '[server.client_identification]\nenabled = true\nclient_id.http_header = "x-id"\ngroup_id.http_header = "x-group"\n[mcp.servers.x]\ncmd = ["x"]\nallow = ["a"]\n',
      'server.client_identification.validation.group_values',
      'list the valid groups',
    ],
    [
      'a source that is both or neither',
      '[server.client_identification]\nenabled = true\nclient_id = { jwt_claim = "sub", http_header = "x" }\n',
      'server.client_identification.client_id',
      'expected { jwt_claim',
    ],
    [
      'a credentials header as the client id',
      '[server.client_identification]\nenabled = true\nclient_id.http_header = "Authorization"\n',
      'server.client_identification.client_id.http_header',
      'must not be a credentials header',
    ],
    [
      'an empty group name',
      `${IDENTITY}[mcp.servers.x]\ncmd = ["x"]\nallow = [""]\n`,
      'mcp.servers.x.allow[0]',
      'expected string to have >=1 characters',
    ],
  ])('refuses %s, naming the key', async (_case, toml, path, problem) => {
    const error = await loadError(toml);
    expect(error.message).toContain(`${path}:`);
    expect(error.message).toContain(problem);
  });
});

describe('server names that would make the same qualified names', () => {
  it('refuses `a` beside `a_`, naming both', async () => {
    const error = await loadError('[mcp.servers.a]\ncmd = ["x"]\n[mcp.servers.a_]\ncmd = ["y"]\n');
    expect(error.message).toMatch(/mcp\.servers\.a_: servers 'a' and 'a_' would give tools the same names/);
  });
});
