/** Reading a request body under a size limit. */
import type { Context } from 'hono';
import type { AppEnv } from './app-env.js';

/**
 * The body as text, or undefined when it is over `maxBytes`. A body with a Content-Length (what
 * clients send) is read straight from the socket: going through `c.req.raw` would build a WHATWG
 * Request per call, the largest single cost on the MCP hot path. A chunked body is read as a
 * stream, counting bytes as they come.
 */
export async function readBody(c: Context<AppEnv>, maxBytes: number): Promise<string | undefined> {
  const declared = c.req.header('content-length');
  if (declared !== undefined && c.req.header('transfer-encoding') === undefined) {
    return Number(declared) > maxBytes ? undefined : c.req.text();
  }
  return (await readChunked(c, maxBytes))?.toString('utf8');
}

/** The body as bytes (any content: a file upload too), or undefined when it is over `maxBytes`. */
export async function readBytes(c: Context<AppEnv>, maxBytes: number): Promise<Buffer | undefined> {
  const declared = c.req.header('content-length');
  if (declared !== undefined && c.req.header('transfer-encoding') === undefined) {
    return Number(declared) > maxBytes ? undefined : Buffer.from(await c.req.arrayBuffer());
  }
  return readChunked(c, maxBytes);
}

/** A body without a length, read as it comes, bytes counted. */
async function readChunked(c: Context<AppEnv>, maxBytes: number): Promise<Buffer | undefined> {
  const reader = c.req.raw.body?.getReader();
  if (!reader) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (let next = await reader.read(); !next.done; next = await reader.read()) {
    size += next.value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(next.value);
  }
  return Buffer.concat(chunks);
}
