/** An incremental parser for a text/event-stream body: feed it text as it arrives, get whole events. */

export interface SseEvent {
  /** `message` when the stream named none. */
  event: string;
  data: string;
  id: string | undefined;
  retry: number | undefined;
}

const LINE_END = /[\r\n]/g;

/** Where the next CR or LF at or after `from` is, or -1. */
function nextLineEnd(text: string, from: number): number {
  LINE_END.lastIndex = from;
  return LINE_END.exec(text)?.index ?? -1;
}

export class SseParser {
  private buffer = '';
  private afterCr = false;
  private data: string[] = [];
  private event = '';
  private id: string | undefined;
  private retry: number | undefined;

  /** The events completed by `chunk`, in order. */
  feed(chunk: string): SseEvent[] {
    // A CRLF split between two chunks: its LF was already taken as part of the line end.
    if (this.afterCr && chunk.startsWith('\n')) chunk = chunk.slice(1);
    this.afterCr = false;
    this.buffer += chunk;
    const events: SseEvent[] = [];
    let start = 0;
    for (let end = nextLineEnd(this.buffer, 0); end !== -1; end = nextLineEnd(this.buffer, start)) {
      const line = this.buffer.slice(start, end);
      const crlf = this.buffer[end] === '\r' && this.buffer[end + 1] === '\n';
      start = end + (crlf ? 2 : 1);
      if (this.buffer[end] === '\r' && !crlf && start === this.buffer.length) this.afterCr = true;
      const event = this.line(line);
      if (event) events.push(event);
    }
    this.buffer = this.buffer.slice(start);
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
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.retry = Number(value);
    return undefined;
  }

  private dispatch(): SseEvent | undefined {
    const event: SseEvent = { event: this.event || 'message', data: this.data.join('\n'), id: this.id, retry: this.retry };
    const empty = this.data.length === 0 && this.id === undefined;
    this.data = [];
    this.event = '';
    this.retry = undefined;
    return empty ? undefined : event;
  }
}
