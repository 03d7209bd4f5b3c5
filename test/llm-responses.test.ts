/**
 * The OpenAI Responses API (`POST {openai path}/v1/responses`, what Codex and the Agents SDK
 * speak), with the official `openai` client: passed through byte for byte to an OpenAI provider
 * (recorded answers in OpenAI's format), translated for an Anthropic one (text, function calls and
 * their outputs, streaming events), and what cannot be translated refused naming the field.
 */
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nexusWith, startVendorFixture, type VendorFixture } from './helpers/llm.js';
import { ROOT } from './helpers/processes.js';
import type { RunningNexus } from '../src/server.js';

let anthropicFixture: VendorFixture;
let openaiFixture: VendorFixture;
let nexus: RunningNexus;
let openai: OpenAI;

beforeAll(async () => {
  [anthropicFixture, openaiFixture] = await Promise.all([startVendorFixture('anthropic'), startVendorFixture('openai')]);
  nexus = await nexusWith(`
[llm.providers.claude]
type = "anthropic"
api_key = "sk-ant-0001"
base_url = "${anthropicFixture.url}"
[llm.providers.claude.models.claude-fixture]
[llm.providers.claude.models.stream-error]
[llm.providers.gpt]
type = "openai"
api_key = "sk-openai-0002"
base_url = "${openaiFixture.url}"
[llm.providers.gpt.models.replay-openai-responses]
`);
  openai = new OpenAI({ baseURL: `${nexus.url}/llm/openai/v1`, apiKey: 'unused', maxRetries: 0 });
});
afterAll(async () => {
  await nexus?.close();
  await Promise.all([anthropicFixture?.kill(), openaiFixture?.kill()]);
});

const replay = (file: string) => readFileSync(`${ROOT}test/fixtures/replay/${file}`, 'utf8');
const WEATHER = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
  strict: true,
};

describe('to an OpenAI provider, passed through', () => {
  it('sends the request byte for byte but for the model, as Codex writes it', async () => {
    const body = `{"model":"gpt/replay-openai-responses","instructions":"You are Codex.","input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"ls"}]},
      {"type":"reasoning","summary":[],"encrypted_content":"gAAAA=="},{"type":"function_call","name":"shell","arguments":"{}","call_id":"c1"},
      {"type":"function_call_output","call_id":"c1","output":"ok"}],"tools":[{"type":"custom","name":"apply_patch","format":{"type":"grammar"}}],
      "tool_choice":"auto","parallel_tool_calls":false,"reasoning":{"effort":"medium","summary":"auto"},"store":false,"stream":false,
      "include":["reasoning.encrypted_content"],"prompt_cache_key":"sess-1"}`;
    const response = await fetch(`${nexus.url}/llm/openai/v1/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(replay('openai-responses.json').replace('"gpt-5-codex"', '"gpt/replay-openai-responses"'));
    const received = await openaiFixture.last();
    expect(received.url).toBe('/v1/responses');
    expect(received.raw).toBe(body.replace('"gpt/replay-openai-responses"', '"replay-openai-responses"'));
  });

  it('streams the events byte for byte but for the model, and the official client reads them', async () => {
    const response = await fetch(`${nexus.url}/llm/openai/v1/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"model":"gpt/replay-openai-responses","input":"ls","stream":true}',
    });
    expect(await response.text()).toBe(replay('openai-responses.sse').replaceAll('"gpt-5-codex"', '"gpt/replay-openai-responses"'));
    const final = await openai.responses.stream({ model: 'gpt/replay-openai-responses', input: 'ls' }).finalResponse();
    expect(final.output_text).toBe('Café listed.');
    expect(final.model).toBe('gpt/replay-openai-responses');
    expect(final.usage?.output_tokens_details.reasoning_tokens).toBe(32);
  });
});

