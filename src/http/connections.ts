/**
 * Connection hygiene for nexus's listeners (`[server.limits]`): slow clients are ended (headers
 * within `read_header_timeout`, a whole request, body included, within `read_timeout`; idle
 * keep-alive connections after `idle_timeout`), and connections are limited overall
 * (`max_connections`: more are closed as they arrive, before they cost anything) and per client
 * address (`max_connections_per_ip`: one more is answered 503 and closed), so that one client
 * cannot use up the process's file descriptors, which its downstreams need too.
 */
import { readFileSync } from 'node:fs';
import type { Server as HttpServer, ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import type { LimitsConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { normalizeIp } from './client-ip.js';

/** How long a connection over the per-address limit may take to send the request we refuse. */
const REFUSED_GRACE_MS = 2_000;
/** At most one warning about refused connections per this period. */
const WARN_EVERY_MS = 60_000;

/** The timeouts of a listener, as Node's HTTP server takes them. */
export function timeoutOptions(limits: LimitsConfig): ServerOptions {
  return {
    headersTimeout: limits.read_header_timeout,
    requestTimeout: limits.read_timeout,
    keepAliveTimeout: limits.idle_timeout,
    // Node checks the two read timeouts on this interval (30 s by default): keep it close to them.
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(limits.read_header_timeout / 4))),
  };
}

/**
 * Limits `server`'s connections; returns whether a connection is over the per-address limit (its
 * request is then to be answered with `tooManyConnections()`).
 */
export function limitConnections(server: HttpServer, limits: LimitsConfig, logger: Logger): (socket: Socket) => boolean {
  const perIp = new Map<string, number>();
  const refused = new WeakSet<Socket>();
  const log = logger.child({ component: 'connections' });
  let warnedAt = -Infinity;
  const warn = (reason: string, fields: Record<string, unknown>) => {
    if (performance.now() - warnedAt < WARN_EVERY_MS) return;
    warnedAt = performance.now();
    log.warn(fields, reason);
  };

  server.maxConnections = limits.max_connections;
  server.on('drop', () =>
    warn('connection limit reached: new connections are closed (server.limits.max_connections)', { max: limits.max_connections }),
  );
  server.prependListener('connection', (socket: Socket) => {
    const ip = normalizeIp(socket.remoteAddress ?? '');
    const count = (perIp.get(ip) ?? 0) + 1;
    perIp.set(ip, count);
    socket.once('close', () => {
      const left = (perIp.get(ip) ?? 1) - 1;
      if (left > 0) perIp.set(ip, left);
      else perIp.delete(ip);
    });
    if (count <= limits.max_connections_per_ip) return;
    refused.add(socket);
    setTimeout(() => socket.destroy(), REFUSED_GRACE_MS).unref();
    warn('a client address reached its connection limit: more are refused (server.limits.max_connections_per_ip)', {
      ip,
      max: limits.max_connections_per_ip,
    });
  });
  return (socket) => refused.has(socket);
}

/** The answer to a request on a connection over the per-address limit. */
export function tooManyConnections(): Response {
  const body = { error: 'too_many_connections', error_description: 'too many connections from this address; close some and retry' };
  return Response.json(body, { status: 503, headers: { connection: 'close', 'retry-after': '1' } });
}

/** File descriptors kept for everything but client connections: downstreams, logs, Redis. */
const SPARE_DESCRIPTORS = 256;

/**
 * Warns at start when the process may open too few files for `max_connections` plus its own work
 * (Linux, where /proc tells the limit; elsewhere nothing is checked).
 */
export function warnIfFewFiles(limits: LimitsConfig, logger: Logger): void {
  let text: string;
  try {
    text = readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return;
  }
  const soft = Number(/^Max open files\s+(\d+)/m.exec(text)?.[1]);
  if (Number.isFinite(soft) && soft < limits.max_connections + SPARE_DESCRIPTORS) {
    logger.warn(
      { open_files: soft, max_connections: limits.max_connections },
      'the open-file limit leaves little room beside server.limits.max_connections: raise it (ulimit -n) or lower max_connections',
    );
  }
}
