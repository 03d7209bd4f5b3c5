/**
 * DNS-rebinding protection for loopback listeners: a page on another site can make a browser
 * send requests to 127.0.0.1, but it cannot make the Host header say localhost. Listeners on
 * other addresses are reachable under names we cannot know, so they are not checked here.
 */
import type { MiddlewareHandler } from 'hono';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export function isLoopback(host: string): boolean {
  return LOOPBACK_HOSTS.has(host) || host.startsWith('127.');
}

/** The host part of a Host header value ("localhost:8000" -> "localhost", "[::1]:80" -> "[::1]"). */
function hostnameOf(hostHeader: string): string {
  return hostHeader.startsWith('[') ? hostHeader.slice(0, hostHeader.indexOf(']') + 1) : hostHeader.split(':')[0] ?? '';
}

export function loopbackHostGuard(): MiddlewareHandler {
  return async (c, next) => {
    const host = c.req.header('host');
    if (host !== undefined && !isLoopback(hostnameOf(host))) {
      return c.json({ error: 'forbidden_host', error_description: `Host ${host} is not allowed on a loopback listener` }, 403);
    }
    await next();
  };
}
