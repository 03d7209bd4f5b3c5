/**
 * Telemetry against a real OTLP receiver (gRPC and HTTP/protobuf, decoded with the
 * OpenTelemetry project's codecs): the original's `[telemetry]` keys, traces from the client
 * through nexus into stdio and HTTP servers, sampling, metrics after known traffic, logs with
 * trace ids, Prometheus, and nothing of OpenTelemetry loaded when it is off.
 */
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { capturedLogger } from './helpers/logs.js';
import { closedAfterEach, firstText, identifiedBy } from './helpers/nexus.js';
import { makeCerts } from './helpers/certs.js';
import { OtlpReceiver, type ReceivedSpan } from './helpers/otlp.js';
import { FIXTURE_SERVER, freePort, nexusChildren, ROOT, startFixtureHttp } from './helpers/processes.js';
import { loadOutcome } from './helpers/llm.js';
import type { RunningNexus } from '../src/server.js';

const receivers: OtlpReceiver[] = [];
const clients: Client[] = [];
// Registered first, so run last: receivers close after nexus has flushed to them.
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((receiver) => receiver.close()));
});
const { nexusWith, started } = closedAfterEach();
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

async function receiver(tls?: { cert: string; key: string }): Promise<OtlpReceiver> {
  const started = await new OtlpReceiver(tls).start();
  receivers.push(started);
  return started;
}

/** `[telemetry]` exporting every signal to `endpoint` quickly, with `tracing` extra keys. */
function telemetryToml(endpoint: string, { protocol = 'grpc', tracing = 'sampling = 1.0', extra = '' } = {}): string {
  return `
[telemetry]
service_name = "nexus-test"
[telemetry.resource_attributes]
environment = "test"
[telemetry.exporters.otlp]
enabled = true
endpoint = "${endpoint}"
protocol = "${protocol}"
[telemetry.exporters.otlp.batch_export]
scheduled_delay = "100ms"
max_export_batch_size = 100
[telemetry.tracing]
${tracing}
${extra}
`;
}

const STDIO_SERVER = `
[mcp.servers.local]
cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
`;

async function client(nexus: RunningNexus, headers: Record<string, string> = {}): Promise<Client> {
  const connected = new Client({ name: 'telemetry-test', version: '1.0.0' });
  await connected.connect(new StreamableHTTPClientTransport(new URL(`${nexus.url}/mcp`), { requestInit: { headers } }));
  clients.push(connected);
  return connected;
}

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';
const traceparent = (flags = '01') => `00-${TRACE_ID}-${CLIENT_SPAN}-${flags}`;

/** The spans of one trace, by name, once the one named `last` has arrived. */
async function traceOf(otlp: OtlpReceiver, traceId: string, last: string): Promise<Map<string, ReceivedSpan>> {
  await otlp.until(() => otlp.spans.some((span) => span.traceId === traceId && span.name === last), `span ${last}`);
  return new Map(otlp.spans.filter((span) => span.traceId === traceId).map((span) => [span.name, span]));
}

