/**
 * The answer to one 2025-era POST that nexus serves itself: a JSON body when the result comes
 * first (the common case, and the cheapest), or else an SSE stream that carries the call's
 * messages (progress, log messages, the server's requests) and then its result. This is what the
 * SDK's transport does too; the response starts only once it is known which of the two it is.
 */
import type { JSONRPCMessage } from '@modelcontextprotocol/server';
import { sseFrame } from '../protocol/jsonrpc.js';

/** SSE comments sent while a stream waits (a client's user may take minutes), so that idle timeouts and proxies keep it open. */
const KEEP_ALIVE_MS = 15_000;

const encoder = new TextEncoder();
const frame = (message: JSONRPCMessage) => encoder.encode(sseFrame(message));

/** How the answer goes out: one JSON message (written by the caller, on its framework's fast path) or a stream. */
export type ExchangeAnswer = { json: JSONRPCMessage } | { stream: Response };

export class LegacyExchange {
  readonly answer: Promise<ExchangeAnswer>;
  private respond!: (answer: ExchangeAnswer) => void;
  private stream: ReadableStreamDefaultController<Uint8Array> | undefined;
  private keepAlive: NodeJS.Timeout | undefined;
  private ended = false;

  constructor() {
    this.answer = new Promise((resolve) => (this.respond = resolve));
  }

  /** A message before the result: the answer becomes a stream, if it is not one already. */
  send(message: JSONRPCMessage): Promise<void> {
    if (this.ended) return Promise.reject(new Error('the request is over'));
    if (!this.stream) this.open();
    this.stream?.enqueue(frame(message));
    return Promise.resolve();
  }

  /** The result (or error): the whole answer, or the stream's last message. */
  finish(message: JSONRPCMessage): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.keepAlive);
    if (!this.stream) return this.respond({ json: message });
    this.stream.enqueue(frame(message));
    this.stream.close();
  }

  private open(): void {
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.stream = controller;
      },
      cancel: () => {
        this.ended = true;
        clearInterval(this.keepAlive);
      },
    });
    this.keepAlive = setInterval(() => this.stream?.enqueue(encoder.encode(': keep-alive\n\n')), KEEP_ALIVE_MS);
    this.keepAlive.unref();
    this.respond({ stream: new Response(body, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } }) });
  }
}
