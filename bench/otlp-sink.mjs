// An OTLP/gRPC collector that accepts every export and keeps nothing: what nexus pays to export
// telemetry, without a collector's own work in the same machine's measurements.
// node otlp-sink.mjs  (prints "listening on <port>")
import { Server, ServerCredentials } from '@grpc/grpc-js';

const server = new Server();
const bytes = (value) => value;
for (const service of ['trace.v1.TraceService', 'metrics.v1.MetricsService', 'logs.v1.LogsService']) {
  const definition = {
    Export: {
      path: `/opentelemetry.proto.collector.${service}/Export`,
      requestStream: false,
      responseStream: false,
      requestSerialize: bytes,
      requestDeserialize: bytes,
      responseSerialize: () => Buffer.alloc(0),
      responseDeserialize: bytes,
    },
  };
  server.addService(definition, { Export: (_call, callback) => callback(null, Buffer.alloc(0)) });
}
server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  console.log(`listening on ${port}`);
});
