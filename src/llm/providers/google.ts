/**
 * A provider that speaks Google's Gemini API (`type = "google"`): `generateContent` and
 * `streamGenerateContent?alt=sse`, keyed by `x-goog-api-key`. Requests arrive in OpenAI's chat
 * completions shape and are translated: system messages become `systemInstruction`, turns become
 * `contents` of `user` / `model` parts, tool calls `functionCall` parts and tool results
 * `functionResponse` parts (named after the call they answer: Gemini matches them by name),
 * images `inlineData` (data: URLs) or `fileData`. Answers and stream chunks are translated back.
 */
import { randomBytes } from 'node:crypto';
import type { LlmProviderConfig } from '../../config/schema.js';
import { parseToolArguments } from '../anthropic-shape.js';
import { own } from '../own.js';
import {
  appendTurn,
  chatCompletion,
  chunkMaker,
  contentParts,
  contentText,
  providerKey,
  tokenUsage,
  toolCall,
  type ChatOutcome,
  type ChatRequest,
} from '../provider.js';
import { HttpProvider, type SseJson, type WireFormat } from './http-provider.js';

const GOOGLE_BASE_URL = 'https://generativelanguage.googleapis.com/v1beta';

type Json = Record<string, unknown>;
type Part = Json;

/** Gemini finish reasons as OpenAI's; the ones not named here (safety, recitation, …) are content filters. */
const FINISH: Readonly<Record<string, string>> = {
  STOP: 'stop',
  MAX_TOKENS: 'length',
  FINISH_REASON_UNSPECIFIED: 'stop',
  OTHER: 'stop',
  MALFORMED_FUNCTION_CALL: 'stop',
};
const finishOf = (reason: unknown, calledTools: boolean) =>
  calledTools ? 'tool_calls' : (own(FINISH, String(reason)) ?? 'content_filter');

/** What Google documents to send for a function call whose thought signature is not known. */
const NO_SIGNATURE = 'skip_thought_signature_validator';

const IMAGE_TYPES: Readonly<Record<string, string>> = {
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
  heic: 'image/heic',
  heif: 'image/heif',
};

