/**
 * OpenAI's Responses API in front of nexus's common shape (chat completions), for providers that
 * do not speak it (to OpenAI providers it passes through: native-relay.ts). The stateless part
 * translates: input items (messages, function calls and their outputs), instructions, function
 * tools, tool choice, output limits, sampling, JSON output formats, and the answer as a response
 * object or its stream of typed events. What has no equivalent is refused, naming the field:
 * `previous_response_id`, `conversation`, `background`, hosted tools, and input items other than
 * messages and function calls. Reasoning items in the input are left out: they are a model's own
 * notes, which no other model can read.
 */
import { randomUUID } from 'node:crypto';
import { UntranslatableError, type ChatRequest } from './provider.js';

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => value !== null && typeof value === 'object' && !Array.isArray(value);

/** Fields that need state or tools only OpenAI keeps. */
const STATEFUL = ['previous_response_id', 'conversation', 'background', 'prompt'] as const;

/** A Responses content part as a chat content part. */
function part(item: Json, where: string): Json {
  const type = item['type'];
  if (type === 'input_text' || type === 'output_text' || type === 'text') return { type: 'text', text: String(item['text'] ?? '') };
  if (type === 'refusal') return { type: 'text', text: String(item['refusal'] ?? '') };
  if (type === 'input_image' && typeof item['image_url'] === 'string') {
    return { type: 'image_url', image_url: { url: item['image_url'], ...(item['detail'] !== undefined && { detail: item['detail'] }) } };
  }
  throw new UntranslatableError(
    `${where}.type "${String(type)}"${type === 'input_image' ? ' with a file_id' : ''} has no equivalent there`,
  );
}

function content(value: unknown, where: string): string | Json[] {
  if (typeof value === 'string') return value;
  if (!Array.isArray(value)) throw new UntranslatableError(`${where} must be a string or a list of parts`);
  const parts = value.map((item, i) => part(isObject(item) ? item : {}, `${where}[${i}]`));
  return parts.every((p) => p['type'] === 'text') ? parts.map((p) => p['text']).join('') : parts;
}

/** A Responses request as a chat request for `model` (the provider's own id). */
export function requestFromResponses(body: Json, model: string): ChatRequest {
  for (const key of STATEFUL) {
    if (body[key] !== undefined && body[key] !== null && body[key] !== false) {
      throw new UntranslatableError(`\`${key}\` needs OpenAI's stored responses (a provider of type "openai")`);
    }
  }
  const messages: Json[] = [];
  if (typeof body['instructions'] === 'string' && body['instructions'] !== '')
    messages.push({ role: 'system', content: body['instructions'] });
  const input = typeof body['input'] === 'string' ? [{ role: 'user', content: body['input'] }] : body['input'];
  if (!Array.isArray(input)) throw new UntranslatableError('`input` must be a string or a list of items');
  input.forEach((raw: unknown, i) => {
    const item = isObject(raw) ? raw : {};
    const type = item['type'] ?? 'message';
    const where = `input[${i}]`;
    if (type === 'message') {
      messages.push({ role: String(item['role'] ?? 'user'), content: content(item['content'], `${where}.content`) });
    } else if (type === 'function_call') {
      const call = { id: item['call_id'], type: 'function', function: { name: item['name'], arguments: item['arguments'] ?? '{}' } };
      const last = messages.at(-1);
      // Calls made in one turn belong to one assistant message, after its text.
      if (last?.['role'] === 'assistant') last['tool_calls'] = [...((last['tool_calls'] as Json[] | undefined) ?? []), call];
      else messages.push({ role: 'assistant', content: null, tool_calls: [call] });
    } else if (type === 'function_call_output') {
      const output = item['output'];
      messages.push({
        role: 'tool',
        tool_call_id: item['call_id'],
        content: typeof output === 'string' ? output : content(output, `${where}.output`),
      });
    } else if (type !== 'reasoning') {
      throw new UntranslatableError(`${where}.type "${String(type)}" has no equivalent there`);
    }
  });
  const request: ChatRequest = { model, messages };
  const tools = body['tools'];
  if (Array.isArray(tools) && tools.length > 0) {
    request['tools'] = tools.map((raw: unknown, i) => {
      const tool = isObject(raw) ? raw : {};
      if (tool['type'] !== 'function') throw new UntranslatableError(`tools[${i}].type "${String(tool['type'])}" has no equivalent there`);
      const { name, description, parameters, strict } = tool;
      return {
        type: 'function',
        function: { name, description, parameters: parameters ?? { type: 'object' }, ...(strict !== undefined && { strict }) },
      };
    });
  }
  const choice = body['tool_choice'];
  if (isObject(choice)) {
    if (choice['type'] !== 'function')
      throw new UntranslatableError(`tool_choice.type "${String(choice['type'])}" has no equivalent there`);
    request['tool_choice'] = { type: 'function', function: { name: choice['name'] } };
  } else if (choice !== undefined) request['tool_choice'] = choice;
  const format = isObject(body['text']) ? body['text']['format'] : undefined;
  if (isObject(format) && format['type'] === 'json_schema') {
    const { name, schema, strict, description } = format;
    request['response_format'] = { type: 'json_schema', json_schema: { name, schema, strict, description } };
  } else if (isObject(format) && format['type'] === 'json_object') request['response_format'] = { type: 'json_object' };
  const effort = isObject(body['reasoning']) ? body['reasoning']['effort'] : undefined;
  if (effort !== undefined && effort !== null) request['reasoning_effort'] = effort;
  if (body['max_output_tokens'] !== undefined && body['max_output_tokens'] !== null) request['max_tokens'] = body['max_output_tokens'];
  for (const key of ['temperature', 'top_p', 'parallel_tool_calls', 'user'] as const) {
    if (body[key] !== undefined && body[key] !== null) request[key] = body[key];
  }
  if (body['stream'] === true) Object.assign(request, { stream: true, stream_options: { include_usage: true } });
  return request;
}

