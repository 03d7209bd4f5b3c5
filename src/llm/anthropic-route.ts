/**
 * The Anthropic-compatible endpoint: `POST {path}/v1/messages`, `POST {path}/v1/messages/count_tokens`
 * and `GET {path}/v1/models`, in front of every provider (requests and answers translated through
 * the common shape). Errors come in Anthropic's shape (`{"type":"error","error":{"type","message"}}`);
 * streams use its event types and end with `message_stop`, or an `error` event when they break.
 */
import type { Context, Hono } from 'hono';
import type { AppEnv } from '../http/app-env.js';
import { eventsFromChunks, messageFromCompletion, requestFromAnthropic } from './anthropic-shape.js';
import { handleChat, readModelRequest, relayedStatus, sseResponse, type ChatProtocol, type ErrorStatus } from './chat-route.js';
import type { LlmRouteOptions } from './openai-route.js';
import { countTokens } from './tokens.js';
import { countIn, relayCountTokens, speaksNatively } from './native-relay.js';

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  415: 'invalid_request_error',
  429: 'rate_limit_error',
  529: 'overloaded_error',
};

const errorBody = (status: number, message: string) => ({ type: 'error', error: { type: ERROR_TYPES[status] ?? 'api_error', message } });

const anthropic: ChatProtocol = {
  api: 'anthropic-messages',
  error: (c: Context<AppEnv>, status: ErrorStatus, message: string) => c.json(errorBody(status, message), status),
  providerError: (c, { status, message }) => c.json(errorBody(status, message), relayedStatus(status)),
  request: requestFromAnthropic,
  completion: (c, completion, model) => c.json(messageFromCompletion(completion, model)),
  stream: (chunks, model, onBreak) =>
    sseResponse(
      eventsFromChunks(chunks, model),
      ({ event, data }) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`,
      '',
      (error) => `event: error\ndata: ${JSON.stringify(errorBody(500, onBreak(error)))}\n\n`,
    ),
};

export function mountAnthropic(app: Hono<AppEnv>, { path, logger, ...dependencies }: LlmRouteOptions): void {
  const log = logger.child({ component: 'llm', protocol: 'anthropic' });
  const { catalog } = dependencies;
  app.get(`${path}/v1/models`, (c) => {
    const data = catalog.list().map(({ id }) => ({ type: 'model', id, display_name: id, created_at: '1970-01-01T00:00:00Z' }));
    return c.json({ data, has_more: false, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null });
  });
  app.post(`${path}/v1/messages`, (c) => handleChat(c, anthropic, { ...dependencies, log }));
  app.post(`${path}/v1/messages/count_tokens`, async (c) => {
    const read = await readModelRequest(c, anthropic, dependencies);
    if (read instanceof Response) return read;
    const { body, model, resolved } = read;
    const { observer } = dependencies;
    // An Anthropic provider counts exactly (betas included); for the others nexus estimates.
    if (speaksNatively(resolved.provider, 'anthropic-count-tokens')) {
      const relay = () => relayCountTokens(c, anthropic, dependencies, read);
      return observer ? observer.countTokens(c, model, relay, (response) => countIn(response)) : relay();
    }
    const count = () => countTokens([body['system'], body['messages'], body['tools']]);
    const tokens = await (observer ? observer.countTokens(c, model, count, (counted) => counted) : count());
    return c.json({ input_tokens: tokens });
  });
}
