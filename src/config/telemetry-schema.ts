/**
 * `[telemetry]`: the original's OpenTelemetry keys and defaults, so its configs load unchanged,
 * plus a Prometheus scrape endpoint of our own (`telemetry.metrics.prometheus`).
 * Everything is off unless an exporter is enabled.
 */
import { z } from 'zod';
import { duration, headerName, listenAddress, urlPath } from './primitives.js';

/**
 * Headers as a table (`{ authorization = "..." }`) or as a list of `{ name, value }`, as the
 * original takes them; each name must be a header name (`check` adds a rule of its own).
 */
const headers = (check?: [(name: string) => boolean, string]) =>
  z
    .union([z.record(z.string(), z.string()), z.array(z.strictObject({ name: z.string(), value: z.string() }))], {
      error: 'expected a table of header names to values, or a list of { name, value }',
    })
    .transform((value) => (Array.isArray(value) ? Object.fromEntries(value.map((entry) => [entry.name, entry.value])) : value))
    .superRefine((value, ctx) => {
      for (const [name, text] of Object.entries(value)) {
        if (!headerName.safeParse(name).success)
          ctx.addIssue({ code: 'custom', path: [name], message: 'must be a valid HTTP header name' });
        else if (check && !check[0](name)) ctx.addIssue({ code: 'custom', path: [name], message: check[1] });
        // Such a value could never be sent: every export would fail.
        else if (/[\r\n\0]/.test(text))
          ctx.addIssue({ code: 'custom', path: [name], message: 'a header value must not hold line breaks or NUL' });
      }
    })
    .default({});

// gRPC reserves its own metadata keys; the collector would refuse the export.
const notReserved: [(name: string) => boolean, string] = [
  (name) => !name.toLowerCase().startsWith('grpc-'),
  "must not start with 'grpc-' (reserved by gRPC)",
];

/** A batch size: a whole number, where 0 (which the original takes) means the default. */
const countOr = (fallback: number) =>
  z
    .number()
    .int('must be a whole number')
    .nonnegative('must not be negative')
    .default(fallback)
    .transform((value) => value || fallback);

const otlpEndpoint = z.string().refine((value) => {
  try {
    return ['http:', 'https:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}, 'bad URL: expected an http(s) URL such as "http://localhost:4317"');

const otlpExporter = z
  .strictObject({
    enabled: z.boolean().default(false),
    endpoint: otlpEndpoint.default('http://localhost:4317'),
    protocol: z.enum(['grpc', 'http'], { error: 'protocol must be "grpc" or "http"' }).default('grpc'),
    timeout: duration.default(60_000),
    batch_export: z
      .strictObject({
        scheduled_delay: duration.default(5_000),
        max_queue_size: countOr(2048),
        max_export_batch_size: countOr(512),
        max_concurrent_exports: countOr(1),
      })
      .prefault({}),
    grpc: z
      .strictObject({
        headers: headers(notReserved),
        tls: z
          .strictObject({
            domain_name: z.string().min(1).optional(),
            key: z.string().min(1).optional(),
            cert: z.string().min(1).optional(),
            ca: z.string().min(1).optional(),
          })
          .refine((tls) => (tls.key === undefined) === (tls.cert === undefined), 'key and cert go together')
          .optional(),
      })
      .optional(),
    http: z.strictObject({ headers: headers() }).optional(),
  })
  .superRefine((otlp, ctx) => {
    if (otlp.grpc && otlp.http) ctx.addIssue({ code: 'custom', message: "give either 'grpc' or 'http', not both" });
    else if (otlp.protocol === 'grpc' && otlp.http) ctx.addIssue({ code: 'custom', path: ['http'], message: 'protocol is "grpc"' });
    else if (otlp.protocol === 'http' && otlp.grpc) ctx.addIssue({ code: 'custom', path: ['grpc'], message: 'protocol is "http"' });
  });

const exporters = z.strictObject({ otlp: otlpExporter.prefault({}) });

// The original takes 0 here (an unsigned number); so does nexus.
const collectLimit = z.number().int('must be a whole number').nonnegative('must not be negative').default(128);

const tracing = z
  .strictObject({
    sampling: z.number().min(0, 'must be between 0.0 and 1.0').max(1, 'must be between 0.0 and 1.0').default(0.15),
    parent_based_sampler: z.boolean().default(false),
    collect: z
      .strictObject({
        max_events_per_span: collectLimit,
        max_attributes_per_span: collectLimit,
        max_links_per_span: collectLimit,
        max_attributes_per_event: collectLimit,
        max_attributes_per_link: collectLimit,
      })
      .prefault({}),
    propagation: z.strictObject({ trace_context: z.boolean().default(false), aws_xray: z.boolean().default(false) }).prefault({}),
    exporters: exporters.optional(),
  })
  .prefault({});

const prometheus = z
  .strictObject({
    enabled: z.boolean().default(false),
    listen: listenAddress.prefault('127.0.0.1:9464'),
    path: urlPath.default('/metrics'),
  })
  .optional();

export const telemetrySection = z.strictObject({
  // An empty name (the original takes one) means the default.
  service_name: z.string().optional(),
  resource_attributes: z.record(z.string(), z.string()).default({}),
  exporters: exporters.prefault({}),
  tracing,
  metrics: z.strictObject({ exporters: exporters.optional(), prometheus }).prefault({}),
  logs: z.strictObject({ exporters: exporters.optional() }).prefault({}),
});

export type TelemetryConfig = z.output<typeof telemetrySection>;
export type OtlpExporterConfig = z.output<typeof otlpExporter>;
export type Signal = 'traces' | 'metrics' | 'logs';

/**
 * The OTLP exporter setting that applies to a signal, and its key path (for errors). As in the
 * original, a signal's own `exporters` table, when written, decides alone (`enabled = false` there
 * turns the signal off whatever the global one says); without one, `telemetry.exporters.otlp`.
 */
export function otlpSettingOf(config: TelemetryConfig, signal: Signal): { otlp: OtlpExporterConfig; key: string } {
  const section = signal === 'traces' ? 'tracing' : signal;
  const own = config[section].exporters;
  return own
    ? { otlp: own.otlp, key: `telemetry.${section}.exporters.otlp` }
    : { otlp: config.exporters.otlp, key: 'telemetry.exporters.otlp' };
}

/** The OTLP exporter a signal sends to, if any (otlpSettingOf, when enabled). */
export function otlpFor(config: TelemetryConfig, signal: Signal): OtlpExporterConfig | undefined {
  const { otlp } = otlpSettingOf(config, signal);
  return otlp.enabled ? otlp : undefined;
}

/** Whether anything of telemetry is on: if not, no OpenTelemetry code is loaded at all. */
export function telemetryWanted(config: TelemetryConfig): boolean {
  return Boolean(otlpFor(config, 'traces') || otlpFor(config, 'metrics') || otlpFor(config, 'logs') || config.metrics.prometheus?.enabled);
}
