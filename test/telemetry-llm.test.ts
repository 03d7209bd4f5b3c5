/**
 * Telemetry of the LLM routes and of Redis rate limits, against a real OTLP receiver: the
 * official OpenAI and Anthropic clients pointed at nexus, vendor fixtures that record what they
 * receive (the trace context among it), and a real redis-server.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterEach, expect, it } from 'vitest';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { identifiedBy } from './helpers/nexus.js';
import { nexusWith, startVendorFixture, type VendorFixture } from './helpers/llm.js';
import { OtlpReceiver, type ReceivedSpan } from './helpers/otlp.js';
import { FIXTURE_SERVER } from './helpers/processes.js';
import { startRedis, type TestRedis } from './helpers/redis.js';
import type { RunningNexus } from '../src/server.js';

const closing: { close(): Promise<unknown> }[] = [];
const killing: { kill(): Promise<unknown> }[] = [];
afterEach(async () => {
  // nexus first (it flushes to the receiver), then the receiver and the fixtures.
  for (const item of closing.splice(0).reverse()) await item.close();
  await Promise.all(killing.splice(0).map((item) => item.kill()));
});

/** Every signal exported to `otlp` quickly, every trace recorded. */
const exportingTo = (otlp: OtlpReceiver) => `
[telemetry.exporters.otlp]
enabled = true
endpoint = "${otlp.grpcEndpoint}"
[telemetry.exporters.otlp.batch_export]
scheduled_delay = "100ms"
[telemetry.tracing]
sampling = 1.0
`;

async function setUp(extra = '', vendor: 'openai' | 'anthropic' = 'openai') {
  const otlp = await new OtlpReceiver().start();
  closing.push(otlp);
  const fixture: VendorFixture = await startVendorFixture(vendor);
  killing.push(fixture);
  const nexus = await nexusWith(`
${exportingTo(otlp)}
${identifiedBy(['premium'])}
[llm.protocols.anthropic]
enabled = true
[llm.providers.fx]
type = "${vendor}"
api_key = "provider-secret-key-0042"
base_url = "${fixture.url}"
${extra}
`);
  closing.push(nexus);
  return { otlp, fixture, nexus };
}

const identity = { 'x-client-id': 'alice', 'x-group': 'premium' };
const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const traceparent = `00-${TRACE_ID}-b7ad6b7169203331-01`;

function openai(nexus: RunningNexus): OpenAI {
  return new OpenAI({
    baseURL: `${nexus.url}/llm/openai/v1`,
    apiKey: 'unused',
    maxRetries: 0,
    defaultHeaders: { ...identity, traceparent },
  });
}

it("records a completion under the original's names and the conventions', in a span whose context reaches the provider", async () => {
  const { otlp, fixture, nexus } = await setUp();
  const answer = await openai(nexus).chat.completions.create({
    model: 'fx/gpt-fixture',
    messages: [{ role: 'user', content: 'hello there' }],
    max_tokens: 150,
    temperature: 0.7,
    tools: [
      { type: 'function', function: { name: 'a', parameters: {} } },
      { type: 'function', function: { name: 'b', parameters: {} } },
    ],
  });
  const usage = answer.usage as OpenAI.CompletionUsage;
  const base = { 'gen_ai.system': 'nexus.llm', 'gen_ai.request.model': 'fx/gpt-fixture', 'client.id': 'alice', 'client.group': 'premium' };
  const duration = await otlp.until(() => otlp.point('gen_ai.client.operation.duration'), 'the operation duration');
  expect(duration).toMatchObject({
    unit: 's',
    value: 1,
    attributes: {
      ...base,
      'gen_ai.operation.name': 'chat.completions',
      'gen_ai.response.finish_reason': 'stop',
      'gen_ai.provider.name': 'openai',
    },
  });
  expect(otlp.point('gen_ai.client.input.token.usage')).toMatchObject({ kind: 'sum', value: usage.prompt_tokens, attributes: base });
  expect(otlp.point('gen_ai.client.output.token.usage')?.value).toBe(usage.completion_tokens);
  expect(otlp.point('gen_ai.client.total.token.usage')?.value).toBe(usage.prompt_tokens + usage.completion_tokens);
  expect(otlp.point('gen_ai.client.token.usage', { 'gen_ai.token.type': 'input' })).toMatchObject({
    kind: 'histogram',
    sum: usage.prompt_tokens,
    attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.response.model': 'gpt-fixture' },
  });

  const span = await otlp.until(() => otlp.spans.find((candidate) => candidate.name === 'llm:chat_completion'), 'the span');
  expect(span.traceId).toBe(TRACE_ID);
  expect(span.attributes).toMatchObject({
    'gen_ai.request.model': 'fx/gpt-fixture',
    'gen_ai.request.max_tokens': 150,
    'gen_ai.request.temperature': 0.7,
    'gen_ai.request.has_tools': true,
    'gen_ai.request.tool_count': 2,
    'gen_ai.usage.input_tokens': usage.prompt_tokens,
    'gen_ai.usage.output_tokens': usage.completion_tokens,
    'gen_ai.response.finish_reason': 'stop',
    'llm.auth_forwarded': false,
    'client.group': 'premium',
  });
  const request = otlp.spans.find((candidate) => candidate.spanId === span.parentSpanId) as ReceivedSpan;
  expect(request.attributes['http.route']).toBe('/llm/openai/v1/chat/completions');
  // The provider is called within the span: it gets its context.
  expect((await fixture.last()).headers['traceparent']).toBe(`00-${TRACE_ID}-${span.spanId}-01`);
  for (const bytes of otlp.raw) expect(bytes.toString('latin1')).not.toContain('provider-secret-key-0042');
});

