/** What the LLM routing tests share: vendor fixtures on loopback, and nexus started with an `[llm]` config. */
import type Anthropic from '@anthropic-ai/sdk';
import type OpenAI from 'openai';
import { parse } from 'smol-toml';
import { parseConfig } from '../../src/config/load.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { startNexus, type RunningNexus } from '../../src/server.js';
import { ROOT, startOnOwnPort, type Spawned } from './processes.js';

/** The API base path each vendor fixture serves under. */
const API_BASE = { openai: '/v1', anthropic: '/v1', google: '/v1beta', bedrock: '' } as const;
export type Vendor = keyof typeof API_BASE;

interface RecordedRequest {
  url: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
  /** The body as it arrived, byte for byte. */
  raw: string;
}

export interface VendorFixture extends Spawned {
  /** The fixture's API base, for a provider's `base_url`. */
  url: string;
  /** The last request with a body the fixture got. */
  last(): Promise<RecordedRequest>;
  /** The last hundred requests with a body, oldest first. */
  requests(): Promise<RecordedRequest[]>;
}

/** A fixture speaking `vendor`'s wire format (test/fixtures/<vendor>-server.mjs), on a port of its own. */
export async function startVendorFixture(vendor: Vendor): Promise<VendorFixture> {
  const spawned = await startOnOwnPort(`${ROOT}test/fixtures/${vendor}-server.mjs`);
  const origin = `http://127.0.0.1:${spawned.port}`;
  const debug = async (what: string) => (await fetch(`${origin}/debug/${what}`)).json() as never;
  return { ...spawned, url: `${origin}${API_BASE[vendor]}`, last: () => debug('last'), requests: () => debug('requests') };
}

export async function nexusWith(toml: string, llmDiscoveryIntervalMs?: number, logger: Logger = silentLogger): Promise<RunningNexus> {
  const nexus = await startNexus(parseConfig(parse(toml), 'test.toml'), {
    logger,
    listenAddress: { host: '127.0.0.1', port: 0 },
    llmDiscoveryIntervalMs,
  });
  await nexus.ready;
  return nexus;
}

/** The config error `toml` gives (its message), or 'loaded'. */
export function loadOutcome(toml: string): string {
  try {
    parseConfig(parse(toml), 'test.toml');
  } catch (error) {
    return (error as Error).message;
  }
  return 'loaded';
}

/** The fixtures' tool: a call of it is what they answer to a question about the weather. */
export const WEATHER_TOOL: OpenAI.ChatCompletionFunctionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } } },
  },
};
export const ANTHROPIC_WEATHER_TOOL: Anthropic.Tool = {
  name: 'get_weather',
  description: 'The weather in a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } } },
};

/** An OpenAI chat stream read to its end: its text, last finish reason and usage. */
export async function readChatStream(stream: AsyncIterable<OpenAI.ChatCompletionChunk>) {
  let text = '';
  let finish: string | null | undefined;
  let usage: OpenAI.CompletionUsage | null | undefined;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
    usage = chunk.usage ?? usage;
  }
  return { text, finish, usage };
}

/** What reading `stream` to its end throws (undefined if nothing). */
export async function streamFailure(stream: AsyncIterable<unknown>): Promise<unknown> {
  try {
    for await (const chunk of stream) void chunk;
  } catch (error) {
    return error;
  }
  return undefined;
}

/**
 * An Anthropic client's tool use through `model`: the question that makes the fixture call the
 * tool, the turn that answers the call with `result`, and the question again, streamed.
 */
export async function anthropicToolRoundTrip(client: Anthropic, model: string, result: string) {
  const question = { role: 'user', content: 'weather in Paris?' } as const;
  const first = await client.messages.create({ model, max_tokens: 100, tools: [ANTHROPIC_WEATHER_TOOL], messages: [question] });
  const use = first.content.find((block) => block.type === 'tool_use');
  const second = await client.messages.create({
    model,
    max_tokens: 100,
    tools: [ANTHROPIC_WEATHER_TOOL],
    messages: [
      question,
      { role: 'assistant', content: first.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: use?.id ?? 'none', content: result }] },
    ],
  });
  const streamed = await client.messages
    .stream({ model, max_tokens: 100, tools: [ANTHROPIC_WEATHER_TOOL], messages: [question] })
    .finalMessage();
  return { first, second, streamed };
}