/** What a response is made of, as it is built: its id, and its output items so far. */
class ResponseBuilder {
  readonly id = `resp_${randomUUID().replaceAll('-', '')}`;
  readonly created = Math.floor(Date.now() / 1000);
  readonly output: Json[] = [];
  usage: Json | null = null;
  status: 'in_progress' | 'completed' | 'incomplete' | 'failed' = 'in_progress';

  constructor(
    readonly model: string,
    private readonly request: Json,
  ) {}

  object(error?: string): Json {
    return {
      id: this.id,
      object: 'response',
      created_at: this.created,
      status: this.status,
      error: error === undefined ? null : { code: 'server_error', message: error },
      incomplete_details: this.status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
      instructions: this.request['instructions'] ?? null,
      max_output_tokens: this.request['max_output_tokens'] ?? null,
      model: this.model,
      output: this.output,
      parallel_tool_calls: this.request['parallel_tool_calls'] ?? true,
      temperature: this.request['temperature'] ?? null,
      tool_choice: this.request['tool_choice'] ?? 'auto',
      tools: this.request['tools'] ?? [],
      top_p: this.request['top_p'] ?? null,
      usage: this.usage,
    };
  }
}

const itemId = (prefix: string) => `${prefix}_${randomUUID().replaceAll('-', '')}`;

/** Usage in the Responses API's words. */
function usageOf(usage: unknown): Json | null {
  if (!isObject(usage)) return null;
  const input = Number(usage['prompt_tokens'] ?? 0);
  const output = Number(usage['completion_tokens'] ?? 0);
  const cached = isObject(usage['prompt_tokens_details']) ? Number(usage['prompt_tokens_details']['cached_tokens'] ?? 0) : 0;
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: cached },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: input + output,
  };
}

/** A chat completion as a response object, named `model` (as the client named it). */
export function responseFromCompletion(completion: Json, model: string, request: Json): Json {
  const built = new ResponseBuilder(model, request);
  const choice = (completion['choices'] as Json[] | undefined)?.[0] ?? {};
  const message = (choice['message'] ?? {}) as Json;
  const text = typeof message['content'] === 'string' ? message['content'] : '';
  if (text !== '') {
    built.output.push({
      type: 'message',
      id: itemId('msg'),
      status: 'completed',
      role: 'assistant',
      content: [{ type: 'output_text', text, annotations: [] }],
    });
  }
  for (const call of (message['tool_calls'] as Json[] | undefined) ?? []) {
    const fn = (call['function'] ?? {}) as Json;
    built.output.push({
      type: 'function_call',
      id: itemId('fc'),
      call_id: call['id'],
      name: fn['name'],
      arguments: fn['arguments'] ?? '',
      status: 'completed',
    });
  }
  built.status = choice['finish_reason'] === 'length' ? 'incomplete' : 'completed';
  built.usage = usageOf(completion['usage']);
  return built.object();
}

