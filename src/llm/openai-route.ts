/**
 * The OpenAI-compatible endpoint: `GET {path}/v1/models` and `POST {path}/v1/chat/completions`,
 * routed by model name to a provider. Errors come in OpenAI's shape
 * (`{"error":{"message","type","code"}}`) with the provider's status, or 502 when the provider
 * cannot be reached. Streams are relayed event by event, with the model named as the client named
 * it, and end with `[DONE]`; a stream that breaks ends with an error event.
 */
import type { Context, Hono } from 'hono';
import type { AppEnv } from '../http/app-env.js';
import { readBody } from '../http/body.js';
import type { Logger } from '../log.js';
import type { ModelCatalog } from './models.js';
import type { ChatOutcome, ChatProvider, ChatRequest } from './provider.js';

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

/** A provider's refusal: passed on as it is when already in OpenAI's shape, else worded in it. */
function relayedError(c: Context<AppEnv>, status: number, message: string, body: unknown) {
  const relayed = (status >= 400 && status < 600 ? status : 502) as ErrorStatus;
  return body === undefined ? openAiError(c, relayed, message) : c.json(body as object, relayed);
}

const isJson = (contentType: string | undefined) => /^application\/json\s*(;|$)/i.test(contentType ?? '');

export interface OpenAiRouteOptions {
  path: string;
  catalog: ModelCatalog<ChatProvider>;
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
    let outcome: ChatOutcome;
    try {
      outcome = await provider.complete({ ...body, model: upstream } as ChatRequest, c.req.header(PROVIDER_KEY_HEADER), c.req.raw.signal);
    } catch (error) {
      log.warn({ provider: provider.name, err: (error as Error).message, client_id: c.get('client')?.id }, 'provider unreachable');
      return openAiError(c, 502, `provider '${provider.name}' could not be reached`);
    }
    if (outcome.kind === 'error') return relayedError(c, outcome.status, outcome.message, outcome.body);
    if (outcome.kind === 'stream') return relay(outcome.chunks, model, provider.name, log);
    return c.json({ ...outcome.body, model });
  });
}

/**
 * The provider's chunks as OpenAI's SSE stream, with `model` as the client named it, ending with
 * `[DONE]`; a stream that breaks ends with an error event instead.
 */
function relay(chunks: AsyncIterable<Record<string, unknown>>, model: string, provider: string, log: Logger): Response {
  const encoder = new TextEncoder();
  const events = chunks[Symbol.asyncIterator]();
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await events.next();
        if (next.done) {
          controller.enqueue(encoder.encode('data: [DONE]\n\n'));
          return controller.close();
        }
        controller.enqueue(encoder.encode(`data: ${JSON.stringify({ ...next.value, model })}\n\n`));
      } catch (error) {
        log.warn({ provider, err: (error as Error).message }, 'provider stream broke');
        const message = { error: { message: `the stream from provider '${provider}' broke`, type: 'api_error', param: null, code: null } };
        controller.enqueue(encoder.encode(`data: ${JSON.stringify(message)}\n\n`));
        controller.close();
      }
    },
    async cancel() {
      await events.return?.();
    },
  });
  return new Response(stream, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } });
}
