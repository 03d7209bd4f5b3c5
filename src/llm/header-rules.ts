/**
 * Header rules of an LLM provider (`headers = [{ rule = ... }]`), applied in order to the headers
 * nexus sends it:
 * - `forward`: copy a client header (`name`, or every header matching `pattern`), under `rename`
 *   if given, or send `default` when the client has none;
 * - `insert`: send `name: value`;
 * - `remove`: drop a header (`name`, or every header matching `pattern`) set by an earlier rule;
 * - `rename_duplicate`: send a client header both as itself and as `rename` (`default` if absent).
 * Headers that carry credentials, framing, encoding or routing are never set by rules: nexus owns
 * them (a forwarded Accept-Encoding, say, made providers answer in gzip).
 */
import type { LlmProviderConfig } from '../config/schema.js';
import { own } from './own.js';

type Rule = LlmProviderConfig['headers'][number];

const PROTECTED = new Set([
  'authorization',
  'x-api-key',
  'x-goog-api-key',
  'x-provider-api-key',
  'proxy-authorization',
  'cookie',
  'host',
  'content-length',
  'content-type',
  'content-encoding',
  'accept-encoding',
  'transfer-encoding',
  'expect',
  'connection',
  'proxy-connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
]);
/** AWS signing headers (`x-amz-date`, `x-amz-security-token`, …) are the SDK's. */
const isProtected = (name: string) => PROTECTED.has(name) || name.startsWith('x-amz-');

/** Each rule's `pattern` as a regular expression, made once (patterns come from the config: few) rather than per request. */
const patterns = new Map<string, RegExp>();
function patternRegex(pattern: string): RegExp {
  let regex = patterns.get(pattern);
  if (!regex) {
    regex = new RegExp(pattern, 'i');
    patterns.set(pattern, regex);
  }
  return regex;
}

/** A provider's header rules, then those of its model configured as `model` (they win for the same header). */
export function rulesFor(config: LlmProviderConfig, model: string): readonly Rule[] {
  const modelRules = own(config.models, model)?.headers ?? [];
  return modelRules.length > 0 ? [...config.headers, ...modelRules] : config.headers;
}

/**
 * The headers `rules` add for a request whose headers (lower-case names) are `incoming`, to
 * `initial` (what the provider passes on of the client's by itself, which rules may override or
 * remove).
 */
export function headersFor(
  rules: readonly Rule[],
  incoming: Readonly<Record<string, string>>,
  initial: Readonly<Record<string, string>> = {},
): Record<string, string> {
  // Header names may be the client's: `__proto__` or `constructor` are names like any other here.
  const out = new Map<string, string>(Object.entries(initial));
  const received = (name: string) => own(incoming, name.toLowerCase());
  const set = (name: string, value: string | undefined) => {
    const lower = name.toLowerCase();
    if (value !== undefined && !isProtected(lower)) out.set(lower, value);
  };
  const matching = (pattern: string, names: Iterable<string>) => {
    const regex = patternRegex(pattern);
    return [...names].filter((name) => regex.test(name));
  };
  for (const rule of rules) {
    if (rule.rule === 'insert') set(rule.name, rule.value);
    else if (rule.rule === 'rename_duplicate') {
      const value = received(rule.name) ?? rule.default;
      set(rule.name, value);
      set(rule.rename, value);
    } else if (rule.rule === 'forward') {
      if (rule.name !== undefined) set(rule.rename ?? rule.name, received(rule.name) ?? rule.default);
      if (rule.pattern !== undefined) for (const name of matching(rule.pattern, Object.keys(incoming))) set(name, received(name));
    } else {
      if (rule.name !== undefined) out.delete(rule.name.toLowerCase());
      if (rule.pattern !== undefined) for (const name of matching(rule.pattern, out.keys())) out.delete(name);
    }
  }
  return Object.fromEntries(out);
}
