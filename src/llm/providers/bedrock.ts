/**
 * A provider on Amazon Bedrock (`type = "bedrock"`), through the AWS SDK's Converse and
 * ConverseStream APIs, which speak one shape for every model on Bedrock. Requests arrive in
 * OpenAI's chat completions shape and are translated: system messages become `system`, turns
 * `messages` of content blocks, tool calls `toolUse` blocks and tool results `toolResult` blocks,
 * images (data: URLs) image bytes. Answers and stream events are translated back.
 *
 * Credentials: a Bedrock API key (`api_key`, or the client's own with `forward_token`) as a
 * bearer token; else `access_key_id` / `secret_access_key` / `session_token`; else `profile`;
 * else the AWS default chain. The SDK is loaded only when a Bedrock provider is configured.
 */
import { randomUUID } from 'node:crypto';
import type {
  BedrockRuntimeClient,
  ContentBlock,
  ConverseCommandInput,
  ConverseStreamOutput,
  Message,
} from '@aws-sdk/client-bedrock-runtime';
import type { BedrockClient } from '@aws-sdk/client-bedrock';
import type { LlmProviderConfig } from '../../config/schema.js';
import { createPool, destroyPool, type Pool } from '../../net/http-client.js';
import { parseToolArguments, STOP_TO_FINISH } from '../anthropic-shape.js';
import { headersFor, rulesFor } from '../header-rules.js';
import { own } from '../own.js';
import {
  appendTurn,
  chatCompletion,
  chunkMaker,
  contentParts,
  contentText,
  PROVIDER_KEY_HEADER,
  tokenUsage,
  toolCall,
  type ChatOutcome,
  type ChatProvider,
  type ChatRequest,
} from '../provider.js';
import { DISCOVERY_TIMEOUT_MS, translated } from './http-provider.js';

type Json = Record<string, unknown>;

/** Bedrock stop reasons as OpenAI finish reasons. */
const FINISH: Readonly<Record<string, string>> = {
  ...STOP_TO_FINISH,
  model_context_window_exceeded: 'length',
  guardrail_intervened: 'content_filter',
  content_filtered: 'content_filter',
};
const finishOf = (reason: unknown) => own(FINISH, String(reason)) ?? 'stop';

const IMAGE_FORMATS: Readonly<Record<string, string>> = {
  'image/png': 'png',
  'image/jpeg': 'jpeg',
  'image/jpg': 'jpeg',
  'image/gif': 'gif',
  'image/webp': 'webp',
};

/** OpenAI content (a string or parts) as Converse content blocks. */
const blocksOf = (content: unknown): ContentBlock[] =>
  contentParts(content).map((part): ContentBlock => {
    if (part.kind === 'text') return { text: part.text };
    const format = part.inline && own(IMAGE_FORMATS, part.inline.mediaType.toLowerCase());
    if (!format) throw new Error('Bedrock takes images as base64 data: URLs of PNG, JPEG, GIF or WebP');
    return { image: { format: format as 'png', source: { bytes: Buffer.from(part.inline!.base64, 'base64') } } };
  });

