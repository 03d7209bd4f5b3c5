/**
 * Every metric nexus records: the original's names (so its dashboards keep working), the
 * OpenTelemetry semantic conventions' names where those differ, and downstream health, which the
 * original lacks. Durations are in seconds, with bucket boundaries suited to seconds (the SDK's
 * defaults are made for milliseconds).
 */
type Instrument =
  | { kind: 'histogram'; unit: string; description: string; buckets: readonly number[] }
  | { kind: 'counter' | 'gauge'; unit: string; description: string };

// The semantic conventions' advised boundaries for each kind of measurement.
const HTTP_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
const MCP_SECONDS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];
const GEN_AI_SECONDS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
const TTFT_SECONDS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
const TOKENS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
const REDIS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

const seconds = (description: string, buckets: readonly number[]): Instrument => ({ kind: 'histogram', unit: 's', description, buckets });
const count = (unit: string, description: string): Instrument => ({ kind: 'counter', unit, description });
const gauge = (unit: string, description: string): Instrument => ({ kind: 'gauge', unit, description });

export const INSTRUMENTS = {
  // HTTP
  'http.server.request.duration': seconds('Duration of HTTP requests to nexus', HTTP_SECONDS),
  // MCP, as the original names them
  'mcp.tool.call.duration': seconds('Duration of MCP tool calls (search, execute, direct tools)', MCP_SECONDS),
  'mcp.tools.list.duration': seconds('Duration of MCP tools/list', MCP_SECONDS),
  'mcp.prompt.request.duration': seconds('Duration of MCP prompt requests (prompts/list, prompts/get)', MCP_SECONDS),
  'mcp.resource.request.duration': seconds('Duration of MCP resource requests (resources/list, resources/read)', MCP_SECONDS),
  // MCP, as the semantic conventions name them
  'mcp.server.operation.duration': seconds('Duration of MCP requests nexus serves, by method', MCP_SECONDS),
  'mcp.client.operation.duration': seconds('Duration of MCP requests nexus sends to its servers, by method', MCP_SECONDS),
  // Downstream health
  'nexus.downstream.state': gauge('1', 'Each MCP server: 1 for its current state, 0 for the others'),
  'nexus.downstream.restarts': count('{restart}', 'Times an MCP server connection was lost and reconnection began'),
  // LLM, as the original names them
  'gen_ai.client.operation.duration': seconds('Duration of LLM requests through nexus', GEN_AI_SECONDS),
  'gen_ai.client.time_to_first_token': seconds('Time to the first content of a streamed LLM answer', TTFT_SECONDS),
  'gen_ai.client.count_tokens.duration': seconds('Duration of token counting requests', MCP_SECONDS),
  'gen_ai.client.input.token.usage': count('{token}', 'Input tokens used'),
  'gen_ai.client.output.token.usage': count('{token}', 'Output tokens used'),
  'gen_ai.client.total.token.usage': count('{token}', 'Input and output tokens used'),
  // LLM, as the semantic conventions name them
  'gen_ai.client.token.usage': {
    kind: 'histogram',
    unit: '{token}',
    description: 'Tokens used per request, by gen_ai.token.type',
    buckets: TOKENS,
  },
  // Redis (shared rate limits)
  'redis.command.duration': seconds('Duration of Redis rate-limit commands', REDIS_SECONDS),
  'redis.pool.connections.in_use': gauge('{connection}', 'Redis connections in use'),
  'redis.pool.connections.available': gauge('{connection}', 'Redis connections ready for use'),
} as const satisfies Record<string, Instrument>;

export type MetricName = keyof typeof INSTRUMENTS;
