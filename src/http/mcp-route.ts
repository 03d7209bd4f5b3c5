/**
 * The MCP endpoint: reads and parses the JSON body once (a malformed one gets a JSON-RPC parse
 * error, -32700, and touches nothing else), then hands the request to the SDK's stateless handler.
 */
import type { Hono } from 'hono';
import type { McpHttpHandler } from '@modelcontextprotocol/server';

export interface McpRouteOptions {
  path: string;
  handler: McpHttpHandler;
  /** Awaited before serving, so early clients see every downstream that could connect. */
  ready: Promise<void>;
}

export function mountMcp(app: Hono, { path, handler, ready }: McpRouteOptions): void {
  app.all(path, async (c) => {
    await ready;
    if (c.req.method !== 'POST') return handler.fetch(c.req.raw);
    let body: unknown;
    try {
      body = JSON.parse(await c.req.text());
    } catch (error) {
      const reason = error instanceof Error ? error.message : 'invalid JSON';
      return c.json({ jsonrpc: '2.0', id: null, error: { code: -32700, message: `Parse error: ${reason}` } }, 400);
    }
    return handler.fetch(c.req.raw, { parsedBody: body });
  });
}