/** An OpenAI chat request as a Converse request. */
function toConverse(request: ChatRequest): ConverseCommandInput {
  const system: string[] = [];
  const turns: { role: string; content: ContentBlock[] }[] = [];
  const push = (role: 'user' | 'assistant', content: ContentBlock[]) => appendTurn(turns, role, 'content', content);
  for (const message of request.messages as Json[]) {
    const role = message['role'];
    if (role === 'system' || role === 'developer') system.push(contentText(message['content'], '\n'));
    else if (role === 'tool') {
      // Converse refuses blank text, and a tool may well have said nothing.
      const said = contentText(message['content']) || '(no output)';
      push('user', [{ toolResult: { toolUseId: String(message['tool_call_id'] ?? ''), content: [{ text: said }] } }]);
    } else if (role === 'assistant') {
      const calls = ((message['tool_calls'] as Json[] | undefined) ?? []).map((call): ContentBlock => {
        const fn = call['function'] as Json;
        return {
          toolUse: { toolUseId: String(call['id']), name: String(fn['name']), input: parseToolArguments(fn['arguments']) as never },
        };
      });
      push('assistant', [...blocksOf(message['content']), ...calls]);
    } else {
      push('user', blocksOf(message['content']));
    }
  }
  const input: ConverseCommandInput = { modelId: request.model, messages: turns as Message[] };
  if (system.length > 0) input.system = [{ text: system.join('\n\n') }];
  const inference: NonNullable<ConverseCommandInput['inferenceConfig']> = {};
  const maxTokens = request['max_completion_tokens'] ?? request['max_tokens'];
  if (typeof maxTokens === 'number') inference.maxTokens = maxTokens;
  if (typeof request['temperature'] === 'number') inference.temperature = request['temperature'];
  if (typeof request['top_p'] === 'number') inference.topP = request['top_p'];
  const stop = request['stop'];
  if (stop !== undefined && stop !== null) inference.stopSequences = (Array.isArray(stop) ? stop : [stop]).map(String);
  if (Object.keys(inference).length > 0) input.inferenceConfig = inference;
  const choice = request['tool_choice'];
  // Converse has no "none": such a request offers no tools but those the history needs.
  const offered = choice === 'none' ? [] : ((request['tools'] as Json[] | undefined) ?? []);
  const toolSpecs = offered.map((tool) => {
    const fn = tool['function'] as Json;
    return {
      toolSpec: {
        name: String(fn['name']),
        description: fn['description'] as string | undefined,
        inputSchema: { json: (fn['parameters'] ?? { type: 'object' }) as never },
      },
    };
  });
  // Converse refuses tool blocks in the history without a toolConfig: tools called earlier but
  // not offered now are declared by name.
  const declared = new Set(toolSpecs.map((tool) => tool.toolSpec.name));
  for (const turn of turns) {
    for (const block of turn.content) {
      const name = block.toolUse?.name;
      if (name !== undefined && !declared.has(name)) {
        declared.add(name);
        toolSpecs.push({ toolSpec: { name, description: undefined, inputSchema: { json: { type: 'object' } as never } } });
      }
    }
  }
  if (toolSpecs.length > 0) {
    input.toolConfig = { tools: toolSpecs };
    if (choice === 'auto') input.toolConfig.toolChoice = { auto: {} };
    else if (choice === 'required') input.toolConfig.toolChoice = { any: {} };
    else if (choice && typeof choice === 'object')
      input.toolConfig.toolChoice = { tool: { name: String(((choice as Json)['function'] as Json)['name']) } };
  }
  return input;
}

const usageOf = (usage: { inputTokens?: number; outputTokens?: number } | undefined) =>
  tokenUsage(usage?.inputTokens ?? 0, usage?.outputTokens ?? 0);

/** A Converse answer as an OpenAI `chat.completion`. */
function fromConverse(
  output: { output?: { message?: Message }; stopReason?: string; usage?: { inputTokens?: number; outputTokens?: number } },
  model: string,
  id: string,
): Json {
  const content = output.output?.message?.content ?? [];
  const text = content.map((block) => ('text' in block && typeof block.text === 'string' ? block.text : '')).join('');
  const calls = content.flatMap((block) =>
    'toolUse' in block && block.toolUse ? [toolCall(block.toolUse.toolUseId, block.toolUse.name, block.toolUse.input)] : [],
  );
  return chatCompletion({ id, model, text, calls, finish: finishOf(output.stopReason), usage: usageOf(output.usage) });
}

/**
 * ConverseStream's events as OpenAI chunks. The finish chunk goes out once the usage has come
 * (Bedrock sends `metadata` after `messageStop`); an exception event throws.
 */
