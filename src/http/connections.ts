/**
 * Connection hygiene for nexus's listeners (`[server.limits]`), so that one client cannot use up
 * the process's memory or file descriptors, which its downstreams need too:
 * - slow clients are ended: headers within `read_header_timeout` (the TLS handshake too), a whole
 *   request, body included, within `read_timeout`; idle keep-alive connections after
 *   `idle_timeout`; a client that stops reading an answer nexus is sending after `send_timeout`;
 * - connections are limited overall (`max_connections`: more are closed as they arrive, before
 *   they cost anything) and per client address (`max_connections_per_ip`: one more is answered
 *   503 and closed at once, so refusals never hold a place of the overall limit).
 */
import { readFileSync } from 'node:fs';
import type { Server as HttpServer, ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import { Server as TlsServer } from 'node:tls';
import type { LimitsConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { ThrottledWarnings } from '../throttled-warnings.js';
import { addressKey } from './client-ip.js';

/** How often connections are checked for answers their client stopped reading. */
const SEND_CHECK_MS = 1_000;

/** The answer a connection over the per-address limit gets, written straight to its socket. */
const TOO_MANY_CONNECTIONS = (() => {
  const body = JSON.stringify({
    error: 'too_many_connections',
    error_description: 'too many connections from this address; close some and retry',
  });
  return (
    'HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
})();

/** The timeouts of a listener, as Node's HTTP (and HTTPS) server takes them. */
export function timeoutOptions(limits: LimitsConfig): ServerOptions & { handshakeTimeout: number } {
  return {
    headersTimeout: limits.read_header_timeout,
    requestTimeout: limits.read_timeout,
    keepAliveTimeout: limits.idle_timeout,
    handshakeTimeout: limits.read_header_timeout,
    // Node checks the two read timeouts on this interval (30 s by default): keep it close to them.
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(limits.read_header_timeout / 4))),
  };
}

/** Limits `server`'s connections overall and per address, and ends those whose client stopped reading. */
export function limitConnections(server: HttpServer, limits: LimitsConfig, logger: Logger): void {
  const perIp = new Map<string, number>();
  const log = logger.child({ component: 'connections' });
  // One throttle each: a flood of one kind must not hide the other.
  const overall = new ThrottledWarnings(log, 'connections over server.limits.max_connections', 1, 60_000);
  const perAddress = new ThrottledWarnings(log, 'connections over server.limits.max_connections_per_ip', 1, 60_000);
  const tls = server instanceof TlsServer;

  server.maxConnections = limits.max_connections;
  server.on('drop', () => overall.warn({ max: limits.max_connections }, 'connection limit reached: new connections are closed'));
  server.prependListener('connection', (socket: Socket) => {
    const ip = addressKey(socket.remoteAddress ?? '');
    const count = (perIp.get(ip) ?? 0) + 1;
    perIp.set(ip, count);
    socket.once('close', () => {
      const left = (perIp.get(ip) ?? 1) - 1;
      if (left > 0) perIp.set(ip, left);
      else perIp.delete(ip);
    });
    if (count <= limits.max_connections_per_ip) return;
    perAddress.warn({ ip, max: limits.max_connections_per_ip }, 'a client address reached its connection limit: more are refused');
    // Before TLS there is no way to say why: the connection is just closed.
    if (tls) socket.destroy();
    else socket.end(TOO_MANY_CONNECTIONS, () => socket.destroy());
  });
  watchSending(server, limits.send_timeout);
}

/**
 * Ends connections whose unsent answer has not moved for `timeoutMs`: a client that requests a
 * large answer and never reads it would otherwise hold it in nexus's memory for good. Waiting for
 * nexus (a long tool call) does not count: only an answer that is there and not taken. Over TLS
 * the encrypted socket is the one written to, so that is the one watched.
 */
function watchSending(server: HttpServer, timeoutMs: number): void {
  const seen = new Map<Socket, { mark: string; since: number }>();
  const sockets = new Set<Socket>();
  server.on(server instanceof TlsServer ? 'secureConnection' : 'connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      seen.delete(socket);
    });
  });
  const timer = setInterval(
    () => {
      const now = performance.now();
      for (const socket of sockets) {
        const queued = writeQueueSize(socket);
        if (socket.writableLength === 0 && queued === 0) {
          seen.delete(socket);
          continue;
        }
        // A big answer is one write: what shows the client is reading is the kernel taking bytes
        // from its queue (as Node's own socket timeout judges it), not only new writes.
        const mark = `${socket.bytesWritten}:${queued}`;
        const last = seen.get(socket);
        if (!last || last.mark !== mark) seen.set(socket, { mark, since: now });
        else if (now - last.since >= timeoutMs) socket.destroy();
      }
    },
    Math.min(SEND_CHECK_MS, timeoutMs),
  );
  timer.unref();
  server.once('close', () => clearInterval(timer));
}

/** Bytes a socket's handle has yet to hand to the kernel (Node keeps it on the handle). */
const writeQueueSize = (socket: Socket): number =>
  (socket as unknown as { _handle?: { writeQueueSize?: number } })._handle?.writeQueueSize ?? 0;

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
