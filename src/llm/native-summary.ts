/**
 * What a provider's native answer says in the common (chat completion) shape, for telemetry only:
 * its finish reason, token usage, model and first content, read from an Anthropic message, an
 * OpenAI chat completion or Responses object, or their stream events. The answer itself passes
 * through untouched; nothing here is sent to the client.
 */
import { finishOfStop } from './anthropic-shape.js';
import type { NativeApi } from './provider.js';

type Json = Record<string, unknown>;

const usage = (input: unknown, output: unknown) =>
  typeof input === 'number' && typeof output === 'number' ? { prompt_tokens: input, completion_tokens: output } : undefined;

/** A Responses API status as a chat finish reason. */
const finishOfResponse = (response: Json) =>
  response['status'] === 'incomplete'
    ? 'length'
    : (response['output'] as Json[] | undefined)?.some((item) => item['type'] === 'function_call')
      ? 'tool_calls'
      : 'stop';

/** A whole native answer, summarised. */
export function summaryOfAnswer(api: NativeApi, answer: Json): Json {
  if (api === 'openai-chat') return answer;
  if (api === 'anthropic-messages') {
    const used = answer['usage'] as Json | undefined;
    return {
      id: answer['id'],
      model: answer['model'],
      choices: [{ finish_reason: finishOfStop(answer['stop_reason']) }],
      usage: usage(used?.['input_tokens'], used?.['output_tokens']),
    };
  }
  const used = answer['usage'] as Json | undefined;
  return {
    id: answer['id'],
    model: answer['model'],
    choices: [{ finish_reason: finishOfResponse(answer) }],
    usage: usage(used?.['input_tokens'], used?.['output_tokens']),
  };
}

/** A reader of a native stream's events (their parsed data), one per stream: some events need what came before. */
export function eventSummaries(api: NativeApi): (data: Json) => Json | undefined {
  if (api === 'openai-chat') return (data) => data;
  if (api === 'anthropic-messages') {
    let inputTokens = 0;
    let model: unknown;
    return (data) => {
      switch (data['type']) {
        case 'message_start': {
          const message = data['message'] as Json | undefined;
          model = message?.['model'];
          inputTokens = Number((message?.['usage'] as Json | undefined)?.['input_tokens'] ?? 0);
          return { model };
        }
        case 'content_block_start':
        case 'content_block_delta':
          return { choices: [{ delta: { content: '' } }] };
        case 'message_delta': {
          const output = (data['usage'] as Json | undefined)?.['output_tokens'];
          const stop = (data['delta'] as Json | undefined)?.['stop_reason'];
          return { model, choices: [{ delta: {}, finish_reason: finishOfStop(stop) }], usage: usage(inputTokens, output) };
        }
        case 'error':
          return { error: String((data['error'] as Json | undefined)?.['message'] ?? 'the provider reported an error') };
        default:
          return undefined;
      }
    };
  }
  return (data) => {
    const type = String(data['type'] ?? '');
    if (type === 'response.output_text.delta' || type === 'response.output_item.added') return { choices: [{ delta: { content: '' } }] };
    if (type === 'response.completed' || type === 'response.incomplete') return summaryOfAnswer(api, (data['response'] ?? {}) as Json);
    if (type === 'response.failed' || type === 'error') {
      const error = (type === 'error' ? data : ((data['response'] as Json | undefined)?.['error'] ?? {})) as Json;
      return { error: String(error['message'] ?? 'the provider reported an error') };
    }
    return undefined;
  };
}
