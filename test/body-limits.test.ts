/** Bounded reading of remote answers: whole bodies (compressed or not) and event streams, event by event. */
import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { eventData, messageId } from '../src/mcp/downstreams/oversized.js';
import { BodyTooLargeError, readText, SseSizeGuard, type OversizedEvent } from '../src/net/body-limits.js';
import { sseEvents } from '../src/net/sse.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A server on a free loopback port answering every request with `body` and `headers`. */
async function answering(body: Buffer | string, headers: Record<string, string> = {}): Promise<string> {
  const server = createServer((_req, res) => {
    res.writeHead(200, headers);
    res.end(body);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

const fetchRaw = (url: string) => new Promise<IncomingMessage>((resolve, reject) => get(url, resolve).once('error', reject));

/** `input` in pieces of `size` bytes, as a socket may deliver it. */
function inPieces(input: string, size: number): Buffer[] {
  const bytes = Buffer.from(input);
  return Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size));
}

/** The events sseEvents reads from `input` under `maxEventBytes`, fed in pieces of `size` bytes. */
async function limited(input: string, maxEventBytes: number, size = 7): Promise<string[]> {
  const events: string[] = [];
  for await (const event of sseEvents(Readable.from(inPieces(input, size)), undefined, maxEventBytes)) events.push(event.data);
  return events;
}

/** Everything `input` comes out as after the guard, fed in pieces of `size` bytes. */
async function guarded(input: string, maxEventBytes: number, onOversized: OversizedEvent, size = 7): Promise<string> {
  const pieces = inPieces(input, size);
  const out: Buffer[] = [];
  for await (const chunk of Readable.from(pieces).pipe(new SseSizeGuard(maxEventBytes, onOversized))) out.push(chunk as Buffer);
  return Buffer.concat(out).toString();
}

describe('readText', () => {
  it('reads a body within the limit, and a gzip body decoded', async () => {
    expect(await readText(await fetchRaw(await answering('hello')), 5)).toBe('hello');
    const zipped = await answering(gzipSync('hello, compressed'), { 'content-encoding': 'gzip' });
    expect(await readText(await fetchRaw(zipped), 100)).toBe('hello, compressed');
  });

  it('refuses a body over the limit, declared or not, and counts decoded bytes', async () => {
    await expect(readText(await fetchRaw(await answering('x'.repeat(1000))), 999)).rejects.toBeInstanceOf(BodyTooLargeError);
    const bomb = await answering(gzipSync(Buffer.alloc(1_000_000)), { 'content-encoding': 'gzip' });
    await expect(readText(await fetchRaw(bomb), 100_000)).rejects.toThrow('larger than the limit of');
  });
});

describe('events under a size limit', () => {
  const events = 'data: {"a":1}\n\nid: 2\r\ndata: {"b":2}\r\n\r\ndata: {"c":3}\r\r';

  it('are read whatever the line ends and chunking, bytes counted exactly', async () => {
    for (const size of [1, 3, 7, 1000]) expect(await limited(events, 24, size)).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
    // The first event is 15 bytes, its blank line included.
    expect(await limited('data: {"a":1}\n\n', 15)).toEqual(['{"a":1}']);
    await expect(limited('data: {"a":1}\n\n', 14)).rejects.toBeInstanceOf(BodyTooLargeError);
    // Characters of several bytes, split between pieces, are read whole.
    expect(await limited('data: 漢字かな\n\n', 100, 1)).toEqual(['漢字かな']);
  });

  it('fail at once on an event over the limit, a line that never ends included', async () => {
    await expect(limited('data: small\n\ndata: ' + 'x'.repeat(100) + '\n\n', 50)).rejects.toBeInstanceOf(BodyTooLargeError);
    await expect(limited('data: ' + 'x'.repeat(100), 50)).rejects.toThrow(BodyTooLargeError);
  });
});

describe('SseSizeGuard', () => {
  it('passes events within the limit through unchanged', async () => {
    const events = 'data: {"a":1}\n\nid: 2\r\ndata: {"b":2}\r\n\r\ndata: {"c":3}\r\r';
    for (const size of [1, 3, 7, 1000]) expect(await guarded(events, 24, () => undefined, size)).toBe(events);
  });

  it('replaces an oversized event, handing over its first and last bytes, and goes on', async () => {
    const seen: string[] = [];
    const replace: OversizedEvent = (head, tail) => {
      seen.push(`${head.toString().slice(0, 12)}|${tail.toString().slice(-9)}`);
      return Buffer.from('data: replaced\n\n');
    };
    const big = `data: {"result":"${'y'.repeat(2000)}","id":7}\n\n`;
    const out = await guarded(`data: one\n\n${big}data: two\n\n`, 100, replace);
    expect(seen).toEqual(['data: {"resu|"id":7}\n\n']);
    // The start of the oversized event was passed on and is closed by a blank line; then the replacement.
    expect(out.startsWith('data: one\n\ndata: {"result":"y')).toBe(true);
    expect(out.endsWith('\n\ndata: replaced\n\ndata: two\n\n')).toBe(true);
    expect(out.length).toBeLessThan(200);
  });

  it('replaces an oversized event the stream ends in', async () => {
    const out = await guarded('data: ' + 'z'.repeat(500), 100, () => Buffer.from('data: cut\n\n'));
    expect(out.endsWith('\n\ndata: cut\n\n')).toBe(true);
  });
});

describe('the id of an oversized message', () => {
  it('is read from its start or its end, at the top level only', () => {
    expect(messageId('{"jsonrpc":"2.0","id":7,"result":{"content":[', '')).toBe(7);
    expect(messageId('{ "id" : "a\\"b", "result":', '')).toBe('a"b');
    expect(messageId('{"result":{"content":[{"type":"text"', 'xxxxx"}]},"jsonrpc":"2.0","id":42}\n')).toBe(42);
    // Nested ids are not the message's.
    expect(messageId('{"result":{"id":3,', '"x":{"id":5}}}')).toBeUndefined();
    expect(messageId('{"method":"notifications/message","params":{', '"data":"x"}}')).toBeUndefined();
  });

  it('is found behind SSE fields', () => {
    expect(messageId(eventData('id: 12\nevent: message\ndata: {"jsonrpc":"2.0","id":9,"result":'), '')).toBe(9);
  });
});
