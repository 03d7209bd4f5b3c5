/**
 * Which models each provider offers, and what a model name a client sends means. A name is
 * `provider/model` (split at the first slash) or a bare model name, looked up provider by
 * provider in config order. A provider offers its configured models (`[models.<alias>]`, sent
 * upstream under `rename` when given) and what its models API lists, filtered by `model_filter`.
 * The lists are fetched at start and refreshed periodically; on an error the last good list stays.
 */
import type { LlmProviderConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { own } from './own.js';

/** How often the providers' model lists are fetched again. */
const DISCOVERY_INTERVAL_MS = 5 * 60_000;

export interface ModelSource {
  readonly name: string;
  readonly config: LlmProviderConfig;
  /** The model ids the provider's models API lists. */
  discover(): Promise<string[]>;
}

export interface ResolvedModel<P extends ModelSource> {
  provider: P;
  /** The model as the provider offers it: its alias, or its discovered id. */
  model: string;
  /** The model id to send upstream. */
  upstream: string;
}

export class ModelCatalog<P extends ModelSource> {
  private readonly discovered = new Map<string, ReadonlySet<string>>();
  private readonly filters = new Map<string, RegExp>();
  private timer: NodeJS.Timeout | undefined;
  private readonly log: Logger;

  constructor(
    private readonly providers: ReadonlyMap<string, P>,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'llm-models' });
    for (const [name, provider] of providers) {
      if (provider.config.model_filter !== undefined) this.filters.set(name, new RegExp(provider.config.model_filter));
    }
  }

  /** Fetches every provider's list now (not failing on errors), then keeps refreshing them. */
  async start(intervalMs = DISCOVERY_INTERVAL_MS): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), intervalMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    await Promise.all(
      [...this.providers.values()].map(async (provider) => {
        try {
          const filter = this.filters.get(provider.name);
          const ids = await provider.discover();
          this.discovered.set(provider.name, new Set(filter ? ids.filter((id) => filter.test(id)) : ids));
        } catch (error) {
          const kept = this.discovered.get(provider.name)?.size ?? 0;
          this.log.warn({ provider: provider.name, err: (error as Error).message, kept }, 'listing models failed; keeping the last list');
        }
      }),
    );
  }

  /** The provider and upstream model for a client's model name, or undefined for an unknown one. */
  resolve(name: string): ResolvedModel<P> | undefined {
    const slash = name.indexOf('/');
    const named = slash > 0 ? this.providers.get(name.slice(0, slash)) : undefined;
    if (named) return this.offered(named, name.slice(slash + 1));
    for (const provider of this.providers.values()) {
      const found = this.offered(provider, name);
      if (found) return found;
    }
    return undefined;
  }

  /** Every model, as `provider/model`, with its provider. */
  list(): { id: string; provider: string }[] {
    const out: { id: string; provider: string }[] = [];
    for (const provider of this.providers.values()) {
      const names = new Set([...Object.keys(provider.config.models), ...(this.discovered.get(provider.name) ?? [])]);
      for (const model of names) out.push({ id: `${provider.name}/${model}`, provider: provider.name });
    }
    return out;
  }

  private offered(provider: P, model: string): ResolvedModel<P> | undefined {
    const configured = own(provider.config.models, model);
    if (configured) return { provider, model, upstream: configured.rename ?? model };
    return this.discovered.get(provider.name)?.has(model) ? { provider, model, upstream: model } : undefined;
  }
}
