/** Splitting a child's stdout into lines with a bound on each: what passes, what is dropped, what is kept of it. */
import { describe, expect, it } from 'vitest';
import { BoundedLines, type Line } from '../src/mcp/downstreams/bounded-lines.js';
import { messageId } from '../src/mcp/downstreams/oversized.js';

/** Every line `text` makes when fed to `lines` in chunks of `size` bytes. */
function feed(lines: BoundedLines, text: string, size: number): Line[] {
  const bytes = Buffer.from(text);
  const out: Line[] = [];
  for (let at = 0; at < bytes.length; at += size) out.push(...lines.push(bytes.subarray(at, at + size)));
  return out;
}

describe('BoundedLines', () => {
  it('joins lines split across chunks and splits chunks that hold several (CRLF too)', () => {
    const lines = new BoundedLines(100);
    expect(lines.push(Buffer.from('{"a":'))).toEqual([]);
    expect(lines.push(Buffer.from('1}\r\n{"b":2}\n{"c"'))).toEqual([{ text: '{"a":1}' }, { text: '{"b":2}' }]);
    expect(lines.push(Buffer.from(':3}\n'))).toEqual([{ text: '{"c":3}' }]);
  });

  it('passes a line of exactly the limit', () => {
    expect(feed(new BoundedLines(10), `${'y'.repeat(10)}\n`, 3)).toEqual([{ text: 'y'.repeat(10) }]);
  });

  it('drops a line over the limit as it comes, keeping its first and last 512 bytes, and goes on with the next', () => {
    const message = `{"result":{"text":"${'x'.repeat(5_000)}"},"jsonrpc":"2.0","id":42}`;
    // Chunks of 7 bytes: the limit and both kept ends fall inside chunks.
    const [dropped, next, ...rest] = feed(new BoundedLines(1_000), `${message}\n{"ok":1}\n`, 7);
    expect(dropped).toEqual({ oversized: { head: message.slice(0, 512), tail: message.slice(-512), bytes: message.length } });
    expect(next).toEqual({ text: '{"ok":1}' });
    expect(rest).toEqual([]);
    const { head, tail } = (dropped as Extract<Line, { oversized: unknown }>).oversized;
    expect(messageId(head, tail)).toBe(42);
  });
});
