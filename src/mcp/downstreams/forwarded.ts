/**
 * Connections for `auth.type = "forward"` servers, one set per caller token: the caller's own
 * token goes to those servers and nowhere else, and one caller's connections (and the tool lists
 * they returned) are never used for another. Sessions are kept by a hash of the token, at most
 * `max_size` of them (the least recently used is closed first), and closed after `idle_timeout`.
 */
import { createHash } from 'node:crypto';
import type { RemoteServerConfig } from '../../config/schema.js';
import { redactingLogger, type Logger } from '../../log.js';
import type { Redactor } from '../../redact.js';
import { OPEN_VIEW, type ToolView } from '../access/policy.js';
import { ToolIndex } from '../search/tool-index.js';
import { Downstream } from './downstream.js';
import type { Telemetry } from '../../telemetry/telemetry.js';

export interface ForwardedSession {
  /** The forward servers' tools as this caller sees them. */
  index: ToolIndex;
  downstreams: ReadonlyMap<string, Downstream>;
  /** Resolves when every forward server has connected or failed (this time). */
  ready: Promise<void>;
  /** Keeps the session open while a call uses it; call the result when done. */
  hold(): () => void;
}

interface Entry extends ForwardedSession {
  lastUsed: number;
  /** Calls under way; an evicted entry is closed when this drops to zero. */
  busy: number;
  evicted: boolean;
}

export interface ForwardedOptions {
  maxSize: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number | undefined;
  defaultMaxResultBytes: number;
  redactor: Redactor;
  globalHeaders: Readonly<Record<string, string>>;
  logger: Logger;
  telemetry?: Telemetry;
  /** A caller's forward server's tools changed after it first listed them. */
  onToolsChanged?: (server: string) => void;
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

  /**
   * The caller's session, opened on first use; its servers may still be connecting (see
   * `ready`). A server that fails is retried with backoff, as any downstream is.
   */
  forToken(token: string, view: ToolView = OPEN_VIEW): ForwardedSession {
    // A session holds one view's tools: the same token in another group gets its own.
    const key = `${view.key}:${createHash('sha256').update(token).digest('hex')}`;
    let entry = this.sessions.get(key);
    if (entry) this.sessions.delete(key);
    else entry = this.open(token, view);
    entry.lastUsed = performance.now();
    this.sessions.set(key, entry);
    for (const [oldest] of this.sessions) {
      if (this.sessions.size <= this.options.maxSize) break;
      this.evict(oldest);
    }
    return entry;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    const entries = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(entries.map((entry) => closeEntry(entry)));
  }

  private open(token: string, view: ToolView): Entry {
    const index = new ToolIndex();
    // The caller's token is theirs to see in answers, but it stays out of the logs, as nexus's own secrets do.
    const logger = redactingLogger(this.options.logger.child({ forwarded: true }), this.options.redactor.with([token]));
    const downstreams = new Map<string, Downstream>();
    /** The servers that have listed their tools once (a session's first listing changes nobody's list). */
    const listed = new Set<string>();
    for (const [name, config] of this.servers) {
      // A server the view may use nothing of never gets this caller's token.
      if (!view.anything(name)) continue;
      const downstream = new Downstream(name, config, {
        connectTimeoutMs: this.options.connectTimeoutMs,
        defaultMaxResultBytes: this.options.defaultMaxResultBytes,
        redactor: this.options.redactor,
        globalHeaders: this.options.globalHeaders,
        bearerToken: token,
        logger,
        telemetry: this.options.telemetry,
        onCatalog: ({ name: server, catalog }) => {
          const first = !listed.has(server);
          listed.add(server);
          index.setServerTools(
            server,
            catalog.tools.filter((tool) => view.tool(server, tool.name)),
          );
          if (!first) this.options.onToolsChanged?.(server);
        },
      });
      downstreams.set(name, downstream);
    }
    const entry: Entry = {
      index,
      downstreams,
      ready: connectAll([...downstreams.values()]),
      lastUsed: performance.now(),
      busy: 0,
      evicted: false,
      hold: () => {
        entry.busy++;
        return () => {
          entry.busy--;
          entry.lastUsed = performance.now();
          if (entry.evicted && entry.busy === 0) void closeEntry(entry);
        };
      },
    };
    return entry;
  }

  /** Drops an entry from the cache; its connections close now, or when its last call ends. */
  private evict(key: string): void {
    const entry = this.sessions.get(key);
    if (!entry) return;
    this.sessions.delete(key);
    entry.evicted = true;
    if (entry.busy === 0) void closeEntry(entry);
  }

  private closeIdle(): void {
    const now = performance.now();
    for (const [key, entry] of this.sessions) {
      if (entry.busy === 0 && now - entry.lastUsed > this.options.idleTimeoutMs) this.evict(key);
    }
  }
}

function connectAll(downstreams: Downstream[]): Promise<void> {
  return Promise.all(downstreams.map((downstream) => downstream.connect())).then(() => undefined);
}

async function closeEntry(entry: ForwardedSession): Promise<void> {
  await Promise.all([...entry.downstreams.values()].map((downstream) => downstream.close()));
}
