/**
 * How nexus instances hand each other relay traffic. A client's answer to a server-to-client
 * request, or its retry of a call that needed input, may reach another instance than the one
 * holding the downstream call (a load balancer without stickiness). The ids nexus hands out name
 * their instance, and the instance that receives such a message sends it to its owner: through
 * Redis pub/sub when instances share one, or to itself only when nexus runs alone.
 */
import { randomBytes } from 'node:crypto';
import type { JSONRPCMessage, JSONRPCResponse } from '@modelcontextprotocol/server';
import type { RedisOptions } from 'ioredis';
import type { Logger } from '../../log.js';
import { redactUrls } from '../../redact.js';

/** One instance's name in the ids it hands out: random, so a restarted instance is another one. */
const newInstanceId = (): string => randomBytes(6).toString('hex');

/** The caller a message is on behalf of: only the caller who started a call may answer it. */
export type RelayMessage =
  /** A client's answer to a server-to-client request. */
  | { kind: 'answer'; caller: string | undefined; response: JSONRPCResponse }
  /** A client's retry of a call parked for input; `reply` is where its outcome goes. */
  | {
      kind: 'resume';
      caller: string | undefined;
      state: string;
      inputResponses: Record<string, unknown>;
      link: DeclaredLink;
      reply: Reply;
    }
  /** A client's request about a task another instance holds (tasks/task-relay.ts); `reply` is where its outcome goes. */
  | {
      kind: 'task';
      caller: string | undefined;
      method: string;
      taskId: string;
      /** A 2026-era `tasks/update`'s answers. */
      inputResponses?: Record<string, unknown>;
      era: 'legacy' | 'modern';
      link: DeclaredLink;
      reply: Reply;
    }
  /** The client of a resumed call went away; the owner cancels it. */
  | { kind: 'cancel'; to: string }
  /** A resumed call is still running (its client's instance waits only so long without a word). */
  | { kind: 'alive'; to: string }
  /** A message for the client of a resumed call (progress, a log message), or its final outcome. */
  | { kind: 'related'; to: string; message: JSONRPCMessage }
  | {
      kind: 'outcome';
      to: string;
      outcome: { result: Record<string, unknown> } | { error: { code: number; message: string; data?: unknown } };
    };

/** What a client declared, for the requests and messages that follow its request on another instance. */
export interface DeclaredLink {
  capabilities: unknown;
  logLevel: unknown;
  progressToken: string | number | undefined;
}

export interface Reply {
  instance: string;
  id: string;
}

export interface RelayBus {
  /** This instance's id. */
  readonly instance: string;
  /** Delivers `message` to `instance`; false when no instance by that name listens. */
  send(instance: string, message: RelayMessage): Promise<boolean>;
  /** Sets the handler of messages addressed to this instance. */
  onMessage(handler: (message: RelayMessage) => void): void;
  close(): Promise<void>;
}

/** A lone instance: it reaches only itself. */
export class LocalBus implements RelayBus {
  private handler: (message: RelayMessage) => void = () => undefined;
  constructor(readonly instance: string = newInstanceId()) {}

  send(instance: string, message: RelayMessage): Promise<boolean> {
    if (instance !== this.instance) return Promise.resolve(false);
    queueMicrotask(() => this.handler(message));
    return Promise.resolve(true);
  }

  onMessage(handler: (message: RelayMessage) => void): void {
    this.handler = handler;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

const CHANNEL_PREFIX = 'nexus:relay:';

/** Instances sharing a Redis: each listens on a channel of its own. */
export async function redisBus(url: string, options: RedisOptions, logger: Logger, instance: string = newInstanceId()): Promise<RelayBus> {
  // Loaded only when configured: the Redis client alone is several MiB of resident memory.
  const { Redis } = await import('ioredis');
  const log = logger.child({ component: 'relay' });
  const publisher = new Redis(url, options);
  const subscriber = new Redis(url, options);
  let lastError = '';
  for (const client of [publisher, subscriber]) client.on('error', (error: Error) => (lastError = redactUrls(error.message)));
  let handler: (message: RelayMessage) => void = () => undefined;
  subscriber.on('messageBuffer', (_channel: Buffer, payload: Buffer) => {
    try {
      handler(JSON.parse(payload.toString()) as RelayMessage);
    } catch (error) {
      log.warn({ err: (error as Error).message }, 'skipped a relay message that could not be read');
    }
  });
  try {
    await Promise.all([publisher.connect(), subscriber.connect()]);
    await subscriber.subscribe(CHANNEL_PREFIX + instance);
  } catch (error) {
    publisher.disconnect();
    subscriber.disconnect();
    // No `cause`: the original error quotes the Redis URL, password included.
    // eslint-disable-next-line preserve-caught-error
    throw new Error(`cannot reach Redis (${lastError || redactUrls(error instanceof Error ? error.message : String(error))})`);
  }
  return {
    instance,
    async send(target, message) {
      try {
        return (await publisher.publish(CHANNEL_PREFIX + target, JSON.stringify(message))) > 0;
      } catch (error) {
        log.warn({ err: redactUrls((error as Error).message) }, 'could not hand a relay message to another instance');
        return false;
      }
    },
    onMessage(next) {
      handler = next;
    },
    async close() {
      publisher.disconnect();
      subscriber.disconnect();
      await Promise.resolve();
    },
  };
}

/** The instance an id or state handed out by relayId() names, if it is one. */
export function ownerOf(id: unknown): string | undefined {
  return typeof id === 'string' ? /^nexus\.([0-9a-f]{12})\.[A-Za-z0-9_-]+$/.exec(id)?.[1] : undefined;
}

/** A fresh id naming `instance`, unguessable (whoever knows it may answer for the call). */
export function relayId(instance: string): string {
  return `nexus.${instance}.${randomBytes(12).toString('base64url')}`;
}
