/**
 * Telemetry of LLM requests: a span per request (the original's `llm:chat_completion`,
 * `llm:chat_completion_stream`, `llm:count_tokens`), the original's metrics
 * (`gen_ai.client.operation.duration`, `gen_ai.client.time_to_first_token`, the three token
 * counters, `gen_ai.client.count_tokens.duration`) with its attribute values, and the semantic
 * conventions' `gen_ai.client.token.usage` by `gen_ai.token.type`.
 *
 * A streamed answer is observed chunk by chunk as it passes: its span and its duration end with
 * the stream (at the finish reason, a break, or the end).
 */
import type { Context } from 'hono';
import type { AppEnv } from '../http/app-env.js';
import { secondsSince, type Attributes, type Span, type Telemetry } from '../telemetry/telemetry.js';
import { PROVIDER_KEY_HEADER } from './provider.js';

type Json = Record<string, unknown>;

/** What is known of a chat request before it is sent. */
export interface ChatFacts {
  /** The model as the client named it (`provider/model`). */
  model: string;
  /** The provider's type (openai, anthropic, google, bedrock): the conventions' `gen_ai.provider.name`. */
  providerType: string;
  stream: boolean;
  request: Json;
  /** Aborted when the client goes away: what fails then is no provider's failure. */
  signal: AbortSignal;
  /** Replaces secrets in a failure's text (the client's forwarded key among them). */
  redact: (text: string) => string;
}

/** How a chat request ended, as the handler learns it. */
export interface ChatObservation {
  /** Whether anything is recorded (telemetry is on): else what would only feed it need not be read. */
  readonly watching: boolean;
  /** Refused or failed, with the original's `error.type` word. */
  failed(type: string): void;
  /** A whole answer, in the common (OpenAI chat completion) shape. */
  completed(answer: Json): void;
  /**
   * The items of a streamed answer, observed as they pass (`read` tells what each says in the common
   * chunk shape, `{ error }` for an error the stream reports); the observation ends with them.
   */
  streamed<T = Json>(items: AsyncIterable<T>, read?: (item: T) => Json | undefined): AsyncIterable<T>;
}

const UNOBSERVED: ChatObservation = { watching: false, failed: () => undefined, completed: () => undefined, streamed: (items) => items };

/** The original's `error.type` for a provider's refusal, by its HTTP status. */
export function providerErrorType(status: number): string {
  if (status === 400 || status === 413 || status === 422) return 'invalid_request';
  if (status === 401) return 'authentication_failed';
  if (status === 402 || status === 403) return 'insufficient_quota';
  if (status === 404) return 'model_not_found';
  if (status === 429) return 'rate_limit_exceeded';
  return 'provider_api_error';
}

const clientOf = (c: Context<AppEnv>): Attributes => ({ 'client.id': c.get('client')?.id, 'client.group': c.get('client')?.group });

export class LlmObserver {
  constructor(private readonly telemetry: Telemetry) {}

  /** Runs a chat request's handling in its span; `work` reports the outcome on the observation it is given. */
  chat(c: Context<AppEnv>, facts: ChatFacts, work: (observation: ChatObservation) => Promise<Response>): Promise<Response> {
    const { telemetry } = this;
    const start = performance.now();
    const base: Attributes = {
      'gen_ai.system': 'nexus.llm',
      'gen_ai.operation.name': 'chat.completions',
      'gen_ai.request.model': facts.model,
      'gen_ai.provider.name': facts.providerType,
      ...clientOf(c),
    };
    const tools = Array.isArray(facts.request['tools']) ? facts.request['tools'].length : 0;
    const attributes: Attributes = {
      ...base,
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.max_tokens': numberOf(facts.request['max_tokens'] ?? facts.request['max_completion_tokens']),
      'gen_ai.request.temperature': numberOf(facts.request['temperature']),
      ...(tools > 0 && { 'gen_ai.request.has_tools': true, 'gen_ai.request.tool_count': tools }),
      'llm.auth_forwarded': c.req.header(PROVIDER_KEY_HEADER) !== undefined,
      ...(facts.stream && { 'llm.stream': true }),
    };
    const name = facts.stream ? 'llm:chat_completion_stream' : 'llm:chat_completion';
    return telemetry.span(name, { kind: 'client', attributes }, async (span) => {
      let ended = false;
      // Once per request: the duration, with its finish reason or error type.
      const end = (outcome: Attributes) => {
        if (ended) return;
        ended = true;
        telemetry.record('gen_ai.client.operation.duration', secondsSince(start), { ...base, ...outcome });
      };
      const tokens = (usage: unknown, model: unknown) => this.tokens(span, base, usage, model);
      const observation: ChatObservation = {
        watching: true,
        failed: (type) => {
          // A client that went away cancelled its request; nothing failed.
          if (facts.signal.aborted) return end({ 'error.type': 'cancelled' });
          span.fail(type);
          end({ 'error.type': type });
        },
        completed: (answer) => {
          const finish = finishReason(answer);
          span.set({ 'gen_ai.response.finish_reason': finish, 'gen_ai.response.id': stringOf(answer['id']) });
          tokens(answer['usage'], answer['model']);
          end({ 'gen_ai.response.finish_reason': finish });
        },
        streamed: (items, read) => this.stream(items, read ?? ((item) => item as Json), facts, span, base, start, end, tokens),
      };
      return work(observation);
    });
  }

