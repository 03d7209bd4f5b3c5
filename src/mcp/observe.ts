/**
 * Telemetry of the MCP requests nexus serves: a span per request (named by its method, as the
 * original names them), the original's metrics (`mcp.tool.call.duration`,
 * `mcp.tools.list.duration`, `mcp.prompt.request.duration`, `mcp.resource.request.duration`, with
 * its attribute keys and values) and the semantic conventions' `mcp.server.operation.duration`.
 */
import { secondsSince, type Attributes, type Span, type Telemetry } from '../telemetry/telemetry.js';
import type { CallContext } from './gateway.js';
import type { MetricName } from '../telemetry/instruments.js';
import { mcpErrorType } from './protocol/error-type.js';

/** Each served method's metric of the original's, and the name it gives the method there. */
const ORIGINAL: Record<string, [MetricName, string]> = {
  'tools/list': ['mcp.tools.list.duration', 'list_tools'],
  'prompts/list': ['mcp.prompt.request.duration', 'list_prompts'],
  'prompts/get': ['mcp.prompt.request.duration', 'get_prompt'],
  'resources/list': ['mcp.resource.request.duration', 'list_resources'],
  'resources/templates/list': ['mcp.resource.request.duration', 'list_resource_templates'],
  'resources/read': ['mcp.resource.request.duration', 'read_resource'],
};

/** The metric value of a name that names nothing nexus knows (OpenTelemetry's word for the rest). */
const OTHER = '_OTHER';

/** Who is calling, as attributes. */
const clientAttributes = (call: CallContext): Attributes => ({ 'client.id': call.client?.id, 'client.group': call.client?.group });

export class McpObserver {
  constructor(
    private readonly telemetry: Telemetry,
    /** Whether `name` is a configured server's (for a tool's type). */
    private readonly isServer: (name: string) => boolean,
    /** Whether `server` is a configured server with a tool `tool`: names that are no tool's are not metric values. */
    private readonly isTool: (server: string, tool: string) => boolean,
  ) {}

  /** A request other than tools/call; `target` names what it is about (a prompt's name, a resource's URI). */
  request<T>(method: string, call: CallContext, target: Attributes, work: () => Promise<T> | T): Promise<T> {
    const start = performance.now();
    const attributes = { 'mcp.method': method, 'mcp.method.name': method, 'jsonrpc.request.id': String(call.requestId), ...target };
    return this.telemetry.span(method, { attributes: { ...attributes, ...clientAttributes(call) }, parent: metaReader(call) }, (span) =>
      this.measured(span, work, (error) => {
        const seconds = secondsSince(start);
        const failed = error === undefined ? {} : { 'error.type': mcpErrorType(error) };
        this.semconv(seconds, method, failed);
        const original = ORIGINAL[method];
        if (original) {
          const status = error === undefined ? 'success' : 'error';
          this.telemetry.record(original[0], seconds, { method: original[1], status, ...failed, ...clientAttributes(call) });
        }
      }),
    );
  }

  /** A tools/call of `name` (search, execute, or a server's tool listed directly). */
  toolCall<T>(name: string, args: Record<string, unknown>, call: CallContext, work: () => Promise<T>): Promise<T> {
    const start = performance.now();
    const builtin = name === 'search' || name === 'execute';
    const target = name === 'execute' && typeof args['name'] === 'string' ? args['name'] : name;
    const split = target.indexOf('__');
    const targetServer = split > 0 ? target.slice(0, split) : undefined;
    const keywords = name === 'search' && Array.isArray(args['keywords']) ? (args['keywords'] as unknown[]) : undefined;
    const attributes: Attributes = {
      'mcp.method': 'tools/call',
      'mcp.method.name': 'tools/call',
      'gen_ai.operation.name': 'execute_tool',
      'jsonrpc.request.id': String(call.requestId),
      'mcp.tool.name': name,
      'gen_ai.tool.name': name,
      'mcp.tool.type': builtin ? 'builtin' : targetServer && this.isServer(targetServer) ? 'downstream' : 'unknown',
      ...(keywords && { 'mcp.search.keywords': keywords.join(','), 'mcp.search.keyword_count': keywords.length }),
      ...(name === 'execute' && { 'mcp.execute.target_tool': target, 'mcp.execute.target_server': targetServer }),
      ...clientAttributes(call),
    };
    return this.telemetry.span('tools/call', { attributes, parent: metaReader(call) }, (span) =>
      this.measured(span, work, (error, result) => {
        const seconds = secondsSince(start);
        const isError = (result as { isError?: unknown } | undefined)?.isError === true;
        const failed = error !== undefined ? { 'error.type': mcpErrorType(error) } : isError ? { 'error.type': 'tool_error' } : {};
        // Names the caller wrote that name no tool would give metrics a series per name, without end.
        const known = (qualified: string) =>
          targetServer !== undefined && this.isTool(targetServer, qualified.slice(targetServer.length + 2)) ? qualified : OTHER;
        this.semconv(seconds, 'tools/call', { 'gen_ai.tool.name': builtin || error === undefined ? name : known(name), ...failed });
        // The original's attributes: a downstream tool's server and name apart once it ran, its full name when it did not.
        const ran = error === undefined && name !== 'search' && targetServer !== undefined;
        this.telemetry.record('mcp.tool.call.duration', seconds, {
          tool_type: name === 'search' ? 'builtin' : 'downstream',
          tool_name: ran ? target.slice(split + 2) : builtin && target === name ? name : known(target),
          ...(ran && { server_name: targetServer }),
          ...(keywords && { keyword_count: keywords.length }),
          ...(name === 'search' && error === undefined && { result_count: resultCount(result) }),
          status: error === undefined ? 'success' : 'error',
          ...(error !== undefined && failed),
          ...clientAttributes(call),
        });
      }),
    );
  }

  private semconv(seconds: number, method: string, attributes: Attributes): void {
    this.telemetry.record('mcp.server.operation.duration', seconds, { 'mcp.method.name': method, ...attributes });
  }

  /** Runs `work`, marking the span with the outcome and telling `done` about it (an error, or the result). */
  private async measured<T>(span: Span, work: () => Promise<T> | T, done: (error: unknown, result?: T) => void): Promise<T> {
    let result: T;
    try {
      result = await work();
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code;
      span.set({ 'mcp.error.code': typeof code === 'number' ? code : undefined });
      span.fail(mcpErrorType(error), error instanceof Error ? error.message : undefined);
      done(error ?? new Error('failed'));
      throw error;
    }
    if ((result as { isError?: unknown } | undefined)?.isError === true) span.fail('tool_error');
    done(undefined, result);
    return result;
  }
}

/** A search's number of results (the original counts the structured results, else the content blocks). */
function resultCount(result: unknown): number | undefined {
  const structured = (result as { structuredContent?: { results?: unknown } } | undefined)?.structuredContent?.results;
  if (Array.isArray(structured)) return structured.length;
  const content = (result as { content?: { text?: unknown }[] } | undefined)?.content;
  const text = content?.[0]?.text;
  if (typeof text === 'string') {
    try {
      const results = (JSON.parse(text) as { results?: unknown }).results;
      if (Array.isArray(results)) return results.length;
    } catch {
      // Not the JSON nexus writes: count the blocks.
    }
  }
  return content?.length;
}

/** The request's own trace context (`_meta.traceparent`, as the 2026-07-28 revision carries it). */
function metaReader(call: CallContext): ((key: string) => string | undefined) | undefined {
  const meta = call.meta;
  if (!meta || typeof meta['traceparent'] !== 'string') return undefined;
  return (key) => (typeof meta[key] === 'string' ? meta[key] : undefined);
}
