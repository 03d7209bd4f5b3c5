/**
 * The JWKS behind token validation: fetched on first use, refreshed every `poll_interval` (when
 * set) and re-fetched when a token names a key we do not have, at most once per cooldown so a
 * flood of made-up key ids cannot flood the identity provider. A failed refresh keeps the last
 * good keys; with none at all, validation fails with JwksUnavailableError (a 503, not a 401).
 */
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { Logger } from '../log.js';
import { redactUrls } from '../redact.js';

export class JwksUnavailableError extends Error {}

export interface JwksOptions {
  url: string;
  pollIntervalMs: number | undefined;
  /** Least time between two fetches caused by unknown key ids. */
  refetchCooldownMs: number;
  fetchTimeoutMs: number;
  logger: Logger;
}

export class JwksCache {
  private keys: JWTVerifyGetKey | undefined;
  private lastFetch = -Infinity;
  private inFlight: Promise<void> | undefined;
  private readonly poller: NodeJS.Timeout | undefined;

  constructor(private readonly options: JwksOptions) {
    if (options.pollIntervalMs !== undefined) {
      this.poller = setInterval(() => void this.refresh().catch(() => undefined), options.pollIntervalMs);
      this.poller.unref();
    }
  }

  /** A key resolver for jose's jwtVerify. */
  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    if (!this.keys) {
      // Without keys, every request would fetch: a failed fetch is retried once per cooldown.
      if (this.inFlight === undefined && performance.now() - this.lastFetch < this.options.refetchCooldownMs) {
        throw new JwksUnavailableError('cannot fetch the JWKS to validate tokens');
      }
      await this.refresh();
    }
    try {
      return await (this.keys as JWTVerifyGetKey)(header, token);
    } catch (error) {
      const unknownKey = error instanceof errors.JWKSNoMatchingKey;
      if (!unknownKey || performance.now() - this.lastFetch < this.options.refetchCooldownMs) throw error;
      await this.refresh();
      return (this.keys as JWTVerifyGetKey)(header, token);
    }
  };

  close(): void {
    if (this.poller) clearInterval(this.poller);
  }

  /** Fetches the key set; one fetch at a time. Throws JwksUnavailableError when we have no keys. */
  private refresh(): Promise<void> {
    this.inFlight ??= this.fetchKeys().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async fetchKeys(): Promise<void> {
    this.lastFetch = performance.now();
    try {
      const response = await fetch(this.options.url, { signal: AbortSignal.timeout(this.options.fetchTimeoutMs) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body = (await response.json()) as JSONWebKeySet;
      this.keys = createLocalJWKSet(body);
    } catch (error) {
      const reason = redactUrls(error instanceof Error ? error.message : String(error));
      this.options.logger.warn({ reason }, this.keys ? 'refreshing the JWKS failed; keeping the keys we have' : 'fetching the JWKS failed');
      if (!this.keys) throw new JwksUnavailableError('cannot fetch the JWKS to validate tokens');
    }
  }
}
