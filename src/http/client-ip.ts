/**
 * The caller's IP address, for per-IP decisions: the socket's address by default. Behind
 * proxies, `client_ip.x_real_ip` trusts the X-Real-IP header, and
 * `client_ip.x_forwarded_for_trusted_hops = N` takes the address N entries from the right of
 * X-Forwarded-For (each trusted proxy appends the address it saw; anything further left could
 * have been sent by the client itself).
 */
import { getConnInfo } from '@hono/node-server/conninfo';
import type { MiddlewareHandler } from 'hono';
import type { ServerConfig } from '../config/schema.js';
import type { AppEnv } from './app-env.js';

export type ClientIpConfig = NonNullable<ServerConfig['client_ip']>;
export type ClientIpVariables = { clientIp: string };

/** "::ffff:10.0.0.1" is IPv4 10.0.0.1. */
function normalize(address: string): string {
  const trimmed = address.trim();
  return trimmed.startsWith('::ffff:') && trimmed.includes('.') ? trimmed.slice(7) : trimmed;
}

export function resolveClientIp(
  socketAddress: string,
  header: (name: string) => string | undefined,
  config: ClientIpConfig | undefined,
): string {
  if (config?.x_real_ip) {
    const realIp = header('x-real-ip')?.trim();
    if (realIp) return normalize(realIp);
  }
  const hops = config?.x_forwarded_for_trusted_hops;
  if (hops !== undefined) {
    const chain = (header('x-forwarded-for') ?? '')
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean);
    const candidate = chain[chain.length - hops];
    if (candidate) return normalize(candidate);
  }
  return normalize(socketAddress);
}

export function clientIp(config: ClientIpConfig | undefined): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const socket = getConnInfo(c).remote.address ?? '';
    c.set(
      'clientIp',
      resolveClientIp(socket, (name) => c.req.header(name), config),
    );
    await next();
  };
}
