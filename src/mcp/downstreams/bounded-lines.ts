/**
 * Splits a byte stream (a child's stdout) into lines without trusting their length: a line over
 * the limit is dropped as it arrives, keeping only its first and last bytes (where a JSON-RPC
 * message keeps its id), so memory stays bounded however long the line goes on.
 */

/** A complete line: its text, or for a line over the limit its ends and its size. */
export type Line = { text: string } | { oversized: { head: string; tail: string; bytes: number } };

const LF = 0x0a;
/** How much of each end of an oversized line is kept. */
const KEPT_BYTES = 512;

export class BoundedLines {
  /** The current line's bytes so far, while it is within the limit. */
  private parts: Buffer[] = [];
  private bytes = 0;
  /** Set once the current line is over the limit: from then on only its ends are kept. */
  private dropped: { head: Buffer; tail: Buffer } | undefined;

  constructor(private readonly maxLineBytes: number) {}

  /** The lines that `chunk` completes, in order; an unfinished line waits for the next chunk. */
  push(chunk: Buffer): Line[] {
    const lines: Line[] = [];
    let from = 0;
    while (from < chunk.length) {
      const end = chunk.indexOf(LF, from);
      this.add(chunk.subarray(from, end === -1 ? chunk.length : end));
      if (end === -1) break;
      lines.push(this.endLine());
      from = end + 1;
    }
    return lines;
  }

  private add(part: Buffer): void {
    if (part.length === 0) return;
    this.bytes += part.length;
    if (this.dropped) {
      this.dropped.tail = lastBytes([this.dropped.tail, part]);
    } else if (this.bytes > this.maxLineBytes) {
      const line = [...this.parts, part];
      this.dropped = { head: Buffer.concat(line, Math.min(KEPT_BYTES, this.bytes)), tail: lastBytes(line) };
      this.parts = [];
    } else {
      this.parts.push(part);
    }
  }

  private endLine(): Line {
    const line: Line = this.dropped
      ? { oversized: { head: this.dropped.head.toString('utf8'), tail: this.dropped.tail.toString('utf8'), bytes: this.bytes } }
      : {
          text: withoutCr(
            this.parts.length === 1 ? (this.parts[0] as Buffer).toString('utf8') : Buffer.concat(this.parts).toString('utf8'),
          ),
        };
    this.parts = [];
    this.bytes = 0;
    this.dropped = undefined;
    return line;
  }
}

const withoutCr = (text: string) => (text.endsWith('\r') ? text.slice(0, -1) : text);

/** The last KEPT_BYTES of the bytes in `parts`, copied (so the chunks they came from can go). */
function lastBytes(parts: Buffer[]): Buffer {
  const kept: Buffer[] = [];
  let size = 0;
  for (let i = parts.length - 1; i >= 0 && size < KEPT_BYTES; i--) {
    kept.unshift(parts[i] as Buffer);
    size += (parts[i] as Buffer).length;
  }
  return Buffer.from(Buffer.concat(kept).subarray(-KEPT_BYTES));
}
