/** The LLM side of nexus: providers from `[llm]`, their model catalog, and the protocol routes. */
import type { Hono } from 'hono';
import type { LlmConfig, LlmProviderConfig } from '../config/schema.js';
import type { AppEnv } from '../http/app-env.js';
import type { Logger } from '../log.js';
import { ModelCatalog } from './models.js';
import type { ChatProvider } from './provider.js';
import type { TokenLimits } from './token-limits.js';
import { AnthropicProvider } from './providers/anthropic.js';
import { BedrockProvider } from './providers/bedrock.js';
import { GoogleProvider } from './providers/google.js';
import { OpenAiProvider } from './providers/openai.js';
import { mountAnthropic } from './anthropic-route.js';
import { mountOpenAi, type LlmRouteOptions } from './openai-route.js';

function providerFor(name: string, config: LlmProviderConfig): ChatProvider {
  switch (config.type) {
    case 'openai':
      return new OpenAiProvider(name, config);
    case 'anthropic':
      return new AnthropicProvider(name, config);
    case 'google':
      return new GoogleProvider(name, config);
    case 'bedrock':
      return new BedrockProvider(name, config);
  }
}

export class LlmRouter {
  private readonly providers = new Map<string, ChatProvider>();
  private readonly catalog: ModelCatalog<ChatProvider>;

  constructor(
    private readonly config: LlmConfig,
    private readonly logger: Logger,
    /** Where token limits count, when any are configured. */
    private readonly tokenLimits: TokenLimits | undefined,
    /** `server.limits.max_json_depth`, what replaces nexus's secrets in what providers say, and telemetry's observer. */
    private readonly guards: Pick<LlmRouteOptions, 'maxJsonDepth' | 'redactor' | 'observer'>,
  ) {
    for (const [name, provider] of Object.entries(config.providers)) {
      this.providers.set(name, providerFor(name, provider));
    }
    this.catalog = new ModelCatalog(this.providers, logger);
  }

  /** The paths the protocol routes live under, for the middlewares that guard them. */
  get paths(): string[] {
    return Object.values(this.config.protocols).flatMap((protocol) => (protocol.enabled ? [`${protocol.path}/*`] : []));
  }

  mount(app: Hono<AppEnv>): void {
    const { openai, anthropic } = this.config.protocols;
    const options = { catalog: this.catalog, tokenLimits: this.tokenLimits, logger: this.logger, ...this.guards };
    if (openai.enabled) mountOpenAi(app, { path: openai.path, ...options });
    if (anthropic.enabled) mountAnthropic(app, { path: anthropic.path, ...options });
  }

  /** Fetches the providers' model lists (and keeps refreshing them). */
  start(intervalMs?: number): Promise<void> {
    return this.catalog.start(intervalMs);
  }

  close(): void {
    this.catalog.close();
    for (const provider of this.providers.values()) provider.close();
  }
}
