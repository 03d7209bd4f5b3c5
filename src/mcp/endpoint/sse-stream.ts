/**
 * A server-sent event stream as an HTTP response, held open with comment frames while it waits (a
 * client's user may take minutes to answer, a listener hears nothing for hours), so that idle
 * timeouts and proxies keep it open. The lean path's upgraded answers and the GET listen streams
 * both write through one.
 */
import { sseFrame } from '../protocol/jsonrpc.js';

const KEEP_ALIVE_MS = 15_000;

const encoder = new TextEncoder();

/** A message as the bytes of one event. */
export const sseBytes = (message: unknown): Uint8Array => encoder.encode(sseFrame(message));

export interface SseStream {
  response: Response;
  /** Throws when the stream is over (closed, or cancelled by the client). */
  write(bytes: Uint8Array): void;
  /** Ends the stream; nothing happens if it is over already. */
  close(): void;
}

/** A new stream; `onCancel` runs when the client goes away. */
export function sseStream(onCancel: () => void): SseStream {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const keepAlive = setInterval(() => controller.enqueue(encoder.encode(': keep-alive\n\n')), KEEP_ALIVE_MS);
  keepAlive.unref();
  const body = new ReadableStream<Uint8Array>({
    start: (started) => {
      controller = started;
    },
    cancel: () => {
      clearInterval(keepAlive);
      onCancel();
    },
  });
  return {
    response: new Response(body, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } }),
    write: (bytes) => controller.enqueue(bytes),
    close: () => {
      clearInterval(keepAlive);
      try {
        controller.close();
      } catch {
        // The client cancelled the stream: it is closed already.
      }
    },
  };
}
