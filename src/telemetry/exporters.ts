/** The OTLP exporters of each signal, over gRPC or HTTP (protobuf), from `exporters.otlp`. */
import { readFileSync } from 'node:fs';
import { checkServerIdentity } from 'node:tls';
import { credentials, Metadata, type ChannelCredentials } from '@grpc/grpc-js';
import { OTLPLogExporter as GrpcLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPLogExporter as HttpLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPMetricExporter as GrpcMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as HttpMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as HttpTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import type { OtlpExporterConfig, Signal } from '../config/telemetry-schema.js';
import { TelemetryConfigError } from './telemetry.js';

const EXPORTERS = {
  traces: { grpc: GrpcTraceExporter, http: HttpTraceExporter },
  metrics: { grpc: GrpcMetricExporter, http: HttpMetricExporter },
  logs: { grpc: GrpcLogExporter, http: HttpLogExporter },
};

type ExporterOf<S extends Signal> = InstanceType<(typeof EXPORTERS)[S]['grpc']> | InstanceType<(typeof EXPORTERS)[S]['http']>;

/**
 * The exporter `signal` sends with. Over HTTP an endpoint without a path gets the signal's
 * standard one (`/v1/traces`); one with a path is used as written (the original's form).
 */
export function otlpExporter<S extends Signal>(signal: S, otlp: OtlpExporterConfig, key: string): ExporterOf<S> {
  const timeoutMillis = otlp.timeout;
  if (otlp.protocol === 'http') {
    const url = new URL(otlp.endpoint);
    if (url.pathname === '/' || url.pathname === '') url.pathname = `/v1/${signal}`;
    return new EXPORTERS[signal].http({ url: url.href, headers: otlp.http?.headers ?? {}, timeoutMillis }) as ExporterOf<S>;
  }
  const metadata = new Metadata();
  for (const [name, value] of Object.entries(otlp.grpc?.headers ?? {})) metadata.set(name, value);
  return new EXPORTERS[signal].grpc({
    url: otlp.endpoint,
    timeoutMillis,
    metadata,
    credentials: grpcCredentials(otlp, `${key}.grpc.tls`),
  }) as ExporterOf<S>;
}

/** TLS for gRPC when `grpc.tls` is given or the endpoint is https; plain text otherwise. */
function grpcCredentials(otlp: OtlpExporterConfig, key: string): ChannelCredentials {
  const tls = otlp.grpc?.tls;
  if (!tls && new URL(otlp.endpoint).protocol !== 'https:') return credentials.createInsecure();
  const read = (path: string | undefined, name: string) => {
    if (path === undefined) return null;
    try {
      return readFileSync(path);
    } catch (error) {
      throw new TelemetryConfigError(`${key}.${name}`, `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    }
  };
  const domain = tls?.domain_name;
  return credentials.createSsl(read(tls?.ca, 'ca'), read(tls?.key, 'key'), read(tls?.cert, 'cert'), {
    // The certificate is checked against `domain_name` rather than the endpoint's host.
    ...(domain && {
      checkServerIdentity: (_host: string, cert: Parameters<typeof checkServerIdentity>[1]) => checkServerIdentity(domain, cert),
    }),
  });
}
