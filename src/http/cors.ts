/**
 * CORS, answered before anything else (preflights never reach auth). Without a `[server.cors]`
 * table nexus is permissive: any allowed origin (see allowedOrigins), the requested methods and
 * headers. With one, only what it allows; origins may be exact or globs ("https://*.example.com").
 */
import type { MiddlewareHandler } from 'hono';
import type { ServerConfig } from '../config/schema.js';

type CorsConfig = NonNullable<ServerConfig['cors']>;

/** What the MCP endpoint needs, used where the table leaves a list out. */
const DEFAULT_ALLOW_METHODS = ['GET', 'POST', 'DELETE', 'OPTIONS'];
const DEFAULT_ALLOW_HEADERS = ['content-type', 'authorization', 'mcp-protocol-version', 'mcp-session-id', 'last-event-id'];
const DEFAULT_EXPOSE_HEADERS = ['mcp-session-id', 'mcp-protocol-version'];

/** Turns configured origins into one predicate; entries with * or ? are globs, all else literal. */
export function originMatcher(origins: CorsConfig['allow_origins']): (origin: string) => boolean {
  if (origins === '*') return () => true;
  const exact = new Set<string>();
  const globs: RegExp[] = [];
  for (const entry of origins ?? []) {
    // Schemes and hosts are case-insensitive; browsers send them in lower case.
    if (!/[*?]/.test(entry)) {
      exact.add(entry.toLowerCase());
      continue;
    }
    const pattern = entry
      .replace(/[.+^${}()|[\]\\/]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.');
    globs.push(new RegExp(`^${pattern}$`, 'i'));
  }
  return (origin) => exact.has(origin.toLowerCase()) || globs.some((glob) => glob.test(origin));
}

const LOOPBACK_ORIGIN = /^https?:\/\/(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d+)?$/i;

/**
 * Which browser origins may call nexus: the `[server.cors]` list when there is one. Without it,
 * any origin, except on a loopback listener, where only local pages may (a page on any web site
 * could otherwise drive the tools of a nexus on the user's own machine).
 */
export function allowedOrigins(config: CorsConfig | undefined, loopbackListener: boolean): (origin: string) => boolean {
  if (config) return originMatcher(config.allow_origins);
  return loopbackListener ? (origin) => LOOPBACK_ORIGIN.test(origin) : () => true;
}

const join = (value: string | readonly string[]) => (typeof value === 'string' ? value : value.join(', '));

export function cors(config: CorsConfig | undefined, allowed: (origin: string) => boolean): MiddlewareHandler {
  const anyOrigin = !config || config.allow_origins === '*';
  return async (c, next) => {
    const origin = c.req.header('origin');
    const preflight = c.req.method === 'OPTIONS' && c.req.header('access-control-request-method') !== undefined;
    if (origin === undefined || !allowed(origin)) {
      if (preflight) return c.body(null, 204);
      await next();
      return;
    }
    const headers: Record<string, string> = {
      'Access-Control-Allow-Origin': anyOrigin && !config?.allow_credentials ? '*' : origin,
    };
    if (!anyOrigin || config?.allow_credentials) headers['Vary'] = 'Origin';
    if (config?.allow_credentials) headers['Access-Control-Allow-Credentials'] = 'true';
    if (preflight) {
      const requestedHeaders = c.req.header('access-control-request-headers');
      headers['Access-Control-Allow-Methods'] = config
        ? join(config.allow_methods ?? DEFAULT_ALLOW_METHODS)
        : (c.req.header('access-control-request-method') ?? '*');
      const allowHeaders = config ? join(config.allow_headers ?? DEFAULT_ALLOW_HEADERS) : requestedHeaders;
      if (allowHeaders) headers['Access-Control-Allow-Headers'] = allowHeaders;
      if (config?.max_age !== undefined) headers['Access-Control-Max-Age'] = String(Math.floor(config.max_age / 1000));
      if (config?.allow_private_network && c.req.header('access-control-request-private-network') === 'true') {
        headers['Access-Control-Allow-Private-Network'] = 'true';
      }
      return c.body(null, 204, headers);
    }
    await next();
    for (const [name, value] of Object.entries(headers)) c.res.headers.set(name, value);
    c.res.headers.set('Access-Control-Expose-Headers', join(config?.expose_headers ?? DEFAULT_EXPOSE_HEADERS));
  };
}
