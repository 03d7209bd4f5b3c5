/** Raw 2026-07-28 requests to nexus, for what the SDK client does not let a test do (retry elsewhere, give up, send odd headers). */

export interface ModernAnswer {
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
}

export interface ModernOptions {
  headers?: Record<string, string>;
  signal?: AbortSignal;
  capabilities?: Record<string, unknown>;
}

/** One request with the per-request envelope and the headers the revision requires; `headers` beside them. */
export async function modernRequest(
  url: string,
  method: string,
  params: Record<string, unknown>,
  options: ModernOptions = {},
): Promise<ModernAnswer> {
  const text = await (await modernFetch(url, method, params, options)).text();
  // One JSON body, or an event stream whose last message is the answer.
  const data = text.startsWith('{')
    ? text
    : (
        text
          .split('\n')
          .filter((line) => line.startsWith('data: '))
          .pop() ?? ''
      ).slice(6);
  return JSON.parse(data) as ModernAnswer;
}

/** The HTTP response to one such request, to read as it streams. */
export function modernFetch(url: string, method: string, params: Record<string, unknown>, options: ModernOptions = {}): Promise<Response> {
  const meta = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
    'io.modelcontextprotocol/clientCapabilities': options.capabilities ?? {},
  };
  const name: Record<string, string> = typeof params['name'] === 'string' ? { 'mcp-name': params['name'] } : {};
  return fetch(`${url}/mcp`, {
    method: 'POST',
    signal: options.signal,
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': method,
      ...name,
      ...options.headers,
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: { ...params, _meta: meta } }),
  });
}