async function* chunksFromConverse(events: AsyncIterable<ConverseStreamOutput>, model: string, id: string): AsyncGenerator<Json> {
  const chunk = chunkMaker({ id, model });
  /** Bedrock's content block index -> OpenAI's tool call index. */
  const toolIndex = new Map<number, number>();
  let stopReason: string | undefined;
  let finished = false;
  for await (const event of events) {
    const failure = Object.entries(event).find(([key]) => key.endsWith('Exception'));
    if (failure) throw new Error(String((failure[1] as { message?: unknown } | undefined)?.message ?? failure[0]));
    if (event.messageStart) yield chunk({ role: 'assistant', content: '' });
    else if (event.contentBlockStart?.start?.toolUse) {
      const { toolUseId, name } = event.contentBlockStart.start.toolUse;
      const index = toolIndex.size;
      toolIndex.set(event.contentBlockStart.contentBlockIndex ?? 0, index);
      yield chunk({ tool_calls: [{ index, id: toolUseId, type: 'function', function: { name, arguments: '' } }] });
    } else if (event.contentBlockDelta?.delta) {
      const delta = event.contentBlockDelta.delta;
      if ('text' in delta && typeof delta.text === 'string') yield chunk({ content: delta.text });
      else if ('toolUse' in delta && delta.toolUse) {
        yield chunk({
          tool_calls: [
            {
              index: toolIndex.get(event.contentBlockDelta.contentBlockIndex ?? 0) ?? 0,
              function: { arguments: delta.toolUse.input ?? '' },
            },
          ],
        });
      }
    } else if (event.messageStop) stopReason = event.messageStop.stopReason;
    else if (event.metadata && stopReason !== undefined) {
      finished = true;
      yield chunk({}, finishOf(stopReason), { usage: usageOf(event.metadata.usage) });
    }
  }
  if (finished) return;
  if (stopReason === undefined) throw new Error('the stream ended before the message did');
  yield chunk({}, finishOf(stopReason), { usage: usageOf(undefined) });
}

interface AwsSdk {
  /** The client with the configured credentials. */
  runtime: BedrockRuntimeClient;
  /** With `forward_token`: the client for requests that bring their own key (set per request, see `withHeaders`). */
  forwarding: BedrockRuntimeClient | undefined;
  control: BedrockClient;
  Converse: typeof import('@aws-sdk/client-bedrock-runtime').ConverseCommand;
  ConverseStream: typeof import('@aws-sdk/client-bedrock-runtime').ConverseStreamCommand;
  ListFoundationModels: typeof import('@aws-sdk/client-bedrock').ListFoundationModelsCommand;
  ListInferenceProfiles: typeof import('@aws-sdk/client-bedrock').ListInferenceProfilesCommand;
}

/** An answer's id: Bedrock's request id. */
const answerId = (output: { $metadata: { requestId?: string } }) => `chatcmpl-${output.$metadata.requestId ?? randomUUID()}`;

