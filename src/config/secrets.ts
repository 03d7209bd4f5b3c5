/**
 * The secrets a config holds: what nexus sends on its own behalf (downstream tokens, provider keys,
 * credentials in headers and in the environment of stdio servers, the Redis password). They are
 * redacted wherever they might be echoed back (see src/redact.ts).
 */
import type { Config } from './schema.js';

/** Header and variable names that carry credentials; other values (a content type, a path) are not secrets. */
const CREDENTIAL_NAME = /auth|token|key|secret|passw|cookie|session|credential/i;

/** A credential header's value, and the credential alone when it has a scheme ("Bearer abc": "abc" too). */
const credentialForms = (value: string) => {
  const credential = /^(?:bearer|basic|token)\s+(\S+)$/i.exec(value.trim())?.[1];
  return credential === undefined ? [value] : [value, credential];
};

const credentialValues = (table: Readonly<Record<string, string>>) =>
  Object.entries(table).flatMap(([name, value]) => (CREDENTIAL_NAME.test(name) ? credentialForms(value) : []));

export function configuredSecrets(config: Config): string[] {
  const secrets: string[] = [...credentialValues(config.mcp.headers)];
  for (const server of Object.values(config.mcp.servers)) {
    if (server.kind === 'stdio') secrets.push(...credentialValues(server.env));
    else {
      if (server.auth && 'token' in server.auth) secrets.push(server.auth.token);
      secrets.push(...credentialValues(server.headers));
    }
  }
  const embeddingsKey = config.mcp.search.embeddings?.api_key;
  if (embeddingsKey !== undefined) secrets.push(embeddingsKey);
  for (const provider of Object.values(config.llm?.providers ?? {})) {
    for (const value of [provider.api_key, provider.secret_access_key, provider.session_token])
      if (value !== undefined) secrets.push(value);
    for (const rule of provider.headers)
      if (rule.rule === 'insert' && CREDENTIAL_NAME.test(rule.name)) secrets.push(...credentialForms(rule.value));
  }
  const storage = config.server.rate_limits?.storage;
  if (storage?.type === 'redis') {
    const password = URL.canParse(storage.url) ? decodeURIComponent(new URL(storage.url).password) : '';
    if (password) secrets.push(password);
  }
  return secrets;
}
