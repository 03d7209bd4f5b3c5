/**
 * One chat request, whatever the client's protocol: the checks (JSON content type, 32 MiB,
 * a JSON object naming a model), routing to a provider, and the provider's outcome handed to the
 * protocol to answer in its own shape. A provider that cannot be reached is 502.
 */
import type { Context } from 'hono';
import type { AppEnv } from '../http/app-env.js';
import { readBody } from '../http/body.js';
import type { Logger } from '../log.js';
import type { ModelCatalog, ResolvedModel } from './models.js';
import { nestedDeeperThan } from '../json-depth.js';
import type { Redactor } from '../redact.js';
import {
  PROVIDER_KEY_HEADER,
  UntranslatableError,
  type ChatOutcome,
  type ChatProvider,
  type ChatRequest,
  type NativeApi,
} from './provider.js';
import { relayNative, speaksNatively } from './native-relay.js';
import { own } from './own.js';
import { providerErrorType, unobserved, type ChatObservation, type LlmObserver } from './observe.js';
import type { TokenLimits } from './token-limits.js';

/** The largest request body accepted on the LLM routes. */
export const MAX_LLM_BODY_BYTES = 32 * 1024 * 1024;
export type ErrorStatus = 400 | 401 | 403 | 404 | 413 | 415 | 429 | 500 | 502 | 503;
type Json = Record<string, unknown>;

/** How one client protocol reads requests and words answers. */
export interface ChatProtocol {
  /** The API it is, for providers that speak it too: requests to them pass through (native-relay.ts). */
  api?: NativeApi;
  /** An error of nexus's own, in the protocol's shape. */
  error(c: Context<AppEnv>, status: ErrorStatus, message: string, code?: string): Response;
  /** A provider's refusal, passed on with its status. */
  providerError(c: Context<AppEnv>, outcome: Extract<ChatOutcome, { kind: 'error' }>): Response;
  /** The client's request as a chat request for the provider's model id. */
  request(body: Json, upstreamModel: string): ChatRequest;
  /** `request` is the client's request as it came. */
  completion(c: Context<AppEnv>, completion: Json, model: string, request: Json): Response;
  /** `onBreak` is told when the chunks throw, and returns what to tell the client. */
  stream(chunks: AsyncIterable<Json>, model: string, onBreak: (error: Error) => string, request: Json): Response;
}

/** A provider status as one we answer with: its own when it is an error status, else 502. */
export const relayedStatus = (status: number): ErrorStatus => (status >= 400 && status < 600 ? status : 502) as ErrorStatus;

const isJson = (contentType: string | undefined) => /^application\/json\s*(;|$)/i.test(contentType ?? '');

export interface ChatDependencies {
  catalog: ModelCatalog<ChatProvider>;
  tokenLimits: TokenLimits | undefined;
  log: Logger;
  /** Bodies nesting deeper are refused (`server.limits.max_json_depth`). */
  maxJsonDepth: number;
  /** Replaces nexus's secrets in what providers say (their errors, a broken stream's reason). */
  redactor: Redactor;
  /** Spans and metrics of the requests; none when telemetry is off. */
  observer?: LlmObserver;
}

/** What is wrong with a request's messages, if anything: each must be an object with a role. */
function messagesProblem(messages: unknown): string | undefined {
  if (!Array.isArray(messages) || messages.length === 0) return '`messages` must be a non-empty list';
  const bad = messages.findIndex(
    (message: unknown) => message === null || typeof message !== 'object' || typeof (message as Json)['role'] !== 'string',
  );
  return bad >= 0 ? `messages[${bad}] must be an object with a \`role\`` : undefined;
}

/**
 * The request's body and the model it names, or the error to answer: 415 unless JSON, 413 over
 * 32 MiB, 400 unless a JSON object naming a model (or when it nests too deep), 404 for a model
 * not offered.
 */
