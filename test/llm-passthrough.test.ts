/**
 * Same-vendor routes pass through, losslessly (issue 20): what a client sends an Anthropic or
 * OpenAI provider through nexus reaches it byte for byte but for the model name (and the
 * credential), with the client's `anthropic-version` and `anthropic-beta`; what the provider
 * answers reaches the client the same way. Recorded answers in each vendor's documented format
 * (test/fixtures/replay/) are compared byte for byte.
 */
import { readFileSync } from 'node:fs';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nexusWith, startVendorFixture, type VendorFixture } from './helpers/llm.js';
import { ROOT } from './helpers/processes.js';
import type { RunningNexus } from '../src/server.js';

let anthropicFixture: VendorFixture;
let openaiFixture: VendorFixture;
let nexus: RunningNexus;

beforeAll(async () => {
  [anthropicFixture, openaiFixture] = await Promise.all([startVendorFixture('anthropic'), startVendorFixture('openai')]);
  nexus = await nexusWith(`
[llm.protocols.anthropic]
enabled = true
[llm.providers.claude]
type = "anthropic"
api_key = "sk-ant-configured-0001"
base_url = "${anthropicFixture.url}"
[llm.providers.claude.models.claude-fixture]
[llm.providers.claude.models.replay-anthropic-thinking]
[llm.providers.claude.models.overloaded]
[llm.providers.strict]
type = "anthropic"
api_key = "sk-ant-configured-0001"
base_url = "${anthropicFixture.url}"
headers = [{ rule = "remove", name = "anthropic-beta" }, { rule = "insert", name = "anthropic-version", value = "2023-06-01" }]
[llm.providers.strict.models.claude-fixture]
[llm.providers.gpt]
type = "openai"
api_key = "sk-openai-configured-0002"
base_url = "${openaiFixture.url}"
[llm.providers.gpt.models.gpt-fixture]
[llm.providers.gpt.models.replay-openai-chat]
[llm.providers.gpt.models.replay-openai-separators]
[llm.providers.gpt.models.capped]
rename = "gpt-fixture"
max_tokens = 77
`);
});
afterAll(async () => {
  await nexus?.close();
  await Promise.all([anthropicFixture?.kill(), openaiFixture?.kill()]);
});

const replay = (file: string) => readFileSync(`${ROOT}test/fixtures/replay/${file}`, 'utf8');

