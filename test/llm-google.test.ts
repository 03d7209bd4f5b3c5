/**
 * LLM routing to a Google (Gemini API) provider: the official `openai` and `@anthropic-ai/sdk`
 * clients pointed at nexus, and a fixture speaking Gemini's wire format (generateContent,
 * streamGenerateContent?alt=sse, a paged models API) on loopback.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningNexus } from '../src/server.js';
import {
  anthropicToolRoundTrip,
  nexusWith,
  readChatStream,
  startVendorFixture,
  streamFailure,
  WEATHER_TOOL as TOOL,
  type VendorFixture,
} from './helpers/llm.js';

type Json = Record<string, unknown>;

/** With a key Gemini's OpenAPI-subset `parameters` would refuse. */
const WEATHER_TOOL: OpenAI.ChatCompletionFunctionTool = {
  ...TOOL,
  function: { ...TOOL.function, parameters: { ...TOOL.function.parameters, additionalProperties: false } },
};

describe('a Google provider', () => {
  let gemini: VendorFixture;
  let nexus: RunningNexus;
  let openai: OpenAI;
  let anthropic: Anthropic;

  beforeAll(async () => {
    gemini = await startVendorFixture('google');
    nexus = await nexusWith(`
      [llm.protocols.anthropic]
      enabled = true
      [llm.providers.gemini]
      type = "google"
      api_key = "google-key"
      base_url = "${gemini.url}"
      forward_token = true
      [llm.providers.gemini.models.fast]
      rename = "gemini-other"
      [llm.providers.gemini.models.error-429]
      [llm.providers.gemini.models.stream-error]
    `);
    openai = new OpenAI({ baseURL: `${nexus.url}/llm/openai/v1`, apiKey: 'unused', maxRetries: 0 });
    anthropic = new Anthropic({ baseURL: `${nexus.url}/llm/anthropic`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(async () => {
    await nexus?.close();
    await gemini?.kill();
  });

  it('discovers the models that generate content, across pages, without the models/ prefix', async () => {
    const ids = (await openai.models.list()).data.map((model) => model.id);
    expect(ids).toEqual(expect.arrayContaining(['gemini/gemini-fixture', 'gemini/gemini-other', 'gemini/fast']));
    expect(ids).not.toContain('gemini/embedding-fixture');
  });

  it('translates a chat to generateContent: system instruction, contents, generation config, key; and the answer back', async () => {
    const reply = await openai.chat.completions.create({
      model: 'gemini/fast',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'hello' },
        { role: 'user', content: 'hello there' },
      ],
      temperature: 0.3,
      max_tokens: 50,
      stop: 'END',
      seed: 7,
    });
    expect(reply.choices[0]?.message.content).toBe('echo: hello there'); // the thought part is left out
    expect(reply.choices[0]?.finish_reason).toBe('stop');
    expect(reply.usage).toEqual({ prompt_tokens: 13, completion_tokens: 6, total_tokens: 19 });
    expect(reply.model).toBe('gemini/fast');
    const sent = await gemini.last();
    expect(sent.url).toBe('/v1beta/models/gemini-other:generateContent');
    expect(sent.headers['x-goog-api-key']).toBe('google-key');
    expect(sent.body).toEqual({
      systemInstruction: { parts: [{ text: 'Be brief.' }] },
      contents: [
        { role: 'user', parts: [{ text: 'hi' }] },
        { role: 'model', parts: [{ text: 'hello' }] },
        { role: 'user', parts: [{ text: 'hello there' }] },
      ],
      generationConfig: { temperature: 0.3, maxOutputTokens: 50, stopSequences: ['END'], seed: 7 },
    });
  });

  it('translates function calling both ways, keeping Gemini’s thought signature with the call', async () => {
    const first = await openai.chat.completions.create({
      model: 'gemini/gemini-fixture',
      messages: [{ role: 'user', content: 'the weather?' }],
      tools: [WEATHER_TOOL],
      tool_choice: 'required',
    });
    const message = first.choices[0]?.message;
    expect(first.choices[0]?.finish_reason).toBe('tool_calls');
    expect(message?.tool_calls?.[0]).toMatchObject({
      id: expect.stringMatching(/^call_[0-9a-f]{24}$/),
      function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
      extra_content: { google: { thought_signature: 'sig-weather' } },
    });
    expect((await gemini.last()).body).toMatchObject({
      tools: [{ functionDeclarations: [{ name: 'get_weather', parametersJsonSchema: WEATHER_TOOL.function.parameters }] }],
      toolConfig: { functionCallingConfig: { mode: 'ANY' } },
    });
    const second = await openai.chat.completions.create({
      model: 'gemini/gemini-fixture',
      messages: [
        { role: 'user', content: 'the weather?' },
        message as OpenAI.ChatCompletionMessageParam,
        { role: 'tool', tool_call_id: message!.tool_calls![0]!.id, content: '{"sky":"sunny"}' },
      ],
      tools: [WEATHER_TOOL],
    });
    expect(second.choices[0]?.message.content).toBe('the tool said: {"sky":"sunny"}');
    const contents = ((await gemini.last()).body as { contents: Json[] }).contents;
    expect(contents[1]).toEqual({
      role: 'model',
      parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } }, thoughtSignature: 'sig-weather' }],
    });
    expect(contents[2]).toEqual({ role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { sky: 'sunny' } } }] });
    // Every call gets an id of its own.
    const again = await openai.chat.completions.create({
      model: 'gemini/gemini-fixture',
      messages: [{ role: 'user', content: 'the weather?' }],
      tools: [WEATHER_TOOL],
    });
    expect(again.choices[0]?.message.tool_calls?.[0]?.id).not.toBe(message?.tool_calls?.[0]?.id);
  });

  it('passes images as inline data or file data', async () => {
    const content: OpenAI.ChatCompletionContentPart[] = [
      { type: 'text', text: 'compare' },
      { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
      { type: 'image_url', image_url: { url: 'https://example.invalid/cat.webp' } },
    ];
    await openai.chat.completions.create({ model: 'gemini/gemini-fixture', messages: [{ role: 'user', content }] });
    const parts = ((await gemini.last()).body as { contents: { parts: Json[] }[] }).contents[0]?.parts;
    expect(parts?.slice(1)).toEqual([
      { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } },
      { fileData: { mimeType: 'image/webp', fileUri: 'https://example.invalid/cat.webp' } },
    ]);
  });

  it('streams through streamGenerateContent?alt=sse: text, then a function call, each ending with its reason and usage', async () => {
    const stream = await openai.chat.completions.create({
      model: 'gemini/gemini-fixture',
      messages: [{ role: 'user', content: 'stream this please' }],
      stream: true,
    });
    const { text, finish, usage } = await readChatStream(stream);
    expect(text).toBe('echo: stream this please');
    expect(finish).toBe('stop');
    expect(usage).toEqual({ prompt_tokens: 13, completion_tokens: 6, total_tokens: 19 });
    expect((await gemini.last()).url).toBe('/v1beta/models/gemini-fixture:streamGenerateContent?alt=sse');

    const tools = await openai.chat.completions
      .stream({ model: 'gemini/gemini-fixture', messages: [{ role: 'user', content: 'weather?' }], tools: [WEATHER_TOOL] })
      .finalChatCompletion();
    expect(tools.choices[0]?.finish_reason).toBe('tool_calls');
    expect(tools.choices[0]?.message.tool_calls?.[0]).toMatchObject({ function: { name: 'get_weather', arguments: '{"city":"Paris"}' } });
  });

  it('answers Anthropic clients too: tool use round trip, streaming and not', async () => {
    const { first, second, streamed } = await anthropicToolRoundTrip(anthropic, 'gemini/gemini-fixture', 'rain');
    expect(first.stop_reason).toBe('tool_use');
    expect(first.content[0]).toMatchObject({ type: 'tool_use', name: 'get_weather', input: { city: 'Paris' } });
    expect(second.content).toEqual([{ type: 'text', text: 'the tool said: {"content":"rain"}' }]);
    // Anthropic's tool_use has no place for Gemini's thought signature: the turn carries Google's stand-in.
    const contents = ((await gemini.requests()).at(-2)?.body as { contents: { parts: Json[] }[] }).contents;
    expect(contents[1]?.parts[0]).toMatchObject({
      functionCall: { name: 'get_weather' },
      thoughtSignature: 'skip_thought_signature_validator',
    });
    expect(streamed.content[0]).toMatchObject({ type: 'tool_use', name: 'get_weather', input: { city: 'Paris' } });
  });

  it('sends the client’s own key with forward_token', async () => {
    await openai.chat.completions.create(
      { model: 'gemini/gemini-fixture', messages: [{ role: 'user', content: 'x' }] },
      { headers: { 'X-Provider-API-Key': 'clients-key' } },
    );
    expect((await gemini.last()).headers['x-goog-api-key']).toBe('clients-key');
  });

  it('maps Gemini’s errors, before and during a stream, to each protocol', async () => {
    const limited = await openai.chat.completions
      .create({ model: 'gemini/error-429', messages: [{ role: 'user', content: 'x' }] })
      .catch((error: unknown) => error);
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect((limited as Error).message).toContain('Resource has been exhausted');
    const anthropicLimited = await anthropic.messages
      .create({ model: 'gemini/error-429', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })
      .catch((error: unknown) => error);
    expect(anthropicLimited).toBeInstanceOf(Anthropic.RateLimitError);

    const broke = await streamFailure(
      await openai.chat.completions.create({ model: 'gemini/stream-error', messages: [{ role: 'user', content: 'x' }], stream: true }),
    );
    expect(broke).toBeInstanceOf(OpenAI.APIError);
    expect((broke as Error).message).toContain('The model is overloaded');
  });
});
