/**
 * Configs written for the original load here with the same meaning: keys it accepts that we
 * would once refuse, each loaded and, where it changes behaviour, exercised.
 */
import { parse } from 'smol-toml';
import { afterEach, describe, expect, it } from 'vitest';
import { checkConfig, configWarnings, parseConfig } from '../src/config/load.js';
import { startNexus, type RunningNexus } from '../src/server.js';
import { capturedLogger } from './helpers/logs.js';
import { FIXTURE_SERVER } from './helpers/processes.js';
import { nexusWith as llmNexus, startVendorFixture } from './helpers/llm.js';
import OpenAI from 'openai';
import { servingSomething } from './helpers/nexus.js';

const load = (toml: string) => parseConfig(parse(servingSomething(toml)), 'nexus.toml');
const running: RunningNexus[] = [];
afterEach(async () => void (await Promise.all(running.splice(0).map((nexus) => nexus.close()))));

async function started(toml: string, logger = capturedLogger('info')) {
  const nexus = await startNexus(load(toml), { logger: logger.logger, listenAddress: { host: '127.0.0.1', port: 0 } });
  running.push(nexus);
  await nexus.ready;
  return { nexus, logs: logger.text };
}

describe("the original's forms of client identification", () => {
  it('takes `source` or `type` beside jwt_claim / http_header, when they agree with it', () => {
    const config = load(`
      [server.oauth]
      url = "http://127.0.0.1:1/jwks"
      [server.client_identification]
      enabled = true
      client_id = { source = "jwt_claim", jwt_claim = "sub" }
      group_id = { type = "http_header", http_header = "x-group" }
      validation.group_values = ["pro"]
    `);
    expect(config.server.client_identification?.client_id).toEqual({ jwt_claim: 'sub' });
    expect(config.server.client_identification?.group_id).toEqual({ http_header: 'x-group' });
    const { problems } = checkConfig(
      parse(servingSomething('[server.client_identification]\nclient_id = { source = "http_header", jwt_claim = "sub" }')),
    );
    expect(problems[0]?.[0]).toBe('server.client_identification.client_id');
  });

  it('loads a token claim without [server.oauth], warning that nobody is identified by it', () => {
    const config = load('[server.client_identification]\nenabled = true\nclient_id.jwt_claim = "sub"\n');
    expect(configWarnings(config)).toEqual([
      [
        'server.client_identification.client_id.jwt_claim',
        'reading a token claim needs [server.oauth], which validates the token: without it no caller has a client id, and every request is refused (400)',
      ],
    ]);
  });

  it("loads group_id without group_values when no rule names a group, and leaves callers' groups unread", async () => {
    const { nexus, logs } = await started(`
      [server.client_identification]
      enabled = true
      client_id.http_header = "x-id"
      group_id.http_header = "x-group"
      [mcp.servers.fixture]
      cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
    `);
    expect(logs()).toContain("not set: no rule or limit can name a group, so callers' groups are not read");
    const response = await fetch(`${nexus.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'x-id': 'ana', 'x-group': 'whatever' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });
    expect(response.status).toBe(200);
  });
});

describe("the original's forms of stdio servers", () => {
  it('takes stderr = "pipe", logging what the server writes there', async () => {
    const { logs } = await started(`
      [mcp.servers.fixture]
      cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
      env = { FIXTURE_STDERR_LINE = "fixture says hi on stderr" }
      stderr = "pipe"
    `);
    await expect.poll(logs).toContain('"stderr":"fixture says hi on stderr"');
  });
});

describe('what the original refuses, with reason, refused here too', () => {
  it.each([
    [
      'a CORS origin with a path',
      '[server.cors]\nallow_origins = ["https://app.example.com/"]',
      'server.cors.allow_origins[0]',
      'must be an origin',
    ],
    [
      'a CORS origin without a scheme',
      '[server.cors]\nallow_origins = ["app.example.com"]',
      'server.cors.allow_origins[0]',
      'must be an origin',
    ],
    [
      'a CORS method that is not one',
      '[server.cors]\nallow_methods = ["GET POST"]',
      'server.cors.allow_methods[0]',
      'must be an HTTP method',
    ],
    ['a CORS header that is not one', '[server.cors]\nallow_headers = ["x: y"]', 'server.cors.allow_headers[0]', 'valid HTTP header name'],
    [
      'an empty model_filter',
      '[llm.providers.o]\ntype = "openai"\napi_key = "k"\nmodel_filter = ""',
      'llm.providers.o.model_filter',
      'must not be empty',
    ],
    [
      'both LLM protocols on one path',
      '[llm.protocols.openai]\npath = "/llm"\n[llm.protocols.anthropic]\nenabled = true\npath = "/llm"',
      'llm.protocols.anthropic.path',
      'give each protocol its own',
    ],
    ['an LLM protocol on the MCP path', '[llm.protocols.openai]\npath = "/mcp"', 'llm.protocols.openai.path', 'the same path as mcp.path'],
  ])('%s', (_case, toml, path, problem) => {
    const { problems } = checkConfig(parse(servingSomething(toml)));
    expect(problems).toEqual([[path, expect.stringContaining(problem)]]);
  });

  it('a config with nothing to serve: no MCP server and no LLM provider, or only disabled ones', () => {
    const nothing =
      'nothing to serve: configure at least one [mcp.servers.<name>] or [llm.providers.<name>] (or enable [llm.proxy.anthropic])';
    for (const toml of ['', '[server]\nlisten_address = "127.0.0.1:8000"', '[mcp]\nenabled = false\n[mcp.servers.x]\ncmd = ["x"]']) {
      expect(checkConfig(parse(toml)).problems).toEqual([['', nothing]]);
    }
    expect(checkConfig(parse('[mcp.servers.x]\ncmd = ["x"]')).problems).toEqual([]);
  });

  it('says a rule broken in several places once, and no warning about a key that is a problem', () => {
    const toml = `${['a', 'b', 'c'].map((name) => `[mcp.servers.${name}]\ncmd = ["x"]\nallow = ["ops"]\n`).join('')}
      [server.client_identification]\nenabled = true\nclient_id.http_header = "x-id"\ngroup_id.http_header = "x-group"`;
    const { problems, warnings } = checkConfig(parse(toml));
    expect(problems.filter(([path]) => path === 'server.client_identification.validation.group_values')).toHaveLength(3);
    expect(new Set(problems.map(([path, problem]) => `${path} ${problem}`)).size).toBe(problems.length);
    expect(warnings).toEqual([]);
  });

  it('still takes origins with globs, "null", and "*"', () => {
    expect(() => load('[server.cors]\nallow_origins = ["https://*.example.com", "null", "http://localhost:3000"]')).not.toThrow();
    expect(() => load('[server.cors]\nallow_origins = "*"\nallow_methods = ["GET", "POST"]\nallow_headers = ["x-custom"]')).not.toThrow();
  });
});

describe("the original's model tables", () => {
  it("applies a model's header rules after the provider's, and its max_tokens when the request sets none", async () => {
    const fixture = await startVendorFixture('openai');
    try {
      const nexus = await llmNexus(`
        [llm.providers.o]
        type = "openai"
        api_key = "k"
        base_url = "${fixture.url}"
        headers = [{ rule = "insert", name = "x-source", value = "provider" }]
        [llm.providers.o.models.tuned]
        rename = "gpt-tuned"
        max_tokens = 77
        headers = [{ rule = "insert", name = "x-source", value = "model" }, { rule = "insert", name = "x-model-only", value = "yes" }]
        [llm.providers.o.models.plain]
        [llm.providers.o.models.other-team]
        rename = "gpt-tuned"
        headers = [{ rule = "insert", name = "x-source", value = "other team" }]
      `);
      running.push(nexus);
      const openai = new OpenAI({ baseURL: `${nexus.url}/llm/openai/v1`, apiKey: 'unused', maxRetries: 0 });
      const messages = [{ role: 'user' as const, content: 'hi' }];
      await openai.chat.completions.create({ model: 'o/tuned', messages });
      const tuned = await fixture.last();
      expect([tuned.headers['x-source'], tuned.headers['x-model-only'], tuned.body['max_tokens']]).toEqual(['model', 'yes', 77]);
      await openai.chat.completions.create({ model: 'o/tuned', messages, max_tokens: 5 });
      expect((await fixture.last()).body['max_tokens']).toBe(5);
      // Another model with the same provider id has its own rules.
      await openai.chat.completions.create({ model: 'o/other-team', messages });
      expect((await fixture.last()).headers['x-source']).toBe('other team');
      await openai.chat.completions.create({ model: 'o/plain', messages });
      const plain = await fixture.last();
      expect([plain.headers['x-source'], plain.headers['x-model-only'], plain.body['max_tokens']]).toEqual([
        'provider',
        undefined,
        undefined,
      ]);
    } finally {
      await fixture.kill();
    }
  });
});

describe("a config using every table in the original's documented forms", () => {
  it('loads, with the meanings the original gives it', () => {
    const config = load(`
      [server]
      listen_address = "127.0.0.1:8000"

      [server.health]
      enabled = true
      path = "/health"

      [server.cors]
      allow_origins = ["https://app.example.com", "https://*.tools.example.com"]
      allow_methods = ["GET", "POST"]
      allow_headers = ["content-type", "authorization"]
      expose_headers = ["mcp-session-id"]
      allow_credentials = true
      max_age = "1h"

      [server.csrf]
      enabled = true
      header_name = "X-Custom-CSRF"

      [server.oauth]
      url = "https://auth.example.com/.well-known/jwks.json"
      poll_interval = "5m"
      expected_issuer = "https://auth.example.com"
      expected_audience = "nexus"

      [server.oauth.protected_resource]
      resource = "https://nexus.example.com"
      authorization_servers = ["https://auth.example.com"]

      [server.client_identification]
      enabled = true
      client_id = { source = "jwt_claim", jwt_claim = "sub" }
      group_id = { source = "jwt_claim", jwt_claim = "plan" }

      [server.client_identification.validation]
      group_values = ["free", "pro"]

      [server.rate_limits]
      enabled = true
      global = { limit = 1000, interval = "60s" }
      per_ip = { limit = 100, interval = "60s" }

      [server.rate_limits.storage]
      type = "redis"
      url = "redis://localhost:6379/0"

      [mcp]
      enabled = true
      path = "/mcp"
      enable_structured_content = true

      [mcp.downstream_cache]
      max_size = 500
      idle_timeout = "10m"

      [mcp.servers.files]
      cmd = ["npx", "-y", "@modelcontextprotocol/server-filesystem", "/tmp"]
      env = { DEBUG = "1" }
      cwd = "/tmp"
      stderr = "pipe"
      allow = ["pro"]
      rate_limits = { limit = 10, interval = "60s", tools = { write_file = { limit = 1, interval = "60s" } } }

      [mcp.servers.files.tools.delete_file]
      deny = ["free"]

      [mcp.servers.github]
      url = "https://api.githubcopilot.com/mcp/"
      auth.token = "ghp-token"

      [mcp.servers.personal]
      url = "https://mcp.example.com/mcp"
      auth = { type = "forward" }

      [mcp.servers.personal.tls]
      verify_certs = true
      accept_invalid_hostnames = false

      [llm]
      enabled = true

      [llm.protocols.openai]
      enabled = true
      path = "/llm/openai"

      [llm.protocols.anthropic]
      enabled = true
      path = "/llm/anthropic"

      [llm.providers.openai]
      type = "openai"
      api_key = "sk-key"
      model_filter = "^gpt-"

      [[llm.providers.openai.headers]]
      rule = "forward"
      name = "X-Request-Id"

      [llm.providers.openai.models.gpt-4o]
      rename = "gpt-4o-2024-08-06"

      [llm.providers.openai.models.gpt-4o.rate_limits.per_user]
      input_token_limit = 100000
      interval = "60s"
      groups = { pro = { input_token_limit = 500000, interval = "60s" } }

      [llm.providers.claude]
      type = "anthropic"
      api_key = "sk-ant"
      forward_token = true

      [llm.providers.gemini]
      type = "google"
      api_key = "g-key"

      [llm.providers.aws]
      type = "bedrock"
      region = "us-east-1"

      [llm.providers.aws.models.claude-3]
      rename = "anthropic.claude-3-sonnet-20240229-v1:0"
      max_tokens = 4096

      [[llm.providers.aws.models.claude-3.headers]]
      rule = "insert"
      name = "X-Team"
      value = "search"
    `);
    expect(config.server.client_identification?.group_id).toEqual({ jwt_claim: 'plan' });
    expect(config.mcp.servers['files']).toMatchObject({ stderr: 'pipe', allow: ['pro'] });
    expect(config.llm?.providers['aws']?.models['claude-3']).toMatchObject({
      max_tokens: 4096,
      headers: [{ rule: 'insert', name: 'X-Team' }],
    });
    expect(configWarnings(config)).toEqual([]);
  });
});
