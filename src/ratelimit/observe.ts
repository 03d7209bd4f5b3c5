/**
 * Telemetry of the Redis rate-limit store, as the original has it: a span per limit check
 * (`redis:check_and_consume:{global|ip|server|tool}`, `redis:check_and_consume_tokens`),
 * `redis.command.duration`, and the connection gauges.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { secondsSince, type Telemetry } from '../telemetry/telemetry.js';
import type { Limiter, Quota } from './limiter.js';

/** The scope of a limiter, by the name nexus gives it (server.ts, execute-limits.ts, token-limits.ts). */
function scopeOf(name: string): string {
  if (name === 'per_ip') return 'ip';
  if (name.startsWith('llm_tokens:')) return 'token';
  return name.split(':')[0] ?? name;
}

export function observeLimiter(telemetry: Telemetry, name: string, quota: Quota, limiter: Limiter): Limiter {
  const scope = scopeOf(name);
  const tokens = scope === 'token';
  const operation = tokens ? 'check_and_consume_tokens' : 'check_and_consume';
  const [, server, tool] = name.split(':');
  const attributes = {
    'redis.operation': operation,
    'rate_limit.scope': scope,
    'rate_limit.limit': quota.limit,
    'rate_limit.interval_ms': quota.intervalMs,
    ...(scope === 'server' || scope === 'tool' ? { 'mcp.server': server, 'mcp.tool': tool } : {}),
  };
  return {
    ...limiter,
    consume: (key, points = 1) =>
      telemetry.span(
        tokens ? 'redis:check_and_consume_tokens' : `redis:check_and_consume:${scope}`,
        { kind: 'client', attributes },
        async (span) => {
          const start = performance.now();
          // The client's address is hashed: spans are no place for personal data.
          if (scope === 'ip') span.set({ 'client.address_hash': createHash('md5').update(key).digest('hex') });
          // Not the token count, as the original has it: a value per request would be a series per value.
          const measured = { operation };
          try {
            const decision = await limiter.consume(key, points);
            span.set({
              'rate_limit.allowed': decision.allowed,
              ...(tokens && { 'rate_limit.tokens': points }),
              ...(!decision.allowed && { 'rate_limit.retry_after_ms': decision.resetMs }),
            });
            telemetry.record('redis.command.duration', secondsSince(start), { ...measured, status: 'success' });
            return decision;
          } catch (error) {
            span.fail('connection_error', error instanceof Error ? error.message : undefined);
            telemetry.record('redis.command.duration', secondsSince(start), {
              ...measured,
              status: 'error',
              'error.type': 'script_execution',
            });
            throw error;
          }
        },
      ),
  };
}

/** nexus keeps one multiplexed connection to Redis: it is available while ready, in use while commands await answers. */
export function observePool(telemetry: Telemetry, client: Redis): void {
  const ready = () => (client.status === 'ready' ? 1 : 0);
  telemetry.gauge('redis.pool.connections.available', (report) => report(ready(), {}));
  telemetry.gauge('redis.pool.connections.in_use', (report) => {
    const waiting = (client as unknown as { commandQueue?: { length: number } }).commandQueue?.length ?? 0;
    report(ready() && waiting > 0 ? 1 : 0, {});
  });
}
