/** The SSE parser behind nexus's lean HTTP path, fed the way sockets deliver text: in odd pieces. */
import { describe, expect, it } from 'vitest';
import { SseParser } from '../src/net/sse.js';

function parseInPieces(text: string, size: number) {
  const parser = new SseParser();
  const events = [];
  for (let i = 0; i < text.length; i += size) events.push(...parser.feed(text.slice(i, i + size)));
  return { events, parser };
}

describe('SseParser', () => {
  const stream = [
    ': a comment, ignored',
    'id: 7',
    'retry: 50',
    'data: ',
    '',
    'event: message',
    'data: {"a":',
    'data:1}',
    '',
    'event: ping',
    'data: x',
    '',
    'id: 8',
    '',
    'data: after',
    '',
    '',
  ];

  it.each([
    ['LF', '\n'],
    ['CRLF', '\r\n'],
    ['CR', '\r'],
  ])('reads events, multi-line data, ids, retry and named events (%s line ends), whatever the chunking', (_name, newline) => {
    const text = stream.join(newline);
    for (const size of [1, 2, 3, 7, text.length]) {
      const { events, parser } = parseInPieces(text, size);
      expect(events).toEqual([
        { event: 'message', data: '', id: '7' },
        { event: 'message', data: '{"a":\n1}', id: '7' },
        { event: 'ping', data: 'x', id: '7' },
        // An id in a block without data is not an event, but it is the id from then on.
        { event: 'message', data: 'after', id: '8' },
      ]);
      expect(parser.lastEventId).toBe('8');
      expect(parser.retry).toBe(50);
    }
  });

  it('holds an unfinished event until its blank line arrives', () => {
    const parser = new SseParser();
    expect(parser.feed('data: half')).toEqual([]);
    expect(parser.feed('\n')).toEqual([]);
    expect(parser.feed('\n')).toEqual([{ event: 'message', data: 'half', id: undefined }]);
  });

  it('drops a byte order mark at the start of the stream, and only there', () => {
    const parser = new SseParser();
    expect(parser.feed('\uFEFFdata: a\n\n')).toEqual([{ event: 'message', data: 'a', id: undefined }]);
    expect(parser.feed('data: \uFEFFb\n\n')).toEqual([{ event: 'message', data: '\uFEFFb', id: undefined }]);
  });

  it('joins one large event sent in many small chunks', () => {
    const payload = 'x'.repeat(2 * 1024 * 1024);
    const { events } = parseInPieces(`data: ${payload}\n\n`, 1024);
    expect(events).toHaveLength(1);
    expect(events[0]?.data.length).toBe(payload.length);
  });
});
