/**
 * A provider that speaks OpenAI's chat completions API (`type = "openai"`, and any compatible
 * server through `base_url`): requests go through unchanged but for the model id, over one
 * keep-alive pool per provider.
 */
import type { LlmProviderConfig } from '../../config/schema.js';
import { providerKey, type ChatOutcome, type ChatRequest } from '../provider.js';
import { HttpProvider, listedIds, type SseJson, type WireFormat } from './http-provider.js';

const OPENAI_BASE_URL = 'https://api.openai.com/v1';

async function* chunksOf(events: SseJson): AsyncGenerator<Record<string, unknown>> {
  for await (const { data } of events) yield data;
}

/** OpenAI's own API is the common shape: nothing to translate. */
const OPENAI_WIRE: WireFormat = { completion: (body) => body, chunks: chunksOf, openAiErrors: true };

export class OpenAiProvider extends HttpProvider {
  constructor(name: string, config: LlmProviderConfig) {
    super(name, config, OPENAI_BASE_URL, OPENAI_WIRE, { 'openai-chat': '/chat/completions', 'openai-responses': '/responses' });
  }

  complete(request: ChatRequest, incoming: Readonly<Record<string, string>>, signal: AbortSignal, model: string): Promise<ChatOutcome> {
    return this.exchange('/chat/completions', () => request, request.stream === true, incoming, signal, model);
  }

  async discover(): Promise<string[]> {
    return listedIds(await this.getJson('/models'));
  }

  protected headers(incoming: Readonly<Record<string, string>>): Record<string, string> {
    const key = providerKey(this.config, incoming);
    return key === undefined ? {} : { authorization: `Bearer ${key}` };
  }
}
