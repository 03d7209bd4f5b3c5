/**
 * Counting input tokens (count_tokens, token rate limits) without holding nexus up: exact on
 * ordinary text, close and fast on long unbroken runs, estimated past a budget; and through a
 * running nexus, /health answers promptly while a large text is counted, and bad or odd bodies
 * get the right answer instead of a 500.
 */
import Anthropic from '@anthropic-ai/sdk';
import { readdirSync, readFileSync } from 'node:fs';
import { countTokens as countWhole } from 'gpt-tokenizer';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countTokens } from '../src/llm/tokens.js';
import type { RunningNexus } from '../src/server.js';
import { nexusWith, startVendorFixture, type VendorFixture } from './helpers/llm.js';
import { ROOT } from './helpers/processes.js';

/** What gpt-tokenizer counts for the whole text at once (special tokens read as text, as nexus reads them). */
const wholeCount = (text: string) => countWhole(text, { disallowedSpecial: new Set() });

/** A deterministic pseudo-random source (mulberry32): the same texts on every run. */
function random(seed: number): (below: number) => number {
  return (below) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % below;
  };
}

/** `length` characters of CJK ideographs, no spaces (one pre-token for the tokenizer), from the `from`th on. */
const cjk = (length: number, from = 0) =>
  Array.from({ length }, (_, i) => String.fromCharCode(0x4e00 + (((from + i) * 7919) % 20_000))).join('');

/** Text from pieces of every kind the tokenizer treats apart: cases, digits, marks, contractions, CJK, emoji, line ends, special tokens. */
function mixed(length: number): string {
  const kinds = [
    'word', 'Word', 'WORD', 'camelCase', 'é', 'e\u0301', 'ß', 'İ', 'ǅ', 'ʰ', '12', '123456', 'Ⅻ', ' ', ' ', ' ', '  ', '\t', '\n',
    '\r\n', '\n\n', "'s", "'T", "don't", '"', ':', ',', '{', '}', '/', '.', '-', '_', '→', '!!', '·', '\\', '中', '文字', '😀',
    '𠀀', '\u3000', '\u00a0', '\u200b', '<|endoftext|>',
  ]; // prettier-ignore
  const next = random(42);
  let text = '';
  while (text.length < length) text += kinds[next(kinds.length)];
  return text;
}

describe('counting tokens', () => {
  it('counts ordinary text exactly as the tokenizer counts it whole: code, JSON, words, and every kind of character mixed', async () => {
    const code = readdirSync(`${ROOT}src`, { recursive: true, encoding: 'utf8' })
      .filter((path) => path.endsWith('.ts'))
      .map((path) => readFileSync(`${ROOT}src/${path}`, 'utf8'))
      .join('\n');
    const lock = readFileSync(`${ROOT}package-lock.json`, 'utf8');
    const texts = { code, json: lock, 'minified json': JSON.stringify(JSON.parse(lock)), mixed: mixed(300_000) };
    for (const [kind, text] of Object.entries(texts)) {
      expect(text.length, kind).toBeGreaterThan(100_000); // many pieces, so many cuts to get right
      expect(await countTokens([text]), kind).toBe(wholeCount(text));
    }
    // Parts other than strings count as their JSON.
    const messages = [{ role: 'user', content: 'Hello there, how are you?' }];
    expect(await countTokens(['Be brief.', messages, undefined])).toBe(wholeCount('Be brief.') + wholeCount(JSON.stringify(messages)));
  });

  it('stays within 3% on long unbroken runs (CJK, base64, "aaaa…"), and fast', async () => {
    const next = random(7);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const base64 = Array.from({ length: 50_000 }, () => alphabet[next(64)]).join('');
    for (const [kind, text] of Object.entries({ cjk: cjk(10_000), a: 'a'.repeat(20_000), base64, symbols: '=-'.repeat(5_000) })) {
      const started = performance.now();
      const counted = await countTokens([text]);
      expect(performance.now() - started, kind).toBeLessThan(1000);
      expect(Math.abs(counted / wholeCount(text) - 1), kind).toBeLessThan(0.03);
    }
  });

  it('estimates what is past a budget of text from what it counted', async () => {
    const block = `${mixed(50_000).replace(/\s+$/, '')}\n`;
    const blocks = 100; // 5 MB: a few times the budget
    expect(wholeCount(block + block)).toBe(2 * wholeCount(block)); // so the count of the whole text is known
    const started = performance.now();
    const estimate = await countTokens([block.repeat(blocks)]);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(Math.abs(estimate / (blocks * wholeCount(block)) - 1)).toBeLessThan(0.02);
  });
});

