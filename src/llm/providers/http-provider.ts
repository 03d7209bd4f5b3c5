/** What every HTTP provider shares: its base URL, a keep-alive pool, model discovery, and closing. */
import type { IncomingMessage } from 'node:http';
import type { LlmProviderConfig } from '../../config/schema.js';
import { createPool, readText, send, type Pool } from '../../mcp/downstreams/http-client.js';
import { headersFor } from '../header-rules.js';
import type { ChatOutcome, ChatProvider, ChatRequest } from '../provider.js';

/** A models listing that takes longer fails (and the last good list stays). */
export const DISCOVERY_TIMEOUT_MS = 10_000;

export abstract class HttpProvider implements ChatProvider {
  private readonly pool: Pool = createPool();
  private readonly base: string;

  constructor(
    readonly name: string,
    readonly config: LlmProviderConfig,
    defaultBaseUrl: string,
    /** The models API, under the base URL. */
    private readonly modelsPath: string,
  ) {
    this.base = (config.base_url ?? defaultBaseUrl).replace(/\/+$/, '');
  }

  abstract complete(request: ChatRequest, incoming: Readonly<Record<string, string>>, signal: AbortSignal): Promise<ChatOutcome>;

  /** The provider's auth (and version) headers, with the client's key where it may forward one. */
  protected abstract headers(incoming: Readonly<Record<string, string>>): Record<string, string>;

  async discover(): Promise<string[]> {
    const signal = AbortSignal.timeout(DISCOVERY_TIMEOUT_MS);
    const response = await send(this.pool, new URL(`${this.base}${this.modelsPath}`), { method: 'GET', headers: this.headers({}), signal });
    const text = await readText(response);
    if ((response.statusCode ?? 0) >= 400) throw new Error(`models API answered ${response.statusCode}`);
    const data = (JSON.parse(text) as { data?: { id?: unknown }[] }).data ?? [];
    return data.flatMap((model) => (typeof model.id === 'string' ? [model.id] : []));
  }

  /** POSTs `body` as JSON to `path` under the base URL, with the header rules applied; resolves with the response head. */
  protected post(path: string, body: unknown, incoming: Readonly<Record<string, string>>, signal: AbortSignal): Promise<IncomingMessage> {
    const headers = { ...headersFor(this.config.headers, incoming), ...this.headers(incoming), 'content-type': 'application/json' };
    return send(this.pool, new URL(`${this.base}${path}`), { method: 'POST', headers, body: JSON.stringify(body), signal });
  }

  close(): void {
    this.pool.http.destroy();
    this.pool.https.destroy();
  }
}