describe('[telemetry] config', () => {
  it("loads the original's keys, with every table and both header forms", () => {
    const toml = `
[telemetry]
service_name = "nexus-production"
[telemetry.resource_attributes]
"deployment.environment" = "prod"
[telemetry.exporters.otlp]
enabled = true
endpoint = "http://collector:4317"
protocol = "grpc"
timeout = "30s"
[telemetry.exporters.otlp.batch_export]
scheduled_delay = "5s"
max_queue_size = 2048
max_export_batch_size = 512
max_concurrent_exports = 1
[telemetry.exporters.otlp.grpc.tls]
domain_name = "collector.internal"
ca = "/etc/ssl/ca.pem"
cert = "/etc/ssl/client.pem"
key = "/etc/ssl/client.key"
[telemetry.exporters.otlp.grpc.headers]
authorization = "Bearer x"
[telemetry.tracing]
sampling = 0.15
parent_based_sampler = true
[telemetry.tracing.collect]
max_events_per_span = 128
max_attributes_per_span = 128
max_links_per_span = 128
max_attributes_per_event = 128
max_attributes_per_link = 128
[telemetry.tracing.propagation]
trace_context = true
aws_xray = true
[telemetry.tracing.exporters.otlp]
enabled = true
endpoint = "http://traces:4318/v1/traces"
protocol = "http"
[[telemetry.tracing.exporters.otlp.http.headers]]
name = "x-api-key"
value = "k"
[telemetry.metrics.exporters.otlp]
enabled = false
[telemetry.logs.exporters.otlp]
enabled = true
[telemetry.metrics.prometheus]
enabled = true
listen = "127.0.0.1:9464"
${STDIO_SERVER}`;
    expect(loadOutcome(toml)).toBe('loaded');
  });

  it('names the key and the problem of a bad telemetry setting', () => {
    const bad = (telemetry: string) => loadOutcome(`${telemetry}\n${STDIO_SERVER}`);
    expect(bad('[telemetry.tracing]\nsampling = 1.5')).toMatch(/telemetry\.tracing\.sampling.*between 0\.0 and 1\.0/);
    expect(bad('[telemetry.exporters.otlp]\nprotocol = "udp"')).toMatch(/telemetry\.exporters\.otlp\.protocol.*"grpc" or "http"/);
    expect(bad('[telemetry.exporters.otlp.grpc.headers]\ngrpc-timeout = "1"')).toMatch(
      /telemetry\.exporters\.otlp\.grpc\.headers.*reserved/,
    );
    expect(bad('[telemetry.exporters.otlp.http.headers]\na = "b"')).toMatch(/telemetry\.exporters\.otlp\.http.*protocol is "grpc"/);
    expect(bad('[telemetry.exporters.otlp]\nendpoint = "collector:4317"')).toMatch(/telemetry\.exporters\.otlp\.endpoint.*URL/);
    expect(bad('[telemetry.tracing]\nsamplng = 1.0')).toMatch(/telemetry\.tracing.*samplng/);
    expect(bad('[telemetry.exporters.otlp.grpc.headers]\nx-key = "a\\r\\nInjected: 1"')).toMatch(/x-key.*line breaks/);
    // Values the original takes, which mean its defaults.
    expect(
      bad(
        '[telemetry]\nservice_name = ""\n[telemetry.exporters.otlp.batch_export]\nmax_queue_size = 0\n[telemetry.tracing.collect]\nmax_events_per_span = 0',
      ),
    ).toBe('loaded');
  });
});

