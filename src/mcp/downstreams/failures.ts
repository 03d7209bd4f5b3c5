/**
 * What a failed request to a downstream says about the connection it was sent on. One caller can
 * provoke almost any failure of its own call (an argument too large for a proxy, an answer too
 * large, a request that cannot be serialised), so only a failure that can only mean the connection
 * is gone reconnects, for everyone; one that might mean either is checked with a ping first.
 */
import { ProtocolError, SdkError, SdkErrorCode, SdkHttpError } from '@modelcontextprotocol/client';

/** The server cannot be reached at all. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN']);
/** One exchange broke: a proxy may reset a single request, or the server may be gone. */
const BROKEN_EXCHANGE = new Set(['ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT']);

const networkCode = (error: unknown): string | undefined => {
  const { code, cause } = (error ?? {}) as { code?: unknown; cause?: { code?: unknown } };
  const found = code ?? cause?.code;
  return typeof found === 'string' ? found : undefined;
};

/**
 * - `lost`: the transport closed, the server is unreachable, or it no longer knows our session
 *   (HTTP 404): reconnect.
 * - `check`: another HTTP status, or one request's connection reset: about the call or about the
 *   session, which a ping tells.
 * - `call`: that call's failure only (a JSON-RPC error, a timeout, a cancellation, an answer over
 *   the size limit, a request that could not be serialised).
 */
export function failureKind(error: unknown): 'lost' | 'check' | 'call' {
  if (error instanceof SdkHttpError) return error.status === 404 ? 'lost' : 'check';
  if (error instanceof SdkError)
    return error.code === SdkErrorCode.ConnectionClosed || error.code === SdkErrorCode.NotConnected ? 'lost' : 'call';
  const code = networkCode(error);
  if (code !== undefined && UNREACHABLE.has(code)) return 'lost';
  return code !== undefined && BROKEN_EXCHANGE.has(code) ? 'check' : 'call';
}

/**
 * Whether a failed ping says the session is gone: the server does not know it (404, or 400 "not
 * initialized" from a server that restarted), the connection closed, or the server cannot be
 * reached. A JSON-RPC error is an answer; a 401, 403, 429 or 5xx is a server (or a proxy) that is
 * there but busy or refusing, which a new session would not change; and a ping that is not
 * answered in time may only be queued behind busy calls (a proxy's connection limit), which
 * dropping the session would fail for nothing.
 */
export function pingShowsSessionGone(error: unknown): boolean {
  if (error instanceof ProtocolError) return false;
  if (error instanceof SdkHttpError) return error.status === 404 || error.status === 400;
  if (error instanceof SdkError) return error.code === SdkErrorCode.ConnectionClosed || error.code === SdkErrorCode.NotConnected;
  const code = networkCode(error);
  return code !== undefined && (UNREACHABLE.has(code) || BROKEN_EXCHANGE.has(code));
}
