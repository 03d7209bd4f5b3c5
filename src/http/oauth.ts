/**
 * OAuth2 resource server: every route it guards needs `Authorization: Bearer <JWT>`, signed by a
 * key of the JWKS (asymmetric algorithms only: `none` and HMAC are refused), within `exp`/`nbf`,
 * and matching the expected issuer and audience. Failures are 401 with a JSON body and a
 * WWW-Authenticate header pointing at the protected-resource metadata. Token values never reach
 * a log line or an error message.
 */
import type { Context, Env, Hono, MiddlewareHandler } from 'hono';
import { decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import type { ServerConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { AppEnv } from './app-env.js';
import { JwksCache, JwksUnavailableError } from './jwks.js';

type OAuthConfig = NonNullable<ServerConfig['oauth']>;

export const METADATA_PATH = '/.well-known/oauth-protected-resource';
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
/** RFC 6750: the scheme, one space, then a b64token. */
const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i;

/** What a validated request carries on, for token forwarding and client identity. */
export interface AuthenticatedCaller {
  token: string;
  claims: JWTPayload;
  /** The header the token came in (the Anthropic proxy never sends that one on). */
  header: 'authorization' | 'proxy-authorization';
}
export type AuthVariables = { caller: AuthenticatedCaller | undefined };

export interface OAuthOptions {
  config: OAuthConfig;
  logger: Logger;
  refetchCooldownMs?: number;
}

export class OAuthGuard {
  private readonly jwks: JwksCache;
  private readonly log: Logger;

  constructor(private readonly options: OAuthOptions) {
    const { config, logger, refetchCooldownMs = 10_000 } = options;
    this.log = logger.child({ component: 'oauth' });
    this.jwks = new JwksCache({
      url: config.url,
      pollIntervalMs: config.poll_interval,
      refetchCooldownMs,
      fetchTimeoutMs: 5_000,
      logger: this.log,
    });
  }

  /** Serves the protected-resource metadata (RFC 9728), at the root and below the MCP path. */
  mountMetadata<E extends Env>(app: Hono<E>, mcpPath: string): void {
    const handler = (c: Context) =>
      c.json({
        resource: this.resource(c),
        authorization_servers: this.options.config.protected_resource?.authorization_servers ?? [],
      });
    app.get(METADATA_PATH, handler);
    app.get(`${METADATA_PATH}${mcpPath}`, handler);
  }

  /**
   * `proxyAuthorization`: nexus's token may come in `Proxy-Authorization` (tried first), leaving
   * `Authorization` to the client's own upstream credential (the Anthropic proxy).
   */
  middleware({ proxyAuthorization = false } = {}): MiddlewareHandler<AppEnv> {
    return async (c, next) => {
      const proxied = proxyAuthorization ? c.req.header('proxy-authorization') : undefined;
      const from = proxied ? 'proxy-authorization' : 'authorization';
      const header = c.req.header(from);
      const token = header === undefined ? undefined : BEARER.exec(header)?.[1];
      if (token === undefined) {
        return this.reject(c, header === undefined ? 'missing bearer token' : 'malformed Authorization header');
      }
      let claims: JWTPayload;
      try {
        ({ payload: claims } = await jwtVerify(token, this.jwks.getKey, {
          algorithms: ALGORITHMS,
          // jose checks exp only when present; a token that never expires is refused.
          requiredClaims: ['exp'],
          issuer: this.options.config.expected_issuer,
          audience: this.options.config.expected_audience,
        }));
      } catch (error) {
        if (error instanceof JwksUnavailableError) {
          return c.json({ error: 'temporarily_unavailable', error_description: error.message }, 503);
        }
        return this.reject(c, describeFailure(error, token));
      }
      c.set('caller', { token, claims, header: from });
      await next();
    };
  }

  close(): void {
    this.jwks.close();
  }

  private resource(c: Context<AppEnv>): string {
    return this.options.config.protected_resource?.resource ?? new URL(c.req.url).origin;
  }

  private reject(c: Context<AppEnv>, description: string) {
    // Who was refused and why, for audits; the token itself is never logged.
    this.log.info({ ip: c.get('clientIp'), reason: description }, 'request refused');
    const metadata = `${this.resource(c).replace(/\/$/, '')}${METADATA_PATH}`;
    // A quoted-string: without a configured resource it derives from the Host header.
    c.header('WWW-Authenticate', `Bearer resource_metadata="${metadata.replace(/["\\]/g, '\\$&')}"`);
    return c.json({ error: 'invalid_token', error_description: description }, 401);
  }
}

/** The `alg` a token's header names, if it can be read. */
function algorithmOf(token: string): string | undefined {
  try {
    const { alg } = decodeProtectedHeader(token);
    return typeof alg === 'string' ? alg : undefined;
  } catch {
    return undefined;
  }
}

/** Why a token was refused, in words that never quote the token. */
function describeFailure(error: unknown, token: string): string {
  if (error instanceof errors.JWTExpired) return 'token expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'exp') return 'token has no expiry';
    if (error.claim === 'nbf') return 'token not valid yet';
    if (error.claim === 'iss') return 'unexpected token issuer';
    if (error.claim === 'aud') return 'unexpected token audience';
    return `invalid claim "${error.claim}"`;
  }
  if (error instanceof errors.JWKSNoMatchingKey) return 'no key in the JWKS matches the token';
  if (error instanceof errors.JOSEAlgNotAllowed) {
    // HMAC keys in a JWKS (the original takes them) are public: whoever reads them could sign tokens.
    const alg = algorithmOf(token);
    return alg?.startsWith('HS')
      ? `token algorithm not allowed: ${alg} is HMAC, whose key anyone reading the JWKS could sign with`
      : 'token algorithm not allowed';
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'invalid token signature';
  return 'invalid token';
}
