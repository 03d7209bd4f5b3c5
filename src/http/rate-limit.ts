/**
 * Request limits on the MCP routes: `global` (all callers together) and `per_ip` (each caller's
 * address, see client-ip.ts). Every answer carries RateLimit-Limit / -Remaining / -Reset for the
 * tighter of the two; over a limit, 429 JSON with Retry-After.
 */
import type { MiddlewareHandler } from 'hono';
import type { Decision, Limiter } from '../ratelimit/limiter.js';
import type { AppEnv } from './app-env.js';
import { addressKey } from './client-ip.js';

export interface HttpLimiters {
  global?: Limiter;
  perIp?: Limiter;
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/** The decision that binds: a refusal if any, else the one with the fewest requests left. */
function tightest(decisions: Decision[]): Decision | undefined {
  return [...decisions].sort((a, b) => Number(a.allowed) - Number(b.allowed) || a.remaining - b.remaining)[0];
}

/**
 * Counts the request against the caller's own limit first and the global one only if that allows
 * it, and gives the caller's point back when the global limit refuses: a request refused by one
 * limit uses up nothing of the other, so one client over its limit cannot lock everyone out.
 */
async function decide({ global, perIp }: HttpLimiters, ip: string): Promise<Decision[]> {
  const own = perIp && (await perIp.consume(ip));
  if (own && !own.allowed) return [own];
  const all = global && (await global.consume('global'));
  if (all && !all.allowed && own) await perIp?.refund(ip);
  return [own, all].filter((decision): decision is Decision => decision !== undefined);
}

export function httpRateLimit(limiters: HttpLimiters): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const decision = tightest(await decide(limiters, addressKey(c.get('clientIp'))));
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