describe('to an Anthropic provider, translated', () => {
  it('answers text, with instructions as the system prompt', async () => {
    const response = await openai.responses.create({
      model: 'claude/claude-fixture',
      instructions: 'Be brief.',
      input: 'hello there',
      max_output_tokens: 50,
    });
    expect(response).toMatchObject({ object: 'response', status: 'completed', model: 'claude/claude-fixture' });
    expect(response.id).toMatch(/^resp_/);
    expect(response.output_text).toBe('echo: hello there');
    expect(response.usage).toMatchObject({ input_tokens: 11, output_tokens: 5, total_tokens: 16 });
    const received = await anthropicFixture.last();
    expect(received.body).toMatchObject({ model: 'claude-fixture', system: 'Be brief.', max_tokens: 50 });
  });

  it('calls functions and takes their outputs back, as an agent loop does', async () => {
    const first = await openai.responses.create({
      model: 'claude/claude-fixture',
      input: 'What is the weather in Oslo?',
      tools: [WEATHER],
    });
    const call = first.output.find((item) => item.type === 'function_call');
    expect(call).toMatchObject({ type: 'function_call', name: 'get_weather', arguments: '{"city":"Oslo"}', status: 'completed' });
    const second = await openai.responses.create({
      model: 'claude/claude-fixture',
      tools: [WEATHER],
      input: [
        { role: 'user', content: 'What is the weather in Oslo?' },
        call as OpenAI.Responses.ResponseFunctionToolCall,
        { type: 'function_call_output', call_id: (call as OpenAI.Responses.ResponseFunctionToolCall).call_id, output: 'sunny, 18 °C' },
      ],
    });
    expect(second.output_text).toBe('the tool said: sunny, 18 °C');
    const sent = (await anthropicFixture.last()).body['messages'] as { role: string; content: { type: string }[] }[];
    expect(sent.map((message) => [message.role, message.content.map((block) => block.type)])).toEqual([
      ['user', ['text']],
      ['assistant', ['tool_use']],
      ['user', ['tool_result']],
    ]);
  });

  it('streams typed events in order, text and function calls, that the official client assembles', async () => {
    const types: string[] = [];
    const stream = openai.responses.stream({ model: 'claude/claude-fixture', input: 'one two three' });
    for await (const event of stream) types.push(event.type);
    const final = await stream.finalResponse();
    expect(final.output_text).toBe('echo: one two three');
    expect(types.slice(0, 4)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
    ]);
    expect(types.slice(-4)).toEqual([
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const tools = openai.responses.stream({ model: 'claude/claude-fixture', input: 'weather in Paris and Rome', tools: [WEATHER] });
    const calls = (await tools.finalResponse()).output.filter((item) => item.type === 'function_call');
    expect(calls.map((item) => (item as OpenAI.Responses.ResponseFunctionToolCall).arguments)).toEqual([
      '{"city":"Paris"}',
      '{"city":"Rome"}',
    ]);
  });

  it('ends a stream that breaks with response.failed for the same response, which the official client hands on', async () => {
    const stream = openai.responses.stream({ model: 'claude/stream-error', input: 'x' });
    const final = await stream.finalResponse();
    expect(final.status).toBe('failed');
    expect(final.error?.message).toBe("the stream from provider 'claude' broke: Overloaded mid-stream");
  });

  it('refuses, naming the field, what has no equivalent there', async () => {
    const refused = async (body: Record<string, unknown>) => {
      const error = await openai.responses
        .create({ model: 'claude/claude-fixture', input: 'x', ...body } as never)
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      return (error as Error).message;
    };
    expect(await refused({ previous_response_id: 'resp_1' })).toMatch(
      /provider 'claude' \(anthropic\): `previous_response_id` needs OpenAI's stored responses/,
    );
    expect(await refused({ tools: [{ type: 'web_search' }] })).toMatch(/tools\[0\]\.type "web_search" has no equivalent/);
    expect(await refused({ input: [{ type: 'item_reference', id: 'x' }] })).toMatch(/input\[0\]\.type "item_reference" has no equivalent/);
  });
});
