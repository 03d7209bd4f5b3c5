/**
 * The OpenAI-compatible endpoint: `GET {path}/v1/models` and `POST {path}/v1/chat/completions`,
 * routed by model name to a provider. Errors come in OpenAI's shape
 * (`{"error":{"message","type","code"}}`) with the provider's status, or 502 when the provider
 * cannot be reached. Streams are relayed event by event, with the model named as the client named
 * it, and end with `[DONE]`; a stream that breaks ends with an error event.
 */
import type { IncomingMessage } from 'node:http';
import type { Context, Hono } from 'hono';
import type { AppEnv } from '../http/app-env.js';
import { readBody } from '../http/body.js';
import type { Logger } from '../log.js';
import { readText } from '../mcp/downstreams/http-client.js';
import { SseParser } from '../mcp/downstreams/sse.js';
import type { ModelCatalog } from './models.js';
import type { OpenAiProvider } from './openai-provider.js';

/** The largest request body accepted on the LLM routes. */
export const MAX_LLM_BODY_BYTES = 32 * 1024 * 1024;
/** The header a client puts its own provider key in, for providers with `forward_token`. */
export const PROVIDER_KEY_HEADER = 'x-provider-api-key';

type ErrorStatus = 400 | 401 | 403 | 404 | 413 | 415 | 429 | 500 | 502 | 503;

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'invalid_request_error',
  415: 'invalid_request_error',
  429: 'rate_limit_error',
};

function openAiError(c: Context<AppEnv>, status: ErrorStatus, message: string, code?: string) {
  return c.json({ error: { message, type: ERROR_TYPES[status] ?? 'api_error', param: null, code: code ?? null } }, status);
}

/** A provider's error answer: passed on as it is when it is already OpenAI's shape, else wrapped. */
function upstreamError(c: Context<AppEnv>, status: number, text: string) {
  const relayed = (status >= 400 && status < 600 ? status : 502) as ErrorStatus;
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } };
    if (typeof parsed.error?.message === 'string') return c.json(parsed, relayed);
  } catch {
    // not JSON: wrapped below
  }
  return openAiError(c, relayed, text.trim() || `the provider answered ${status}`);
}

const isJson = (contentType: string | undefined) => /^application\/json\s*(;|$)/i.test(contentType ?? '');

export interface OpenAiRouteOptions {
  path: string;
  catalog: ModelCatalog<OpenAiProvider>;
  logger: Logger;
}

export function mountOpenAi(app: Hono<AppEnv>, { path, catalog, logger }: OpenAiRouteOptions): void {
  const log = logger.child({ component: 'llm' });

  app.get(`${path}/v1/models`, (c) =>
    c.json({ object: 'list', data: catalog.list().map(({ id, provider }) => ({ id, object: 'model', created: 0, owned_by: provider })) }),
  );

  app.post(`${path}/v1/chat/completions`, async (c) => {
    if (!isJson(c.req.header('content-type'))) return openAiError(c, 415, 'Content-Type must be application/json');
    const text = await readBody(c, MAX_LLM_BODY_BYTES);
    if (text === undefined) return openAiError(c, 413, `the request body is larger than ${MAX_LLM_BODY_BYTES} bytes`);
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
      if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new Error('expected a JSON object');
    } catch (error) {
      return openAiError(c, 400, `the request body is not a JSON object: ${(error as Error).message}`);
    }
    const model = body['model'];
    if (typeof model !== 'string' || model === '') return openAiError(c, 400, '`model` must be a model name', 'invalid_model');
    const resolved = catalog.resolve(model);
    if (!resolved) return openAiError(c, 404, `The model '${model}' does not exist or is not offered here`, 'model_not_found');
    const { provider, upstream } = resolved;
    let response: IncomingMessage;
    try {
      response = await provider.chat({ ...body, model: upstream }, c.req.header(PROVIDER_KEY_HEADER), c.req.raw.signal);
    } catch (error) {
      log.warn({ provider: provider.name, err: (error as Error).message, client_id: c.get('client')?.id }, 'provider unreachable');
      return openAiError(c, 502, `provider '${provider.name}' could not be reached`);
    }
    const status = response.statusCode ?? 502;
    if (status >= 300) return upstreamError(c, status, await readText(response).catch(() => ''));
    if (body['stream'] === true) return relay(response, model, provider.name, log);
    const answer = await readText(response).then((text) => JSON.parse(text) as Record<string, unknown>).catch(() => undefined);
    if (!answer || typeof answer !== 'object') return openAiError(c, 502, `provider '${provider.name}' answered with something that is not a JSON object`);
    return c.json({ ...answer, model });
  });
}

/** The provider's SSE stream, event by event, with `model` rewritten; a break ends it with an error event. */
function relay(upstream: IncomingMessage, model: string, provider: string, log: Logger): Response {
  const encoder = new TextEncoder();
  const parser = new SseParser();
  upstream.setEncoding('utf8');
  const chunks = upstream[Symbol.asyncIterator]();
  const rewrite = (data: string) => {
    if (data === '[DONE]') return data;
    try {
      const event = JSON.parse(data) as Record<string, unknown>;
      return JSON.stringify('model' in event ? { ...event, model } : event);
    } catch {
      return data;
    }
  };
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await chunks.next();
        if (next.done) return controller.close();
        const events = parser.feed(next.value as string);
        if (events.length > 0) controller.enqueue(encoder.encode(events.map((event) => `data: ${rewrite(event.data)}\n\n`).join('')));
      } catch (error) {
        log.warn({ provider, err: (error as Error).message }, 'provider stream broke');
        const message = { error: { message: `the stream from provider '${provider}' broke`, type: 'api_error', param: null, code: null } };
        controller.enqueue(encoder.encode(`data: ${JSON.stringify(message)}\n\n`));
        controller.close();
      }
    },
    cancel() {
      upstream.destroy();
    },
  });
  return new Response(stream, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } });
}
