/**
 * A span and an `http.server.request.duration` measurement per request to the guarded routes
 * (MCP, /status, LLM). First in their chain, so refusals (401, 403, 429) are seen too.
 */
import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { Context } from 'hono';
import { secondsSince, type Telemetry } from '../telemetry/telemetry.js';
import type { AppEnv } from './app-env.js';

/** The route the request matched (its handler's path), or "unknown": never the raw path, which any client can vary. */
function routeOf(c: Context<AppEnv>): string {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    const path = routes[i]?.path;
    if (path !== undefined && !path.includes('*')) return path;
  }
  return 'unknown';
}

export function observeHttp(telemetry: Telemetry): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const start = performance.now();
    const method = c.req.method;
    const route = routeOf(c);
    const url = new URL(c.req.url);
    const attributes = {
      'http.request.method': method,
      'http.route': route,
      'url.path': url.pathname,
      'url.scheme': url.protocol.slice(0, -1),
      'server.address': c.req.header('host'),
      'user_agent.original': c.req.header('user-agent'),
    };
    await telemetry.span(`${method} ${route}`, { kind: 'server', attributes, parent: (key) => c.req.header(key) }, async (span) => {
      try {
        await next();
      } finally {
        const status = c.res.status;
        const client = c.get('client');
        span.set({ 'http.response.status_code': status, 'client.id': client?.id, 'client.group': client?.group });
        if (status >= 500) span.fail(String(status));
        telemetry.record('http.server.request.duration', secondsSince(start), {
          'http.request.method': method,
          'http.route': route,
          'http.response.status_code': status,
          'url.scheme': attributes['url.scheme'],
          ...(status >= 500 && { 'error.type': String(status) }),
        });
      }
    });
  };
}