async function post(path: string, body: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${nexus.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
}

describe('Anthropic messages to an Anthropic provider', () => {
  it('reach it byte for byte but for the model, with the client’s version and betas and nexus’s key', async () => {
    // What nexus's common shape does not model, written in a form JSON.stringify would not give.
    const body = `{ "model" : "claude/claude-fixture",
      "max_tokens": 1024, "temperature": 1.0,
      "thinking": {"type": "enabled", "budget_tokens": 2048},
      "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
      "tools": [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}, "defer_loading": true},
                {"type": "tool_search_tool_regex_20251119", "name": "tool_search"}],
      "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
      "messages": [
        {"role": "user", "content": "caf\\u00e9?"},
        {"role": "assistant", "content": [
          {"type": "thinking", "thinking": "hm", "signature": "EqQBCkYIBxgCKkB"},
          {"type": "tool_use", "id": "toolu_1", "name": "tool_search", "input": {"query": "weather"}}]},
        {"role": "user", "content": [
          {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "tool_reference", "tool_name": "get_weather"}]},
          {"type": "text", "text": "go on"}]}],
      "future_field": [1e3, 0.50] }`;
    const betas = 'advanced-tool-use-2025-11-20,context-management-2025-06-27,interleaved-thinking-2025-05-14';
    const response = await post('/llm/anthropic/v1/messages', body, {
      'anthropic-version': '2023-06-01',
      'anthropic-beta': betas,
      'x-api-key': 'the-client-sends-its-own',
    });
    expect(response.status).toBe(200);
    const received = await anthropicFixture.last();
    expect(received.raw).toBe(body.replace('"claude/claude-fixture"', '"claude-fixture"'));
    expect(received.headers['anthropic-beta']).toBe(betas);
    expect(received.headers['anthropic-version']).toBe('2023-06-01');
    expect(received.headers['x-api-key']).toBe('sk-ant-configured-0001');
  });

  it('answer byte for byte but for the model: a whole message with thinking, server tools, citations and cache usage', async () => {
    const response = await post('/llm/anthropic/v1/messages', '{"model":"claude/replay-anthropic-thinking","max_tokens":50,"messages":[]}');
    expect(response.status).toBe(200);
    expect(response.headers.get('request-id')).toBe('req_anthropic-thinking');
    expect(await response.text()).toBe(
      replay('anthropic-thinking.json').replace('"model":"claude-sonnet-4-5"', '"model":"claude/replay-anthropic-thinking"'),
    );
  });

  it('stream byte for byte but for the model, and the official client reads thinking, signatures and tool calls', async () => {
    const response = await post(
      '/llm/anthropic/v1/messages',
      '{"model":"claude/replay-anthropic-thinking","max_tokens":50,"stream":true,"messages":[]}',
    );
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    expect(await response.text()).toBe(
      replay('anthropic-thinking.sse').replace('"model":"claude-sonnet-4-5"', '"model":"claude/replay-anthropic-thinking"'),
    );
    const client = new Anthropic({ baseURL: `${nexus.url}/llm/anthropic`, apiKey: 'unused', maxRetries: 0 });
    const message = await client.beta.messages
      .stream({ model: 'claude/replay-anthropic-thinking', max_tokens: 50, messages: [], betas: ['interleaved-thinking-2025-05-14'] })
      .finalMessage();
    expect(message.model).toBe('claude/replay-anthropic-thinking');
    expect(message.content.map((block) => block.type)).toEqual(['thinking', 'text', 'tool_use']);
    expect(message.content[0]).toMatchObject({
      thinking: 'Let me think about the café question.',
      signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds',
    });
    expect(message.usage).toMatchObject({ output_tokens: 89, cache_read_input_tokens: 2048 });
    expect((await anthropicFixture.last()).headers['anthropic-beta']).toBe('interleaved-thinking-2025-05-14');
  });

  it('leave header rules the last word on the client’s betas and version (a beta may cost more)', async () => {
    const body = '{"model":"strict/claude-fixture","max_tokens":5,"messages":[{"role":"user","content":"x"}]}';
    await post('/llm/anthropic/v1/messages', body, { 'anthropic-beta': 'context-1m-2025-08-07', 'anthropic-version': '2099-01-01' });
    const received = await anthropicFixture.last();
    expect(received.headers['anthropic-beta']).toBeUndefined();
    expect(received.headers['anthropic-version']).toBe('2023-06-01');
  });

  it('pass a provider’s error on as it said it', async () => {
    const response = await post(
      '/llm/anthropic/v1/messages',
      '{"model":"claude/overloaded","max_tokens":5,"messages":[{"role":"user","content":"x"}]}',
    );
    expect(response.status).toBe(529);
    expect(await response.text()).toBe('{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}');
  });

  it('count tokens with the provider, exactly, and the client’s betas', async () => {
    const client = new Anthropic({ baseURL: `${nexus.url}/llm/anthropic`, apiKey: 'unused', maxRetries: 0 });
    const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'one two three' }];
    const counted = await client.messages.countTokens({ model: 'claude/claude-fixture', messages });
    // The fixture's own count (its words, plus 100): nexus's estimate would differ.
    expect(counted.input_tokens).toBe(JSON.stringify(messages).split(/\s+/).length + 100);
    const response = await post('/llm/anthropic/v1/messages/count_tokens', '{"model":"claude/claude-fixture","messages":[]}', {
      'anthropic-beta': 'token-counting-2024-11-01',
    });
    expect(await response.json()).toEqual({ input_tokens: 101 });
    const received = await anthropicFixture.last();
    expect(received.url).toBe('/v1/messages/count_tokens');
    expect(received.raw).toBe('{"model":"claude-fixture","messages":[]}');
    expect(received.headers['anthropic-beta']).toBe('token-counting-2024-11-01');
  });
});

