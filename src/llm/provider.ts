/**
 * What every provider offers the protocol routes: its models, and chat completions answered in
 * the shape of OpenAI's chat completions API, nexus's common shape for model calls (providers
 * with another API translate to and from it).
 */
import type { IncomingMessage } from 'node:http';
import { decodedBody } from '../net/body-limits.js';
import { sseEvents } from '../net/sse.js';
import type { ModelSource } from './models.js';

/** A chat completions request (OpenAI's shape), with `model` already the provider's own id. */
export type ChatRequest = Record<string, unknown> & { model: string; messages: unknown[]; stream?: boolean };

export type ChatOutcome =
  /** A whole `chat.completion` object. */
  | { kind: 'completion'; body: Record<string, unknown> }
  /** `chat.completion.chunk` objects, in order; the iterator throws if the stream breaks. */
  | { kind: 'stream'; chunks: AsyncIterable<Record<string, unknown>> }
  /** The provider refused: its status and what it said (`body` when already OpenAI's error shape). */
  | { kind: 'error'; status: number; message: string; body?: unknown };

/**
 * The APIs a client can speak to nexus that some providers speak too: to such a provider a
 * request is passed through as the client wrote it (the model name replaced), and its answer back
 * the same way, instead of being translated through the common shape.
 */
export type NativeApi = 'anthropic-messages' | 'anthropic-count-tokens' | 'openai-chat' | 'openai-responses';

export interface ChatProvider extends ModelSource {
  /** The APIs this provider speaks natively (none: every request is translated). */
  readonly nativeApis?: ReadonlySet<NativeApi>;
  /**
   * Sends `body`, a request in `api` (one of `nativeApis`) as the client wrote it but for the
   * model, with the provider's auth and header rules; resolves with the answer unread.
   */
  relay?(
    api: NativeApi,
    body: string,
    incoming: Readonly<Record<string, string>>,
    signal: AbortSignal,
    model: string,
  ): Promise<IncomingMessage>;
  /**
   * Sends one request; throws when the provider cannot be reached. `incoming` are the client's
   * headers (lower-case names), for header rules and a forwarded key.
   */
  complete(request: ChatRequest, incoming: Readonly<Record<string, string>>, signal: AbortSignal, model: string): Promise<ChatOutcome>;
  close(): void;
}

/** A request that the provider's API has no way to say: the client gets a 400 naming the field. */
export class UntranslatableError extends Error {}

/** The header a client puts its own provider key in, for providers with `forward_token`. */
export const PROVIDER_KEY_HEADER = 'x-provider-api-key';

/** The key to send: the client's own when the provider forwards tokens and the client gave one. */
export function providerKey(config: ModelSource['config'], incoming: Readonly<Record<string, string>>): string | undefined {
  const clientKey = incoming[PROVIDER_KEY_HEADER];
  return config.forward_token && clientKey ? clientKey : config.api_key;
}

type Json = Record<string, unknown>;

/** Token counts as the common shape's `usage`. */
export const tokenUsage = (prompt: number, completion: number) => ({
  prompt_tokens: prompt,
  completion_tokens: completion,
  total_tokens: prompt + completion,
});

/** A tool call of the common shape, with its input as a JSON string. */
export const toolCall = (id: unknown, name: unknown, input: unknown): Json => ({
  id,
  type: 'function',
  function: { name, arguments: JSON.stringify(input ?? {}) },
});

/** An assistant message of the common shape: its content is null when it only calls tools. */
export const assistantMessage = (text: string, calls: readonly unknown[]): Json => ({
  role: 'assistant',
  content: text === '' && calls.length > 0 ? null : text,
  ...(calls.length > 0 && { tool_calls: calls }),
});

/** A whole `chat.completion` of one choice, from what a provider answered. */
export function chatCompletion(answer: {
  id: unknown;
  model: unknown;
  text: string;
  calls: readonly unknown[];
  finish: string;
  usage: Json;
}): Json {
  return {
    id: answer.id,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: answer.model,
    choices: [{ index: 0, message: assistantMessage(answer.text, answer.calls), finish_reason: answer.finish }],
    usage: answer.usage,
  };
}

/**
 * Makes the `chat.completion.chunk`s of one streamed answer. `answer` is read as each chunk is
 * made: a stream may name its id and model only in its first event.
 */
export function chunkMaker(answer: { id: unknown; model: unknown }): (delta: Json, finish?: string | null, extra?: Json) => Json {
  const created = Math.floor(Date.now() / 1000);
  return (delta, finish = null, extra = {}) => ({
    id: answer.id,
    object: 'chat.completion.chunk',
    created,
    model: answer.model,
    choices: [{ index: 0, delta, finish_reason: finish }],
    ...extra,
  });
}

/** One piece of OpenAI message content: text, or an image by URL (with its bytes when a data: URL). */
export type ContentPart = { kind: 'text'; text: string } | { kind: 'image'; url: string; inline?: { mediaType: string; base64: string } };

/** OpenAI message content (a string or parts) as text and image parts; other parts are left out. */
export function contentParts(content: unknown): ContentPart[] {
  if (typeof content === 'string') return content.trim() === '' ? [] : [{ kind: 'text', text: content }];
  if (!Array.isArray(content)) return [];
  return content.flatMap((part: Record<string, unknown>): ContentPart[] => {
    // Blank text is left out: Anthropic, Gemini and Bedrock refuse blank text blocks.
    if (part['type'] === 'text') return String(part['text'] ?? '').trim() === '' ? [] : [{ kind: 'text', text: String(part['text']) }];
    if (part['type'] !== 'image_url') return [];
    const url = String((part['image_url'] as Record<string, unknown> | undefined)?.['url'] ?? '');
    const data = /^data:([^;,]+);base64,(.*)$/s.exec(url);
    return [{ kind: 'image', url, ...(data && { inline: { mediaType: data[1]!, base64: data[2]! } }) }];
  });
}

/** The text of OpenAI message content, its text parts joined. */
export const contentText = (content: unknown, separator = ''): string =>
  contentParts(content)
    .map((part) => (part.kind === 'text' ? part.text : ''))
    .join(separator);

/**
 * Appends a turn to `turns` under `key` (`content`, `parts`): merged into the last turn when that
 * has the same role, since Anthropic, Gemini and Bedrock want the roles to alternate; left out
 * when it has nothing, since they refuse empty turns.
 */
export function appendTurn<K extends string, T>(turns: ({ role: string } & Record<K, T[]>)[], role: string, key: K, items: T[]): void {
  if (items.length === 0) return;
  const last = turns[turns.length - 1];
  if (last && last.role === role) last[key].push(...items);
  else turns.push({ role, [key]: items } as { role: string } & Record<K, T[]>);
}

/**
 * The JSON events of an SSE answer, decoded when compressed, `[DONE]` and comments left out;
 * throws if the body breaks, or as soon as one event grows past `maxEventBytes`.
 */
export async function* sseJson(
  response: IncomingMessage,
  maxEventBytes: number,
): AsyncGenerator<{ event: string; data: Record<string, unknown> }> {
  for await (const event of sseEvents(decodedBody(response), undefined, maxEventBytes)) {
    if (event.data === '[DONE]' || event.data === '') continue;
    yield { event: event.event, data: JSON.parse(event.data) as Record<string, unknown> };
  }
}
