/**
 * A provider that speaks Anthropic's Messages API (`type = "anthropic"`). Requests arrive in
 * OpenAI's chat completions shape and are translated: system messages become `system`, tool
 * calls and tool results become `tool_use` / `tool_result` blocks, images become image blocks,
 * `max_tokens` is always sent (Anthropic requires it). Answers and stream events are translated
 * back: text, tool calls, usage and stop reasons.
 */
import type { LlmProviderConfig } from '../../config/schema.js';
import { finishOfStop, parseToolArguments } from '../anthropic-shape.js';
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
import { HttpProvider, listedIds, type SseJson, type WireFormat } from './http-provider.js';

const ANTHROPIC_BASE_URL = 'https://api.anthropic.com/v1';
const ANTHROPIC_VERSION = '2023-06-01';
/** Sent when the client names no limit: Anthropic requires one. */
const DEFAULT_MAX_TOKENS = 4096;

type Json = Record<string, unknown>;
type Block = Json & { type: string };

/** OpenAI content (a string or parts) as Anthropic blocks. */
const blocks = (content: unknown): Block[] =>
  contentParts(content).map((part): Block => {
    if (part.kind === 'text') return { type: 'text', text: part.text };
    const source = part.inline
      ? { type: 'base64', media_type: part.inline.mediaType, data: part.inline.base64 }
      : { type: 'url', url: part.url };
    return { type: 'image', source };
  });

/** An OpenAI chat request as an Anthropic Messages request. */
function toAnthropic(request: ChatRequest): Json {
  const system: string[] = [];
  const messages: { role: string; content: Block[] }[] = [];
  const push = (role: string, content: Block[]) => appendTurn(messages, role, 'content', content);
  for (const message of request.messages as Json[]) {
    const role = message['role'];
    if (role === 'system' || role === 'developer') {
      system.push(contentText(message['content'], '\n'));
    } else if (role === 'tool') {
      push('user', [{ type: 'tool_result', tool_use_id: String(message['tool_call_id'] ?? ''), content: blocks(message['content']) }]);
    } else if (role === 'assistant') {
      const calls = ((message['tool_calls'] as Json[] | undefined) ?? []).map((call): Block => {
        const fn = call['function'] as Json;
        return { type: 'tool_use', id: String(call['id']), name: String(fn['name']), input: parseToolArguments(fn['arguments']) };
      });
      push('assistant', [...blocks(message['content']), ...calls]);
    } else {
      push('user', blocks(message['content']));
    }
  }
  const out: Json = {
    model: request.model,
    messages,
    max_tokens: request['max_completion_tokens'] ?? request['max_tokens'] ?? DEFAULT_MAX_TOKENS,
  };
  if (system.length > 0) out['system'] = system.join('\n\n');
  for (const key of ['temperature', 'top_p', 'stream'] as const) if (request[key] !== undefined) out[key] = request[key];
  const stop = request['stop'];
  if (stop !== undefined && stop !== null) out['stop_sequences'] = Array.isArray(stop) ? stop : [stop];
  const tools = request['tools'] as Json[] | undefined;
  if (tools?.length) {
    out['tools'] = tools.map((tool) => {
      const fn = tool['function'] as Json;
      return { name: fn['name'], description: fn['description'], input_schema: fn['parameters'] ?? { type: 'object' } };
    });
  }
  const choice = request['tool_choice'];
  if (choice === 'auto' || choice === 'none') out['tool_choice'] = { type: choice };
  else if (choice === 'required') out['tool_choice'] = { type: 'any' };
  else if (choice && typeof choice === 'object')
    out['tool_choice'] = { type: 'tool', name: ((choice as Json)['function'] as Json)['name'] };
  return out;
}

const usageOf = (usage: Json | undefined) => {
  const prompt = Number(usage?.['input_tokens'] ?? 0);
  const completion = Number(usage?.['output_tokens'] ?? 0);
  return tokenUsage(prompt, completion);
};

