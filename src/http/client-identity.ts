/**
 * Who is calling: a client id and, optionally, a group, read from a claim of the caller's
 * validated token (a dotted path such as `user.plan`) or from a header, per
 * `[server.client_identification]`. Runs after OAuth, whose claims it reads. A request without a
 * client id, or with a group outside `validation.group_values`, is refused with 400; a request
 * without a group goes on with none (access rules that allow named groups then leave it out).
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { ClientIdentificationConfig, IdentitySource } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { ClientIdentity } from '../context.js';
import type { AppEnv } from './app-env.js';

export type ClientIdentityVariables = { client: ClientIdentity | undefined };

/**
 * What a claim holds at `path`: the claim of that exact name if there is one (namespaced claims
 * such as "https://example.com/team" contain dots), else the value at the dotted path.
 */
function claimValue(claims: Record<string, unknown>, path: string): unknown {
  if (Object.hasOwn(claims, path)) return claims[path];
  let value: unknown = claims;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** What the request holds at `source`, whatever its type. */
function rawValue(c: Context<AppEnv>, source: IdentitySource): unknown {
  if ('http_header' in source) return c.req.header(source.http_header);
  const claims = c.get('caller')?.claims;
  return claims ? claimValue(claims, source.jwt_claim) : undefined;
}

/**
 * The identity value a request carries at `source`: absent (undefined), a usable string, or
 * `null` when something is there but is not one non-empty string or number (an array, say).
 */
function read(c: Context<AppEnv>, source: IdentitySource): string | null | undefined {
  const value = rawValue(c, source);
  if (value === undefined) return undefined;
  const text = typeof value === 'string' ? value.trim() : typeof value === 'number' && Number.isFinite(value) ? String(value) : '';
  return text === '' ? null : text;
}

function describe(source: IdentitySource): string {
  return 'http_header' in source ? `the ${source.http_header} header` : `the token claim "${source.jwt_claim}"`;
}

export function clientIdentification(config: ClientIdentificationConfig, logger: Logger): MiddlewareHandler<AppEnv> {
  const groups = new Set(config.validation.group_values);
  const log = logger.child({ component: 'client-identification' });
  return async (c, next) => {
    const id = read(c, config.client_id);
    if (id === undefined || id === null) {
      const description = `no client id: expected one string in ${describe(config.client_id)}`;
      log.info({ ip: c.get('clientIp'), reason: description }, 'request refused');
      return c.json({ error: 'missing_client_id', error_description: description }, 400);
    }
    // A group that is there but unusable is refused, never taken for "no group": that would
    // slip past every deny list.
    // No list of groups (the original's configs may leave it out when no rule names a group): no rule
    // or limit can name one, so a caller's group means nothing, and is not read (nor kept).
    const group = config.group_id && groups.size > 0 ? read(c, config.group_id) : undefined;
    if (group === null || (group !== undefined && !groups.has(group))) {
      log.info({ ip: c.get('clientIp'), client_id: id, reason: 'invalid group' }, 'request refused');
      return c.json(
        {
          error: 'invalid_group',
          error_description: `${describe(config.group_id as IdentitySource)} names a group that is not configured`,
        },
        400,
      );
    }
    c.set('client', { id, group: group ?? undefined });
    await next();
  };
}
