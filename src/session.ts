/**
 * The header that carries a caller's session id. nexus hands one out on `initialize` (http/) and
 * uses it to find a caller's in-flight calls when it cancels one (mcp/). It is a correlation id,
 * never state: see docs/decisions.md.
 */
export const SESSION_HEADER = 'mcp-session-id';
