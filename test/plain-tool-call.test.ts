/**
 * The lean way in for plain tool calls: which requests it takes (and which it leaves to the SDK),
 * and that a call answered by it and the same call answered by the SDK's server say the same.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plainToolCall, type RequestHeaders } from '../src/mcp/endpoint/plain-tool-call.js';
import type { RunningNexus } from '../src/server.js';
import { startTestNexus } from './helpers/nexus.js';
import { FIXTURE_SERVER } from './helpers/processes.js';

const HEADERS: RequestHeaders = {
  accept: 'application/json, text/event-stream',
  contentType: 'application/json',
  protocolVersion: '2025-11-25',
};
const CALL = {
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'execute', arguments: { name: 'fixture__echo', arguments: { message: 'hi' } } },
};
const withParams = (params: Record<string, unknown>) => ({ ...CALL, params: { ...CALL.params, ...params } });

describe('which requests the lean path takes', () => {
  it('takes a plain search or execute, with or without a protocol header, string or integer id', () => {
    expect(plainToolCall(CALL, HEADERS)).toEqual({ id: 1, name: 'execute', arguments: CALL.params.arguments });
    expect(plainToolCall({ ...CALL, id: 'a' }, { ...HEADERS, protocolVersion: undefined })?.id).toBe('a');
    expect(plainToolCall(withParams({ name: 'search', arguments: { keywords: ['x'] } }), HEADERS)?.name).toBe('search');
    expect(plainToolCall(withParams({ arguments: undefined }), HEADERS)?.arguments).toEqual({});
    expect(plainToolCall(withParams({ _meta: { 'example.com/trace': 'x' } }), HEADERS)).toBeDefined();
    expect(plainToolCall(CALL, { ...HEADERS, contentType: 'application/json; charset=utf-8' })).toBeDefined();
  });

  it.each([
    ['an Accept the SDK refuses (406)', CALL, { ...HEADERS, accept: 'application/json' }],
    ['no Accept', CALL, { ...HEADERS, accept: undefined }],
    ['a Content-Type the SDK refuses (415)', CALL, { ...HEADERS, contentType: 'text/plain' }],
    ['a look-alike Content-Type', CALL, { ...HEADERS, contentType: 'application/jsonx' }],
    ['an unsupported protocol version', CALL, { ...HEADERS, protocolVersion: '1999-01-01' }],
    ['a 2026-era protocol header', CALL, { ...HEADERS, protocolVersion: '2026-07-28' }],
    ['a batch', [CALL], HEADERS],
    ['another method', { ...CALL, method: 'tools/list' }, HEADERS],
    ['a notification (no id)', { ...CALL, id: undefined }, HEADERS],
    ['a null id', { ...CALL, id: null }, HEADERS],
    ['a fractional id', { ...CALL, id: 1.5 }, HEADERS],
    ['no jsonrpc version', { ...CALL, jsonrpc: undefined }, HEADERS],
    ['another tool', withParams({ name: 'other' }), HEADERS],
    ['arguments that are not an object', withParams({ arguments: [1] }), HEADERS],
    ['a progress token (progress needs a stream)', withParams({ _meta: { progressToken: 5 } }), HEADERS],
    ['a 2026-era envelope', withParams({ _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } }), HEADERS],
    ['_meta that is not an object', withParams({ _meta: 'x' }), HEADERS],
    ['a reserved _meta key', withParams({ _meta: { 'io.modelcontextprotocol/related-task': { taskId: 1 } } }), HEADERS],
    ['a member beyond jsonrpc, id, method and params', { ...CALL, extra: 1 }, HEADERS],
    ['params beyond name, arguments and _meta', withParams({ task: 'x' }), HEADERS],
    ['null arguments', withParams({ arguments: null }), HEADERS],
    ['an id beyond the safe integers', { ...CALL, id: 2 ** 60 }, HEADERS],
    ['a Content-Type with a malformed parameter', CALL, { ...HEADERS, contentType: 'application/json;a=1,b' }],
    ['a protocol version padded with a non-breaking space', CALL, { ...HEADERS, protocolVersion: '2025-11-25\u00a0' }],
  ])('leaves %s to the SDK', (_case, body, headers) => {
    expect(plainToolCall(body, headers)).toBeUndefined();
  });
});

describe('the lean path and the SDK answer alike', () => {
  let nexus: RunningNexus;
  beforeAll(async () => {
    nexus = await startTestNexus(`[mcp.servers.fixture]\ncmd = ["node", "${FIXTURE_SERVER}", "stdio"]`);
  });
  afterAll(() => nexus?.close());

  /** POSTs one call and returns the JSON-RPC response, whether it came as JSON or as SSE. */
  async function post(body: unknown): Promise<{ contentType: string; message: unknown }> {
    const response = await fetch(`${nexus.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify(body),
    });
    const contentType = response.headers.get('content-type') ?? '';
    const text = await response.text();
    const json = contentType.startsWith('text/event-stream') ? /^data: (.*)$/m.exec(text)?.[1] : text;
    return { contentType, message: JSON.parse(json ?? 'null') };
  }

  // The same call twice: plain (the lean path, JSON) and with a progress token (the SDK, SSE).
  it.each([
    ['a result', { name: 'execute', arguments: { name: 'fixture__add_numbers', arguments: { a: 2, b: 3 } } }],
    ['a tool error result', { name: 'execute', arguments: { name: 'fixture__fail_softly' } }],
    ['a downstream JSON-RPC error with data', { name: 'execute', arguments: { name: 'fixture__fail_hard' } }],
    ['an unknown tool', { name: 'execute', arguments: { name: 'fixture__nope' } }],
    ['bad execute arguments', { name: 'execute', arguments: { name: 42 } }],
    ['a search', { name: 'search', arguments: { keywords: ['add', 'numbers'] } }],
    ['a bad search', { name: 'search', arguments: { keywords: 'add' } }],
  ])('%s', async (_case, params) => {
    const lean = await post({ jsonrpc: '2.0', id: 7, method: 'tools/call', params });
    const sdk = await post({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { ...params, _meta: { progressToken: 'p' } } });
    expect(lean.contentType).toMatch(/^application\/json/);
    expect(sdk.contentType).toMatch(/^text\/event-stream/);
    expect(lean.message).toEqual(sdk.message);
    expect(lean.message).toMatchObject({ jsonrpc: '2.0', id: 7 });
  });
});