export async function readModelRequest(
  c: Context<AppEnv>,
  protocol: Pick<ChatProtocol, 'error'>,
  { catalog, maxJsonDepth }: Pick<ChatDependencies, 'catalog' | 'maxJsonDepth'>,
): Promise<ModelRequest | Response> {
  if (!isJson(c.req.header('content-type'))) return protocol.error(c, 415, 'Content-Type must be application/json');
  const text = await readBody(c, MAX_LLM_BODY_BYTES);
  if (text === undefined) return protocol.error(c, 413, `the request body is larger than ${MAX_LLM_BODY_BYTES} bytes`);
  let body: Json;
  try {
    body = JSON.parse(text) as Json;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new Error('expected a JSON object');
  } catch (error) {
    return protocol.error(c, 400, `the request body is not a JSON object: ${(error as Error).message}`);
  }
  if (nestedDeeperThan(body, maxJsonDepth)) {
    return protocol.error(c, 400, `the request body nests deeper than ${maxJsonDepth} levels (server.limits.max_json_depth)`);
  }
  const model = body['model'];
  if (typeof model !== 'string' || model === '') return protocol.error(c, 400, '`model` must be a model name', 'invalid_model');
  const resolved = catalog.resolve(model);
  if (!resolved) return protocol.error(c, 404, `The model '${model}' does not exist or is not offered here`, 'model_not_found');
  return { text, body, model, resolved };
}

/** A request read and routed: its text as it came, that text parsed, the model it names and where that leads. */
export interface ModelRequest {
  text: string;
  body: Json;
  model: string;
  resolved: ResolvedModel<ChatProvider>;
}

export async function handleChat(c: Context<AppEnv>, protocol: ChatProtocol, dependencies: ChatDependencies): Promise<Response> {
  const read = await readModelRequest(c, protocol, dependencies);
  if (read instanceof Response) return read;
  const { body, model, resolved } = read;
  const { provider, upstream } = resolved;
  if (speaksNatively(provider, protocol.api)) return relayNative(c, protocol.api, protocol, dependencies, read);
  let request: ChatRequest;
  try {
    request = protocol.request(body, upstream);
  } catch (error) {
    const { message } = error as Error;
    return error instanceof UntranslatableError
      ? protocol.error(c, 400, `the request cannot be sent to provider '${provider.name}' (${provider.config.type}): ${message}`)
      : protocol.error(c, 400, `the request is malformed: ${message}`);
  }
  // A model's configured max_tokens, when the request sets no limit of its own.
  const maxTokens = own(provider.config.models, resolved.model)?.max_tokens;
  if (maxTokens !== undefined && request['max_tokens'] === undefined && request['max_completion_tokens'] === undefined) {
    request = { ...request, max_tokens: maxTokens };
  }
  const problem = messagesProblem(request.messages);
  if (problem) return protocol.error(c, 400, problem);
  return observeChat(c, dependencies, { model, provider, request }, (observation) =>
    complete(c, protocol, dependencies, { request, body, model, resolved }, observation),
  );
}

/** Runs `work` observed (a span and metrics, with telemetry on): what is known of the request before it goes out. */
export function observeChat(
  c: Context<AppEnv>,
  dependencies: ChatDependencies,
  { model, provider, request }: { model: string; provider: ChatProvider; request: Json },
  work: (observation: ChatObservation) => Promise<Response>,
): Promise<Response> {
  const redactor = redactorFor(c, dependencies);
  const facts = {
    model,
    providerType: provider.config.type,
    stream: request['stream'] === true,
    request,
    signal: c.req.raw.signal,
    redact: (text: string) => redactor.text(text),
  };
  return dependencies.observer ? dependencies.observer.chat(c, facts, work) : unobserved(c, facts, work);
}

