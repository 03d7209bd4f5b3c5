/** The value types config keys share: durations, sizes, URLs, addresses, header names, paths. */
import { z } from 'zod';
import { parseByteSize } from './byte-size.js';
import { parseDuration } from './duration.js';

/** A duration string ("500ms", "60s", "5m", "1h") or whole seconds, as milliseconds. */
export const duration = z
  .union([z.string(), z.number()], { error: 'wrong type: expected a duration such as "60s"' })
  .transform((value, ctx) => {
    const ms = typeof value === 'number' ? value * 1000 : parseDuration(value);
    if (ms === undefined || !Number.isFinite(ms) || ms <= 0) {
      ctx.addIssue({
        code: 'custom',
        message: `bad duration ${JSON.stringify(value)}: use a positive value such as "500ms", "60s", "5m" or "1h"`,
      });
      return z.NEVER;
    }
    return ms;
  });

export const positiveInt = z.number().int('must be a whole number').positive('must be greater than zero');

/** A size: whole bytes, or a string such as "32MiB" or "10MB", as bytes. */
export const byteSize = z
  .union([z.string(), z.number()], { error: 'wrong type: expected a size such as "32MiB"' })
  .transform((value, ctx) => {
    const bytes = typeof value === 'number' ? value : parseByteSize(value);
    if (bytes === undefined || !Number.isSafeInteger(bytes) || bytes <= 0) {
      ctx.addIssue({
        code: 'custom',
        message: `bad size ${JSON.stringify(value)}: use a positive number of bytes or a size such as "512KiB", "32MiB" or "10MB"`,
      });
      return z.NEVER;
    }
    return bytes;
  });

export const httpUrl = z.string().transform((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    // The value is not echoed: it may hold a secret expanded from the environment.
    ctx.addIssue({ code: 'custom', message: 'bad URL: not an absolute http(s) URL' });
    return z.NEVER;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    ctx.addIssue({ code: 'custom', message: 'bad URL: must be http or https' });
    return z.NEVER;
  }
  if (url.username || url.password) {
    // They would be sent as-is and show up in error texts; there are keys for credentials.
    ctx.addIssue({ code: 'custom', message: 'bad URL: credentials in URLs are not allowed (use auth.token or headers)' });
    return z.NEVER;
  }
  // Kept as written: an OAuth resource identifier must not gain a trailing slash.
  return value;
});

/** "host:port" or "[v6]:port", parsed. */
export const listenAddress = z.string().transform((value, ctx) => {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) {
    ctx.addIssue({
      code: 'custom',
      message: `bad listen address ${JSON.stringify(value)}: expected HOST:PORT, e.g. 127.0.0.1:8000 or [::1]:8000`,
    });
    return z.NEVER;
  }
  return { host: (match[1] ?? match[2]) as string, port };
});
export type ListenAddress = z.output<typeof listenAddress>;

export const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be a valid HTTP header name');
export const urlPath = z.string().regex(/^\/[^\s?#]*$/, 'must be a path starting with "/"');
