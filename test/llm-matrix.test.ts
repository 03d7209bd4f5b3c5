/**
 * Every client protocol to every provider type, streaming and not: the official `openai` and
 * `@anthropic-ai/sdk` clients pointed at one nexus in front of four fixtures, each speaking one
 * vendor's wire format (OpenAI, Anthropic, Gemini, Bedrock through the AWS SDK).
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningNexus } from '../src/server.js';
import {
  ANTHROPIC_WEATHER_TOOL,
  nexusWith,
  readChatStream,
  startVendorFixture,
  WEATHER_TOOL,
  type Vendor,
  type VendorFixture,
} from './helpers/llm.js';

/** A model each fixture answers, by provider type. */
const MODELS: Record<Vendor, string> = {
  openai: 'gpt-fixture',
  anthropic: 'claude-fixture',
  google: 'gemini-fixture',
  bedrock: 'fixture.claude',
};
const VENDORS = Object.keys(MODELS) as Vendor[];

describe('both protocols to every provider type', () => {
  const fixtures = new Map<Vendor, VendorFixture>();
  let nexus: RunningNexus;
  let openai: OpenAI;
  let anthropic: Anthropic;

  beforeAll(async () => {
    for (const vendor of VENDORS) fixtures.set(vendor, await startVendorFixture(vendor));
    const providers = VENDORS.map(
      (vendor) => `
      [llm.providers.${vendor}]
      type = "${vendor}"
      base_url = "${fixtures.get(vendor)!.url}"
      ${vendor === 'bedrock' ? 'region = "eu-west-1"\naccess_key_id = "AKIDFIXTURE"\nsecret_access_key = "s"' : 'api_key = "k"'}
    `,
    );
    nexus = await nexusWith(`[llm.protocols.anthropic]\nenabled = true\n${providers.join('\n')}`);
    openai = new OpenAI({ baseURL: `${nexus.url}/llm/openai/v1`, apiKey: 'unused', maxRetries: 0 });
    anthropic = new Anthropic({ baseURL: `${nexus.url}/llm/anthropic`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(async () => {
    await nexus?.close();
    await Promise.all([...fixtures.values()].map((fixture) => fixture.kill()));
  });

  for (const vendor of VENDORS) {
    const model = `${vendor}/${MODELS[vendor]}`;
    const said = `hello ${vendor}`;

    it(`OpenAI client → ${vendor}`, async () => {
      const reply = await openai.chat.completions.create({ model, messages: [{ role: 'user', content: said }] });
      expect(reply.choices[0]?.message).toMatchObject({ role: 'assistant', content: `echo: ${said}` });
      expect(reply.choices[0]?.finish_reason).toBe('stop');
      expect(reply.model).toBe(model);
      expect(reply.usage?.prompt_tokens).toBeGreaterThan(0);
      expect((await fixtures.get(vendor)!.last()).url).not.toMatch(/stream/);
    });

    it(`OpenAI client → ${vendor}, streaming`, async () => {
      const { text, finish } = await readChatStream(
        await openai.chat.completions.create({ model, messages: [{ role: 'user', content: said }], stream: true }),
      );
      expect(text).toBe(`echo: ${said}`);
      expect(finish).toBe('stop');
    });

    it(`Anthropic client → ${vendor}`, async () => {
      const reply = await anthropic.messages.create({ model, max_tokens: 100, messages: [{ role: 'user', content: said }] });
      expect(reply.content).toEqual([{ type: 'text', text: `echo: ${said}` }]);
      expect(reply.stop_reason).toBe('end_turn');
      expect(reply.model).toBe(model);
      expect(reply.usage.input_tokens).toBeGreaterThan(0);
    });

    it(`Anthropic client → ${vendor}, streaming`, async () => {
      const stream = anthropic.messages.stream({ model, max_tokens: 100, messages: [{ role: 'user', content: said }] });
      const deltas: string[] = [];
      stream.on('text', (text) => deltas.push(text));
      const final = await stream.finalMessage();
      expect(final.content).toEqual([{ type: 'text', text: `echo: ${said}` }]);
      expect(final.stop_reason).toBe('end_turn');
      expect(deltas.join('')).toBe(`echo: ${said}`);
      expect(deltas.length).toBeGreaterThan(1); // streamed in pieces, not as one block
    });
  }

  // Providers whose API is not OpenAI's translate parallel tool calls, and their results, both ways.
  for (const vendor of ['anthropic', 'google', 'bedrock'] as const) {
    const model = `${vendor}/${MODELS[vendor]}`;
    const question = 'the weather in Paris and Rome?';

    it(`parallel tool calls, OpenAI client → ${vendor}, streaming and not`, async () => {
      const request = { model, messages: [{ role: 'user' as const, content: question }], tools: [WEATHER_TOOL] };
      const [whole, streamed] = await Promise.all([
        openai.chat.completions.create(request),
        openai.chat.completions.stream(request).finalChatCompletion(),
      ]);
      for (const answer of [whole, streamed]) {
        const calls = answer.choices[0]?.message.tool_calls as OpenAI.ChatCompletionMessageFunctionToolCall[];
        expect(answer.choices[0]?.finish_reason).toBe('tool_calls');
        expect(calls.map((call) => JSON.parse(call.function.arguments))).toEqual([{ city: 'Paris' }, { city: 'Rome' }]);
        expect(new Set(calls.map((call) => call.id)).size).toBe(2);
      }
      const calls = whole.choices[0]!.message.tool_calls!;
      const next = await openai.chat.completions.create({
        ...request,
        messages: [
          ...request.messages,
          whole.choices[0]!.message,
          ...calls.map((call, i) => ({ role: 'tool' as const, tool_call_id: call.id, content: ['sunny', 'rainy'][i]! })),
        ],
      });
      expect(next.choices[0]?.message.content).toMatch(/^the tool said: .*sunny.* \| .*rainy/);
    });

    it(`parallel tool calls, Anthropic client → ${vendor}, streaming and not`, async () => {
      const request = { model, max_tokens: 100, tools: [ANTHROPIC_WEATHER_TOOL], messages: [{ role: 'user' as const, content: question }] };
      const [whole, streamed] = await Promise.all([anthropic.messages.create(request), anthropic.messages.stream(request).finalMessage()]);
      for (const answer of [whole, streamed]) {
        const uses = answer.content.filter((block) => block.type === 'tool_use');
        expect(answer.stop_reason).toBe('tool_use');
        expect(uses.map((use) => use.input)).toEqual([{ city: 'Paris' }, { city: 'Rome' }]);
        expect(new Set(uses.map((use) => use.id)).size).toBe(2);
      }
      const uses = whole.content.filter((block) => block.type === 'tool_use');
      const next = await anthropic.messages.create({
        ...request,
        messages: [
          ...request.messages,
          { role: 'assistant', content: whole.content },
          {
            role: 'user',
            content: uses.map((use, i) => ({ type: 'tool_result' as const, tool_use_id: use.id, content: ['sunny', 'rainy'][i]! })),
          },
        ],
      });
      expect(next.content[0]).toMatchObject({ type: 'text', text: expect.stringMatching(/^the tool said: .*sunny.* \| .*rainy/) });
    });
  }
});