describe('traces', () => {
  it('follow a call from the client through nexus into a stdio server and an HTTP server, which see the trace', async () => {
    const otlp = await receiver();
    const http = started(await startFixtureHttp());
    const nexus = await nexusWith(`${telemetryToml(otlp.grpcEndpoint)}
${STDIO_SERVER}
[mcp.servers.remote]
url = "${http.url}"
`);
    const mcp = await client(nexus, { traceparent: traceparent() });

    const stdioMeta = JSON.parse(
      firstText(await mcp.callTool({ name: 'execute', arguments: { name: 'local__show_meta', arguments: {} } })),
    );
    const remoteHeaders = JSON.parse(
      firstText(await mcp.callTool({ name: 'execute', arguments: { name: 'remote__show_headers', arguments: {} } })),
    );
    const remoteMeta = JSON.parse(
      firstText(await mcp.callTool({ name: 'execute', arguments: { name: 'remote__show_meta', arguments: {} } })),
    );

    const spans = await otlp.until(() => {
      const downstream = otlp.spans.filter((span) => span.kind === 3 && span.attributes['mcp.method.name'] === 'tools/call');
      return downstream.length === 3 && downstream;
    }, 'three downstream spans');
    const byTool = (tool: string) => spans.find((span) => span.attributes['gen_ai.tool.name'] === tool) as ReceivedSpan;
    for (const [seen, tool] of [
      [stdioMeta.traceparent, 'show_meta'],
      [remoteHeaders.traceparent, 'show_headers'],
    ] as const) {
      const downstream = spans.find((span) => span.attributes['gen_ai.tool.name'] === tool && seen.includes(span.spanId)) as ReceivedSpan;
      // The server sees the client's trace, with nexus's downstream span as the parent.
      expect(seen).toBe(`00-${TRACE_ID}-${downstream.spanId}-01`);
      const call = otlp.spans.find((span) => span.spanId === downstream.parentSpanId) as ReceivedSpan;
      expect(call.name).toBe('tools/call');
      expect(call.attributes['mcp.tool.name']).toBe('execute');
      const request = otlp.spans.find((span) => span.spanId === call.parentSpanId) as ReceivedSpan;
      expect(request.name).toBe('POST /mcp');
      expect(request.parentSpanId).toBe(CLIENT_SPAN);
      expect(request.traceId).toBe(TRACE_ID);
    }
    expect(byTool('show_meta').attributes).toMatchObject({ 'mcp.server.name': 'local', 'network.transport': 'pipe' });
    expect(byTool('show_headers').attributes).toMatchObject({
      'mcp.server.name': 'remote',
      'network.transport': 'tcp',
      'server.address': '127.0.0.1',
    });
    // Over HTTP the context is in the request's _meta as well as its headers.
    expect(remoteMeta.traceparent).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`));
    expect(otlp.spans.every((span) => span.resource['service.name'] === 'nexus-test' && span.resource['environment'] === 'test')).toBe(
      true,
    );
  });

  it('record the attributes of search and execute, and fail a call refused with its error type', async () => {
    const otlp = await receiver();
    const nexus = await nexusWith(`${telemetryToml(otlp.grpcEndpoint)}${identifiedBy(['premium'])}${STDIO_SERVER}`);
    const mcp = await client(nexus, { 'x-client-id': 'alice', 'x-group': 'premium', traceparent: traceparent() });
    await mcp.callTool({ name: 'search', arguments: { keywords: ['math', 'add'] } });
    await expect(mcp.callTool({ name: 'execute', arguments: { name: 'local__nope', arguments: {} } })).rejects.toThrow(/Unknown tool/);
    await expect(mcp.callTool({ name: 'execute', arguments: { name: `local__${'x'.repeat(20_000)}`, arguments: {} } })).rejects.toThrow();
    await mcp.listTools();
    const calls = await otlp.until(() => {
      const found = otlp.spans.filter((span) => span.name === 'tools/call');
      return found.length === 3 && otlp.spans.some((span) => span.name === 'tools/list') && found;
    }, 'the tool call spans');
    // What a caller writes is kept short: no span holds much memory while exports wait.
    const long = calls.find((span) => String(span.attributes['mcp.execute.target_tool']).startsWith('local__xxx')) as ReceivedSpan;
    expect(String(long.attributes['mcp.execute.target_tool'])).toHaveLength(1024);
    const search = calls.find((span) => span.attributes['mcp.tool.name'] === 'search') as ReceivedSpan;
    expect(search.attributes).toMatchObject({
      'mcp.method': 'tools/call',
      'mcp.tool.type': 'builtin',
      'mcp.search.keywords': 'math,add',
      'mcp.search.keyword_count': 2,
      'client.id': 'alice',
      'client.group': 'premium',
    });
    expect(search.status.code).toBe(0);
    const refused = calls.find((span) => span.attributes['mcp.execute.target_tool'] === 'local__nope') as ReceivedSpan;
    expect(refused.attributes).toMatchObject({
      'mcp.execute.target_tool': 'local__nope',
      'mcp.execute.target_server': 'local',
      'error.type': 'method_not_found',
      'mcp.error.code': -32601,
    });
    expect(refused.status.code).toBe(2);
    const request = otlp.spans.find((span) => span.spanId === search.parentSpanId) as ReceivedSpan;
    expect(request.attributes).toMatchObject({ 'http.route': '/mcp', 'http.response.status_code': 200, 'client.id': 'alice' });
  });

  it('honour sampling: none at 0, and the caller’s flag with parent_based_sampler', async () => {
    const otlp = await receiver();
    const none = await nexusWith(`${telemetryToml(otlp.grpcEndpoint, { tracing: 'sampling = 0.0' })}${STDIO_SERVER}`);
    await (await client(none)).listTools();
    const parentBased = await nexusWith(
      `${telemetryToml(otlp.grpcEndpoint, { tracing: 'sampling = 0.0\nparent_based_sampler = true' })}${STDIO_SERVER}`,
    );
    const sampledTrace = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    const unsampledTrace = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
    await (await client(parentBased, { traceparent: `00-${sampledTrace}-${CLIENT_SPAN}-01` })).listTools();
    await (await client(parentBased, { traceparent: `00-${unsampledTrace}-${CLIENT_SPAN}-00` })).listTools();
    const ratio = await nexusWith(
      `${telemetryToml(otlp.grpcEndpoint, { tracing: 'sampling = 1.0\nparent_based_sampler = false' })}${STDIO_SERVER}`,
    );
    const overruled = 'cccccccccccccccccccccccccccccccc';
    await (await client(ratio, { traceparent: `00-${overruled}-${CLIENT_SPAN}-00` })).listTools();
    await traceOf(otlp, overruled, 'tools/list');
    await traceOf(otlp, sampledTrace, 'tools/list');
    // Both nexus instances export on the same schedule: what was not sampled would have arrived by now.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(otlp.spans.filter((span) => span.traceId === unsampledTrace)).toEqual([]);
    expect(new Set(otlp.spans.map((span) => span.traceId))).toEqual(new Set([sampledTrace, overruled]));
  });

  it('continue an AWS X-Ray trace, and prefer W3C when both are given', async () => {
    const otlp = await receiver();
    const nexus = await nexusWith(`${telemetryToml(otlp.grpcEndpoint)}${STDIO_SERVER}`);
    const xray = 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1';
    await (await client(nexus, { 'x-amzn-trace-id': xray })).listTools();
    const fromXray = await traceOf(otlp, '5759e988bd862e3fe1be46a994272793', 'tools/list');
    expect(fromXray.get('POST /mcp')?.parentSpanId).toBe('53995c3f42cd8ad8');
    await (await client(nexus, { 'x-amzn-trace-id': xray, traceparent: traceparent() })).listTools();
    expect((await traceOf(otlp, TRACE_ID, 'tools/list')).get('POST /mcp')?.parentSpanId).toBe(CLIENT_SPAN);
  });

  it('take the trace context of a request’s _meta, as the 2026-07-28 revision carries it', async () => {
    const otlp = await receiver();
    const nexus = await nexusWith(`${telemetryToml(otlp.grpcEndpoint)}${STDIO_SERVER}`);
    const mcp = await client(nexus);
    const seen = JSON.parse(
      firstText(
        await mcp.callTool({
          name: 'execute',
          arguments: { name: 'local__show_meta', arguments: {} },
          _meta: { traceparent: traceparent() },
        }),
      ),
    );
    const trace = await traceOf(otlp, TRACE_ID, 'tools/call');
    expect(trace.get('tools/call')?.parentSpanId).toBe(CLIENT_SPAN);
    expect(seen.traceparent).toBe(`00-${TRACE_ID}-${trace.get('tools/call show_meta')?.spanId}-01`);
  });

  it('leave a client’s baggage in _meta as it was, and a malformed one breaks nothing', async () => {
    const otlp = await receiver();
    const http = started(await startFixtureHttp());
    const nexus = await nexusWith(`${telemetryToml(otlp.grpcEndpoint)}\n[mcp.servers.remote]\nurl = "${http.url}"\n`);
    const mcp = await client(nexus, { baggage: 'k=v;\u00e9' });
    const meta = { traceparent: traceparent(), baggage: 'k=v;\r\nx-injected: evil' };
    const result = await mcp.callTool({ name: 'execute', arguments: { name: 'remote__show_meta', arguments: {} }, _meta: meta });
    const seen = JSON.parse(firstText(result));
    expect(seen.baggage).toBe(meta.baggage);
    expect(seen.traceparent).toMatch(new RegExp(`^00-${TRACE_ID}-`));
    const headers = JSON.parse(
      firstText(await mcp.callTool({ name: 'execute', arguments: { name: 'remote__show_headers', arguments: {} } })),
    );
    expect(headers.baggage).toBeUndefined();
  });

  it('pass a client’s trace context through untouched when tracing is off', async () => {
    const nexus = await nexusWith(STDIO_SERVER);
    const mcp = await client(nexus);
    const meta = { traceparent: traceparent(), tracestate: 'vendor=1' };
    const seen = JSON.parse(
      firstText(await mcp.callTool({ name: 'execute', arguments: { name: 'local__show_meta', arguments: {} }, _meta: meta })),
    );
    expect(seen).toMatchObject(meta);
  });
});

describe('metrics', () => {
  it("are recorded under the original's names, in seconds, with its attributes, and the conventions' beside them", async () => {
    const otlp = await receiver();
    const nexus = await nexusWith(`${telemetryToml(otlp.grpcEndpoint)}${identifiedBy(['premium'])}${STDIO_SERVER}
[mcp.servers.local.rate_limits]
limit = 1
interval = "60s"
`);
    const mcp = await client(nexus, { 'x-client-id': 'alice', 'x-group': 'premium' });
    for (let i = 0; i < 3; i++) await mcp.callTool({ name: 'search', arguments: { keywords: ['echo'] } });
    await mcp.callTool({ name: 'execute', arguments: { name: 'local__echo', arguments: { message: 'hi' } } });
    await expect(mcp.callTool({ name: 'execute', arguments: { name: 'local__missing', arguments: {} } })).rejects.toThrow();
    await expect(mcp.callTool({ name: 'execute', arguments: { name: 'local__echo', arguments: { message: 'again' } } })).rejects.toThrow(
      /Rate limit/,
    );
    await mcp.listTools();
    await mcp.listPrompts();
    await expect(mcp.getPrompt({ name: 'local__no_such_prompt' })).rejects.toThrow();
    await mcp.listResources();

    const client_ = { 'client.id': 'alice', 'client.group': 'premium' };
    // Metrics are cumulative: an export with the last request's series has every earlier one's too.
    await otlp.until(() => otlp.point('mcp.resource.request.duration', { method: 'list_resources' }), 'the last request');
    const search = await otlp.until(
      () =>
        otlp.point('mcp.tool.call.duration', { tool_name: 'search' })?.value === 3 &&
        otlp.point('mcp.tool.call.duration', { tool_name: 'search' }),
      'three searches',
    );
    expect(search).toMatchObject({
      unit: 's',
      kind: 'histogram',
      attributes: { tool_type: 'builtin', tool_name: 'search', keyword_count: 1, result_count: 1, status: 'success', ...client_ },
    });
    expect(search.sum).toBeGreaterThan(0);
    expect(search.sum).toBeLessThan(5);
    expect(otlp.point('mcp.tool.call.duration', { tool_name: 'echo' })?.attributes).toEqual({
      tool_type: 'downstream',
      tool_name: 'echo',
      server_name: 'local',
      status: 'success',
      ...client_,
    });
    // A name no tool has is no series of its own (a caller could make them without end); a tool's is.
    expect(otlp.point('mcp.tool.call.duration', { tool_name: '_OTHER' })?.attributes).toEqual({
      tool_type: 'downstream',
      tool_name: '_OTHER',
      status: 'error',
      'error.type': 'method_not_found',
      ...client_,
    });
    expect(otlp.points.some((point) => Object.values(point.attributes).includes('local__missing'))).toBe(false);
    expect(otlp.point('mcp.tool.call.duration', { tool_name: 'local__echo' })?.attributes).toMatchObject({
      status: 'error',
      'error.type': 'rate_limit_exceeded',
    });
    expect(otlp.point('mcp.tools.list.duration')?.attributes).toEqual({ method: 'list_tools', status: 'success', ...client_ });
    expect(otlp.point('mcp.prompt.request.duration', { method: 'list_prompts' })?.attributes.status).toBe('success');
    expect(otlp.point('mcp.prompt.request.duration', { method: 'get_prompt' })?.attributes).toMatchObject({
      status: 'error',
      'error.type': 'invalid_params',
    });
    expect(otlp.point('mcp.resource.request.duration', { method: 'list_resources' })?.value).toBe(1);
    expect(otlp.point('mcp.server.operation.duration', { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'search' })?.value).toBe(3);
    expect(otlp.point('mcp.client.operation.duration', { 'mcp.server.name': 'local', 'gen_ai.tool.name': 'echo' })?.unit).toBe('s');
    const http = otlp.point('http.server.request.duration', { 'http.request.method': 'POST', 'http.response.status_code': 200 });
    expect(http?.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/mcp' });
    expect(http?.bounds?.[0]).toBeLessThan(0.01);
    expect(otlp.point('nexus.downstream.state', { 'mcp.server.name': 'local', state: 'ready' })?.value).toBe(1);
    expect(otlp.point('nexus.downstream.state', { 'mcp.server.name': 'local', state: 'failed' })?.value).toBe(0);
    expect(search.resource['service.name']).toBe('nexus-test');
  });

  it('count a downstream’s restarts', async () => {
    const otlp = await receiver();
    await nexusWith(`${telemetryToml(otlp.grpcEndpoint)}${STDIO_SERVER}`);
    const { servers } = await nexusChildren(process.pid);
    expect(servers).toHaveLength(1);
    process.kill(servers[0] as number, 'SIGKILL');
    const restarts = await otlp.until(() => otlp.point('nexus.downstream.restarts', { 'mcp.server.name': 'local' }), 'a restart');
    expect(restarts).toMatchObject({ kind: 'sum', value: 1 });
  });

  it('are exported over HTTP (protobuf) to an endpoint without a path, each signal at its standard path, with the configured headers', async () => {
    const otlp = await receiver();
    const nexus = await nexusWith(
      `${telemetryToml(otlp.httpEndpoint, { protocol: 'http' })}
[telemetry.exporters.otlp.http.headers]
x-collector-key = "secret-collector-key"
${STDIO_SERVER}`,
    );
    await (await client(nexus)).listTools();
    await otlp.until(
      () => otlp.point('mcp.tools.list.duration') && otlp.spans.some((span) => span.name === 'tools/list'),
      'metrics and spans',
    );
    expect(otlp.headers.every((headers) => headers['x-collector-key'] === 'secret-collector-key')).toBe(true);
  });

  it('are exported over gRPC with TLS and metadata, checked against a CA of the test', async () => {
    const certs = makeCerts();
    const otlp = await receiver(certs.server);
    const nexus = await nexusWith(
      `${telemetryToml(otlp.grpcEndpoint)}
[telemetry.exporters.otlp.grpc.headers]
authorization = "Bearer collector-token"
[telemetry.exporters.otlp.grpc.tls]
ca = "${certs.ca.cert}"
${STDIO_SERVER}`,
    );
    await (await client(nexus)).listTools();
    await otlp.until(() => otlp.point('mcp.tools.list.duration'), 'metrics over TLS');
    expect(otlp.headers.some((headers) => headers['authorization'] === 'Bearer collector-token')).toBe(true);
  });

  it('can be scraped by Prometheus from a listener of their own', async () => {
    const nexus = await nexusWith(`
[telemetry.metrics.prometheus]
enabled = true
listen = "127.0.0.1:0"
${STDIO_SERVER}`);
    await (await client(nexus)).listTools();
    const url = nexus.metricsUrl;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const text = await (await fetch(url as string)).text();
    expect(text).toMatch(/^http_server_request_duration_count\{.*http_route="\/mcp".*\} \d+/m);
    expect(text).toMatch(/^mcp_tools_list_duration_count\{.*method="list_tools".*\} 1/m);
    expect((await fetch(url!.replace('/metrics', '/other'))).status).toBe(404);
  });
});

it('stops when a start fails after telemetry began: its Prometheus listener is closed', async () => {
  const port = await freePort();
  const config = `
[telemetry.metrics.prometheus]
enabled = true
listen = "127.0.0.1:${port}"
[server.rate_limits.storage]
type = "redis"
url = "redis://127.0.0.1:9"
[server.rate_limits.global]
limit = 10
interval = "60s"
${STDIO_SERVER}`;
  await expect(nexusWith(config)).rejects.toThrow(/cannot reach Redis/);
  await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
});

describe('logs', () => {
  it('are exported with the trace and span of the request that wrote them, and without secrets', async () => {
    const otlp = await receiver();
    const { logger, text } = capturedLogger('info');
    const nexus = await nexusWith(
      `${telemetryToml(otlp.grpcEndpoint)}
[llm.providers.down]
type = "openai"
api_key = "sk-very-secret-key-123456"
base_url = "http://127.0.0.1:9/v1?key=sk-very-secret-key-123456"
[llm.providers.down.models.m]
`,
      logger,
    );
    const response = await fetch(`${nexus.url}/llm/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: traceparent() },
      body: JSON.stringify({ model: 'down/m', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(response.status).toBe(502);
    const record = await otlp.until(() => otlp.logs.find((log) => log.body === 'provider unreachable'), 'the log record');
    expect(record).toMatchObject({ severityText: 'WARN', severityNumber: 13, traceId: TRACE_ID });
    expect(record.attributes['provider']).toBe('down');
    const span = await otlp.until(() => otlp.spans.find((candidate) => candidate.spanId === record.spanId), 'the span of the log record');
    expect(span.name).toBe('llm:chat_completion');
    expect(otlp.logs.find((log) => log.body === 'nexus listening')?.traceId).toBe('');
    // The same line on stdout carries the ids too.
    expect(text()).toContain(`"trace_id":"${TRACE_ID}"`);
    await otlp.until(() => otlp.points.length > 0, 'metrics');
    for (const bytes of otlp.raw) expect(bytes.toString('latin1')).not.toContain('sk-very-secret-key-123456');
  });
});

describe('when telemetry is off', () => {
  it('loads nothing of OpenTelemetry (and loads it when on)', async () => {
    const loaded = async (toml: string) => {
      const script = `
        import { createRequire } from 'node:module';
        import { parse } from 'smol-toml';
        import { parseConfig } from '${ROOT}dist/config/load.js';
        import { silentLogger } from '${ROOT}dist/log.js';
        import { startNexus } from '${ROOT}dist/server.js';
        const nexus = await startNexus(parseConfig(parse(${JSON.stringify(toml)}), 't.toml'), { logger: silentLogger, listenAddress: { host: '127.0.0.1', port: 0 } });
        await nexus.ready;
        await fetch(nexus.url + '/mcp', { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
        const cache = Object.keys(createRequire(import.meta.url).cache);
        await nexus.close();
        process.stdout.write(String(cache.filter((path) => path.includes('@opentelemetry')).length));
      `;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (chunk) => (out += chunk));
      await new Promise((resolve) => child.once('exit', resolve));
      return Number(out);
    };
    expect(await loaded(STDIO_SERVER)).toBe(0);
    expect(await loaded(`${telemetryToml('http://127.0.0.1:9')}${STDIO_SERVER}`)).toBeGreaterThan(10);
  });
});
