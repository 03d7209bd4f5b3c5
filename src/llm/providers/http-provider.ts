/**
 * What every HTTP provider shares: its base URL, a keep-alive pool, model discovery, and one
 * exchange (POST a request in the provider's own shape, read the answer as JSON or SSE, decoded
 * when compressed and bounded in size, translate it to the common shape). Each provider says how
 * its API maps onto the common shape.
 */
import type { IncomingMessage } from 'node:http';
import type { LlmProviderConfig } from '../../config/schema.js';
import { BodyTooLargeError, readText } from '../../net/body-limits.js';
import { createPool, destroyPool, send, type Pool } from '../../net/http-client.js';
import { headersFor, rulesFor } from '../header-rules.js';
import { sseJson, type ChatOutcome, type ChatProvider, type ChatRequest, type NativeApi } from '../provider.js';

/** A models listing that takes longer fails (and the last good list stays). */
export const DISCOVERY_TIMEOUT_MS = 10_000;
/**
 * The most nexus reads of one answer, or of one event of a streamed answer (decoded bytes), as
 * MCP's default `max_result_size`: a provider, or a proxy before it, could send without end.
 */
export const MAX_ANSWER_BYTES = 32 * 1024 * 1024;
/** The most of an error answer read for its message. */
const MAX_ERROR_BYTES = 64 * 1024;

type Json = Record<string, unknown>;
export type SseJson = AsyncIterable<{ event: string; data: Json }>;

/** How a provider's API answers, in terms of the common (OpenAI chat completions) shape. */
export interface WireFormat {
  /** The provider's JSON answer as a `chat.completion`; throws when it is not an answer. */
  completion(body: Json): Json;
  /** The provider's stream events as `chat.completion.chunk`s; throws on an error event. */
  chunks(events: SseJson): AsyncIterable<Json>;
  /** Whether its error bodies are OpenAI's shape already, and can be passed on as they are. */
  openAiErrors: boolean;
}

/** What a provider's error body says, and the body itself when it is in OpenAI's shape. */
function errorOutcome(status: number, text: string, keepBody: boolean): Extract<ChatOutcome, { kind: 'error' }> {
  try {
    const body = JSON.parse(text) as { error?: { message?: unknown } };
    if (typeof body.error?.message === 'string') return { kind: 'error', status, message: body.error.message, ...(keepBody && { body }) };
  } catch {
    // not JSON: the text is the message
  }
  return { kind: 'error', status, message: text.trim() || `the provider answered ${status}` };
}

export abstract class HttpProvider implements ChatProvider {
  private readonly pool: Pool = createPool();
  private readonly base: string;
  readonly nativeApis: ReadonlySet<NativeApi>;

  constructor(
    readonly name: string,
    readonly config: LlmProviderConfig,
    defaultBaseUrl: string,
    private readonly wire: WireFormat,
    /** Where each API this provider speaks natively is served, under the base URL. */
    private readonly nativePaths: Partial<Record<NativeApi, string>> = {},
  ) {
    this.base = (config.base_url ?? defaultBaseUrl).replace(/\/+$/, '');
    this.nativeApis = new Set(Object.keys(nativePaths) as NativeApi[]);
  }

  relay(
    api: NativeApi,
    body: string,
    incoming: Readonly<Record<string, string>>,
    signal: AbortSignal,
    model: string,
  ): Promise<IncomingMessage> {
    const path = this.nativePaths[api];
    if (path === undefined) throw new Error(`provider '${this.name}' does not speak ${api}`);
    return this.post(path, body, incoming, signal, model);
  }

  abstract complete(
    request: ChatRequest,
    incoming: Readonly<Record<string, string>>,
    signal: AbortSignal,
    model: string,
  ): Promise<ChatOutcome>;

  /** The model ids the provider's models API lists. */
  abstract discover(): Promise<string[]>;

