/**
 * `[llm.proxy.anthropic]`: the original's plain pass-through to Anthropic's API, for clients
 * that bring their own credential (Claude Code with a subscription, say). Every request under
 * its path goes to the same path of `base_url`, query kept, with the client's headers (its
 * `x-api-key` or `Authorization`, `anthropic-version`, `anthropic-beta`) but the hop's own and
 * nexus's; the answer comes back as it is, streamed. No model routing, header rules or token
 * limits apply; nexus's CORS, CSRF, auth, client identity, HTTP rate limits and telemetry do.
 */
import { Readable } from 'node:stream';
import type { Hono } from 'hono';
import type { AppEnv } from '../http/app-env.js';
import { readBytes } from '../http/body.js';
import type { Logger } from '../log.js';
import { createPool, destroyPool, send } from '../net/http-client.js';
import type { Redactor } from '../redact.js';
import { MAX_LLM_BODY_BYTES } from './chat-route.js';
import { PROVIDER_KEY_HEADER } from './provider.js';

/** Headers that belong to one hop, or to nexus (its own auth and the client's identity to it). */
const HOP_HEADERS = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  // The answer is passed on as it comes: asked for uncompressed, so its length and encoding hold.
  'accept-encoding',
  'cookie',
  'origin',
  PROVIDER_KEY_HEADER,
]);

export interface AnthropicProxyOptions {
  path: string;
  baseUrl: string;
  /** Headers nexus reads for itself (client identification, CSRF), not sent on. */
  ownHeaders: readonly string[];
  logger: Logger;
  redactor: Redactor;
}

/** Answer headers about the upstream's own origin, not nexus's: a cookie or HSTS of api.anthropic.com is not one for nexus. */
const UPSTREAM_ONLY = new Set(['set-cookie', 'alt-svc', 'strict-transport-security']);

const JSON_TYPE = { 'content-type': 'application/json' };

const errorBody = (type: string, message: string) => JSON.stringify({ type: 'error', error: { type, message } });

export function mountAnthropicProxy(app: Hono<AppEnv>, options: AnthropicProxyOptions): { close(): void } {
  const { path, logger } = options;
  const pool = createPool();
  const own = new Set(options.ownHeaders.map((name) => name.toLowerCase()));
  const log = logger.child({ component: 'llm', proxy: 'anthropic' });
  const upstream = new URL(options.baseUrl);
  const basePath = upstream.pathname.replace(/\/+$/, '');
  app.all(`${path}/*`, async (c) => {
    const url = new URL(c.req.url);
    // The route matched the decoded path; the request goes where its own (encoded) path says, under
    // the prefix only: an encoded prefix is no prefix.
    if (!url.pathname.startsWith(`${path}/`)) return c.body(errorBody('not_found_error', 'not found'), 404, JSON_TYPE);
    const target = new URL(upstream);
    target.pathname = `${basePath}${url.pathname.slice(path.length)}`;
    target.search = url.search;
    if (target.origin !== upstream.origin) return c.body(errorBody('not_found_error', 'not found'), 404, JSON_TYPE);
    const method = c.req.method;
    const bodiless = method === 'GET' || method === 'HEAD';
    const body = bodiless ? undefined : await readBytes(c, MAX_LLM_BODY_BYTES);
    if (!bodiless && body === undefined) {
      return c.body(errorBody('request_too_large', `the request body is larger than ${MAX_LLM_BODY_BYTES} bytes`), 413, JSON_TYPE);
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(c.req.header())) {
      if (!HOP_HEADERS.has(name) && !own.has(name)) headers[name] = value;
    }
    // nexus's token (there is one when its OAuth is on) is not Anthropic's to see, whichever header it came in.
    const caller = c.get('caller');
    if (caller) delete headers[caller.header];
    let answer;
    try {
      answer = await send(pool, target, { method, headers, body, signal: c.req.raw.signal });
    } catch (error) {
      const reason = options.redactor.text((error as Error).message);
      log.warn({ err: reason }, 'upstream unreachable');
      return c.body(errorBody('api_error', `could not reach ${target.origin}`), 502, JSON_TYPE);
    }
    const passed = new Headers();
    for (const [name, value] of Object.entries(answer.headers)) {
      if (HOP_HEADERS.has(name) || UPSTREAM_ONLY.has(name) || value === undefined) continue;
      for (const one of Array.isArray(value) ? value : [value]) passed.append(name, one);
    }
    const empty = method === 'HEAD' || answer.statusCode === 204 || answer.statusCode === 304;
    if (empty) answer.resume();
    const stream = empty ? null : (Readable.toWeb(answer) as ReadableStream<Uint8Array>);
    return new Response(stream, { status: answer.statusCode ?? 502, headers: passed });
  });
  return { close: () => destroyPool(pool) };
}
