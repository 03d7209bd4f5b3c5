/**
 * Names a client chooses (a model, a group, an image's type) looked up in nexus's config and
 * tables: the ones every JavaScript object inherits (`constructor`, `__proto__`, `toString`,
 * `hasOwnProperty`) are names like any other, known only when configured.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningNexus } from '../src/server.js';
import { nexusWith, startVendorFixture, type VendorFixture } from './helpers/llm.js';

const INHERITED = ['constructor', '__proto__', 'toString', 'main/hasOwnProperty', 'main/constructor', 'main/__proto__', 'main/valueOf'];

describe('names a client chooses that every object inherits', () => {
  let openAiServer: VendorFixture;
  let googleServer: VendorFixture;
  let bedrockServer: VendorFixture;
  let nexus: RunningNexus;
  const clients = (client: string, group?: string) => {
    const defaultHeaders = { 'x-client-id': client, ...(group && { 'x-group': group }) };
    return {
      openai: new OpenAI({ baseURL: `${nexus.url}/llm/openai/v1`, apiKey: 'unused', maxRetries: 0, defaultHeaders }),
      anthropic: new Anthropic({ baseURL: `${nexus.url}/llm/anthropic`, apiKey: 'unused', maxRetries: 0, defaultHeaders }),
    };
  };

  beforeAll(async () => {
    [openAiServer, googleServer, bedrockServer] = await Promise.all([
      startVendorFixture('openai'),
      startVendorFixture('google'),
      startVendorFixture('bedrock'),
    ]);
    nexus = await nexusWith(`
      [server.client_identification]
      enabled = true
      client_id.http_header = "x-client-id"
      group_id.http_header = "x-group"
      [server.client_identification.validation]
      group_values = ["pro", "constructor", "toString"]
      [llm.protocols.anthropic]
      enabled = true
      [llm.providers.main]
      type = "openai"
      api_key = "k"
      base_url = "${openAiServer.url}"
      model_filter = "^gpt-fixture$"
      rate_limits.per_user = { input_token_limit = 60, interval = "60s", groups = { pro = { input_token_limit = 1000, interval = "60s" } } }
      [llm.providers.main.models.gpt-fixture]
      [llm.providers.gemini]
      type = "google"
      api_key = "k"
      base_url = "${googleServer.url}"
      [llm.providers.gemini.models.gemini-fixture]
      [llm.providers.aws]
      type = "bedrock"
      region = "eu-west-1"
      api_key = "k"
      base_url = "${bedrockServer.url}"
      [llm.providers.aws.models."fixture.claude"]
    `);
  });
  afterAll(async () => {
    await nexus?.close();
    await Promise.all([openAiServer?.kill(), googleServer?.kill(), bedrockServer?.kill()]);
  });

  it('are no models: 404 model_not_found in both protocols, and nothing reaches a provider', async () => {
    const { openai, anthropic } = clients('ana');
    const sentBefore = (await openAiServer.requests()).length;
    for (const model of INHERITED) {
      const chat = await openai.chat.completions
        .create({ model, messages: [{ role: 'user', content: 'x' }] })
        .catch((error: unknown) => error);
      expect(chat, model).toBeInstanceOf(OpenAI.NotFoundError);
      expect((chat as InstanceType<typeof OpenAI.NotFoundError>).code, model).toBe('model_not_found');
      const message = await anthropic.messages
        .create({ model, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })
        .catch((error: unknown) => error);
      expect(message, model).toBeInstanceOf(Anthropic.NotFoundError);
      const counted = await anthropic.messages
        .countTokens({ model, messages: [{ role: 'user', content: 'x' }] })
        .catch((error: unknown) => error);
      expect(counted, model).toBeInstanceOf(Anthropic.NotFoundError);
    }
    expect((await openAiServer.requests()).length).toBe(sentBefore);
  });

  it('are no groups of a token limit: a client in such a group gets the default limit', async () => {
    // About 38 input tokens: one fits the default 60, two do not.
    const ask = (client: OpenAI) =>
      client.chat.completions.create({ model: 'main/gpt-fixture', messages: [{ role: 'user', content: 'word '.repeat(30) }] }).then(
        () => 'ok',
        (error: unknown) => error,
      );
    for (const group of ['constructor', 'toString']) {
      const { openai } = clients(`member-of-${group}`, group);
      expect(await ask(openai), group).toBe('ok');
      expect(await ask(openai), group).toBeInstanceOf(OpenAI.RateLimitError);
    }
  });

  it('are no image types: a Gemini file of unknown type is sent as JPEG, a Bedrock image of unknown type refused', async () => {
    const { openai } = clients('bo');
    const image = (url: string): OpenAI.ChatCompletionMessageParam => ({
      role: 'user',
      content: [{ type: 'image_url', image_url: { url } }],
    });
    await openai.chat.completions.create({ model: 'gemini/gemini-fixture', messages: [image('https://example.invalid/cat.constructor')] });
    const { body } = await googleServer.last();
    const parts = (body['contents'] as { parts: unknown[] }[])[0]?.parts;
    expect(parts).toEqual([{ fileData: { mimeType: 'image/jpeg', fileUri: 'https://example.invalid/cat.constructor' } }]);
    const refused = await openai.chat.completions
      .create({ model: 'aws/fixture.claude', messages: [image('data:constructor;base64,AAAA')] })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect((refused as Error).message).toContain('PNG, JPEG, GIF or WebP');
  });
});