describe('OpenAI chat completions to an OpenAI provider', () => {
  it('reach it byte for byte but for the model, unknown and new fields included', async () => {
    const body = `{"messages":[{"role":"developer","content":"caf\\u00e9"},{"role":"user","content":"hi"}],
      "model":"gpt/gpt-fixture","reasoning_effort":"minimal","verbosity":"low","prompt_cache_key":"k1",
      "web_search_options":{},"store":false,"metadata":{"a":"b"},"some_future_field":{"x":[1.50,2e-3]}}`;
    expect((await post('/llm/openai/v1/chat/completions', body)).status).toBe(200);
    const received = await openaiFixture.last();
    expect(received.raw).toBe(body.replace('"gpt/gpt-fixture"', '"gpt-fixture"'));
    expect(received.headers['authorization']).toBe('Bearer sk-openai-configured-0002');
  });

  it('get a model’s configured max_tokens when they set none, and only then', async () => {
    await post('/llm/openai/v1/chat/completions', '{"model":"gpt/capped","messages":[{"role":"user","content":"hi"}]}');
    expect((await openaiFixture.last()).raw).toBe('{"max_tokens":77,"model":"gpt-fixture","messages":[{"role":"user","content":"hi"}]}');
    await post(
      '/llm/openai/v1/chat/completions',
      '{"model":"gpt/capped","max_completion_tokens":5,"messages":[{"role":"user","content":"hi"}]}',
    );
    expect((await openaiFixture.last()).body['max_tokens']).toBeUndefined();
  });

  it('answer and stream byte for byte but for the model, and the official client reads them', async () => {
    const whole = await post('/llm/openai/v1/chat/completions', '{"model":"gpt/replay-openai-chat","messages":[]}');
    expect(await whole.text()).toBe(replay('openai-chat.json').replace('"gpt-4.1-2025-04-14"', '"gpt/replay-openai-chat"'));
    const streamed = await post('/llm/openai/v1/chat/completions', '{"model":"gpt/replay-openai-chat","stream":true,"messages":[]}');
    expect(await streamed.text()).toBe(replay('openai-chat.sse').replaceAll('"gpt-4.1-2025-04-14"', '"gpt/replay-openai-chat"'));
    const openai = new OpenAI({ baseURL: `${nexus.url}/llm/openai/v1`, apiKey: 'unused', maxRetries: 0 });
    const stream = await openai.chat.completions.create({ model: 'gpt/replay-openai-chat', messages: [], stream: true });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      usage = chunk.usage ?? usage;
      expect(chunk.model).toBe('gpt/replay-openai-chat');
    }
    expect(text).toBe('Bonjour, ça va ?');
    expect(usage?.completion_tokens_details?.reasoning_tokens).toBe(0);
  });

  it('send one model however often a body names it (no second name slips past routing)', async () => {
    const response = await post(
      '/llm/openai/v1/chat/completions',
      '{"model":"gpt/gpt-fixture","messages":[],"model":"gpt/replay-openai-chat"}',
    );
    // JSON's last value names the model nexus routes by; every occurrence is replaced with it.
    expect(response.status).toBe(200);
    expect((await openaiFixture.last()).raw).toBe('{"model":"replay-openai-chat","messages":[],"model":"replay-openai-chat"}');
  });
});

describe('stream events renamed, and nothing else changed', () => {
  it('keeps events whose text holds U+2028 or U+2029, or whose data spans several lines, intact', async () => {
    const streamed = await post('/llm/openai/v1/chat/completions', '{"model":"gpt/replay-openai-separators","stream":true,"messages":[]}');
    expect(await streamed.text()).toBe(replay('openai-separators.sse').replaceAll('"gpt-4.1"', '"gpt/replay-openai-separators"'));
  });
});

describe('Anthropic messages to a provider of another API', () => {
  it('are refused, naming the field, when they use what only Anthropic can do; hints and thinking are no obstacle', async () => {
    const refused = async (extra: Record<string, unknown>) => {
      const body = { model: 'gpt/gpt-fixture', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }], ...extra };
      const response = await post('/llm/anthropic/v1/messages', JSON.stringify(body));
      return { status: response.status, body: (await response.json()) as { error?: { message?: string } } };
    };
    const serverTool = await refused({
      tools: [
        { name: 'f', input_schema: { type: 'object' } },
        { type: 'web_search_20250305', name: 'web_search' },
      ],
    });
    expect(serverTool.status).toBe(400);
    expect(serverTool.body.error?.message).toBe(
      `the request cannot be sent to provider 'gpt' (openai): tools[1].type "web_search_20250305" (a server tool) has no equivalent there`,
    );
    const reference = await refused({
      messages: [
        { role: 'user', content: 'find a tool' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'tool_search', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: [{ type: 'tool_reference', tool_name: 'x' }] }] },
      ],
    });
    expect(reference.body.error?.message).toMatch(
      /messages\[2\]\.content\[0\]\.content\[0\]\.type "tool_reference" has no equivalent there/,
    );
    // What changes nothing of the answer goes: cache_control, defer_loading, earlier thinking.
    const hints = await refused({
      system: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }],
      tools: [{ name: 'f', input_schema: { type: 'object' }, defer_loading: true, cache_control: { type: 'ephemeral' } }],
      messages: [
        { role: 'user', content: 'hi' },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'hm', signature: 'sig' },
            { type: 'text', text: 'hello' },
          ],
        },
        { role: 'user', content: [{ type: 'text', text: 'again', cache_control: { type: 'ephemeral' } }] },
      ],
    });
    expect(hints.status).toBe(200);
  });
});
