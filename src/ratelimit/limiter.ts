/**
 * One limiter interface, whatever stores the counts (memory, or Redis shared by several nexus
 * instances). Fixed windows: at most `limit` requests per key in each `interval`.
 */
export interface Quota {
  limit: number;
  intervalMs: number;
}

/** A quota as the config writes it (`interval` already in milliseconds), as a Quota. */
export function toQuota({ limit, interval }: { limit: number; interval: number }): Quota {
  return { limit, intervalMs: interval };
}

export interface Decision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Milliseconds until the current window ends (when a refused request may try again). */
  resetMs: number;
}

export interface Limiter {
  /** Counts `points` (1: one request; or, say, a request's input tokens) against `key`'s window. */
  consume(key: string, points?: number): Promise<Decision>;
  /** Gives back points consumed for a request that another limit then refused. */
  refund(key: string, points?: number): Promise<void>;
}

export interface LimiterStore {
  /** A limiter for one quota; `name` keeps its keys apart from other limiters'. */
  limiter(name: string, quota: Quota): Limiter;
  close(): Promise<void>;
}