/** OpenAI content (a string or parts) as Gemini parts. */
const partsOf = (content: unknown): Part[] =>
  contentParts(content).map((part): Part => {
    if (part.kind === 'text') return { text: part.text };
    if (part.inline) return { inlineData: { mimeType: part.inline.mediaType, data: part.inline.base64 } };
    const extension = /\.([a-z0-9]+)(?:[?#]|$)/i.exec(part.url)?.[1]?.toLowerCase() ?? '';
    return { fileData: { mimeType: own(IMAGE_TYPES, extension) ?? 'image/jpeg', fileUri: part.url } };
  });

/** A tool's result as the object Gemini's `functionResponse.response` must be. */
function toolResponse(content: unknown): Json {
  const text = contentText(content);
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Json;
  } catch {
    // plain text
  }
  return { content: text };
}

/** The path of a model's method: a bare id is under `models/`, a full resource name (`tunedModels/x`) is used as it is. */
function methodPath(model: string, method: string): string {
  const name = model.includes('/') ? model : `models/${model}`;
  return `/${name.split('/').map(encodeURIComponent).join('/')}:${method}`;
}

/** An OpenAI chat request as a Gemini `generateContent` request. */
function toGoogle(request: ChatRequest): Json {
  const system: string[] = [];
  const contents: { role: string; parts: Part[] }[] = [];
  /** Tool call id -> function name, for the results that answer them. */
  const calledNames = new Map<string, string>();
  // Merging turns also puts parallel tool results in one turn, as Gemini wants them.
  const push = (role: string, parts: Part[]) => appendTurn(contents, role, 'parts', parts);
  for (const message of request.messages as Json[]) {
    const role = message['role'];
    if (role === 'system' || role === 'developer') {
      system.push(contentText(message['content'], '\n'));
    } else if (role === 'tool') {
      const id = String(message['tool_call_id'] ?? '');
      push('user', [{ functionResponse: { name: calledNames.get(id) ?? id, response: toolResponse(message['content']) } }]);
    } else if (role === 'assistant') {
      const calls = ((message['tool_calls'] as Json[] | undefined) ?? []).map((call): Part => {
        const fn = call['function'] as Json;
        calledNames.set(String(call['id']), String(fn['name']));
        const signature = ((call['extra_content'] as Json | undefined)?.['google'] as Json | undefined)?.['thought_signature'];
        return {
          functionCall: { name: String(fn['name']), args: parseToolArguments(fn['arguments']) },
          ...(signature !== undefined && { thoughtSignature: signature }),
        };
      });
      // Gemini 3 refuses a function call turn without its thought signature, which clients of the
      // Anthropic protocol (and OpenAI clients that rebuild messages) cannot send back: such a turn
      // carries the stand-in Google documents for history without signatures.
      if (calls.length > 0 && !calls.some((call) => call['thoughtSignature'] !== undefined)) calls[0]!['thoughtSignature'] = NO_SIGNATURE;
      push('model', [...partsOf(message['content']), ...calls]);
    } else {
      push('user', partsOf(message['content']));
    }
  }
  const out: Json = { contents };
  if (system.length > 0) out['systemInstruction'] = { parts: [{ text: system.join('\n\n') }] };
  const generation: Json = {};
  const maxTokens = request['max_completion_tokens'] ?? request['max_tokens'];
  if (maxTokens !== undefined) generation['maxOutputTokens'] = maxTokens;
  for (const [ours, theirs] of [
    ['temperature', 'temperature'],
    ['top_p', 'topP'],
    ['seed', 'seed'],
    ['presence_penalty', 'presencePenalty'],
    ['frequency_penalty', 'frequencyPenalty'],
  ] as const) {
    if (request[ours] !== undefined && request[ours] !== null) generation[theirs] = request[ours];
  }
  const stop = request['stop'];
  if (stop !== undefined && stop !== null) generation['stopSequences'] = Array.isArray(stop) ? stop : [stop];
  const format = request['response_format'] as Json | undefined;
  if (format?.['type'] === 'json_object' || format?.['type'] === 'json_schema') {
    generation['responseMimeType'] = 'application/json';
    const schema = (format['json_schema'] as Json | undefined)?.['schema'];
    if (schema !== undefined) generation['responseJsonSchema'] = schema;
  }
  if (Object.keys(generation).length > 0) out['generationConfig'] = generation;
  const tools = request['tools'] as Json[] | undefined;
  if (tools?.length) {
    // parametersJsonSchema takes JSON Schema as it is; `parameters` takes only an OpenAPI subset.
    const declarations = tools.map((tool) => {
      const fn = tool['function'] as Json;
      return { name: fn['name'], description: fn['description'], parametersJsonSchema: fn['parameters'] ?? { type: 'object' } };
    });
    out['tools'] = [{ functionDeclarations: declarations }];
  }
  const choice = request['tool_choice'];
  const mode =
    choice === 'auto'
      ? 'AUTO'
      : choice === 'none'
        ? 'NONE'
        : choice === 'required' || (choice && typeof choice === 'object')
          ? 'ANY'
          : undefined;
  if (mode) {
    const named = choice && typeof choice === 'object' ? ((choice as Json)['function'] as Json)['name'] : undefined;
    out['toolConfig'] = { functionCallingConfig: { mode, ...(named !== undefined && { allowedFunctionNames: [named] }) } };
  }
  return out;
}

const usageOf = (usage: Json | undefined) => {
  const prompt = Number(usage?.['promptTokenCount'] ?? 0);
  // Thinking tokens are billed as output: they count as completion tokens.
  const completion = Number(usage?.['candidatesTokenCount'] ?? 0) + Number(usage?.['thoughtsTokenCount'] ?? 0);
  return tokenUsage(prompt, completion);
};

/** The first candidate's parts: text (thoughts left out) and the parts that call functions. */
function readParts(response: Json): { text: string; calls: Part[]; candidate: Json | undefined } {
  const candidate = (response['candidates'] as Json[] | undefined)?.[0];
  const parts = ((candidate?.['content'] as Json | undefined)?.['parts'] as Part[] | undefined) ?? [];
  const text = parts
    .filter((part) => typeof part['text'] === 'string' && part['thought'] !== true)
    .map((part) => part['text'])
    .join('');
  return { text, calls: parts.filter((part) => part['functionCall']), candidate };
}

/**
 * A function call part as an OpenAI tool call. Its thought signature, which Gemini wants back
 * with the call in later turns, rides in `extra_content.google.thought_signature`, where Google's
 * own OpenAI-compatible API puts it.
 */
function asToolCall(part: Part): Json {
  const call = part['functionCall'] as Json;
  const signature = part['thoughtSignature'];
  // Unique, unlike Gemini's call order: clients key tool results by it across turns.
  const id = typeof call['id'] === 'string' ? call['id'] : `call_${randomBytes(12).toString('hex')}`;
  return {
    ...toolCall(id, call['name'], call['args']),
    ...(typeof signature === 'string' && { extra_content: { google: { thought_signature: signature } } }),
  };
}

/** A Gemini answer as an OpenAI `chat.completion`. */
function fromGoogle(response: Json): Json {
  if (!Array.isArray(response['candidates']) && !response['promptFeedback']) throw new Error('not a generateContent answer');
  const { text, calls, candidate } = readParts(response);
  return chatCompletion({
    id: response['responseId'] ?? 'gemini',
    model: response['modelVersion'],
    text,
    calls: calls.map((call) => asToolCall(call)),
    // No candidate means the prompt itself was blocked.
    finish: candidate ? finishOf(candidate['finishReason'], calls.length > 0) : 'content_filter',
    usage: usageOf(response['usageMetadata'] as Json | undefined),
  });
}

/** Gemini's stream (whole responses, each with the next parts) as OpenAI chunks; an error event throws. */
async function* chunksFromGoogle(events: SseJson): AsyncGenerator<Json> {
  const answer: { id: string; model: unknown } = { id: 'gemini', model: undefined };
  const chunk = chunkMaker(answer);
  let toolCalls = 0;
  let started = false;
  let finished = false;
  let usage: Json | undefined;
  for await (const { data } of events) {
    const error = data['error'] as Json | undefined;
    if (error) throw new Error(String(error['message'] ?? 'the provider reported an error'));
    answer.id = String(data['responseId'] ?? answer.id);
    answer.model = data['modelVersion'] ?? answer.model;
    usage = (data['usageMetadata'] as Json | undefined) ?? usage;
    if (!started) {
      started = true;
      yield chunk({ role: 'assistant', content: '' });
    }
    const { text, calls, candidate } = readParts(data);
    if (text !== '') yield chunk({ content: text });
    for (const call of calls) {
      const index = toolCalls++;
      yield chunk({ tool_calls: [{ index, ...asToolCall(call) }] });
    }
    const reason = candidate?.['finishReason'];
    if (reason !== undefined || (!candidate && data['promptFeedback'])) {
      finished = true;
      yield chunk({}, candidate ? finishOf(reason, toolCalls > 0) : 'content_filter', { usage: usageOf(usage) });
    }
  }
  if (!finished) throw new Error('the stream ended before a finish reason');
}

/** Gemini's API in terms of the common shape. */
const GOOGLE_WIRE: WireFormat = { completion: fromGoogle, chunks: chunksFromGoogle, openAiErrors: false };

/** How many models one page of the models API lists. */
const PAGE_SIZE = 1000;

export class GoogleProvider extends HttpProvider {
  constructor(name: string, config: LlmProviderConfig) {
    super(name, config, GOOGLE_BASE_URL, GOOGLE_WIRE);
  }

  complete(request: ChatRequest, incoming: Readonly<Record<string, string>>, signal: AbortSignal, model: string): Promise<ChatOutcome> {
    const path =
      request.stream === true ? methodPath(request.model, 'streamGenerateContent?alt=sse') : methodPath(request.model, 'generateContent');
    return this.exchange(path, () => toGoogle(request), request.stream === true, incoming, signal, model);
  }

  /** The models that can generate content, without the `models/` prefix, page by page. */
  async discover(): Promise<string[]> {
    const ids: string[] = [];
    let pageToken: unknown;
    do {
      const page = await this.getJson(
        `/models?pageSize=${PAGE_SIZE}${typeof pageToken === 'string' ? `&pageToken=${encodeURIComponent(pageToken)}` : ''}`,
      );
      for (const model of (page['models'] as Json[] | undefined) ?? []) {
        const methods = model['supportedGenerationMethods'];
        if (typeof model['name'] !== 'string' || (Array.isArray(methods) && !methods.includes('generateContent'))) continue;
        ids.push(model['name'].replace(/^models\//, ''));
      }
      pageToken = page['nextPageToken'];
    } while (typeof pageToken === 'string' && pageToken !== '');
    return ids;
  }

  protected headers(incoming: Readonly<Record<string, string>>): Record<string, string> {
    const key = providerKey(this.config, incoming);
    return key === undefined ? {} : { 'x-goog-api-key': key };
  }
}
