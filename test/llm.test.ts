/**
 * LLM routing, OpenAI protocol to OpenAI-type providers: the official `openai` client pointed at
 * nexus, and fixture servers speaking OpenAI's wire format on loopback. Routing by
 * `provider/model` and bare names, rename, model_filter, discovery (and its failure), key
 * forwarding, streaming, and every error mapping.
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
import { startRedis, type TestRedis } from './helpers/redis.js';

const startOpenAiFixture = () => startVendorFixture('openai');
const startAnthropicFixture = () => startVendorFixture('anthropic');

/** The model and key the last request to an OpenAI fixture named. */
async function lastRequest(
  fixture: VendorFixture,
): Promise<{ model: unknown; authorization: string | undefined; headers: Record<string, string> }> {
  const { headers, body } = await fixture.last();
  return { model: body['model'], authorization: headers['authorization'], headers };
}

describe('the OpenAI protocol to OpenAI-type providers', () => {
  let main: VendorFixture;
  let other: VendorFixture;
  let nexus: RunningNexus;
  let client: OpenAI;
  let deadPort: number;

  beforeAll(async () => {
    [main, other] = await Promise.all([startOpenAiFixture(), startOpenAiFixture()]);
    deadPort = await freePort();
    nexus = await nexusWith(
      `
      [llm.providers.main]
      type = "openai"
      api_key = "main-key"
      base_url = "${main.url}"
      model_filter = "^gpt-"
      [llm.providers.main.models.smart]
      rename = "gpt-fixture"
      [llm.providers.main.models.error-429]
      [llm.providers.main.models.error-500]
      [llm.providers.main.models.broken-stream]
      [llm.providers.main.models.not-json]

      [llm.providers.byok]
      type = "openai"
      api_key = "byok-configured-key"
      base_url = "${other.url}"
      forward_token = true

      [llm.providers.dead]
      type = "openai"
      api_key = "k"
      base_url = "http://127.0.0.1:${deadPort}/v1"
      [llm.providers.dead.models.ghost]
    `,
      200,
    );
    client = new OpenAI({ baseURL: `${nexus.url}/llm/openai/v1`, apiKey: 'unused-by-nexus', maxRetries: 0 });
  });

  afterAll(async () => {
    await nexus?.close();
    await Promise.all([main?.kill(), other?.kill()]);
  });

  it('lists configured and discovered models as provider/model, discovered ones through model_filter', async () => {
    const ids = (await client.models.list()).data.map((model) => model.id);
    expect(ids).toEqual(
      expect.arrayContaining(['main/smart', 'main/gpt-fixture', 'main/gpt-other', 'byok/gpt-fixture', 'byok/embed-small', 'dead/ghost']),
    );
    expect(ids).not.toContain('main/embed-small'); // filtered out by ^gpt-
  });

  it('routes provider/model, renames aliases, and resolves bare names through discovery', async () => {
    const direct = await client.chat.completions.create({ model: 'main/gpt-other', messages: [{ role: 'user', content: 'hello' }] });
    expect(direct.choices[0]?.message.content).toBe('echo: hello');
    expect(direct.model).toBe('main/gpt-other');
    expect((await lastRequest(main)).model).toBe('gpt-other');

    const alias = await client.chat.completions.create({ model: 'main/smart', messages: [{ role: 'user', content: 'alias' }] });
    expect(alias.model).toBe('main/smart');
    expect((await lastRequest(main)).model).toBe('gpt-fixture');

    const bare = await client.chat.completions.create({ model: 'gpt-fixture', messages: [{ role: 'user', content: 'bare' }] });
    expect(bare.choices[0]?.message.content).toBe('echo: bare');
    expect((await lastRequest(main)).model).toBe('gpt-fixture'); // the first provider that offers it
    expect(bare.usage).toMatchObject({ prompt_tokens: 7 });
  });

  it('answers an unknown provider or model with 404 model_not_found, and a filtered-out model too', async () => {
    for (const model of ['nobody/gpt-fixture', 'main/gpt-9', 'no-such-model', 'main/embed-small']) {
      const error = await client.chat.completions
        .create({ model, messages: [{ role: 'user', content: 'x' }] })
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(OpenAI.NotFoundError);
      expect((error as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found');
    }
  });

  it('streams in OpenAI’s SSE format, naming the model as the client did, to [DONE]', async () => {
    const stream = await client.chat.completions.create({
      model: 'main/smart',
      messages: [{ role: 'user', content: 'stream me please' }],
      stream: true,
    });
    let text = '';
    const models = new Set<string>();
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      models.add(chunk.model);
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe('echo: stream me please');
    expect([...models]).toEqual(['main/smart']);
    expect(finish).toBe('stop');
  });

  it('reports a stream that breaks midway as an error', async () => {
    const outcome = await streamFailure(
      await client.chat.completions.create({ model: 'main/broken-stream', messages: [{ role: 'user', content: 'a b c' }], stream: true }),
    );
    expect(outcome).toBeInstanceOf(OpenAI.APIError);
    expect(String((outcome as Error).message)).toContain("provider 'main'");
  });

  it('uses the client’s X-Provider-API-Key only where forward_token is on', async () => {
    const own = { headers: { 'X-Provider-API-Key': 'clients-own-key' } };
    await client.chat.completions.create({ model: 'byok/gpt-fixture', messages: [{ role: 'user', content: 'x' }] }, own);
    expect((await lastRequest(other)).authorization).toBe('Bearer clients-own-key');
    await client.chat.completions.create({ model: 'byok/gpt-fixture', messages: [{ role: 'user', content: 'x' }] });
    expect((await lastRequest(other)).authorization).toBe('Bearer byok-configured-key');
    await client.chat.completions.create({ model: 'main/gpt-fixture', messages: [{ role: 'user', content: 'x' }] }, own);
    expect((await lastRequest(main)).authorization).toBe('Bearer main-key');
  });

  it('passes the provider’s errors on with their status, and an unreachable provider is 502', async () => {
    const call = (model: string) =>
      client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] }).catch((error: unknown) => error);
    const limited = await call('main/error-429');
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect((limited as Error).message).toContain('slow down');
    const exploded = await call('main/error-500');
    expect(exploded).toBeInstanceOf(OpenAI.InternalServerError);
    expect((exploded as Error).message).toContain('upstream exploded');
    const garbled = await call('main/not-json');
    expect((garbled as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    const unreachable = await call('dead/ghost');
    expect((unreachable as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect((unreachable as Error).message).toContain("provider 'dead' could not be reached");
  });

  it('refuses a body over 32 MiB (413) and one that is not JSON (415), in OpenAI’s error shape', async () => {
    const url = `${nexus.url}/llm/openai/v1/chat/completions`;
    const big = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'main/smart', pad: 'x'.repeat(33 * 1024 * 1024) }),
    });
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ error: { type: 'invalid_request_error' } });
    const text = await fetch(url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    expect(text.status).toBe(415);
    expect(await text.json()).toMatchObject({ error: { message: expect.stringContaining('application/json') } });
  });

  it('keeps the last good model list while discovery fails', async () => {
    await fetch(main.url.replace(/\/v1$/, '/debug/fail-models'), { method: 'POST', body: JSON.stringify({ on: true }) });
    await new Promise((resolve) => setTimeout(resolve, 600)); // a few refreshes at 200 ms
    const reply = await client.chat.completions.create({ model: 'main/gpt-other', messages: [{ role: 'user', content: 'still here' }] });
    expect(reply.choices[0]?.message.content).toBe('echo: still here');
    await fetch(main.url.replace(/\/v1$/, '/debug/fail-models'), { method: 'POST', body: JSON.stringify({ on: false }) });
  });
});

