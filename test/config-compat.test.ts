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

const load = (toml: string) => parseConfig(parse(toml), 'nexus.toml');
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
    const { problems } = checkConfig(parse('[server.client_identification]\nclient_id = { source = "http_header", jwt_claim = "sub" }'));
    expect(problems[0]?.[0]).toBe('server.client_identification.client_id');
  });

  it('loads a token claim without [server.oauth], warning that nobody is identified by it', () => {
    const config = load('[server.client_identification]\nenabled = true\nclient_id.jwt_claim = "sub"\n');
    expect(configWarnings(config)).toEqual([
      [
        'server.client_identification.client_id.jwt_claim',
        'reading a token claim needs [server.oauth], which validates the token: without it no caller is identified this way',
      ],
    ]);
  });

  it('loads group_id without group_values when no rule names a group, and takes any group a caller names', async () => {
    const { nexus, logs } = await started(`
      [server.client_identification]
      enabled = true
      client_id.http_header = "x-id"
      group_id.http_header = "x-group"
      [mcp.servers.fixture]
      cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
    `);
    expect(logs()).toContain('not set: any group a caller names is taken as it is');
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
    const { problems } = checkConfig(parse(toml));
    expect(problems).toEqual([[path, expect.stringContaining(problem)]]);
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
      `);
      running.push(nexus);
      const openai = new OpenAI({ baseURL: `${nexus.url}/llm/openai/v1`, apiKey: 'unused', maxRetries: 0 });
      const messages = [{ role: 'user' as const, content: 'hi' }];
      await openai.chat.completions.create({ model: 'o/tuned', messages });
      const tuned = await fixture.last();
      expect([tuned.headers['x-source'], tuned.headers['x-model-only'], tuned.body['max_tokens']]).toEqual(['model', 'yes', 77]);
      await openai.chat.completions.create({ model: 'o/tuned', messages, max_tokens: 5 });
      expect((await fixture.last()).body['max_tokens']).toBe(5);
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
