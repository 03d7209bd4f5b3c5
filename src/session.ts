/**
 * The header that carries a caller's session id. nexus hands one out on `initialize` (mcp/endpoint)
 * and uses it to find a caller's in-flight calls when it cancels one, and to know what the client
 * can receive. It is a correlation id, never state: see docs/decisions.md.
 */
import { createHash, randomUUID } from 'node:crypto';

export const SESSION_HEADER = 'mcp-session-id';

/**
 * The key of a caller's calls: the session id they were given, bound to their token (when OAuth
 * is on), so knowing someone's session id is not enough to cancel their calls.
 */
function callerKey(session: string, token: string | undefined): string {
  return token === undefined ? session : `${session}:${createHash('sha256').update(token).digest('hex')}`;
}

/**
 * Who a request is from, as far as nexus can tell: its session bound to its token, or its token
 * alone (a 2026-era client has no session), or nobody in particular. Only the same caller may
 * answer, resume or cancel what a caller started.
 */
export function callerOf(session: string | undefined, token: string | undefined): string | undefined {
  if (session !== undefined) return callerKey(session, token);
  return token === undefined ? undefined : callerKey('', token);
}

/**
 * The client capabilities a relay needs, one letter each. A 2025-era client declares them once,
 * in `initialize`, and nexus keeps no session state, so they ride in the session id it hands out:
 * any instance can read them from every later request.
 */
const CAPABILITY_LETTERS = {
  s: ['sampling'],
  t: ['sampling', 'tools'],
  e: ['elicitation'],
  f: ['elicitation', 'form'],
  u: ['elicitation', 'url'],
  r: ['roots'],
  l: ['roots', 'listChanged'],
} as const;

type Capabilities = Record<string, unknown>;

const has = (capabilities: Capabilities, [outer, inner]: readonly string[]): boolean => {
  const value = capabilities[outer as string];
  if (value === null || typeof value !== 'object') return false;
  return inner === undefined || Boolean((value as Record<string, unknown>)[inner]);
};

/** A new session id carrying what `capabilities` (an initialize request's) declares. */
export function newSessionId(capabilities: unknown): string {
  const declared = capabilities !== null && typeof capabilities === 'object' ? (capabilities as Capabilities) : {};
  const letters = Object.entries(CAPABILITY_LETTERS)
    .filter(([, path]) => has(declared, path))
    .map(([letter]) => letter)
    .join('');
  return `${randomUUID()}.${letters}`;
}

/** The capabilities a session id from newSessionId() carries; undefined for any other id. */
export function sessionCapabilities(session: string | undefined): Capabilities | undefined {
  const match = session === undefined ? null : /^[0-9a-f-]{36}\.([a-z]*)$/.exec(session);
  if (!match) return undefined;
  const capabilities: Record<string, Record<string, object>> = {};
  for (const letter of match[1] as string) {
    const path = CAPABILITY_LETTERS[letter as keyof typeof CAPABILITY_LETTERS] as readonly string[] | undefined;
    if (!path) continue;
    const [outer, inner] = path as [string, string | undefined];
    capabilities[outer] ??= {};
    if (inner !== undefined) (capabilities[outer] as Record<string, object>)[inner] = {};
  }
  return capabilities;
}
