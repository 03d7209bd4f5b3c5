/**
 * Token rate limits per client (`rate_limits.per_user` on a provider or one of its models): the
 * input tokens of each request, counted before the call, against the client's window. A model's
 * limit beats its provider's, and within either a group's own (`groups.<group>`) beats the
 * default. Counts live in the rate-limit store (memory, or Redis shared by every instance).
 */
import type { LlmConfig } from '../config/schema.js';
import type { ClientIdentity } from '../http/client-identity.js';
import { toQuota, type Decision, type Limiter, type LimiterStore } from '../ratelimit/limiter.js';
import type { ChatRequest } from './provider.js';
import { countTokens } from './tokens.js';

type TokenLimit = NonNullable<LlmConfig['providers'][string]['rate_limits']>['per_user'];

/** Whether any provider or model has token limits (then a store is needed). */
export function hasTokenLimits(config: LlmConfig | undefined): boolean {
  return Object.values(config?.providers ?? {}).some(
    (provider) => provider.rate_limits !== undefined || Object.values(provider.models).some((model) => model.rate_limits !== undefined),
  );
}

export class TokenLimits {
  private readonly limiters = new Map<string, Limiter>();

  constructor(
    private readonly config: LlmConfig,
    private readonly store: LimiterStore,
  ) {}

  /**
   * Counts the request's input tokens against the client's limit for `model` of `provider`;
   * undefined when no limit applies (or there is no client to key it by).
   */
  async check(provider: string, model: string, client: ClientIdentity | undefined, request: ChatRequest): Promise<Decision | undefined> {
    const providerConfig = this.config.providers[provider];
    const limit = providerConfig?.models[model]?.rate_limits?.per_user ?? providerConfig?.rate_limits?.per_user;
    if (!limit || !client) return undefined;
    const scope = providerConfig?.models[model]?.rate_limits ? `${provider}/${model}` : provider;
    const group = client.group !== undefined && limit.groups[client.group] ? client.group : undefined;
    const tokens = await countTokens([request.messages, request['tools']]);
    return this.limiter(scope, group, limit).consume(client.id, tokens);
  }

  private limiter(scope: string, group: string | undefined, limit: TokenLimit): Limiter {
    const name = `llm_tokens:${scope}:${group ?? '*'}`;
    let limiter = this.limiters.get(name);
    if (!limiter) {
      const quota = group === undefined ? limit : (limit.groups[group] as TokenLimit['groups'][string]);
      limiter = this.store.limiter(name, toQuota({ limit: quota.input_token_limit, interval: quota.interval }));
      this.limiters.set(name, limiter);
    }
    return limiter;
  }
}
