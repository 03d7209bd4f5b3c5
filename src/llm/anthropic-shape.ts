/**
 * The Anthropic protocol in front of nexus's common shape (OpenAI's chat completions): a Messages
 * request becomes a chat request, and a completion, or a stream of chunks, becomes a message or
 * Anthropic's stream events (message_start, content_block_start/delta/stop, message_delta,
 * message_stop).
 */
import { own } from './own.js';
import { assistantMessage, toolCall, UntranslatableError, type ChatRequest } from './provider.js';

type Json = Record<string, unknown>;

/** Anthropic stop reasons as OpenAI finish reasons, and back. */
export const STOP_TO_FINISH: Readonly<Record<string, string>> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  tool_use: 'tool_calls',
};
const FINISH_TO_STOP: Readonly<Record<string, string>> = {
  stop: 'end_turn',
  length: 'max_tokens',
  tool_calls: 'tool_use',
  function_call: 'tool_use',
};
/** An Anthropic stop reason as an OpenAI finish reason (`stop` for one not known). */
export const finishOfStop = (reason: unknown): string => own(STOP_TO_FINISH, String(reason)) ?? 'stop';
const stopOfFinish = (finish: unknown): string => own(FINISH_TO_STOP, String(finish)) ?? 'end_turn';

const textOf = (content: unknown): string =>
  typeof content === 'string'
    ? content
    : Array.isArray(content)
      ? content
          .filter((block: Json) => block['type'] === 'text')
          .map((block: Json) => String(block['text'] ?? ''))
          .join('')
      : '';

/** Anthropic content blocks as OpenAI content parts (text and images). */
function parts(blocks: Json[]): Json[] {
  return blocks.flatMap((block): Json[] => {
    if (block['type'] === 'text') return [{ type: 'text', text: block['text'] }];
    if (block['type'] === 'image') {
      const source = block['source'] as Json;
      const url =
        source['type'] === 'base64' ? `data:${String(source['media_type'])};base64,${String(source['data'])}` : String(source['url'] ?? '');
      return [{ type: 'image_url', image_url: { url } }];
    }
    return [];
  });
}

/** Content blocks the common shape carries; thinking is a model's own notes, which another model cannot read, and is left out. */
const TRANSLATED_BLOCKS = new Set(['text', 'image', 'tool_use', 'tool_result', 'thinking', 'redacted_thinking']);

/**
 * Refuses, naming it, what only Anthropic can do: a server tool (web search, code execution, tool
 * search…) or a block of one (its results, `tool_reference`, documents, search results). Hints
 * that change nothing of the answer (`cache_control`, `defer_loading`) are not refused.
 */
function untranslatable(body: Json): void {
  ((body['tools'] as Json[] | undefined) ?? []).forEach((tool, i) => {
    const type = tool['type'];
    if (type !== undefined && type !== 'custom')
      throw new UntranslatableError(`tools[${i}].type "${String(type)}" (a server tool) has no equivalent there`);
  });
  ((body['messages'] as Json[] | undefined) ?? []).forEach((message, i) => {
    const content = message['content'];
    if (!Array.isArray(content)) return;
    content.forEach((block: Json, j) => {
      if (!TRANSLATED_BLOCKS.has(String(block['type']))) {
        throw new UntranslatableError(`messages[${i}].content[${j}].type "${String(block['type'])}" has no equivalent there`);
      }
      const inner = block['type'] === 'tool_result' && Array.isArray(block['content']) ? (block['content'] as Json[]) : [];
      inner.forEach((part, k) => {
        if (part['type'] !== 'text' && part['type'] !== 'image') {
          throw new UntranslatableError(
            `messages[${i}].content[${j}].content[${k}].type "${String(part['type'])}" has no equivalent there`,
          );
        }
      });
    });
  });
}

/** A Messages API request as a chat request for `model` (the provider's own id). */
export function requestFromAnthropic(body: Json, model: string): ChatRequest {
  untranslatable(body);
  const messages: Json[] = [];
  const system = textOf(body['system']);
  if (system !== '') messages.push({ role: 'system', content: system });
  for (const message of (body['messages'] as Json[] | undefined) ?? []) {
    const content = message['content'];
    const blocks: Json[] =
      typeof content === 'string' ? [{ type: 'text', text: content }] : Array.isArray(content) ? (content as Json[]) : [];
    if (message['role'] === 'assistant') {
      const calls = blocks
        .filter((block) => block['type'] === 'tool_use')
        .map((block) => toolCall(block['id'], block['name'], block['input']));
      messages.push(assistantMessage(textOf(blocks), calls));
      continue;
    }
    // Tool results become tool messages, in order, before what else the user turn says.
    for (const block of blocks.filter((candidate) => candidate['type'] === 'tool_result')) {
      messages.push({ role: 'tool', tool_call_id: block['tool_use_id'], content: textOf(block['content']) });
    }
    const rest = parts(blocks.filter((block) => block['type'] !== 'tool_result'));
    if (rest.length > 0)
      messages.push({
        role: 'user',
        content: rest.every((part) => part['type'] === 'text') ? rest.map((part) => part['text']).join('') : rest,
      });
  }
  const request: ChatRequest = { model, messages, max_tokens: body['max_tokens'] };
  for (const key of ['temperature', 'top_p', 'stream'] as const) if (body[key] !== undefined) (request as Json)[key] = body[key];
  if (Array.isArray(body['stop_sequences'])) request['stop'] = body['stop_sequences'];
  const tools = body['tools'] as Json[] | undefined;
  if (tools?.length) {
    request['tools'] = tools.map((tool) => ({
      type: 'function',
      function: { name: tool['name'], description: tool['description'], parameters: tool['input_schema'] },
    }));
  }
  const choice = body['tool_choice'] as Json | undefined;
  if (choice?.['type'] === 'auto' || choice?.['type'] === 'none') request['tool_choice'] = choice['type'];
  else if (choice?.['type'] === 'any') request['tool_choice'] = 'required';
  else if (choice?.['type'] === 'tool') request['tool_choice'] = { type: 'function', function: { name: choice['name'] } };
  if (body['stream'] === true) request['stream_options'] = { include_usage: true };
  return request;
}

