/**
 * Telemetry on OpenTelemetry: a tracer, meter and logger provider per nexus instance, each with
 * the OTLP exporter its signal is configured with, and the Prometheus endpoint when asked for.
 * Loaded (with every OpenTelemetry package) only when `[telemetry]` turns something on.
 *
 * Nothing is registered globally but the context manager: several nexus instances in one
 * process (tests, embedding) each keep their own providers.
 */
import { createServer, type Server } from 'node:http';
import {
  context,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  createContextKey,
  type Attributes as OtelAttributes,
  type Context,
  type Histogram,
  type Counter,
  type Meter,
  type TextMapGetter,
  type TextMapPropagator,
  type Tracer,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, setGlobalErrorHandler, W3CTraceContextPropagator } from '@opentelemetry/core';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { AWSXRayPropagator } from '@opentelemetry/propagator-aws-xray';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader, type IMetricReader } from '@opentelemetry/sdk-metrics';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
} from '@opentelemetry/sdk-trace';
import { otlpFor, otlpSettingOf, type OtlpExporterConfig, type TelemetryConfig } from '../config/telemetry-schema.js';
import type { LogAdditions, Logger } from '../log.js';
import type { Redactor } from '../redact.js';
import { ThrottledWarnings } from '../throttled-warnings.js';
import { NEXUS_VERSION } from '../version.js';
import { otlpExporter } from './exporters.js';
import { INSTRUMENTS, type MetricName } from './instruments.js';
import { LogExport } from './log-export.js';
import { installTraceReader } from './propagation.js';
import {
  NO_SPAN,
  TelemetryConfigError,
  type Attributes,
  type GaugeReader,
  type Span,
  type SpanOptions,
  type Telemetry,
} from './telemetry.js';

const SCOPE = 'nexus';
/** Which instance's propagator a context belongs to: outbound requests inject with it. */
const PROPAGATOR = createContextKey('nexus propagator');

/** The longest string attribute kept (a span's; a metric's are bounded by what they name). */
const MAX_ATTRIBUTE_LENGTH = 1024;

/** The longest shutdown waits for what is buffered to be exported. */
const FLUSH_MS = 3_000;

const KINDS = { server: SpanKind.SERVER, client: SpanKind.CLIENT, internal: SpanKind.INTERNAL };

/** Reads incoming context through a function (headers are read without regard to case). */
const GETTER: TextMapGetter<(key: string) => string | undefined> = {
  get: (read, key) => read(key),
  // The X-Ray propagator looks its header up among the keys.
  keys: () => ['traceparent', 'tracestate', 'baggage', 'x-amzn-trace-id'],
};

let contextManagerSet = false;

/** One AsyncLocalStorage context manager for the process, so spans follow awaits. */
function ensureContextManager(): void {
  if (contextManagerSet) return;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  contextManagerSet = true;
  // Outbound requests carry the context of the active span, with its instance's propagator.
  installTraceReader(() => {
    const active = context.active();
    const propagator = active.getValue(PROPAGATOR) as TextMapPropagator | undefined;
    if (!propagator || !trace.getSpanContext(active)) return undefined;
    const carrier: Record<string, string> = {};
    propagator.inject(active, carrier, { set: (target, key, value) => (target[key] = value) });
    return carrier;
  });
}

/** Attributes without their undefined values. */
function defined(attributes: Attributes | undefined): OtelAttributes {
  const result: OtelAttributes = {};
  if (attributes) for (const key in attributes) if (attributes[key] !== undefined) result[key] = attributes[key];
  return result;
}

/**
 * The sampler: the ratio decides for new traces; a caller's sampled flag decides when
 * `parent_based_sampler` is on (else the ratio decides for those too). Spans within nexus
 * always follow their local parent, so a trace is whole or absent.
 */
function samplerFor({ sampling, parent_based_sampler: parentBased }: TelemetryConfig['tracing']): Sampler {
  const ratio = sampling >= 1 ? new AlwaysOnSampler() : sampling <= 0 ? new AlwaysOffSampler() : new TraceIdRatioBasedSampler(sampling);
  return new ParentBasedSampler({
    root: ratio,
    remoteParentSampled: parentBased ? new AlwaysOnSampler() : ratio,
    remoteParentNotSampled: parentBased ? new AlwaysOffSampler() : ratio,
  });
}

export class OpenTelemetry implements Telemetry {
  readonly tracing: boolean;
  private readonly tracer: Tracer | undefined;
  private readonly tracerProvider: TracerProvider | undefined;
  private readonly meterProvider: MeterProvider | undefined;
  private readonly meter: Meter | undefined;
  private readonly instruments = new Map<MetricName, Histogram | Counter>();
  /** Extracts incoming context (W3C first, then X-Ray) and injects outgoing (W3C, plus X-Ray when configured). */
  private readonly extractor: TextMapPropagator;
  private readonly injector: TextMapPropagator;
  private readonly logExport: LogExport | undefined;
  readonly logging: LogAdditions;
  private prometheusServer: Server | undefined;

  private shutdownDone: Promise<void> | undefined;