describe('counting tokens in a running nexus', () => {
  let fixture: VendorFixture;
  let nexus: RunningNexus;
  // Every request names its client: the token limit needs one.
  const headers = { 'x-client-id': 'ana' };
  const anthropicClient = () =>
    new Anthropic({ baseURL: `${nexus.url}/llm/anthropic`, apiKey: 'unused', maxRetries: 0, timeout: 60_000, defaultHeaders: headers });
  const openAiClient = () =>
    new OpenAI({ baseURL: `${nexus.url}/llm/openai/v1`, apiKey: 'unused', maxRetries: 0, timeout: 60_000, defaultHeaders: headers });
  const postCount = (body: string) =>
    fetch(`${nexus.url}/llm/anthropic/v1/messages/count_tokens`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body,
    });

  beforeAll(async () => {
    fixture = await startVendorFixture('openai');
    nexus = await nexusWith(`
      [server.client_identification]
      enabled = true
      client_id.http_header = "x-client-id"
      [llm.protocols.anthropic]
      enabled = true
      [llm.providers.main]
      type = "openai"
      api_key = "k"
      base_url = "${fixture.url}"
      rate_limits.per_user = { input_token_limit = 100000000, interval = "60s" }
      [llm.providers.main.models.gpt-fixture]
    `);
  });
  afterAll(async () => {
    await nexus?.close();
    await fixture?.kill();
  });

  /**
   * What `work` gives, and how /health fared meanwhile, polled every 20 ms: what it answered, and
   * how late its latest answer was, from when it was due to be asked. Nexus runs in this process,
   * so a blocked event loop holds up the polling too, and shows up as lateness wherever it falls.
   */
  async function healthDuring<T>(work: () => Promise<T>): Promise<{ result: T; worstMs: number; answers: Set<number | string> }> {
    let done = false;
    let worstMs = 0;
    const answers = new Set<number | string>();
    const poll = async () => {
      let due = performance.now();
      while (!done) {
        answers.add(
          await fetch(`${nexus.url}/health`).then(
            (response) => response.status,
            (error: Error) => error.message,
          ),
        );
        const answered = performance.now();
        worstMs = Math.max(worstMs, answered - due);
        due = answered + 20;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const polling = poll();
    try {
      const result = await work();
      done = true;
      await polling; // its last answer too
      return { result, worstMs, answers };
    } finally {
      done = true;
    }
  }

  // 60,000 CJK characters (180 KB) are one pre-token: counted whole, they held the event loop for 10 s and more. Each
  // test sends its own, as the tokenizer once cached what it had counted.
  const longRun = (test: number) => cjk(60_000, test * 60_000);

  it('answers /health promptly while count_tokens counts a long unbroken run', async () => {
    const content = longRun(1);
    const { result, worstMs, answers } = await healthDuring(() =>
      anthropicClient().messages.countTokens({ model: 'main/gpt-fixture', messages: [{ role: 'user', content }] }),
    );
    expect(result.input_tokens).toBeGreaterThan(content.length);
    expect(worstMs).toBeLessThan(200);
    expect(answers).toEqual(new Set([200]));
  });

  it('answers /health promptly while a per-client token limit counts a chat request', async () => {
    const content = longRun(2);
    const { result, worstMs, answers } = await healthDuring(() =>
      openAiClient().chat.completions.create({ model: 'main/gpt-fixture', messages: [{ role: 'user', content }] }),
    );
    expect(result.choices[0]?.message.content).toBe(`echo: ${content}`);
    expect(worstMs).toBeLessThan(200);
    expect(answers).toEqual(new Set([200]));
  });

  it('answers 400 in Anthropic’s shape to a count_tokens body that is JSON but not an object', async () => {
    for (const body of ['null', '[]', '42', '"text"']) {
      const response = await postCount(body);
      expect(response.status, body).toBe(400);
      expect(await response.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    }
  });

  it('counts text that looks like a special token as text, for count_tokens and token limits', async () => {
    const content = 'ignore this: <|endoftext|><|im_start|>';
    const counted = await anthropicClient().messages.countTokens({ model: 'main/gpt-fixture', messages: [{ role: 'user', content }] });
    expect(counted.input_tokens).toBe(wholeCount(JSON.stringify([{ role: 'user', content }])));
    const reply = await openAiClient().chat.completions.create({ model: 'main/gpt-fixture', messages: [{ role: 'user', content }] });
    expect(reply.choices[0]?.message.content).toBe(`echo: ${content}`);
  });

  it('counts a large input (6 M CJK characters in a row, which overflowed the tokenizer’s stack), exact up to a budget and estimated past it', async () => {
    const content = '中'.repeat(6_000_000); // one token each
    const response = await postCount(JSON.stringify({ model: 'main/gpt-fixture', messages: [{ role: 'user', content }] }));
    expect(response.status).toBe(200);
    const { input_tokens } = (await response.json()) as { input_tokens: number };
    expect(Math.abs(input_tokens / content.length - 1)).toBeLessThan(0.01);
  });
});
