/**
 * An incremental parser for a text/event-stream body (the WHATWG rules): feed it text as it
 * arrives, get whole events. Linear in the input: each chunk is scanned once, and a line that
 * spans chunks is joined once, when it ends.
 */
import { StringDecoder } from 'node:string_decoder';
import { EventLimit } from './body-limits.js';

export interface SseEvent {
  /** `message` when the stream named none. */
  event: string;
  data: string;
  /** The last event id the stream has set so far (ids carry over from event to event). */
  id: string | undefined;
}

export class SseParser {
  /** The last `id:` seen: what to send as Last-Event-ID when resuming. */
  lastEventId: string | undefined;
  /** The last `retry:` seen, in milliseconds: how long to wait before resuming. */
  retry: number | undefined;
  /** Pieces of a line not yet ended. */
  private pending: string[] = [];
  private afterCr = false;
  private started = false;
  private data: string[] = [];
  private event = '';

  /** The events completed by `chunk`, in order. */
  feed(chunk: string): SseEvent[] {
    if (!this.started && chunk.length > 0) {
      this.started = true;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    const events: SseEvent[] = [];
    let start = 0;
    // A CRLF split between two chunks: its LF belongs to the line end already taken.
    if (this.afterCr && chunk.startsWith('\n')) start = 1;
    this.afterCr = false;
    for (let end = nextLineEnd(chunk, start); end !== -1; end = nextLineEnd(chunk, start)) {
      let line = chunk.slice(start, end);
      if (this.pending.length > 0) {
        line = this.pending.join('') + line;
        this.pending = [];
      }
      const crlf = chunk[end] === '\r' && chunk[end + 1] === '\n';
      start = end + (crlf ? 2 : 1);
      if (chunk[end] === '\r' && !crlf && start === chunk.length) this.afterCr = true;
      const event = this.line(line);
      if (event) events.push(event);
    }
    if (start < chunk.length) this.pending.push(chunk.slice(start));
    return events;
  }

  private line(line: string): SseEvent | undefined {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.lastEventId = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.retry = Number(value);
    return undefined;
  }

  /** A blank line ends an event; one without data is not dispatched (its id still counts). */
  private dispatch(): SseEvent | undefined {
    const event = this.data.length === 0 ? undefined : { event: this.event || 'message', data: this.data.join('\n'), id: this.lastEventId };
    this.data = [];
    this.event = '';
    return event;
  }
}

const LINE_END = /[\r\n]/g;

/** Where the next CR or LF at or after `from` is, or -1. */
function nextLineEnd(text: string, from: number): number {
  LINE_END.lastIndex = from;
  return LINE_END.exec(text)?.index ?? -1;
}

/**
 * Every event of a text/event-stream body, in order, read through `parser` (whose id and retry hint
 * stay readable); BodyTooLargeError as soon as one event grows past `maxEventBytes`.
 */
export async function* sseEvents(
  body: AsyncIterable<unknown>,
  parser = new SseParser(),
  maxEventBytes = Number.POSITIVE_INFINITY,
): AsyncGenerator<SseEvent> {
  // Counted on the bytes as they come, not a stream in between: this is the hot path's reader.
  const limit = Number.isFinite(maxEventBytes) ? new EventLimit(maxEventBytes) : undefined;
  const text = new StringDecoder('utf8');
  for await (const chunk of body) {
    limit?.check(chunk as Buffer);
    yield* parser.feed(text.write(chunk as Buffer));
  }
  const rest = text.end();
  if (rest) yield* parser.feed(rest);
}

/** The blank line that ends an SSE event (any of the three line ends, twice). */
const EVENT_END = /(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r(?!\n)|\n)/g;

/**
 * The events of a text/event-stream body as the text they came as (each with the blank line that
 * ends it), for passing a stream on unchanged; BodyTooLargeError as soon as one event grows past
 * `maxEventBytes`. What follows the last blank line is yielded too, when the body ends. Each
 * piece of text is searched once, and an event's pieces are joined once, when it ends.
 */
export async function* rawSseEvents(body: AsyncIterable<unknown>, maxEventBytes: number): AsyncGenerator<string> {
  const limit = new EventLimit(maxEventBytes);
  const text = new StringDecoder('utf8');
  /** The current event's text so far, and its last few characters (an end may straddle two pieces). */
  let parts: string[] = [];
  let tail = '';
  const take = function* (piece: string): Generator<string> {
    let rest = piece;
    for (;;) {
      const searched = tail + rest;
      EVENT_END.lastIndex = 0;
      const match = EVENT_END.exec(searched);
      const end = match ? match.index + match[0].length : -1;
      // A lone \r last may be the first half of \r\n: it is decided with what follows (then the
      // end lies in `tail`, at its very end: the event is `parts` as they are).
      if (!match || end < tail.length || (end === searched.length && searched.endsWith('\r'))) break;
      const used = end - tail.length;
      yield parts.join('') + rest.slice(0, used);
      parts = [];
      tail = '';
      rest = rest.slice(used);
    }
    if (rest === '') return;
    parts.push(rest);
    tail = (tail + rest).slice(-3);
  };
  for await (const chunk of body) {
    limit.check(chunk as Buffer);
    yield* take(text.write(chunk as Buffer));
  }
  yield* take(text.end());
  if (parts.length > 0) yield parts.join('');
}

/** The data of an event as `rawSseEvents` gives it (its `data:` lines joined), or undefined when it has none. */
export function eventData(raw: string): string | undefined {
  let data: string | undefined;
  for (const line of raw.split(/\r\n|\r|\n/)) {
    if (!line.startsWith('data:')) continue;
    const value = line.slice(line.startsWith('data: ') ? 6 : 5);
    data = data === undefined ? value : `${data}\n${value}`;
  }
  return data;
}
