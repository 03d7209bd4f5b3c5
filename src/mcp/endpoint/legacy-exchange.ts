/**
 * The answer to one 2025-era POST that nexus serves itself: a JSON body when the result comes
 * first (the common case, and the cheapest), or else an SSE stream that carries the call's
 * messages (progress, log messages, the server's requests) and then its result. This is what the
 * SDK's transport does too; the response starts only once it is known which of the two it is.
 */
import type { JSONRPCMessage } from '@modelcontextprotocol/server';
import { sseBytes, sseStream, type SseStream } from './sse-stream.js';

/** How the answer goes out: one JSON message (written by the caller, on its framework's fast path) or a stream. */
export type ExchangeAnswer = { json: JSONRPCMessage } | { stream: Response };

export class LegacyExchange {
  readonly answer: Promise<ExchangeAnswer>;
  private respond!: (answer: ExchangeAnswer) => void;
  private stream: SseStream | undefined;
  private ended = false;

  constructor() {
    this.answer = new Promise((resolve) => (this.respond = resolve));
  }

  /** A message before the result: the answer becomes a stream, if it is not one already. */
  send(message: JSONRPCMessage): Promise<void> {
    if (this.ended) return Promise.reject(new Error('the request is over'));
    if (!this.stream) {
      this.stream = sseStream(() => (this.ended = true));
      this.respond({ stream: this.stream.response });
    }
    this.stream.write(sseBytes(message));
    return Promise.resolve();
  }

  /** The result (or error): the whole answer, or the stream's last message. */
  finish(message: JSONRPCMessage): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.stream) return this.respond({ json: message });
    this.stream.write(sseBytes(message));
    this.stream.close();
  }
}
