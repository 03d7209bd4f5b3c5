/**
 * What the rest of nexus sees of telemetry: spans, measurements and gauges behind a small
 * interface. The OpenTelemetry implementation (otel.ts) is loaded only when `[telemetry]` turns
 * something on; otherwise every call goes to NO_TELEMETRY, which does nothing and imports nothing.
 */
import { telemetryWanted, type TelemetryConfig } from '../config/telemetry-schema.js';
import type { MetricName } from './instruments.js';
import type { LogAdditions, Logger } from '../log.js';
import type { Redactor } from '../redact.js';

type AttributeValue = string | number | boolean;
/** Span and metric attributes; undefined values are left out. */
export type Attributes = Record<string, AttributeValue | undefined>;

export interface Span {
  /** Adds attributes learnt while the work ran (a status code, token counts). */
  set(attributes: Attributes): void;
  /** Marks the span failed, with `error.type` set to `type`. */
  fail(type: string, message?: string): void;
  /** Keeps the span open after its work returns (a streamed answer); the function returned ends it. */
  hold(): () => void;
}

export interface SpanOptions {
  kind?: 'server' | 'client' | 'internal';
  attributes?: Attributes;
  /**
   * Reads incoming trace context (`traceparent`, `x-amzn-trace-id`…) from request headers or a
   * request's `_meta`: the span continues that trace, unless it is the one already active.
   */
  parent?: (key: string) => string | undefined;
}

/** A gauge's reading: one value per attribute set, taken when metrics are collected. */
export type GaugeReader = (report: (value: number, attributes: Attributes) => void) => void;

export interface Telemetry {
  /** Whether spans are recorded at all (tracing has an exporter). */
  readonly tracing: boolean;
  /** Runs `work` in a new span, a child of the active one; the span ends when `work` settles. */
  span<T>(name: string, options: SpanOptions, work: (span: Span) => Promise<T>): Promise<T>;
  /** One measurement of a histogram, or an increment of a counter. */
  record(metric: MetricName, value: number, attributes: Attributes): void;
  /** A gauge read at each collection. */
  gauge(metric: MetricName, read: GaugeReader): void;
  /** The Prometheus scrape endpoint, when one is served. */
  readonly scrapeUrl?: string;
  /** What to add to the log (none without telemetry). */
  readonly logging: LogAdditions;
  /** Flushes what is buffered and stops exporting. */
  shutdown(): Promise<void>;
}

/** The span of work that is not traced. */
export const NO_SPAN: Span = { set: () => undefined, fail: () => undefined, hold: () => () => undefined };

export const NO_TELEMETRY: Telemetry = {
  tracing: false,
  span: (_name, _options, work) => work(NO_SPAN),
  record: () => undefined,
  gauge: () => undefined,
  logging: {},
  shutdown: async () => undefined,
};

/** Seconds since `start` (a performance.now() reading), the unit of every duration metric. */
export const secondsSince = (start: number) => (performance.now() - start) / 1000;

/** A start-up problem of telemetry's, with the config key it is about. */
export class TelemetryConfigError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
  }
}

/** Telemetry as configured: OpenTelemetry when `[telemetry]` enables something, else NO_TELEMETRY. */
export async function startTelemetry(config: TelemetryConfig, logger: Logger, redactor: Redactor): Promise<Telemetry> {
  if (!telemetryWanted(config)) return NO_TELEMETRY;
  const { OpenTelemetry } = await import('./otel.js');
  return OpenTelemetry.start(config, logger, redactor);
}
