/**
 * LLM routing to an Amazon Bedrock provider: the official `openai` and `@anthropic-ai/sdk`
 * clients pointed at nexus, nexus's AWS SDK pointed through `base_url` at a fixture speaking
 * Bedrock's wire format (Converse JSON, ConverseStream as a binary AWS event stream, the
 * foundation-models and inference-profiles listings) on loopback.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningNexus } from '../src/server.js';
import {
  anthropicToolRoundTrip,
  loadOutcome,
  nexusWith,
  readChatStream,
  startVendorFixture,
  streamFailure,
  WEATHER_TOOL,
  type VendorFixture,
} from './helpers/llm.js';
import { freePort } from './helpers/processes.js';

type Json = Record<string, unknown>;

describe('a Bedrock provider', () => {
  let bedrock: VendorFixture;
  let nexus: RunningNexus;
  let openai: OpenAI;
  let anthropic: Anthropic;
  let deadPort: number;

  beforeAll(async () => {
    bedrock = await startVendorFixture('bedrock');
    deadPort = await freePort();
    nexus = await nexusWith(`
      [llm.protocols.anthropic]
      enabled = true

      [llm.providers.aws]
      type = "bedrock"
      region = "eu-west-1"
      access_key_id = "AKIDFIXTURE"
      secret_access_key = "fixture-secret"
      session_token = "fixture-session"
      base_url = "${bedrock.url}"
      forward_token = true
      headers = [{ rule = "forward", name = "x-team" }, { rule = "insert", name = "x-source", value = "nexus" }]
      [llm.providers.aws.models.claude]
      rename = "fixture.claude"
      [llm.providers.aws.models.throttled]
      [llm.providers.aws.models.stream-error]

      [llm.providers.keyed]
      type = "bedrock"
      region = "us-east-1"
      api_key = "bedrock-api-key"
      base_url = "${bedrock.url}"
      [llm.providers.keyed.models."fixture.claude"]

      [llm.providers.down]
      type = "bedrock"
      region = "us-east-1"
      api_key = "k"
      base_url = "http://127.0.0.1:${deadPort}"
      [llm.providers.down.models.ghost]
    `);
    openai = new OpenAI({ baseURL: `${nexus.url}/llm/openai/v1`, apiKey: 'unused', maxRetries: 0 });
    anthropic = new Anthropic({ baseURL: `${nexus.url}/llm/anthropic`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(async () => {
    await nexus?.close();
    await bedrock?.kill();
  });

  it('discovers on-demand text models and inference profiles (across pages)', async () => {
    const ids = (await openai.models.list()).data.map((model) => model.id).filter((id) => id.startsWith('aws/'));
    expect(ids).toEqual(expect.arrayContaining(['aws/fixture.claude', 'aws/eu.fixture.claude', 'aws/us.fixture.claude', 'aws/claude']));
    expect(ids).not.toContain('aws/fixture.provisioned');
    expect(ids).not.toContain('aws/fixture.embed');
  });

  it('translates a chat to Converse, signed with SigV4 for the region, and the answer back', async () => {
    const reply = await openai.chat.completions.create({
      model: 'aws/claude',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'hi' },
        { role: 'user', content: 'hello there' },
      ],
      temperature: 0.5,
      max_tokens: 64,
      stop: ['END'],
    });
    expect(reply.choices[0]?.message.content).toBe('echo: hi hello there');
    expect(reply.choices[0]?.finish_reason).toBe('stop');
    expect(reply.usage).toEqual({ prompt_tokens: 17, completion_tokens: 5, total_tokens: 22 });
    expect(reply.model).toBe('aws/claude');
    const sent = await bedrock.last();
    expect(sent.url).toBe('/model/fixture.claude/converse');
    expect(sent.body).toEqual({
      messages: [{ role: 'user', content: [{ text: 'hi' }, { text: 'hello there' }] }],
      system: [{ text: 'Be brief.' }],
      inferenceConfig: { maxTokens: 64, temperature: 0.5, stopSequences: ['END'] },
    });
    expect(sent.headers['authorization']).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDFIXTURE\/\d{8}\/eu-west-1\/bedrock\/aws4_request, SignedHeaders=/,
    );
    expect(sent.headers['x-amz-security-token']).toBe('fixture-session');
    expect(sent.headers['x-source']).toBe('nexus');
  });

  it('translates tool use both ways for OpenAI clients', async () => {
    const first = await openai.chat.completions.create({
      model: 'aws/claude',
      messages: [{ role: 'user', content: 'weather?' }],
      tools: [WEATHER_TOOL],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    expect(first.choices[0]?.finish_reason).toBe('tool_calls');
    expect(first.choices[0]?.message.tool_calls?.[0]).toMatchObject({
      id: 'tooluse_1',
      function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
    });
    expect((await bedrock.last()).body['toolConfig']).toEqual({
      tools: [
        {
          toolSpec: { name: 'get_weather', description: 'The weather in a city', inputSchema: { json: WEATHER_TOOL.function.parameters } },
        },
      ],
      toolChoice: { tool: { name: 'get_weather' } },
    });
    const second = await openai.chat.completions.create({
      model: 'aws/claude',
      messages: [
        { role: 'user', content: 'weather?' },
        first.choices[0]?.message as OpenAI.ChatCompletionMessageParam,
        { role: 'tool', tool_call_id: 'tooluse_1', content: 'sunny' },
      ],
      tools: [WEATHER_TOOL],
    });
    expect(second.choices[0]?.message.content).toBe('the tool said: sunny');
    const messages = (await bedrock.last()).body['messages'] as Json[];
    expect(messages.slice(1)).toEqual([
      { role: 'assistant', content: [{ toolUse: { toolUseId: 'tooluse_1', name: 'get_weather', input: { city: 'Paris' } } }] },
      { role: 'user', content: [{ toolResult: { toolUseId: 'tooluse_1', content: [{ text: 'sunny' }] } }] },
    ]);
  });

  it('streams from ConverseStream: text and tool calls, with the stop reason and usage at the end', async () => {
    const stream = await openai.chat.completions.create({
      model: 'aws/claude',
      messages: [{ role: 'user', content: 'stream this please' }],
      stream: true,
    });
    const { text, finish, usage } = await readChatStream(stream);
    expect(text).toBe('echo: stream this please');
    expect(finish).toBe('stop');
    expect(usage).toEqual({ prompt_tokens: 17, completion_tokens: 5, total_tokens: 22 });
    expect((await bedrock.last()).url).toBe('/model/fixture.claude/converse-stream');
    const tools = await openai.chat.completions
      .stream({ model: 'aws/claude', messages: [{ role: 'user', content: 'weather?' }], tools: [WEATHER_TOOL] })
      .finalChatCompletion();
    expect(tools.choices[0]?.finish_reason).toBe('tool_calls');
    expect(tools.choices[0]?.message.tool_calls?.[0]).toMatchObject({
      id: 'tooluse_1',
      function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
    });
  });

  it('answers Anthropic clients: tool use round trip, streaming and not', async () => {
    const { first, second, streamed } = await anthropicToolRoundTrip(anthropic, 'aws/claude', 'rain');
    expect(first.stop_reason).toBe('tool_use');
    expect(first.content[0]).toMatchObject({ type: 'tool_use', id: 'tooluse_1', name: 'get_weather', input: { city: 'Paris' } });
    expect(second.content).toEqual([{ type: 'text', text: 'the tool said: rain' }]);
    expect(streamed.content[0]).toMatchObject({ type: 'tool_use', name: 'get_weather', input: { city: 'Paris' } });
  });

  it('sends images as bytes, and refuses image URLs Converse cannot take (400)', async () => {
    await openai.chat.completions.create({
      model: 'aws/claude',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'what is it' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          ],
        },
      ],
    });
    const content = ((await bedrock.last()).body['messages'] as { content: Json[] }[])[0]?.content;
    expect(content?.[1]).toEqual({ image: { format: 'png', source: { bytes: 'iVBORw0KGgo=' } } }); // bytes travel base64 in JSON
    const refused = await openai.chat.completions
      .create({
        model: 'aws/claude',
        messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.invalid/cat.png' } }] }],
      })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect((refused as Error).message).toContain('data: URLs');
  });

  it('uses a Bedrock API key as a bearer token, and the client’s own with forward_token', async () => {
    await openai.chat.completions.create({ model: 'keyed/fixture.claude', messages: [{ role: 'user', content: 'x' }] });
    expect((await bedrock.last()).headers['authorization']).toBe('Bearer bedrock-api-key');
    await openai.chat.completions.create(
      { model: 'aws/claude', messages: [{ role: 'user', content: 'x' }] },
      { headers: { 'X-Provider-API-Key': 'clients-bedrock-key', 'x-team': 'blue' } },
    );
    const sent = await bedrock.last();
    expect(sent.headers['authorization']).toBe('Bearer clients-bedrock-key');
    expect(sent.headers['x-amz-security-token']).toBeUndefined();
    expect(sent.headers['x-team']).toBe('blue');
    // The forwarding provider without a client key signs with its own credentials again.
    await openai.chat.completions.create({ model: 'aws/claude', messages: [{ role: 'user', content: 'x' }] });
    expect((await bedrock.last()).headers['authorization']).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDFIXTURE\//);
  });

  it('sends each client its own forwarded key, one after another and all at once', async () => {
    const ask = (key: string) =>
      openai.chat.completions.create(
        { model: 'aws/claude', messages: [{ role: 'user', content: key }] },
        { headers: { 'X-Provider-API-Key': key } },
      );
    const sentKeys = async (count: number) =>
      (await bedrock.requests())
        .slice(-count)
        .map(
          (request) =>
            `${String((request.body['messages'] as { content: { text: string }[] }[])[0]?.content[0]?.text)} ${request.headers['authorization']}`,
        );
    await ask('alice-key');
    await ask('bob-key');
    expect(await sentKeys(2)).toEqual(['alice-key Bearer alice-key', 'bob-key Bearer bob-key']);
    const keys = Array.from({ length: 8 }, (_, i) => `key-${i}`);
    await Promise.all(keys.map(ask));
    expect((await sentKeys(8)).sort()).toEqual(keys.map((key) => `${key} Bearer ${key}`).sort());
  });

  it('keeps Converse’s rules: blank text and empty turns left out, empty tool results filled, tools of the history declared', async () => {
    await openai.chat.completions.create({
      model: 'aws/claude',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: ' ' },
            { type: 'text', text: 'weather?' },
          ],
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'tooluse_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
        },
        { role: 'tool', tool_call_id: 'tooluse_1', content: '' },
        { role: 'assistant', content: '' },
        { role: 'user', content: 'thanks' },
      ],
    });
    const sent = (await bedrock.last()).body;
    expect(sent['messages']).toEqual([
      { role: 'user', content: [{ text: 'weather?' }] },
      { role: 'assistant', content: [{ toolUse: { toolUseId: 'tooluse_1', name: 'get_weather', input: { city: 'Paris' } } }] },
      { role: 'user', content: [{ toolResult: { toolUseId: 'tooluse_1', content: [{ text: '(no output)' }] } }, { text: 'thanks' }] },
    ]);
    expect(sent['toolConfig']).toEqual({ tools: [{ toolSpec: { name: 'get_weather', inputSchema: { json: { type: 'object' } } } }] });
    // "none" offers no tools of its own.
    await openai.chat.completions.create({
      model: 'aws/claude',
      messages: [{ role: 'user', content: 'weather?' }],
      tools: [WEATHER_TOOL],
      tool_choice: 'none',
    });
    expect((await bedrock.last()).body['toolConfig']).toBeUndefined();
  });

  it('answers a malformed request 400, not as an unreachable provider', async () => {
    const url = `${nexus.url}/llm/openai/v1/chat/completions`;
    for (const body of [
      { model: 'aws/claude' },
      { model: 'aws/claude', messages: [null] },
      { model: 'aws/claude', messages: [{ role: 'user', content: 'x' }], tool_choice: { type: 'function' }, tools: [WEATHER_TOOL] },
    ]) {
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(response.status, JSON.stringify(body)).toBe(400);
    }
  });

  it('maps Bedrock’s errors: throttling is 429 in both protocols, a stream exception breaks the stream, an unreachable endpoint is 502', async () => {
    const throttled = await openai.chat.completions
      .create({ model: 'aws/throttled', messages: [{ role: 'user', content: 'x' }] })
      .catch((error: unknown) => error);
    expect(throttled).toBeInstanceOf(OpenAI.RateLimitError);
    expect((throttled as Error).message).toContain('Too many requests');
    const anthropicThrottled = await anthropic.messages
      .create({ model: 'aws/throttled', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })
      .catch((error: unknown) => error);
    expect(anthropicThrottled).toBeInstanceOf(Anthropic.RateLimitError);

    const broke = await streamFailure(
      await openai.chat.completions.create({ model: 'aws/stream-error', messages: [{ role: 'user', content: 'x' }], stream: true }),
    );
    expect(broke).toBeInstanceOf(OpenAI.APIError);
    expect((broke as Error).message).toContain('The model stream failed');

    const unreachable = await openai.chat.completions
      .create({ model: 'down/ghost', messages: [{ role: 'user', content: 'x' }] })
      .catch((error: unknown) => error);
    expect((unreachable as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
  });
});

describe('Bedrock settings', () => {
  it('refuses AWS keys on other providers, and half a key pair, naming the key', () => {
    expect(loadOutcome('[llm.providers.p]\ntype = "openai"\nregion = "eu-west-1"')).toMatch(
      /llm\.providers\.p\.region: region is for bedrock providers only/,
    );
    expect(loadOutcome('[llm.providers.p]\ntype = "bedrock"\naccess_key_id = "AKID"')).toMatch(
      /llm\.providers\.p\.secret_access_key: access_key_id and secret_access_key go together/,
    );
    expect(loadOutcome('[llm.providers.p]\ntype = "bedrock"\nsession_token = "t"')).toMatch(
      /llm\.providers\.p\.session_token: session_token needs/,
    );
    expect(loadOutcome('[llm.providers.p]\ntype = "bedrock"\nregion = "eu-west-1"\nprofile = "dev"')).toBe('loaded');
  });
});
