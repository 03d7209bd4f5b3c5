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
import type { AppEnv } from './app-env.js';

export interface ClientIdentity {
  id: string;
  group: string | undefined;
}

export type ClientIdentityVariables = { client: ClientIdentity | undefined };

/** The value at a dotted path of the claims, if it is a string or a number. */
export function claimAt(claims: Record<string, unknown>, path: string): string | undefined {
  let value: unknown = claims;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function read(c: Context<AppEnv>, source: IdentitySource): string | undefined {
  if ('http_header' in source) return c.req.header(source.http_header)?.trim() || undefined;
  const claims = c.get('caller')?.claims;
  return claims ? claimAt(claims, source.jwt_claim) : undefined;
}

function describe(source: IdentitySource): string {
  return 'http_header' in source ? `the ${source.http_header} header` : `the token claim "${source.jwt_claim}"`;
}

export function clientIdentification(config: ClientIdentificationConfig, logger: Logger): MiddlewareHandler<AppEnv> {
  const groups = new Set(config.validation.group_values);
  const log = logger.child({ component: 'client-identification' });
  return async (c, next) => {
    const id = read(c, config.client_id);
    if (id === undefined) {
      const description = `no client id: expected it in ${describe(config.client_id)}`;
      log.info({ ip: c.get('clientIp'), reason: description }, 'request refused');
      return c.json({ error: 'missing_client_id', error_description: description }, 400);
    }
    const group = config.group_id ? read(c, config.group_id) : undefined;
    if (group !== undefined && !groups.has(group)) {
      log.info({ ip: c.get('clientIp'), client_id: id, reason: 'invalid group' }, 'request refused');
      return c.json({ error: 'invalid_group', error_description: `${describe(config.group_id as IdentitySource)} names a group that is not configured` }, 400);
    }
    c.set('client', { id, group });
    await next();
  };
}
