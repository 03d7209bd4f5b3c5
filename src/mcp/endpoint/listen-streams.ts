/**
 * 2025-era clients listening on a GET stream for what nexus pushes outside any call: prompt and
 * resource list changes, and log messages servers send outside a call. (2026-era clients listen
 * with `subscriptions/listen`, which the SDK serves.) Each stream lives as long as its client
 * keeps it open; the count is bounded.
 */
import type { JSONRPCNotification, LoggingLevel } from '@modelcontextprotocol/server';
import { logPasses } from '../relay/client-link.js';
import { notification } from '../protocol/jsonrpc.js';
import { sseBytes, sseStream } from './sse-stream.js';

interface Listener {
  /** Who listens (callerOf()), for the resources they subscribed to. */
  caller: string | undefined;
  /** Whether the listener may hear of `server` (its group's access rules). */
  mayUse: (server: string) => boolean;
  logLevel: () => LoggingLevel | undefined;
  write: (bytes: Uint8Array) => void;
  end: () => void;
}

export interface ListenerOptions {
  caller: string | undefined;
  mayUse: (server: string) => boolean;
  logLevel: () => LoggingLevel | undefined;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
}

export class ListenStreams {
  private readonly listeners = new Set<Listener>();
  private closed = false;

  constructor(private readonly max = 1024) {}

  /** A new stream, or undefined when `max` are open already. */
  open({ caller, mayUse, logLevel, signal }: ListenerOptions): Response | undefined {
    if (this.closed || this.listeners.size >= this.max) return undefined;
    const end = () => {
      if (!this.listeners.delete(listener)) return;
      signal.removeEventListener('abort', end);
      stream.close();
    };
    const stream = sseStream(end);
    const listener: Listener = { caller, mayUse, logLevel, write: stream.write, end };
    this.listeners.add(listener);
    signal.addEventListener('abort', end, { once: true });
    return stream.response;
  }

  /**
   * A list changed: every listener hears of it (it carries no content, only that it changed), or,
   * when it is `server`'s doing, those who may use that server.
   */
  listChanged(list: 'tools' | 'prompts' | 'resources', server?: string): void {
    this.send(notification(`notifications/${list}/list_changed`), (listener) => server === undefined || listener.mayUse(server));
  }

  /** A resource changed: the listeners who subscribed to it hear of it, by the URI each subscribed with. */
  resourceUpdated(params: Record<string, unknown>, subscribers: ReadonlyMap<string, string>): void {
    for (const uri of new Set(subscribers.values())) {
      const message = notification('notifications/resources/updated', { ...params, uri });
      this.send(message, (listener) => subscribers.get(listener.caller ?? '') === uri);
    }
  }

  /** A server's log message outside any call: to the listeners who may use that server, at their level. */
  log(server: string, params: Record<string, unknown>): void {
    const message = notification('notifications/message', params);
    this.send(message, (listener) => listener.mayUse(server) && logPasses(params['level'], listener.logLevel()));
  }

  /** Ends every stream, and opens no more (nexus is shutting down). */
  close(): void {
    this.closed = true;
    for (const listener of [...this.listeners]) listener.end();
  }

  private send(message: JSONRPCNotification, to: (listener: Listener) => boolean): void {
    let bytes: Uint8Array | undefined;
    for (const listener of this.listeners) {
      if (!to(listener)) continue;
      bytes ??= sseBytes(message);
      try {
        listener.write(bytes);
      } catch {
        listener.end();
      }
    }
  }
}