  private constructor(
    private readonly config: TelemetryConfig,
    private readonly redactor: Redactor,
    resource: Resource,
    prometheus: PrometheusExporter | undefined,
  ) {
    // A sampler that can never sample (a ratio of 0 that no caller's flag overrules) needs no tracer
    // at all: no span, and none of the context tracking spans need (most of tracing's cost).
    const { sampling, parent_based_sampler: parentBased, collect, propagation: propagate } = config.tracing;
    const traces = sampling > 0 || parentBased ? otlpFor(config, 'traces') : undefined;
    const metrics = otlpFor(config, 'metrics');
    const logs = otlpFor(config, 'logs');
    // Later propagators win when both find a context: W3C over X-Ray, as in the original. A
    // caller's baggage is not taken up: it is the caller's to send where it wants (in `_meta` it
    // passes through), and re-sent as a header it could break the request to the server.
    this.extractor = new CompositePropagator({ propagators: [new AWSXRayPropagator(), new W3CTraceContextPropagator()] });
    this.injector = new CompositePropagator({
      propagators: [new W3CTraceContextPropagator(), ...(propagate.aws_xray ? [new AWSXRayPropagator()] : [])],
    });
    this.tracing = traces !== undefined;
    if (traces) {
      this.tracerProvider = new TracerProvider({
        resource,
        sampler: samplerFor(config.tracing),
        spanLimits: {
          // Some values come from callers (a tool name, a URI): none may hold much memory while exports wait.
          attributeValueLengthLimit: MAX_ATTRIBUTE_LENGTH,
          attributeCountLimit: collect.max_attributes_per_span,
          eventCountLimit: collect.max_events_per_span,
          linkCountLimit: collect.max_links_per_span,
          attributePerEventCountLimit: collect.max_attributes_per_event,
          attributePerLinkCountLimit: collect.max_attributes_per_link,
        },
        spanProcessors: [
          new BatchSpanProcessor({
            exporter: otlpExporter('traces', traces, otlpSettingOf(config, 'traces').key),
            ...batchOptions(traces),
          }),
        ],
      });
      this.tracer = this.tracerProvider.getTracer(SCOPE, NEXUS_VERSION);
      ensureContextManager();
    }
    const readers: IMetricReader[] = [];
    if (metrics) {
      readers.push(
        new PeriodicExportingMetricReader({
          exporter: otlpExporter('metrics', metrics, otlpSettingOf(config, 'metrics').key),
          exportIntervalMillis: metrics.batch_export.scheduled_delay,
          // The SDK requires the export timeout to fit in the interval.
          exportTimeoutMillis: Math.min(metrics.timeout, metrics.batch_export.scheduled_delay),
        }),
      );
    }
    if (prometheus) readers.push(prometheus);
    if (readers.length > 0) {
      this.meterProvider = new MeterProvider({ resource, readers });
      this.meter = this.meterProvider.getMeter(SCOPE, NEXUS_VERSION);
    }
    if (logs) {
      const provider = new LoggerProvider({
        resource,
        processors: [
          new BatchLogRecordProcessor({ exporter: otlpExporter('logs', logs, otlpSettingOf(config, 'logs').key), ...batchOptions(logs) }),
        ],
      });
      this.logExport = new LogExport(provider);
    }
    this.logging = { destination: this.logExport?.destination, ...(this.tracing && { fields: traceFields }) };
  }

  /** Starts exporting; `logger` hears of failed exports (at most a few lines per window). */
  static async start(config: TelemetryConfig, logger: Logger, redactor: Redactor): Promise<OpenTelemetry> {
    const failures = new ThrottledWarnings(logger, 'telemetry export failures');
    // Process-wide in OpenTelemetry: the exporters report failures here, not to their caller.
    setGlobalErrorHandler((error) =>
      failures.warn(
        { err: error instanceof Error ? error.message : String(error) },
        'telemetry export failed (is the collector reachable?)',
      ),
    );
    const resource = resourceFromAttributes({
      'service.name': config.service_name || 'nexus',
      'service.version': NEXUS_VERSION,
      ...config.resource_attributes,
    });
    const promConfig = config.metrics.prometheus;
    const prometheus = promConfig?.enabled ? new PrometheusExporter({ preventServerStart: true }) : undefined;
    const telemetry = new OpenTelemetry(config, redactor, resource, prometheus);
    if (prometheus && promConfig) {
      await telemetry.servePrometheus(prometheus, promConfig).catch(async (error: unknown) => {
        await telemetry.shutdown();
        throw error;
      });
    }
    return telemetry;
  }

