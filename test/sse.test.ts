/** The SSE parser behind nexus's lean HTTP path, fed the way sockets deliver text: in odd pieces. */
import { describe, expect, it } from 'vitest';
import { SseParser } from '../src/mcp/downstreams/sse.js';

function parseInPieces(text: string, size: number) {
  const parser = new SseParser();
  const events = [];
  for (let i = 0; i < text.length; i += size) events.push(...parser.feed(text.slice(i, i + size)));
  return events;
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
      expect(parseInPieces(text, size)).toEqual([
        { event: 'message', data: '', id: '7', retry: 50 },
        { event: 'message', data: '{"a":\n1}', id: '7', retry: undefined },
        { event: 'ping', data: 'x', id: '7', retry: undefined },
        { event: 'message', data: 'after', id: '7', retry: undefined },
      ]);
    }
  });

  it('holds an unfinished event until its blank line arrives', () => {
    const parser = new SseParser();
    expect(parser.feed('data: half')).toEqual([]);
    expect(parser.feed('\n')).toEqual([]);
    expect(parser.feed('\n')).toEqual([{ event: 'message', data: 'half', id: undefined, retry: undefined }]);
  });
});
