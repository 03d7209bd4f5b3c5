/**
 * The header that carries a caller's session id. nexus hands one out on `initialize` (http/) and
 * uses it to find a caller's in-flight calls when it cancels one (mcp/). It is a correlation id,
 * never state: see docs/decisions.md.
 */
import { createHash } from 'node:crypto';

export const SESSION_HEADER = 'mcp-session-id';

/**
 * The key of a caller's calls: the session id they were given, bound to their token (when OAuth
 * is on), so knowing someone's session id is not enough to cancel their calls.
 */
export function callerKey(session: string, token: string | undefined): string {
  return token === undefined ? session : `${session}:${createHash('sha256').update(token).digest('hex')}`;
}
