/**
 * A provider that speaks OpenAI's chat completions API (`type = "openai"`, and any compatible
 * server through `base_url`): requests go through unchanged but for the model id, over one
 * keep-alive pool per provider.
 */
import type { LlmProviderConfig } from '../../config/schema.js';
import { readText } from '../../mcp/downstreams/http-client.js';
import { providerKey, sseJson, type ChatOutcome, type ChatRequest } from '../provider.js';
import { HttpProvider } from './http-provider.js';

export const OPENAI_BASE_URL = 'https://api.openai.com/v1';

/** What a provider's error body says, and the body itself when it is in OpenAI's shape. */
export function errorOutcome(status: number, text: string): Extract<ChatOutcome, { kind: 'error' }> {
  try {
    const body = JSON.parse(text) as { error?: { message?: unknown } };
    if (typeof body.error?.message === 'string') return { kind: 'error', status, message: body.error.message, body };
  } catch {
    // not JSON: the text is the message
  }
  return { kind: 'error', status, message: text.trim() || `the provider answered ${status}` };
}

export class OpenAiProvider extends HttpProvider {
  constructor(name: string, config: LlmProviderConfig) {
    super(name, config, OPENAI_BASE_URL, '/models');
  }

  async complete(request: ChatRequest, incoming: Readonly<Record<string, string>>, signal: AbortSignal): Promise<ChatOutcome> {
    const response = await this.post('/chat/completions', request, incoming, signal);
    const status = response.statusCode ?? 502;
    if (status >= 300) return errorOutcome(status, await readText(response).catch(() => ''));
    if (request.stream === true) return { kind: 'stream', chunks: chunksOf(response) };
    const text = await readText(response);
    try {
      const body = JSON.parse(text) as unknown;
      if (body !== null && typeof body === 'object' && !Array.isArray(body)) return { kind: 'completion', body: body as Record<string, unknown> };
    } catch {
      // reported below
    }
    return { kind: 'error', status: 502, message: `provider '${this.name}' answered with something that is not a JSON object` };
  }

  protected headers(incoming: Readonly<Record<string, string>>): Record<string, string> {
    const key = providerKey(this.config, incoming);
    return key === undefined ? {} : { authorization: `Bearer ${key}` };
  }
}

async function* chunksOf(body: Parameters<typeof sseJson>[0]): AsyncGenerator<Record<string, unknown>> {
  for await (const { data } of sseJson(body)) yield data;
}
