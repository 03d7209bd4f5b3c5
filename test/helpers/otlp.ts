/**
 * An OTLP receiver for tests: a gRPC server (the collector's three Export services) and an HTTP
 * server (`/v1/traces`, `/v1/metrics`, `/v1/logs`), both decoding the real protobuf wire format
 * with the OpenTelemetry project's own generated codecs. What arrives is kept, flattened, for
 * assertions.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { Server as GrpcServer, ServerCredentials, type ServiceDefinition } from '@grpc/grpc-js';

const require = createRequire(import.meta.url);
// The last published build of the OTLP codecs generated from opentelemetry-proto (protobufjs).
const proto = (require('otlp-wire-decoder/build/src/generated/root.js') as { opentelemetry: { proto: Proto } }).opentelemetry.proto;

interface Codec {
  decode(bytes: Uint8Array): unknown;
  toObject(message: unknown, options: object): Record<string, unknown>;
}
interface Proto {
  collector: {
    trace: { v1: { ExportTraceServiceRequest: Codec } };
    metrics: { v1: { ExportMetricsServiceRequest: Codec } };
    logs: { v1: { ExportLogsServiceRequest: Codec } };
  };
}

type AnyValue = {
  stringValue?: string;
  intValue?: string;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: AnyValue[] };
};
type KeyValue = { key: string; value?: AnyValue };
export type Attrs = Record<string, string | number | boolean | unknown[]>;

function value(v: AnyValue | undefined): string | number | boolean | unknown[] {
  if (!v) return '';
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(value);
  return '';
}
const attrs = (list: KeyValue[] | undefined): Attrs => Object.fromEntries((list ?? []).map((kv) => [kv.key, value(kv.value)]));

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Attrs;
  status: { code: number; message: string };
  resource: Attrs;
  scope: string;
  events: { name: string; attributes: Attrs }[];
}

export interface ReceivedPoint {
  name: string;
  unit: string;
  description: string;
  kind: 'histogram' | 'sum' | 'gauge';
  attributes: Attrs;
  /** Histograms: the count of measurements; sums and gauges: the value. */
  value: number;
  /** Histograms only: the sum of measurements. */
  sum?: number;
  bounds?: number[];
  resource: Attrs;
}

export interface ReceivedLog {
  body: string;
  severityText: string;
  severityNumber: number;
  traceId: string;
  spanId: string;
  attributes: Attrs;
  resource: Attrs;
}

const TO_OBJECT = { longs: String, bytes: String, enums: Number, defaults: false, arrays: true };
const hex = (base64: unknown) => (typeof base64 === 'string' ? Buffer.from(base64, 'base64').toString('hex') : '');

