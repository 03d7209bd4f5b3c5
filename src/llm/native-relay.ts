/**
 * A request to a provider that speaks the client's own API, passed through: the body as the
 * client wrote it, byte for byte but for the model name (and a configured `max_tokens` when it
 * sets none), and the provider's answer back the same way: its status, the headers that describe
 * it, its body or its stream events as they come, the model named as the client named it. What
 * nexus's common shape does not model (thinking blocks and their signatures, `cache_control`,
 * server tools, beta fields, new parameters) is never touched. nexus's auth, identity, token
 * limits and telemetry apply as on every route.
 */
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import type { AppEnv } from '../http/app-env.js';
import { BodyTooLargeError, decodedBody, readText } from '../net/body-limits.js';
import { mediaType } from '../net/http-client.js';
import { eventData, rawSseEvents } from '../net/sse.js';
import { observeChat, overTokenLimit, redactorFor, type ChatDependencies, type ChatProtocol, type ModelRequest } from './chat-route.js';
import { eventSummaries, summaryOfAnswer } from './native-summary.js';
import { providerErrorType, type ChatObservation } from './observe.js';
import { own } from './own.js';
import type { ChatProvider, ChatRequest, NativeApi } from './provider.js';
import { MAX_ANSWER_BYTES } from './providers/http-provider.js';
import { replaceAt, withFirstKey } from './raw-json.js';

type Json = Record<string, unknown>;

/** The most of an error answer passed on. */
const MAX_ERROR_BYTES = 64 * 1024;

/** Where each API's answers name their model: replaced by the name the client used. */
const MODEL_PATHS: Record<NativeApi, readonly (readonly string[])[]> = {
  'anthropic-messages': [['model'], ['message', 'model']],
  'anthropic-count-tokens': [],
  'openai-chat': [['model']],
  'openai-responses': [['model'], ['response', 'model']],
};

/** The key each API takes an answer's length limit under (a model's configured `max_tokens` goes there). */
const LIMIT_KEYS: Partial<Record<NativeApi, readonly string[]>> = {
  'anthropic-messages': ['max_tokens'],
  'openai-chat': ['max_tokens', 'max_completion_tokens'],
  'openai-responses': ['max_output_tokens'],
};

/**
 * Provider answer headers passed on: what describes the body, and the provider's request ids and
 * rate-limit state (not its length or encoding, which describe what it sent, not what nexus does).
 */
const PASSED_HEADER = /^(content-type|retry-after|request-id|x-request-id|anthropic-[a-z0-9-]+|x-ratelimit-[a-z0-9-]+|openai-[a-z0-9-]+)$/;

/** The answer's headers a client gets. */
function passedHeaders(answer: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(answer.headers)) {
    if (PASSED_HEADER.test(name) && typeof value === 'string') headers.set(name, value);
  }
  return headers;
}

/** The provider's relay, bound to it (only for providers `speaksNatively` accepted). */
const relayOf = (provider: ChatProvider): NonNullable<ChatProvider['relay']> =>
  (provider.relay as NonNullable<ChatProvider['relay']>).bind(provider);

/** Whether `provider` takes requests of `api` as they are. */
export const speaksNatively = (provider: ChatProvider, api: NativeApi | undefined): api is NativeApi =>
  api !== undefined && provider.nativeApis?.has(api) === true && provider.relay !== undefined;

/** What a native request counts against token limits: everything it sends the model. */
function asChatRequest(body: Json, model: string): ChatRequest {
  const parts = ['system', 'instructions', 'messages', 'input'].flatMap((key) => (body[key] === undefined ? [] : [body[key]]));
  return { model, messages: parts, tools: body['tools'] };
}