  /** The scrape endpoint, on its own listener: metrics need no auth, and the MCP port is not exposed to them. */
  private servePrometheus(
    exporter: PrometheusExporter,
    { listen, path }: NonNullable<TelemetryConfig['metrics']['prometheus']>,
  ): Promise<void> {
    const server = createServer((request, response) => {
      if (request.method === 'GET' && new URL(request.url ?? '/', 'http://x').pathname === path)
        return exporter.getMetricsRequestHandler(request, response);
      response.writeHead(404).end();
    });
    return new Promise((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        const problem = error.code === 'EADDRINUSE' ? 'is already in use' : `cannot be listened on (${error.code ?? error.message})`;
        reject(new TelemetryConfigError('telemetry.metrics.prometheus.listen', `${listen.host}:${listen.port} ${problem}`));
      });
      server.listen(listen.port, listen.host, () => {
        this.prometheusServer = server;
        resolve();
      });
    });
  }

  /** The Prometheus endpoint's URL, once listening. */
  get scrapeUrl(): string | undefined {
    const address = this.prometheusServer?.address();
    if (!address || typeof address === 'string') return undefined;
    const host = address.address.includes(':') ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}${this.config.metrics.prometheus?.path ?? '/metrics'}`;
  }

  span<T>(name: string, options: SpanOptions, work: (span: Span) => Promise<T>): Promise<T> {
    if (!this.tracer) return work(NO_SPAN);
    const parent = this.parentFor(options.parent);
    const span = this.tracer.startSpan(name, { kind: KINDS[options.kind ?? 'internal'], attributes: defined(options.attributes) }, parent);
    const active = trace.setSpan(parent, span).setValue(PROPAGATOR, this.injector);
    let held = false;
    let failed = false;
    const handle: Span = {
      set: (attributes) => span.setAttributes(defined(attributes)),
      fail: (type, message) => {
        failed = true;
        span.setAttribute('error.type', type);
        // A failure's text may quote what a server or provider said, a secret of nexus's among it.
        span.setStatus({ code: SpanStatusCode.ERROR, ...(message !== undefined && { message: this.redactor.text(message) }) });
      },
      hold: () => {
        held = true;
        return () => span.end();
      },
    };
    return context
      .with(active, () => work(handle))
      .then(
        (result) => {
          if (!held) span.end();
          return result;
        },
        (error: unknown) => {
          // The work's own words for the failure, when it gave some.
          if (!failed) handle.fail(errorType(error), error instanceof Error ? error.message : String(error));
          span.end();
          throw error;
        },
      );
  }

  /**
   * The context a new span starts in: the active one, unless `read` (incoming headers, or a
   * request's `_meta`) carries a trace the active context is not already part of.
   */
  private parentFor(read: SpanOptions['parent']): Context {
    const active = context.active();
    if (!read || (read('traceparent') === undefined && read('x-amzn-trace-id') === undefined)) return active;
    const incoming = this.extractor.extract(ROOT_CONTEXT, read, GETTER);
    const theirs = trace.getSpanContext(incoming);
    return !theirs || trace.getSpanContext(active)?.traceId === theirs.traceId ? active : incoming;
  }

  record(metric: MetricName, value: number, attributes: Attributes): void {
    if (!this.meter) return;
    let instrument = this.instruments.get(metric);
    if (!instrument) {
      const spec = INSTRUMENTS[metric];
      const common = { unit: spec.unit, description: spec.description };
      instrument =
        spec.kind === 'histogram'
          ? this.meter.createHistogram(metric, { ...common, advice: { explicitBucketBoundaries: [...spec.buckets] } })
          : this.meter.createCounter(metric, common);
      this.instruments.set(metric, instrument);
    }
    if ('record' in instrument) instrument.record(value, defined(attributes));
    else instrument.add(value, defined(attributes));
  }

  gauge(metric: MetricName, read: GaugeReader): void {
    const spec = INSTRUMENTS[metric];
    this.meter
      ?.createObservableGauge(metric, { unit: spec.unit, description: spec.description })
      .addCallback((result) => read((value, attributes) => result.observe(value, defined(attributes))));
  }

  /** Flushes and stops, once however often it is called (a failed start, then close). */
  shutdown(): Promise<void> {
    this.shutdownDone ??= this.stop();
    return this.shutdownDone;
  }

  private async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.prometheusServer ? this.prometheusServer.close(() => resolve()) : resolve()));
    // Each flushes what it holds; an unreachable collector (whose exporter retries) holds shutdown up to FLUSH_MS.
    const flushed = Promise.allSettled([this.tracerProvider?.shutdown(), this.meterProvider?.shutdown(), this.logExport?.shutdown()]);
    await Promise.race([flushed, new Promise((resolve) => setTimeout(resolve, FLUSH_MS).unref())]);
  }
}

/** The active span's ids, for log lines (none outside a span). */
function traceFields(): object {
  const span = trace.getSpanContext(context.active());
  return span ? { trace_id: span.traceId, span_id: span.spanId } : {};
}

function batchOptions(otlp: OtlpExporterConfig) {
  const batch = otlp.batch_export;
  return {
    scheduledDelayMillis: batch.scheduled_delay,
    maxQueueSize: batch.max_queue_size,
    maxExportBatchSize: Math.min(batch.max_export_batch_size, batch.max_queue_size),
    exportTimeoutMillis: otlp.timeout,
  };
}

/** `error.type` for a failure that says nothing more specific: its class name. */
function errorType(error: unknown): string {
  return error instanceof Error ? error.name || 'Error' : 'Error';
}
