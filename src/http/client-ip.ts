/**
 * The caller's IP address, for per-IP decisions: the socket's address by default. Behind
 * proxies, `client_ip.x_real_ip` trusts the X-Real-IP header, and
 * `client_ip.x_forwarded_for_trusted_hops = N` takes the address N entries from the right of
 * X-Forwarded-For (each trusted proxy appends the address it saw; anything further left could
 * have been sent by the client itself).
 */
import { isIP } from 'node:net';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { MiddlewareHandler } from 'hono';
import type { ServerConfig } from '../config/schema.js';
import type { AppEnv } from './app-env.js';

export type ClientIpConfig = NonNullable<ServerConfig['client_ip']>;
export type ClientIpVariables = { clientIp: string };

/** "::ffff:10.0.0.1" is IPv4 10.0.0.1. */
function normalizeIp(address: string): string {
  const trimmed = address.trim();
  return trimmed.startsWith('::ffff:') && trimmed.includes('.') ? trimmed.slice(7) : trimmed;
}

/**
 * What limits per client address count by: an IPv4 address as it is (also when written as IPv6:
 * mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, in any spelling), and
 * an IPv6 address by its /64 network, since one user (one home, one server) is given a whole /64
 * and could otherwise take a new address, and a new budget, for every request.
 */
export function addressKey(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  const groups = ipv6Groups(ip);
  const [a = 0, b = 0, c = 0, d = 0, e = 0, f = 0, g = 0, h = 0] = groups;
  const zeroPrefix = a === 0 && b === 0 && c === 0 && d === 0;
  const embedsIpv4 =
    (zeroPrefix && e === 0 && (f === 0xffff || (f === 0 && g !== 0))) ||
    (a === 0x64 && b === 0xff9b && c === 0 && d === 0 && e === 0 && f === 0);
  if (embedsIpv4) return `${g >> 8}.${g & 0xff}.${h >> 8}.${h & 0xff}`;
  return `${groups
    .slice(0, 4)
    .map((group) => group.toString(16))
    .join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address (`isIP` has checked it), a dotted IPv4 tail as two. */
function ipv6Groups(ip: string): number[] {
  let text = ip.toLowerCase().replace(/%.*$/, '');
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [w, x, y, z] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((w << 8) | x).toString(16)}:${((y << 8) | z).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const written = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return written.map((group) => Number.parseInt(group, 16));
}

/**
 * A header's address, or undefined when it is not one: whatever a client sends there is checked
 * (a proxy may add a port, or brackets around IPv6), so junk never becomes a rate-limit key.
 */
function headerIp(value: string | undefined): string | undefined {
  let candidate = value?.trim() ?? '';
  if (candidate.length > 64) return undefined;
  candidate = /^\[([^\]]+)\](?::\d+)?$/.exec(candidate)?.[1] ?? /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(candidate)?.[1] ?? candidate;
  return isIP(candidate) === 0 ? undefined : normalizeIp(candidate);
}

export function resolveClientIp(
  socketAddress: string,
  header: (name: string) => string | undefined,
  config: ClientIpConfig | undefined,
): string {
  if (config?.x_real_ip) {
    const realIp = headerIp(header('x-real-ip'));
    if (realIp) return realIp;
  }
  const hops = config?.x_forwarded_for_trusted_hops;
  if (hops !== undefined) {
    const chain = (header('x-forwarded-for') ?? '').split(',');
    const candidate = headerIp(chain[chain.length - hops]);
    if (candidate) return candidate;
  }
  return normalizeIp(socketAddress);
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