/** An AWS SDK error that Bedrock answered (as opposed to one that never reached it). */
const answeredStatus = (error: unknown) => (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

export class BedrockProvider implements ChatProvider {
  private readonly sdk: Promise<AwsSdk>;
  private readonly pool: Pool = createPool();

  constructor(
    readonly name: string,
    readonly config: LlmProviderConfig,
  ) {
    this.sdk = loadSdk(config, this.pool);
    // A failed load is reported by each call; this keeps it from being an unhandled rejection meanwhile.
    this.sdk.catch(() => undefined);
  }

  async complete(
    request: ChatRequest,
    incoming: Readonly<Record<string, string>>,
    signal: AbortSignal,
    model: string,
  ): Promise<ChatOutcome> {
    const input = translated(this.name, () => toConverse(request));
    if (input.kind === 'error') return input;
    const sdk = await this.sdk;
    const clientKey = sdk.forwarding ? incoming[PROVIDER_KEY_HEADER] : undefined;
    const client = clientKey ? sdk.forwarding! : sdk.runtime;
    const headers = headersFor(rulesFor(this.config, model), incoming);
    try {
      if (request.stream !== true) {
        const command = new sdk.Converse(input.value);
        withHeaders(command.middlewareStack, headers, clientKey);
        const output = await client.send(command, { abortSignal: signal });
        return { kind: 'completion', body: fromConverse(output, request.model, answerId(output)) };
      }
      const command = new sdk.ConverseStream(input.value);
      withHeaders(command.middlewareStack, headers, clientKey);
      const output = await client.send(command, { abortSignal: signal });
      const { stream } = output;
      if (!stream) return { kind: 'error', status: 502, message: `provider '${this.name}' answered without a stream` };
      return { kind: 'stream', chunks: chunksFromConverse(stream, request.model, answerId(output)) };
    } catch (error) {
      const status = answeredStatus(error);
      if (status === undefined || signal.aborted) throw error;
      return { kind: 'error', status, message: (error as Error).message };
    }
  }

  /** On-demand foundation models that answer in text, and the inference profiles (`eu.…`, `us.…`). */
  async discover(): Promise<string[]> {
    const sdk = await this.sdk;
    const abortSignal = AbortSignal.timeout(DISCOVERY_TIMEOUT_MS);
    const models = await sdk.control.send(new sdk.ListFoundationModels({ byOutputModality: 'TEXT' }), { abortSignal });
    const ids = (models.modelSummaries ?? []).flatMap((model) =>
      model.modelId && (model.inferenceTypesSupported ?? ['ON_DEMAND']).includes('ON_DEMAND') ? [model.modelId] : [],
    );
    let nextToken: string | undefined;
    do {
      const page = await sdk.control.send(new sdk.ListInferenceProfiles({ maxResults: 1000, nextToken }), { abortSignal });
      for (const profile of page.inferenceProfileSummaries ?? []) if (profile.inferenceProfileId) ids.push(profile.inferenceProfileId);
      nextToken = page.nextToken;
    } while (nextToken);
    return ids;
  }

  close(): void {
    destroyPool(this.pool);
  }
}

/** What of an SDK command's middleware stack adding a step needs. */
interface MiddlewareStack {
  addRelativeTo(
    middleware: (next: (args: { request: unknown }) => Promise<unknown>) => (args: { request: unknown }) => Promise<unknown>,
    options: { relation: 'after'; toMiddleware: string; name: string },
  ): void;
}

/**
 * Adds the header rules' `headers` to a command's request, and the client's own Bedrock API key
 * when it brought one. This runs after signing (the rules' headers are sent, not signed): the SDK
 * resolves credentials once per client and keeps a token for good, so a key that differs per
 * request can only be set on the request itself.
 */
function withHeaders(stack: unknown, headers: Record<string, string>, clientKey: string | undefined): void {
  if (Object.keys(headers).length === 0 && clientKey === undefined) return;
  (stack as MiddlewareStack).addRelativeTo(
    (next) => (args) => {
      const request = args.request as { headers: Record<string, string> };
      // The signer's Authorization (any case) gives way to the client's key.
      const signed = Object.entries(request.headers).filter(([name]) => clientKey === undefined || name.toLowerCase() !== 'authorization');
      request.headers = {
        ...Object.fromEntries(signed),
        ...headers,
        ...(clientKey !== undefined && { authorization: `Bearer ${clientKey}` }),
      };
      return next(args);
    },
    { relation: 'after', toMiddleware: 'httpSigningMiddleware', name: 'nexusRequestHeaders' },
  );
}

/** The AWS SDK clients for a provider's region, endpoint and credentials. */
async function loadSdk(config: LlmProviderConfig, pool: Pool): Promise<AwsSdk> {
  const [runtime, control, { NodeHttpHandler }] = await Promise.all([
    import('@aws-sdk/client-bedrock-runtime'),
    import('@aws-sdk/client-bedrock'),
    import('@smithy/node-http-handler'),
  ]);
  const common = {
    // The runtime client's default is HTTP/2 with a new session per request; Converse and
    // ConverseStream work over HTTP/1.1, and a keep-alive pool saves a handshake per call.
    requestHandler: new NodeHttpHandler({ httpAgent: pool.http, httpsAgent: pool.https }),
    region: config.region,
    endpoint: config.base_url,
    profile: config.profile,
    // nexus is a relay: the client decides whether to try again, not the gateway behind its back.
    maxAttempts: 1,
  };
  const bearer = (token: () => Promise<{ token: string }>) => ({ ...common, token, authSchemePreference: ['httpBearerAuth'] });
  const configured =
    config.api_key !== undefined
      ? bearer(async () => ({ token: config.api_key! }))
      : config.access_key_id !== undefined && config.secret_access_key !== undefined
        ? {
            ...common,
            credentials: {
              accessKeyId: config.access_key_id,
              secretAccessKey: config.secret_access_key,
              sessionToken: config.session_token,
            },
          }
        : common;
  return {
    runtime: new runtime.BedrockRuntimeClient(configured),
    // Its token is a stand-in: each request's own key replaces it (withHeaders).
    forwarding: config.forward_token ? new runtime.BedrockRuntimeClient(bearer(async () => ({ token: 'set-per-request' }))) : undefined,
    control: new control.BedrockClient(configured),
    Converse: runtime.ConverseCommand,
    ConverseStream: runtime.ConverseStreamCommand,
    ListFoundationModels: control.ListFoundationModelsCommand,
    ListInferenceProfiles: control.ListInferenceProfilesCommand,
  };
}
