/**
 * Reading what a remote server answers without trusting its size: bodies are decompressed when the
 * server compressed them, and counted while they are read, so an answer over the limit is refused
 * before it is held in memory (a compressed one included: the limit counts decoded bytes).
 */
import type { IncomingMessage } from 'node:http';
import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

/** A body, or one event of an event stream, larger than the reader's limit. */
export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
  constructor(readonly limit: number) {
    super(`the answer is larger than the limit of ${formatBytes(limit)}`);
  }
}

/** Bytes as people write them: "32 MiB", "512 KiB", "100 bytes". */
export function formatBytes(bytes: number): string {
  for (const [unit, size] of [
    ['GiB', 2 ** 30],
    ['MiB', 2 ** 20],
    ['KiB', 2 ** 10],
  ] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size} ${unit}`;
  }
  return `${bytes} bytes`;
}

/** The body as the server meant it: decompressed when it says it is gzip, deflate or br. */
export function decodedBody(response: IncomingMessage): Readable {
  const encoding = (response.headers['content-encoding'] ?? '').trim().toLowerCase();
  const ignore = () => undefined;
  switch (encoding) {
    case '':
    case 'identity':
      return response;
    case 'gzip':
    case 'x-gzip':
      return pipeline(response, createGunzip(), ignore);
    case 'deflate':
      return pipeline(response, createInflate(), ignore);
    case 'br':
      return pipeline(response, createBrotliDecompress(), ignore);
    default:
      response.destroy();
      throw new Error(`the answer uses a content encoding nexus cannot read: ${encoding}`);
  }
}

/** The whole body as text; throws BodyTooLargeError (and drops the connection) past `maxBytes`. */
export async function readText(response: IncomingMessage, maxBytes = Number.POSITIVE_INFINITY): Promise<string> {
  refuseDeclaredOverLimit(response, maxBytes);
  // Read straight from the response when it is not compressed: no stream in between on the hot path.
  const body = response.headers['content-encoding'] === undefined ? response : decodedBody(response);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      body.destroy();
      response.destroy();
      throw new BodyTooLargeError(maxBytes);
    }
    chunks.push(chunk as Buffer);
  }
  return (chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)).toString('utf8');
}

/** Throws BodyTooLargeError (dropping the connection) when the server declares a body over `maxBytes`. */
function refuseDeclaredOverLimit(response: IncomingMessage, maxBytes: number): void {
  if (response.headers['content-encoding'] === undefined && Number(response.headers['content-length']) > maxBytes) {
    response.destroy();
    throw new BodyTooLargeError(maxBytes);
  }
}

/** A body, decoded, that fails with BodyTooLargeError (dropping the connection) past `maxBytes`. */
export function boundedBody(response: IncomingMessage, maxBytes: number): Readable {
  refuseDeclaredOverLimit(response, maxBytes);
  return limitBytes(decodedBody(response), maxBytes);
}

/** `body`, failing with BodyTooLargeError once more than `maxBytes` have come through. */
function limitBytes(body: Readable, maxBytes: number): Readable {
  let size = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      done(size > maxBytes ? new BodyTooLargeError(maxBytes) : null, chunk);
    },
  });
  return pipeline(body, counter, () => undefined);
}

/**
 * What to do with an event over the limit, once it has ended: put another event in its place (or
 * none). `head` and `tail` are the event's first and last bytes (up to 512 each), where a JSON-RPC
 * message keeps its id.
 */
export type OversizedEvent = (head: Buffer, tail: Buffer) => Buffer | undefined;

const LF = 0x0a;
const CR = 0x0d;
const KEPT_BYTES = 512;
const BLANK_LINE = Buffer.from('\n\n');

/**
 * Where the events of an event stream end, chunk by chunk: at a blank line, lines ending in CRLF,
 * LF or CR. Nothing is held: only whether the last bytes seen ended a line.
 */
class EventBoundaries {
  /** The last byte ended a line: another line end makes a blank line. */
  private lineEnded = false;
  /** The last byte was a CR: an LF right after it belongs to the same line end. */
  private afterCr = false;

  /** Hands `part` each piece of `chunk` that belongs to one event, with whether the piece ends it. */
  split(chunk: Buffer, part: (bytes: Buffer, ended: boolean) => void): void {
    let from = 0;
    const eol = new LineEnds(chunk);
    while (from < chunk.length) {
      const boundary = this.eventEnd(chunk, from, eol);
      part(chunk.subarray(from, boundary === -1 ? chunk.length : boundary), boundary !== -1);
      if (boundary === -1) break;
      from = boundary;
    }
  }

  /** Where the current event ends in `chunk` (just after its blank line), or -1 if not in this chunk. */
  private eventEnd(chunk: Buffer, from: number, eol: LineEnds): number {
    let i = from;
    while (i < chunk.length) {
      const byte = chunk[i];
      if (byte !== LF && byte !== CR) {
        this.lineEnded = false;
        this.afterCr = false;
        i = eol.next(i);
        if (i === -1) return -1;
        continue;
      }
      if (byte === LF && this.afterCr) {
        this.afterCr = false;
        i++;
        continue;
      }
      this.afterCr = byte === CR;
      i++;
      if (this.lineEnded) {
        this.lineEnded = false;
        return i;
      }
      this.lineEnded = true;
    }
    return -1;
  }
}

/** Throws BodyTooLargeError as soon as an event of a stream (a line that never ends included) grows past a limit. */
export class EventLimit {
  private readonly boundaries = new EventBoundaries();
  private bytes = 0;

  constructor(private readonly maxEventBytes: number) {}

  check(chunk: Buffer): void {
    this.boundaries.split(chunk, (part, ended) => {
      this.bytes += part.length;
      if (this.bytes > this.maxEventBytes) throw new BodyTooLargeError(this.maxEventBytes);
      if (ended) this.bytes = 0;
    });
  }
}

/**
 * Passes an event stream through while counting the bytes of each event. The bytes of an event
 * over the limit are dropped as they come, so memory stays bounded however long the event goes on;
 * what was passed on before is ended with a blank line (a reader then sees an event it cannot parse
 * and skips it), and `onOversized` says what takes the event's place.
 */
export class SseSizeGuard extends Transform {
  private readonly boundaries = new EventBoundaries();
  private eventBytes = 0;
  private discarding = false;
  private head: Buffer[] = [];
  private headBytes = 0;
  private tail = Buffer.alloc(0);

  constructor(
    private readonly maxEventBytes: number,
    private readonly onOversized: OversizedEvent,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    try {
      this.boundaries.split(chunk, (part, ended) => {
        this.pass(part);
        if (ended) this.endEvent();
      });
      done();
    } catch (error) {
      done(error as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    if (this.discarding) this.endEvent();
    done();
  }

  /** The part of the current event in this chunk: passed on while the event is within the limit. */
  private pass(part: Buffer): void {
    if (part.length === 0) return;
    this.eventBytes += part.length;
    if (this.eventBytes > this.maxEventBytes) this.discarding = true;
    if (this.discarding) {
      this.tail =
        part.length >= KEPT_BYTES ? Buffer.from(part.subarray(-KEPT_BYTES)) : Buffer.concat([this.tail, part]).subarray(-KEPT_BYTES);
      return;
    }
    if (this.headBytes < KEPT_BYTES) {
      const kept = Buffer.from(part.subarray(0, KEPT_BYTES - this.headBytes));
      this.head.push(kept);
      this.headBytes += kept.length;
    }
    this.push(part);
  }

  private endEvent(): void {
    if (this.discarding) {
      const replacement = this.onOversized(Buffer.concat(this.head), this.tail);
      this.push(BLANK_LINE);
      if (replacement) this.push(replacement);
    }
    this.eventBytes = 0;
    this.discarding = false;
    this.head = [];
    this.headBytes = 0;
    this.tail = Buffer.alloc(0);
  }
}

/** The next CR or LF of a chunk, each position searched for once (not once per line). */
class LineEnds {
  private lf = -2;
  private cr = -2;
  constructor(private readonly chunk: Buffer) {}

  next(from: number): number {
    if (this.lf !== -1 && this.lf < from) this.lf = this.chunk.indexOf(LF, from);
    if (this.cr !== -1 && this.cr < from) this.cr = this.chunk.indexOf(CR, from);
    if (this.lf === -1) return this.cr;
    if (this.cr === -1) return this.lf;
    return Math.min(this.lf, this.cr);
  }
}