export async function relayNative(
  c: Context<AppEnv>,
  api: NativeApi,
  protocol: Pick<ChatProtocol, 'error'>,
  dependencies: ChatDependencies,
  { text, body, model, resolved }: ModelRequest,
): Promise<Response> {
  const { provider, upstream } = resolved;
  let request = replaceAt(text, ['model'], upstream);
  const maxTokens = own(provider.config.models, resolved.model)?.max_tokens;
  const limitKeys = LIMIT_KEYS[api];
  if (maxTokens !== undefined && limitKeys && limitKeys.every((key) => body[key] === undefined)) {
    request = withFirstKey(request, limitKeys[0] as string, maxTokens);
  }
  const redactor = redactorFor(c, dependencies);
  const redact = (text: string) => redactor.text(text);
  return observeChat(c, dependencies, { model, provider, request: body }, async (observation) => {
    const counted = { request: asChatRequest(body, upstream), model, resolved };
    const refused = await overTokenLimit(c, protocol, dependencies.tokenLimits, counted, observation);
    if (refused) return refused;
    let answer: IncomingMessage;
    try {
      answer = await relayOf(provider)(api, request, c.req.header(), c.req.raw.signal, resolved.model);
    } catch (error) {
      observation.failed('connection_error');
      dependencies.log.warn({ provider: provider.name, err: redact((error as Error).message) }, 'provider unreachable');
      return protocol.error(c, 502, `provider '${provider.name}' could not be reached`);
    }
    return answerOf(c, { api, protocol, model, provider: provider.name, log: dependencies.log }, answer, observation, redact);
  });
}

/** What the answer is to: for renaming its model, wording its errors and logging a stream's. */
interface Relayed {
  api: NativeApi;
  protocol: Pick<ChatProtocol, 'error'>;
  /** The model as the client named it. */
  model: string;
  provider: string;
  log: ChatDependencies['log'];
}

/** The provider's answer as the client gets it. */
async function answerOf(
  c: Context<AppEnv>,
  { api, protocol, model, provider, log }: Relayed,
  answer: IncomingMessage,
  observation: ChatObservation,
  redact: (text: string) => string,
): Promise<Response> {
  const status = answer.statusCode ?? 502;
  const headers = passedHeaders(answer);
  const named = (json: string) => MODEL_PATHS[api].reduce((out, path) => replaceAt(out, path, model), json);
  if (status >= 300) {
    // Passed on as the provider said it (clients match on its words), but for nexus's secrets; a
    // redirect (which nexus does not follow) is no answer: 502.
    observation.failed(providerErrorType(status));
    const text = await readText(answer, MAX_ERROR_BYTES).catch(() => '');
    return new Response(redact(text), { status: status < 400 ? 502 : status, headers });
  }
  if (mediaType(answer.headers['content-type']) === 'text/event-stream') {
    headers.set('cache-control', 'no-cache');
    const stream = eventStream({ api, protocol, model, provider, log }, decodedBody(answer), named, observation, redact);
    return new Response(stream, { status, headers });
  }
  let text: string;
  try {
    text = await readText(answer, MAX_ANSWER_BYTES);
  } catch (error) {
    if (!(error instanceof BodyTooLargeError)) throw error;
    observation.failed('provider_api_error');
    return protocol.error(c, 502, `provider '${provider}': ${error.message}`);
  }
  let answered: string;
  try {
    // Read whole only for telemetry; the model's name is found by scanning the text.
    if (observation.watching) observation.completed(summaryOfAnswer(api, JSON.parse(text) as Json));
    else if (!/^\s*\{[\s\S]*\}\s*$/.test(text)) throw new SyntaxError('not a JSON object');
    answered = named(text);
  } catch {
    observation.failed('provider_api_error');
    return protocol.error(c, 502, `provider '${provider}' gave an answer nexus could not read`);
  }
  return new Response(answered, { status, headers });
}

