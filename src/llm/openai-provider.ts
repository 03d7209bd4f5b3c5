/**
 * A provider that speaks OpenAI's chat completions API (`type = "openai"`, and any compatible
 * server through `base_url`): requests go through unchanged but for the model id, over one
 * keep-alive pool per provider.
 */
import type { IncomingMessage } from 'node:http';
import type { LlmProviderConfig } from '../config/schema.js';
import { createPool, readText, send, type Pool } from '../mcp/downstreams/http-client.js';
import type { ModelSource } from './models.js';

export const OPENAI_BASE_URL = 'https://api.openai.com/v1';
/** A models listing that takes longer fails (and the last good list stays). */
const DISCOVERY_TIMEOUT_MS = 10_000;

export class OpenAiProvider implements ModelSource {
  private readonly pool: Pool;
  private readonly base: string;

  constructor(
    readonly name: string,
    readonly config: LlmProviderConfig,
  ) {
    this.base = (config.base_url ?? OPENAI_BASE_URL).replace(/\/+$/, '');
    this.pool = createPool();
  }

  /** The key to send: the client's own when the provider forwards tokens and the client gave one. */
  apiKey(clientKey: string | undefined): string | undefined {
    return this.config.forward_token && clientKey ? clientKey : this.config.api_key;
  }

  async discover(): Promise<string[]> {
    const signal = AbortSignal.timeout(DISCOVERY_TIMEOUT_MS);
    const response = await send(this.pool, new URL(`${this.base}/models`), { method: 'GET', headers: this.headers(undefined), signal });
    const text = await readText(response);
    if ((response.statusCode ?? 0) >= 400) throw new Error(`models API answered ${response.statusCode}`);
    const data = (JSON.parse(text) as { data?: { id?: unknown }[] }).data ?? [];
    return data.flatMap((model) => (typeof model.id === 'string' ? [model.id] : []));
  }

  /** POSTs a chat completion; resolves with the upstream response, its body still to read. */
  chat(body: Record<string, unknown>, clientKey: string | undefined, signal: AbortSignal): Promise<IncomingMessage> {
    const headers = { ...this.headers(clientKey), 'content-type': 'application/json' };
    return send(this.pool, new URL(`${this.base}/chat/completions`), { method: 'POST', headers, body: JSON.stringify(body), signal });
  }

  close(): void {
    this.pool.http.destroy();
    this.pool.https.destroy();
  }

  private headers(clientKey: string | undefined): Record<string, string> {
    const key = this.apiKey(clientKey);
    return key === undefined ? {} : { authorization: `Bearer ${key}` };
  }
}