  /** A count_tokens request; `tokensOf` reads the count from its outcome (undefined: it failed). */
  countTokens<T>(
    c: Context<AppEnv>,
    model: string,
    work: () => Promise<T>,
    tokensOf: (result: T) => number | undefined | Promise<number | undefined>,
  ): Promise<T> {
    const start = performance.now();
    const base = {
      'gen_ai.system': 'nexus.llm',
      'gen_ai.operation.name': 'chat.completions',
      'gen_ai.request.model': model,
      ...clientOf(c),
    };
    return this.telemetry.span(
      'llm:count_tokens',
      { attributes: { ...base, 'llm.auth_forwarded': c.req.header(PROVIDER_KEY_HEADER) !== undefined } },
      async (span) => {
        try {
          const result = await work();
          const tokens = await tokensOf(result);
          span.set({ 'llm.count_tokens.input': tokens });
          if (tokens === undefined) span.fail('provider_api_error');
          this.telemetry.record('gen_ai.client.count_tokens.duration', secondsSince(start), {
            ...base,
            'gen_ai.response': tokens === undefined ? 'error' : 'success',
            ...(tokens === undefined && { 'error.type': 'provider_api_error' }),
          });
          return result;
        } catch (error) {
          this.telemetry.record('gen_ai.client.count_tokens.duration', secondsSince(start), {
            ...base,
            'gen_ai.response': 'error',
            'error.type': 'internal_error',
          });
          throw error;
        }
      },
    );
  }

  /** Token usage, as the original's counters and the conventions' histogram, and on the span. */
  private tokens(span: Span, base: Attributes, usage: unknown, model: unknown): void {
    const { prompt_tokens: input, completion_tokens: output } = (usage ?? {}) as { prompt_tokens?: unknown; completion_tokens?: unknown };
    if (typeof input !== 'number' || typeof output !== 'number') return;
    span.set({
      'gen_ai.response.model': stringOf(model),
      'gen_ai.usage.input_tokens': input,
      'gen_ai.usage.output_tokens': output,
      'gen_ai.usage.total_tokens': input + output,
    });
    const counted = {
      'gen_ai.system': base['gen_ai.system'],
      'gen_ai.request.model': base['gen_ai.request.model'],
      'client.id': base['client.id'],
      'client.group': base['client.group'],
    };
    this.telemetry.record('gen_ai.client.input.token.usage', input, counted);
    this.telemetry.record('gen_ai.client.output.token.usage', output, counted);
    this.telemetry.record('gen_ai.client.total.token.usage', input + output, counted);
    const conventions = {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': base['gen_ai.provider.name'],
      'gen_ai.request.model': base['gen_ai.request.model'],
      'gen_ai.response.model': stringOf(model),
    };
    this.telemetry.record('gen_ai.client.token.usage', input, { ...conventions, 'gen_ai.token.type': 'input' });
    this.telemetry.record('gen_ai.client.token.usage', output, { ...conventions, 'gen_ai.token.type': 'output' });
  }

  private async *stream<T>(
    items: AsyncIterable<T>,
    read: (item: T) => Json | undefined,
    { signal, redact }: ChatFacts,
    span: Span,
    base: Attributes,
    start: number,
    end: (outcome: Attributes) => void,
    tokens: (usage: unknown, model: unknown) => void,
  ): AsyncIterable<T> {
    const close = span.hold();
    let first = true;
    let usage: unknown;
    let model: unknown;
    let finish: string | undefined;
    try {
      for await (const item of items) {
        const chunk = read(item) ?? {};
        if (typeof chunk['error'] === 'string' && !finish) {
          // Passed on to the client as the provider wrote it; here it ends the observation as a failure.
          finish = 'error';
          span.fail('provider_api_error', redact(chunk['error']));
          end({ 'error.type': 'provider_api_error' });
        }
        const delta = (chunk['choices'] as { delta?: Json; finish_reason?: unknown }[] | undefined)?.[0];
        if (first && (delta?.delta?.['content'] !== undefined || delta?.delta?.['tool_calls'] !== undefined)) {
          first = false;
          this.telemetry.record('gen_ai.client.time_to_first_token', secondsSince(start), base);
        }
        if (chunk['usage']) usage = chunk['usage'];
        model ??= chunk['model'];
        if (typeof delta?.finish_reason === 'string' && !finish) {
          finish = delta.finish_reason;
          span.set({ 'gen_ai.response.finish_reason': finish });
          end({ 'gen_ai.response.finish_reason': finish });
        }
        yield item;
      }
      end({});
    } catch (error) {
      if (signal.aborted) end({ 'error.type': 'cancelled' });
      else {
        span.fail('provider_api_error', error instanceof Error ? redact(error.message) : undefined);
        end({ 'error.type': 'provider_api_error' });
      }
      throw error;
    } finally {
      // Usage may come after the finish reason (OpenAI sends it in a last chunk of its own).
      tokens(usage, model);
      close();
    }
  }
}

/** No span and no metric: LLM requests without telemetry. */
export function unobserved(_c: Context<AppEnv>, _facts: ChatFacts, work: (observation: ChatObservation) => Promise<Response>) {
  return work(UNOBSERVED);
}

function finishReason(answer: Json): string | undefined {
  const reason = (answer['choices'] as { finish_reason?: unknown }[] | undefined)?.[0]?.finish_reason;
  return typeof reason === 'string' ? reason : undefined;
}

const numberOf = (value: unknown) => (typeof value === 'number' ? value : undefined);
const stringOf = (value: unknown) => (typeof value === 'string' ? value : undefined);