/** The provider's events as they come, the model renamed where an event names it; a break ends with the API's error event. */
function eventStream(
  { api, provider, log }: Relayed,
  body: AsyncIterable<unknown>,
  named: (json: string) => string,
  observation: ChatObservation,
  redact: (text: string) => string,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const summarise = eventSummaries(api);
  const broke = (reason: string) => log.warn({ provider, err: reason }, 'provider stream broke');
  const events = observation.streamed(rawSseEvents(body, MAX_ANSWER_BYTES), (raw) => {
    const data = eventData(raw);
    if (data === undefined || data === '[DONE]') return undefined;
    try {
      return summarise(JSON.parse(data) as Json);
    } catch {
      return undefined;
    }
  });
  const iterator = events[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await iterator.next();
        if (next.done) return controller.close();
        const raw = next.value;
        const data = eventData(raw);
        // Not a JSON event (a provider's plain-text error, say): passed on with nexus's secrets out.
        if (data === undefined || !data.startsWith('{')) return controller.enqueue(encoder.encode(data === '[DONE]' ? raw : redact(raw)));
        // An error the provider reports may quote what it was sent: nexus's secrets are taken out.
        const reported = data.includes('"error"') ? redact(raw) : raw;
        if (reported !== raw || /"type":\s*"error"/.test(data)) broke(redact(data));
        controller.enqueue(encoder.encode(renamed(reported, eventData(reported) ?? data, named)));
      } catch (error) {
        const reason = redact((error as Error).message);
        broke(reason);
        controller.enqueue(encoder.encode(breakEvent(api, `the stream from provider '${provider}' broke: ${reason}`)));
        controller.close();
      }
    },
    async cancel() {
      await iterator.return?.();
    },
  });
}

/** `raw` with its data renamed; every other byte of the event as it was. */
function renamed(raw: string, data: string, named: (json: string) => string): string {
  const after = named(data);
  if (after === data) return raw;
  // Lines end only at CR or LF (JSON may hold U+2028 as it is, which a regex's `.` stops at).
  const pieces = raw.split(/(\r\n|\r|\n)/);
  const first = pieces.findIndex((piece, i) => i % 2 === 0 && piece.startsWith('data:'));
  const end = pieces[first + 1] ?? '\n';
  let out = '';
  for (let i = 0; i < pieces.length; i += 2) {
    const line = pieces[i] as string;
    const separator = pieces[i + 1] ?? '';
    // The first data line carries the renamed data, as one line per line of it; the others go.
    if (i === first)
      out += `${after
        .split('\n')
        .map((part) => `data: ${part}`)
        .join(end)}${separator}`;
    else if (!line.startsWith('data:')) out += line + separator;
  }
  return out;
}

/** The error event each API's clients understand, for a stream that broke. */
function breakEvent(api: NativeApi, message: string): string {
  if (api === 'openai-chat') return `data: ${JSON.stringify({ error: { message, type: 'api_error', param: null, code: null } })}\n\n`;
  if (api === 'openai-responses')
    return `event: error\ndata: ${JSON.stringify({ type: 'error', code: 'server_error', message, param: null })}\n\n`;
  return `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'api_error', message } })}\n\n`;
}

/** A count_tokens request passed through to an Anthropic provider; its answer (the count, or a refusal) back as it is. */
export async function relayCountTokens(
  c: Context<AppEnv>,
  protocol: Pick<ChatProtocol, 'error'>,
  dependencies: Pick<ChatDependencies, 'redactor'>,
  { text, resolved }: ModelRequest,
): Promise<Response> {
  const { provider, upstream } = resolved;
  const redactor = redactorFor(c, dependencies);
  let answer: IncomingMessage;
  try {
    const body = replaceAt(text, ['model'], upstream);
    answer = await relayOf(provider)('anthropic-count-tokens', body, c.req.header(), c.req.raw.signal, resolved.model);
  } catch {
    return protocol.error(c, 502, `provider '${provider.name}' could not be reached`);
  }
  const status = answer.statusCode ?? 502;
  const body = await readText(answer, MAX_ERROR_BYTES).catch(() => '');
  return new Response(status >= 300 ? redactor.text(body) : body, { status, headers: passedHeaders(answer) });
}

/** The `input_tokens` of a count_tokens answer, if it is one. */
export async function countIn(response: Response): Promise<number | undefined> {
  if (!response.ok) return undefined;
  try {
    const tokens = ((await response.clone().json()) as { input_tokens?: unknown }).input_tokens;
    return typeof tokens === 'number' ? tokens : undefined;
  } catch {
    return undefined;
  }
}
