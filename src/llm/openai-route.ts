/**
 * The OpenAI-compatible endpoint: `GET {path}/v1/models` and `POST {path}/v1/chat/completions`.
 * Errors come in OpenAI's shape (`{"error":{"message","type","param","code"}}`); streams end with
 * `[DONE]`, or with an error event when they break; `model` is named as the client named it.
 */
import type { Context, Hono } from 'hono';
import type { AppEnv } from '../http/app-env.js';
import type { Logger } from '../log.js';
import { handleChat, relayedStatus, sseResponse, type ChatDependencies, type ChatProtocol, type ErrorStatus } from './chat-route.js';
import type { ChatRequest } from './provider.js';
import { eventsFromChunks, requestFromResponses, responseFromCompletion } from './responses-shape.js';

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'invalid_request_error',
  415: 'invalid_request_error',
  429: 'rate_limit_error',
};

const errorBody = (status: number, message: string, code?: string) => ({
  error: { message, type: ERROR_TYPES[status] ?? 'api_error', param: null, code: code ?? null },
});

const openAi: ChatProtocol = {
  api: 'openai-chat',
  error: (c: Context<AppEnv>, status: ErrorStatus, message: string, code?: string) => c.json(errorBody(status, message, code), status),
  // Passed on as it is when the provider already speaks OpenAI's shape, else worded in it.
  providerError: (c, { status, message, body }) =>
    c.json(body === undefined ? errorBody(status, message) : (body as object), relayedStatus(status)),
  request: (body, upstreamModel) => ({ ...body, model: upstreamModel }) as ChatRequest,
  completion: (c, completion, model) => c.json({ ...completion, model }),
  stream: (chunks, model, onBreak) =>
    sseResponse(
      chunks,
      (chunk) => `data: ${JSON.stringify({ ...chunk, model })}\n\n`,
      'data: [DONE]\n\n',
      (error) => `data: ${JSON.stringify(errorBody(502, onBreak(error)))}\n\n`,
    ),
};

/** The Responses API (`POST {path}/v1/responses`): passed through to OpenAI providers, translated for the others. */
const responses: ChatProtocol = {
  api: 'openai-responses',
  error: openAi.error,
  providerError: openAi.providerError,
  request: requestFromResponses,
  completion: (c, completion, model, request) => c.json(responseFromCompletion(completion, model, request)),
  stream: (chunks, model, onBreak, request) =>
    sseResponse(
      eventsFromChunks(chunks, model, request, onBreak),
      (event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`,
      '',
      // Breaks end in `response.failed`, written by eventsFromChunks; this is for what cannot happen.
      (error) => `event: error\ndata: ${JSON.stringify({ type: 'error', code: 'server_error', message: onBreak(error), param: null })}\n\n`,
    ),
};

export interface LlmRouteOptions extends Omit<ChatDependencies, 'log'> {
  path: string;
  logger: Logger;
}

export function mountOpenAi(app: Hono<AppEnv>, { path, logger, ...dependencies }: LlmRouteOptions): void {
  const log = logger.child({ component: 'llm', protocol: 'openai' });
  const { catalog } = dependencies;
  app.get(`${path}/v1/models`, (c) =>
    c.json({ object: 'list', data: catalog.list().map(({ id, provider }) => ({ id, object: 'model', created: 0, owned_by: provider })) }),
  );
  app.post(`${path}/v1/chat/completions`, (c) => handleChat(c, openAi, { ...dependencies, log }));
  app.post(`${path}/v1/responses`, (c) => handleChat(c, responses, { ...dependencies, log }));
}