/** A tool call's `arguments` (a JSON string) as the object Anthropic's `input` holds; `{}` when not JSON. */
export const parseToolArguments = (text: unknown): unknown => {
  try {
    return JSON.parse(typeof text === 'string' && text !== '' ? text : '{}');
  } catch {
    return {};
  }
};

/** A `chat.completion` as an Anthropic message named `model`. */
export function messageFromCompletion(completion: Json, model: string): Json {
  const choice = ((completion['choices'] as Json[] | undefined) ?? [])[0] ?? {};
  const message = (choice['message'] as Json | undefined) ?? {};
  const content: Json[] = [];
  if (typeof message['content'] === 'string' && message['content'] !== '') content.push({ type: 'text', text: message['content'] });
  for (const call of (message['tool_calls'] as Json[] | undefined) ?? []) {
    const fn = call['function'] as Json;
    content.push({ type: 'tool_use', id: call['id'], name: fn['name'], input: parseToolArguments(fn['arguments']) });
  }
  const usage = completion['usage'] as Json | undefined;
  return {
    id: completion['id'] ?? 'msg_nexus',
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: stopOfFinish(choice['finish_reason']),
    stop_sequence: null,
    usage: { input_tokens: Number(usage?.['prompt_tokens'] ?? 0), output_tokens: Number(usage?.['completion_tokens'] ?? 0) },
  };
}

/** Chunks of a streamed completion as Anthropic's stream events; throws on as the chunks do. */
export async function* eventsFromChunks(chunks: AsyncIterable<Json>, model: string): AsyncGenerator<{ event: string; data: Json }> {
  const emit = (event: string, data: Json) => ({ event, data: { type: event, ...data } });
  let started = false;
  let block = -1;
  let open: 'text' | 'tool' | undefined;
  /** OpenAI's tool call index -> our content block index. */
  const toolBlocks = new Map<number, number>();
  let stop = 'end_turn';
  let usage = { input_tokens: 0, output_tokens: 0 };
  const start = (id: unknown) =>
    emit('message_start', {
      message: {
        id: id ?? 'msg_nexus',
        type: 'message',
        role: 'assistant',
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage,
      },
    });
  const close = function* () {
    if (open) yield emit('content_block_stop', { index: block });
    open = undefined;
  };
  for await (const chunk of chunks) {
    if (!started) {
      started = true;
      yield start(chunk['id']);
    }
    const chunkUsage = chunk['usage'] as Json | undefined;
    if (chunkUsage)
      usage = { input_tokens: Number(chunkUsage['prompt_tokens'] ?? 0), output_tokens: Number(chunkUsage['completion_tokens'] ?? 0) };
    const choice = ((chunk['choices'] as Json[] | undefined) ?? [])[0];
    if (!choice) continue;
    const delta = (choice['delta'] as Json | undefined) ?? {};
    if (typeof delta['content'] === 'string' && delta['content'] !== '') {
      if (open !== 'text') {
        yield* close();
        open = 'text';
        yield emit('content_block_start', { index: ++block, content_block: { type: 'text', text: '' } });
      }
      yield emit('content_block_delta', { index: block, delta: { type: 'text_delta', text: delta['content'] } });
    }
    for (const call of (delta['tool_calls'] as Json[] | undefined) ?? []) {
      const index = Number(call['index'] ?? 0);
      const fn = (call['function'] as Json | undefined) ?? {};
      if (!toolBlocks.has(index)) {
        yield* close();
        open = 'tool';
        toolBlocks.set(index, ++block);
        yield emit('content_block_start', {
          index: block,
          content_block: { type: 'tool_use', id: call['id'], name: fn['name'], input: {} },
        });
      }
      if (typeof fn['arguments'] === 'string' && fn['arguments'] !== '') {
        yield emit('content_block_delta', {
          index: toolBlocks.get(index),
          delta: { type: 'input_json_delta', partial_json: fn['arguments'] },
        });
      }
    }
    if (choice['finish_reason']) stop = stopOfFinish(choice['finish_reason']);
  }
  if (!started) yield start(undefined);
  yield* close();
  yield emit('message_delta', { delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: usage.output_tokens } });
  yield emit('message_stop', {});
}