  /** The provider's auth headers, with the client's key where it may forward one. */
  protected abstract headers(incoming: Readonly<Record<string, string>>): Record<string, string>;

  /** What the provider passes on of the client's headers by itself; header rules come after, and may change it. */
  protected passedOn(_incoming: Readonly<Record<string, string>>): Record<string, string> {
    return {};
  }

  /** GETs `path` (under the base URL) as JSON, with the discovery timeout; throws on an error status. */
  protected async getJson(path: string): Promise<Json> {
    const signal = AbortSignal.timeout(DISCOVERY_TIMEOUT_MS);
    const response = await send(this.pool, new URL(`${this.base}${path}`), {
      method: 'GET',
      headers: { ...this.passedOn({}), ...this.headers({}) },
      signal,
    });
    const text = await readText(response, MAX_ANSWER_BYTES);
    if ((response.statusCode ?? 0) >= 400) throw new Error(`models API answered ${response.statusCode}`);
    return JSON.parse(text) as Json;
  }

  /**
   * POSTs the request `translate` puts in the provider's own shape (400 if it cannot) to `path`,
   * with the header rules applied, and reads the answer as a stream when `stream`; throws when
   * the provider cannot be reached.
   */
  protected async exchange(
    path: string,
    translate: () => unknown,
    stream: boolean,
    incoming: Readonly<Record<string, string>>,
    signal: AbortSignal,
    /** The model's configured name, whose header rules apply after the provider's. */
    model: string,
  ): Promise<ChatOutcome> {
    const body = translated(this.name, translate);
    if (body.kind === 'error') return body;
    const response = await this.post(path, JSON.stringify(body.value), incoming, signal, model);
    const status = response.statusCode ?? 502;
    if (status >= 300) return errorOutcome(status, await readText(response, MAX_ERROR_BYTES).catch(() => ''), this.wire.openAiErrors);
    if (stream) return { kind: 'stream', chunks: this.wire.chunks(sseJson(response, MAX_ANSWER_BYTES)) };
    let text: string;
    try {
      text = await readText(response, MAX_ANSWER_BYTES);
    } catch (error) {
      if (error instanceof BodyTooLargeError) return { kind: 'error', status: 502, message: `provider '${this.name}': ${error.message}` };
      throw error;
    }
    try {
      const answer = JSON.parse(text) as unknown;
      if (answer !== null && typeof answer === 'object' && !Array.isArray(answer))
        return { kind: 'completion', body: this.wire.completion(answer as Json) };
    } catch {
      // reported below
    }
    return { kind: 'error', status: 502, message: `provider '${this.name}' gave an answer nexus could not read` };
  }

  private post(
    path: string,
    body: string,
    incoming: Readonly<Record<string, string>>,
    signal: AbortSignal,
    model: string,
  ): Promise<IncomingMessage> {
    const headers = {
      ...headersFor(rulesFor(this.config, model), incoming, this.passedOn(incoming)),
      ...this.headers(incoming),
      'content-type': 'application/json',
    };
    return send(this.pool, new URL(`${this.base}${path}`), { method: 'POST', headers, body, signal });
  }

  close(): void {
    destroyPool(this.pool);
  }
}

/** What `translate` makes of a request, or a 400 naming the provider when the request does not fit its API. */
export function translated<T>(
  provider: string,
  translate: () => T,
): { kind: 'translated'; value: T } | Extract<ChatOutcome, { kind: 'error' }> {
  try {
    return { kind: 'translated', value: translate() };
  } catch (error) {
    return { kind: 'error', status: 400, message: `the request cannot be sent to provider '${provider}': ${(error as Error).message}` };
  }
}

/** The ids of an OpenAI-style models list, `{data: [{id}]}` (OpenAI's and Anthropic's). */
export function listedIds(list: Json): string[] {
  const data = (list['data'] as { id?: unknown }[] | undefined) ?? [];
  return data.flatMap((model) => (typeof model.id === 'string' ? [model.id] : []));
}
