/**
 * Token rate limits per client (`rate_limits.per_user` on a provider or one of its models): the
 * input tokens of each request, counted before the call, against the client's window. A model's
 * limit beats its provider's, and within either a group's own (`groups.<group>`) beats the
 * default. Counts live in the rate-limit store (memory, or Redis shared by every instance).
 */
import type { LlmConfig } from '../config/schema.js';
import type { ClientIdentity } from '../context.js';
import { toQuota, type Decision, type Limiter, type LimiterStore } from '../ratelimit/limiter.js';
import { own } from './own.js';
import type { ChatRequest } from './provider.js';
import { countTokens } from './tokens.js';

/** A window of input tokens: a group's own, or a limit's default (which has the same keys). */
type TokenQuota = NonNullable<LlmConfig['providers'][string]['rate_limits']>['per_user']['groups'][string];

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
    const providerConfig = own(this.config.providers, provider);
    const modelLimits = providerConfig && own(providerConfig.models, model)?.rate_limits;
    const limit = modelLimits?.per_user ?? providerConfig?.rate_limits?.per_user;
    if (!limit || !client) return undefined;
    const scope = modelLimits ? `${provider}/${model}` : provider;
    // The group comes from the client (a header or a claim): only the limit's own groups count.
    const groupQuota = client.group === undefined ? undefined : own(limit.groups, client.group);
    const tokens = await countTokens([request.messages, request['tools']]);
    return this.limiter(scope, groupQuota ? client.group : undefined, groupQuota ?? limit).consume(client.id, tokens);
  }

  /** The limiter of `scope` for `group` (undefined: the default), made on first use with `quota`. */
  private limiter(scope: string, group: string | undefined, quota: TokenQuota): Limiter {
    const name = `llm_tokens:${scope}:${group ?? '*'}`;
    let limiter = this.limiters.get(name);
    if (!limiter) {
      limiter = this.store.limiter(name, toQuota({ limit: quota.input_token_limit, interval: quota.interval }));
      this.limiters.set(name, limiter);
    }
    return limiter;
  }
}
