/** `{{ env.NAME }}` expansion over a parsed TOML tree, before validation. */

const PLACEHOLDER = /\{\{\s*env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

export class UndefinedEnvError extends Error {
  constructor(
    readonly path: (string | number)[],
    readonly variable: string,
  ) {
    super(`environment variable ${variable} is not defined`);
  }
}

/** Returns a copy of `value` with every placeholder in every string replaced. */
export function expandEnv(value: unknown, env: NodeJS.ProcessEnv, path: (string | number)[] = []): unknown {
  if (typeof value === 'string') {
    return value.replace(PLACEHOLDER, (_, name: string) => {
      const found = env[name];
      if (found === undefined) throw new UndefinedEnvError(path, name);
      return found;
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => expandEnv(item, env, [...path, i]));
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = expandEnv(item, env, [...path, key]);
    return out;
  }
  return value;
}
