/** Edits of JSON text that keep every other byte (llm/raw-json.ts), and SSE events as they came (net/sse.ts rawSseEvents). */
import { describe, expect, it } from 'vitest';
import { replaceAt, spansAt, withFirstKey } from '../src/llm/raw-json.js';
import { rawSseEvents } from '../src/net/sse.js';
import { BodyTooLargeError } from '../src/net/body-limits.js';

describe('raw JSON edits', () => {
  const text = '{"a":{"x":"}\\"{"} , "model" : "p/m\\\\",\n"n":1.0e2,"arr":[{"model":"no"}],"s":"\\"model\\":1","model":"dup"}';

  it('find a key at the top level only, past strings with brackets, quotes and backslashes, every time it occurs', () => {
    expect(spansAt(text, ['model']).map(([start, end]) => text.slice(start, end))).toEqual(['"p/m\\\\"', '"dup"']);
    expect(replaceAt(text, ['model'], 'up')).toBe(text.replace('"p/m\\\\"', '"up"').replace('"dup"', '"up"'));
  });

  it('follow a path into nested objects, and leave text without the key as it was', () => {
    const event = '{"type":"message_start","message":{"id":"x","model":"claude","usage":{"model":"no"}}}';
    expect(replaceAt(event, ['message', 'model'], 'p/c')).toBe(event.replace('"claude"', '"p/c"'));
    expect(replaceAt(event, ['response', 'model'], 'p/c')).toBe(event);
  });

  it('add a key first, keeping the rest', () => {
    expect(withFirstKey(' {"a" : 1.50}', 'max_tokens', 5)).toBe(' {"max_tokens":5,"a" : 1.50}');
    expect(withFirstKey('{ }', 'max_tokens', 5)).toBe('{"max_tokens":5 }');
  });
});

describe('raw SSE events', () => {
  async function events(chunks: string[], limit = 1e9): Promise<string[]> {
    async function* body() {
      for (const chunk of chunks) yield Buffer.from(chunk);
    }
    const out: string[] = [];
    for await (const event of rawSseEvents(body(), limit)) out.push(event);
    return out;
  }

  it('come whole, in the bytes they came as, however the body is cut and whichever line ends it uses', async () => {
    const stream = 'event: a\ndata: 1\n\nevent: b\ndata: é\n\ndata: 3\r\n\r\ndata: 4\r\rdata: 5';
    const expected = ['event: a\ndata: 1\n\n', 'event: b\ndata: é\n\n', 'data: 3\r\n\r\n', 'data: 4\r\r', 'data: 5'];
    expect(await events([stream])).toEqual(expected);
    const bytes = Buffer.from(stream);
    // Cut at every byte, a multi-byte character and a \r\n pair included.
    const oneByOne: Buffer[] = [...bytes].map((byte) => Buffer.from([byte]));
    async function* body() {
      yield* oneByOne;
    }
    const out: string[] = [];
    for await (const event of rawSseEvents(body(), 1e9)) out.push(event);
    expect(out).toEqual(expected);
  });

  it('stop an event that grows past the limit', async () => {
    await expect(events(['data: ', 'x'.repeat(50), 'y'.repeat(50)], 64)).rejects.toBeInstanceOf(BodyTooLargeError);
  });
});