export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly points: ReceivedPoint[] = [];
  readonly logs: ReceivedLog[] = [];
  /** Request headers of every export received (gRPC metadata or HTTP headers). */
  readonly headers: Record<string, string>[] = [];
  /** The raw bytes of every export, to search for what must never be sent. */
  readonly raw: Buffer[] = [];
  private grpc?: GrpcServer;
  private http?: HttpServer;
  grpcEndpoint = '';
  httpEndpoint = '';

  /** gRPC over TLS with this certificate (PEM files), else plain text. */
  constructor(private readonly tls?: { cert: string; key: string }) {}

  async start(): Promise<this> {
    const grpc = new GrpcServer();
    const service = (path: string): ServiceDefinition => ({
      Export: {
        path,
        requestStream: false,
        responseStream: false,
        requestSerialize: (bytes: Buffer) => bytes,
        requestDeserialize: (bytes: Buffer) => bytes,
        // Every Export…ServiceResponse without partial success is the empty message.
        responseSerialize: () => Buffer.alloc(0),
        responseDeserialize: (bytes: Buffer) => bytes,
      },
    });
    const handle =
      (take: (bytes: Buffer) => void) =>
      (
        call: { request: Buffer; metadata: { getMap(): Record<string, unknown> } },
        callback: (error: Error | null, response?: Buffer) => void,
      ) => {
        this.headers.push(Object.fromEntries(Object.entries(call.metadata.getMap()).map(([k, v]) => [k, String(v)])));
        take(call.request);
        callback(null, Buffer.alloc(0));
      };
    const paths = {
      traces: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
      metrics: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
      logs: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
    };
    grpc.addService(service(paths.traces), { Export: handle((b) => this.takeTraces(b)) });
    grpc.addService(service(paths.metrics), { Export: handle((b) => this.takeMetrics(b)) });
    grpc.addService(service(paths.logs), { Export: handle((b) => this.takeLogs(b)) });
    const grpcPort = await new Promise<number>((resolve, reject) =>
      grpc.bindAsync('127.0.0.1:0', this.credentials(), (error, port) => (error ? reject(error) : resolve(port))),
    );
    this.grpc = grpc;
    this.grpcEndpoint = `${this.tls ? 'https' : 'http'}://127.0.0.1:${grpcPort}`;

    this.http = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks);
        this.headers.push(Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k, String(v)])));
        const take = { '/v1/traces': this.takeTraces, '/v1/metrics': this.takeMetrics, '/v1/logs': this.takeLogs }[request.url ?? ''];
        if (!take || request.headers['content-type'] !== 'application/x-protobuf') {
          response.writeHead(404).end();
          return;
        }
        take.call(this, body);
        response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    await new Promise<void>((resolve) => this.http?.listen(0, '127.0.0.1', resolve));
    this.httpEndpoint = `http://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
    return this;
  }

  private credentials(): ServerCredentials {
    if (!this.tls) return ServerCredentials.createInsecure();
    return ServerCredentials.createSsl(null, [{ cert_chain: readFileSync(this.tls.cert), private_key: readFileSync(this.tls.key) }], false);
  }

  private takeTraces(bytes: Buffer): void {
    this.raw.push(bytes);
    const codec = proto.collector.trace.v1.ExportTraceServiceRequest;
    const request = codec.toObject(codec.decode(bytes), TO_OBJECT) as {
      resourceSpans?: {
        resource?: { attributes?: KeyValue[] };
        scopeSpans?: { scope?: { name?: string }; spans?: Record<string, unknown>[] }[];
      }[];
    };
    for (const resourceSpans of request.resourceSpans ?? []) {
      const resource = attrs(resourceSpans.resource?.attributes);
      for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
        for (const span of scopeSpans.spans ?? []) {
          const status = (span['status'] ?? {}) as { code?: number; message?: string };
          this.spans.push({
            traceId: hex(span['traceId']),
            spanId: hex(span['spanId']),
            parentSpanId: hex(span['parentSpanId']),
            name: span['name'] as string,
            kind: (span['kind'] as number | undefined) ?? 0,
            attributes: attrs(span['attributes'] as KeyValue[] | undefined),
            status: { code: status.code ?? 0, message: status.message ?? '' },
            resource,
            scope: scopeSpans.scope?.name ?? '',
            events: ((span['events'] ?? []) as { name: string; attributes?: KeyValue[] }[]).map((event) => ({
              name: event.name,
              attributes: attrs(event.attributes),
            })),
          });
        }
      }
    }
  }

  private takeMetrics(bytes: Buffer): void {
    this.raw.push(bytes);
    const codec = proto.collector.metrics.v1.ExportMetricsServiceRequest;
    type Point = { attributes?: KeyValue[]; count?: string; sum?: number; asDouble?: number; asInt?: string; explicitBounds?: number[] };
    type Metric = {
      name: string;
      unit?: string;
      description?: string;
      histogram?: { dataPoints?: Point[] };
      sum?: { dataPoints?: Point[] };
      gauge?: { dataPoints?: Point[] };
    };
    const request = codec.toObject(codec.decode(bytes), TO_OBJECT) as {
      resourceMetrics?: { resource?: { attributes?: KeyValue[] }; scopeMetrics?: { metrics?: Metric[] }[] }[];
    };
    for (const resourceMetrics of request.resourceMetrics ?? []) {
      const resource = attrs(resourceMetrics.resource?.attributes);
      for (const scope of resourceMetrics.scopeMetrics ?? []) {
        for (const metric of scope.metrics ?? []) {
          const base = { name: metric.name, unit: metric.unit ?? '', description: metric.description ?? '', resource };
          for (const point of metric.histogram?.dataPoints ?? []) {
            this.points.push({
              ...base,
              kind: 'histogram',
              attributes: attrs(point.attributes),
              value: Number(point.count ?? 0),
              sum: point.sum ?? 0,
              bounds: point.explicitBounds ?? [],
            });
          }
          for (const [kind, data] of [
            ['sum', metric.sum],
            ['gauge', metric.gauge],
          ] as const) {
            for (const point of data?.dataPoints ?? []) {
              this.points.push({ ...base, kind, attributes: attrs(point.attributes), value: point.asDouble ?? Number(point.asInt ?? 0) });
            }
          }
        }
      }
    }
  }

  private takeLogs(bytes: Buffer): void {
    this.raw.push(bytes);
    const codec = proto.collector.logs.v1.ExportLogsServiceRequest;
    type Record_ = {
      body?: AnyValue;
      severityText?: string;
      severityNumber?: number;
      traceId?: string;
      spanId?: string;
      attributes?: KeyValue[];
    };
    const request = codec.toObject(codec.decode(bytes), TO_OBJECT) as {
      resourceLogs?: { resource?: { attributes?: KeyValue[] }; scopeLogs?: { logRecords?: Record_[] }[] }[];
    };
    for (const resourceLogs of request.resourceLogs ?? []) {
      const resource = attrs(resourceLogs.resource?.attributes);
      for (const scope of resourceLogs.scopeLogs ?? []) {
        for (const record of scope.logRecords ?? []) {
          this.logs.push({
            body: String(value(record.body)),
            severityText: record.severityText ?? '',
            severityNumber: record.severityNumber ?? 0,
            traceId: hex(record.traceId),
            spanId: hex(record.spanId),
            attributes: attrs(record.attributes),
            resource,
          });
        }
      }
    }
  }

  /** The latest data point of `name` whose attributes include `match` (a cumulative metric's total so far). */
  point(name: string, match: Attrs = {}): ReceivedPoint | undefined {
    return this.points.findLast(
      (point) => point.name === name && Object.entries(match).every(([key, expected]) => point.attributes[key] === expected),
    );
  }

  /** Waits until `check` returns something truthy, polling what has arrived; fails after `timeoutMs`. */
  async until<T>(check: () => T | undefined | false, what: string, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = check();
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`OTLP receiver: timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async close(): Promise<void> {
    // At once: nexus's exporters keep their connections open.
    this.grpc?.forceShutdown();
    this.http?.closeAllConnections();
    await new Promise<void>((resolve) => (this.http ? this.http.close(() => resolve()) : resolve()));
  }
}