/** Sends a checked request to its provider (after the token limits) and answers with the outcome. */
async function complete(
  c: Context<AppEnv>,
  protocol: ChatProtocol,
  dependencies: ChatDependencies,
  { request, body, model, resolved }: { request: ChatRequest; body: Json; model: string; resolved: ResolvedModel<ChatProvider> },
  observation: ChatObservation,
): Promise<Response> {
  const { provider } = resolved;
  const { tokenLimits, log } = dependencies;
  const client = c.get('client');
  const context = { provider: provider.name, client_id: client?.id };
  const refused = await overTokenLimit(c, protocol, tokenLimits, { request, model, resolved }, observation);
  if (refused) return refused;
  let outcome: ChatOutcome;
  try {
    outcome = await provider.complete(request, c.req.header(), c.req.raw.signal, resolved.model);
  } catch (error) {
    observation.failed('connection_error');
    log.warn({ ...context, err: (error as Error).message }, 'provider unreachable');
    return protocol.error(c, 502, `provider '${provider.name}' could not be reached`);
  }
  if (outcome.kind === 'error') {
    observation.failed(providerErrorType(outcome.status));
    return protocol.providerError(c, redactorFor(c, dependencies).value(outcome));
  }
  if (outcome.kind === 'completion') {
    try {
      const answer = protocol.completion(c, outcome.body, model, body);
      observation.completed(outcome.body);
      return answer;
    } catch (error) {
      observation.failed('internal_error');
      // An answer that does not fit the common shape (tool_calls that are no list, say), read for another protocol.
      log.warn({ ...context, err: (error as Error).message }, 'provider answer unreadable');
      return protocol.error(c, 502, `provider '${provider.name}' gave an answer nexus could not read`);
    }
  }
  const onBreak = (error: Error) => {
    const reason = redactorFor(c, dependencies).text(error.message);
    log.warn({ ...context, err: reason }, 'provider stream broke');
    return `the stream from provider '${provider.name}' broke: ${reason}`;
  };
  return protocol.stream(observation.streamed(outcome.chunks), model, onBreak, body);
}

/** The 429 (with Retry-After) for a request over its client's token limit, when it is; counted otherwise. */
export async function overTokenLimit(
  c: Context<AppEnv>,
  protocol: Pick<ChatProtocol, 'error'>,
  tokenLimits: TokenLimits | undefined,
  { request, model, resolved }: { request: ChatRequest; model: string; resolved: ResolvedModel<ChatProvider> },
  observation: ChatObservation,
): Promise<Response | undefined> {
  const decision = await tokenLimits?.check(resolved.provider.name, resolved.model, c.get('client'), request);
  if (!decision || decision.allowed) return undefined;
  observation.failed('rate_limit_exceeded');
  c.header('Retry-After', String(Math.max(1, Math.ceil(decision.resetMs / 1000))));
  return protocol.error(
    c,
    429,
    `token rate limit exceeded for ${model}: at most ${decision.limit} input tokens per window`,
    'rate_limit_exceeded',
  );
}

/** nexus's secrets, and the provider key the client forwarded (its own, but kept out of the logs). */
export function redactorFor(c: Context<AppEnv>, { redactor }: Pick<ChatDependencies, 'redactor'>): Redactor {
  const forwarded = c.req.header(PROVIDER_KEY_HEADER);
  return forwarded === undefined ? redactor : redactor.with([forwarded]);
}

/** Server-sent events from `events`, with `end` after the last one and `broken` if they throw. */
export function sseResponse<T>(
  events: AsyncIterable<T>,
  write: (event: T) => string,
  end: string,
  broken: (error: Error) => string,
): Response {
  const encoder = new TextEncoder();
  const iterator = events[Symbol.asyncIterator]();
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await iterator.next();
        if (next.done) {
          if (end) controller.enqueue(encoder.encode(end));
          return controller.close();
        }
        controller.enqueue(encoder.encode(write(next.value)));
      } catch (error) {
        controller.enqueue(encoder.encode(broken(error as Error)));
        controller.close();
      }
    },
    async cancel() {
      await iterator.return?.();
    },
  });
  return new Response(stream, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } });
}
