/**
 * The two stores, on rate-limiter-flexible. The Redis store shares counts across instances and
 * carries a memory limiter as insurance: while Redis is unreachable each instance limits on its
 * own (logged once), and it goes back to Redis when Redis returns. No request waits on Redis
 * longer than `response_timeout`.
 */
import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Logger } from '../log.js';
import { redactUrls } from '../redact.js';
import type { Decision, Limiter, LimiterStore, Quota } from './limiter.js';
import { observeLimiter, observePool } from './observe.js';
import type { Telemetry } from '../telemetry/telemetry.js';

export interface RedisStorageConfig {
  url: string;
  key_prefix: string;
  response_timeout: number;
  connection_timeout: number;
  tls?: { enabled: boolean; insecure: boolean; ca_cert_path?: string; client_cert_path?: string; client_key_path?: string };
}

function wrap(limiter: RateLimiterAbstract, quota: Quota): Limiter {
  const decision = (allowed: boolean, res: RateLimiterRes): Decision => ({
    allowed,
    limit: quota.limit,
    remaining: Math.max(0, res.remainingPoints),
    resetMs: Math.max(0, res.msBeforeNext),
  });
  return {
    consume: async (key, points = 1) => {
      try {
        return decision(true, await limiter.consume(key, points));
      } catch (refusal) {
        if (refusal instanceof RateLimiterRes) return decision(false, refusal);
        throw refusal;
      }
    },
    refund: async (key, points = 1) => {
      await limiter.reward(key, points);
    },
  };
}

const memoryLimiter = (quota: Quota, keyPrefix: string) =>
  new RateLimiterMemory({ points: quota.limit, duration: quota.intervalMs / 1000, keyPrefix });

export function memoryStore(): LimiterStore {
  return {
    limiter: (name, quota) => wrap(memoryLimiter(quota, name), quota),
    close: async () => undefined,
  };
}

/** Connects and pings Redis (a start-up error if it cannot), then serves limiters from it (measured, with telemetry). */
export async function redisStore(config: RedisStorageConfig, logger: Logger, telemetry?: Telemetry): Promise<LimiterStore> {
  const log = logger.child({ component: 'rate-limit' });
  const client = new Redis(config.url, redisOptions(config));
  // One log line per change of state, however many errors the client reports meanwhile.
  let state: 'starting' | 'healthy' | 'down' = 'starting';
  let lastError = '';
  client.on('error', (error: Error) => (lastError = redactUrls(error.message)));
  client.on('close', () => {
    if (state !== 'healthy') return;
    state = 'down';
    log.warn({ err: lastError || 'connection closed' }, 'Redis unavailable: limiting per instance in memory until it is back');
  });
  client.on('ready', () => {
    if (state !== 'down') return;
    state = 'healthy';
    log.info('Redis is back: sharing rate-limit counts again');
  });
  try {
    await client.connect();
    await client.ping();
    state = 'healthy';
  } catch (error) {
    client.disconnect();
    // No `cause`: the original error quotes the Redis URL, password included.
    // eslint-disable-next-line preserve-caught-error
    throw new Error(`cannot reach Redis (${redactUrls(error instanceof Error ? error.message : String(error))})`);
  }
  if (telemetry) observePool(telemetry, client);
  return {
    limiter: (name, quota) =>
      (telemetry ? (limiter: Limiter) => observeLimiter(telemetry, name, quota, limiter) : (limiter: Limiter) => limiter)(
        wrap(
          new RateLimiterRedis({
            storeClient: client,
            points: quota.limit,
            duration: quota.intervalMs / 1000,
            keyPrefix: `${config.key_prefix}${name}`,
            rejectIfRedisNotReady: true,
            insuranceLimiter: memoryLimiter(quota, `insurance:${name}`),
          }),
          quota,
        ),
      ),
    close: async () => {
      client.disconnect();
    },
  };
}

/** How nexus connects to a Redis (also the relay's, relay/bus.ts): timeouts, no offline queue, TLS. */
export function redisOptions(config: Pick<RedisStorageConfig, 'url' | 'tls' | 'connection_timeout' | 'response_timeout'>): RedisOptions {
  const tls = config.tls;
  const read = (path: string | undefined) => (path ? readFileSync(path) : undefined);
  return {
    lazyConnect: true,
    connectTimeout: config.connection_timeout,
    commandTimeout: config.response_timeout,
    // Fail at once while disconnected (the insurance limiter answers) instead of queueing.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    ...(tls?.enabled || config.url.startsWith('rediss://')
      ? {
          tls: {
            ca: read(tls?.ca_cert_path),
            cert: read(tls?.client_cert_path),
            key: read(tls?.client_key_path),
            rejectUnauthorized: !tls?.insecure,
          },
        }
      : {}),
  };
}