describe('the OpenAI protocol to an Anthropic provider', () => {
  let anthropic: VendorFixture;
  let nexus: RunningNexus;
  let client: OpenAI;
  const chat = (request: Omit<OpenAI.ChatCompletionCreateParamsNonStreaming, 'model'>, model = 'claude/claude-fixture') =>
    client.chat.completions.create({ model, ...request });
  const upstream = () => anthropic.last();

  beforeAll(async () => {
    anthropic = await startAnthropicFixture();
    nexus = await nexusWith(`
      [llm.providers.claude]
      type = "anthropic"
      api_key = "anthropic-key"
      base_url = "${anthropic.url}"
      [llm.providers.claude.models.overloaded]
      [llm.providers.claude.models.stream-error]
    `);
    client = new OpenAI({ baseURL: `${nexus.url}/llm/openai/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(async () => {
    await nexus?.close();
    await anthropic?.kill();
  });

  it('translates a chat: system prompt, messages, max_tokens, key and version headers; and the answer back', async () => {
    const reply = await chat({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'hello there' },
      ],
      temperature: 0.2,
    });
    expect(reply.choices[0]?.message.content).toBe('echo: hello there');
    expect(reply.choices[0]?.finish_reason).toBe('stop');
    expect(reply.usage).toEqual({ prompt_tokens: 11, completion_tokens: 5, total_tokens: 16 });
    expect(reply.model).toBe('claude/claude-fixture');
    const sent = await upstream();
    expect(sent.body).toMatchObject({
      model: 'claude-fixture',
      system: 'Be brief.',
      max_tokens: 4096,
      temperature: 0.2,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hello there' }] }],
    });
    expect(sent.headers).toMatchObject({ 'x-api-key': 'anthropic-key', 'anthropic-version': '2023-06-01' });
  });

  it('translates tool calls both ways: tools out, tool_use back as tool_calls, tool results out as tool_result', async () => {
    const first = await chat({
      messages: [{ role: 'user', content: 'what is the weather?' }],
      tools: [WEATHER_TOOL],
      tool_choice: 'required',
    });
    const call = first.choices[0]?.message.tool_calls?.[0];
    expect(first.choices[0]?.finish_reason).toBe('tool_calls');
    expect(call).toMatchObject({ id: 'toolu_1', type: 'function', function: { name: 'get_weather' } });
    expect(JSON.parse((call as { function: { arguments: string } }).function.arguments)).toEqual({ city: 'Paris' });
    expect((await upstream()).body).toMatchObject({
      tools: [{ name: 'get_weather', input_schema: { type: 'object' } }],
      tool_choice: { type: 'any' },
    });
    const second = await chat({
      messages: [
        { role: 'user', content: 'what is the weather?' },
        first.choices[0]?.message as OpenAI.ChatCompletionMessageParam,
        { role: 'tool', tool_call_id: 'toolu_1', content: 'sunny, 21 C' },
      ],
      tools: [WEATHER_TOOL],
    });
    expect(second.choices[0]?.message.content).toBe('the tool said: sunny, 21 C');
    const sent = (await upstream()).body as { messages: { role: string; content: { type: string }[] }[] };
    expect(sent.messages.map((message) => message.role)).toEqual(['user', 'assistant', 'user']);
    expect(sent.messages[1]?.content[0]).toMatchObject({ type: 'tool_use', id: 'toolu_1', input: { city: 'Paris' } });
    expect(sent.messages[2]?.content[0]).toMatchObject({ type: 'tool_result', tool_use_id: 'toolu_1' });
  });

  it('passes images as image blocks', async () => {
    await chat({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'what is this' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          ],
        },
      ],
    });
    const sent = (await upstream()).body as { messages: { content: unknown[] }[] };
    expect(sent.messages[0]?.content[1]).toEqual({
      type: 'image',
      source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' },
    });
  });

  it('streams text and tool calls as OpenAI chunks, with the stop reason and usage at the end', async () => {
    const { text, finish } = await readChatStream(
      await client.chat.completions.create({
        model: 'claude/claude-fixture',
        messages: [{ role: 'user', content: 'stream this' }],
        stream: true,
      }),
    );
    expect(text).toBe('echo: stream this');
    expect(finish).toBe('stop');
    const tools = client.chat.completions.stream({
      model: 'claude/claude-fixture',
      messages: [{ role: 'user', content: 'weather please' }],
      tools: [WEATHER_TOOL],
    });
    const final = await tools.finalChatCompletion();
    expect(final.choices[0]?.finish_reason).toBe('tool_calls');
    expect(final.choices[0]?.message.tool_calls?.[0]).toMatchObject({
      id: 'toolu_1',
      function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
    });
  });

  it('maps Anthropic errors to the client’s protocol with their status, before and during a stream', async () => {
    const overloaded = await chat({ messages: [{ role: 'user', content: 'x' }] }, 'claude/overloaded').catch((error: unknown) => error);
    expect((overloaded as InstanceType<typeof OpenAI.APIError>).status).toBe(529);
    expect((overloaded as Error).message).toContain('Overloaded');
    const outcome = await streamFailure(
      await client.chat.completions.create({ model: 'claude/stream-error', messages: [{ role: 'user', content: 'x' }], stream: true }),
    );
    expect(outcome).toBeInstanceOf(OpenAI.APIError);
  });
});

describe('the Anthropic protocol, to Anthropic and OpenAI providers', () => {
  let claudeServer: VendorFixture;
  let gptServer: VendorFixture;
  let nexus: RunningNexus;
  let client: Anthropic;

  beforeAll(async () => {
    claudeServer = await startAnthropicFixture();
    gptServer = await startOpenAiFixture();
    nexus = await nexusWith(`
      [llm.protocols.anthropic]
      enabled = true
      [llm.providers.claude]
      type = "anthropic"
      api_key = "anthropic-key"
      base_url = "${claudeServer.url}"
      [llm.providers.claude.models.overloaded]
      [llm.providers.gpt]
      type = "openai"
      api_key = "openai-key"
      base_url = "${gptServer.url}"
      [llm.providers.gpt.models.error-429]
    `);
    client = new Anthropic({ baseURL: `${nexus.url}/llm/anthropic`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(async () => {
    await nexus?.close();
    await Promise.all([claudeServer?.kill(), gptServer?.kill()]);
  });

  it('lists every provider’s models in Anthropic’s shape', async () => {
    const ids = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids).toEqual(expect.arrayContaining(['claude/claude-fixture', 'gpt/gpt-fixture']));
  });

  for (const model of ['claude/claude-fixture', 'gpt/gpt-fixture']) {
    it(`answers a message through ${model.split('/')[0]}, with usage and stop reason`, async () => {
      const reply = await client.messages.create({
        model,
        max_tokens: 100,
        system: 'Be brief.',
        messages: [{ role: 'user', content: 'hi there' }],
      });
      expect(reply.content).toEqual([{ type: 'text', text: 'echo: hi there' }]);
      expect(reply.stop_reason).toBe('end_turn');
      expect(reply.model).toBe(model);
      expect(reply.usage.input_tokens).toBeGreaterThan(0);
    });

    it(`streams a message through ${model.split('/')[0]} in Anthropic’s events`, async () => {
      const stream = client.messages.stream({ model, max_tokens: 100, messages: [{ role: 'user', content: 'stream it' }] });
      const final = await stream.finalMessage();
      expect(final.content).toEqual([{ type: 'text', text: 'echo: stream it' }]);
      expect(final.stop_reason).toBe('end_turn');
    });
  }

  it('translates tool use both ways, through the common shape and back, streaming and not', async () => {
    const { first, second, streamed } = await anthropicToolRoundTrip(client, 'claude/claude-fixture', 'sunny');
    expect(first.stop_reason).toBe('tool_use');
    expect(first.content[0]).toMatchObject({ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } });
    expect(second.content).toEqual([{ type: 'text', text: 'the tool said: sunny' }]);
    expect(streamed.content[0]).toMatchObject({ type: 'tool_use', name: 'get_weather', input: { city: 'Paris' } });
  });

  it('counts input tokens with a real tokenizer', async () => {
    const short = await client.messages.countTokens({ model: 'gpt/gpt-fixture', messages: [{ role: 'user', content: 'hi' }] });
    const long = await client.messages.countTokens({ model: 'gpt/gpt-fixture', messages: [{ role: 'user', content: 'hi '.repeat(200) }] });
    expect(short.input_tokens).toBeGreaterThan(0);
    expect(long.input_tokens).toBeGreaterThan(short.input_tokens + 150);
  });

  it('words errors in Anthropic’s shape: unknown model 404, a provider’s 429 and 529', async () => {
    const call = (model: string) =>
      client.messages.create({ model, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).catch((error: unknown) => error);
    expect(await call('nobody/model')).toBeInstanceOf(Anthropic.NotFoundError);
    const limited = await call('gpt/error-429');
    expect(limited).toBeInstanceOf(Anthropic.RateLimitError);
    expect((limited as Error).message).toContain('slow down');
    const overloaded = await call('claude/overloaded');
    expect((overloaded as InstanceType<typeof Anthropic.APIError>).status).toBe(529);
    expect((overloaded as Error).message).toContain('Overloaded');
  });
});

describe('a provider that never answers its models API', () => {
  it('does not hold nexus up: discovery gives up (10 s) and configured models are still offered', async () => {
    const { createServer } = await import('node:net');
    const sockets: import('node:net').Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket)); // accepts, never answers
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const nexus = await nexusWith(
        `[llm.providers.mute]\ntype = "openai"\napi_key = "k"\nbase_url = "http://127.0.0.1:${port}/v1"\n[llm.providers.mute.models.known]`,
      );
      const models = (await (await fetch(`${nexus.url}/llm/openai/v1/models`)).json()) as { data: { id: string }[] };
      expect(models.data.map((model) => model.id)).toEqual(['mute/known']);
      await nexus.close();
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  }, 30_000);
});

describe('token rate limits per client', () => {
  let fixture: VendorFixture;
  let redis: TestRedis;
  const config = (storage: string) => `
    [server.client_identification]
    enabled = true
    client_id.http_header = "x-client-id"
    group_id.http_header = "x-group"
    [server.client_identification.validation]
    group_values = ["free", "pro"]
    ${storage}
    [llm.protocols.anthropic]
    enabled = true
    [llm.providers.main]
    type = "openai"
    api_key = "k"
    base_url = "${fixture.url}"
    rate_limits.per_user = { input_token_limit = 60, interval = "60s", groups = { pro = { input_token_limit = 1000, interval = "60s" } } }
    [llm.providers.main.models.gpt-fixture]
    [llm.providers.main.models.gpt-other]
    rate_limits.per_user = { input_token_limit = 20, interval = "60s" }
  `;
  // About 38 input tokens: one fits the free tier's 60, two do not.
  const PROMPT = 'word '.repeat(30);
  const as = (nexus: RunningNexus, id: string, group?: string) =>
    new OpenAI({
      baseURL: `${nexus.url}/llm/openai/v1`,
      apiKey: 'unused',
      maxRetries: 0,
      defaultHeaders: { 'x-client-id': id, ...(group && { 'x-group': group }) },
    });
  const ask = (client: OpenAI, model = 'main/gpt-fixture') =>
    client.chat.completions.create({ model, messages: [{ role: 'user', content: PROMPT }] }).then(
      () => 'ok',
      (error: unknown) => error,
    );

  beforeAll(async () => {
    fixture = await startOpenAiFixture();
    redis = await startRedis();
  });
  afterAll(async () => {
    await fixture?.kill();
    await redis?.kill();
  });

  it('counts input tokens per client before the call: over the limit is 429 with Retry-After, per group and per model', async () => {
    const nexus = await nexusWith(config(''));
    try {
      const free = as(nexus, 'ana', 'free');
      expect(await ask(free)).toBe('ok');
      const refused = await ask(free);
      expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
      expect((refused as InstanceType<typeof OpenAI.RateLimitError>).code).toBe('rate_limit_exceeded');
      expect(Number((refused as InstanceType<typeof OpenAI.RateLimitError>).headers?.get('retry-after'))).toBeGreaterThan(0);
      expect(await ask(as(nexus, 'bo', 'free'))).toBe('ok'); // another client has its own window
      const pro = as(nexus, 'cy', 'pro');
      for (let i = 0; i < 5; i++) expect(await ask(pro)).toBe('ok'); // the pro group's own limit
      expect(await ask(as(nexus, 'dee'), 'main/gpt-other')).toBeInstanceOf(OpenAI.RateLimitError); // the model's 20
      const claude = new Anthropic({
        baseURL: `${nexus.url}/llm/anthropic`,
        apiKey: 'unused',
        maxRetries: 0,
        defaultHeaders: { 'x-client-id': 'ana', 'x-group': 'free' },
      });
      const anthropicRefusal = await claude.messages
        .create({ model: 'main/gpt-fixture', max_tokens: 10, messages: [{ role: 'user', content: PROMPT }] })
        .catch((error: unknown) => error);
      expect(anthropicRefusal).toBeInstanceOf(Anthropic.RateLimitError);
    } finally {
      await nexus.close();
    }
  });

  it('shares the counts between instances through Redis', async () => {
    const storage = `[server.rate_limits.storage]\ntype = "redis"\nurl = "${redis.url}"`;
    const [first, second] = [await nexusWith(config(storage)), await nexusWith(config(storage))];
    try {
      expect(await ask(as(first, 'eve', 'free'))).toBe('ok');
      expect(await ask(as(second, 'eve', 'free'))).toBeInstanceOf(OpenAI.RateLimitError);
    } finally {
      await first.close();
      await second.close();
    }
  });

  it('needs client identification, and groups it knows', () => {
    const limited = '[llm.providers.p]\ntype = "openai"\nrate_limits.per_user = { input_token_limit = 5, interval = "1m" }';
    expect(loadOutcome(limited)).toContain('llm.providers.p.rate_limits.per_user: token limits are per client');
    const identity = '[server.client_identification]\nenabled = true\nclient_id.http_header = "x-id"\n';
    const withGroup = `${identity}[llm.providers.p]\ntype = "openai"\nrate_limits.per_user = { input_token_limit = 5, interval = "1m", groups = { vip = { input_token_limit = 9, interval = "1m" } } }`;
    expect(loadOutcome(withGroup)).toContain('llm.providers.p.rate_limits.per_user.groups.vip: "vip" is not in');
  });
});

describe('header rules', () => {
  it('forward, insert, remove and rename_duplicate headers on the way to the provider, never its credentials', async () => {
    const fixture = await startOpenAiFixture();
    const nexus = await nexusWith(`
      [llm.providers.main]
      type = "openai"
      api_key = "real-key"
      base_url = "${fixture.url}"
      headers = [
        { rule = "forward", name = "x-team", rename = "x-org-team" },
        { rule = "forward", name = "x-region", default = "eu" },
        { rule = "forward", pattern = "^x-trace-" },
        { rule = "insert", name = "x-source", value = "nexus" },
        { rule = "insert", name = "authorization", value = "Bearer stolen" },
        { rule = "insert", name = "x-goog-api-key", value = "forged" },
        { rule = "insert", name = "X-Amz-Security-Token", value = "forged" },
        { rule = "rename_duplicate", name = "x-user", rename = "x-end-user" },
        { rule = "remove", name = "x-trace-secret" },
      ]
      [llm.providers.main.models.gpt-fixture]
    `);
    const client = new OpenAI({ baseURL: `${nexus.url}/llm/openai/v1`, apiKey: 'unused', maxRetries: 0 });
    try {
      const headers = { 'x-team': 'support', 'x-trace-id': 't-1', 'x-trace-secret': 's', 'x-user': 'ana', 'x-other': 'not forwarded' };
      await client.chat.completions.create({ model: 'main/gpt-fixture', messages: [{ role: 'user', content: 'x' }] }, { headers });
      const sent = await lastRequest(fixture);
      expect(sent.headers).toMatchObject({
        'x-org-team': 'support',
        'x-region': 'eu',
        'x-trace-id': 't-1',
        'x-source': 'nexus',
        'x-user': 'ana',
        'x-end-user': 'ana',
      });
      for (const absent of ['x-team', 'x-trace-secret', 'x-other', 'x-goog-api-key', 'x-amz-security-token'])
        expect(sent.headers[absent]).toBeUndefined();
      expect(sent.authorization).toBe('Bearer real-key');
    } finally {
      await nexus.close();
      await fixture.kill();
    }
  });

  it('refuses a forward or remove rule with neither name nor pattern, and a bad pattern', async () => {
    for (const rule of ['{ rule = "forward" }', '{ rule = "remove", pattern = "(" }']) {
      expect(loadOutcome(`[llm.providers.p]\ntype = "openai"\nheaders = [${rule}]`)).toMatch(/test\.toml: llm\.providers\.p\.headers\[0\]/);
    }
  });
});

describe('LLM settings', () => {
  it('puts the LLM routes behind the same guards as /mcp (CSRF here)', async () => {
    const fixture = await startOpenAiFixture();
    const nexus = await nexusWith(
      `[server.csrf]\nenabled = true\n[llm.providers.main]\ntype = "openai"\napi_key = "k"\nbase_url = "${fixture.url}"`,
    );
    try {
      const url = `${nexus.url}/llm/openai/v1/chat/completions`;
      const body = JSON.stringify({ model: 'main/gpt-fixture', messages: [{ role: 'user', content: 'x' }] });
      expect((await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).status).toBe(403);
      const allowed = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-nexus-csrf-protection': '1' },
        body,
      });
      expect(allowed.status).toBe(200);
    } finally {
      await nexus.close();
      await fixture.kill();
    }
  });
});
