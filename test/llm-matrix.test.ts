/**
 * Every client protocol to every provider type, streaming and not: the official `openai` and
 * `@anthropic-ai/sdk` clients pointed at one nexus in front of four fixtures, each speaking one
 * vendor's wire format (OpenAI, Anthropic, Gemini, Bedrock through the AWS SDK).
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningNexus } from '../src/server.js';
import { nexusWith, readChatStream, startVendorFixture, type Vendor, type VendorFixture } from './helpers/llm.js';

/** A model each fixture answers, by provider type. */
const MODELS: Record<Vendor, string> = { openai: 'gpt-fixture', anthropic: 'claude-fixture', google: 'gemini-fixture', bedrock: 'fixture.claude' };
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
      const { text, finish } = await readChatStream(await openai.chat.completions.create({ model, messages: [{ role: 'user', content: said }], stream: true }));
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
});
