/** The Redactor, and which configured values count as secrets. */
import { parse } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { configuredSecrets } from '../src/config/secrets.js';
import { Redactor } from '../src/redact.js';

describe('Redactor', () => {
  const redactor = new Redactor(['token-abcdef', 'token-abcdef-longer', 'short', 'quote"back\\slash', undefined]);

  it('replaces every secret in text, the longest first, and leaves short values alone', () => {
    expect(redactor.text('a token-abcdef-longer and a token-abcdef, short')).toBe('a [redacted] and a [redacted], short');
  });

  it('redacts strings and keys anywhere in a value, JSON escapes included, and copies only when it must', () => {
    const clean = { a: [1, 'nothing here'], b: { c: null } };
    expect(redactor.value(clean)).toBe(clean);
    const dirty = { list: ['x', { deep: 'is token-abcdef here' }], 'token-abcdef': 1, odd: 'has quote"back\\slash in it' };
    expect(redactor.value(dirty)).toEqual({ list: ['x', { deep: 'is [redacted] here' }], '[redacted]': 1, odd: 'has [redacted] in it' });
    expect(dirty.list[1]).toEqual({ deep: 'is token-abcdef here' });
  });

  it('never mistakes a JSON escape for a secret, and keeps every key a key', () => {
    // "\n" + "token…" is not the secret "ntoken…", though JSON writes it "\\ntoken…".
    const escapes = new Redactor(['ntoken-abcdef', 'rk_live_1234']);
    const value = { text: 'x\ntoken-abcdef and ntoken-abcdef', tab: '\rk_live_1234 rk_live_1234', ['__proto__']: 'ntoken-abcdef' };
    const redacted = escapes.value(JSON.parse(JSON.stringify(value)) as Record<string, unknown>);
    expect(redacted['text']).toBe('x\ntoken-abcdef and [redacted]');
    expect(redacted['tab']).toBe('\rk_live_1234 [redacted]');
    expect(Object.keys(redacted)).toEqual(['text', 'tab', '__proto__']);
    expect(JSON.stringify(redacted)).toContain('"__proto__":"[redacted]"');
  });

  it('walks values nested deeper than the stack would allow', () => {
    let value: unknown = 'bottom';
    for (let i = 0; i < 100_000; i++) value = [value];
    expect(redactor.value(value)).toBe(value);
    let secret: unknown = 'token-abcdef';
    for (let i = 0; i < 100_000; i++) secret = { a: secret };
    let copy = redactor.value(secret);
    for (let i = 0; i < 100_000; i++) copy = (copy as { a: unknown }).a;
    expect(copy).toBe('[redacted]');
  });

  it('adds secrets with `with`, and does nothing without any', () => {
    expect(redactor.with(['caller-token-123']).text('caller-token-123 token-abcdef')).toBe('[redacted] [redacted]');
    expect(Redactor.none.active).toBe(false);
    expect(Redactor.none.text('token-abcdef')).toBe('token-abcdef');
  });
});

describe('configuredSecrets', () => {
  it('collects tokens, keys and credential headers and variables, not other settings', () => {
    const config = parseConfig(
      parse(`
        [server.rate_limits]
        global = { limit = 1, interval = "1s" }
        storage = { type = "redis", url = "redis://user:redis-p%40ssword@127.0.0.1:6379" }
        [mcp]
        headers = { Authorization = "Bearer global-token", Accept = "application/json" }
        [mcp.servers.remote]
        url = "https://example.com/mcp"
        auth.token = "remote-token"
        headers = { X-Api-Key = "remote-api-key", X-Team = "platform" }
        [mcp.servers.local]
        cmd = ["server"]
        env = { GITHUB_TOKEN = "github-token", LOG_LEVEL = "debug" }
        [llm.providers.openai]
        type = "openai"
        api_key = "openai-key"
        headers = [{ rule = "insert", name = "X-Secret-Header", value = "inserted-secret" }, { rule = "insert", name = "X-Env", value = "prod" }]
        [llm.providers.aws]
        type = "bedrock"
        region = "us-east-1"
        access_key_id = "AKIAEXAMPLE"
        secret_access_key = "aws-secret"
        session_token = "aws-session"
      `),
      'test.toml',
    );
    expect(configuredSecrets(config).sort()).toEqual(
      [
        'Bearer global-token',
        'global-token',
        'remote-token',
        'remote-api-key',
        'github-token',
        'openai-key',
        'inserted-secret',
        'aws-secret',
        'aws-session',
        'redis-p@ssword',
      ].sort(),
    );
  });
});