export interface ResponseEvent {
  type: string;
  [key: string]: unknown;
}

/**
 * Chat completion chunks as the Responses API's stream events, in its order: created, in_progress,
 * then per output item added → deltas → done, then completed (or incomplete); `response.failed`
 * (with `onBreak`'s words) if the chunks break. Each carries its sequence number.
 */
export async function* eventsFromChunks(
  chunks: AsyncIterable<Json>,
  model: string,
  request: Json,
  onBreak: (error: Error) => string,
): AsyncGenerator<ResponseEvent> {
  const built = new ResponseBuilder(model, request);
  let sequence = 0;
  const event = (type: string, fields: Json): ResponseEvent => ({ type, sequence_number: sequence++, ...fields });
  yield event('response.created', { response: built.object() });
  yield event('response.in_progress', { response: built.object() });
  let text: { item: Json; index: number; text: string } | undefined;
  const calls = new Map<number, { item: Json; index: number }>();
  function* closeText(): Generator<ResponseEvent> {
    if (!text) return;
    const { item, index } = text;
    const done = { type: 'output_text', text: text.text, annotations: [] };
    yield event('response.output_text.done', { item_id: item['id'], output_index: index, content_index: 0, text: text.text });
    yield event('response.content_part.done', { item_id: item['id'], output_index: index, content_index: 0, part: done });
    Object.assign(item, { status: 'completed', content: [done] });
    yield event('response.output_item.done', { output_index: index, item });
    text = undefined;
  }
  function* closeCalls(): Generator<ResponseEvent> {
    for (const { item, index } of calls.values()) {
      yield event('response.function_call_arguments.done', { item_id: item['id'], output_index: index, arguments: item['arguments'] });
      item['status'] = 'completed';
      yield event('response.output_item.done', { output_index: index, item });
    }
    calls.clear();
  }
  try {
    yield* items(chunks);
  } catch (error) {
    // The same response as the events before named, as the official client requires.
    built.status = 'failed';
    yield event('response.failed', { response: built.object(onBreak(error as Error)) });
    return;
  }
  yield* closeText();
  yield* closeCalls();
  if (built.status === 'in_progress') built.status = 'completed';
  yield event(built.status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response: built.object() });

  async function* items(chunks: AsyncIterable<Json>): AsyncGenerator<ResponseEvent> {
    for await (const chunk of chunks) {
      if (chunk['usage']) built.usage = usageOf(chunk['usage']);
      const choice = (chunk['choices'] as Json[] | undefined)?.[0];
      const delta = (choice?.['delta'] ?? {}) as Json;
      if (typeof delta['content'] === 'string' && delta['content'] !== '') {
        if (!text) {
          const item = { type: 'message', id: itemId('msg'), status: 'in_progress', role: 'assistant', content: [] };
          text = { item, index: built.output.length, text: '' };
          built.output.push(item);
          yield event('response.output_item.added', { output_index: text.index, item });
          yield event('response.content_part.added', {
            item_id: item.id,
            output_index: text.index,
            content_index: 0,
            part: { type: 'output_text', text: '', annotations: [] },
          });
        }
        text.text += delta['content'];
        yield event('response.output_text.delta', {
          item_id: text.item['id'],
          output_index: text.index,
          content_index: 0,
          delta: delta['content'],
        });
      }
      for (const call of (delta['tool_calls'] as Json[] | undefined) ?? []) {
        const key = Number(call['index'] ?? 0);
        const fn = (call['function'] ?? {}) as Json;
        let open = calls.get(key);
        if (!open) {
          yield* closeText();
          const item = {
            type: 'function_call',
            id: itemId('fc'),
            call_id: call['id'],
            name: fn['name'],
            arguments: '',
            status: 'in_progress',
          };
          open = { item, index: built.output.length };
          calls.set(key, open);
          built.output.push(item);
          yield event('response.output_item.added', { output_index: open.index, item });
        }
        if (typeof fn['arguments'] === 'string' && fn['arguments'] !== '') {
          open.item['arguments'] = `${String(open.item['arguments'])}${fn['arguments']}`;
          yield event('response.function_call_arguments.delta', {
            item_id: open.item['id'],
            output_index: open.index,
            delta: fn['arguments'],
          });
        }
      }
      if (typeof choice?.['finish_reason'] === 'string') built.status = choice['finish_reason'] === 'length' ? 'incomplete' : 'completed';
    }
  }
}
