/**
 * What nexus sends a provider and how it reads the answer: header rules never set encoding or
 * framing headers; answers that come compressed anyway are decoded, whole and streamed; an answer,
 * or one event of a stream, over 32 MiB is refused in the client's protocol without being held
 * whole. The official `openai` and `@anthropic-ai/sdk` clients, the OpenAI fixture on loopback.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningNexus } from '../src/server.js';
import { nexusWith, readChatStream, startVendorFixture, streamFailure, type VendorFixture } from './helpers/llm.js';

describe('a provider’s answers, and the headers nexus sends it', () => {
  let fixture: VendorFixture;
  let nexus: RunningNexus;
  let openai: OpenAI;
  let anthropic: Anthropic;

  beforeAll(async () => {
    fixture = await startVendorFixture('openai');
    nexus = await nexusWith(`
      [llm.protocols.anthropic]
      enabled = true
      [llm.providers.main]
      type = "openai"
      api_key = "k"
      base_url = "${fixture.url}"
      model_filter = "^gpt-fixture$"
      headers = [
        { rule = "forward", pattern = "^(accept|te$|expect$)" },
        { rule = "insert", name = "Content-Encoding", value = "gzip" },
        { rule = "insert", name = "Accept-Encoding", value = "br" },
        { rule = "insert", name = "Expect", value = "100-continue" },
        { rule = "insert", name = "Proxy-Connection", value = "keep-alive" },
        { rule = "insert", name = "x-source", value = "nexus" },
      ]
      [llm.providers.main.models.compressed-gzip]
      [llm.providers.main.models.compressed-deflate]
      [llm.providers.main.models.compressed-br]
      [llm.providers.main.models.oversized-json]
      [llm.providers.main.models.endless-event]
      [llm.providers.main.models.malformed-tool-calls]
    `);
    openai = new OpenAI({ baseURL: `${nexus.url}/llm/openai/v1`, apiKey: 'unused', maxRetries: 0 });
    anthropic = new Anthropic({ baseURL: `${nexus.url}/llm/anthropic`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(async () => {
    await nexus?.close();
    await fixture?.kill();
  });

  it('never sets encoding or framing headers by header rules, inserted or forwarded', async () => {
    const headers = { 'accept-encoding': 'gzip, deflate, br', accept: 'application/json', 'accept-language': 'fr' };
    await openai.chat.completions.create({ model: 'main/gpt-fixture', messages: [{ role: 'user', content: 'x' }] }, { headers });
    const sent = (await fixture.last()).headers;
    for (const framing of ['content-encoding', 'accept-encoding', 'expect', 'proxy-connection'])
      expect(Object.keys(sent)).not.toContain(framing);
    expect(sent).toMatchObject({ 'x-source': 'nexus', 'accept-language': 'fr' }); // the rules still work
  });

  for (const encoding of ['gzip', 'deflate', 'br']) {
    it(`reads an answer compressed with ${encoding} though it did not ask for one, whole and streamed, in both protocols`, async () => {
      const model = `main/compressed-${encoding}`;
      const whole = await openai.chat.completions.create({ model, messages: [{ role: 'user', content: 'whole' }] });
      expect(whole.choices[0]?.message.content).toBe('echo: whole');
      const streamed = await openai.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'streamed in pieces' }],
        stream: true,
      });
      expect(await readChatStream(streamed)).toMatchObject({ text: 'echo: streamed in pieces', finish: 'stop' });
      const message = await anthropic.messages.create({ model, max_tokens: 10, messages: [{ role: 'user', content: 'whole' }] });
      expect(message.content).toEqual([{ type: 'text', text: 'echo: whole' }]);
      const final = await anthropic.messages
        .stream({ model, max_tokens: 10, messages: [{ role: 'user', content: 'streamed' }] })
        .finalMessage();
      expect(final.content).toEqual([{ type: 'text', text: 'echo: streamed' }]);
    });
  }

  it('answers 502 in the client’s protocol to an answer over 32 MiB', async () => {
    const call = { model: 'main/oversized-json', messages: [{ role: 'user' as const, content: 'x' }] };
    const refused = await openai.chat.completions.create(call).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OpenAI.APIError);
    expect((refused as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect((refused as Error).message).toContain("provider 'main': the answer is larger than the limit of 32 MiB");
    const refusedToo = await anthropic.messages.create({ ...call, max_tokens: 10 }).catch((error: unknown) => error);
    expect((refusedToo as InstanceType<typeof Anthropic.APIError>).status).toBe(502);
    expect((refusedToo as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: 'api_error' } });
  });

  it('answers 502 to an answer that does not fit the common shape, read for another protocol', async () => {
    const refused = await anthropic.messages
      .create({ model: 'main/malformed-tool-calls', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })
      .catch((error: unknown) => error);
    expect((refused as InstanceType<typeof Anthropic.APIError>).status).toBe(502);
    expect((refused as Error).message).toContain("provider 'main' gave an answer nexus could not read");
  });

  it('ends a stream whose event never ends with the protocol’s error event, promptly, holding no more than the limit', async () => {
    // The fixture's line goes on for 256 MiB unless nexus hangs up: what nexus holds meanwhile is the peak here.
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    const started = performance.now();
    try {
      const stream = await openai.chat.completions.create({
        model: 'main/endless-event',
        messages: [{ role: 'user', content: 'x' }],
        stream: true,
      });
      const failure = await streamFailure(stream);
      expect(failure).toBeInstanceOf(OpenAI.APIError);
      expect((failure as Error).message).toContain('the answer is larger than the limit of 32 MiB');
    } finally {
      clearInterval(sampler);
    }
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(peak - before).toBeLessThan(128 * 1024 * 1024);
    const anthropicStream = anthropic.messages.stream({
      model: 'main/endless-event',
      max_tokens: 10,
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(String(await anthropicStream.finalMessage().catch((error: unknown) => error))).toContain('larger than the limit of 32 MiB');
  });
});