/** An Anthropic message as an OpenAI `chat.completion`. */
function fromAnthropic(message: Json): Json {
  const content = (message['content'] as Block[] | undefined) ?? [];
  const text = content
    .filter((block) => block.type === 'text')
    .map((block) => block['text'])
    .join('');
  const calls = content.filter((block) => block.type === 'tool_use').map((block) => toolCall(block['id'], block['name'], block['input']));
  return chatCompletion({
    id: message['id'],
    model: message['model'],
    text,
    calls,
    finish: finishOfStop(message['stop_reason']),
    usage: usageOf(message['usage'] as Json | undefined),
  });
}

/** Anthropic's stream events as OpenAI `chat.completion.chunk`s; an `error` event throws. */
async function* chunksFromAnthropic(events: SseJson): AsyncGenerator<Json> {
  const answer = { id: '', model: '' };
  const chunk = chunkMaker(answer);
  /** Anthropic's content block index -> OpenAI's tool call index. */
  const toolIndex = new Map<number, number>();
  let inputTokens = 0;
  for await (const { data } of events) {
    const type = data['type'];
    if (type === 'error') throw new Error(String((data['error'] as Json | undefined)?.['message'] ?? 'the provider reported an error'));
    if (type === 'message_start') {
      const message = data['message'] as Json;
      answer.id = String(message['id'] ?? '');
      answer.model = String(message['model'] ?? '');
      inputTokens = Number((message['usage'] as Json | undefined)?.['input_tokens'] ?? 0);
      yield chunk({ role: 'assistant', content: '' });
    } else if (type === 'content_block_start') {
      const block = data['content_block'] as Block;
      if (block.type === 'tool_use') {
        const index = toolIndex.size;
        toolIndex.set(Number(data['index']), index);
        yield chunk({ tool_calls: [{ index, id: block['id'], type: 'function', function: { name: block['name'], arguments: '' } }] });
      }
    } else if (type === 'content_block_delta') {
      const delta = data['delta'] as Json;
      if (delta['type'] === 'text_delta') yield chunk({ content: delta['text'] });
      else if (delta['type'] === 'input_json_delta') {
        const index = toolIndex.get(Number(data['index'])) ?? 0;
        yield chunk({ tool_calls: [{ index, function: { arguments: delta['partial_json'] } }] });
      }
    } else if (type === 'message_delta') {
      const reason = finishOfStop((data['delta'] as Json | undefined)?.['stop_reason']);
      const usage = usageOf({ input_tokens: inputTokens, output_tokens: (data['usage'] as Json | undefined)?.['output_tokens'] });
      yield chunk({}, reason, { usage });
    }
  }
}

/** Anthropic's Messages API in terms of the common shape. */
const ANTHROPIC_WIRE: WireFormat = { completion: fromAnthropic, chunks: chunksFromAnthropic, openAiErrors: false };

export class AnthropicProvider extends HttpProvider {
  constructor(name: string, config: LlmProviderConfig) {
    super(name, config, ANTHROPIC_BASE_URL, ANTHROPIC_WIRE, {
      'anthropic-messages': '/messages',
      'anthropic-count-tokens': '/messages/count_tokens',
    });
  }

  complete(request: ChatRequest, incoming: Readonly<Record<string, string>>, signal: AbortSignal, model: string): Promise<ChatOutcome> {
    return this.exchange('/messages', () => toAnthropic(request), request.stream === true, incoming, signal, model);
  }

  async discover(): Promise<string[]> {
    return listedIds(await this.getJson('/models?limit=1000'));
  }

  protected headers(incoming: Readonly<Record<string, string>>): Record<string, string> {
    const key = providerKey(this.config, incoming);
    return key === undefined ? {} : { 'x-api-key': key };
  }

  /**
   * The client's `anthropic-version` and `anthropic-beta` go with its request (betas are how Claude
   * Code asks for features); header rules may still remove or replace them (a beta that costs more).
   */
  protected override passedOn(incoming: Readonly<Record<string, string>>): Record<string, string> {
    const beta = incoming['anthropic-beta'];
    return {
      'anthropic-version': incoming['anthropic-version'] ?? ANTHROPIC_VERSION,
      ...(beta !== undefined && { 'anthropic-beta': beta }),
    };
  }
}