it('records a stream: time to first token, finish reason and usage, its span ending with the stream', async () => {
  const { otlp, nexus } = await setUp();
  const stream = await openai(nexus).chat.completions.create({
    model: 'fx/gpt-fixture',
    messages: [{ role: 'user', content: 'one two three' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let usage: OpenAI.CompletionUsage | undefined;
  for await (const chunk of stream) usage = chunk.usage ?? usage;
  expect(usage).toBeDefined();
  await otlp.until(() => otlp.point('gen_ai.client.total.token.usage'), 'token usage');
  expect(otlp.point('gen_ai.client.time_to_first_token')).toMatchObject({ unit: 's', value: 1 });
  expect(otlp.point('gen_ai.client.operation.duration')?.attributes['gen_ai.response.finish_reason']).toBe('stop');
  expect(otlp.point('gen_ai.client.total.token.usage')?.value).toBe(usage!.total_tokens);
  const span = await otlp.until(() => otlp.spans.find((candidate) => candidate.name === 'llm:chat_completion_stream'), 'the span');
  expect(span.attributes).toMatchObject({ 'llm.stream': true, 'gen_ai.usage.output_tokens': usage!.completion_tokens });
});

it("records a provider's refusal and a token limit with the original's error types", async () => {
  const { otlp, nexus } = await setUp(`
[llm.providers.fx.models.error-429]
[llm.providers.fx.models.gpt-fixture]
[llm.providers.fx.rate_limits.per_user]
input_token_limit = 30
interval = "60s"
`);
  const client = openai(nexus);
  await expect(client.chat.completions.create({ model: 'fx/error-429', messages: [{ role: 'user', content: 'x' }] })).rejects.toThrow();
  await expect(
    client.chat.completions.create({ model: 'fx/gpt-fixture', messages: [{ role: 'user', content: 'word '.repeat(40) }] }),
  ).rejects.toThrow(/token rate limit/);
  await otlp.until(() => otlp.point('gen_ai.client.operation.duration', { 'gen_ai.request.model': 'fx/gpt-fixture' }), 'both');
  expect(otlp.point('gen_ai.client.operation.duration', { 'gen_ai.request.model': 'fx/error-429' })?.attributes['error.type']).toBe(
    'rate_limit_exceeded',
  );
  expect(otlp.point('gen_ai.client.operation.duration', { 'gen_ai.request.model': 'fx/gpt-fixture' })?.attributes).toMatchObject({
    'error.type': 'rate_limit_exceeded',
  });
  const failed = await otlp.until(
    () => otlp.spans.filter((span) => span.name === 'llm:chat_completion').length === 2 && otlp.spans,
    'spans',
  );
  expect(failed.filter((span) => span.name === 'llm:chat_completion').every((span) => span.status.code === 2)).toBe(true);
});

it('keeps the provider key out of a broken stream’s span, whether configured or forwarded by the client', async () => {
  const { otlp, nexus } = await setUp('[llm.providers.fx.models.echo-key-stream-error]', 'anthropic');
  const forwarded = 'client-forwarded-key-7777';
  for (const headers of [identity, { ...identity, 'x-provider-api-key': forwarded }]) {
    const anthropic = new Anthropic({ baseURL: `${nexus.url}/llm/anthropic`, apiKey: 'unused', maxRetries: 0, defaultHeaders: headers });
    const stream = anthropic.messages.stream({
      model: 'fx/echo-key-stream-error',
      max_tokens: 10,
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(String(await stream.finalMessage().catch((error: unknown) => error))).toContain('[redacted]');
  }
  const broken = await otlp.until(() => {
    const spans = otlp.spans.filter((span) => span.name === 'llm:chat_completion_stream');
    return spans.length === 2 && spans;
  }, 'two broken streams');
  for (const span of broken) expect(span.status).toEqual({ code: 2, message: 'key [redacted] is over its quota' });
  await otlp.until(() => otlp.point('gen_ai.client.operation.duration'), 'metrics');
  for (const bytes of otlp.raw) {
    expect(bytes.toString('latin1')).not.toContain('provider-secret-key-0042');
    expect(bytes.toString('latin1')).not.toContain(forwarded);
  }
});

it('records count_tokens', async () => {
  const { otlp, nexus } = await setUp('', 'anthropic');
  const anthropic = new Anthropic({ baseURL: `${nexus.url}/llm/anthropic`, apiKey: 'unused', defaultHeaders: identity });
  const counted = await anthropic.messages.countTokens({ model: 'fx/claude-fixture', messages: [{ role: 'user', content: 'count me' }] });
  const point = await otlp.until(() => otlp.point('gen_ai.client.count_tokens.duration'), 'count_tokens');
  expect(point.attributes).toMatchObject({
    'gen_ai.response': 'success',
    'gen_ai.request.model': 'fx/claude-fixture',
    'client.id': 'alice',
  });
  const span = await otlp.until(() => otlp.spans.find((candidate) => candidate.name === 'llm:count_tokens'), 'the span');
  expect(span.attributes['llm.count_tokens.input']).toBe(counted.input_tokens);
});

it('traces and measures Redis rate-limit checks', async () => {
  const redis: TestRedis = await startRedis();
  killing.push(redis);
  const otlp = await new OtlpReceiver().start();
  closing.push(otlp);
  const nexus = await nexusWith(`
${exportingTo(otlp)}
[server.rate_limits]
enabled = true
[server.rate_limits.storage]
type = "redis"
url = "${redis.url}"
[server.rate_limits.global]
limit = 100
interval = "60s"
[server.rate_limits.per_ip]
limit = 3
interval = "60s"
[mcp.servers.local]
cmd = ["node", "${FIXTURE_SERVER}", "stdio"]
`);
  closing.push(nexus);
  const client = new Client({ name: 'redis-telemetry', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${nexus.url}/mcp`)));
  closing.push(client);
  // initialize, initialized, then tools/list: the fourth request from this address is refused.
  await expect(client.listTools()).rejects.toThrow();
  const command = await otlp.until(() => otlp.point('redis.command.duration', { operation: 'check_and_consume' }), 'redis metrics');
  expect(command).toMatchObject({ unit: 's', attributes: { operation: 'check_and_consume', status: 'success' } });
  expect(otlp.point('redis.pool.connections.available')?.value).toBe(1);
  const ip = await otlp.until(() => {
    const spans = otlp.spans.filter((span) => span.name === 'redis:check_and_consume:ip');
    return spans.length >= 4 && spans;
  }, 'four ip checks');
  expect(ip[0]?.attributes).toMatchObject({
    'rate_limit.scope': 'ip',
    'rate_limit.limit': 3,
    'rate_limit.interval_ms': 60_000,
    'rate_limit.allowed': true,
  });
  expect(ip[0]?.attributes['client.address_hash']).toMatch(/^[0-9a-f]{32}$/);
  expect(ip.at(-1)?.attributes).toMatchObject({ 'rate_limit.allowed': false });
  expect(ip.at(-1)?.attributes['rate_limit.retry_after_ms']).toBeGreaterThan(0);
  expect(otlp.spans.some((span) => span.name === 'redis:check_and_consume:global')).toBe(true);
});
