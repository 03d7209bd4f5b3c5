/**
 * Connections for `auth.type = "forward"` servers, one set per caller token: the caller's own
 * token goes to those servers and nowhere else, and one caller's connections (and the tool lists
 * they returned) are never used for another. Sessions are kept by a hash of the token, at most
 * `max_size` of them (the least recently used is closed first), and closed after `idle_timeout`.
 */
import { createHash } from 'node:crypto';
import type { RemoteServerConfig } from '../../config/schema.js';
import type { Logger } from '../../log.js';
import { ToolIndex } from '../search/tool-index.js';
import { Downstream } from './downstream.js';

export interface ForwardedSession {
  /** The forward servers' tools as this caller sees them. */
  index: ToolIndex;
  downstreams: ReadonlyMap<string, Downstream>;
}

interface Entry extends ForwardedSession {
  ready: Promise<void>;
  lastUsed: number;
}

export interface ForwardedOptions {
  maxSize: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  globalHeaders: Readonly<Record<string, string>>;
  logger: Logger;
}

export class ForwardedSessions {
  /** By token hash, least recently used first (a Map keeps insertion order). */
  private readonly sessions = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly servers: ReadonlyMap<string, RemoteServerConfig>,
    private readonly options: ForwardedOptions,
  ) {
    this.sweeper = setInterval(() => this.closeIdle(), Math.max(50, options.idleTimeoutMs / 2));
    this.sweeper.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  /** The caller's session, opened (and its servers connected) on first use. */
  async forToken(token: string): Promise<ForwardedSession> {
    const key = createHash('sha256').update(token).digest('hex');
    let entry = this.sessions.get(key);
    if (entry) this.sessions.delete(key);
    else entry = this.open(token);
    entry.lastUsed = performance.now();
    this.sessions.set(key, entry);
    for (const [oldest] of this.sessions) {
      if (this.sessions.size <= this.options.maxSize) break;
      void this.closeSession(oldest);
    }
    await entry.ready;
    return entry;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.all([...this.sessions.keys()].map((key) => this.closeSession(key)));
  }

  private open(token: string): Entry {
    const index = new ToolIndex();
    const downstreams = new Map<string, Downstream>();
    for (const [name, config] of this.servers) {
      const downstream = new Downstream(name, config, {
        connectTimeoutMs: this.options.connectTimeoutMs,
        globalHeaders: this.options.globalHeaders,
        bearerToken: token,
        logger: this.options.logger.child({ forwarded: true }),
        onCatalog: (changed) => index.setServerTools(changed.name, changed.catalog.tools),
      });
      downstreams.set(name, downstream);
    }
    const ready = Promise.all([...downstreams.values()].map((downstream) => downstream.connect())).then(() => undefined);
    return { index, downstreams, ready, lastUsed: performance.now() };
  }

  private closeIdle(): void {
    const now = performance.now();
    for (const [key, entry] of this.sessions) {
      if (now - entry.lastUsed > this.options.idleTimeoutMs) void this.closeSession(key);
    }
  }

  private async closeSession(key: string): Promise<void> {
    const entry = this.sessions.get(key);
    if (!entry) return;
    this.sessions.delete(key);
    await Promise.all([...entry.downstreams.values()].map((downstream) => downstream.close()));
  }
}
