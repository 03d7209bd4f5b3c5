/**
 * Request limits on the MCP routes: `global` (all callers together) and `per_ip` (each caller's
 * address, see client-ip.ts). Every answer carries RateLimit-Limit / -Remaining / -Reset for the
 * tighter of the two; over a limit, 429 JSON with Retry-After.
 */
import type { MiddlewareHandler } from 'hono';
import type { Decision, Limiter } from '../ratelimit/limiter.js';
import type { AppEnv } from './app-env.js';

export interface HttpLimiters {
  global?: Limiter;
  perIp?: Limiter;
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/** The decision that binds: a refusal if any, else the one with the fewest requests left. */
function tightest(decisions: Decision[]): Decision | undefined {
  return [...decisions].sort((a, b) => Number(a.allowed) - Number(b.allowed) || a.remaining - b.remaining)[0];
}

export function httpRateLimit({ global, perIp }: HttpLimiters): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const pending: Promise<Decision>[] = [];
    if (global) pending.push(global.consume('global'));
    if (perIp) pending.push(perIp.consume(c.get('clientIp')));
    const decision = tightest(await Promise.all(pending));
    if (!decision) return next();
    const headers = {
      'RateLimit-Limit': String(decision.limit),
      'RateLimit-Remaining': String(decision.remaining),
      'RateLimit-Reset': String(seconds(decision.resetMs)),
    };
    if (!decision.allowed) {
      return c.json({ error: 'rate_limited', error_description: 'too many requests; try again later' }, 429, {
        ...headers,
        'Retry-After': String(seconds(decision.resetMs)),
      });
    }
    await next();
    for (const [name, value] of Object.entries(headers)) c.res.headers.set(name, value);
  };
}
