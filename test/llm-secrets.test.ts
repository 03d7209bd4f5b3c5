/**
 * What LLM providers say is relayed without nexus's secrets: a provider error quoting the key
 * nexus sent, or a stream that breaks with it, reaches the client and the logs redacted; and
 * request bodies nested deeper than max_json_depth are refused before anything else reads them.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RunningNexus } from '../src/server.js';
import { nexusWith, startVendorFixture, type VendorFixture } from './helpers/llm.js';
import { capturedLogger } from './helpers/logs.js';

const OPENAI_KEY = 'sk-openai-fixture-key-4d5e6f';
const ANTHROPIC_KEY = 'sk-ant-fixture-key-7a8b9c';
const logs = capturedLogger('trace');
let openaiFixture: VendorFixture;
let anthropicFixture: VendorFixture;
let nexus: RunningNexus;

beforeAll(async () => {
  [openaiFixture, anthropicFixture] = await Promise.all([startVendorFixture('openai'), startVendorFixture('anthropic')]);
  const toml = `
    [llm.protocols.anthropic]
    enabled = true
    [llm.providers.openai]
    type = "openai"
    api_key = "${OPENAI_KEY}"
    base_url = "${openaiFixture.url}"
    [llm.providers.openai.models.echo-key-error]
    [llm.providers.claude]
    type = "anthropic"
    api_key = "${ANTHROPIC_KEY}"
    base_url = "${anthropicFixture.url}"
    [llm.providers.claude.models.echo-key-stream-error]
  `;
  nexus = await nexusWith(toml, undefined, logs.logger);
});
afterAll(async () => {
  await nexus?.close();
  await Promise.all([openaiFixture?.kill(), anthropicFixture?.kill()]);
});

it('redacts the provider key a provider error quotes', async () => {
  const client = new OpenAI({ baseURL: `${nexus.url}/llm/openai/v1`, apiKey: 'unused', maxRetries: 0 });
  const error = await client.chat.completions
    .create({ model: 'openai/echo-key-error', messages: [{ role: 'user', content: 'hi' }] })
    .catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
  expect((error as Error).message).toContain('Incorrect API key provided: Bearer [redacted]');
  expect((await openaiFixture.last()).headers['authorization']).toBe(`Bearer ${OPENAI_KEY}`); // it was sent
});

it('redacts the key in the reason of a stream that breaks, for the client and in the logs', async () => {
  const client = new Anthropic({ baseURL: `${nexus.url}/llm/anthropic`, apiKey: 'unused', maxRetries: 0 });
  const stream = client.messages.stream({
    model: 'claude/echo-key-stream-error',
    max_tokens: 10,
    messages: [{ role: 'user', content: 'hi' }],
  });
  const error = await stream.finalMessage().catch((caught: unknown) => caught);
  expect(String(error)).toContain('key [redacted] is over its quota');
  expect(logs.text()).toContain('provider stream broke');
  for (const key of [OPENAI_KEY, ANTHROPIC_KEY]) expect(logs.text()).not.toContain(key);
});

it('refuses a body nested deeper than max_json_depth, in the protocol’s shape', async () => {
  const deep = `${'['.repeat(5_000)}${']'.repeat(5_000)}`;
  const response = await fetch(`${nexus.url}/llm/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: `{"model":"openai/echo-key-error","messages":[{"role":"user","content":"hi"}],"metadata":${deep}}`,
  });
  expect(response.status).toBe(400);
  expect(await response.json()).toMatchObject({
    error: { message: 'the request body nests deeper than 64 levels (server.limits.max_json_depth)', type: 'invalid_request_error' },
  });
});
