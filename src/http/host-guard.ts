/**
 * DNS-rebinding protection for loopback listeners: a page on another site can make a browser
 * send requests to 127.0.0.1, but it cannot make the Host header say localhost. Listeners on
 * other addresses are reachable under names we cannot know, so they are not checked here.
 */
import type { MiddlewareHandler } from 'hono';

const LOOPBACK_NAMES = new Set(['localhost', '::1', '[::1]']);
const LOOPBACK_IPV4 = /^127(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** True for loopback addresses and names only: `127.evil.example` is a name, not 127.x.x.x. */
export function isLoopback(host: string): boolean {
  return LOOPBACK_NAMES.has(host.toLowerCase()) || LOOPBACK_IPV4.test(host);
}

/** The host part of a Host header value ("localhost:8000" -> "localhost", "[::1]:80" -> "[::1]"). */
function hostnameOf(hostHeader: string): string {
  return hostHeader.startsWith('[') ? hostHeader.slice(0, hostHeader.indexOf(']') + 1) : (hostHeader.split(':')[0] ?? '');
}

/**
 * Refuses a request whose Origin the CORS rules do not allow. Browsers enforce CORS on the
 * response only, so the server checks too, as the MCP transport spec requires.
 */
export function originGuard(allowed: (origin: string) => boolean): MiddlewareHandler {
  return async (c, next) => {
    const origin = c.req.header('origin');
    if (origin !== undefined && !allowed(origin)) {
      return c.json({ error: 'forbidden_origin', error_description: 'requests from this origin are not allowed' }, 403);
    }
    await next();
  };
}

export function loopbackHostGuard(): MiddlewareHandler {
  return async (c, next) => {
    const host = c.req.header('host');
    if (host !== undefined && !isLoopback(hostnameOf(host))) {
      return c.json({ error: 'forbidden_host', error_description: 'this listener only answers requests addressed to localhost' }, 403);
    }
    await next();
  };
}
